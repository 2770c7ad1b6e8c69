"""Clients blocked on keys (BLPOP & co): a FIFO of waiters per (database, key).

The shape is redis-server's blocked.c: a handler that finds nothing to pop registers a
:class:`Waiter` on each of its keys, sets ``c.blocked_on`` and returns BLOCKED. A command
that makes a watched key non-empty calls :func:`signal` (push handlers do it on the
key-creation path; the keyspace ``on_modified`` hook covers the rest), which puts
(db, key) into ``server.ready_keys``; dispatch then calls ``server.serve_ready`` after
the command, and :func:`_serve_ready` hands elements to waiters in arrival order. The
element is popped when the waiter is served, so no element is ever lost or duplicated.

The registry is type-agnostic: a family subclasses :class:`Waiter` and implements
``try_serve`` (BZPOPMIN and friends can share it).
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from ..errors import TIMEOUT_NEGATIVE, ReplyError
from ._args import INT64_MAX, parse_timeout
from ._client import BLOCKED

if TYPE_CHECKING:
    import asyncio

    from ..store import Database
    from ._client import ClientState
    from ._server_state import ServerState

__all__ = [
    "WAITING",
    "Waiter",
    "block",
    "blocked_clients",
    "parse_block_timeout",
    "signal",
]

log = logging.getLogger("tensorserve.commands")

# (Database, key) -> waiters in arrival order (a dict as an ordered set: O(1) removal).
# Database objects hash by identity, so keys are unique across servers in one process.
# Push handlers test ``if WAITING:`` on their key-creation path only: the dict is
# mutated in place, never rebound, so importing the name is safe.
WAITING: Final[dict[tuple[Database, bytes], dict[Waiter, None]]] = {}

# Servers whose hooks (serve_ready, clean-up) are installed.
_SET_UP: Final[weakref.WeakSet[ServerState]] = weakref.WeakSet()
# Keyspace on_modified hooks installed while some waiter exists, per server.
_HOOKS: Final[weakref.WeakKeyDictionary[ServerState, Any]] = weakref.WeakKeyDictionary()

# Beyond this a timer is pointless (and uvloop rejects huge delays): block forever.
_MAX_TIMER_S: Final = 10**9


class Waiter:
    """One blocked command. Subclasses say how to serve it from a ready key."""

    __slots__ = ("client", "db", "keys", "timeout_reply", "timer")

    def __init__(self, client: ClientState, keys: Iterable[bytes], timeout_reply: Any) -> None:
        self.client = client
        self.db: Database = client.db
        # dict.fromkeys drops duplicates (BLPOP k k 0 waits once) and keeps order.
        self.keys = list(dict.fromkeys(keys))
        self.timer: asyncio.TimerHandle | None = None
        self.timeout_reply = timeout_reply  # what a timeout (or CLIENT UNBLOCK) answers

    def try_serve(self, key: bytes, value: Any) -> tuple[bool, Any]:
        """Serve from ``value`` (the live value at ``key``): (served?, reply)."""
        raise NotImplementedError

    def detach(self) -> None:
        """Forget this waiter everywhere (no reply): disconnect clean-up."""
        db = self.db
        for key in self.keys:
            waiters = WAITING.get((db, key))
            if waiters is not None:
                waiters.pop(self, None)
                if not waiters:
                    del WAITING[(db, key)]
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.client.blocked_on is self:
            self.client.blocked_on = None
        if not WAITING:
            _remove_hooks()

    def abort(self, reply: Any = None) -> None:
        """Stop waiting and answer ``reply``; None means the command's own timeout reply
        (CLIENT UNBLOCK id TIMEOUT cannot know whether that is a null array or bulk)."""
        self.detach()
        self.client.unblock(self.timeout_reply if reply is None else reply)

    def expire(self) -> None:
        """The timeout fired: answer the command's timeout reply."""
        self.timer = None
        self.abort(self.timeout_reply)


def parse_block_timeout(arg: bytes) -> float:
    """Timeout in seconds; 0 = forever. Like redis: under 1 ms also means forever."""
    seconds = parse_timeout(arg)
    ms = seconds * 1000.0
    if ms >= INT64_MAX:
        # redis-server 7.0 casts the overflowing product to a negative long long.
        raise ReplyError(TIMEOUT_NEGATIVE)
    return 0.0 if int(ms) == 0 else int(ms) / 1000.0


def block(c: ClientState, waiter: Waiter, timeout: float) -> Any:
    """Register ``waiter`` on its keys, arm its timer and return BLOCKED."""
    server = c.server
    if server not in _SET_UP:
        _set_up(server)
    db = waiter.db
    _add_hooks(server)
    for key in waiter.keys:
        waiters = WAITING.get((db, key))
        if waiters is None:
            waiters = WAITING[(db, key)] = {}
        waiters[waiter] = None
    if 0 < timeout < _MAX_TIMER_S and server.loop is not None:
        waiter.timer = server.loop.call_later(timeout, waiter.expire)
    c.blocked_on = waiter
    return BLOCKED


def signal(server: ServerState, db: Database, key: bytes) -> None:
    """``key`` may now hold data for its waiters: serve them after this command."""
    if (db, key) in WAITING:
        server.ready_keys[(db.id, key)] = None
        if server not in _SET_UP:
            _set_up(server)


def blocked_clients() -> int:
    """Number of clients blocked on keys (INFO clients: blocked_clients)."""
    return len({w for waiters in WAITING.values() for w in waiters})


def _serve_ready(server: ServerState) -> None:
    # Dispatch calls this after a command, never from inside EXEC (see dispatch.call).
    ready = server.ready_keys
    dbs = server.keyspace.dbs
    while ready:
        dbid, key = ready_key = next(iter(ready))
        del ready[ready_key]
        db = dbs[dbid]
        waiters = WAITING.get((db, key))
        # Serve in arrival order while the key still has something to give; a waiter
        # that cannot use the value (wrong type) keeps waiting.
        skipped = 0
        while waiters and len(waiters) > skipped:
            value = db.lookup(key)
            if not value:
                break
            waiter = list(waiters)[skipped] if skipped else next(iter(waiters))
            try:
                served, reply = waiter.try_serve(key, value)
            except Exception:
                # Never let a bug here escape into the pushing client's connection.
                log.exception("serving a client blocked on %r failed", key)
                served, reply = True, ReplyError("internal error")
            if not served:
                skipped += 1
                continue
            waiter.detach()
            if server.aof is not None:
                server.aof.feed_served(waiter.client, waiter.client.blocked_argv, reply)
            waiter.client.unblock(reply)


def _set_up(server: ServerState) -> None:
    _SET_UP.add(server)
    server.serve_ready = lambda: _serve_ready(server)
    server.on_client_gone.append(_client_gone)
    server.on_client_reset.append(_client_gone)


def _client_gone(c: ClientState) -> None:
    waiter = c.blocked_on
    if isinstance(waiter, Waiter):
        waiter.detach()


def _add_hooks(server: ServerState) -> None:
    # Only while someone waits: otherwise every HSET/SADD would pay for the call.
    if server in _HOOKS:
        return
    dbs = server.keyspace.dbs
    ready = server.ready_keys

    def on_modified(dbid: int, key: bytes) -> None:
        if (dbs[dbid], key) in WAITING:
            ready[(dbid, key)] = None

    _HOOKS[server] = on_modified
    server.keyspace.on_modified.append(on_modified)


def _remove_hooks() -> None:
    for server, hook in list(_HOOKS.items()):
        try:
            server.keyspace.on_modified.remove(hook)
        except ValueError:
            pass
    _HOOKS.clear()
