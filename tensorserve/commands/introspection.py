"""COMMAND: the command table as clients see it (COMMAND INFO, DOCS, LIST, COUNT, GETKEYS).

Everything is derived from the CommandSpecs, so a new family shows up here by itself.
Reply shapes are redis-server 7's: COMMAND INFO's flags, ACL categories, tips, key specs
and subcommands are RESP3 sets (``~``) and arrays in RESP2; key specs and DOCS entries
are maps (flat arrays in RESP2). redis-cli sends COMMAND DOCS on connect and builds its
hints from it, so every DOCS entry is a well-formed map even when a spec says little.
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import SYNTAX, ReplyError
from ..protocol import Raw, encode
from ._client import ClientState
from ._glob import glob_match
from ._spec import COMMANDS, CommandSpec, command
from .server import help_reply

__all__ = ["acl_categories", "command_all", "command_docs", "command_info"]

# redis-server's flag order (its CMD_* bits); dispatch-internal flags are left out.
_FLAG_ORDER: Final = (
    "write", "readonly", "denyoom", "admin", "pubsub", "noscript", "blocking", "loading",
    "stale", "skip_monitor", "skip_slowlog", "fast", "no_auth", "sentinel", "no_multi",
    "movablekeys", "allow_busy",
)
# Redis group name -> its ACL category (server/connection commands carry their own).
_GROUP_CATEGORY: Final = {
    "generic": "@keyspace",
    "string": "@string",
    "list": "@list",
    "set": "@set",
    "sorted-set": "@sortedset",
    "sorted_set": "@sortedset",
    "zset": "@sortedset",
    "hash": "@hash",
    "pubsub": "@pubsub",
    "transactions": "@transaction",
    "connection": "@connection",
    "scripting": "@scripting",
    "hyperloglog": "@hyperloglog",
    "geo": "@geo",
    "stream": "@stream",
    "bitmap": "@bitmap",
}
_ACL_CATEGORIES: Final = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting",
)


class _Set(list[Any]):
    """An ordered list sent as a RESP3 set (``~``); the writer only knows Python sets,
    which cannot hold maps (key specs) and lose redis-server's order."""

    __slots__ = ()


def _encode(value: Any, out: list[bytes], proto: int) -> None:
    if isinstance(value, _Set):
        out.append((b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(value))
        for item in value:
            _encode(item, out, proto)
    elif isinstance(value, list):
        out.append(b"*%d\r\n" % len(value))
        for item in value:
            _encode(item, out, proto)
    elif isinstance(value, dict):
        out.append((b"%%%d\r\n" % len(value)) if proto == 3 else (b"*%d\r\n" % (2 * len(value))))
        for k, v in value.items():
            _encode(k, out, proto)
            _encode(v, out, proto)
    else:
        encode(value, out, proto)


def _raw(value: Any, proto: int) -> Raw:
    out: list[bytes] = []
    _encode(value, out, proto)
    return Raw(b"".join(out))


def acl_categories(spec: CommandSpec) -> list[str]:
    """The spec's own categories, or ones derived from its group and flags."""
    if spec.acl_categories:
        return list(spec.acl_categories)
    cats: list[str] = []
    flags = spec.flags
    if "write" in flags:
        cats.append("@write")
    if "readonly" in flags:
        cats.append("@read")
    group = _GROUP_CATEGORY.get(spec.group)
    if group:
        cats.append(group)
    if "admin" in flags:
        cats += ["@admin", "@dangerous"]
    if "pubsub" in flags and "@pubsub" not in cats:
        cats.append("@pubsub")
    if "blocking" in flags:
        cats.append("@blocking")
    cats.append("@fast" if "fast" in flags else "@slow")
    return cats


def _key_specs(spec: CommandSpec) -> list[Any]:
    if spec.first_key <= 0:
        return []
    last = spec.last_key
    # find_keys' lastkey counts from the first key; negative counts from the end.
    lastkey = last - spec.first_key if last >= 0 else last
    flags = ["RW", "update"] if "write" in spec.flags else ["RO", "access"]
    return [{
        b"flags": _Set(flags),
        b"begin_search": {b"type": b"index", b"spec": {b"index": spec.first_key}},
        b"find_keys": {b"type": b"range", b"spec": {
            b"lastkey": lastkey, b"keystep": max(spec.step, 1), b"limit": 0}},
    }]


def command_info(spec: CommandSpec) -> list[Any]:
    """[name, arity, flags, first, last, step, categories, tips, key specs, subcommands]."""
    subs = list(spec.subcommands.values()) if spec.subcommands else []
    flags = [] if spec.subcommands is not None else [
        f for f in _FLAG_ORDER if f in spec.flags
    ]
    cats = ["@slow"] if spec.subcommands is not None else acl_categories(spec)
    return [
        spec.name.encode(),
        spec.arity,
        _Set(flags),
        spec.first_key,
        spec.last_key,
        spec.step,
        _Set(cats),
        _Set([]),
        _Set(_key_specs(spec)),
        _Set([command_info(s) for s in subs]),
    ]


def command_docs(spec: CommandSpec) -> dict[bytes, Any]:
    doc: dict[bytes, Any] = {
        b"summary": (spec.summary or spec.name.upper().replace("|", " ")).encode(),
        b"since": (spec.since or "1.0.0").encode(),
        b"group": (spec.group or "generic").encode(),
        b"complexity": (spec.complexity or "O(1)").encode(),
    }
    if spec.subcommands:
        doc[b"subcommands"] = {
            s.name.encode(): command_docs(s) for s in spec.subcommands.values()
        }
    return doc


def _lookup(name: bytes) -> CommandSpec | None:
    """A command by name, or a subcommand by its ``container|sub`` full name."""
    text = name.decode("utf-8", "replace").lower()
    if "|" in text:
        parent, _, sub = text.partition("|")
        spec = COMMANDS.get(parent)
        if spec is None or spec.subcommands is None:
            return None
        return spec.subcommands.get(sub.encode())
    return COMMANDS.get(text)


def command_all(c: ClientState, argv: list[bytes]) -> Any:
    """Bare COMMAND: every command's info (run when dispatch lets containers run bare)."""
    return _raw([command_info(s) for s in COMMANDS.values()], c.resp)


@command("command|info", -2, "loading stale", group="server", since="2.8.13",
         summary="Returns information about one, multiple or all commands.",
         complexity="O(N) where N is the number of commands to look up",
         acl=("@slow", "@connection"))
def command_info_(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        return command_all(c, argv)
    out: list[Any] = []
    for name in argv[2:]:
        spec = _lookup(name)
        out.append(command_info(spec) if spec is not None else None)
    return _raw(out, c.resp)


@command("command|count", 2, "loading stale", group="server", since="2.8.13",
         summary="Returns a count of commands.", complexity="O(1)",
         acl=("@slow", "@connection"))
def command_count(c: ClientState, argv: list[bytes]) -> Any:
    return len(COMMANDS)


@command("command|docs", -2, "loading stale", group="server", since="7.0.0",
         summary="Returns documentary information about one, multiple or all commands.",
         complexity="O(N) where N is the number of commands to look up",
         acl=("@slow", "@connection"))
def command_docs_(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        return _raw({s.name.encode(): command_docs(s) for s in COMMANDS.values()}, c.resp)
    out: dict[bytes, Any] = {}
    for name in argv[2:]:
        spec = _lookup(name)
        if spec is not None:  # unknown names are left out, like redis-server
            out[spec.name.encode()] = command_docs(spec)
    return _raw(out, c.resp)


@command("command|list", -2, "loading stale", group="server", since="7.0.0",
         summary="Returns a list of command names.",
         complexity="O(N) where N is the total number of Redis commands",
         acl=("@slow", "@connection"))
def command_list(c: ClientState, argv: list[bytes]) -> Any:
    specs = list(COMMANDS.values())
    names = [s.name for s in specs]
    if len(argv) == 2:
        return [n.encode() for n in names]
    if len(argv) != 5 or argv[2].lower() != b"filterby":
        raise ReplyError(SYNTAX)
    kind, value = argv[3].lower(), argv[4]
    if kind == b"module":
        return []  # no modules: redis-server answers an empty list for unknown modules
    if kind == b"aclcat":
        cat = "@" + value.decode("utf-8", "replace").lower()
        return [s.name.encode() for s in _all_with_subs() if cat in acl_categories(s)]
    if kind == b"pattern":
        return [s.name.encode() for s in _all_with_subs() if glob_match(value, s.name.encode(),
                                                                         nocase=True)]
    raise ReplyError(SYNTAX)


def _all_with_subs() -> list[CommandSpec]:
    out: list[CommandSpec] = []
    for s in COMMANDS.values():
        out.append(s)
        if s.subcommands:
            out.extend(s.subcommands.values())
    return out


def _keys_for(argv: list[bytes]) -> tuple[CommandSpec, list[bytes]]:
    args = argv[2:]
    spec = COMMANDS.get(args[0].decode("utf-8", "replace").lower())
    if spec is None:
        raise ReplyError("Invalid command specified")
    if spec.subcommands is not None and len(args) > 1:
        spec = spec.subcommands.get(args[1].lower(), spec)
    if spec.first_key <= 0 and spec.get_keys is None:
        raise ReplyError("The command has no key arguments")
    n = len(args)
    if (spec.arity > 0 and spec.arity != n) or n < -spec.arity:
        raise ReplyError("Invalid number of arguments specified for command")
    keys = spec.keys(args)
    if not keys:
        raise ReplyError("Invalid arguments specified for command")
    return spec, keys


@command("command|getkeys", -4, "loading stale", group="server", since="2.8.13",
         summary="Extracts the key names from an arbitrary command.",
         complexity="O(N) where N is the number of arguments to the command",
         acl=("@slow", "@connection"))
def command_getkeys(c: ClientState, argv: list[bytes]) -> Any:
    return _keys_for(argv)[1]


@command("command|getkeysandflags", -4, "loading stale", group="server", since="7.0.0",
         summary="Extracts the key names and access flags for an arbitrary command.",
         complexity="O(N) where N is the number of arguments to the command",
         acl=("@slow", "@connection"))
def command_getkeysandflags(c: ClientState, argv: list[bytes]) -> Any:
    spec, keys = _keys_for(argv)
    flags = ["RW", "update"] if "write" in spec.flags else ["RO", "access"]
    return _raw([[k, _Set(flags)] for k in keys], c.resp)


_COMMAND_HELP: Final = help_reply("COMMAND", (
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
))


@command("command|help", 2, "loading stale", group="server", since="5.0.0",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)",
         acl=("@slow", "@connection"))
def command_help(c: ClientState, argv: list[bytes]) -> Any:
    return _COMMAND_HELP


# Bare COMMAND: the container runs this when dispatch lets a container with a handler run
# without a subcommand (redis-server's COMMAND has arity -1).
_container = COMMANDS["command"]
_container.handler = command_all
_container.arity = -1
_container.flags = frozenset({"loading", "stale"})
_container.summary = "Returns detailed information about all commands."
_container.since = "2.8.13"
_container.complexity = "O(N) where N is the total number of Redis commands"
