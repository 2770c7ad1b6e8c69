"""Sorted sets, popping: ZPOPMIN ZPOPMAX ZMPOP and the blocking BZPOPMIN BZPOPMAX BZMPOP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..errors import SYNTAX, ReplyError
from ..protocol import NULL_ARRAY
from ..store import ZSet
from ._args import numkeys_keys, parse_mpop
from ._blocking import Waiter, block, parse_block_timeout
from ._spec import command
from .zsets import _g, _positive_count, _with_scores

if TYPE_CHECKING:
    from ..store import Database
    from ._client import ClientState


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
        db.changed(key, zs)
        return [member, score]
    popped = zs.pop(count, highest)
    db.changed(key, zs)
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


_WHERE: Final = {b"min": False, b"max": True}


def _mpop_args(argv: list[bytes], at: int) -> tuple[list[bytes], bool, int]:
    """numkeys key... MIN|MAX [COUNT n] from argv[at]: (keys, highest, count)."""
    return parse_mpop(argv, at, _WHERE)


def _mpop_from(db: Database, key: bytes, zs: ZSet, highest: bool, count: int) -> Any:
    # ZMPOP / BZMPOP nest [member, score] pairs in both protocols (unlike ZPOPMIN).
    popped = zs.pop(count, highest)
    db.changed(key, zs)
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
        self.db.changed(key, value)
        return True, [key, member, score]


def _bzpop(c: ClientState, argv: list[bytes], highest: bool) -> Any:
    timeout = parse_block_timeout(argv[-1])
    keys = argv[1:-1]
    db = c.db
    for key in keys:
        zs = db.get_typed(key, ZSet)
        if zs:
            score, member = zs.pop(1, highest)[0]
            db.changed(key, zs)
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


@command("zmpop", -4, "write movablekeys", get_keys=numkeys_keys(1),
         **_g(summary="Returns the highest- or lowest-scoring members from one or more sorted "
                      "sets after removing them. Deletes the sorted set if the last member "
                      "was popped.", since="7.0.0"))
def zmpop(c: ClientState, argv: list[bytes]) -> Any:
    keys, highest, count = _mpop_args(argv, 1)
    reply = _mpop(c, keys, highest, count)
    return NULL_ARRAY if reply is None else reply


@command("bzmpop", -5, "write blocking movablekeys", get_keys=numkeys_keys(2),
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
