"""Sorted-set commands: ZADD ZINCRBY ZREM ZSCORE ZCARD ZRANK ZCOUNT, the ZRANGE family and
removal by range. Popping lives in zset_pops.py; ZRANDMEMBER, ZSCAN and the set algebra in
zset_sets.py (split to keep each module readable).

Semantics, option parsing order and error texts follow redis-server 7 (t_zset.c); the
order matters because clients see the first error only (e.g. ZRANGE parses its options,
then its range, then looks the key up, so a bad range beats WRONGTYPE).

Reply shapes: scores are Python floats, which the writer sends as RESP3 doubles and as
bulk strings in RESP2. WITHSCORES replies are ``[[member, score], ...]`` in RESP3 and a
flat ``[member, score, ...]`` in RESP2 (redis-server's addReplyArrayLen(2) per pair
under RESP3).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from ..errors import NOT_FLOAT, NOT_INTEGER, SYNTAX, ReplyError, arity_error
from ..protocol import NULL_ARRAY
from ..store import ZSet
from ..store._zset import LEX_EXCLUSIVE, LEX_INCLUSIVE, LEX_MAX, LEX_MIN, LexBound
from ._args import parse_int
from ._blocking import WAITING, signal
from ._spec import command

if TYPE_CHECKING:
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
        db.changed(key, zs)
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
        db.changed(key, zs)
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
