"""Server commands: INFO CONFIG TIME LASTSAVE SHUTDOWN SLOWLOG MONITOR DEBUG MEMORY ROLE SWAPDB.

Replies and error texts follow redis-server 7. CLIENT lives in ``client.py``, COMMAND in
``introspection.py``, the INFO text in ``_info.py``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from ..config import PARAMS, Config, ConfigError, find_param, get_matching, parse_value
from ..errors import DB_INDEX_OUT_OF_RANGE, NO_SUCH_KEY, NOT_INTEGER, SYNTAX, ReplyError
from ..fdlimit import adjust_open_files_limit
from ..protocol import OK, Verbatim
from ..store import type_name
from ..store._memory import entry_size
from ._args import parse_float, parse_int
from ._client import NO_REPLY, ClientState
from ._evict import process_rss
from ._info import extras, info_text, iter_specs, used_memory
from ._spec import command
from .persistence import debug_reload

__all__ = ["help_reply", "value_size"]


def help_reply(name: str, lines: tuple[str, ...]) -> list[str]:
    """redis-server's addReplyHelp: a header, the lines, then HELP, all simple strings."""
    return [
        f"{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        *lines,
        "HELP",
        "    Prints this help.",
    ]


# -- INFO ----------------------------------------------------------------------------------
@command("info", -1, "loading stale", group="server", since="1.0.0",
         summary="Returns information and statistics about the server.",
         complexity="O(1)", acl=("@slow", "@dangerous"))
def info(c: ClientState, argv: list[bytes]) -> Any:
    # RESP3 gets a verbatim string (redis-server 7), RESP2 a bulk string.
    return Verbatim(info_text(c.server, argv[1:]))


# -- CONFIG --------------------------------------------------------------------------------
_CONFIG_HELP: Final = help_reply("CONFIG", (
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
))
_CONFIG_FLAGS: Final = "admin noscript loading stale"
_CONFIG_ACL: Final = ("@admin", "@slow", "@dangerous")


@command("config|get", -3, _CONFIG_FLAGS, group="server", since="2.0.0",
         summary="Returns the effective values of configuration parameters.",
         complexity="O(N) when N is the number of configuration parameters provided",
         acl=_CONFIG_ACL)
def config_get(c: ClientState, argv: list[bytes]) -> Any:
    patterns = [a.decode("utf-8", "replace") for a in argv[2:]]
    found = get_matching(c.server.config, patterns)
    return {k.encode(): v.encode() for k, v in found.items()}


# Redis 7's PROTECTED_CONFIG parameters (see enable-protected-configs).
_PROTECTED: Final = frozenset({"dir", "dbfilename"})


def enabled_for(c: ClientState, setting: str) -> bool:
    """An enable-* setting (no / yes / local) for client ``c``."""
    return setting == "yes" or (setting == "local" and c.is_local)


def _set_failed(name: str, why: str) -> ReplyError:
    return ReplyError(f"CONFIG SET failed (possibly related to argument '{name}') - {why}")


@command("config|set", -4, _CONFIG_FLAGS, group="server", since="2.0.0",
         summary="Sets configuration parameters in-flight.",
         complexity="O(N) when N is the number of configuration parameters provided",
         acl=_CONFIG_ACL)
def config_set(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) % 2:
        raise ReplyError(SYNTAX)
    pairs = [(argv[i].decode("utf-8", "replace"), argv[i + 1].decode("utf-8", "replace"))
             for i in range(2, len(argv), 2)]
    # First pass, like redis-server: unknown names, immutables and duplicates fail the whole
    # call before any value is parsed.
    seen: set[str] = set()
    params = []
    for name, _ in pairs:
        param = find_param(name)
        if param is None:
            raise ReplyError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        if not param.mutable:
            raise _set_failed(name.lower(), "can't set immutable config")
        if param.name in _PROTECTED and not enabled_for(
                c, c.server.config.enable_protected_configs):
            raise _set_failed(name.lower(), "can't set protected config")
        if param.name in seen:
            raise _set_failed(name.lower(), "duplicate parameter")
        seen.add(param.name)
        params.append(param)
    # Second pass: parse every value against the config so far; apply all or nothing.
    current: Config = c.server.config
    for param, (name, text) in zip(params, pairs, strict=True):
        try:
            value = parse_value(current, param, text)
        except ConfigError as e:
            raise _set_failed(name.lower(), str(e)) from None
        current = dataclasses.replace(current, **{param.field: value})
    if current.maxclients != c.server.config.maxclients:
        # redis-server's updateMaxclients: make room in the open-file limit, or refuse.
        allowed = adjust_open_files_limit(current.maxclients)
        if allowed < current.maxclients:
            raise _set_failed("maxclients", "The operating system is not able to handle the "
                              f"specified number of clients, try with {allowed}")
    c.server.set_config(current)
    return OK


@command("config|resetstat", 2, _CONFIG_FLAGS, group="server", since="2.0.0",
         summary="Resets the server's statistics.", complexity="O(1)", acl=_CONFIG_ACL)
def config_resetstat(c: ClientState, argv: list[bytes]) -> Any:
    server = c.server
    server.stats.reset()
    for spec in iter_specs():
        spec.stats.reset()
    errorstats = getattr(server.stats, "errorstats", None)
    if isinstance(errorstats, dict):
        errorstats.clear()
    e = extras(server)
    e.ops_samples.clear()
    e.peak_memory = 0
    used_memory(server)
    return OK


@command("config|rewrite", 2, _CONFIG_FLAGS, group="server", since="2.8.0",
         summary="Persists the effective configuration to file.", complexity="O(1)",
         acl=_CONFIG_ACL)
def config_rewrite(c: ClientState, argv: list[bytes]) -> Any:
    path = c.server.config_file
    if not path:
        raise ReplyError("The server is running without a config file")
    try:
        rewrite_config_file(path, c.server.config)
    except OSError as e:
        raise ReplyError(f"Rewriting config file: {e.strerror or e}") from None
    return OK


@command("config|help", 2, "loading stale", group="server", since="5.0.0",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)",
         acl=("@slow",))
def config_help(c: ClientState, argv: list[bytes]) -> Any:
    return _CONFIG_HELP


def _conf_quote(value: str) -> str:
    # parse_config_file reads "..." as one word and joins the others with one space.
    if value == "" or any(ch in value for ch in "\"'#") or value != value.strip():
        return '"' + value.replace('"', "") + '"'
    return value


def rewrite_config_file(path: str, config: Config) -> None:
    """redis-server's CONFIG REWRITE, simplified: the first line that sets a parameter is
    rewritten with the current value, repeats are dropped, comments and unknown lines are
    kept, and parameters that differ from the defaults but had no line are appended."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    defaults = Config()
    written: set[str] = set()
    out: list[str] = []
    for line in lines:
        words = line.split()
        param = find_param(words[0]) if words and not words[0].startswith("#") else None
        if param is None:
            out.append(line)
            continue
        if param.name in written:
            continue
        written.add(param.name)
        out.append(f"{param.name} {_conf_quote(param.format(getattr(config, param.field)))}")
    added = [
        f"{p.name} {_conf_quote(p.format(getattr(config, p.field)))}"
        for p in PARAMS.values()
        if p.name not in written and getattr(config, p.field) != getattr(defaults, p.field)
    ]
    if added:
        out.append("# Generated by CONFIG REWRITE")
        out.extend(added)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tensorserve-conf-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(out) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic: a crash never leaves half a config file
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- TIME / LASTSAVE / ROLE ----------------------------------------------------------------
@command("time", 1, "loading stale fast", group="server", since="2.6.0",
         summary="Returns the server time.", complexity="O(1)", acl=("@fast",))
def time_(c: ClientState, argv: list[bytes]) -> Any:
    now = time.time_ns() // 1000
    return [b"%d" % (now // 1_000_000), b"%d" % (now % 1_000_000)]


@command("lastsave", 1, "loading stale fast", group="server", since="1.0.0",
         summary="Returns the Unix timestamp of the last successful save to disk.",
         complexity="O(1)", acl=("@admin", "@fast", "@dangerous"))
def lastsave(c: ClientState, argv: list[bytes]) -> Any:
    return c.server.last_save


@command("role", 1, "noscript loading stale fast", group="server", since="2.8.12",
         summary="Returns the replication role.", complexity="O(1)",
         acl=("@admin", "@fast", "@dangerous"))
def role(c: ClientState, argv: list[bytes]) -> Any:
    return [b"master", 0, []]


# -- SHUTDOWN ------------------------------------------------------------------------------
@command("shutdown", -1, "admin noscript loading stale no_multi allow_busy", group="server",
         since="1.0.0", summary="Synchronously saves the database(s) to disk and shuts down "
         "the Redis server.", complexity="O(N) when saving, where N is the total number of "
         "keys in all databases when saving data, otherwise O(1)",
         acl=("@admin", "@slow", "@dangerous"))
def shutdown(c: ClientState, argv: list[bytes]) -> Any:
    nosave = save = abort = False
    for arg in argv[1:]:
        opt = arg.lower()
        if opt == b"nosave":
            nosave = True
        elif opt == b"save":
            save = True
        elif opt == b"abort":
            abort = True
        elif opt not in (b"now", b"force"):
            raise ReplyError(SYNTAX)
    if (nosave and save) or (abort and len(argv) > 2):
        raise ReplyError(SYNTAX)
    if abort:
        # Our shutdown is immediate: there is never one in progress to abort.
        raise ReplyError("No shutdown in progress.")
    if not c.server.request_shutdown(save or (not nosave and bool(c.server.config.save))):
        raise ReplyError("Errors trying to SHUTDOWN. Check logs.")
    return NO_REPLY


# -- SLOWLOG -------------------------------------------------------------------------------
_SLOWLOG_HELP: Final = help_reply("SLOWLOG", (
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
))
_SLOWLOG_ACL: Final = ("@admin", "@slow", "@dangerous")


@command("slowlog|get", -2, "admin loading stale", group="server", since="2.2.12",
         summary="Returns the slow log's entries.",
         complexity="O(N) where N is the number of entries returned", acl=_SLOWLOG_ACL)
def slowlog_get(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise ReplyError("wrong number of arguments for 'slowlog|get' command")
    count = 10
    if len(argv) == 3:
        msg = "count should be greater than or equal to -1"
        count = parse_int(argv[2], msg)
        if count < -1:
            raise ReplyError(msg)
    entries = list(c.server.slowlog)
    if count >= 0:
        entries = entries[:count]
    return [
        [e.id, e.timestamp, e.duration_us, list(e.argv), e.peer.encode(), e.name]
        for e in entries
    ]


@command("slowlog|len", 2, "admin loading stale", group="server", since="2.2.12",
         summary="Returns the number of entries in the slow log.", complexity="O(1)",
         acl=_SLOWLOG_ACL)
def slowlog_len(c: ClientState, argv: list[bytes]) -> Any:
    return len(c.server.slowlog)


@command("slowlog|reset", 2, "admin loading stale", group="server", since="2.2.12",
         summary="Clears all entries from the slow log.",
         complexity="O(N) where N is the number of entries in the slowlog", acl=_SLOWLOG_ACL)
def slowlog_reset(c: ClientState, argv: list[bytes]) -> Any:
    c.server.slowlog.clear()
    return OK


@command("slowlog|help", 2, "loading stale", group="server", since="6.2.0",
         summary="Show helpful text about the different subcommands", complexity="O(1)",
         acl=("@slow",))
def slowlog_help(c: ClientState, argv: list[bytes]) -> Any:
    return _SLOWLOG_HELP


# -- MONITOR -------------------------------------------------------------------------------
def _stop_monitoring(c: ClientState) -> None:
    c.server.monitors.pop(c, None)


@command("monitor", 1, "admin noscript loading stale no_multi", group="server",
         since="1.0.0", summary="Listens for all requests received by the server in real-time.",
         acl=("@admin", "@slow", "@dangerous"))
def monitor(c: ClientState, argv: list[bytes]) -> Any:
    server = c.server
    # Hooks are registered once per server, on first use (no import-time server exists).
    if _stop_monitoring not in server.on_client_gone:
        server.on_client_gone.append(_stop_monitoring)
        server.on_client_reset.append(_stop_monitoring)
    server.monitors[c] = None
    return OK


# -- DEBUG ---------------------------------------------------------------------------------
_DEBUG_HELP: Final = help_reply("DEBUG", (
    "JMAP",
    "    No-op (kept for compatibility).",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Accepted and ignored: expiry always runs.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
))


def _debug_object(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) != 3:
        raise ReplyError(SYNTAX)
    value = c.db.lookup(argv[2])
    if value is None:
        raise ReplyError(NO_SUCH_KEY)
    enc = _ENCODINGS.get(type_name(value), "raw")
    if isinstance(value, bytes):
        enc = "int" if value.isdigit() and len(value) < 20 else (
            "embstr" if len(value) <= 44 else "raw")
    return (f"Value at:0x{id(value):x} refcount:1 encoding:{enc} "
            f"serializedlength:{value_size(value, 0)} lru:0 lru_seconds_idle:0")


def _debug_sleep(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) != 3:
        raise ReplyError(SYNTAX)
    seconds = parse_float(argv[2])
    # Blocks the whole event loop on purpose: that is what DEBUG SLEEP is for.
    time.sleep(max(seconds, 0.0))
    return OK


def _debug_ok(c: ClientState, argv: list[bytes]) -> Any:
    return OK


_DEBUG: Final[dict[bytes, Callable[[ClientState, list[bytes]], Any]]] = {
    b"sleep": _debug_sleep,
    b"object": _debug_object,
    b"jmap": _debug_ok,
    b"set-active-expire": _debug_ok,
    b"help": lambda c, argv: _DEBUG_HELP,
    b"reload": debug_reload,
}
_ENCODINGS: Final = {"hash": "listpack", "list": "quicklist", "set": "hashtable",
                     "zset": "skiplist"}


_DEBUG_NOT_ALLOWED: Final = (
    "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", "
    "you can run it from a local connection, otherwise you need to set this option in "
    "the configuration file, and then restart the server."
)


@command("debug", -2, "admin noscript loading stale", group="server", since="1.0.0",
         summary="A container for debugging commands.", acl=("@admin", "@slow", "@dangerous"))
def debug(c: ClientState, argv: list[bytes]) -> Any:
    if not enabled_for(c, c.server.config.enable_debug_command):
        raise ReplyError(_DEBUG_NOT_ALLOWED)
    handler = _DEBUG.get(argv[1].lower())
    if handler is None:
        sub = argv[1].decode("utf-8", "replace")
        raise ReplyError(f"unknown subcommand '{sub}'. Try DEBUG HELP.")
    return handler(c, argv)


# -- MEMORY --------------------------------------------------------------------------------
_MEMORY_HELP: Final = help_reply("MEMORY", (
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
))
_DOCTOR_EMPTY: Final = Verbatim(
    b"Hi Sam, this instance is empty or is using very little memory, my issues detector "
    b"can't be used in these conditions. Please, leave for your mission on Earth and fill "
    b"it with some data. The new Sam and I will be back to our programming as soon as I "
    b"finished rebooting.\n"
)
_DOCTOR_OK: Final = Verbatim(
    b"Hi Sam, I can't find any memory issue in your instance. I can only account for what "
    b"occurs on this base.\n"
)


def _parts(value: Any) -> list[Any] | None:
    """The element objects of a container value (None for scalars)."""
    if isinstance(value, dict):
        return [x for kv in value.items() for x in kv]
    if isinstance(value, (list, tuple, set, frozenset, deque)):
        return list(value)
    slots = getattr(type(value), "__slots__", None)
    if slots:  # a store type like ZSet: measure what it holds
        return [getattr(value, s) for s in slots if hasattr(value, s)]
    return None


def value_size(value: Any, samples: int = 5) -> int:
    """Bytes used by ``value``: sys.getsizeof over its parts, sampling big containers."""
    size = sys.getsizeof(value)
    parts = _parts(value)
    if not parts:
        return size
    n = len(parts)
    take = parts if samples <= 0 or n <= samples else parts[:samples]
    sampled = sum(value_size(p, samples) if _parts(p) else sys.getsizeof(p) for p in take)
    return size + (sampled * n // len(take))


@command("memory|usage", -3, "readonly", keys=(2, 2, 1), group="server", since="4.0.0",
         summary="Estimates the memory usage of a key.",
         complexity="O(N) where N is the number of samples.", acl=("@read", "@slow"))
def memory_usage(c: ClientState, argv: list[bytes]) -> Any:
    samples = 5
    i = 3
    while i < len(argv):
        if argv[i].lower() == b"samples" and i + 1 < len(argv):
            samples = parse_int(argv[i + 1], NOT_INTEGER)
            if samples < 0:
                raise ReplyError(SYNTAX)
            i += 2
        else:
            raise ReplyError(SYNTAX)
    value = c.db.lookup(argv[2])
    if value is None:
        return None
    # The estimate maxmemory accounting uses (store/_memory.py): keyspace entry + key
    # + value, containers sampled, + the accounting's own per-key records if kept.
    mem = c.db.mem
    extra = mem.extra if mem is not None and mem.counting else 0
    return entry_size(argv[2], value, samples) + extra


@command("memory|stats", 2, "", group="server", since="4.0.0",
         summary="Returns details about memory usage.", complexity="O(1)", acl=("@slow",))
def memory_stats(c: ClientState, argv: list[bytes]) -> Any:
    server = c.server
    used = used_memory(server)
    startup = min(server.memory.baseline, used)
    dataset = server.memory.dataset() if server.memory.accounting else used - startup
    rss = process_rss()
    keys = sum(len(db.data) for db in server.keyspace.dbs)
    peak = max(extras(server).peak_memory, used)
    out: dict[bytes, Any] = {
        b"peak.allocated": peak,
        b"total.allocated": used,
        b"startup.allocated": startup,
        b"replication.backlog": 0,
        b"clients.slaves": 0,
        b"clients.normal": sum(cl.output_buffer_size + cl.input_buffer_size
                               for cl in server.clients.values()),
        b"cluster.links": 0,
        b"aof.buffer": 0,
        b"lua.caches": 0,
        b"functions.caches": 0,
    }
    for db in server.keyspace.dbs:
        if db.data:
            out[b"db.%d" % db.id] = {b"overhead.hashtable.main": 0,
                                     b"overhead.hashtable.expires": 0}
    out.update({
        b"overhead.total": startup,
        b"keys.count": keys,
        b"keys.bytes-per-key": (used - startup) // keys if keys else 0,
        b"dataset.bytes": dataset,
        b"dataset.percentage": 100.0 * dataset / max(used - startup, 1),
        b"peak.percentage": 100.0 * used / peak if peak else 100.0,
        b"fragmentation": round(rss / used, 2) if used else 1.0,
        b"fragmentation.bytes": rss - used,
    })
    return out


@command("memory|doctor", 2, "", group="server", since="4.0.0",
         summary="Outputs a memory problems report.", complexity="O(1)", acl=("@slow",))
def memory_doctor(c: ClientState, argv: list[bytes]) -> Any:
    # redis-server says "empty" below 5 MB of data; our baseline is the interpreter's.
    if not any(db.data for db in c.server.keyspace.dbs):
        return _DOCTOR_EMPTY
    return _DOCTOR_OK


@command("memory|malloc-stats", 2, "", group="server", since="4.0.0",
         summary="Returns the allocator statistics.", complexity="O(1)", acl=("@slow",))
def memory_malloc_stats(c: ClientState, argv: list[bytes]) -> Any:
    return Verbatim(b"Stats not supported for the current allocator")


@command("memory|purge", 2, "", group="server", since="4.0.0",
         summary="Asks the allocator to release memory.", complexity="O(1)", acl=("@slow",))
def memory_purge(c: ClientState, argv: list[bytes]) -> Any:
    return OK


@command("memory|help", 2, "loading stale", group="server", since="4.0.0",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)",
         acl=("@slow",))
def memory_help(c: ClientState, argv: list[bytes]) -> Any:
    return _MEMORY_HELP


# -- SWAPDB --------------------------------------------------------------------------------
@command("swapdb", 3, "write fast", group="server", since="4.0.0",
         summary="Swaps two Redis databases.",
         complexity="O(N) where N is the count of clients watching or blocking on keys from "
         "both databases.", acl=("@keyspace", "@write", "@fast", "@dangerous"))
def swapdb(c: ClientState, argv: list[bytes]) -> Any:
    a = parse_int(argv[1], "invalid first DB index")
    b = parse_int(argv[2], "invalid second DB index")
    ks = c.server.keyspace
    if not (0 <= a < len(ks.dbs) and 0 <= b < len(ks.dbs)):
        raise ReplyError(DB_INDEX_OUT_OF_RANGE)
    if a != b:
        # Swap the contents, not the Database objects: clients hold references to those and
        # must see the other database's data through the same index, as in redis-server.
        da, db_ = ks.dbs[a], ks.dbs[b]
        da.data, db_.data = db_.data, da.data
        da.expires, db_.expires = db_.expires, da.expires
        da.mem, db_.mem = db_.mem, da.mem  # maxmemory accounting follows the data
        ks.dirty += 1
        if ks.watched:
            ks.touch_all()  # redis-server touches every watched key of both dbs
    return OK
