"""The one dtype table: RedisAI wire name <-> numpy dtype <-> torch / ONNX names.

RedisAI knows exactly ten element types (src/redis_ai_objects/tensor.c,
``RAI_TensorDataTypeFromString``); there is no UINT32, UINT64 or FLOAT16. Names are
matched case-insensitively. The torch and ONNX columns are plain strings so that this
module never imports a backend (runtime/ maps them to real dtypes when it loads one).

Numeric dtypes are pinned little-endian: blobs travel in the byte order RedisAI and its
clients use (``ndarray.tobytes()`` on x86 / ARM), whatever host we run on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np

__all__ = ["DTYPES", "DType", "by_numpy", "lookup"]


@dataclass(frozen=True, slots=True)
class DType:
    """One element type. ``kind`` decides how VALUES are parsed and replied."""

    name: str  # RedisAI's name, upper case: what AI.TENSORGET META answers
    numpy: np.dtype  # element dtype of the stored array (object for STRING)
    itemsize: int  # bytes per element in a blob (STRING: 1, as RedisAI counts it)
    kind: str  # "float" | "int" | "uint" | "bool" | "string"
    torch: str  # torch dtype attribute name ("float32" -> torch.float32)
    onnx: str  # ONNX type string as onnxruntime reports it ("tensor(float)")
    min: int = 0  # VALUES range for integer kinds (inclusive)
    max: int = 0


def _int(name: str, bits: int, signed: bool, torch: str, onnx: str) -> DType:
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    prefix = "i" if signed else "u"
    return DType(name, np.dtype(f"<{prefix}{bits // 8}"), bits // 8,
                 "int" if signed else "uint", torch, onnx, lo, hi)


DTYPES: Final[dict[str, DType]] = {
    d.name: d
    for d in (
        DType("FLOAT", np.dtype("<f4"), 4, "float", "float32", "tensor(float)"),
        DType("DOUBLE", np.dtype("<f8"), 8, "float", "float64", "tensor(double)"),
        _int("INT8", 8, True, "int8", "tensor(int8)"),
        _int("INT16", 16, True, "int16", "tensor(int16)"),
        _int("INT32", 32, True, "int32", "tensor(int32)"),
        _int("INT64", 64, True, "int64", "tensor(int64)"),
        _int("UINT8", 8, False, "uint8", "tensor(uint8)"),
        _int("UINT16", 16, False, "uint16", "tensor(uint16)"),
        DType("BOOL", np.dtype(np.bool_), 1, "bool", "bool", "tensor(bool)", 0, 1),
        DType("STRING", np.dtype(object), 1, "string", "", "tensor(string)"),
    )
}

# numpy dtype -> DType, for arrays coming back from a backend (native and pinned order).
_BY_NUMPY: Final[dict[np.dtype, DType]] = {}
for _d in DTYPES.values():
    if _d.kind != "string":
        _BY_NUMPY[_d.numpy] = _d
        _BY_NUMPY[_d.numpy.newbyteorder("=")] = _d
del _d


def lookup(name: bytes | str) -> DType | None:
    """The DType for a wire name, any case (``b"float"`` -> FLOAT); None if unknown."""
    if isinstance(name, bytes):
        try:
            name = name.decode("ascii")
        except UnicodeDecodeError:
            return None
    return DTYPES.get(name.upper())


def by_numpy(dtype: np.dtype) -> DType | None:
    """The DType stored as ``dtype`` (numeric and bool only), or None."""
    return _BY_NUMPY.get(np.dtype(dtype))
