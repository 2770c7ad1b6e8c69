"""Blocking list pops: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP (waiters in _blocking.py).

Each tries its non-blocking form first; otherwise the client waits, served first come,
first served when a push makes the key non-empty. Inside EXEC they never block.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..errors import WrongTypeError
from ..protocol import NULL_ARRAY
from ._args import numkeys_keys
from ._blocking import Waiter, block, parse_block_timeout
from ._client import ClientState
from ._spec import command
from .lists import _end, _list, _move, _mpop, _mpop_args, _take

# -- blocking ------------------------------------------------------------------------


class _PopWaiter(Waiter):
    """BLPOP / BRPOP (reply [key, value]) and BLMPOP (reply [key, [values]])."""

    __slots__ = ("count", "left")

    def __init__(self, c: ClientState, keys: list[bytes], left: bool, count: int) -> None:
        super().__init__(c, keys, NULL_ARRAY)
        self.left = left
        self.count = count  # 0: BLPOP's single-element reply

    def try_serve(self, key: bytes, value: Any) -> tuple[bool, Any]:
        if value.__class__ is not deque:
            return False, None
        c = self.client
        if self.count:
            out: Any = _take(value, self.count, self.left)
        else:
            out = value.popleft() if self.left else value.pop()
        c.db.changed(key, value)
        return True, [key, out]


class _MoveWaiter(Waiter):
    """BLMOVE / BRPOPLPUSH: the element goes to ``dst``, the reply is the element."""

    __slots__ = ("dst", "from_left", "to_left")

    def __init__(self, c: ClientState, src: bytes, dst: bytes, from_left: bool,
                 to_left: bool) -> None:
        super().__init__(c, (src,), NULL_ARRAY)
        self.dst = dst
        self.from_left = from_left
        self.to_left = to_left

    def try_serve(self, key: bytes, value: Any) -> tuple[bool, Any]:
        if value.__class__ is not deque:
            return False, None
        try:
            return True, _move(self.client, key, value, self.dst, self.from_left, self.to_left)
        except WrongTypeError as e:
            return True, e  # redis unblocks the client with the error


def _bpop(c: ClientState, argv: list[bytes], left: bool) -> Any:
    timeout = parse_block_timeout(argv[-1])
    keys = argv[1:-1]
    for key in keys:
        lst = _list(c, key)
        if lst:
            value = lst.popleft() if left else lst.pop()
            c.db.changed(key, lst)
            return [key, value]
    if c.in_exec:
        return NULL_ARRAY  # never block inside EXEC: behave as a timeout
    return block(c, _PopWaiter(c, keys, left, 0), timeout)


@command("blpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list",
         summary="Removes and returns the first element in a list. Blocks until an element "
                 "is available otherwise. Deletes the list if the last element was popped.")
def blpop(c: ClientState, argv: list[bytes]) -> Any:
    return _bpop(c, argv, True)


@command("brpop", -3, "write noscript blocking", keys=(1, -2, 1), group="list",
         summary="Removes and returns the last element in a list. Blocks until an element "
                 "is available otherwise. Deletes the list if the last element was popped.")
def brpop(c: ClientState, argv: list[bytes]) -> Any:
    return _bpop(c, argv, False)


def _bmove(c: ClientState, src: bytes, dst: bytes, from_left: bool, to_left: bool,
           timeout: float) -> Any:
    lst = _list(c, src)
    if lst:
        return _move(c, src, lst, dst, from_left, to_left)
    if c.in_exec:
        return None
    return block(c, _MoveWaiter(c, src, dst, from_left, to_left), timeout)


@command("blmove", 6, "write denyoom noscript blocking", keys=(1, 2, 1), group="list",
         since="6.2.0",
         summary="Pops an element from a list, pushes it to another list and returns it. "
                 "Blocks until an element is available otherwise. Deletes the list if the "
                 "last element was moved.")
def blmove(c: ClientState, argv: list[bytes]) -> Any:
    from_left = _end(argv[3])
    to_left = _end(argv[4])
    timeout = parse_block_timeout(argv[5])
    return _bmove(c, argv[1], argv[2], from_left, to_left, timeout)


@command("brpoplpush", 4, "write denyoom noscript blocking", keys=(1, 2, 1), group="list",
         summary="Pops an element from a list, pushes it to another list and returns it. "
                 "Block until an element is available otherwise. Deletes the list if the "
                 "last element was popped.")
def brpoplpush(c: ClientState, argv: list[bytes]) -> Any:
    timeout = parse_block_timeout(argv[3])
    return _bmove(c, argv[1], argv[2], False, True, timeout)


@command("blmpop", -5, "write blocking movablekeys", group="list", since="7.0.0",
         get_keys=numkeys_keys(2),
         summary="Pops the first element from one of multiple lists. Blocks until an "
                 "element is available otherwise. Deletes the list if the last element was "
                 "popped.")
def blmpop(c: ClientState, argv: list[bytes]) -> Any:
    timeout = parse_block_timeout(argv[1])
    keys, left, count = _mpop_args(argv, 2)
    reply = _mpop(c, keys, left, count)
    if reply is not None:
        return reply
    if c.in_exec:
        return NULL_ARRAY
    return block(c, _PopWaiter(c, keys, left, count), timeout)
