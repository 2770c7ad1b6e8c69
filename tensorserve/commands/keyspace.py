"""Generic key commands: DEL EXISTS TYPE KEYS SCAN RENAME EXPIRE ... DBSIZE FLUSHDB FLUSHALL.

Semantics, check order and error texts follow redis-server 7 (db.c, expire.c,
object.c). Read lookups count keyspace hits/misses like redis's lookupKeyRead; write
lookups (DEL, RENAME, EXPIRE ...) do not.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from ..errors import (
    DB_INDEX_OUT_OF_RANGE,
    INVALID_EXPIRE,
    NO_SUCH_KEY,
    SYNTAX,
    ReplyError,
)
from ..protocol import OK, Raw
from ..store import Database, ZSet, now_ms, type_name
from ..store._memory import LFU_INIT_VAL
from ._args import INT64_MAX, parse_int
from ._client import ClientState
from ._glob import compile_glob
from ._scan import parse_cursor, parse_scan_options, scan_step
from ._spec import command

_ZERO: Final = Raw(b":0\r\n")
_ONE: Final = Raw(b":1\r\n")
_MINUS_ONE: Final = Raw(b":-1\r\n")
_MINUS_TWO: Final = Raw(b":-2\r\n")
_SAME_OBJECT: Final = "source and destination objects are the same"
_INT32_MIN: Final = -(2**31)
_INT32_MAX: Final = 2**31 - 1


def _flush_mode(argv: list[bytes]) -> None:
    # ASYNC / SYNC are accepted: freeing is immediate either way (no lazyfree thread).
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() not in (b"async", b"sync")):
        raise ReplyError(SYNTAX)


@command("flushdb", -1, "write", group="server", summary="Removes all keys from the current database.",
         acl=("@keyspace", "@write", "@slow", "@dangerous"))
def flushdb(c: ClientState, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    c.db.flush()
    return OK


@command("flushall", -1, "write", group="server", summary="Removes all keys from all databases.",
         acl=("@keyspace", "@write", "@slow", "@dangerous"))
def flushall(c: ClientState, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    for db in c.server.keyspace.dbs:
        db.flush()
    return OK


@command("dbsize", 1, "readonly fast", group="server", summary="Returns the number of keys in the database.",
         acl=("@keyspace", "@read", "@fast"))
def dbsize(c: ClientState, argv: list[bytes]) -> Any:
    return len(c.db.data)


def _read(c: ClientState, key: bytes) -> Any:
    """lookupKeyRead: the live value or None, counting a keyspace hit or miss."""
    value = c.db.lookup(key)
    if value is None:
        c.server.stats.keyspace_misses += 1
    else:
        c.server.stats.keyspace_hits += 1
    return value


def _db_index(c: ClientState, arg: bytes) -> Database:
    """A database by number: getIntFromObjectOrReply, then selectDb's range check."""
    index = parse_int(arg)
    if not _INT32_MIN <= index <= _INT32_MAX:
        raise ReplyError(
            f"value is out of range, value must between {_INT32_MIN} and {_INT32_MAX}"
        )
    dbs = c.server.keyspace.dbs
    if not 0 <= index < len(dbs):
        raise ReplyError(DB_INDEX_OUT_OF_RANGE)
    return dbs[index]


# -- existence and deletion ---------------------------------------------------------


@command("del", -2, "write", keys=(1, -1, 1), group="generic",
         summary="Deletes one or more keys.")
def del_(c: ClientState, argv: list[bytes]) -> Any:
    delete = c.db.delete
    return sum(1 for i in range(1, len(argv)) if delete(argv[i]))


@command("unlink", -2, "write fast", keys=(1, -1, 1), group="generic", since="4.0.0",
         summary="Asynchronously deletes one or more keys.")
def unlink(c: ClientState, argv: list[bytes]) -> Any:
    # Freeing is immediate (no lazyfree thread); the reply is DEL's.
    return del_(c, argv)


@command("exists", -2, "readonly fast", keys=(1, -1, 1), group="generic",
         summary="Determines whether one or more keys exist.")
def exists(c: ClientState, argv: list[bytes]) -> Any:
    return sum(1 for i in range(1, len(argv)) if _read(c, argv[i]) is not None)


@command("touch", -2, "readonly fast", keys=(1, -1, 1), group="generic", since="3.2.1",
         summary="Returns the number of existing keys out of those specified after updating "
                 "the time they were last accessed.")
def touch(c: ClientState, argv: list[bytes]) -> Any:
    return sum(1 for i in range(1, len(argv)) if _read(c, argv[i]) is not None)


@command("type", 2, "readonly fast", keys=(1, 1, 1), group="generic",
         summary="Determines the type of value stored at a key.")
def type_(c: ClientState, argv: list[bytes]) -> Any:
    value = _read(c, argv[1])
    return "none" if value is None else type_name(value)  # str: a simple string


# -- iteration ----------------------------------------------------------------------


@command("keys", 2, "readonly", keys=(0, 0, 0), group="generic",
         summary="Returns all key names that match a pattern.",
         acl=("@keyspace", "@read", "@slow", "@dangerous"))
def keys(c: ClientState, argv: list[bytes]) -> Any:
    db = c.db
    pattern = argv[1]
    expires = db.expires
    if pattern == b"*" and not expires:
        return list(db.data)
    match = None if pattern == b"*" else compile_glob(pattern)
    now = now_ms()
    out = []
    for key in db.data:
        if match is not None and not match(key):
            continue
        # Like redis, KEYS skips expired keys but leaves deleting them to others.
        if expires:
            deadline = expires.get(key)
            if deadline is not None and deadline <= now:
                continue
        out.append(key)
    return out


@command("scan", -2, "readonly", group="generic", since="2.8.0",
         summary="Iterates over the key names in the database.")
def scan(c: ClientState, argv: list[bytes]) -> Any:
    cursor = parse_cursor(argv[1])
    opts = parse_scan_options(argv, 2, allow_type=True)
    db = c.db
    data = db.data
    next_cursor, batch = scan_step(cursor, opts.count, lambda: list(data))
    match, want_type = opts.match, opts.type
    out = []
    for key in batch:
        if match is not None and not match(key):
            continue
        # The snapshot may hold keys deleted or expired since it was taken.
        value = db.lookup(key)
        if value is None:
            continue
        if want_type is not None and type_name(value).lower() != want_type:
            continue
        out.append(key)
    return [b"%d" % next_cursor, out]


@command("randomkey", 1, "readonly", group="generic",
         summary="Returns a random key name from the database.")
def randomkey(c: ClientState, argv: list[bytes]) -> Any:
    return c.db.random_key()


# -- renaming, copying, moving ------------------------------------------------------


def _rename(c: ClientState, argv: list[bytes], nx: bool) -> Any:
    db = c.db
    src, dst = argv[1], argv[2]
    if db.lookup(src) is None:
        raise ReplyError(NO_SUCH_KEY)
    if src == dst:
        return _ZERO if nx else OK
    if nx and db.lookup(dst) is not None:
        return _ZERO
    value, deadline = db.take(src)
    db.delete(dst)
    db.add(dst, value, deadline)  # the TTL travels with the value
    return _ONE if nx else OK


@command("rename", 3, "write", keys=(1, 2, 1), group="generic",
         summary="Renames a key and overwrites the destination.")
def rename(c: ClientState, argv: list[bytes]) -> Any:
    return _rename(c, argv, False)


@command("renamenx", 3, "write fast", keys=(1, 2, 1), group="generic",
         summary="Renames a key only when the target key name doesn't exist.")
def renamenx(c: ClientState, argv: list[bytes]) -> Any:
    return _rename(c, argv, True)


def _copy_zset(z: ZSet) -> ZSet:
    out = ZSet()
    out.dict = dict(z.dict)
    out.sl = z.sl.copy()
    return out


# Deep enough copies per value class (COPY must not share mutable containers).
_COPIERS: Final[dict[type, Callable[[Any], Any]]] = {
    bytes: lambda v: v,
    dict: dict.copy,
    deque: deque.copy,
    set: set.copy,
    ZSet: _copy_zset,
}


@command("copy", -3, "write denyoom", keys=(1, 2, 1), group="generic", since="6.2.0",
         summary="Copies the value of a key to a new key.")
def copy_(c: ClientState, argv: list[bytes]) -> Any:
    src_db = dst_db = c.db
    replace = False
    j, n = 3, len(argv)
    while j < n:
        opt = argv[j].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"db" and j + 1 < n:
            dst_db = _db_index(c, argv[j + 1])
            j += 1
        else:
            raise ReplyError(SYNTAX)
        j += 1
    src, dst = argv[1], argv[2]
    if src_db is dst_db and src == dst:
        raise ReplyError(_SAME_OBJECT)
    value = _read(c, src)
    if value is None:
        return _ZERO
    deadline = src_db.expire_at(src)
    if dst_db.lookup(dst) is not None:
        if not replace:
            return _ZERO
        dst_db.delete(dst)
    dup = _COPIERS.get(value.__class__, copy.copy)(value)
    dst_db.add(dst, dup, deadline)
    return _ONE


@command("move", 3, "write fast", keys=(1, 1, 1), group="generic",
         summary="Moves a key to another database.")
def move(c: ClientState, argv: list[bytes]) -> Any:
    dst_db = _db_index(c, argv[2])
    src_db = c.db
    if dst_db is src_db:
        raise ReplyError(_SAME_OBJECT)
    key = argv[1]
    if src_db.lookup(key) is None or dst_db.lookup(key) is not None:
        return _ZERO
    value, deadline = src_db.take(key)
    dst_db.add(key, value, deadline)
    return _ONE


# -- expiry -------------------------------------------------------------------------

_NX: Final = 1
_XX: Final = 2
_GT: Final = 4
_LT: Final = 8
_EXPIRE_FLAGS: Final = {b"nx": _NX, b"xx": _XX, b"gt": _GT, b"lt": _LT}


def _expire_generic(c: ClientState, argv: list[bytes], base: int, unit: int, name: str) -> Any:
    """redis's expireGenericCommand: ``base`` is now (relative forms) or 0 (the AT forms)."""
    flags = 0
    for j in range(3, len(argv)):
        bit = _EXPIRE_FLAGS.get(argv[j].lower())
        if bit is None:
            raise ReplyError(f"Unsupported option {argv[j].decode('utf-8', 'replace')}")
        flags |= bit
    if flags & _NX and flags & (_XX | _GT | _LT):
        raise ReplyError("NX and XX, GT or LT options at the same time are not compatible")
    if flags & _GT and flags & _LT:
        raise ReplyError("GT and LT options at the same time are not compatible")
    when = parse_int(argv[2])
    if unit == 1000:
        if when > INT64_MAX // 1000 or when < -(INT64_MAX // 1000):
            raise ReplyError(INVALID_EXPIRE % name)
        when *= 1000
    if when > INT64_MAX - base:
        raise ReplyError(INVALID_EXPIRE % name)
    when += base
    db = c.db
    key = argv[1]
    if db.lookup(key) is None:
        return _ZERO
    if flags:
        current = db.expire_at(key)
        if flags & _NX and current is not None:
            return _ZERO
        if flags & _XX and current is None:
            return _ZERO
        # No TTL counts as an infinite one for GT and LT.
        if flags & _GT and (current is None or when <= current):
            return _ZERO
        if flags & _LT and current is not None and when >= current:
            return _ZERO
    if when <= now_ms():
        db.delete(key)  # a deadline in the past deletes the key at once
    else:
        db.set_expire(key, when)
    return _ONE


@command("expire", -3, "write fast", keys=(1, 1, 1), group="generic",
         summary="Sets the expiration time of a key in seconds.")
def expire(c: ClientState, argv: list[bytes]) -> Any:
    return _expire_generic(c, argv, now_ms(), 1000, "expire")


@command("pexpire", -3, "write fast", keys=(1, 1, 1), group="generic", since="2.6.0",
         summary="Sets the expiration time of a key in milliseconds.")
def pexpire(c: ClientState, argv: list[bytes]) -> Any:
    return _expire_generic(c, argv, now_ms(), 1, "pexpire")


@command("expireat", -3, "write fast", keys=(1, 1, 1), group="generic", since="1.2.0",
         summary="Sets the expiration time of a key to a Unix timestamp.")
def expireat(c: ClientState, argv: list[bytes]) -> Any:
    return _expire_generic(c, argv, 0, 1000, "expireat")


@command("pexpireat", -3, "write fast", keys=(1, 1, 1), group="generic", since="2.6.0",
         summary="Sets the expiration time of a key to a Unix milliseconds timestamp.")
def pexpireat(c: ClientState, argv: list[bytes]) -> Any:
    return _expire_generic(c, argv, 0, 1, "pexpireat")


def _deadline_of(c: ClientState, key: bytes) -> int | bool | None:
    """False when the key is missing, None without a TTL, else the deadline in ms."""
    if _read(c, key) is None:
        return False
    return c.db.expire_at(key)


@command("ttl", 2, "readonly fast", keys=(1, 1, 1), group="generic",
         summary="Returns the expiration time in seconds of a key.")
def ttl(c: ClientState, argv: list[bytes]) -> Any:
    deadline = _deadline_of(c, argv[1])
    if deadline is False:
        return _MINUS_TWO
    if deadline is None:
        return _MINUS_ONE
    return (max(0, deadline - now_ms()) + 500) // 1000


@command("pttl", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="2.6.0",
         summary="Returns the expiration time in milliseconds of a key.")
def pttl(c: ClientState, argv: list[bytes]) -> Any:
    deadline = _deadline_of(c, argv[1])
    if deadline is False:
        return _MINUS_TWO
    if deadline is None:
        return _MINUS_ONE
    return max(0, deadline - now_ms())


@command("expiretime", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="7.0.0",
         summary="Returns the expiration time of a key as a Unix timestamp.")
def expiretime(c: ClientState, argv: list[bytes]) -> Any:
    deadline = _deadline_of(c, argv[1])
    if deadline is False:
        return _MINUS_TWO
    if deadline is None:
        return _MINUS_ONE
    return (deadline + 500) // 1000  # rounded, as redis's ttlGenericCommand does


@command("pexpiretime", 2, "readonly fast", keys=(1, 1, 1), group="generic", since="7.0.0",
         summary="Returns the expiration time of a key as a Unix milliseconds timestamp.")
def pexpiretime(c: ClientState, argv: list[bytes]) -> Any:
    deadline = _deadline_of(c, argv[1])
    if deadline is False:
        return _MINUS_TWO
    if deadline is None:
        return _MINUS_ONE
    return deadline


@command("persist", 2, "write fast", keys=(1, 1, 1), group="generic", since="2.2.0",
         summary="Removes the expiration time of a key.")
def persist(c: ClientState, argv: list[bytes]) -> Any:
    db = c.db
    if db.lookup(argv[1]) is None:
        return _ZERO
    return _ONE if db.persist(argv[1]) else _ZERO


# -- OBJECT -------------------------------------------------------------------------

_OBJECT_HELP: Final = [
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
]
_NO_LFU: Final = (
    "An LFU maxmemory policy is not selected, access frequency not tracked. Please note "
    "that when switching between policies at runtime LRU and LFU data will take some time "
    "to adjust."
)
_NO_LRU: Final = (
    "An LFU maxmemory policy is selected, idle time not tracked. Please note that when "
    "switching between policies at runtime LRU and LFU data will take some time to adjust."
)
_SHARED_REFCOUNT: Final = 2**31 - 1  # redis's OBJ_SHARED_REFCOUNT (shared integers)
_SHARED_INTEGERS: Final = 10000
_EMBSTR_LIMIT: Final = 44
_LIST_SIZE_LIMITS: Final = {-1: 4096, -2: 8192, -3: 16384, -4: 32768, -5: 65536}


def _as_int64(value: bytes) -> int | None:
    """The integer a string encodes canonically (redis's string2ll), else None."""
    if len(value) > 20:
        return None
    try:
        return parse_int(value)
    except ReplyError:
        return None


def _is_int64(value: bytes) -> bool:
    return _as_int64(value) is not None


def _string_encoding(c: ClientState, value: bytes) -> str:
    # Encodings are derived from the bytes: a value is "int" if it reads as a canonical
    # int64, "embstr" up to 44 bytes, else "raw" (redis also reports "raw" for short
    # strings grown by APPEND/SETRANGE; we keep no per-key flag for that).
    if _is_int64(value):
        return "int"
    return "embstr" if len(value) <= _EMBSTR_LIMIT else "raw"


def _hash_encoding(c: ClientState, value: dict[bytes, bytes]) -> str:
    cfg = c.server.config
    limit = cfg.hash_max_listpack_value
    if len(value) <= cfg.hash_max_listpack_entries and all(
        len(k) <= limit and len(v) <= limit for k, v in value.items()
    ):
        return "listpack"
    return "hashtable"


def _list_encoding(c: ClientState, value: deque[bytes]) -> str:
    size = c.server.config.list_max_listpack_size
    if size > 0:
        return "listpack" if len(value) <= size else "quicklist"
    # Negative sizes cap the listpack's bytes; estimate its layout (entry header + data
    # + back-length) as redis 7.2 does when it decides to convert.
    limit = _LIST_SIZE_LIMITS.get(size, 8192)
    total = 7
    for item in value:
        n = len(item)
        total += n + (1 if n < 64 else 2 if n < 4096 else 5) + (1 if n < 127 else 2)
        if total > limit:
            return "quicklist"
    return "listpack"


def _set_encoding(c: ClientState, value: set[bytes]) -> str:
    cfg = c.server.config
    n = len(value)
    if n <= cfg.set_max_intset_entries and all(_is_int64(m) for m in value):
        return "intset"
    limit = cfg.set_max_listpack_value
    if n <= cfg.set_max_listpack_entries and all(len(m) <= limit for m in value):
        return "listpack"
    return "hashtable"


def _zset_encoding(c: ClientState, value: ZSet) -> str:
    cfg = c.server.config
    limit = cfg.zset_max_listpack_value
    if len(value) <= cfg.zset_max_listpack_entries and all(
        len(m) <= limit for m in value.dict
    ):
        return "listpack"
    return "skiplist"


_ENCODINGS: Final[dict[type, Callable[[ClientState, Any], str]]] = {
    bytes: _string_encoding,
    dict: _hash_encoding,
    deque: _list_encoding,
    set: _set_encoding,
    ZSet: _zset_encoding,
}


@command("object|encoding", 3, "readonly", keys=(2, 2, 1), group="generic", since="2.2.3",
         summary="Returns the internal encoding of a Redis object.")
def object_encoding(c: ClientState, argv: list[bytes]) -> Any:
    value = _read(c, argv[2])
    if value is None:
        return None
    encoding = _ENCODINGS.get(value.__class__)
    return b"raw" if encoding is None else encoding(c, value).encode()


@command("object|freq", 3, "readonly", keys=(2, 2, 1), group="generic", since="4.0.0",
         summary="Returns the logarithmic access frequency counter of a Redis object.")
def object_freq(c: ClientState, argv: list[bytes]) -> Any:
    value = _read(c, argv[2])
    if value is None:
        return None
    if "lfu" not in c.server.config.maxmemory_policy:
        raise ReplyError(_NO_LFU)
    # Counted while an LFU policy is selected (store/_memory.py); a key with no count
    # yet reads as a fresh one (LFU_INIT_VAL), as in redis-server 7.2.
    mem = c.db.mem
    return mem.frequency(argv[2]) if mem is not None else LFU_INIT_VAL


@command("object|idletime", 3, "readonly", keys=(2, 2, 1), group="generic", since="2.2.3",
         summary="Returns the time since the last access to a Redis object.")
def object_idletime(c: ClientState, argv: list[bytes]) -> Any:
    value = _read(c, argv[2])
    if value is None:
        return None
    if "lfu" in c.server.config.maxmemory_policy:
        raise ReplyError(_NO_LRU)
    # Access times are kept while an LRU policy is selected (store/_memory.py); under
    # the others (no per-key data spent) every key reads as just used.
    mem = c.db.mem
    return mem.idle_seconds(argv[2]) if mem is not None else 0


@command("object|refcount", 3, "readonly", keys=(2, 2, 1), group="generic", since="2.2.3",
         summary="Returns the reference count of a value of a key.")
def object_refcount(c: ClientState, argv: list[bytes]) -> Any:
    value = _read(c, argv[2])
    if value is None:
        return None
    if value.__class__ is bytes:
        n = _as_int64(value)
        if n is not None and 0 <= n < _SHARED_INTEGERS:
            return _SHARED_REFCOUNT  # redis shares these integers between keys
    return 1


@command("object|help", 2, "loading stale", group="generic", since="6.2.0",
         summary="Returns helpful text about the different subcommands.")
def object_help(c: ClientState, argv: list[bytes]) -> Any:
    return _OBJECT_HELP

