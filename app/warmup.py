"""TF Serving warm-up records (``assets.extra/tf_serving_warmup_requests``) without tensorflow-serving-api.

The file is a TFRecord of serialized ``tensorflow.serving.PredictionLog`` messages. ``tensorflow-serving-api``
would pull in a second full TensorFlow, so the few messages needed are declared here by hand, with the field
numbers of tensorflow/serving's ``apis/model.proto``, ``predict.proto``, ``logging.proto`` and
``prediction_log.proto``, and built at run time on top of TensorFlow's own ``TensorProto``. Only
``predict_log`` records are understood; classify/regress/multi-inference/session-run logs are skipped.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from app.errors import ModelLoadError

logger = logging.getLogger(__name__)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"
DEFAULT_SIGNATURE = "serving_default"

_PACKAGE = "tensorflow.serving"
_FIELD = descriptor_pb2.FieldDescriptorProto
_SCALARS = {"string": _FIELD.TYPE_STRING, "int64": _FIELD.TYPE_INT64}
_TENSOR_MAP = "map<string, TensorProto>"
# The subset of tensorflow_serving/apis/{model,predict,logging,prediction_log}.proto used here, with the
# upstream field numbers: message -> [(field, number, type)]. Fields left out parse as unknown fields.
_MESSAGES: dict[str, list[tuple[str, int, str]]] = {
    "ModelSpec": [
        ("name", 1, "string"),
        ("version", 2, ".google.protobuf.Int64Value"),
        ("version_label", 4, "string"),
        ("signature_name", 3, "string"),
    ],
    "PredictRequest": [
        ("model_spec", 1, ".tensorflow.serving.ModelSpec"),
        ("inputs", 2, _TENSOR_MAP),
        ("output_filter", 3, "repeated string"),
    ],
    "PredictResponse": [("model_spec", 2, ".tensorflow.serving.ModelSpec"), ("outputs", 1, _TENSOR_MAP)],
    "PredictLog": [
        ("request", 1, ".tensorflow.serving.PredictRequest"),
        ("response", 2, ".tensorflow.serving.PredictResponse"),
    ],
    "LogMetadata": [
        ("model_spec", 1, ".tensorflow.serving.ModelSpec"),
        ("saved_model_tags", 3, "repeated string"),
        ("timestamp_secs", 4, "int64"),
    ],
    "PredictionLog": [
        ("log_metadata", 1, ".tensorflow.serving.LogMetadata"),
        ("predict_log", 6, ".tensorflow.serving.PredictLog"),
    ],
}
# message -> (oneof name, its member fields).
_ONEOFS = {
    "ModelSpec": ("version_choice", {"version", "version_label"}),
    "PredictionLog": ("log_type", {"predict_log"}),
}


@dataclass(frozen=True)
class WarmupRequest:
    """One warm-up call: the signature to run and its named input tensors."""

    signature_name: str
    inputs: dict[str, np.ndarray]


def _add_field(message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: str) -> None:
    """Add ``name = number`` to ``message``; ``kind``: "string", "int64", ".pkg.Message", maybe repeated."""
    repeated = kind.startswith("repeated ")
    kind = kind.removeprefix("repeated ")
    label = _FIELD.LABEL_REPEATED if repeated else _FIELD.LABEL_OPTIONAL
    field = message.field.add(name=name, number=number, json_name=name, label=label)
    if kind in _SCALARS:
        field.type = _SCALARS[kind]
    else:
        field.type, field.type_name = _FIELD.TYPE_MESSAGE, kind


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    """``_MESSAGES`` as one proto3 file in package ``tensorflow.serving``."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="tf_cloudrun_serving/prediction_log_subset.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/wrappers.proto", "tensorflow/core/framework/tensor.proto"],
    )
    for message_name, fields in _MESSAGES.items():
        message = proto.message_type.add(name=message_name)
        oneof_name, oneof_members = _ONEOFS.get(message_name, ("", set()))
        if oneof_name:
            message.oneof_decl.add(name=oneof_name)
        for name, number, kind in fields:
            if kind == _TENSOR_MAP:  # a map is a repeated nested "<Name>Entry" message with key = 1, value = 2
                entry = message.nested_type.add(name=f"{name.title()}Entry")
                entry.options.map_entry = True
                _add_field(entry, "key", 1, "string")
                _add_field(entry, "value", 2, ".tensorflow.TensorProto")
                kind = f"repeated .{_PACKAGE}.{message_name}.{entry.name}"
            _add_field(message, name, number, kind)
            if name in oneof_members:
                message.field[-1].oneof_index = 0
    return proto


@functools.cache
def _messages() -> SimpleNamespace:
    """Message classes, built once. Importing tensor_pb2 imports TensorFlow, hence not at module import.

    They are registered in protobuf's default pool (TensorProto lives there). If tensorflow-serving-api is
    already imported its real classes are used; importing it *after* this ran would clash on the names.
    """
    from google.protobuf import wrappers_pb2  # noqa: F401  (registers the dependency in the default pool)
    from tensorflow.core.framework import tensor_pb2  # noqa: F401

    pool = descriptor_pool.Default()
    try:  # tensorflow-serving-api (or an earlier call) already registered the real messages
        pool.FindMessageTypeByName(f"{_PACKAGE}.PredictionLog")
    except KeyError:
        pool.Add(_file_descriptor())
    classes = {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}")) for name in _MESSAGES
    }
    return SimpleNamespace(**classes)


def warmup_path(saved_model_dir: Path) -> Path:
    """Where TF Serving looks for the warm-up file of one SavedModel version directory."""
    return Path(saved_model_dir) / WARMUP_FILE


def read_warmup_requests(saved_model_dir: Path, limit: int = 1000) -> list[WarmupRequest]:
    """Read up to ``limit`` predict warm-up requests; ``[]`` if the SavedModel has no warm-up file.

    Raises ``ModelLoadError`` if the file is not a TFRecord of PredictionLog messages.
    """
    import tensorflow as tf

    path = warmup_path(saved_model_dir)
    if not path.is_file():
        return []
    requests: list[WarmupRequest] = []
    try:
        records = tf.data.TFRecordDataset(str(path)).take(limit + 1).as_numpy_iterator()
        for index, record in enumerate(records):
            if index == limit:
                logger.warning("Warm-up file %s has more than %d records; using the first %d", path, limit, limit)
                break
            request = _decode(record)
            if request is None:
                logger.info("Skipping warm-up record %d of %s: not a predict_log", index, path)
            else:
                requests.append(request)
    except (tf.errors.OpError, DecodeError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"Warm-up file {path} is corrupt: {exc}") from exc
    return requests


def _decode(record: bytes) -> WarmupRequest | None:
    """One serialized PredictionLog as a ``WarmupRequest``; ``None`` if it is not a predict log."""
    import tensorflow as tf

    log = _messages().PredictionLog.FromString(record)
    if log.WhichOneof("log_type") != "predict_log":
        return None
    request = log.predict_log.request
    inputs = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
    return WarmupRequest(request.model_spec.signature_name or DEFAULT_SIGNATURE, inputs)


def write_warmup_requests(saved_model_dir: Path, requests: list[WarmupRequest], model_name: str = "") -> Path:
    """Write ``requests`` as TF Serving's warm-up file inside ``saved_model_dir``; return its path."""
    import tensorflow as tf

    messages = _messages()
    path = warmup_path(saved_model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in requests:
            spec = messages.ModelSpec(name=model_name, signature_name=request.signature_name)
            predict = messages.PredictRequest(model_spec=spec)
            for name, value in request.inputs.items():
                predict.inputs[name].CopyFrom(tf.make_tensor_proto(value))
            log = messages.PredictionLog(predict_log=messages.PredictLog(request=predict))
            writer.write(log.SerializeToString())
    return path
