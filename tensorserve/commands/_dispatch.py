"""Dispatch: lookup -> arity -> gates -> handler; exceptions become replies here, once.

The order of checks is redis-server's processCommand: unknown command, arity, then
authentication, MULTI rules, RESP2 subscribe-mode rules, then execution (or queueing
inside MULTI). Every reply error raised below a handler is turned into an error reply
here; any other exception is logged with its traceback and answered with
``ERR internal error``, so no Python text reaches the wire and no connection drops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import (
    MisconfError,
    NoAuthError,
    ReplyError,
    arity_error,
    unknown_command,
    unknown_subcommand,
)
from ..protocol import QUEUED, Raw, encode
from ._acl_check import denied as acl_denied
from ._acl_check import redact
from ._client import BLOCKED, NO_REPLY, PAUSED
from ._evict import touching_spec
from ._server_state import SlowlogEntry
from ._spec import COMMANDS, CommandSpec

if TYPE_CHECKING:
    from ._client import ClientState
    from ._server_state import ServerState

__all__ = ["build_table", "call", "count_error", "execute", "reject", "resolve", "run_batch"]

log = logging.getLogger("tensorserve.commands")

_perf_ns = time.perf_counter_ns
# Name as sent (any case) -> spec. Filled lazily: the common spellings (lower and upper)
# up front, other spellings on first use, so lookup is one dict hit on the hot path.
_TABLE: Final[dict[bytes, CommandSpec]] = {}
_INTERNAL_ERROR: Final = "internal error"
_SLOWLOG_MAX_ARGC: Final = 32
_SLOWLOG_MAX_STRING: Final = 128


# The same, restricted to fast-path specs (see run_batch).
_FAST: Final[dict[bytes, CommandSpec]] = {}
_FAST_GET: Final = _FAST.get
# ... and as run under an LRU / LFU policy: their keys are touched first (_evict.py).
_FAST_TOUCHING: Final[dict[bytes, CommandSpec]] = {}


def build_table() -> None:
    _TABLE.clear()
    _FAST.clear()
    _FAST_TOUCHING.clear()
    for name, spec in COMMANDS.items():
        touching = touching_spec(spec) if spec.fast_path else None
        for spelling in (name.encode(), name.upper().encode()):
            _TABLE[spelling] = spec
            if touching is not None:
                _FAST[spelling] = spec
                _FAST_TOUCHING[spelling] = touching


def _find(name: bytes) -> CommandSpec | None:
    spec = _TABLE.get(name)
    if spec is None:
        spec = COMMANDS.get(name.decode("latin-1").lower())
        if spec is not None and len(_TABLE) < 4096:
            _TABLE[name] = spec
    return spec


def resolve(argv: list[bytes]) -> CommandSpec | ReplyError:
    """The spec that would run ``argv`` (a subcommand's for containers), or the error."""
    spec = _find(argv[0])
    if spec is None:
        return unknown_command(argv[0], argv[1:])
    n = len(argv)
    if spec.subcommands is not None and (n >= 2 or spec.handler is None):
        if n < 2:
            return arity_error(spec.name)
        sub = spec.subcommands.get(argv[1].lower())
        if sub is None:
            return unknown_subcommand(argv[1], spec.name)
        spec = sub
    ar = spec.arity
    if n != ar and (ar > 0 or n < -ar):
        return arity_error(spec.name)
    return spec


def _slowlog(c: ClientState, argv: list[bytes], spec: CommandSpec, usec: int) -> None:
    server = c.server
    argv = redact(spec, argv)  # no passwords in the slow log (AUTH, ACL SETUSER ...)
    args = list(argv[:_SLOWLOG_MAX_ARGC])
    if len(argv) > _SLOWLOG_MAX_ARGC:
        args[-1] = b"... (%d more arguments)" % (len(argv) - _SLOWLOG_MAX_ARGC + 1)
    for i, a in enumerate(args):
        if len(a) > _SLOWLOG_MAX_STRING:
            args[i] = a[:_SLOWLOG_MAX_STRING] + b"... (%d more bytes)" % (
                len(a) - _SLOWLOG_MAX_STRING
            )
    server.slowlog.appendleft(
        SlowlogEntry(
            server.slowlog_next_id, int(time.time()), usec, tuple(args), c.address, c.name
        )
    )
    server.slowlog_next_id += 1


def _monitor_line(c: ClientState, argv: list[bytes]) -> str:
    from ._format import repr_bytes

    args = " ".join(repr_bytes(a) for a in argv)
    return f"{time.time():.6f} [{c.db.id} {c.address}] {args}"


def _feed_monitors(c: ClientState, argv: list[bytes]) -> None:
    line = _monitor_line(c, argv)
    for m in list(c.server.monitors):
        if m is not c:
            m.send(line)


def reject(c: ClientState, err: ReplyError, spec: CommandSpec | None = None) -> ReplyError:
    """Count a refused command; inside MULTI it also dooms the transaction."""
    if spec is not None:
        spec.stats.rejected_calls += 1
    if c.multi is not None:
        c.dirty_exec = True
    count_error(c.server, err)
    return err


def count_error(server: ServerState, err: ReplyError) -> None:
    """total_error_replies and INFO errorstats (by error code)."""
    stats = server.stats
    stats.total_error_replies += 1
    stats.errorstats[err.code] = stats.errorstats.get(err.code, 0) + 1


def _held_by_pause(c: ClientState, spec: CommandSpec) -> bool:
    """CLIENT PAUSE [WRITE|ALL] holds commands until it ends; CLIENT itself still runs
    (so UNPAUSE can), as do commands inside EXEC (the transaction is already admitted)."""
    server = c.server
    if time.monotonic() >= server.pause_until:
        server.pause_until = 0.0
        return False
    if c.in_exec or spec.name.startswith("client|"):
        return False
    return server.pause_all or spec.is_write


def execute(c: ClientState, argv: list[bytes]) -> Any:
    """Run one command for client ``c`` and return its reply (or BLOCKED)."""
    spec = _TABLE.get(argv[0])
    if spec is None:
        spec = _find(argv[0])
        if spec is None:
            return reject(c, unknown_command(argv[0], argv[1:]))
    n = len(argv)
    if spec.subcommands is not None and (n >= 2 or spec.handler is None):
        if n < 2:
            return reject(c, arity_error(spec.name), spec)
        sub = spec.subcommands.get(argv[1].lower())
        if sub is None:
            return reject(c, unknown_subcommand(argv[1], spec.name), spec)
        spec = sub
    ar = spec.arity
    if n != ar and (ar > 0 or n < -ar):
        return reject(c, arity_error(spec.name), spec)
    if c.server.pause_until and _held_by_pause(c, spec):
        return PAUSED
    if not c.authenticated and not spec.no_auth:
        return reject(c, NoAuthError(), spec)
    if not c.user.unrestricted and not (c.multi is not None and spec.no_multi):
        err = acl_denied(c, spec, argv)  # NOPERM, logged (commands/_acl_check.py)
        if err is not None:
            return reject(c, err, spec)
    if c.server.memory_active:  # maxmemory: evict first, or OOM (commands/_evict.py)
        err = c.server.memory.admit(c, spec)
        if err is not None:
            return reject(c, err, spec)
    if spec.is_write and c.server.disk_error:
        err = _writes_stopped(c.server)
        if err is not None:
            return reject(c, err, spec)
    if c.multi is not None and not spec.multi_ok:
        if spec.no_multi:
            return reject(c, ReplyError("Command not allowed inside a transaction"), spec)
        c.multi.append(argv)
        return QUEUED
    if (c.channels or c.patterns or c.shards) and c.resp == 2 and not spec.subscribe_ok:
        return reject(
            c,
            ReplyError(
                f"Can't execute '{spec.name}': only (P|S)SUBSCRIBE / "
                "(P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ),
            spec,
        )
    c.server.current_client = c  # a script this starts runs as c's user
    return call(c, spec, argv)


def _failed(server: ServerState, spec: CommandSpec, e: ReplyError) -> ReplyError:
    spec.stats.failed_calls += 1
    count_error(server, e)
    return e


def _crashed(server: ServerState, spec: CommandSpec) -> ReplyError:
    log.exception("command %r failed", spec.name)
    spec.stats.failed_calls += 1
    err = ReplyError(_INTERNAL_ERROR)
    count_error(server, err)
    server.stats.unexpected_error_replies += 1
    return err


def call(c: ClientState, spec: CommandSpec, argv: list[bytes]) -> Any:
    """Run a resolved, permitted command (EXEC, scripts): stats, slowlog, monitors."""
    server = c.server
    aof = server.aof if spec.is_write else None
    if aof is not None:
        dirty = server.keyspace.dirty
    if server.memory_active:
        server.memory.touch(c, spec, argv)  # LRU / LFU: the keys it names are accessed
    t0 = _perf_ns()
    try:
        reply = spec.handler(c, argv)  # type: ignore[misc]
    except ReplyError as e:
        reply = _failed(server, spec, e)
    except Exception:
        reply = _crashed(server, spec)
    ns = _perf_ns() - t0
    if aof is not None:
        if reply is BLOCKED:
            c.blocked_argv = argv  # a blocking pop logs what it takes when served
        elif server.keyspace.dirty != dirty:
            aof.feed_command(c, spec, argv, reply)
    stats = spec.stats
    stats.calls += 1
    stats.nsec += ns
    stats.hist[ns.bit_length()] += 1
    c.last_cmd = spec.name
    if ns >= server.slowlog_ns >= 0 and not spec.skip_slowlog and reply is not BLOCKED:
        _slowlog(c, argv, spec, ns // 1000)
    if server.monitors and not spec.skip_monitor:
        _feed_monitors(c, redact(spec, argv))
    if server.ready_keys and not c.in_exec:
        # Blocked clients are served after the command, or after the whole transaction
        # (MULTI; RPUSH k a; LPOP k; EXEC pops 'a' itself, as in redis-server).
        server.serve_ready()
    return reply


# run_batch statuses: why it stopped before the end of the batch.
DONE: Final = 0
STOP: Final = 1  # the client blocked, asked to close, or its output is paused
_NULL_BULK: Final = (b"$-1\r\n", b"$-1\r\n", b"$-1\r\n", b"_\r\n")


def run_batch(c: ClientState, batch: list[list[bytes]], out: list[bytes]) -> int:
    """Execute ``batch`` in order, appending encoded replies to ``out``.

    Returns how many commands were consumed: fewer than ``len(batch)`` when one blocked
    (``c.blocked``), asked to close (``c.close_after_reply``) or paused output; the caller
    keeps the rest queued.

    This is the per-command hot path, and every bytecode in its loop counts (about 60
    machine instructions each here, against ~1,700 for hiredis to parse a command). A
    command whose spec is ``fast_path`` (it cannot block, close, change the client's
    gates or answer nothing: see CommandSpec) runs with dispatch inlined while the
    client's gates are open (authenticated, not in MULTI, not subscribed, no MONITOR,
    replies on). Only general-path commands can change the gates, so they are evaluated
    once per batch and again after each of those. One clock read per command (the
    previous command's end is this one's start) feeds commandstats and the slow log; the
    common reply types are encoded in place. Everything else takes :func:`execute`.
    """
    server = c.server
    append = out.append
    # _fast_lookup(c), inlined for the usual case (one call per batch is measurable
    # at -P 1).
    fast_get = (_FAST_GET if _gates_open(c) else None) if not server.memory_active \
        else _fast_lookup(c)
    slow_ns = server.slowlog_ns if server.slowlog_ns >= 0 else _NEVER
    last = None
    t_prev = _perf_ns()
    for argv in batch:
        if fast_get is not None:
            spec = fast_get(argv[0])
            if spec is not None and len(argv) in spec.argc:
                try:
                    reply = spec.handler(c, argv)  # type: ignore[misc]
                except ReplyError as e:
                    reply = _failed(server, spec, e)
                except Exception:
                    reply = _crashed(server, spec)
                now = _perf_ns()
                ns = now - t_prev
                stats = spec.stats
                stats.calls += 1
                stats.nsec += ns
                stats.hist[ns.bit_length()] += 1
                if ns >= slow_ns and not spec.skip_slowlog:
                    _slowlog(c, argv, spec, ns // 1000)
                t_prev = now
                last = spec
                if server.ready_keys:
                    server.serve_ready()
                cls = reply.__class__
                if cls is Raw:
                    append(reply)
                elif cls is bytes and len(reply) < 16384:
                    append(b"$%d\r\n%b\r\n" % (len(reply), reply))
                elif cls is int:
                    append(b":%d\r\n" % reply)
                elif reply is None:
                    append(_NULL_BULK[c.resp])
                else:
                    encode(reply, out, c.resp)
                continue
        if last is not None:
            c.last_cmd = last.name
            last = None
        reply = execute(c, argv)
        t_prev = _perf_ns()
        fast_get = (_FAST_GET if _gates_open(c) else None) if not server.memory_active \
            else _fast_lookup(c)
        if reply is BLOCKED:
            c.block()
            return _position(batch, argv)
        if reply is PAUSED:
            c.postpone(max(server.pause_until - time.monotonic(), 0.0))
            return _position(batch, argv) - 1
        if reply is not NO_REPLY:
            if c.reply_mode:
                if c.reply_mode == 2:  # CLIENT REPLY SKIP: this reply only
                    c.reply_mode = 0
            else:
                encode(reply, out, c.resp)
        if c.close_after_reply or c.output_paused:
            return _position(batch, argv)
    if last is not None:
        c.last_cmd = last.name
    return len(batch)


def _position(batch: list[list[bytes]], argv: list[bytes]) -> int:
    """How many commands of ``batch`` up to and including ``argv`` (by identity) ran."""
    for i, item in enumerate(batch):
        if item is argv:
            return i + 1
    raise AssertionError("argv not in batch")


_NEVER: Final = 1 << 62


def _fast_lookup(c: ClientState) -> Callable[[bytes], CommandSpec | None] | None:
    """The fast path's lookup for the next commands of ``c``; None sends them all to
    :func:`execute`. While maxmemory or an LRU / LFU policy is set, the memory state
    picks: none while over the limit (execute evicts first), else the plain table or
    the one whose commands touch their keys (commands/_evict.py)."""
    if not _gates_open(c):
        return None
    server = c.server
    if server.memory_active:
        return server.memory.fast_lookup(_FAST, _FAST_TOUCHING)
    return _FAST_GET


def _gates_open(c: ClientState) -> bool:
    return (
        c.authenticated
        and c.multi is None
        and not c.reply_mode
        and not c.channels
        and not c.patterns
        and not c.shards
        and not c.server.monitors
        and not c.server.pause_until
        and not c.server.disk_error
        and c.server.aof is None
        and c.user.fast_ok  # ACL: a user limited in commands or keys is checked
    )


def _writes_stopped(server: ServerState) -> ReplyError | None:
    """redis-server's writeCommandsDeniedByDiskError: the append-only log cannot be
    written, or the last save failed with save rules set and stop-writes-on-bgsave-error
    on."""
    aof = server.aof
    if aof is not None and aof.error:
        return aof.misconf()
    cfg = server.config
    p = server.persistence
    if p is not None and not p.last_status_ok and cfg.stop_writes_on_bgsave_error \
            and cfg.save:
        return MisconfError()
    return None
