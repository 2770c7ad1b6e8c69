"""Values to bytes and back: the one encoding behind snapshots and DUMP / RESTORE.

Every value type has a one-byte tag and a body built from two primitives, an unsigned
little-endian 64-bit length or count, and length-prefixed byte strings. Tensors keep
their blob as is (RedisAI's wire form), models their blob plus what MODELSTORE was told,
scripts their source plus entry points: a loaded engine handle is never serialised, it
is rebuilt from those on load by a :class:`Reviver` (the command layer's compile path,
so a value read from disk is exactly as valid as one a client stored).

Decoding is strict: every length is checked against what is left, trailing bytes are an
error, and any problem raises :class:`CorruptValue` (never an IndexError or a huge
allocation from a corrupt length).
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from typing import Any, Final, Protocol

from .._zset import ZSet
from ..dtypes import lookup as dtype_lookup
from ..model import Model
from ..script import Script
from ..tensor import Tensor

__all__ = ["DUMP_VERSION", "CorruptValue", "Reviver", "decode_value", "dump_payload",
           "encode_value", "restore_payload"]

Buffer = bytes | bytearray | memoryview
_U64: Final = struct.Struct("<Q")
_I64: Final = struct.Struct("<q")
_F64: Final = struct.Struct("<d")

T_STRING: Final = 0
T_HASH: Final = 1
T_LIST: Final = 2
T_SET: Final = 3
T_ZSET: Final = 4
T_TENSOR: Final = 5
T_MODEL: Final = 6
T_SCRIPT: Final = 7


class CorruptValue(Exception):
    """The bytes are not a value this version wrote."""


class Reviver(Protocol):
    """Rebuilds what holds an engine handle (the command layer implements it)."""

    def model(self, key: bytes, backend: str, device: str, tag: bytes, batchsize: int,
              minbatchsize: int, minbatchtimeout: int, blob: bytes) -> Model: ...

    def script(self, key: bytes, device: str, tag: bytes, entry_points: list[str],
               source: bytes) -> Script: ...


# -- encoding ------------------------------------------------------------------------------
def _b(out: list[bytes], data: bytes) -> None:
    out.append(_U64.pack(len(data)))
    out.append(data)


def _strings(out: list[bytes], items: Any, n: int) -> None:
    out.append(_U64.pack(n))
    pack = _U64.pack
    for item in items:
        out.append(pack(len(item)))
        out.append(item)


def encode_value(value: Any, out: list[bytes]) -> None:
    """Append ``value``'s encoding to ``out`` (pieces, joined by the caller)."""
    cls = value.__class__
    if cls is bytes:
        out.append(b"\x00")
        _b(out, value)
    elif cls is dict:
        out.append(b"\x01")
        out.append(_U64.pack(len(value)))
        pack = _U64.pack
        for k, v in value.items():
            out += (pack(len(k)), k, pack(len(v)), v)
    elif cls is deque or cls is list:
        out.append(b"\x02")
        _strings(out, value, len(value))
    elif cls is set or cls is frozenset:
        out.append(b"\x03")
        _strings(out, value, len(value))
    elif cls is ZSet or cls is tuple:  # a tuple: a ZSet's (member, score) pairs, copied
        pairs = value.dict.items() if cls is ZSet else value
        out.append(b"\x04")
        out.append(_U64.pack(len(pairs)))
        pack, pack_f = _U64.pack, _F64.pack
        for member, score in pairs:
            out += (pack(len(member)), member, pack_f(score))
    elif cls is Tensor:
        out.append(b"\x05")
        _b(out, value.dtype.name.encode())
        out.append(_U64.pack(len(value.shape)))
        out += [_I64.pack(d) for d in value.shape]
        _b(out, value.blob)
    elif cls is Model:
        out.append(b"\x06")
        _b(out, value.backend.encode())
        _b(out, value.device.name.encode())
        _b(out, value.tag)
        out.append(_I64.pack(value.batchsize))
        out.append(_I64.pack(value.minbatchsize))
        out.append(_I64.pack(value.minbatchtimeout))
        _b(out, value.blob)
    elif cls is Script:
        out.append(b"\x07")
        _b(out, value.device.name.encode())
        _b(out, value.tag)
        _strings(out, [e.encode() for e in value.entry_points], len(value.entry_points))
        _b(out, value.source)
    else:
        raise TypeError(f"cannot persist a {cls.__name__}")


# -- decoding ------------------------------------------------------------------------------
class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: Buffer) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def need(self, n: int) -> int:
        pos = self.pos
        if n < 0 or pos + n > len(self.data):
            raise CorruptValue("value is truncated")
        self.pos = pos + n
        return pos

    def u64(self) -> int:
        return int(_U64.unpack_from(self.data, self.need(8))[0])

    def i64(self) -> int:
        return int(_I64.unpack_from(self.data, self.need(8))[0])

    def f64(self) -> float:
        return float(_F64.unpack_from(self.data, self.need(8))[0])

    def count(self, item_size: int) -> int:
        """A count of items of at least ``item_size`` bytes each, checked against what
        is left (a corrupt count must not size an allocation)."""
        n = self.u64()
        if n * item_size > len(self.data) - self.pos:
            raise CorruptValue("count exceeds the value's size")
        return n

    def bytes(self) -> bytes:
        n = self.u64()
        pos = self.need(n)
        return bytes(self.data[pos:pos + n])

    def text(self) -> str:
        try:
            return self.bytes().decode()
        except UnicodeDecodeError:
            raise CorruptValue("bad text field") from None


def decode_value(data: Buffer, revive: Reviver, key: bytes = b"") -> Any:
    """The value ``encode_value`` wrote into ``data`` (exactly all of it)."""
    r = _Reader(data)
    value = _decode(r, revive, key)
    if r.pos != len(r.data):
        raise CorruptValue("trailing bytes after the value")
    return value


def _decode(r: _Reader, revive: Reviver, key: bytes) -> Any:
    tag = r.data[r.need(1)]
    if tag == T_STRING:
        return r.bytes()
    if tag == T_HASH:
        n = r.count(16)
        h = {}
        for _ in range(n):
            k = r.bytes()
            h[k] = r.bytes()
        return h
    if tag == T_LIST:
        return deque(r.bytes() for _ in range(r.count(8)))
    if tag == T_SET:
        return {r.bytes() for _ in range(r.count(8))}
    if tag == T_ZSET:
        z = ZSet()
        for _ in range(r.count(16)):
            member = r.bytes()
            z.add(member, r.f64())
        return z
    if tag == T_TENSOR:
        dtype = dtype_lookup(r.bytes())
        if dtype is None:
            raise CorruptValue("unknown tensor type")
        shape = tuple(r.i64() for _ in range(r.count(8)))
        if any(d < 0 for d in shape):
            raise CorruptValue("negative tensor dimension")
        try:
            return Tensor.from_blob(dtype, shape, r.bytes())
        except Exception as e:  # a blob that does not fit the shape
            raise CorruptValue(f"bad tensor: {e}") from None
    if tag == T_MODEL:
        backend, device, mtag = r.text(), r.text(), r.bytes()
        batchsize, minbatchsize, minbatchtimeout = r.i64(), r.i64(), r.i64()
        blob = r.bytes()
        try:
            return revive.model(key, backend, device, mtag, batchsize, minbatchsize,
                                minbatchtimeout, blob)
        except Exception as e:  # the engine refused the blob it accepted before
            raise CorruptValue(f"model could not be loaded: {e}") from None
    if tag == T_SCRIPT:
        device, stag = r.text(), r.bytes()
        entry_points = [r.text() for _ in range(r.count(8))]
        source = r.bytes()
        try:
            return revive.script(key, device, stag, entry_points, source)
        except Exception as e:
            raise CorruptValue(f"script could not be loaded: {e}") from None
    raise CorruptValue(f"unknown value type {tag}")


# -- DUMP / RESTORE payloads ---------------------------------------------------------------
DUMP_VERSION: Final = 1
_TRAILER: Final = struct.Struct("<HI")  # version, crc32 of everything before the crc


def dump_payload(value: Any) -> bytes:
    """DUMP's reply: the value's encoding, the format version and a checksum."""
    parts: list[bytes] = []
    encode_value(value, parts)
    parts.append(struct.pack("<H", DUMP_VERSION))
    body = b"".join(parts)
    return body + struct.pack("<I", zlib.crc32(body))


def restore_payload(payload: bytes, revive: Reviver, key: bytes = b"") -> Any:
    """The value of a DUMP payload; CorruptValue("version or checksum") when the trailer
    does not match, CorruptValue(reason) when the body is bad."""
    if len(payload) < _TRAILER.size + 1:
        raise CorruptValue("version or checksum")
    version, crc = _TRAILER.unpack_from(payload, len(payload) - _TRAILER.size)
    if version != DUMP_VERSION or zlib.crc32(memoryview(payload)[:-4]) != crc:
        raise CorruptValue("version or checksum")
    return decode_value(memoryview(payload)[:-_TRAILER.size], revive, key)
