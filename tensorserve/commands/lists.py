"""List commands: LPUSH ... LPOS, LMOVE, LMPOP (the blocking pops are in list_blocking.py).

A list is a ``collections.deque[bytes]``: O(1) at both ends like redis's quicklist.
Replies and error texts follow redis-server 7.0 (t_list.c), including its argument
parsing order (e.g. LINDEX looks the key up before parsing the index).

Hot path (LPUSH RPUSH LPOP RPOP LRANGE): the keyspace read is inlined (``db.data.get``
when no key has a TTL) to save two method calls per command; a new list signals
blocked clients, an existing one cannot have any (they are served as soon as it fills).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from itertools import islice
from typing import Any, Final

from ..errors import INDEX_OUT_OF_RANGE, NO_SUCH_KEY, SYNTAX, ReplyError, WrongTypeError
from ..protocol import NULL_ARRAY, OK
from ._args import numkeys_keys, parse_int, parse_mpop
from ._blocking import WAITING, signal
from ._client import ClientState
from ._spec import command

_POSITIVE: Final = "value is out of range, must be positive"
_RANK_ZERO: Final = (
    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
    "or use negative to start from the end of the list"
)
_EMPTY: Final[list[bytes]] = []
# LEFT / RIGHT (any case) -> True for the head.
_ENDS: Final = {b"left": True, b"right": False, b"LEFT": True, b"RIGHT": False}


def _end(arg: bytes) -> bool:
    left = _ENDS.get(arg)
    if left is None:
        left = _ENDS.get(arg.lower())
        if left is None:
            raise ReplyError(SYNTAX)
    return left


def _list(c: ClientState, key: bytes) -> deque[bytes] | None:
    db = c.db
    value = db.data.get(key) if not db.expires else db.lookup(key)
    if value is None or value.__class__ is deque:
        return value
    raise WrongTypeError()


# -- push ----------------------------------------------------------------------------


def _push(c: ClientState, argv: list[bytes], left: bool) -> int:
    key = argv[1]
    db = c.db
    lst = _list(c, key)
    if lst is None:
        lst = deque()
        if left:
            lst.extendleft(islice(argv, 2, None))
        else:
            lst.extend(islice(argv, 2, None))
        db.set(key, lst)
        if WAITING:
            signal(c.server, db, key)
        return len(lst)
    if len(argv) == 3:
        if left:
            lst.appendleft(argv[2])
        else:
            lst.append(argv[2])
    elif left:
        lst.extendleft(islice(argv, 2, None))
    else:
        lst.extend(islice(argv, 2, None))
    db.modified(key)
    return len(lst)


@command("lpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list",
         summary="Prepends one or more elements to a list. Creates the key if it doesn't exist.")
def lpush(c: ClientState, argv: list[bytes]) -> Any:
    return _push(c, argv, True)


@command("rpush", -3, "write denyoom fast", keys=(1, 1, 1), group="list",
         summary="Appends one or more elements to a list. Creates the key if it doesn't exist.")
def rpush(c: ClientState, argv: list[bytes]) -> Any:
    return _push(c, argv, False)


def _pushx(c: ClientState, argv: list[bytes], left: bool) -> int:
    lst = _list(c, argv[1])
    if lst is None:
        return 0
    if left:
        lst.extendleft(islice(argv, 2, None))
    else:
        lst.extend(islice(argv, 2, None))
    c.db.modified(argv[1])
    return len(lst)


@command("lpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list",
         summary="Prepends one or more elements to a list only when the list exists.")
def lpushx(c: ClientState, argv: list[bytes]) -> Any:
    return _pushx(c, argv, True)


@command("rpushx", -3, "write denyoom fast", keys=(1, 1, 1), group="list",
         summary="Appends an element to a list only when the list exists.")
def rpushx(c: ClientState, argv: list[bytes]) -> Any:
    return _pushx(c, argv, False)


# -- pop -----------------------------------------------------------------------------


def _pop(c: ClientState, argv: list[bytes], left: bool) -> Any:
    n = len(argv)
    if n == 2:
        key = argv[1]
        lst = _list(c, key)
        if lst is None:
            return None
        value = lst.popleft() if left else lst.pop()
        c.db.changed(key, lst)
        return value
    if n > 3:
        raise ReplyError(f"wrong number of arguments for '{'lpop' if left else 'rpop'}' command")
    count = parse_int(argv[2], _POSITIVE)
    if count < 0:
        raise ReplyError(_POSITIVE)
    key = argv[1]
    lst = _list(c, key)
    if lst is None:
        return NULL_ARRAY
    if count == 0:
        return []
    out = _take(lst, count, left)
    c.db.changed(key, lst)
    return out


def _take(lst: deque[bytes], count: int, left: bool) -> list[bytes]:
    if count >= len(lst):
        out = list(lst) if left else list(reversed(lst))
        lst.clear()
        return out
    pop = lst.popleft if left else lst.pop
    return [pop() for _ in range(count)]


@command("lpop", -2, "write fast", keys=(1, 1, 1), group="list",
         summary="Returns the first elements in a list after removing it. Deletes the list "
                 "if the last element was popped.")
def lpop(c: ClientState, argv: list[bytes]) -> Any:
    return _pop(c, argv, True)


@command("rpop", -2, "write fast", keys=(1, 1, 1), group="list",
         summary="Returns and removes the last elements of a list. Deletes the list if the "
                 "last element was popped.")
def rpop(c: ClientState, argv: list[bytes]) -> Any:
    return _pop(c, argv, False)


# -- reading -------------------------------------------------------------------------


@command("llen", 2, "readonly fast", keys=(1, 1, 1), group="list",
         summary="Returns the length of a list.")
def llen(c: ClientState, argv: list[bytes]) -> Any:
    lst = _list(c, argv[1])
    return 0 if lst is None else len(lst)


def _range(n: int, start: int, stop: int) -> tuple[int, int]:
    """Redis's clamping of an inclusive [start, stop] range; empty when start > stop."""
    if start < 0:
        start += n
    if stop < 0:
        stop += n
    if start < 0:
        start = 0
    if start > stop or start >= n:
        return 0, -1
    if stop >= n:
        stop = n - 1
    return start, stop


@command("lrange", 4, "readonly", keys=(1, 1, 1), group="list",
         summary="Returns a range of elements from a list.")
def lrange(c: ClientState, argv: list[bytes]) -> Any:
    start = parse_int(argv[2])
    stop = parse_int(argv[3])
    lst = _list(c, argv[1])
    if lst is None:
        return _EMPTY
    n = len(lst)
    start, stop = _range(n, start, stop)
    if start > stop:
        return _EMPTY
    if start <= n - 1 - stop:
        return list(islice(lst, start, stop + 1))
    # Nearer the tail: walk from there (deque iteration cost is the distance walked).
    out = list(islice(reversed(lst), n - 1 - stop, n - start))
    out.reverse()
    return out


@command("lindex", 3, "readonly", keys=(1, 1, 1), group="list",
         summary="Returns an element from a list by its index.")
def lindex(c: ClientState, argv: list[bytes]) -> Any:
    lst = _list(c, argv[1])
    if lst is None:
        return None
    index = parse_int(argv[2])
    n = len(lst)
    if index < 0:
        index += n
    if not 0 <= index < n:
        return None
    return lst[index]


@command("lpos", -3, "readonly", keys=(1, 1, 1), group="list",
         summary="Returns the index of matching elements in a list.")
def lpos(c: ClientState, argv: list[bytes]) -> Any:
    rank, count, maxlen = 1, -1, 0
    i, n = 3, len(argv)
    while i < n:
        opt = argv[i].lower()
        if i + 1 >= n:
            raise ReplyError(SYNTAX)
        if opt == b"rank":
            rank = parse_int(argv[i + 1])
            if rank == 0:
                raise ReplyError(_RANK_ZERO)
        elif opt == b"count":
            count = parse_int(argv[i + 1], "COUNT can't be negative")
            if count < 0:
                raise ReplyError("COUNT can't be negative")
        elif opt == b"maxlen":
            maxlen = parse_int(argv[i + 1], "MAXLEN can't be negative")
            if maxlen < 0:
                raise ReplyError("MAXLEN can't be negative")
        else:
            raise ReplyError(SYNTAX)
        i += 2
    lst = _list(c, argv[1])
    if lst is None:
        return _EMPTY if count >= 0 else None
    element = argv[2]
    size = len(lst)
    want = count if count > 0 else (1 if count < 0 else size)
    skip = abs(rank) - 1
    limit = maxlen if maxlen else size
    found: list[int] = []
    it: Iterable[bytes] = lst if rank > 0 else reversed(lst)
    for j, value in enumerate(islice(it, limit)):
        if value == element:
            if skip:
                skip -= 1
                continue
            found.append(j if rank > 0 else size - 1 - j)
            if len(found) >= want:
                break
    if count < 0:
        return found[0] if found else None
    return found


# -- in-place changes ----------------------------------------------------------------


@command("lset", 4, "write denyoom", keys=(1, 1, 1), group="list",
         summary="Sets the value of an element in a list by its index.")
def lset(c: ClientState, argv: list[bytes]) -> Any:
    lst = _list(c, argv[1])
    if lst is None:
        raise ReplyError(NO_SUCH_KEY)
    index = parse_int(argv[2])
    n = len(lst)
    if index < 0:
        index += n
    if not 0 <= index < n:
        raise ReplyError(INDEX_OUT_OF_RANGE)
    lst[index] = argv[3]
    c.db.modified(argv[1])
    return OK


@command("lrem", 4, "write", keys=(1, 1, 1), group="list",
         summary="Removes elements from a list. Deletes the list if the last element was removed.")
def lrem(c: ClientState, argv: list[bytes]) -> Any:
    count = parse_int(argv[2])
    key = argv[1]
    lst = _list(c, key)
    if lst is None:
        return 0
    element = argv[3]
    if count == 0:
        kept = [v for v in lst if v != element]
        removed = len(lst) - len(kept)
        if removed:
            lst.clear()
            lst.extend(kept)
    else:
        # Walk from the chosen end, dropping the first |count| matches.
        items = list(lst) if count > 0 else list(reversed(lst))
        todo = abs(count)
        out: list[bytes] = []
        removed = 0
        for j, v in enumerate(items):
            if v == element:
                removed += 1
                todo -= 1
                if not todo:
                    out.extend(items[j + 1:])
                    break
            else:
                out.append(v)
        if removed:
            if count < 0:
                out.reverse()
            lst.clear()
            lst.extend(out)
    if removed:
        c.db.changed(key, lst)
    return removed


@command("ltrim", 4, "write", keys=(1, 1, 1), group="list",
         summary="Removes elements from both ends a list. Deletes the list if all elements "
                 "were trimmed.")
def ltrim(c: ClientState, argv: list[bytes]) -> Any:
    start = parse_int(argv[2])
    stop = parse_int(argv[3])
    key = argv[1]
    lst = _list(c, key)
    if lst is None:
        return OK
    n = len(lst)
    start, stop = _range(n, start, stop)
    if start > stop:
        lst.clear()
    else:
        for _ in range(n - 1 - stop):
            lst.pop()
        for _ in range(start):
            lst.popleft()
    c.db.changed(key, lst)
    return OK


@command("linsert", 5, "write denyoom", keys=(1, 1, 1), group="list",
         summary="Inserts an element before or after another element in a list.")
def linsert(c: ClientState, argv: list[bytes]) -> Any:
    where = argv[2].lower()
    if where == b"before":
        after = False
    elif where == b"after":
        after = True
    else:
        raise ReplyError(SYNTAX)
    lst = _list(c, argv[1])
    if lst is None:
        return 0
    try:
        index = lst.index(argv[3])
    except ValueError:
        return -1
    lst.insert(index + 1 if after else index, argv[4])
    c.db.modified(argv[1])
    return len(lst)


# -- moving between lists ------------------------------------------------------------


def _move(c: ClientState, src: bytes, lst: deque[bytes], dst: bytes, from_left: bool,
          to_left: bool) -> bytes:
    """Pop from ``lst`` (non-empty, at ``src``) and push onto ``dst``; redis's lmove."""
    db = c.db
    dest = db.lookup(dst)
    if dest is not None and dest.__class__ is not deque:
        raise WrongTypeError()
    value = lst.popleft() if from_left else lst.pop()
    if dest is None:
        db.set(dst, deque((value,)))
        if WAITING:
            signal(c.server, db, dst)
    else:
        if to_left:
            dest.appendleft(value)
        else:
            dest.append(value)
        db.modified(dst)
    if src != dst:
        c.db.changed(src, lst)
    return value


def _lmove(c: ClientState, src: bytes, dst: bytes, from_left: bool, to_left: bool) -> Any:
    lst = _list(c, src)
    if lst is None:
        return None
    return _move(c, src, lst, dst, from_left, to_left)


@command("lmove", 5, "write denyoom", keys=(1, 2, 1), group="list", since="6.2.0",
         summary="Returns an element after popping it from one list and pushing it to "
                 "another. Deletes the list if the last element was moved.")
def lmove(c: ClientState, argv: list[bytes]) -> Any:
    from_left = _end(argv[3])
    to_left = _end(argv[4])
    return _lmove(c, argv[1], argv[2], from_left, to_left)


@command("rpoplpush", 3, "write denyoom", keys=(1, 2, 1), group="list",
         summary="Returns the last element of a list after removing and pushing it to "
                 "another list. Deletes the list if the last element was popped.")
def rpoplpush(c: ClientState, argv: list[bytes]) -> Any:
    return _lmove(c, argv[1], argv[2], False, True)


def _mpop_args(argv: list[bytes], at: int) -> tuple[list[bytes], bool, int]:
    """numkeys key... LEFT|RIGHT [COUNT n] starting at argv[at]: (keys, left, count)."""
    return parse_mpop(argv, at, _ENDS)


def _mpop(c: ClientState, keys: list[bytes], left: bool, count: int) -> Any:
    for key in keys:
        lst = _list(c, key)
        if lst:
            out = _take(lst, count, left)
            c.db.changed(key, lst)
            return [key, out]
    return None


@command("lmpop", -4, "write movablekeys", group="list", since="7.0.0",
         get_keys=numkeys_keys(1),
         summary="Returns multiple elements from a list after removing them. Deletes the "
                 "list if the last element was popped.")
def lmpop(c: ClientState, argv: list[bytes]) -> Any:
    keys, left, count = _mpop_args(argv, 1)
    reply = _mpop(c, keys, left, count)
    return NULL_ARRAY if reply is None else reply
