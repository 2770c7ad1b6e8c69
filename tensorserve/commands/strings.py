"""String commands: GET SET ... INCRBYFLOAT, exactly as redis-server 7 answers them.

Strings are stored as plain ``bytes`` in ``db.data`` (no wrapper object: a million small
keys must stay small); INCR stores its result as decimal bytes too, as Redis's reply and
OBJECT ENCODING ("int") only depend on the text. GET and SET with no options take a fast
path before any option parsing: they are the benchmarked commands.
"""

from __future__ import annotations

import warnings
from typing import Any, Final

import numpy as np

from ..errors import (
    INVALID_EXPIRE,
    NOT_FLOAT,
    NOT_FLOAT_NAN,
    OVERFLOW,
    SYNTAX,
    ReplyError,
    WrongTypeError,
    arity_error,
)
from ..protocol import OK, Raw
from ..store import now_ms
from ._args import INT64_MAX, INT64_MIN, parse_int
from ._client import ClientState
from ._spec import command

_ZERO: Final = Raw(b":0\r\n")
_ONE: Final = Raw(b":1\r\n")
_EMPTY: Final = b""
_E18: Final = 10**18
_STRING_OR_NONE: Final = frozenset({bytes, type(None)})
_TOO_BIG: Final = "string exceeds maximum allowed size (proto-max-bulk-len)"

# SET / GETEX option bits (redis's OBJ_SET_* flags).
_NX: Final = 1
_XX: Final = 2
_GET: Final = 4
_KEEPTTL: Final = 8
_PERSIST: Final = 16
_EX: Final = 32
_PX: Final = 64
_EXAT: Final = 128
_PXAT: Final = 256
_ANY_EXPIRE: Final = _EX | _PX | _EXAT | _PXAT
_SECONDS: Final = _EX | _EXAT
_RELATIVE: Final = _EX | _PX
_EXPIRE_OPTS: Final = {b"ex": _EX, b"px": _PX, b"exat": _EXAT, b"pxat": _PXAT}


def _string(c: ClientState, key: bytes) -> bytes | None:
    """A read lookup (counts keyspace hits/misses); WRONGTYPE for another type."""
    value = c.db.lookup(key)
    stats = c.server.stats
    if value is None:
        stats.keyspace_misses += 1
        return None
    stats.keyspace_hits += 1
    if value.__class__ is not bytes:
        raise WrongTypeError()
    return value


def _parse_extended(argv: list[bytes], start: int, is_set: bool) -> tuple[int, bytes | None]:
    """redis's parseExtendedStringArgumentsOrReply: option flags and the expire argument.

    Conflicting options are plain syntax errors there, so they are here too; repeating
    the same expire option is allowed (the last one wins)."""
    flags = 0
    expire: bytes | None = None
    n = len(argv)
    j = start
    while j < n:
        opt = argv[j].lower()
        if opt == b"nx" and is_set and not flags & _XX:
            flags |= _NX
        elif opt == b"xx" and is_set and not flags & _NX:
            flags |= _XX
        elif opt == b"get" and is_set:
            flags |= _GET
        elif opt == b"keepttl" and is_set and not flags & (_PERSIST | _ANY_EXPIRE):
            flags |= _KEEPTTL
        elif opt == b"persist" and not is_set and not flags & (_KEEPTTL | _ANY_EXPIRE):
            flags |= _PERSIST
        else:
            bit = _EXPIRE_OPTS.get(opt)
            if (
                bit is None
                or j + 1 >= n
                or flags & (_KEEPTTL | _PERSIST)
                or flags & (_ANY_EXPIRE & ~bit)
            ):
                raise ReplyError(SYNTAX)
            flags |= bit
            expire = argv[j + 1]
            j += 1
        j += 1
    return flags, expire


def _deadline(arg: bytes, flags: int, name: str) -> int:
    """An absolute deadline in ms from an EX/PX/EXAT/PXAT argument (getExpireMilliseconds)."""
    ms = parse_int(arg)
    seconds = flags & _SECONDS
    if ms <= 0 or (seconds and ms > INT64_MAX // 1000):
        raise ReplyError(INVALID_EXPIRE % name)
    if seconds:
        ms *= 1000
    if flags & _RELATIVE:
        ms += now_ms()
        if ms > INT64_MAX:  # redis's long long wraps negative here and refuses it
            raise ReplyError(INVALID_EXPIRE % name)
    return ms


def _set_generic(
    c: ClientState, key: bytes, value: bytes, flags: int, expire: bytes | None, name: str,
    on_set: Any = OK, on_abort: Any = None,
) -> Any:
    """redis's setGenericCommand."""
    deadline = _deadline(expire, flags, name) if expire is not None else None
    db = c.db
    old: bytes | None = None
    if flags & _GET:
        old = _string(c, key)
    if flags & (_NX | _XX):
        found = (old is not None) if flags & _GET else (db.lookup(key) is not None)
        if (flags & _NX and found) or (flags & _XX and not found):
            return old if flags & _GET else on_abort
    if deadline is not None:
        db.set_with_expire(key, value, deadline)
    else:
        db.set(key, value, bool(flags & _KEEPTTL))
    return old if flags & _GET else on_set


@command("get", 2, "readonly fast", keys=(1, 1, 1), group="string",
         summary="Returns the string value of a key.")
def get(c: ClientState, argv: list[bytes]) -> Any:
    db = c.db
    value = db.lookup(argv[1]) if db.expires else db.data.get(argv[1])
    if value is None:
        c.server.stats.keyspace_misses += 1
        return None
    c.server.stats.keyspace_hits += 1
    if value.__class__ is not bytes:
        raise WrongTypeError()
    return value


@command("set", -3, "write denyoom", keys=(1, 1, 1), group="string",
         summary="Sets the string value of a key, ignoring its type. The key is created if "
                 "it doesn't exist.")
def set_(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) == 3:  # the benchmarked case: no options to parse
        c.db.set(argv[1], argv[2])
        return OK
    flags, expire = _parse_extended(argv, 3, True)
    return _set_generic(c, argv[1], argv[2], flags, expire, "set")


@command("setnx", 3, "write denyoom fast", keys=(1, 1, 1), group="string",
         summary="Set the string value of a key only when the key doesn't exist.")
def setnx(c: ClientState, argv: list[bytes]) -> Any:
    return _set_generic(c, argv[1], argv[2], _NX, None, "setnx", _ONE, _ZERO)


@command("setex", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.0.0",
         summary="Sets the string value and expiration time of a key. Creates the key if "
                 "it doesn't exist.")
def setex(c: ClientState, argv: list[bytes]) -> Any:
    return _set_generic(c, argv[1], argv[3], _EX, argv[2], "setex")


@command("psetex", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.6.0",
         summary="Sets both string value and expiration time in milliseconds of a key. The "
                 "key is created if it doesn't exist.")
def psetex(c: ClientState, argv: list[bytes]) -> Any:
    return _set_generic(c, argv[1], argv[3], _PX, argv[2], "psetex")


@command("getex", -2, "write fast", keys=(1, 1, 1), group="string", since="6.2.0",
         summary="Returns the string value of a key after setting its expiration time.")
def getex(c: ClientState, argv: list[bytes]) -> Any:
    flags, expire = _parse_extended(argv, 2, False)
    key = argv[1]
    value = _string(c, key)
    if value is None:
        return None
    db = c.db
    if expire is not None:
        deadline = _deadline(expire, flags, "getex")
        if flags & (_EXAT | _PXAT) and deadline <= now_ms():
            db.delete(key)
        else:
            db.set_expire(key, deadline)
    elif flags & _PERSIST:
        db.persist(key)
    return value


@command("getdel", 2, "write fast", keys=(1, 1, 1), group="string", since="6.2.0",
         summary="Returns the string value of a key after deleting the key.")
def getdel(c: ClientState, argv: list[bytes]) -> Any:
    value = _string(c, argv[1])
    if value is not None:
        c.db.delete(argv[1])
    return value


@command("getset", 3, "write denyoom fast", keys=(1, 1, 1), group="string",
         summary="Returns the previous string value of a key after setting it to a new value.")
def getset(c: ClientState, argv: list[bytes]) -> Any:
    old = _string(c, argv[1])
    c.db.set(argv[1], argv[2])
    return old


@command("mget", -2, "readonly fast", keys=(1, -1, 1), group="string",
         summary="Atomically returns the string values of one or more keys.")
def mget(c: ClientState, argv: list[bytes]) -> Any:
    db = c.db
    # map() over dict.get stays in C when no key has a TTL (3x faster than a loop).
    values = list(map(db.lookup if db.expires else db.data.get, argv[1:]))
    misses = values.count(None)
    stats = c.server.stats
    stats.keyspace_misses += misses
    stats.keyspace_hits += len(values) - misses
    if not set(map(type, values)) <= _STRING_OR_NONE:
        # Keys of other types read as null, without an error.
        values = [v if v.__class__ is bytes else None for v in values]
    return values


@command("mset", -3, "write denyoom", keys=(1, -1, 2), group="string", since="1.0.1",
         summary="Atomically creates or modifies the string values of one or more keys.")
def mset(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    if not n & 1:
        raise arity_error("mset")
    c.db.set_pairs(argv)
    return OK


@command("msetnx", -3, "write denyoom", keys=(1, -1, 2), group="string", since="1.0.1",
         summary="Atomically modifies the string values of one or more keys only when all "
                 "keys don't exist.")
def msetnx(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    if not n & 1:
        raise arity_error("msetnx")
    db = c.db
    for i in range(1, n, 2):
        if db.lookup(argv[i]) is not None:
            return _ZERO
    db.set_pairs(argv)
    return _ONE


def _check_length(c: ClientState, total: int) -> None:
    if total > c.server.config.proto_max_bulk_len:
        raise ReplyError(_TOO_BIG)


def _writable_string(c: ClientState, key: bytes) -> bytes | None:
    """A write lookup (no hit/miss stats, like redis's lookupKeyWrite)."""
    value = c.db.lookup(key)
    if value is not None and value.__class__ is not bytes:
        raise WrongTypeError()
    return value


@command("append", 3, "write denyoom fast", keys=(1, 1, 1), group="string", since="2.0.0",
         summary="Appends a string to the value of a key. Creates the key if it doesn't exist.")
def append(c: ClientState, argv: list[bytes]) -> Any:
    key, extra = argv[1], argv[2]
    old = _writable_string(c, key)
    if old is None:
        c.db.set(key, extra)
        return len(extra)
    _check_length(c, len(old) + len(extra))
    new = old + extra
    c.db.set(key, new, True)
    return len(new)


@command("strlen", 2, "readonly fast", keys=(1, 1, 1), group="string", since="2.2.0",
         summary="Returns the length of a string value.")
def strlen(c: ClientState, argv: list[bytes]) -> Any:
    value = _string(c, argv[1])
    return 0 if value is None else len(value)


def _getrange(c: ClientState, argv: list[bytes]) -> Any:
    start = parse_int(argv[2])
    end = parse_int(argv[3])
    value = _string(c, argv[1])
    if value is None:
        return _EMPTY
    n = len(value)
    if start < 0 and end < 0 and start > end:
        return _EMPTY
    if start < 0:
        start = max(n + start, 0)
    if end < 0:
        end = max(n + end, 0)
    if end >= n:
        end = n - 1
    if start > end or n == 0:
        return _EMPTY
    return value[start : end + 1]


@command("getrange", 4, "readonly", keys=(1, 1, 1), group="string", since="2.4.0",
         summary="Returns a substring of the string stored at a key.")
def getrange(c: ClientState, argv: list[bytes]) -> Any:
    return _getrange(c, argv)


@command("substr", 4, "readonly", keys=(1, 1, 1), group="string",
         summary="Returns a substring from a string value.")
def substr(c: ClientState, argv: list[bytes]) -> Any:
    return _getrange(c, argv)


@command("setrange", 4, "write denyoom", keys=(1, 1, 1), group="string", since="2.2.0",
         summary="Overwrites a part of a string value with another by an offset. Creates the "
                 "key if it doesn't exist.")
def setrange(c: ClientState, argv: list[bytes]) -> Any:
    key, piece = argv[1], argv[3]
    offset = parse_int(argv[2])
    if offset < 0:
        raise ReplyError("offset is out of range")
    old = _writable_string(c, key)
    if old is None:
        if not piece:
            return _ZERO
        _check_length(c, offset + len(piece))
        c.db.set(key, b"\0" * offset + piece)
        return offset + len(piece)
    if not piece:
        return len(old)
    _check_length(c, offset + len(piece))
    if offset > len(old):
        new = old + b"\0" * (offset - len(old)) + piece
    else:
        new = old[:offset] + piece + old[offset + len(piece) :]
    c.db.set(key, new, True)
    return len(new)


def _incr(c: ClientState, key: bytes, delta: int) -> int:
    db = c.db
    value = db.lookup(key) if db.expires else db.data.get(key)
    if value is None:
        new = delta
    else:
        if value.__class__ is not bytes:
            raise WrongTypeError()
        # Fast path: a canonical number of 1..18 digits (no leading zero) is below 1e18,
        # so adding |delta| <= 1e18 cannot leave int64: no parse_int call and no range
        # check (~150 ns of INCR's cost). Anything else takes the strict parser.
        if len(value) < 19 and value.isdigit() and value[0] != 48 and -_E18 <= delta <= _E18:
            new = int(value) + delta
        else:
            new = parse_int(value) + delta
            if not INT64_MIN <= new <= INT64_MAX:
                raise ReplyError(OVERFLOW)
    db.set(key, b"%d" % new, True)  # INCR keeps the key's TTL
    return new


@command("incr", 2, "write denyoom fast", keys=(1, 1, 1), group="string",
         summary="Increments the integer value of a key by one. Uses 0 as initial value if "
                 "the key doesn't exist.")
def incr(c: ClientState, argv: list[bytes]) -> Any:
    return _incr(c, argv[1], 1)


@command("decr", 2, "write denyoom fast", keys=(1, 1, 1), group="string",
         summary="Decrements the integer value of a key by one. Uses 0 as initial value if "
                 "the key doesn't exist.")
def decr(c: ClientState, argv: list[bytes]) -> Any:
    return _incr(c, argv[1], -1)


@command("incrby", 3, "write denyoom fast", keys=(1, 1, 1), group="string",
         summary="Increments the integer value of a key by a number. Uses 0 as initial value "
                 "if the key doesn't exist.")
def incrby(c: ClientState, argv: list[bytes]) -> Any:
    return _incr(c, argv[1], parse_int(argv[2]))


@command("decrby", 3, "write denyoom fast", keys=(1, 1, 1), group="string",
         summary="Decrements a number from the integer value of a key. Uses 0 as initial "
                 "value if the key doesn't exist.")
def decrby(c: ClientState, argv: list[bytes]) -> Any:
    delta = parse_int(argv[2])
    if delta == INT64_MIN:
        raise ReplyError("decrement would overflow")
    return _incr(c, argv[1], -delta)


def _mantissa(low: str) -> str:
    """The digits before the exponent of a lower-cased decimal or hex float literal."""
    if low.lstrip("+-").startswith("0x"):
        return low.lstrip("+-")[2:].split("p", 1)[0]
    return low.split("e", 1)[0]


def _long_double(arg: bytes) -> Any:
    """A long double as redis's string2ld reads it (strtold, no spaces, no NaN)."""
    try:
        text = arg.decode("ascii")
    except UnicodeDecodeError:
        raise ReplyError(NOT_FLOAT) from None
    # strtold stops at a NUL; redis refuses what it did not consume, so do we.
    if (
        not text
        or text != text.strip()
        or "_" in text
        or "\0" in text
        or len(text) >= 5 * 1024
    ):
        raise ReplyError(NOT_FLOAT)
    try:
        with warnings.catch_warnings():  # numpy warns on overflow ("1e5000"): refused below
            warnings.simplefilter("ignore", RuntimeWarning)
            value = np.longdouble(text)
    except (ValueError, OverflowError):
        raise ReplyError(NOT_FLOAT) from None
    low = text.lower()
    if np.isnan(value) or (np.isinf(value) and "inf" not in low):
        raise ReplyError(NOT_FLOAT)  # strtold's ERANGE overflow is refused too
    if value == 0 and any(ch in "123456789" for ch in _mantissa(low)):
        raise ReplyError(NOT_FLOAT)  # ... and so is an underflow to zero ("1e-5000")
    return value


@command("incrbyfloat", 3, "write denyoom fast", keys=(1, 1, 1), group="string",
         since="2.6.0",
         summary="Increment the floating point value of a key by a number. Uses 0 as "
                 "initial value if the key doesn't exist.")
def incrbyfloat(c: ClientState, argv: list[bytes]) -> Any:
    # Redis computes in long double (x87 80-bit here) and prints with "%.17Lf" minus
    # trailing zeros; numpy's longdouble gives the very same digits (10.5 + 0.1 -> 10.6,
    # then + 5.0e3 -> 5010.60000000000000009, as redis-server answers).
    key = argv[1]
    old = _writable_string(c, key)
    current = _long_double(old) if old is not None else np.longdouble(0)
    result = current + _long_double(argv[2])
    if not np.isfinite(result):
        raise ReplyError(NOT_FLOAT_NAN)
    text = np.format_float_positional(result, precision=17, unique=False, trim="-")
    if text == "-0":
        text = "0"
    new = text.encode()
    c.db.set(key, new, True)
    return new



def _lcs_table(a: bytes, b: bytes) -> Any:
    """redis's LCS(i, j) table, (len(a)+1) x (len(b)+1), one numpy row at a time.

    Along a row the table is non-decreasing, so dp[i][j] = max(dp[i][j-1], c[j]) with
    c[j] = dp[i-1][j-1] + 1 on a match, else dp[i-1][j]: a running maximum, which numpy
    computes per row (pure Python loops would stall the event loop ~100x longer)."""
    alen, blen = len(a), len(b)
    dp = np.zeros((alen + 1, blen + 1), dtype=np.uint32)
    bv = np.frombuffer(b, dtype=np.uint8)
    for i in range(1, alen + 1):
        prev = dp[i - 1]
        cand = np.where(bv == a[i - 1], prev[:-1] + 1, prev[1:])
        np.maximum.accumulate(cand, out=dp[i, 1:])
    return dp


@command("lcs", -3, "readonly", keys=(1, 2, 1), group="string", since="7.0.0",
         summary="Finds the longest common substring.")
def lcs(c: ClientState, argv: list[bytes]) -> Any:
    db = c.db
    stats = c.server.stats
    values = []
    for key in (argv[1], argv[2]):
        value = db.lookup(key)
        if value is None:
            stats.keyspace_misses += 1
            value = b""
        else:
            stats.keyspace_hits += 1
        values.append(value)
    a, b = values
    if a.__class__ is not bytes or b.__class__ is not bytes:
        raise ReplyError("The specified keys must contain string values")
    get_idx = get_len = with_match_len = False
    min_match_len = 0
    j, n = 3, len(argv)
    while j < n:
        opt = argv[j].lower()
        if opt == b"idx":
            get_idx = True
        elif opt == b"len":
            get_len = True
        elif opt == b"withmatchlen":
            with_match_len = True
        elif opt == b"minmatchlen" and j + 1 < n:
            min_match_len = max(parse_int(argv[j + 1]), 0)
            j += 1
        else:
            raise ReplyError(SYNTAX)
        j += 1
    if get_idx and get_len:
        raise ReplyError("If you want both the length and indexes, please just use IDX.")
    alen, blen = len(a), len(b)
    if (alen + 1) * (blen + 1) * 4 > c.server.config.proto_max_bulk_len:
        raise ReplyError(
            "Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
        )
    dp = _lcs_table(a, b)
    total = int(dp[alen, blen])
    if get_len:
        return total
    # Walk back from the end exactly as redis does, so ranges and ties come out the same.
    at = dp.item  # O(alen + blen) lookups: cheaper than converting the whole table
    result = bytearray(total)
    idx = total
    matches: list[list[Any]] = []
    a_start = alen
    a_end = b_start = b_end = 0
    i, k = alen, blen
    while i > 0 and k > 0:
        emit = False
        if a[i - 1] == b[k - 1]:
            result[idx - 1] = a[i - 1]
            if a_start == alen:
                a_start = a_end = i - 1
                b_start = b_end = k - 1
            elif a_start == i and b_start == k:
                a_start -= 1
                b_start -= 1
            else:
                emit = True
            if a_start == 0 or b_start == 0:
                emit = True
            idx -= 1
            i -= 1
            k -= 1
        else:
            if at(i - 1, k) > at(i, k - 1):
                i -= 1
            else:
                k -= 1
            if a_start != alen:
                emit = True
        if emit:
            match_len = a_end - a_start + 1
            if get_idx and (min_match_len == 0 or match_len >= min_match_len):
                entry: list[Any] = [[a_start, a_end], [b_start, b_end]]
                if with_match_len:
                    entry.append(match_len)
                matches.append(entry)
            a_start = alen
    if get_idx:
        return {b"matches": matches, b"len": total}
    return bytes(result)
