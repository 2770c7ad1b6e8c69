"""Sorted-set commands: ZADD ZREM ZSCORE ZRANGE (all forms) ZPOP* ZSCAN ZUNION* ...

Semantics, option parsing order and error texts follow redis-server 7 (t_zset.c); the
order matters because clients see the first error only (e.g. ZRANGE parses its options,
then its range, then looks the key up, so a bad range beats WRONGTYPE).

Reply shapes: scores are Python floats, which the writer sends as RESP3 doubles and as
bulk strings in RESP2. WITHSCORES replies are ``[[member, score], ...]`` in RESP3 and a
flat ``[member, score, ...]`` in RESP2 (redis-server's addReplyArrayLen(2) per pair
under RESP3).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from ..errors import NOT_FLOAT, NOT_INTEGER, SYNTAX, ReplyError, WrongTypeError, arity_error
from ..protocol import NULL_ARRAY
from ..protocol._writer import format_double
from ..store import ZSet
from ..store._zset import LEX_EXCLUSIVE, LEX_INCLUSIVE, LEX_MAX, LEX_MIN, LexBound
from ._args import parse_int
from ._blocking import WAITING, Waiter, block, parse_block_timeout, signal
from ._scan import parse_cursor, parse_scan_options, scan_step
from ._spec import command

if TYPE_CHECKING:
    from ..store import Database
    from ._client import ClientState

_NOT_FLOAT_RANGE: Final = "min or max is not a float"
_NOT_LEX_RANGE: Final = "min or max not valid string range item"
_NAN_SCORE: Final = "resulting score is not a number (NaN)"
_MUST_BE_POSITIVE: Final = "value is out of range, must be positive"
_INF: Final = float("inf")
_ZADD_FLAGS: Final = frozenset({b"nx", b"xx", b"ch", b"incr", b"gt", b"lt"})

# Range kinds of the ZRANGE family.
_RANK: Final = 0
_SCORE: Final = 1
_LEX: Final = 2


def _g(**kw: Any) -> dict[str, Any]:
    return {"group": "sorted-set", **kw}


# -- argument helpers ----------------------------------------------------------------------
def _strtod(arg: bytes) -> float | None:
    """C strtod over all of ``arg`` (no surrounding whitespace), or None.

    float() on bytes is the fast path (~100 ns). It is laxer than strtod about
    whitespace and underscores, and stricter about hex ("0x10"), so those are settled
    here; NaN is left to the callers, which all refuse it.
    """
    try:
        value = float(arg)
    except ValueError:
        if arg.lstrip(b"+-")[:2].lower() != b"0x":
            return None
        try:
            return float.fromhex(arg.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return None
    if arg[-1] <= 32 or arg[0] <= 32 or 95 in arg:  # 95: "_"
        return None
    return value


def _score(arg: bytes, message: str = NOT_FLOAT) -> float:
    """A double as getDoubleFromObject accepts it (ZADD, ZINCRBY, WEIGHTS).

    On top of strtod it refuses NaN, an empty string, and results that overflow to
    infinity or underflow to zero (strtod's ERANGE). The first test is the hot path
    (ZADD): a finite non-zero float() result from text without spaces or underscores
    is exactly what strtod would give; everything else takes the careful path.
    """
    try:
        value = float(arg)
    except ValueError:
        value = 0.0
    else:
        # value - value == 0.0: finite and not NaN. A zero needs the underflow check,
        # except the literal "0" (redis-benchmark's ZADD score).
        if value - value == 0.0 and arg[0] > 32 < arg[-1] and 95 not in arg and (
            value or arg == b"0"
        ):
            return value
    return _score_slow(arg, message)


def _score_slow(arg: bytes, message: str) -> float:
    value = _strtod(arg) if arg else None
    if value is None or value != value:
        raise ReplyError(message)
    if value in (_INF, -_INF):
        if arg.lstrip(b"+-").lower() not in (b"inf", b"infinity"):
            raise ReplyError(message)
    elif value == 0.0 and any(48 < ch <= 57 for ch in arg.lower().split(b"e", 1)[0]):
        raise ReplyError(message)
    return value


def _range_float(arg: bytes) -> float:
    """A score-range end as zslParseRange reads it: plain strtod, so leading whitespace
    is skipped, "" is 0 and overflow is infinity; only NaN or trailing text fail."""
    text = arg.lstrip(b" \t\n\v\f\r")
    if not text:
        if arg:
            raise ReplyError(_NOT_FLOAT_RANGE)
        return 0.0
    value = _strtod(text)
    if value is None or value != value:
        raise ReplyError(_NOT_FLOAT_RANGE)
    return value


def _score_bound(arg: bytes) -> tuple[float, bool]:
    """One end of a score range: ``1.5``, ``(1.5`` (exclusive), ``-inf``, ``+inf``."""
    if arg[:1] == b"(":
        return _range_float(arg[1:]), True
    return _range_float(arg), False


def _lex_bound(arg: bytes) -> LexBound:
    if arg == b"-":
        return LEX_MIN, b""
    if arg == b"+":
        return LEX_MAX, b""
    first = arg[:1]
    if first == b"[":
        return LEX_INCLUSIVE, arg[1:]
    if first == b"(":
        return LEX_EXCLUSIVE, arg[1:]
    raise ReplyError(_NOT_LEX_RANGE)


def _positive_count(arg: bytes) -> int:
    # getPositiveLongFromObjectOrReply: one text for "not a number" and "negative".
    count = parse_int(arg, _MUST_BE_POSITIVE)
    if count < 0:
        raise ReplyError(_MUST_BE_POSITIVE)
    return count


def _with_scores(c: ClientState, pairs: Iterable[tuple[float, bytes]]) -> list[Any]:
    """WITHSCORES reply: [[m, s], ...] in RESP3, flat [m, s, ...] in RESP2."""
    if c.resp == 3:
        return [[m, s] for s, m in pairs]
    out: list[Any] = []
    for s, m in pairs:
        out.append(m)
        out.append(s)
    return out


def _changed(db: Database, key: bytes, zs: ZSet) -> None:
    """Signal a change (WATCH, blocked clients) and drop the key if it became empty."""
    db.modified(key)
    if not zs:
        db.remove_if_empty(key, zs)


def _rank_bounds(start: int, end: int, n: int, rev: bool) -> tuple[int, int]:
    """Redis's rank normalization (negative from the end, clamped) as [lo, hi)."""
    if start < 0:
        start += n
    if end < 0:
        end += n
    if start < 0:
        start = 0
    if start > end or start >= n:
        return 0, 0
    if end >= n:
        end = n - 1
    if rev:
        return n - 1 - end, n - start
    return start, end + 1


# -- ZADD / ZINCRBY ----------------------------------------------------------------------------
@command("zadd", -4, "write denyoom fast", keys=(1, 1, 1),
         **_g(summary="Adds one or more members to a sorted set, or updates their scores.",
              since="1.2.0"))
def zadd(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    if n == 4 and argv[2][:1] < b"A":
        # The benchmarked form, ZADD key score member without flags: no option loop,
        # no score list, one dict probe (same semantics as the general path below).
        # All-digit scores (the usual case) need none of strtod's edge checks.
        arg = argv[2]
        score = float(arg) if arg.isdigit() and len(arg) < 300 else _score(arg)
        member = argv[3]
        db = c.db
        key = argv[1]
        zs = db.get_typed(key, ZSet)
        if zs is None:
            zs = db.data[key] = ZSet()
        d = zs.dict
        old = d.get(member)
        if old is None:
            d[member] = score
            zs.sl.add((score, member))
            db.modified(key)
            return 1
        if old != score:
            sl = zs.sl
            sl.remove((old, member))
            d[member] = score
            sl.add((score, member))
            db.modified(key)
        return 0
    i = 2
    nx = xx = ch = incr = gt = lt = False
    while i < n:
        opt = argv[i]
        # Scores start with a digit, sign or dot (< "A"): skip lower() for them.
        if not opt or opt[0] < 65:
            break
        opt = opt.lower()
        if opt not in _ZADD_FLAGS:
            break
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt == b"ch":
            ch = True
        elif opt == b"incr":
            incr = True
        elif opt == b"gt":
            gt = True
        else:
            lt = True
        i += 1
    elements = n - i
    if elements % 2 or not elements:
        raise ReplyError(SYNTAX)
    if nx and xx:
        raise ReplyError("XX and NX options at the same time are not compatible")
    if (gt and nx) or (lt and nx) or (gt and lt):
        raise ReplyError("GT, LT, and/or NX options at the same time are not compatible")
    if incr and elements > 2:
        raise ReplyError("INCR option supports a single increment-element pair")
    # All scores are parsed before anything changes: ZADD applies fully or not at all.
    scores = [_score(argv[i])] if elements == 2 else [_score(argv[j]) for j in range(i, n, 2)]
    db = c.db
    key = argv[1]
    zs = db.get_typed(key, ZSet)
    if zs is None:
        if xx:
            return None if incr else 0
        zs = ZSet()
        # The key is known absent (lookup dropped it if expired), so plain insertion is
        # enough; db.modified() below signals the change once.
        db.data[key] = zs
    d = zs.dict
    sl = zs.sl
    added = updated = 0
    score = 0.0
    nop = False
    for k, score in enumerate(scores):
        member = argv[i + 2 * k + 1]
        old = d.get(member)
        if old is None:
            if xx:
                nop = True
                continue
            d[member] = score
            sl.add((score, member))
            added += 1
            continue
        if nx:
            nop = True
            continue
        if incr:
            score = old + score
            if score != score:
                if not zs:
                    db.remove_if_empty(key, zs)
                raise ReplyError(_NAN_SCORE)
        if (gt and score <= old) or (lt and score >= old):
            nop = True
            continue
        if score != old:
            sl.remove((old, member))
            d[member] = score
            sl.add((score, member))
            updated += 1
    if added or updated:
        db.modified(key)
    elif not zs:
        db.remove_if_empty(key, zs)
    if incr:
        return None if nop else score
    return added + updated if ch else added


@command("zincrby", 4, "write denyoom fast", keys=(1, 1, 1),
         **_g(summary="Increments the score of a member in a sorted set.", since="1.2.0"))
def zincrby(c: ClientState, argv: list[bytes]) -> Any:
    delta = _score(argv[2])
    db = c.db
    key = argv[1]
    member = argv[3]
    zs = db.get_typed(key, ZSet)
    if zs is None:
        zs = ZSet()
        db.data[key] = zs
    old = zs.dict.get(member)
    score = delta if old is None else old + delta
    if score != score:
        raise ReplyError(_NAN_SCORE)
    zs.add(member, score)
    db.modified(key)
    return score


# -- single-member reads and removal ----------------------------------------------------------
@command("zrem", -3, "write fast", keys=(1, 1, 1),
         **_g(summary="Removes one or more members from a sorted set.", since="1.2.0"))
def zrem(c: ClientState, argv: list[bytes]) -> Any:
    db = c.db
    key = argv[1]
    zs = db.get_typed(key, ZSet)
    if zs is None:
        return 0
    removed = 0
    for member in argv[2:]:
        if zs.remove(member):
            removed += 1
            if not zs:
                break
    if removed:
        _changed(db, key, zs)
    return removed


@command("zscore", 3, "readonly fast", keys=(1, 1, 1),
         **_g(summary="Returns the score of a member in a sorted set.", since="1.2.0"))
def zscore(c: ClientState, argv: list[bytes]) -> Any:
    zs = c.db.get_typed(argv[1], ZSet)
    return None if zs is None else zs.dict.get(argv[2])


@command("zmscore", -3, "readonly fast", keys=(1, 1, 1),
         **_g(summary="Returns the score of one or more members in a sorted set.",
              since="6.2.0"))
def zmscore(c: ClientState, argv: list[bytes]) -> Any:
    zs = c.db.get_typed(argv[1], ZSet)
    if zs is None:
        return [None] * (len(argv) - 2)
    get = zs.dict.get
    return [get(m) for m in argv[2:]]


@command("zcard", 2, "readonly fast", keys=(1, 1, 1),
         **_g(summary="Returns the number of members in a sorted set.", since="1.2.0"))
def zcard(c: ClientState, argv: list[bytes]) -> Any:
    zs = c.db.get_typed(argv[1], ZSet)
    return 0 if zs is None else len(zs)


def _zrank(c: ClientState, argv: list[bytes], rev: bool) -> Any:
    # WITHSCORE is Redis 7.2's; the arity stays -3 with at most one option.
    n = len(argv)
    if n > 4:
        raise arity_error("zrevrank" if rev else "zrank")
    withscore = False
    if n == 4:
        if argv[3].lower() != b"withscore":
            raise ReplyError(SYNTAX)
        withscore = True
    zs = c.db.get_typed(argv[1], ZSet)
    rank = None if zs is None else zs.rank(argv[2])
    if rank is None or zs is None:
        return NULL_ARRAY if withscore else None  # 7.2: *-1 with WITHSCORE
    if rev:
        rank = len(zs) - 1 - rank
    if withscore:
        return [rank, zs.dict[argv[2]]]
    return rank


@command("zrank", -3, "readonly fast", keys=(1, 1, 1),
         **_g(summary="Returns the index of a member in a sorted set ordered by ascending "
                      "scores.", since="2.0.0"))
def zrank(c: ClientState, argv: list[bytes]) -> Any:
    return _zrank(c, argv, False)


@command("zrevrank", -3, "readonly fast", keys=(1, 1, 1),
         **_g(summary="Returns the index of a member in a sorted set ordered by descending "
                      "scores.", since="2.0.0"))
def zrevrank(c: ClientState, argv: list[bytes]) -> Any:
    return _zrank(c, argv, True)


# -- counting ---------------------------------------------------------------------------------
@command("zcount", 4, "readonly fast", keys=(1, 1, 1),
         **_g(summary="Returns the count of members in a sorted set that have scores within "
                      "a range.", since="2.0.0"))
def zcount(c: ClientState, argv: list[bytes]) -> Any:
    low, low_ex = _score_bound(argv[2])
    high, high_ex = _score_bound(argv[3])
    zs = c.db.get_typed(argv[1], ZSet)
    if zs is None:
        return 0
    lo, hi = zs.score_bounds(low, low_ex, high, high_ex)
    return hi - lo


@command("zlexcount", 4, "readonly fast", keys=(1, 1, 1),
         **_g(summary="Returns the number of members in a sorted set within a "
                      "lexicographical range.", since="2.8.9"))
def zlexcount(c: ClientState, argv: list[bytes]) -> Any:
    low = _lex_bound(argv[2])
    high = _lex_bound(argv[3])
    zs = c.db.get_typed(argv[1], ZSet)
    if zs is None:
        return 0
    lo, hi = zs.lex_bounds(low, high)
    return hi - lo


# -- the ZRANGE family ----------------------------------------------------------------------------
def _zrange(
    c: ClientState,
    argv: list[bytes],
    start: int,
    rev: bool | None,
    kind: int | None,
    dst: bytes | None = None,
) -> Any:
    """zrangeGenericCommand: ``rev`` / ``kind`` are None where the command takes them as
    options (ZRANGE, ZRANGESTORE); ``dst`` makes it ZRANGESTORE."""
    n = len(argv)
    withscores = False
    offset = 0
    limit = -1
    j = start + 3
    while j < n:
        opt = argv[j].lower()
        if opt == b"withscores" and dst is None:
            withscores = True
        elif opt == b"limit" and n - j - 1 >= 2:
            offset = parse_int(argv[j + 1], NOT_INTEGER)
            limit = parse_int(argv[j + 2], NOT_INTEGER)
            j += 2
        elif rev is None and opt == b"rev":
            rev = True
        elif kind is None and opt == b"bylex":
            kind = _LEX
        elif kind is None and opt == b"byscore":
            kind = _SCORE
        else:
            raise ReplyError(SYNTAX)
        j += 1
    if rev is None:
        rev = False
    if kind is None:
        kind = _RANK
    # Redis tests the limit (not the offset) against its -1 default here.
    if limit != -1 and kind == _RANK:
        raise ReplyError(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
        )
    if withscores and kind == _LEX:
        raise ReplyError("syntax error, WITHSCORES not supported in combination with BYLEX")
    first, second = argv[start + 1], argv[start + 2]
    if rev and kind != _RANK:
        # BYSCORE / BYLEX ranges are given as max, min when reversed.
        first, second = second, first
    if kind == _RANK:
        rstart = parse_int(first, NOT_INTEGER)
        rend = parse_int(second, NOT_INTEGER)
    elif kind == _SCORE:
        smin = _score_bound(first)
        smax = _score_bound(second)
    else:
        lmin = _lex_bound(first)
        lmax = _lex_bound(second)
    db = c.db
    zs = db.get_typed(argv[start], ZSet)
    pairs: list[tuple[float, bytes]]
    if zs is None:
        pairs = []
    elif kind == _RANK:
        lo, hi = _rank_bounds(rstart, rend, len(zs), rev)
        pairs = list(zs.items(lo, hi, rev))
    else:
        if kind == _SCORE:
            lo, hi = zs.score_bounds(smin[0], smin[1], smax[0], smax[1])
        else:
            lo, hi = zs.lex_bounds(lmin, lmax)
        # A negative offset skips everything in redis-server (its `while (offset--)`).
        if offset < 0:
            pairs = []
        elif rev:
            e = hi - offset
            s = lo if limit < 0 else max(lo, e - limit)
            pairs = list(zs.items(s, e, True)) if s < e else []
        else:
            s = lo + offset
            e = hi if limit < 0 else min(hi, s + limit)
            pairs = list(zs.items(s, e)) if s < e else []
    if dst is not None:
        if pairs:
            out = ZSet()
            for score, member in pairs:
                out.add(member, score)
            db.set(dst, out)
            if WAITING:
                signal(c.server, db, dst)
        else:
            db.delete(dst)
        return len(pairs)
    if withscores:
        return _with_scores(c, pairs)
    return [m for _, m in pairs]


@command("zrange", -4, "readonly", keys=(1, 1, 1),
         **_g(summary="Returns members in a sorted set within a range of indexes.",
              since="1.2.0"))
def zrange(c: ClientState, argv: list[bytes]) -> Any:
    return _zrange(c, argv, 1, None, None)


@command("zrangestore", -5, "write denyoom", keys=(1, 2, 1),
         **_g(summary="Stores a range of members from sorted set in a key.", since="6.2.0"))
def zrangestore(c: ClientState, argv: list[bytes]) -> Any:
    return _zrange(c, argv, 2, None, None, dst=argv[1])


@command("zrevrange", -4, "readonly", keys=(1, 1, 1),
         **_g(summary="Returns members in a sorted set within a range of indexes in reverse "
                      "order.", since="1.2.0"))
def zrevrange(c: ClientState, argv: list[bytes]) -> Any:
    return _zrange(c, argv, 1, True, _RANK)


@command("zrangebyscore", -4, "readonly", keys=(1, 1, 1),
         **_g(summary="Returns members in a sorted set within a range of scores.",
              since="1.0.5"))
def zrangebyscore(c: ClientState, argv: list[bytes]) -> Any:
    return _zrange(c, argv, 1, False, _SCORE)


@command("zrevrangebyscore", -4, "readonly", keys=(1, 1, 1),
         **_g(summary="Returns members in a sorted set within a range of scores in reverse "
                      "order.", since="2.2.0"))
def zrevrangebyscore(c: ClientState, argv: list[bytes]) -> Any:
    return _zrange(c, argv, 1, True, _SCORE)


@command("zrangebylex", -4, "readonly", keys=(1, 1, 1),
         **_g(summary="Returns members in a sorted set within a lexicographical range.",
              since="2.8.9"))
def zrangebylex(c: ClientState, argv: list[bytes]) -> Any:
    return _zrange(c, argv, 1, False, _LEX)


@command("zrevrangebylex", -4, "readonly", keys=(1, 1, 1),
         **_g(summary="Returns members in a sorted set within a lexicographical range in "
                      "reverse order.", since="2.8.9"))
def zrevrangebylex(c: ClientState, argv: list[bytes]) -> Any:
    return _zrange(c, argv, 1, True, _LEX)


# -- removal by range -----------------------------------------------------------------------------
def _zremrange(c: ClientState, argv: list[bytes], kind: int) -> Any:
    if kind == _RANK:
        rstart = parse_int(argv[2], NOT_INTEGER)
        rend = parse_int(argv[3], NOT_INTEGER)
    elif kind == _SCORE:
        smin = _score_bound(argv[2])
        smax = _score_bound(argv[3])
    else:
        lmin = _lex_bound(argv[2])
        lmax = _lex_bound(argv[3])
    db = c.db
    key = argv[1]
    zs = db.get_typed(key, ZSet)
    if zs is None:
        return 0
    if kind == _RANK:
        lo, hi = _rank_bounds(rstart, rend, len(zs), False)
    elif kind == _SCORE:
        lo, hi = zs.score_bounds(smin[0], smin[1], smax[0], smax[1])
    else:
        lo, hi = zs.lex_bounds(lmin, lmax)
    removed = zs.remove_range(lo, hi)
    if removed:
        _changed(db, key, zs)
    return removed


@command("zremrangebyrank", 4, "write", keys=(1, 1, 1),
         **_g(summary="Removes members in a sorted set within a range of indexes.",
              since="2.0.0"))
def zremrangebyrank(c: ClientState, argv: list[bytes]) -> Any:
    return _zremrange(c, argv, _RANK)


@command("zremrangebyscore", 4, "write", keys=(1, 1, 1),
         **_g(summary="Removes members in a sorted set within a range of scores.",
              since="1.2.0"))
def zremrangebyscore(c: ClientState, argv: list[bytes]) -> Any:
    return _zremrange(c, argv, _SCORE)


@command("zremrangebylex", 4, "write", keys=(1, 1, 1),
         **_g(summary="Removes members in a sorted set within a lexicographical range.",
              since="2.8.9"))
def zremrangebylex(c: ClientState, argv: list[bytes]) -> Any:
    return _zremrange(c, argv, _LEX)


# -- popping --------------------------------------------------------------------------------------
_EMPTY: Final[list[Any]] = []  # never mutated: the writer only reads replies


def _zpop(c: ClientState, argv: list[bytes], highest: bool) -> Any:
    n = len(argv)
    if n > 3:
        raise ReplyError(SYNTAX)
    count = 1
    if n == 3:
        count = _positive_count(argv[2])
        if count == 0:
            return _EMPTY
    db = c.db
    key = argv[1]
    zs = db.get_typed(key, ZSet)
    if zs is None:
        return _EMPTY
    if n == 2:
        # The benchmarked form: one entry, a flat [member, score] in both protocols.
        score, member = zs.sl.pop(-1 if highest else 0)
        del zs.dict[member]
        _changed(db, key, zs)
        return [member, score]
    popped = zs.pop(count, highest)
    _changed(db, key, zs)
    return _with_scores(c, popped)


@command("zpopmin", -2, "write fast", keys=(1, 1, 1),
         **_g(summary="Returns the lowest-scoring members from a sorted set after removing "
                      "them. Deletes the sorted set if the last member was popped.",
              since="5.0.0"))
def zpopmin(c: ClientState, argv: list[bytes]) -> Any:
    return _zpop(c, argv, False)


@command("zpopmax", -2, "write fast", keys=(1, 1, 1),
         **_g(summary="Returns the highest-scoring members from a sorted set after removing "
                      "them. Deletes the sorted set if the last member was popped.",
              since="5.0.0"))
def zpopmax(c: ClientState, argv: list[bytes]) -> Any:
    return _zpop(c, argv, True)


_NUMKEYS_GT0: Final = "numkeys should be greater than 0"
_COUNT_GT0: Final = "count should be greater than 0"
_WHERE: Final = {b"min": False, b"max": True}


def _mpop_args(argv: list[bytes], at: int) -> tuple[list[bytes], bool, int]:
    """numkeys key... MIN|MAX [COUNT n] from argv[at]: (keys, highest, count)."""
    numkeys = parse_int(argv[at], _NUMKEYS_GT0)
    if numkeys < 1:
        raise ReplyError(_NUMKEYS_GT0)
    where = at + numkeys + 1
    if where >= len(argv):
        raise ReplyError(SYNTAX)
    highest = _WHERE.get(argv[where].lower())
    if highest is None:
        raise ReplyError(SYNTAX)
    count = -1
    j = where + 1
    n = len(argv)
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            count = parse_int(argv[j + 1], _COUNT_GT0)
            if count < 1:
                raise ReplyError(_COUNT_GT0)
            j += 2
        else:
            raise ReplyError(SYNTAX)
    return argv[at + 1 : where], highest, max(count, 1)


def _mpop_keys(at: int) -> Any:
    def keys(argv: list[bytes]) -> list[bytes]:
        try:
            n = int(argv[at])
        except (ValueError, IndexError):
            return []
        return argv[at + 1 : at + 1 + n] if n > 0 else []

    return keys


def _mpop_from(db: Database, key: bytes, zs: ZSet, highest: bool, count: int) -> Any:
    # ZMPOP / BZMPOP nest [member, score] pairs in both protocols (unlike ZPOPMIN).
    popped = zs.pop(count, highest)
    _changed(db, key, zs)
    return [key, [[m, s] for s, m in popped]]


def _mpop(c: ClientState, keys: list[bytes], highest: bool, count: int) -> Any:
    db = c.db
    for key in keys:
        zs = db.get_typed(key, ZSet)
        if zs:
            return _mpop_from(db, key, zs, highest, count)
    return None


class _ZPopWaiter(Waiter):
    """BZPOPMIN / BZPOPMAX (reply [key, member, score]) and BZMPOP ([key, [[m, s]...]])."""

    __slots__ = ("count", "highest")

    def __init__(self, c: ClientState, keys: list[bytes], highest: bool, count: int) -> None:
        super().__init__(c, keys, NULL_ARRAY)
        self.highest = highest
        self.count = count  # 0: BZPOPMIN's flat reply

    def try_serve(self, key: bytes, value: Any) -> tuple[bool, Any]:
        if value.__class__ is not ZSet:
            return False, None
        if self.count:
            return True, _mpop_from(self.db, key, value, self.highest, self.count)
        score, member = value.pop(1, self.highest)[0]
        _changed(self.db, key, value)
        return True, [key, member, score]


def _bzpop(c: ClientState, argv: list[bytes], highest: bool) -> Any:
    timeout = parse_block_timeout(argv[-1])
    keys = argv[1:-1]
    db = c.db
    for key in keys:
        zs = db.get_typed(key, ZSet)
        if zs:
            score, member = zs.pop(1, highest)[0]
            _changed(db, key, zs)
            return [key, member, score]
    if c.in_exec:
        return NULL_ARRAY  # never block inside EXEC: answer as a timeout
    return block(c, _ZPopWaiter(c, keys, highest, 0), timeout)


@command("bzpopmin", -3, "write noscript blocking fast", keys=(1, -2, 1),
         **_g(summary="Removes and returns the member with the lowest score from one or more "
                      "sorted sets. Blocks until a member is available otherwise. Deletes the "
                      "sorted set if the last element was popped.", since="5.0.0"))
def bzpopmin(c: ClientState, argv: list[bytes]) -> Any:
    return _bzpop(c, argv, False)


@command("bzpopmax", -3, "write noscript blocking fast", keys=(1, -2, 1),
         **_g(summary="Removes and returns the member with the highest score from one or "
                      "more sorted sets. Blocks until a member available otherwise.  Deletes "
                      "the sorted set if the last element was popped.", since="5.0.0"))
def bzpopmax(c: ClientState, argv: list[bytes]) -> Any:
    return _bzpop(c, argv, True)


@command("zmpop", -4, "write movablekeys", get_keys=_mpop_keys(1),
         **_g(summary="Returns the highest- or lowest-scoring members from one or more sorted "
                      "sets after removing them. Deletes the sorted set if the last member "
                      "was popped.", since="7.0.0"))
def zmpop(c: ClientState, argv: list[bytes]) -> Any:
    keys, highest, count = _mpop_args(argv, 1)
    reply = _mpop(c, keys, highest, count)
    return NULL_ARRAY if reply is None else reply


@command("bzmpop", -5, "write blocking movablekeys", get_keys=_mpop_keys(2),
         **_g(summary="Removes and returns a member by score from one or more sorted sets. "
                      "Blocks until a member is available otherwise. Deletes the sorted set "
                      "if the last element was popped.", since="7.0.0"))
def bzmpop(c: ClientState, argv: list[bytes]) -> Any:
    timeout = parse_block_timeout(argv[1])
    keys, highest, count = _mpop_args(argv, 2)
    reply = _mpop(c, keys, highest, count)
    if reply is not None:
        return reply
    if c.in_exec:
        return NULL_ARRAY
    return block(c, _ZPopWaiter(c, keys, highest, count), timeout)


# -- random members and scanning -------------------------------------------------------------------
@command("zrandmember", -2, "readonly", keys=(1, 1, 1),
         **_g(summary="Returns one or more random members from a sorted set.", since="6.2.0"))
def zrandmember(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    if n > 4:
        raise ReplyError(SYNTAX)
    count: int | None = None
    withscores = False
    if n >= 3:
        count = parse_int(argv[2], NOT_INTEGER)
        if n == 4:
            if argv[3].lower() != b"withscores":
                raise ReplyError(SYNTAX)
            withscores = True
    zs = c.db.get_typed(argv[1], ZSet)
    if zs is None:
        return None if count is None else _EMPTY
    sl = zs.sl
    size = len(sl)
    if count is None:
        return sl[random.randrange(size)][1]
    if count == 0:
        return _EMPTY
    pairs: list[tuple[float, bytes]]
    if count < 0:
        # Repeats allowed: independent picks, O(log n) each.
        pairs = [sl[random.randrange(size)] for _ in range(-count)]
    elif count >= size:
        pairs = list(sl)
    else:
        pairs = [sl[i] for i in random.sample(range(size), count)]
    if withscores:
        return _with_scores(c, pairs)
    return [m for _, m in pairs]


@command("zscan", -3, "readonly", keys=(1, 1, 1),
         **_g(summary="Iterates over members and scores of a sorted set.", since="2.8.0"))
def zscan(c: ClientState, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    opts = parse_scan_options(argv, 3)
    zs = c.db.get_typed(argv[1], ZSet)
    if zs is None:
        return [b"0", []]
    d = zs.dict
    nxt, batch = scan_step(cursor, opts.count, lambda: list(d))
    match = opts.match
    out: list[bytes] = []
    for member in batch:
        score = d.get(member)
        if score is None or (match is not None and not match(member)):
            continue
        out.append(member)
        # SCAN replies carry scores as strings in both protocols.
        out.append(format_double(score))
    return [b"%d" % nxt, out]


# -- set algebra ------------------------------------------------------------------------------------
_AGGREGATES: Final = {b"sum": 0, b"min": 1, b"max": 2}
_LIMIT_NEGATIVE: Final = "LIMIT can't be negative"


def _numkeys_keys(argv: list[bytes]) -> list[bytes]:
    """Key positions of ZUNION/ZINTER/ZDIFF(STORE)/ZINTERCARD for COMMAND GETKEYS."""
    store = argv[0].lower().endswith(b"store")
    base = 2 if store else 1
    try:
        numkeys = int(argv[base])
    except (ValueError, IndexError):
        return []
    keys = list(argv[base + 1 : base + 1 + numkeys])
    return [argv[1], *keys] if store else keys


def _input(db: Database, key: bytes) -> dict[bytes, float] | None:
    """A ZUNION-family input: a sorted set, or a plain set whose members score 1."""
    value = db.lookup(key)
    if value is None:
        return None
    if value.__class__ is ZSet:
        return value.dict
    if value.__class__ is set:
        return dict.fromkeys(value, 1.0)
    raise WrongTypeError()


def _setop(
    c: ClientState, argv: list[bytes], op: str, store: bool, card: bool = False
) -> Any:
    """zunionInterDiffGenericCommand: ``store`` for *STORE, ``card`` for ZINTERCARD."""
    name = argv[0].decode("latin-1").lower()
    base = 2 if store else 1
    numkeys = parse_int(argv[base], NOT_INTEGER)
    if numkeys < 1:
        raise ReplyError(f"at least 1 input key is needed for '{name}' command")
    n = len(argv)
    first = base + 1
    if numkeys > n - first:
        raise ReplyError(SYNTAX)
    keys = argv[first : first + numkeys]
    weights = [1.0] * numkeys
    aggregate = 0
    withscores = False
    limit = 0
    j = first + numkeys
    while j < n:
        remaining = n - j
        opt = argv[j].lower()
        if card:
            if remaining >= 2 and opt == b"limit":
                limit = parse_int(argv[j + 1], _LIMIT_NEGATIVE)
                if limit < 0:
                    raise ReplyError(_LIMIT_NEGATIVE)
                j += 2
                continue
            raise ReplyError(SYNTAX)
        if op != "diff" and remaining >= numkeys + 1 and opt == b"weights":
            weights = [
                _score(w, "weight value is not a float") for w in argv[j + 1 : j + 1 + numkeys]
            ]
            j += numkeys
        elif op != "diff" and remaining >= 2 and opt == b"aggregate":
            agg = _AGGREGATES.get(argv[j + 1].lower())
            if agg is None:
                raise ReplyError(SYNTAX)
            aggregate = agg
            j += 1
        elif not store and opt == b"withscores":
            withscores = True
        else:
            raise ReplyError(SYNTAX)
        j += 1
    db = c.db
    inputs = [_input(db, k) for k in keys]
    if card:
        return _intercard(inputs, limit)
    result: dict[bytes, float] = {}
    if op == "union":
        for src, w in zip(inputs, weights, strict=True):
            if not src:
                continue
            for member, score in src.items():
                value = _weighted(score, w)
                old = result.get(member)
                result[member] = value if old is None else _aggregate(old, value, aggregate)
    elif op == "inter":
        if all(inputs):
            order = sorted(range(numkeys), key=lambda k: len(inputs[k] or ()))
            smallest = inputs[order[0]] or {}
            for member in smallest:
                acc: float | None = None
                for k in range(numkeys):
                    src = inputs[k] or {}
                    got = src.get(member)
                    if got is None:
                        acc = None
                        break
                    value = _weighted(got, weights[k])
                    acc = value if acc is None else _aggregate(acc, value, aggregate)
                if acc is not None:
                    result[member] = acc
    else:
        first_src = inputs[0]
        if first_src:
            others = [s for s in inputs[1:] if s]
            for member, score in first_src.items():
                if not any(member in s for s in others):
                    result[member] = score
    out = ZSet()
    for member, score in result.items():
        out.add(member, score)
    if store:
        if out:
            db.set(argv[1], out)
            if WAITING:
                signal(c.server, db, argv[1])
        else:
            db.delete(argv[1])
        return len(out)
    pairs = list(out.sl)
    if withscores:
        return _with_scores(c, pairs)
    return [m for _, m in pairs]


def _intercard(inputs: list[dict[bytes, float] | None], limit: int) -> int:
    """Members common to every input, counting stops at ``limit`` (0: no limit)."""
    if not all(inputs):
        return 0
    srcs = sorted((s for s in inputs if s), key=len)
    count = 0
    for member in srcs[0]:
        if all(member in s for s in srcs[1:]):
            count += 1
            if count == limit:
                break
    return count


def _weighted(score: float, weight: float) -> float:
    value = score * weight
    # inf * 0 is NaN; redis-server turns it into 0.
    return 0.0 if value != value else value


def _aggregate(a: float, b: float, how: int) -> float:
    if how == 0:
        value = a + b
        return 0.0 if value != value else value  # inf + -inf
    if how == 1:
        return a if a < b else b
    return a if a > b else b


@command("zunionstore", -4, "write denyoom movablekeys", keys=(1, 1, 1),
         get_keys=_numkeys_keys,
         **_g(summary="Stores the union of multiple sorted sets in a key.", since="2.0.0"))
def zunionstore(c: ClientState, argv: list[bytes]) -> Any:
    return _setop(c, argv, "union", True)


@command("zinterstore", -4, "write denyoom movablekeys", keys=(1, 1, 1),
         get_keys=_numkeys_keys,
         **_g(summary="Stores the intersect of multiple sorted sets in a key.", since="2.0.0"))
def zinterstore(c: ClientState, argv: list[bytes]) -> Any:
    return _setop(c, argv, "inter", True)


@command("zdiffstore", -4, "write denyoom movablekeys", keys=(1, 1, 1),
         get_keys=_numkeys_keys,
         **_g(summary="Stores the difference of multiple sorted sets in a key.",
              since="6.2.0"))
def zdiffstore(c: ClientState, argv: list[bytes]) -> Any:
    return _setop(c, argv, "diff", True)


@command("zunion", -3, "readonly movablekeys", get_keys=_numkeys_keys,
         **_g(summary="Returns the union of multiple sorted sets.", since="6.2.0"))
def zunion(c: ClientState, argv: list[bytes]) -> Any:
    return _setop(c, argv, "union", False)


@command("zinter", -3, "readonly movablekeys", get_keys=_numkeys_keys,
         **_g(summary="Returns the intersect of multiple sorted sets.", since="6.2.0"))
def zinter(c: ClientState, argv: list[bytes]) -> Any:
    return _setop(c, argv, "inter", False)


@command("zdiff", -3, "readonly movablekeys", get_keys=_numkeys_keys,
         **_g(summary="Returns the difference between multiple sorted sets.", since="6.2.0"))
def zdiff(c: ClientState, argv: list[bytes]) -> Any:
    return _setop(c, argv, "diff", False)


@command("zintercard", -3, "readonly movablekeys", get_keys=_numkeys_keys,
         **_g(summary="Returns the number of members of the intersect of multiple sorted "
                      "sets.", since="7.0.0"))
def zintercard(c: ClientState, argv: list[bytes]) -> Any:
    return _setop(c, argv, "inter", False, card=True)
