"""Set commands: SADD ... SINTERCARD SSCAN, as redis-server 7 answers them (t_set.c).

A set is a ``set[bytes]``. Replies that redis sends as a RESP3 set (SMEMBERS, SINTER,
SPOP with a count ...) are returned as Python sets; SRANDMEMBER and SMISMEMBER stay
arrays, like redis. SADD and SPOP are benchmarked: their keyspace read is inlined.
"""

from __future__ import annotations

import random
from typing import Any, Final

from ..errors import SYNTAX, ReplyError, WrongTypeError
from ._args import parse_int
from ._client import ClientState
from ._scan import parse_cursor, parse_scan_options, scan_step
from ._spec import command
from .hashes import parse_random_count

_POSITIVE: Final = "value is out of range, must be positive"
_NUMKEYS: Final = "numkeys should be greater than 0"
_EMPTY: Final[list[bytes]] = []
_EMPTY_SCAN: Final[list[Any]] = [b"0", []]


def _set(c: ClientState, key: bytes) -> set[bytes] | None:
    db = c.db
    value = db.data.get(key) if not db.expires else db.lookup(key)
    if value is None or value.__class__ is set:
        return value
    raise WrongTypeError()


@command("sadd", -3, "write denyoom fast", keys=(1, 1, 1), group="set",
         summary="Adds one or more members to a set. Creates the key if it doesn't exist.")
def sadd(c: ClientState, argv: list[bytes]) -> Any:
    key = argv[1]
    db = c.db
    s = _set(c, key)
    if s is None:
        s = set(argv[2:]) if len(argv) > 3 else {argv[2]}
        db.set(key, s)
        return len(s)
    before = len(s)
    if len(argv) == 3:
        s.add(argv[2])
    else:
        s.update(argv[2:])
    added = len(s) - before
    if added:
        db.modified(key)
    return added


@command("srem", -3, "write fast", keys=(1, 1, 1), group="set",
         summary="Removes one or more members from a set. Deletes the set if the last "
                 "member was removed.")
def srem(c: ClientState, argv: list[bytes]) -> Any:
    key = argv[1]
    s = _set(c, key)
    if s is None:
        return 0
    before = len(s)
    s.difference_update(argv[2:])
    removed = before - len(s)
    if removed:
        c.db.changed(key, s)
    return removed


@command("smembers", 2, "readonly", keys=(1, 1, 1), group="set",
         summary="Returns all members of a set.")
def smembers(c: ClientState, argv: list[bytes]) -> Any:
    s = _set(c, argv[1])
    return set() if s is None else s.copy()


@command("sismember", 3, "readonly fast", keys=(1, 1, 1), group="set",
         summary="Determines whether a member belongs to a set.")
def sismember(c: ClientState, argv: list[bytes]) -> Any:
    s = _set(c, argv[1])
    return int(s is not None and argv[2] in s)


@command("smismember", -3, "readonly fast", keys=(1, 1, 1), group="set", since="6.2.0",
         summary="Determines whether multiple members belong to a set.")
def smismember(c: ClientState, argv: list[bytes]) -> Any:
    s = _set(c, argv[1]) or set()
    return [int(m in s) for m in argv[2:]]


@command("scard", 2, "readonly fast", keys=(1, 1, 1), group="set",
         summary="Returns the number of members in a set.")
def scard(c: ClientState, argv: list[bytes]) -> Any:
    s = _set(c, argv[1])
    return 0 if s is None else len(s)


@command("spop", -2, "write fast", keys=(1, 1, 1), group="set",
         summary="Returns one or more random members from a set after removing them. "
                 "Deletes the set if the last member was popped.")
def spop(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    key = argv[1]
    if n == 2:
        s = _set(c, key)
        if s is None:
            return None
        if len(s) == 1:
            member = s.pop()
        elif len(s) <= 64:
            member = random.choice(tuple(s))
            s.discard(member)
        else:
            # set.pop() is O(1) but arbitrary (hash order), not uniform: a uniform pick
            # from a big Python set costs O(n), too slow for the benchmarked SPOP.
            member = s.pop()
        c.db.changed(key, s)
        return member
    if n > 3:
        raise ReplyError(SYNTAX)
    count = parse_int(argv[2], _POSITIVE)
    if count < 0:
        raise ReplyError(_POSITIVE)
    s = _set(c, key)
    if s is None or count == 0:
        return set()
    db = c.db
    if count >= len(s):
        db.delete(key)
        return s
    out = set(random.sample(list(s), count))
    s.difference_update(out)
    db.modified(key)
    return out


def _random_member(s: set[bytes]) -> bytes:
    # random.sample over a set is deprecated; a list copy is O(n) but SPOP of one
    # member from a big set is not the benchmarked case (that is SPOP on small sets).
    if len(s) <= 64:
        return random.choice(tuple(s))
    idx = random.randrange(len(s))
    for i, m in enumerate(s):
        if i == idx:
            return m
    raise AssertionError("unreachable")


@command("srandmember", -2, "readonly", keys=(1, 1, 1), group="set",
         summary="Get one or multiple random members from a set")
def srandmember(c: ClientState, argv: list[bytes]) -> Any:
    n = len(argv)
    if n == 2:
        s = _set(c, argv[1])
        return None if not s else _random_member(s)
    if n > 3:
        raise ReplyError(SYNTAX)
    count = parse_random_count(argv[2])
    s = _set(c, argv[1])
    if not s or count == 0:
        return _EMPTY
    if count < 0:
        return random.choices(tuple(s), k=-count)  # repeats allowed
    if count >= len(s):
        return list(s)
    return random.sample(tuple(s), count)


@command("smove", 4, "write fast", keys=(1, 2, 1), group="set",
         summary="Moves a member from one set to another.")
def smove(c: ClientState, argv: list[bytes]) -> Any:
    src_key, dst_key, member = argv[1], argv[2], argv[3]
    src = _set(c, src_key)
    if src is None:
        return 0  # even when the destination has the wrong type, like redis
    dst = _set(c, dst_key)
    if src is dst:
        return int(member in src)
    if member not in src:
        return 0
    db = c.db
    src.discard(member)
    db.changed(src_key, src)
    if dst is None:
        db.set(dst_key, {member})
    elif member not in dst:
        dst.add(member)
        db.modified(dst_key)
    return 1


def _sets(c: ClientState, keys: list[bytes]) -> list[set[bytes] | None]:
    """Every key's set (None when missing); WRONGTYPE if any is another type."""
    return [_set(c, k) for k in keys]


def _inter(sets: list[set[bytes] | None]) -> set[bytes]:
    present = [s for s in sets if s is not None]
    if len(present) < len(sets):
        return set()
    present.sort(key=len)  # intersect starting from the smallest, like redis
    return present[0].intersection(*present[1:])


def _union(sets: list[set[bytes] | None]) -> set[bytes]:
    out: set[bytes] = set()
    for s in sets:
        if s:
            out |= s
    return out


def _diff(sets: list[set[bytes] | None]) -> set[bytes]:
    first = sets[0]
    if not first:
        return set()
    return first.difference(*(s for s in sets[1:] if s))


@command("sinter", -2, "readonly", keys=(1, -1, 1), group="set",
         summary="Returns the intersect of multiple sets.")
def sinter(c: ClientState, argv: list[bytes]) -> Any:
    return _inter(_sets(c, argv[1:]))


@command("sunion", -2, "readonly", keys=(1, -1, 1), group="set",
         summary="Returns the union of multiple sets.")
def sunion(c: ClientState, argv: list[bytes]) -> Any:
    return _union(_sets(c, argv[1:]))


@command("sdiff", -2, "readonly", keys=(1, -1, 1), group="set",
         summary="Returns the difference of multiple sets.")
def sdiff(c: ClientState, argv: list[bytes]) -> Any:
    return _diff(_sets(c, argv[1:]))


def _store(c: ClientState, dest: bytes, result: set[bytes]) -> int:
    db = c.db
    if result:
        db.set(dest, result)
    else:
        db.delete(dest)
    return len(result)


@command("sinterstore", -3, "write denyoom", keys=(1, -1, 1), group="set",
         summary="Stores the intersect of multiple sets in a key.")
def sinterstore(c: ClientState, argv: list[bytes]) -> Any:
    return _store(c, argv[1], _inter(_sets(c, argv[2:])))


@command("sunionstore", -3, "write denyoom", keys=(1, -1, 1), group="set",
         summary="Stores the union of multiple sets in a key.")
def sunionstore(c: ClientState, argv: list[bytes]) -> Any:
    return _store(c, argv[1], _union(_sets(c, argv[2:])))


@command("sdiffstore", -3, "write denyoom", keys=(1, -1, 1), group="set",
         summary="Stores the difference of multiple sets in a key.")
def sdiffstore(c: ClientState, argv: list[bytes]) -> Any:
    return _store(c, argv[1], _diff(_sets(c, argv[2:])))


def _sintercard_keys(argv: list[bytes]) -> list[bytes]:
    try:
        n = int(argv[1])
    except (ValueError, IndexError):
        return []
    return argv[2:2 + n] if n > 0 else []


@command("sintercard", -3, "readonly movablekeys", group="set", since="7.0.0",
         get_keys=_sintercard_keys,
         summary="Returns the number of members of the intersect of multiple sets.")
def sintercard(c: ClientState, argv: list[bytes]) -> Any:
    numkeys = parse_int(argv[1], _NUMKEYS)
    if numkeys < 1:
        raise ReplyError(_NUMKEYS)
    if numkeys > len(argv) - 2:
        raise ReplyError("Number of keys can't be greater than number of args")
    limit = 0
    j = 2 + numkeys
    while j < len(argv):
        if argv[j].lower() == b"limit" and j + 1 < len(argv):
            limit = parse_int(argv[j + 1], "LIMIT can't be negative")
            if limit < 0:
                raise ReplyError("LIMIT can't be negative")
            j += 2
        else:
            raise ReplyError(SYNTAX)
    sets = _sets(c, argv[2:2 + numkeys])
    ordered = [s for s in sets if s]
    if len(ordered) < len(sets):
        return 0
    ordered.sort(key=len)
    first, rest = ordered[0], ordered[1:]
    count = 0
    for m in first:
        if all(m in s for s in rest):
            count += 1
            if count == limit:
                break
    return count


@command("sscan", -3, "readonly", keys=(1, 1, 1), group="set", since="2.8.0",
         summary="Iterates over members of a set.")
def sscan(c: ClientState, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[2])
    s = _set(c, argv[1])
    if s is None:
        return _EMPTY_SCAN
    opts = parse_scan_options(argv, 3)
    cursor, members = scan_step(cursor, opts.count, lambda: s)
    match = opts.match
    out = [m for m in members if m in s and (match is None or match(m))]
    return [b"%d" % cursor, out]
