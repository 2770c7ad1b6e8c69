"""Tensor values: an immutable blob, its element type and shape, and a numpy view of it.

The blob (``bytes``) is the canonical storage, laid out as RedisAI lays it out: the
elements in C order, little-endian, and for STRING the elements each followed by a
``\\0``. ``array`` is a read-only numpy view over it (``np.frombuffer``), so a tensor
set with BLOB keeps the received argument itself - no per-element copy on the way in -
and AI.TENSORGET BLOB hands that same object to the writer, which sends a large one as
a separate chunk - no copy on the way out either. Tensors are never mutated, so a
value can be shared by keys (COPY), replies still being written and model runs.

Constructors follow RedisAI's checks (src/redis_ai_objects/tensor.c) with their exact
error texts; see ../shared/REDISAI.md for the one deliberate difference (negative
values for signed integer types are accepted).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from ..errors import ReplyError
from ._keyspace import TYPE_NAMES, Shared
from .dtypes import DTYPES, DType, by_numpy

__all__ = [
    "BAD_BOOL",
    "BAD_LENGTH",
    "BAD_STRING_COUNT",
    "BAD_VALUE",
    "NULL_IN_STRING",
    "Tensor",
    "too_large",
]

BAD_VALUE: Final = "invalid value"
NULL_IN_STRING: Final = "C-string value contains null character"
BAD_LENGTH: Final = "data length does not match tensor shape and type"
BAD_STRING_COUNT: Final = "Number of string elements in data blob does not match tensor length"
BAD_BOOL: Final = "BOOL tensor elements must be 0 or 1"

# Characters strtod can consume in a decimal number (with inf / infinity); "nan" has an
# 'a' and so never passes. Python's float() also takes spaces and '_', which
# RedisModule_StringToDouble refuses - hence this filter before the C-speed map(float).
_FLOAT_CHARS: Final = b"0123456789+-.eEiInNfFtTyY"
# A zero-valued number whose mantissa has a non-zero digit underflowed (1e-400).
_UNDERFLOW: Final = re.compile(rb"(?:^|\x00)[+-]?[0.]*[1-9]")
_INT_CHARS: Final = b"0123456789-"
# string2ll's strictness: no leading zeros, no "-0", nothing but digits after a '-'.
_BAD_INT: Final = re.compile(rb"(?:^|\x00)(?:0[0-9]|-0|-?\x00|-?$)|-[^0-9]|[0-9]-")


def too_large(nbytes: int, cap: int, limit: str = "proto-max-bulk-len") -> ReplyError:
    """A tensor whose data would pass the size limit (named by ``limit``): refused
    before anything is allocated."""
    return ReplyError(f"tensor of {nbytes} bytes exceeds {limit} ({cap} bytes)")


@dataclass(frozen=True, slots=True, eq=False)
class Tensor(Shared):
    """One AI_TENSOR value. Build it with :meth:`from_blob`, :meth:`from_values` or
    :meth:`zeros`; the fields never change after that."""

    dtype: DType
    shape: tuple[int, ...]
    blob: bytes  # RedisAI's wire form; what AI.TENSORGET BLOB answers
    array: np.ndarray  # read-only view of blob (STRING: an object array of bytes)

    # -- construction ------------------------------------------------------------------
    @classmethod
    def _of(cls, dtype: DType, shape: tuple[int, ...], blob: bytes) -> Tensor:
        if dtype.kind == "string":
            # blob ends in \0 (checked by the callers): drop the empty piece after it.
            items = blob.split(b"\0")
            items.pop()
            arr = np.empty(len(items), dtype=object)
            arr[:] = items
            arr = arr.reshape(shape)
            arr.flags.writeable = False
        else:
            arr = np.frombuffer(blob, dtype=dtype.numpy).reshape(shape)
        return cls(dtype, shape, blob, arr)

    @classmethod
    def zeros(cls, dtype: DType, shape: tuple[int, ...], max_bytes: int) -> Tensor:
        """All zeros (STRING: empty strings), as TENSORSET with neither BLOB nor VALUES."""
        n = math.prod(shape)
        if n * dtype.itemsize > max_bytes:
            raise too_large(n * dtype.itemsize, max_bytes)
        blob = b"\0" * n if dtype.kind == "string" else bytes(n * dtype.itemsize)
        return cls._of(dtype, shape, blob)

    @classmethod
    def from_blob(cls, dtype: DType, shape: tuple[int, ...], data: bytes) -> Tensor:
        """The tensor whose elements are ``data``; the bytes object is kept, not copied.

        Numeric and BOOL blobs need exactly prod(shape) * itemsize bytes (BOOL bytes 0
        or 1); a STRING blob is prod(shape) \\0-terminated strings. A blob can never
        exceed proto-max-bulk-len (the reader refuses it), so no size cap is needed.
        """
        if data.__class__ is not bytes:
            data = bytes(data)  # a bytearray could change under the view
        n = math.prod(shape)
        if dtype.kind == "string":
            if not data or data[-1] != 0 or data.count(0) != n:
                raise ReplyError(BAD_STRING_COUNT)
            return cls._of(dtype, shape, data)
        if len(data) != n * dtype.itemsize:
            raise ReplyError(BAD_LENGTH)
        if dtype.kind == "bool" and data.translate(None, b"\x00\x01"):
            raise ReplyError(BAD_BOOL)
        return cls._of(dtype, shape, data)

    @classmethod
    def from_values(
        cls, dtype: DType, shape: tuple[int, ...], values: list[bytes], max_bytes: int
    ) -> Tensor:
        """The tensor of ``values`` (as sent after VALUES; len == prod(shape), checked by
        the caller): doubles for FLOAT/DOUBLE, strict 64-bit integers within the type's
        range otherwise (``ERR invalid value``), C strings for STRING."""
        nbytes = len(values) * dtype.itemsize
        if nbytes > max_bytes:
            raise too_large(nbytes, max_bytes)
        kind = dtype.kind
        if kind == "string":
            return cls._of(dtype, shape, _string_blob(values))
        if kind == "float":
            arr = _parse_doubles(values)
            with warnings.catch_warnings():
                # FLOAT keeps C's double -> float conversion: out of range becomes inf.
                warnings.simplefilter("ignore", RuntimeWarning)
                arr = arr.astype(dtype.numpy)
        else:
            arr = _parse_ints(values, dtype)
        return cls._of(dtype, shape, arr.tobytes())

    @classmethod
    def from_array(cls, arr: np.ndarray) -> Tensor:
        """A tensor holding a copy of ``arr`` (a model's output): numeric and bool arrays
        of RedisAI's types, or strings (str / bytes objects) as STRING."""
        if arr.dtype == object or arr.dtype.kind in "US":
            items = [x.encode("utf-8") if isinstance(x, str) else bytes(x)
                     for x in arr.reshape(-1).tolist()]
            if any(b"\0" in x for x in items):
                raise ReplyError(NULL_IN_STRING)
            items.append(b"")
            return cls._of(DTYPES["STRING"], tuple(arr.shape), b"\0".join(items))
        dtype = by_numpy(arr.dtype)
        if dtype is None:
            raise ReplyError(f"unsupported tensor type {arr.dtype} in model output")
        blob = np.ascontiguousarray(arr, dtype=dtype.numpy).tobytes()
        return cls._of(dtype, tuple(arr.shape), blob)

    @property
    def batch_size(self) -> int:
        """Rows along dimension 0 (1 for a 0-d scalar): what AI.INFO samples count."""
        return self.shape[0] if self.shape else 1

    # -- export ------------------------------------------------------------------------
    def values(self, resp: int) -> list[Any]:
        """AI.TENSORGET VALUES: ints for integer types and BOOL; for FLOAT/DOUBLE doubles
        in RESP3 and ``%.17g`` bulk strings in RESP2 (RedisModule_ReplyWithDouble);
        STRING elements without their terminator."""
        kind = self.dtype.kind
        if kind == "string":
            return list(self.array.reshape(-1))
        flat = self.array.reshape(-1)
        if kind == "float":
            floats = flat.astype(np.float64).tolist()
            if resp == 3:
                return floats
            return [b"%.17g" % v for v in floats]
        if kind == "bool":
            flat = flat.view(np.uint8)
        return flat.tolist()

    def __repr__(self) -> str:
        return f"Tensor({self.dtype.name}, {list(self.shape)})"


TYPE_NAMES[Tensor] = "AI_TENSOR"  # what TYPE answers, as RedisAI's module type name


def _string_blob(values: list[bytes]) -> bytes:
    """STRING VALUES -> blob: each value may end in one \\0 but contain no other."""
    parts = []
    for v in values:
        i = v.find(b"\0")
        if i >= 0:
            if i != len(v) - 1:
                raise ReplyError(NULL_IN_STRING)
            v = v[:-1]
        parts.append(v)
    parts.append(b"")
    return b"\0".join(parts)


def _parse_doubles(values: list[bytes]) -> np.ndarray:
    """RedisModule_StringToDouble over every value: strtod's decimal forms and inf, no
    spaces, no NaN, no overflow to inf. The common case runs in C (translate, map)."""
    joined = b"\0".join(values)
    if joined.translate(None, _FLOAT_CHARS + b"\0"):
        raise ReplyError(BAD_VALUE)
    try:
        arr = np.array(list(map(float, values)), dtype=np.float64)
    except ValueError:
        raise ReplyError(BAD_VALUE) from None
    if np.isinf(arr).any():
        # strtod overflows to inf with ERANGE (refused); only spelled-out inf is inf.
        for i in np.flatnonzero(np.isinf(arr)).tolist():
            if values[i].lstrip(b"+-").lower() not in (b"inf", b"infinity"):
                raise ReplyError(BAD_VALUE)
    zeros = np.flatnonzero(arr == 0)
    if zeros.size:
        # strtod underflow is ERANGE with a zero result: refused as well.
        if _UNDERFLOW.search(b"\0".join([values[i] for i in zeros.tolist()])):
            raise ReplyError(BAD_VALUE)
    return arr


def _parse_ints(values: list[bytes], dtype: DType) -> np.ndarray:
    """RedisModule_StringToLongLong over every value, then the type's range check."""
    joined = b"\0".join(values)
    if joined.translate(None, _INT_CHARS + b"\0") or _BAD_INT.search(joined):
        raise ReplyError(BAD_VALUE)
    try:
        arr = np.array(list(map(int, values)), dtype=np.int64)
    except (ValueError, OverflowError):
        raise ReplyError(BAD_VALUE) from None
    if arr.size and (int(arr.min()) < dtype.min or int(arr.max()) > dtype.max):
        raise ReplyError(BAD_VALUE)
    return arr.astype(dtype.numpy)
