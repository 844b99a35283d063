"""Hand-built signature descriptions for codec and predictor tests (no TensorFlow needed)."""

from app.tensors import SignatureInfo, TensorInfo

IMAGE = SignatureInfo(
    "serving_default",
    inputs={"image": TensorInfo("image", "float32", (None, 2, 2))},
    outputs={
        "probabilities": TensorInfo("probabilities", "float32", (None, 3)),
        "digit": TensorInfo("digit", "int64", (None,)),
    },
)
FEATURES = SignatureInfo(
    "features",
    inputs={
        "temperature": TensorInfo("temperature", "float32", (None,)),
        "count": TensorInfo("count", "int32", (None,)),
    },
    outputs={"risk": TensorInfo("risk", "string", (None,))},
)
TEXT = SignatureInfo(
    "text",
    inputs={"s": TensorInfo("s", "string", (None,))},
    outputs={"n": TensorInfo("n", "int32", (None,))},
)
FLAGS = SignatureInfo(
    "flags",
    inputs={"b": TensorInfo("b", "bool", (None,))},
    outputs={"b": TensorInfo("b", "bool", (None,))},
)
ALL = {s.name: s for s in (IMAGE, FEATURES, TEXT, FLAGS)}


def lookup(name):
    return ALL[name or "serving_default"]
