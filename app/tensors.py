"""Tensor descriptions and dtype tables shared by the model and the wire codecs. No TensorFlow, no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# TF dtype name -> (TF Serving enum name, V2 datatype, numpy dtype). Strings travel as numpy object arrays of bytes.
_DTYPES: dict[str, tuple[str, str, np.dtype]] = {
    "float16": ("DT_HALF", "FP16", np.dtype(np.float16)),
    "float32": ("DT_FLOAT", "FP32", np.dtype(np.float32)),
    "float64": ("DT_DOUBLE", "FP64", np.dtype(np.float64)),
    "int8": ("DT_INT8", "INT8", np.dtype(np.int8)),
    "int16": ("DT_INT16", "INT16", np.dtype(np.int16)),
    "int32": ("DT_INT32", "INT32", np.dtype(np.int32)),
    "int64": ("DT_INT64", "INT64", np.dtype(np.int64)),
    "uint8": ("DT_UINT8", "UINT8", np.dtype(np.uint8)),
    "uint16": ("DT_UINT16", "UINT16", np.dtype(np.uint16)),
    "uint32": ("DT_UINT32", "UINT32", np.dtype(np.uint32)),
    "uint64": ("DT_UINT64", "UINT64", np.dtype(np.uint64)),
    "bool": ("DT_BOOL", "BOOL", np.dtype(np.bool_)),
    "string": ("DT_STRING", "BYTES", np.dtype(object)),
}
V2_TO_DTYPE = {v2: name for name, (_, v2, _) in _DTYPES.items()}

Shape = tuple[int | None, ...] | None  # None: unknown rank; a None dimension: any size


@dataclass(frozen=True)
class TensorInfo:
    """One named input or output of a signature."""

    name: str
    dtype: str  # TensorFlow dtype name, e.g. "float32", "string"
    shape: Shape

    @property
    def np_dtype(self) -> np.dtype:
        return _DTYPES[self.dtype][2]

    @property
    def tf_enum(self) -> str:
        return _DTYPES[self.dtype][0]

    @property
    def v2_datatype(self) -> str:
        return _DTYPES[self.dtype][1]

    @property
    def is_string(self) -> bool:
        return self.dtype == "string"

    def shape_list(self) -> list[int] | None:
        """The shape with -1 for unknown dimensions (the protocols' notation)."""
        return None if self.shape is None else [-1 if d is None else d for d in self.shape]

    def accepts_shape(self, shape: tuple[int, ...]) -> bool:
        """Whether a concrete array shape fits this tensor's (partially known) shape."""
        if self.shape is None:
            return True
        return len(shape) == len(self.shape) and all(
            want is None or want == got for want, got in zip(self.shape, shape, strict=True)
        )


@dataclass(frozen=True)
class SignatureInfo:
    """A serving signature: its name, named inputs and outputs."""

    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    method_name: str = "tensorflow/serving/predict"


def is_supported_dtype(name: str) -> bool:
    """Whether a TF dtype can travel over the JSON protocols."""
    return name in _DTYPES


def format_shape(shape: Shape | tuple[int, ...]) -> str:
    """Render a shape as the protocols do: [-1,28,28,1]."""
    if shape is None:
        return "<unknown rank>"
    return "[" + ",".join("-1" if d is None else str(d) for d in shape) + "]"
