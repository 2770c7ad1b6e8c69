"""Hash commands: HSET HGET ... HRANDFIELD HSCAN, as redis-server 7 answers them (t_hash.c).

A hash is a ``dict[bytes, bytes]``. HSET is benchmarked: its keyspace read is inlined.
"""

from __future__ import annotations

import random
import warnings
from typing import Any, Final

from ..errors import NOT_FLOAT, OVERFLOW, SYNTAX, ReplyError, WrongTypeError, arity_error
from ..protocol import OK
from ._args import INT64_MAX, INT64_MIN, parse_int
from ._client import ClientState
from ._scan import parse_cursor, parse_scan_options, scan_step
from ._spec import command

_NOT_HASH_INT: Final = "hash value is not an integer"
_NOT_HASH_FLOAT: Final = "hash value is not a float"
_RANGE: Final = (
    "value is out of range, value must between -9223372036854775807 and 9223372036854775807"
)
_EMPTY: Final[list[bytes]] = []
_EMPTY_SCAN: Final[list[Any]] = [b"0", []]


def _hash(c: ClientState, key: bytes) -> dict[bytes, bytes] | None:
    db = c.db
    value = db.data.get(key) if not db.expires else db.lookup(key)
    if value is None or value.__class__ is dict:
        return value
    raise WrongTypeError()


def _hash_for_write(c: ClientState, key: bytes) -> dict[bytes, bytes]:
    """The hash at ``key``, created (and stored) when missing."""
    h = _hash(c, key)
    if h is None:
        h = {}
        c.db.set(key, h)
    return h


@command("hset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash",
         summary="Creates or modifies the value of a field in a hash.")
def hset(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    if n & 1:
        raise arity_error("hset")
    key = argv[1]
    db = c.db
    h = _hash(c, key)
    if h is None:
        h = dict(zip(argv[2::2], argv[3::2], strict=True)) if n > 4 else {argv[2]: argv[3]}
        db.set(key, h)
        return len(h)
    if n == 4:
        added = argv[2] not in h
        h[argv[2]] = argv[3]
        db.modified(key)
        return int(added)
    before = len(h)
    h.update(zip(argv[2::2], argv[3::2], strict=True))
    db.modified(key)
    return len(h) - before


@command("hmset", -4, "write denyoom fast", keys=(1, 1, 1), group="hash",
         summary="Sets the values of multiple fields.")
def hmset(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) & 1:
        raise arity_error("hmset")
    h = _hash_for_write(c, argv[1])
    h.update(zip(argv[2::2], argv[3::2], strict=True))
    c.db.modified(argv[1])
    return OK


@command("hsetnx", 4, "write denyoom fast", keys=(1, 1, 1), group="hash",
         summary="Sets the value of a field in a hash only when the field doesn't exist.")
def hsetnx(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    if h is not None and argv[2] in h:
        return 0
    if h is None:
        c.db.set(argv[1], {argv[2]: argv[3]})
    else:
        h[argv[2]] = argv[3]
        c.db.modified(argv[1])
    return 1


@command("hget", 3, "readonly fast", keys=(1, 1, 1), group="hash",
         summary="Returns the value of a field in a hash.")
def hget(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    return None if h is None else h.get(argv[2])


@command("hmget", -3, "readonly fast", keys=(1, 1, 1), group="hash",
         summary="Returns the values of all fields in a hash.")
def hmget(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    if h is None:
        return [None] * (len(argv) - 2)
    get = h.get
    return [get(f) for f in argv[2:]]


@command("hgetall", 2, "readonly", keys=(1, 1, 1), group="hash",
         summary="Returns all fields and values in a hash.")
def hgetall(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    # A dict reply is a map in RESP3 and a flat field/value array in RESP2; a copy,
    # because the reply may be encoded after the hash changes (unblocked clients).
    return {} if h is None else dict(h)


@command("hdel", -3, "write fast", keys=(1, 1, 1), group="hash",
         summary="Deletes one or more fields and their values from a hash. Deletes the "
                 "hash if no fields remain.")
def hdel(c: ClientState, argv: list[bytes]) -> Any:
    key = argv[1]
    h = _hash(c, key)
    if h is None:
        return 0
    removed = 0
    for f in argv[2:]:
        if h.pop(f, None) is not None:
            removed += 1
    if removed:
        c.db.changed(key, h)
    return removed


@command("hexists", 3, "readonly fast", keys=(1, 1, 1), group="hash",
         summary="Determines whether a field exists in a hash.")
def hexists(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    return int(h is not None and argv[2] in h)


@command("hlen", 2, "readonly fast", keys=(1, 1, 1), group="hash",
         summary="Returns the number of fields in a hash.")
def hlen(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    return 0 if h is None else len(h)


@command("hstrlen", 3, "readonly fast", keys=(1, 1, 1), group="hash", since="3.2.0",
         summary="Returns the length of the value of a field.")
def hstrlen(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    if h is None:
        return 0
    return len(h.get(argv[2], b""))


@command("hkeys", 2, "readonly", keys=(1, 1, 1), group="hash",
         summary="Returns all fields in a hash.")
def hkeys(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    return _EMPTY if h is None else list(h)


@command("hvals", 2, "readonly", keys=(1, 1, 1), group="hash",
         summary="Returns all values in a hash.")
def hvals(c: ClientState, argv: list[bytes]) -> Any:
    h = _hash(c, argv[1])
    return _EMPTY if h is None else list(h.values())


@command("hincrby", 4, "write denyoom fast", keys=(1, 1, 1), group="hash", since="2.0.0",
         summary="Increments the integer value of a field in a hash by a number. Uses 0 as "
                 "initial value if the field doesn't exist.")
def hincrby(c: ClientState, argv: list[bytes]) -> Any:
    incr = parse_int(argv[3])
    h = _hash(c, argv[1])
    old = None if h is None else h.get(argv[2])
    value = 0 if old is None else parse_int(old, _NOT_HASH_INT)
    value += incr
    if not INT64_MIN <= value <= INT64_MAX:
        raise ReplyError(OVERFLOW)
    if h is None:
        h = _hash_for_write(c, argv[1])
    h[argv[2]] = b"%d" % value
    c.db.modified(argv[1])
    return value


def _long_double(arg: bytes, message: str) -> Any:
    """redis's string2ld: strtold over the whole text; no spaces, no NaN."""
    import numpy as np  # only HINCRBYFLOAT needs 80-bit long doubles

    if not arg or len(arg) > 5 * 1024 or any(ch in b" \t\r\n\v\f_" for ch in arg):
        raise ReplyError(message)
    try:
        text = arg.decode("ascii")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow: checked below
            if text.lower().startswith(("0x", "-0x", "+0x")):
                value = np.longdouble(int(text, 16))
            else:
                value = np.longdouble(text)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise ReplyError(message) from None
    if np.isnan(value):
        raise ReplyError(message)
    # strtold's ERANGE: overflow to infinity, or underflow of a non-zero text to zero.
    if np.isinf(value) and text.lstrip("+-").lower() not in ("inf", "infinity"):
        raise ReplyError(message)
    if value == 0 and any(ch in "123456789" for ch in text.lower().partition("e")[0]):
        raise ReplyError(message)
    return value


def format_long_double(value: Any) -> bytes:
    """ld2string's LD_STR_HUMAN: ``%.17Lf`` with trailing zeros (and point) trimmed."""
    import numpy as np

    text: str = np.format_float_positional(value, precision=17, unique=False, trim="-")
    return b"0" if text == "-0" else text.encode()


@command("hincrbyfloat", 4, "write denyoom fast", keys=(1, 1, 1), group="hash",
         since="2.6.0",
         summary="Increments the floating point value of a field by a number. Uses 0 as "
                 "initial value if the field doesn't exist.")
def hincrbyfloat(c: ClientState, argv: list[bytes]) -> Any:
    import numpy as np

    # Long doubles like redis, so 0.1 + 0.2 answers 0.3 there and here.
    incr = _long_double(argv[3], NOT_FLOAT)
    if np.isinf(incr):
        raise ReplyError("value is NaN or Infinity")
    h = _hash(c, argv[1])
    old = None if h is None else h.get(argv[2])
    value = incr if old is None else _long_double(old, _NOT_HASH_FLOAT) + incr
    if not np.isfinite(value):
        raise ReplyError("increment would produce NaN or Infinity")
    text = format_long_double(value)
    if h is None:
        h = _hash_for_write(c, argv[1])
    h[argv[2]] = text
    c.db.modified(argv[1])
    return text


def parse_random_count(arg: bytes) -> int:
    """HRANDFIELD / SRANDMEMBER count: an int64 other than INT64_MIN (negation must fit)."""
    count = parse_int(arg)
    if count < -INT64_MAX:
        raise ReplyError(_RANGE)
    return count


@command("hrandfield", -2, "readonly", keys=(1, 1, 1), group="hash", since="6.2.0",
         summary="Returns one or more random fields from a hash.")
def hrandfield(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    if n == 2:
        h = _hash(c, argv[1])
        if not h:
            return None
        return random.choice(list(h))
    count = parse_random_count(argv[2])
    withvalues = False
    if n > 4 or (n == 4 and argv[3].lower() != b"withvalues"):
        raise ReplyError(SYNTAX)
    if n == 4:
        withvalues = True
        if not -INT64_MAX // 2 <= count <= INT64_MAX // 2:
            raise ReplyError("value is out of range")
    h = _hash(c, argv[1])
    if not h or count == 0:
        return _EMPTY
    if count < 0:
        fields = random.choices(list(h), k=-count)  # repeats allowed
    elif count >= len(h):
        fields = list(h)
    else:
        fields = random.sample(list(h), count)
    if not withvalues:
        return fields
    if c.resp == 3:
        return [[f, h[f]] for f in fields]
    out: list[bytes] = []
    for f in fields:
        out.append(f)
        out.append(h[f])
    return out


@command("hscan", -3, "readonly", keys=(1, 1, 1), group="hash", since="2.8.0",
         summary="Iterates over fields and values of a hash.")
def hscan(c: ClientState, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    h = _hash(c, argv[1])
    if h is None:
        return _EMPTY_SCAN
    opts = parse_scan_options(argv, 3, allow_novalues=True)
    cursor, fields = scan_step(cursor, opts.count, lambda: h)
    match = opts.match
    out: list[bytes] = []
    for f in fields:
        value = h.get(f)
        if value is None or (match is not None and not match(f)):
            continue  # deleted since the snapshot, or filtered out
        out.append(f)
        if not opts.novalues:
            out.append(value)
    return [b"%d" % cursor, out]
