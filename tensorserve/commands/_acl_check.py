"""ACL permission checks: may this user run this command on these keys and channels?

Dispatch calls :func:`denied` on its general path only, for a client whose user is not
``unrestricted`` (the default user with its default rules never gets here, and the
inlined fast path is closed to users without every command and key: see
``_dispatch._gates_open``). The order is acl.c's ACLSelectorCheckCmd: the command (or
its first argument), then each key with the read/write access its position needs
(redis-server's key-spec flags: ACCESS needs read, INSERT / UPDATE / DELETE need write,
so ``%W~`` patterns allow LPUSH but not LPOP), then channels (PUBLISH, [S|P]SUBSCRIBE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..errors import NoPermError, ReplyError
from ._acl import READ, WRITE, User

if TYPE_CHECKING:
    from ._client import ClientState
    from ._spec import CommandSpec

__all__ = ["check", "denial_text", "denied", "denied_in_exec", "key_access", "redact"]

_RW: Final = READ | WRITE
# Key access by position where it is not the default (read-only commands: READ; the
# others: READ | WRITE): (first key, other keys), from redis-server 7's key specs
# (COMMAND INFO). 0 means "mentioned" (RO without ACCESS: any matching pattern will do).
_KEY_FLAGS: Final[dict[str, tuple[int, int]]] = {
    "restore": (WRITE, WRITE), "memory|usage": (0, 0), "hset": (WRITE, WRITE),
    "hmset": (WRITE, WRITE), "hsetnx": (WRITE, WRITE), "hdel": (WRITE, WRITE),
    "hexists": (0, 0), "hlen": (0, 0), "hstrlen": (0, 0), "del": (WRITE, WRITE),
    "unlink": (WRITE, WRITE), "exists": (0, 0), "touch": (0, 0), "type": (0, 0),
    "rename": (_RW, WRITE), "renamenx": (_RW, WRITE), "copy": (READ, WRITE),
    "expire": (WRITE, WRITE), "pexpire": (WRITE, WRITE), "expireat": (WRITE, WRITE),
    "pexpireat": (WRITE, WRITE), "persist": (WRITE, WRITE), "object|encoding": (0, 0),
    "object|freq": (0, 0), "object|idletime": (0, 0), "object|refcount": (0, 0),
    "lpush": (WRITE, WRITE), "rpush": (WRITE, WRITE), "lpushx": (WRITE, WRITE),
    "rpushx": (WRITE, WRITE), "llen": (0, 0), "lset": (WRITE, WRITE),
    "lrem": (WRITE, WRITE), "ltrim": (WRITE, WRITE), "linsert": (WRITE, WRITE),
    "lmove": (_RW, WRITE), "rpoplpush": (_RW, WRITE), "blmove": (_RW, WRITE),
    "brpoplpush": (_RW, WRITE), "sadd": (WRITE, WRITE), "srem": (WRITE, WRITE),
    "sismember": (0, 0), "scard": (0, 0), "smove": (_RW, WRITE),
    "sinterstore": (WRITE, READ), "sunionstore": (WRITE, READ),
    "sdiffstore": (WRITE, READ), "setnx": (WRITE, WRITE), "setex": (WRITE, WRITE),
    "psetex": (WRITE, WRITE), "mset": (WRITE, WRITE), "msetnx": (WRITE, WRITE),
    "append": (WRITE, WRITE), "strlen": (0, 0), "setrange": (WRITE, WRITE),
    "watch": (0, 0), "zadd": (WRITE, WRITE), "zrem": (WRITE, WRITE), "zcard": (0, 0),
    "zrangestore": (WRITE, READ), "zremrangebyrank": (WRITE, WRITE),
    "zremrangebyscore": (WRITE, WRITE), "zremrangebylex": (WRITE, WRITE),
    "zunionstore": (WRITE, READ), "zinterstore": (WRITE, READ),
    "zdiffstore": (WRITE, READ),
    # AI.*: storing a tensor, model or script overwrites the key (like SET); deleting
    # one writes it.
    "ai.tensorset": (WRITE, WRITE), "ai.modelstore": (WRITE, WRITE),
    "ai.modelset": (WRITE, WRITE), "ai.scriptstore": (WRITE, WRITE),
    "ai.scriptset": (WRITE, WRITE), "ai.modeldel": (WRITE, WRITE),
    "ai.scriptdel": (WRITE, WRITE),
}

# Channel arguments: command -> (first index, all the rest?, PSUBSCRIBE-style patterns?).
_CHANNELS: Final[dict[str, tuple[bool, bool]]] = {
    "publish": (False, False), "spublish": (False, False),
    "subscribe": (True, False), "ssubscribe": (True, False),
    "psubscribe": (True, True),
}

KeyAccess = list[tuple[bytes, int]]


def _upper(arg: bytes) -> bytes:
    return arg.upper() if len(arg) <= 20 else b""


def _count(argv: list[bytes], pos: int) -> int:
    arg = argv[pos] if pos < len(argv) else b""
    return int(arg) if arg.isdigit() else 0


def _model_execute(argv: list[bytes]) -> KeyAccess:
    """AI.MODELEXECUTE model INPUTS n in... OUTPUTS m out...: model and inputs are read,
    outputs written."""
    out: KeyAccess = [(argv[1], READ)] if len(argv) > 1 else []
    n = _count(argv, 3)
    out += [(k, READ) for k in argv[4:4 + n]]
    m = _count(argv, 5 + n)
    out += [(k, WRITE) for k in argv[6 + n:6 + n + m]]
    return out


def _model_run(argv: list[bytes]) -> KeyAccess:
    """AI.MODELRUN model INPUTS a b OUTPUTS c: names between the keywords."""
    out: KeyAccess = [(argv[1], READ)] if len(argv) > 1 else []
    flags = READ
    for arg in argv[2:]:
        word = _upper(arg)
        if word == b"INPUTS":
            flags = READ
        elif word == b"OUTPUTS":
            flags = WRITE
        else:
            out.append((arg, flags))
    return out


def _script_run(argv: list[bytes]) -> KeyAccess:
    """AI.SCRIPTEXECUTE / AI.SCRIPTRUN: the script and INPUTS are read, OUTPUTS written;
    KEYS may be read and written (the script's redis.execute calls are checked too)."""
    from .script import parse_scriptexecute, parse_scriptrun

    out: KeyAccess = [(argv[1], READ)] if len(argv) > 1 else []
    if len(argv) < 3:
        return out
    try:
        if argv[0].lower() == b"ai.scriptrun":
            call = parse_scriptrun(argv)
        else:
            call = parse_scriptexecute(argv)
    except ReplyError:
        return out  # the command fails on the same parse, touching nothing
    out += [(k, _RW) for k in call.keys]
    out += [(k, READ) for k in call.inputs]
    out += [(k, WRITE) for k in call.outputs]
    return out


def _dag(argv: list[bytes]) -> KeyAccess:
    """AI.DAGEXECUTE(_RO) / AI.DAGRUN(_RO): dag.py's parse, shared with COMMAND GETKEYS
    (imported late: dag.py imports dispatch, which imports this module)."""
    from .dag import dag_key_access

    return dag_key_access(argv)


def _set(argv: list[bytes]) -> KeyAccess:
    """SET writes its key; with GET it reads it too (redis-server's setGetKeys)."""
    get = any(_upper(a) == b"GET" for a in argv[3:])
    return [(argv[1], _RW if get else WRITE)]


_KEY_FUNCS: Final[dict[str, Callable[[list[bytes]], KeyAccess]]] = {
    "set": _set,
    "ai.modelexecute": _model_execute,
    "ai.modelrun": _model_run,
    "ai.scriptexecute": _script_run,
    "ai.scriptrun": _script_run,
    "ai.dagexecute": _dag,
    "ai.dagexecute_ro": _dag,
    "ai.dagrun": _dag,
    "ai.dagrun_ro": _dag,
}


def key_access(spec: CommandSpec, argv: list[bytes]) -> KeyAccess:
    """Each key ``argv`` names, with the access (READ / WRITE bits) it needs."""
    fn = _KEY_FUNCS.get(spec.name)
    if fn is not None:
        return fn(argv)
    if "pubsub" in spec.flags:
        return []  # SSUBSCRIBE's "keys" are channels (checked as channels)
    try:
        keys = spec.keys(argv)
    except (IndexError, ValueError):
        return []
    if not keys:
        return []
    flags = _KEY_FLAGS.get(spec.name)
    if flags is None:
        default = READ if "readonly" in spec.flags else _RW
        return [(k, default) for k in keys]
    first, rest = flags
    return [(k, first if i == 0 else rest) for i, k in enumerate(keys)]


def check(user: User, spec: CommandSpec, argv: list[bytes]) -> tuple[str, bytes] | None:
    """The first reason ``user`` may not run ``argv`` (resolved to ``spec``):
    ("command", full name), ("key", key) or ("channel", channel); None when allowed."""
    if not user.may_run(spec, argv):
        return "command", spec.name.encode()
    if not user.allkeys:
        for key, flags in key_access(spec, argv):
            if not user.key_allowed(key, flags):
                return "key", key
    if not user.allchannels:
        channels = _CHANNELS.get(spec.name)
        if channels is not None:
            many, is_pattern = channels
            for channel in argv[1:] if many else argv[1:2]:
                if not user.channel_allowed(channel, is_pattern):
                    return "channel", channel
    return None


def denial_text(reason: str, user: User, spec: CommandSpec, obj: bytes,
                verbose: bool = False) -> str:
    """getAclErrorMessage: verbose for ACL DRYRUN, short for NOPERM errors."""
    if reason == "command":
        return f"User {user.name} has no permissions to run the '{spec.name}' command"
    what = obj.decode("utf-8", "surrogateescape")
    if verbose:
        return f"User {user.name} has no permissions to access the '{what}' {reason}"
    return f"No permissions to access a {reason}"


def denied(c: ClientState, spec: CommandSpec, argv: list[bytes],
           context: str | None = None) -> ReplyError | None:
    """The NOPERM error for ``c`` running ``argv``, logged in ACL LOG; None if allowed.
    ``context``: the log's (toplevel / multi / lua), from the client by default."""
    user = c.user
    result = check(user, spec, argv)
    if result is None:
        return None
    reason, obj = result
    if context is None:
        if getattr(c, "caller", None) is not None:
            context = "lua"
        else:
            context = "multi" if c.multi is not None else "toplevel"
    c.server.acl.add_log(c, reason, context, obj, cmd=spec.name)
    return NoPermError(denial_text(reason, user, spec, obj))


# EXEC's reasons when a queued command is no longer allowed (multi.c).
_EXEC_REASONS: Final = {
    "command": "no permission to execute the command or subcommand",
    "key": "no permission to touch the specified keys",
    "channel": "no permission to access one of the channels used as arguments",
}


def denied_in_exec(c: ClientState, spec: CommandSpec, argv: list[bytes]) -> ReplyError | None:
    """EXEC checks each queued command again: the rules may have changed since MULTI."""
    if c.user.unrestricted:
        return None
    result = check(c.user, spec, argv)
    if result is None:
        return None
    reason, obj = result
    c.server.acl.add_log(c, reason, "multi", obj, cmd=spec.name)
    return NoPermError(
        "ACLs rules changed between the moment the transaction was accumulated and the "
        "EXEC call. This command is no longer allowed for the following reason: "
        + _EXEC_REASONS[reason])


_REDACTED: Final = b"(redacted)"


def _redact_hello(argv: list[bytes]) -> list[bytes]:
    out = list(argv)
    for i in range(2, len(argv) - 2):
        if _upper(argv[i]) == b"AUTH":
            out[i + 1] = out[i + 2] = _REDACTED
    return out


def _redact_config_set(argv: list[bytes]) -> list[bytes]:
    out = list(argv)
    for i in range(2, len(argv) - 1, 2):
        if argv[i].lower() == b"requirepass":
            out[i + 1] = _REDACTED
    return out


# What redis-server redacts (redactClientCommandArgument) before the slow log and MONITOR.
_REDACT: Final[dict[str, Callable[[list[bytes]], list[bytes]]]] = {
    "auth": lambda argv: [argv[0], *(_REDACTED for _ in argv[1:])],
    "hello": _redact_hello,
    "acl|setuser": lambda argv: [*argv[:2], *(_REDACTED for _ in argv[2:])],
    "config|set": _redact_config_set,
}


def redact(spec: CommandSpec, argv: list[bytes]) -> list[bytes]:
    """``argv`` with passwords (and ACL SETUSER's rules) replaced by ``(redacted)``."""
    fn = _REDACT.get(spec.name)
    return argv if fn is None else fn(argv)
