"""Pub/Sub: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH, PUBSUB ...

Registries: ``server.channels`` / ``server.patterns`` map a channel / pattern to its
subscribers (a dict used as an insertion-ordered set, so delivery order is subscription
order); each client keeps its own ``c.channels`` / ``c.patterns`` sets, None until its
first subscription (dispatch's RESP2 subscribe-mode gate tests them). Sharded channels
(SSUBSCRIBE, Redis 7) live in their own registry: on a single node they behave like
plain channels but keep their own message kinds (``ssubscribe``, ``smessage`` ...) and
subscription counts, as redis-server does.

Subscription replies are one top-level push per channel (``Replies`` of ``Push``);
messages go out at once through ``subscriber.send``. Counts in replies are the client's
channels plus patterns (shard channels are counted apart), as in redis-server 7.0.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import ReplyError
from ..protocol import Push, Replies
from ._glob import compile_glob
from ._spec import command

if TYPE_CHECKING:
    from ._client import ClientState
    from ._server_state import ServerState

_SUBSCRIBE: Final = b"subscribe"
_UNSUBSCRIBE: Final = b"unsubscribe"
_PSUBSCRIBE: Final = b"psubscribe"
_PUNSUBSCRIBE: Final = b"punsubscribe"
_SSUBSCRIBE: Final = b"ssubscribe"
_SUNSUBSCRIBE: Final = b"sunsubscribe"
_MESSAGE: Final = b"message"
_PMESSAGE: Final = b"pmessage"
_SMESSAGE: Final = b"smessage"

# channel / pattern -> its subscribers, in subscription order.
_Registry = dict[bytes, dict["ClientState", None]]

# Sharded channels are kept apart from the plain ones: server.shard_channels (channel ->
# subscribers) and, per client, c.shards.
_HOOKED: Final[weakref.WeakSet[ServerState]] = weakref.WeakSet()


def _g(**kw: Any) -> dict[str, Any]:
    return {"group": "pubsub", **kw}


def _hook(server: ServerState) -> None:
    """Clean-up on disconnect and RESET, registered once per server on first use."""
    if server not in _HOOKED:
        _HOOKED.add(server)
        server.on_client_gone.append(unsubscribe_all)
        server.on_client_reset.append(unsubscribe_all)


def shard_subscriptions(c: ClientState) -> int:
    """Number of shard channels ``c`` is subscribed to (CLIENT LIST ``ssub=``)."""
    return len(c.shards or ())


def _count(c: ClientState) -> int:
    return len(c.channels or ()) + len(c.patterns or ())


def _enter(c: ClientState) -> tuple[set[bytes], set[bytes]]:
    """The client's subscription sets, created on its first subscription."""
    channels = c.channels
    patterns = c.patterns
    if channels is None or patterns is None:
        _hook(c.server)
        channels = c.channels = channels if channels is not None else set()
        patterns = c.patterns = patterns if patterns is not None else set()
    return channels, patterns


def _drop(registry: _Registry, name: bytes, c: ClientState) -> None:
    subs = registry.get(name)
    if subs is not None:
        subs.pop(c, None)
        if not subs:
            del registry[name]


def unsubscribe_all(c: ClientState) -> None:
    """Drop every subscription of ``c`` without notifying it (disconnect, RESET)."""
    server = c.server
    if c.channels:
        for ch in c.channels:
            _drop(server.channels, ch, c)
        c.channels.clear()
    if c.patterns:
        for pat in c.patterns:
            _drop(server.patterns, pat, c)
        c.patterns.clear()
    shards, c.shards = c.shards, None
    if shards:
        for ch in shards:
            _drop(server.shard_channels, ch, c)


def _join(
    c: ClientState, names: list[bytes], mine: set[bytes], registry: _Registry, kind: bytes,
    count: Callable[[], int],
) -> Replies:
    """(P|S)SUBSCRIBE: one confirmation per name, with the client's count after it."""
    out = Replies()
    for name in names:
        if name not in mine:
            mine.add(name)
            registry.setdefault(name, {})[c] = None
        out.append(Push([kind, name, count()]))
    return out


def _leave(
    c: ClientState, argv: list[bytes], mine: set[bytes], registry: _Registry, kind: bytes,
    count: Callable[[], int],
) -> Replies:
    """(P|S)UNSUBSCRIBE: the names given, or all of them; one reply even when none."""
    out = Replies()
    for name in argv[1:] if len(argv) > 1 else list(mine):
        if name in mine:
            mine.discard(name)
            _drop(registry, name, c)
        out.append(Push([kind, name, count()]))
    if not out:
        out.append(Push([kind, None, count()]))
    return out


# -- channels and patterns ------------------------------------------------------------------
@command("subscribe", -2, "pubsub noscript loading stale subscribe_ok",
         **_g(summary="Listens for messages published to channels.", since="2.0.0"))
def subscribe(c: ClientState, argv: list[bytes]) -> Any:
    channels, _ = _enter(c)
    return _join(c, argv[1:], channels, c.server.channels, _SUBSCRIBE, lambda: _count(c))


@command("unsubscribe", -1, "pubsub noscript loading stale subscribe_ok",
         **_g(summary="Stops listening to messages posted to channels.", since="2.0.0"))
def unsubscribe(c: ClientState, argv: list[bytes]) -> Any:
    return _leave(c, argv, c.channels or set(), c.server.channels, _UNSUBSCRIBE,
                  lambda: _count(c))


@command("psubscribe", -2, "pubsub noscript loading stale subscribe_ok",
         **_g(summary="Listens for messages published to channels that match one or more "
                      "patterns.", since="2.0.0"))
def psubscribe(c: ClientState, argv: list[bytes]) -> Any:
    _, patterns = _enter(c)
    return _join(c, argv[1:], patterns, c.server.patterns, _PSUBSCRIBE, lambda: _count(c))


@command("punsubscribe", -1, "pubsub noscript loading stale subscribe_ok",
         **_g(summary="Stops listening to messages published to channels that match one or "
                      "more patterns.", since="2.0.0"))
def punsubscribe(c: ClientState, argv: list[bytes]) -> Any:
    return _leave(c, argv, c.patterns or set(), c.server.patterns, _PUNSUBSCRIBE,
                  lambda: _count(c))


@command("publish", 3, "pubsub loading stale fast", keys=(0, 0, 0),
         **_g(summary="Posts a message to a channel.", since="2.0.0"))
def publish(c: ClientState, argv: list[bytes]) -> Any:
    server = c.server
    channel = argv[1]
    data = argv[2]
    receivers = 0
    subs = server.channels.get(channel)
    if subs:
        msg = Push([_MESSAGE, channel, data])
        # list(): a subscriber's send may close it, and closing unsubscribes it.
        targets = list(subs)
        receivers += len(targets)
        for sub in targets:
            sub.send(msg)
    if server.patterns:
        for pat, psubs in list(server.patterns.items()):
            if compile_glob(pat)(channel):
                msg = Push([_PMESSAGE, pat, channel, data])
                targets = list(psubs)
                receivers += len(targets)
                for sub in targets:
                    sub.send(msg)
    return receivers


# -- sharded channels (one node: every slot is ours) --------------------------------------------
@command("ssubscribe", -2, "pubsub noscript loading stale subscribe_ok", keys=(1, -1, 1),
         **_g(summary="Listens for messages published to shard channels.", since="7.0.0"))
def ssubscribe(c: ClientState, argv: list[bytes]) -> Any:
    _enter(c)
    mine = c.shards
    if mine is None:
        mine = c.shards = set()
    return _join(c, argv[1:], mine, c.server.shard_channels, _SSUBSCRIBE, mine.__len__)


@command("sunsubscribe", -1, "pubsub noscript loading stale subscribe_ok", keys=(1, -1, 1),
         **_g(summary="Stops listening to messages posted to shard channels.", since="7.0.0"))
def sunsubscribe(c: ClientState, argv: list[bytes]) -> Any:
    mine = c.shards or set()
    out = _leave(c, argv, mine, c.server.shard_channels, _SUNSUBSCRIBE, mine.__len__)
    if not mine:
        c.shards = None
    return out


@command("spublish", 3, "pubsub loading stale fast", keys=(1, 1, 1),
         **_g(summary="Post a message to a shard channel", since="7.0.0"))
def spublish(c: ClientState, argv: list[bytes]) -> Any:
    subs = c.server.shard_channels.get(argv[1])
    if not subs:
        return 0
    msg = Push([_SMESSAGE, argv[1], argv[2]])
    targets = list(subs)
    for sub in targets:
        sub.send(msg)
    return len(targets)


# -- introspection ------------------------------------------------------------------------------
def _channel_list(registry: _Registry, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        sub = argv[1].decode("utf-8", "replace")
        raise ReplyError(
            f"unknown subcommand or wrong number of arguments for '{sub}'. Try PUBSUB HELP."
        )
    if len(argv) == 3:
        match = compile_glob(argv[2])
        return [ch for ch in registry if match(ch)]
    return list(registry)


def _numsub(registry: _Registry, argv: list[bytes]) -> Any:
    # A flat [channel, count, ...] array in both protocols, as redis-server replies.
    out: list[Any] = []
    for ch in argv[2:]:
        out.append(ch)
        out.append(len(registry.get(ch) or ()))
    return out


@command("pubsub|channels", -2, "pubsub loading stale",
         **_g(summary="Returns the active channels.", since="2.8.0"))
def pubsub_channels(c: ClientState, argv: list[bytes]) -> Any:
    return _channel_list(c.server.channels, argv)


@command("pubsub|numsub", -2, "pubsub loading stale",
         **_g(summary="Returns a count of subscribers to channels.", since="2.8.0"))
def pubsub_numsub(c: ClientState, argv: list[bytes]) -> Any:
    return _numsub(c.server.channels, argv)


@command("pubsub|numpat", 2, "pubsub loading stale",
         **_g(summary="Returns a count of unique pattern subscriptions.", since="2.8.0"))
def pubsub_numpat(c: ClientState, argv: list[bytes]) -> Any:
    return len(c.server.patterns)


@command("pubsub|shardchannels", -2, "pubsub loading stale",
         **_g(summary="Returns the active shard channels.", since="7.0.0"))
def pubsub_shardchannels(c: ClientState, argv: list[bytes]) -> Any:
    return _channel_list(c.server.shard_channels, argv)


@command("pubsub|shardnumsub", -2, "pubsub loading stale",
         **_g(summary="Returns the count of subscribers of shard channels.", since="7.0.0"))
def pubsub_shardnumsub(c: ClientState, argv: list[bytes]) -> Any:
    return _numsub(c.server.shard_channels, argv)


_HELP: Final = [
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Prints this help.",
]


@command("pubsub|help", 2, "loading stale",
         **_g(summary="Returns helpful text about the different subcommands.", since="6.2.0"))
def pubsub_help(c: ClientState, argv: list[bytes]) -> Any:
    return _HELP
