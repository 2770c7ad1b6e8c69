"""Transactions: MULTI EXEC DISCARD WATCH UNWATCH (redis-server 7's multi.c).

Queueing itself happens in dispatch: inside MULTI every command without the
``multi_ok`` flag is appended to ``c.multi`` and answered QUEUED, and a command rejected
while queueing (unknown, wrong arity ...) sets ``c.dirty_exec``. EXEC then runs the queue
through the same resolve + call path as a live command, so stats, slowlog and errors
behave identically; a command failing at EXEC time becomes an error element and the
rest still run (Redis has no rollback).

WATCH registers one callback per client in ``keyspace.watched[(db, key)]``; any change
to the key (set, delete, in-place modification, flush, expiry) runs it and marks the
client ``dirty_cas``, so EXEC answers null. A watched key whose TTL runs out before EXEC
also aborts it, even if nobody touched it (Redis 7: isWatchedKeyExpired).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import ExecAbortError, ReplyError
from ..protocol import NULL_ARRAY, OK
from ..store import now_ms
from ._acl_check import denied_in_exec
from ._client import BLOCKED
from ._dispatch import call, count_error, resolve
from ._spec import command

if TYPE_CHECKING:
    from ._client import ClientState
    from ._server_state import ServerState

_HOOKED: Final[weakref.WeakSet[ServerState]] = weakref.WeakSet()
# Client -> its WATCH callback: one per client, reused for every key it watches, so
# unwatching can find it in each key's callback set. Dropped when the client goes.
_MARKS: Final[dict[ClientState, Callable[[], None]]] = {}
_MULTI_NESTED: Final = "MULTI calls can not be nested"
_EXEC_WITHOUT: Final = "EXEC without MULTI"
_DISCARD_WITHOUT: Final = "DISCARD without MULTI"
_WATCH_IN_MULTI: Final = "WATCH inside MULTI is not allowed"


def _g(**kw: Any) -> dict[str, Any]:
    return {"group": "transactions", **kw}


def _hook(server: ServerState) -> None:
    """Forget a client's WATCHes on disconnect and RESET (once per server, on first use)."""
    if server not in _HOOKED:
        _HOOKED.add(server)
        server.on_client_gone.append(_client_gone)
        server.on_client_reset.append(unwatch_all)


def _client_gone(c: ClientState) -> None:
    unwatch_all(c)
    c.unwatch = None
    _MARKS.pop(c, None)


def unwatch_all(c: ClientState) -> None:
    """Drop every WATCH of ``c`` and clear its dirty-CAS mark."""
    if c.unwatch is not None:
        c.unwatch()
    c.dirty_cas = False


def _discard(c: ClientState) -> None:
    c.multi = None
    c.dirty_exec = False
    unwatch_all(c)


@command("multi", 1, "noscript loading stale fast allow_busy multi_ok",
         **_g(summary="Starts a transaction.", since="1.2.0"))
def multi(c: ClientState, argv: list[bytes]) -> Any:
    if c.multi is not None:
        raise ReplyError(_MULTI_NESTED)
    c.multi = []
    return OK


@command("discard", 1, "noscript loading stale fast allow_busy multi_ok",
         **_g(summary="Discards a transaction.", since="2.0.0"))
def discard(c: ClientState, argv: list[bytes]) -> Any:
    if c.multi is None:
        raise ReplyError(_DISCARD_WITHOUT)
    _discard(c)
    return OK


def _watched_key_expired(c: ClientState) -> bool:
    """A watched key whose deadline has passed, though not yet deleted by anyone."""
    watched = c.watched
    if not watched:
        return False
    dbs = c.server.keyspace.dbs
    now = now_ms()
    for db_id, key in watched:
        expires = dbs[db_id].expires
        if expires:
            deadline = expires.get(key)
            if deadline is not None and deadline <= now:
                return True
    return False


@command("exec", 1, "noscript loading stale skip_slowlog multi_ok",
         **_g(summary="Executes all commands in a transaction.", since="1.2.0"))
def exec_(c: ClientState, argv: list[bytes]) -> Any:
    queued = c.multi
    if queued is None:
        raise ReplyError(_EXEC_WITHOUT)
    if c.dirty_exec:
        _discard(c)
        raise ExecAbortError()
    if c.dirty_cas or _watched_key_expired(c):
        _discard(c)
        return NULL_ARRAY
    # Unwatch first, as redis-server does: the transaction's own writes must not count.
    _discard(c)
    replies: list[Any] = []
    c.in_exec = True
    try:
        for cmd in queued:
            spec = resolve(cmd)
            if isinstance(spec, ReplyError):  # queued commands were resolved once already
                replies.append(spec)
                continue
            # ACL rules are checked again: they may have changed since the command was
            # queued (redis-server 7's execCommand).
            denied = denied_in_exec(c, spec, cmd)
            if denied is not None:
                count_error(c.server, denied)
                replies.append(denied)
                continue
            reply = call(c, spec, cmd)
            # Blocking commands do not block inside a transaction; one that still
            # returned BLOCKED is answered like a timeout.
            replies.append(None if reply is BLOCKED else reply)
    finally:
        c.in_exec = False
        if c.server.aof is not None:
            c.server.aof.exec_done(c)
    return replies


@command("watch", -2, "noscript loading stale fast allow_busy multi_ok", keys=(1, -1, 1),
         **_g(summary="Monitors changes to keys to determine the execution of a "
                      "transaction.", since="2.2.0"))
def watch(c: ClientState, argv: list[bytes]) -> Any:
    if c.multi is not None:
        raise ReplyError(_WATCH_IN_MULTI)
    db = c.db
    watched_map = c.server.keyspace.watched
    watched = c.watched
    if watched is None or c.unwatch is None:
        _hook(c.server)
        watched = c.watched = set()

        def mark() -> None:
            c.dirty_cas = True

        def unwatch() -> None:
            for wkey in watched:
                callbacks = watched_map.get(wkey)
                if callbacks is not None:
                    callbacks.discard(mark)
                    if not callbacks:
                        del watched_map[wkey]
            watched.clear()

        c.unwatch = unwatch
        _MARKS[c] = mark
    mark_cb = _MARKS[c]
    for key in argv[1:]:
        wkey = (db.id, key)
        if wkey in watched:
            continue
        # Expire the key now if its time is up, so only a TTL that runs out after WATCH
        # aborts EXEC (redis-server records "already expired at WATCH time" instead).
        db.lookup(key)
        watched.add(wkey)
        callbacks = watched_map.get(wkey)
        if callbacks is None:
            callbacks = watched_map[wkey] = set()
        callbacks.add(mark_cb)
    return OK


@command("unwatch", 1, "noscript loading stale fast allow_busy",
         **_g(summary="Forgets about watched keys of a transaction.", since="2.2.0"))
def unwatch(c: ClientState, argv: list[bytes]) -> Any:
    unwatch_all(c)
    return OK

