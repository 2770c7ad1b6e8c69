"""Commands are data: one CommandSpec per command, collected into one table.

Arity follows redis-server's convention: the command name counts, a negative arity
means "at least". Key positions (first, last, step) are 1-based like COMMAND INFO's;
last = -1 means the last argument. Container commands (CLIENT, CONFIG, ...) hold their
subcommands as specs named ``container|sub`` (Redis 7's full names), so arity errors read
``wrong number of arguments for 'client|setname' command`` exactly as in redis-server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .. import histogram

if TYPE_CHECKING:
    from ._client import ClientState

__all__ = [
    "COMMANDS",
    "FLAGS",
    "CommandSpec",
    "CommandStats",
    "Handler",
    "command",
    "lookup",
]

Handler = Callable[["ClientState", list[bytes]], Any]

# The flags a spec may carry, with what dispatch does with them.
FLAGS: Final = frozenset(
    {
        "write",  # changes data (blocked under MULTI errors, OOM later, AOF later)
        "readonly",
        "denyoom",
        "admin",
        "pubsub",
        "noscript",
        "fast",
        "no_auth",  # runs before AUTH (AUTH, HELLO, QUIT, RESET)
        "blocking",
        "loading",
        "stale",
        "skip_monitor",
        "skip_slowlog",
        "no_multi",  # refused inside MULTI
        "allow_busy",
        "subscribe_ok",  # allowed in RESP2 subscribe mode
        "multi_ok",  # executed (not queued) inside MULTI: EXEC, DISCARD, MULTI, WATCH ...
        "sentinel",
        "movablekeys",
    }
)


# Commands with any of these flags take dispatch's general path (see fast_path).
_GATE_FLAGS: Final = frozenset(
    {"no_auth", "multi_ok", "no_multi", "blocking", "pubsub", "admin"}
)


@dataclass(slots=True)
class CommandStats:
    """INFO commandstats for one command (mutated on the loop thread only).

    Time accumulates in integer nanoseconds on the hot path; ``usec`` converts.
    """

    calls: int = 0
    nsec: int = 0
    rejected_calls: int = 0
    failed_calls: int = 0
    # Latency histogram (tensorserve.histogram): index ns.bit_length(), one increment.
    hist: list[int] = field(default_factory=histogram.new)

    @property
    def usec(self) -> int:
        return self.nsec // 1000

    def reset(self) -> None:
        self.calls = self.nsec = self.rejected_calls = self.failed_calls = 0
        self.hist = histogram.new()


@dataclass(slots=True, eq=False)
class CommandSpec:
    name: str  # lower case; 'container|sub' for subcommands
    arity: int
    flags: frozenset[str]
    handler: Handler | None
    first_key: int = 0
    last_key: int = 0
    step: int = 0
    group: str = "generic"
    summary: str = ""
    since: str = "1.0.0"
    complexity: str = ""
    acl_categories: tuple[str, ...] = ()
    subcommands: dict[bytes, CommandSpec] | None = None
    # Custom key extraction for movable-key commands (COMMAND GETKEYS): argv -> keys.
    get_keys: Callable[[list[bytes]], list[bytes]] | None = None
    stats: CommandStats = field(default_factory=CommandStats)
    # Precomputed from flags so dispatch tests a bool, not a set.
    no_auth: bool = False
    multi_ok: bool = False
    subscribe_ok: bool = False
    no_multi: bool = False
    is_write: bool = False
    skip_monitor: bool = False
    skip_slowlog: bool = False
    # May run on dispatch's inlined fast path: the command never blocks, closes the
    # connection, answers NO_REPLY or changes what dispatch gates on (auth, MULTI,
    # subscriptions, MONITOR, reply mode). Derived from the flags that mark those.
    fast_path: bool = False
    # Argument counts (name included) that pass the arity check: `len(argv) in argc`.
    argc: range = range(0)

    def __post_init__(self) -> None:
        unknown = self.flags - FLAGS
        if unknown:
            raise ValueError(f"{self.name}: unknown flags {sorted(unknown)}")
        self.no_auth = "no_auth" in self.flags
        self.multi_ok = "multi_ok" in self.flags
        self.subscribe_ok = "subscribe_ok" in self.flags
        self.no_multi = "no_multi" in self.flags
        self.is_write = "write" in self.flags
        # redis-server feeds MONITOR neither these nor admin commands (CONFIG, DEBUG...).
        self.skip_monitor = bool(self.flags & {"skip_monitor", "admin"})
        self.skip_slowlog = "skip_slowlog" in self.flags
        self.fast_path = self.handler is not None and not (self.flags & _GATE_FLAGS)
        self.argc = (
            range(self.arity, self.arity + 1) if self.arity > 0 else range(-self.arity, 1 << 31)
        )

    @property
    def container(self) -> str | None:
        return self.name.split("|", 1)[0] if "|" in self.name else None

    def keys(self, argv: list[bytes]) -> list[bytes]:
        """The key arguments of ``argv`` (COMMAND GETKEYS, WATCH-style tools)."""
        if self.get_keys is not None:
            return self.get_keys(argv)
        if self.first_key <= 0:
            return []
        last = self.last_key if self.last_key >= 0 else len(argv) + self.last_key
        return argv[self.first_key : last + 1 : max(self.step, 1)]


# name (lower-case str) -> spec; filled by the @command decorators at import time.
COMMANDS: Final[dict[str, CommandSpec]] = {}


def command(
    name: str,
    arity: int,
    flags: str | Iterable[str] = (),
    *,
    keys: tuple[int, int, int] = (0, 0, 0),
    group: str = "generic",
    summary: str = "",
    since: str = "1.0.0",
    complexity: str = "",
    acl: Iterable[str] = (),
    get_keys: Callable[[list[bytes]], list[bytes]] | None = None,
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as command ``name`` (``'client|setname'`` for a subcommand).

    A container's own spec (``client``) is created on first use with arity -2 and no
    handler; dispatch resolves its subcommands.
    """
    flag_set = frozenset(flags.split() if isinstance(flags, str) else flags)

    def register(handler: Handler) -> Handler:
        spec = CommandSpec(
            name=name.lower(),
            arity=arity,
            flags=flag_set,
            handler=handler,
            first_key=keys[0],
            last_key=keys[1],
            step=keys[2],
            group=group,
            summary=summary,
            since=since,
            complexity=complexity,
            acl_categories=tuple(acl),
            get_keys=get_keys,
        )
        if "|" in spec.name:
            spec.fast_path = False  # containers resolve subcommands on the general path
            parent_name, sub = spec.name.split("|", 1)
            parent = COMMANDS.get(parent_name)
            if parent is None:
                parent = COMMANDS[parent_name] = CommandSpec(
                    name=parent_name, arity=-2, flags=flag_set, handler=None, group=group
                )
                parent.subcommands = {}
            assert parent.subcommands is not None, f"{parent_name} is not a container"
            if sub.encode() in parent.subcommands:
                raise ValueError(f"command {spec.name} registered twice")
            parent.subcommands[sub.encode()] = spec
            # A container inherits the weakest gates of its subcommands (HELP runs anywhere).
            parent.no_auth = parent.no_auth and spec.no_auth
        else:
            if spec.name in COMMANDS:
                raise ValueError(f"command {spec.name} registered twice")
            COMMANDS[spec.name] = spec
        return handler

    return register


def lookup(name: bytes) -> CommandSpec | None:
    return COMMANDS.get(name.decode("latin-1").lower())
