"""Sorted sets, whole-set operations: ZRANDMEMBER ZSCAN and the set algebra
(ZUNION ZINTER ZDIFF, their STORE forms, ZINTERCARD)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Final

from ..errors import NOT_INTEGER, SYNTAX, ReplyError, WrongTypeError
from ..protocol._writer import format_double
from ..store import ZSet
from ._args import parse_int
from ._blocking import WAITING, signal
from ._scan import parse_cursor, parse_scan_options, scan_step
from ._spec import command
from .zsets import _g, _score, _with_scores

if TYPE_CHECKING:
    from ..store import Database
    from ._client import ClientState


_EMPTY: Final[list[Any]] = []  # never mutated: the writer only reads replies


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
