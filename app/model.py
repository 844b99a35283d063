"""Load a SavedModel, introspect its signatures, call them. Knows TensorFlow; knows nothing of HTTP or storage."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import InvalidInput, ModelLoadError
from app.tensors import SignatureInfo, TensorInfo, is_supported_dtype

log = logging.getLogger(__name__)

_INIT_OP = "__saved_model_init_op"


class Model:
    """A loaded SavedModel: its signatures as callables plus their descriptions."""

    def __init__(
        self,
        path: Path,
        functions: Mapping[str, Callable[..., Any]],
        signatures: Mapping[str, SignatureInfo],
        signature_defs: Mapping[str, Any],
        handle: Any = None,
    ) -> None:
        self.path = path
        self.signatures = dict(signatures)
        self.signature_defs = dict(signature_defs)  # TF Serving's JSON rendering of each SignatureDef
        self._functions = dict(functions)
        self._handle = handle  # keeps the loaded object (and its variables) alive

    @classmethod
    def load(cls, path: Path) -> Model:
        """Load the SavedModel at ``path`` (a directory holding saved_model.pb) with the ``serve`` tag."""
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(path), tags=["serve"])
        except (OSError, ValueError, RuntimeError, tf.errors.OpError) as exc:
            raise ModelLoadError(f"{path} is not a loadable SavedModel: {_first_line(exc)}") from exc
        functions = {name: fn for name, fn in loaded.signatures.items() if name != _INIT_OP}
        if not functions:
            raise ModelLoadError(f"{path} has no serving signatures (export it with signatures=...)")
        defs = _signature_defs(path, set(functions))
        signatures = {name: _describe(name, fn, defs.get(name, {})) for name, fn in functions.items()}
        return cls(path, functions, signatures, defs, loaded)

    def run(self, signature_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Call one signature with numpy inputs already validated against it; return numpy outputs."""
        import tensorflow as tf

        fn = self._functions[signature_name]
        try:
            outputs = fn(**{name: tf.convert_to_tensor(value) for name, value in inputs.items()})
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as exc:
            # The graph rejected values the signature's types allowed (a bad reshape, an out-of-range index…).
            raise InvalidInput(f"the model rejected the input: {_graph_error(exc)}") from exc
        return {name: _as_array(outputs[name].numpy()) for name in self.signatures[signature_name].outputs}


def _as_array(value: Any) -> np.ndarray:
    """A tensor's value as an array: TF hands a rank-0 string tensor back as plain ``bytes``."""
    if isinstance(value, np.ndarray):
        return value
    arr = np.empty((), dtype=object)
    arr[()] = value
    return arr


def _describe(name: str, fn: Any, signature_def: Mapping[str, Any]) -> SignatureInfo:
    _, kwargs = fn.structured_input_signature
    # Inputs go by their SignatureDef keys, as in TF Serving: TF2 turns a key such as "input-0" into the keyword
    # "input_0" but keeps the key as the spec's name, and the function takes either.
    keys = signature_def.get("inputs", {})
    named = {spec.name if spec.name in keys and key not in keys else key: spec for key, spec in kwargs.items()}
    # Sorted by name, like the outputs: the keyword order TF reports is not stable between processes.
    inputs = {key: _tensor_info(key, spec) for key, spec in sorted(named.items())}
    # TensorFlow returns outputs sorted by name; describe them in the same order everywhere.
    outputs = {key: _tensor_info(key, spec) for key, spec in sorted(fn.structured_outputs.items())}
    for info in (*inputs.values(), *outputs.values()):
        if not is_supported_dtype(info.dtype):
            raise ModelLoadError(f"signature {name!r}: tensor {info.name!r} has unsupported dtype {info.dtype}")
    # The method name (predict, classify, regress) is only in the SignatureDef; "" when it has none, as in TF.
    return SignatureInfo(name=name, inputs=inputs, outputs=outputs, method_name=signature_def.get("method_name", ""))


def _tensor_info(name: str, spec: Any) -> TensorInfo:
    shape = None if spec.shape.rank is None else tuple(spec.shape.as_list())
    return TensorInfo(name=name, dtype=spec.dtype.name, shape=shape)


def _signature_defs(path: Path, names: set[str]) -> dict[str, Any]:
    """The SignatureDefs as TF Serving's metadata API renders them (proto field names, int64 as strings)."""
    from google.protobuf import json_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    pb = path / "saved_model.pb"
    if pb.exists():
        proto.ParseFromString(pb.read_bytes())
    else:
        from google.protobuf import text_format

        text_format.Parse((path / "saved_model.pbtxt").read_text(), proto)
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {
                # As TF Serving prints it: proto field names, and fields at their defaults too ("name": "").
                name: json_format.MessageToDict(
                    sig, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
                )
                for name, sig in meta_graph.signature_def.items()
                if name in names
            }
    return {}


def _graph_error(exc: BaseException) -> str:
    """The meaningful line of a TF runtime error, without node names, stack traces or tensor contents."""
    text = getattr(exc, "message", None) or str(exc)
    lines = [
        line
        for line in text.splitlines()
        if line.strip()
        and not line[0].isspace()
        and not line.startswith(("Graph execution error", "Detected at node", "Traceback"))
    ]
    message = lines[-1] if lines else "invalid argument"
    message = re.sub(r"\s*\[\[.*$|\s*\[Op:.*$", "", message)
    assertion = re.match(r"assertion failed: \[([^\]]*)\]", message)
    if assertion:
        return f"assertion failed: {assertion.group(1).strip()}"
    # Drop the bracketed tensor summaries TF appends, so no request values are echoed back.
    return re.sub(r"\s*\[[^\]]*\]", "", message)[:300] or "invalid argument"


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text.strip().splitlines()[0][:500]
