"""Reply encoding for RESP2 and RESP3. No I/O here (sans-IO).

Handlers return plain Python values; :func:`encode` appends their wire form to a list of
byte chunks that the connection sends with one write per read. The mapping:

=====================  =====================================  ==========================
value                  RESP3                                  RESP2
=====================  =====================================  ==========================
bytes / bytearray      bulk string ``$``                      same
str                    simple string ``+``                    same
int                    integer ``:``                          same
bool                   boolean ``#t`` / ``#f``                integer 1 / 0
float                  double ``,``                           bulk string (``%.17g``)
None                   null ``_``                             null bulk ``$-1``
NULL_ARRAY             null ``_``                             null array ``*-1``
list / tuple           array ``*``                            same
dict                   map ``%``                              flat array of pairs
set / frozenset        set ``~``                              array
Push                   push ``>``                             array
Verbatim               verbatim string ``=`` (txt)            bulk string
ReplyError             error ``-``                            same
Raw                    the bytes as they are                  same
Replies                several top-level replies              same
=====================  =====================================  ==========================

Bulk strings of 16 KB and more are appended as (header, value, CRLF) so a large value
is never copied into a formatted string (measured: a 100 KB ``%``-format costs ~49 us).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

from ..errors import ReplyError

__all__ = [
    "NULL_ARRAY",
    "OK",
    "QUEUED",
    "Push",
    "Raw",
    "Replies",
    "Verbatim",
    "encode",
    "format_double",
]

_BIG: Final = 16 * 1024
_ONLY_BYTES: Final = {bytes}

try:  # hiredis encodes an array of bulk strings in C (its pack_command is exactly that)
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - the no-hiredis CI leg
    _pack = None  # type: ignore[assignment]


class Raw(bytes):
    """Bytes already in wire form, sent as they are (constant replies)."""

    __slots__ = ()


class Verbatim(bytes):
    """A verbatim text string (RESP3 ``=txt:``); a plain bulk string in RESP2."""

    __slots__ = ()


class Push(list):
    """An out-of-band push message (RESP3 ``>``); a plain array in RESP2."""

    __slots__ = ()


class Replies(list):
    """Several top-level replies from one command (SUBSCRIBE a b c)."""

    __slots__ = ()


class _NullArray:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY: Final = _NullArray()
OK: Final = Raw(b"+OK\r\n")
QUEUED: Final = Raw(b"+QUEUED\r\n")


def format_double(value: float) -> bytes:
    """Redis 7.2's form of a double: the shortest text that reads back the same value
    (``1``, ``0.1``, ``1.5e+20``), and ``inf`` / ``-inf`` / ``nan``."""
    if value != value:
        return b"nan"
    if math.isinf(value):
        return b"inf" if value > 0 else b"-inf"
    if value.is_integer() and abs(value) < 1e17:
        if not value and math.copysign(1.0, value) < 0:
            return b"-0"  # redis-server keeps the sign of negative zero
        return b"%d" % value
    return repr(value).encode()


Encoder = Callable[[Any, list[bytes], int], None]


def _bulk(v: bytes, out: list[bytes], proto: int) -> None:
    n = len(v)
    if n < _BIG:
        out.append(b"$%d\r\n%b\r\n" % (n, v))
    else:
        out.append(b"$%d\r\n" % n)
        out.append(v)
        out.append(b"\r\n")


def _simple(v: str, out: list[bytes], proto: int) -> None:
    out.append(b"+%b\r\n" % v.replace("\r", " ").replace("\n", " ").encode())


def _int(v: int, out: list[bytes], proto: int) -> None:
    out.append(b":%d\r\n" % v)


def _bool(v: bool, out: list[bytes], proto: int) -> None:
    if proto == 3:
        out.append(b"#t\r\n" if v else b"#f\r\n")
    else:
        out.append(b":1\r\n" if v else b":0\r\n")


def _double(v: float, out: list[bytes], proto: int) -> None:
    s = format_double(v)
    if proto == 3:
        out.append(b",%b\r\n" % s)
    else:
        out.append(b"$%d\r\n%b\r\n" % (len(s), s))


def _null(v: None, out: list[bytes], proto: int) -> None:
    out.append(b"_\r\n" if proto == 3 else b"$-1\r\n")


def _null_array(v: _NullArray, out: list[bytes], proto: int) -> None:
    out.append(b"_\r\n" if proto == 3 else b"*-1\r\n")


def _array(v: list | tuple, out: list[bytes], proto: int) -> None:
    if len(v) > 4 and set(map(type, v)) == _ONLY_BYTES:
        # Arrays of plain bulk strings (LRANGE, SMEMBERS in RESP2, HGETALL in RESP2 ...):
        # encoded in one C call when hiredis is there, else one comprehension.
        if _pack is not None and sum(map(len, v)) < _BIG * 4:
            out.append(_pack(tuple(v)))
            return
        out.append(b"*%d\r\n" % len(v))
        for item in v:
            _bulk(item, out, proto)
        return
    out.append(b"*%d\r\n" % len(v))
    for item in v:
        _ENCODERS.get(item.__class__, _fallback)(item, out, proto)


def _push(v: Push, out: list[bytes], proto: int) -> None:
    out.append((b">%d\r\n" if proto == 3 else b"*%d\r\n") % len(v))
    for item in v:
        _ENCODERS.get(item.__class__, _fallback)(item, out, proto)


def _map(v: dict, out: list[bytes], proto: int) -> None:
    out.append((b"%%%d\r\n" % len(v)) if proto == 3 else (b"*%d\r\n" % (2 * len(v))))
    for key, item in v.items():
        _ENCODERS.get(key.__class__, _fallback)(key, out, proto)
        _ENCODERS.get(item.__class__, _fallback)(item, out, proto)


def _set(v: set | frozenset, out: list[bytes], proto: int) -> None:
    out.append((b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(v))
    for item in v:
        _ENCODERS.get(item.__class__, _fallback)(item, out, proto)


def _verbatim(v: bytes, out: list[bytes], proto: int) -> None:
    if proto == 3:
        out.append(b"=%d\r\ntxt:%b\r\n" % (len(v) + 4, v))
    else:
        _bulk(v, out, proto)


def _raw(v: bytes, out: list[bytes], proto: int) -> None:
    out.append(v)


def _error(v: ReplyError, out: list[bytes], proto: int) -> None:
    out.append(b"-%b\r\n" % v.wire())


def _replies(v: Replies, out: list[bytes], proto: int) -> None:
    for item in v:
        _ENCODERS.get(item.__class__, _fallback)(item, out, proto)


def _fallback(v: Any, out: list[bytes], proto: int) -> None:
    # Subclasses of the table's types (and memoryview) end up here; the table stays exact
    # so the common types cost one dict lookup.
    if isinstance(v, ReplyError):
        _error(v, out, proto)
    elif isinstance(v, bool):
        _bool(v, out, proto)
    elif isinstance(v, int):
        _int(int(v), out, proto)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        _bulk(bytes(v) if isinstance(v, memoryview) and len(v) < _BIG else v, out, proto)  # type: ignore[arg-type]
    elif isinstance(v, str):
        _simple(v, out, proto)
    elif isinstance(v, float):
        _double(v, out, proto)
    elif isinstance(v, dict):
        _map(v, out, proto)
    elif isinstance(v, (list, tuple)):
        _array(v, out, proto)
    elif isinstance(v, (set, frozenset)):
        _set(v, out, proto)
    else:
        raise TypeError(f"cannot encode {type(v).__name__} as a reply")


_ENCODERS: Final[dict[type, Encoder]] = {
    bytes: _bulk,
    bytearray: _bulk,
    str: _simple,
    int: _int,
    bool: _bool,
    float: _double,
    type(None): _null,
    _NullArray: _null_array,
    list: _array,
    tuple: _array,
    dict: _map,
    set: _set,
    frozenset: _set,
    Push: _push,
    Verbatim: _verbatim,
    Raw: _raw,
    Replies: _replies,
    ReplyError: _error,
}


def encoder_for(value: Any) -> Encoder:
    """The encoder function for a value's type (for callers that cache it)."""
    return _ENCODERS.get(value.__class__, _fallback)


def encode(value: Any, out: list[bytes], proto: int = 2) -> None:
    """Append the wire form of ``value`` for RESP ``proto`` (2 or 3) to ``out``."""
    _ENCODERS.get(value.__class__, _fallback)(value, out, proto)


def encode_bytes(value: Any, proto: int = 2) -> bytes:
    """The wire form of one reply as one bytes object (tests, pub/sub fan-out)."""
    out: list[bytes] = []
    encode(value, out, proto)
    return b"".join(out)
