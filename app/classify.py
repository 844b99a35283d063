"""TF Serving's Classify and Regress on a served model: signature checks, the model call, result checks. No HTTP.

A port of tensorflow_serving ``servables/tensorflow/classifier.cc`` and ``regressor.cc``: the signature (default
``serving_default``) must have the one input ``inputs``, fed with the serialized examples, and the outputs
``classes`` (string) and/or ``scores`` (float), or ``outputs`` (float, one per example). Like TF Serving, the
signature's ``method_name`` is checked only when ``check_method_name`` is set (TF Serving's
``--enable_signature_method_name_check``, off by default: TF2 exports mark every signature as predict). Every
failure is TF Serving's InvalidArgument, with its text: an ``InvalidInput`` (400).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from app.errors import InvalidInput
from app.predictor import DEFAULT_SIGNATURE, Predictor
from app.tensors import SignatureInfo, format_shape

CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
INPUTS, CLASSES, SCORES, OUTPUTS = "inputs", "classes", "scores", "outputs"


@dataclass(frozen=True)
class Classifications:
    """One row per example, one column per class; either may be missing (TF Serving then leaves it empty)."""

    labels: np.ndarray | None  # [examples, classes] of bytes
    scores: np.ndarray | None  # [examples, classes] float32


def classify(
    predictor: Predictor,
    signature_name: str,
    examples: np.ndarray,
    check_method_name: bool,
    cancelled: Callable[[], bool] | None = None,
) -> Classifications:
    """Run a classification signature on serialized examples (``signature_name`` ``""``: the default one)."""
    sig = _signature(predictor, signature_name, CLASSIFY_METHOD, "classification", check_method_name)
    if len(sig.inputs) != 1:
        raise InvalidInput("Expected one input Tensor.")
    if len(sig.outputs) not in (1, 2):
        raise InvalidInput(f"Expected one or two output Tensors, found {len(sig.outputs)}")
    if INPUTS not in sig.inputs:
        raise InvalidInput(f"No classification inputs found in SignatureDef: {_debug_string(predictor, sig)}")
    wanted = [name for name in (CLASSES, SCORES) if name in sig.outputs]
    if not wanted:
        raise InvalidInput(
            f'Expected classification signature outputs to contain at least one of "{CLASSES}" or "{SCORES}". '
            f"Signature was: {_debug_string(predictor, sig)}"
        )
    outputs = _run(predictor, sig, examples, wanted, cancelled)
    count = len(examples)
    labels, scores = outputs.get(CLASSES), outputs.get(SCORES)
    if labels is not None:
        _check_classification_output(sig, CLASSES, labels, count)
    if scores is not None:
        _check_classification_output(sig, SCORES, scores, count)
    if labels is not None and scores is not None and labels.shape[1] != scores.shape[1]:
        raise InvalidInput(
            f"Tensors class and score should match in dim_size(1). Got {labels.shape[1]} vs. {scores.shape[1]}"
        )
    return Classifications(labels, scores)


def regress(
    predictor: Predictor,
    signature_name: str,
    examples: np.ndarray,
    check_method_name: bool,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """Run a regression signature on serialized examples; returns one float32 per example."""
    sig = _signature(predictor, signature_name, REGRESS_METHOD, "regression", check_method_name)
    if len(sig.inputs) != 1:
        raise InvalidInput("Expected one input Tensor.")
    if len(sig.outputs) != 1:
        raise InvalidInput("Expected one output Tensor.")
    if INPUTS not in sig.inputs:
        raise InvalidInput(f"No regression inputs found in SignatureDef: {_debug_string(predictor, sig)}")
    if OUTPUTS not in sig.outputs:
        raise InvalidInput(f"No regression outputs found in SignatureDef: {_debug_string(predictor, sig)}")
    values = _run(predictor, sig, examples, [OUTPUTS], cancelled)[OUTPUTS]
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise InvalidInput(
            "Expected output Tensor shape to be either [batch_size] or [batch_size, 1] "
            f"but got {format_shape(values.shape)}"
        )
    if values.shape[0] != len(examples):
        raise InvalidInput(f"Input batch size did not match output batch size: {len(examples)} vs. {values.shape[0]}")
    if sig.outputs[OUTPUTS].dtype != "float32":
        raise InvalidInput(f"Expected output Tensor of DT_FLOAT.  Got: {sig.outputs[OUTPUTS].tf_enum}")
    return values.reshape(-1)


def _signature(predictor: Predictor, name: str, method: str, kind: str, check_method_name: bool) -> SignatureInfo:
    """``Get{Classification,Regression}SignatureDef``: an unknown name is InvalidArgument (400) in TF Serving."""
    key = name or DEFAULT_SIGNATURE
    sig = predictor.signatures.get(key)
    if sig is None:
        raise InvalidInput(f"No signature was found with the name: {key}")
    if check_method_name and sig.method_name != method:
        raise InvalidInput(f"Expected {kind} signature method_name to be {method}. Was: {sig.method_name}")
    return sig


def _run(
    predictor: Predictor,
    sig: SignatureInfo,
    examples: np.ndarray,
    wanted: list[str],
    cancelled: Callable[[], bool] | None,
) -> Mapping[str, np.ndarray]:
    info = sig.inputs[INPUTS]
    if not info.is_string:
        # TF Serving feeds the serialized examples to the input whatever its dtype; TensorFlow then refuses them.
        raise InvalidInput(f"Expects arg[0] to be {info.tf_enum[3:].lower()} but string is provided")
    return predictor.predict({INPUTS: examples}, sig.name, output_names=wanted, cancelled=cancelled)


def _check_classification_output(sig: SignatureInfo, name: str, value: np.ndarray, count: int) -> None:
    """``PostProcessClassificationResult``'s checks of the ``classes`` or ``scores`` tensor."""
    if value.ndim != 2:
        raise InvalidInput(f"Expected Tensor shape: [batch_size num_classes] but got {format_shape(value.shape)}")
    wanted = "DT_STRING" if name == CLASSES else "DT_FLOAT"
    got = sig.outputs[name].tf_enum
    if got != wanted:
        raise InvalidInput(f"Expected {name} Tensor of {wanted}. Got: {got}")
    if value.shape[0] != count:
        raise InvalidInput(f"Expected {name} output batch size of {count}. Got: {value.shape[0]}")


def _debug_string(predictor: Predictor, sig: SignatureInfo) -> str:
    """The SignatureDef in protobuf text format, as TF Serving's ``SignatureDef::DebugString()`` puts it."""
    from google.protobuf import json_format, text_format
    from tensorflow.core.protobuf import meta_graph_pb2

    proto = json_format.ParseDict(predictor.model.signature_defs.get(sig.name, {}), meta_graph_pb2.SignatureDef())
    return text_format.MessageToString(proto)
