"""One asyncio.Protocol per client: bytes in, commands executed in order, replies out.

The hot path (see docs/architecture.md): ``data_received`` feeds the reader, executes
every complete command right there and collects the replies, then writes them with one
``write`` (or ``writelines`` when a large value is in the batch). No Task or Future per
command: a ``create_task`` costs more than redis-server's whole CPU time per pipelined
request. A command that must wait returns BLOCKED; the connection then keeps later
commands queued in the reader, in order, until ``unblock`` delivers the reply.

Flow control: when the transport's write buffer passes its high-water mark, the
connection stops executing and stops reading (the client feels TCP back-pressure), so a
client that pipelines without reading cannot grow our memory. Input waiting behind a
blocked command is capped the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, Final

from ..commands import ClientState, run_batch
from ..errors import ReplyError
from ..protocol import ProtocolError, QueryBufferLimitError, encode, make_reader

if TYPE_CHECKING:
    from ..commands import ServerState
    from ..protocol import RequestReader

__all__ = ["Connection"]

log = logging.getLogger("tensorserve.server")

_INPUT_HIGH_WATER: Final = 1024 * 1024  # unparsed input held while a command is blocked
_BIG_WRITE: Final = 64 * 1024


class Connection(ClientState, asyncio.Protocol):
    """A client connection. Commands see it as a :class:`ClientState`."""

    __slots__ = (
        "_backlog",
        "_blocked",
        "_closing",
        "_out",
        "_pause_handle",
        "_paused_reading",
        "_paused_writing",
        "_reader",
        "_resume_handle",
        "_soft_limit_since",
        "transport",
    )

    def __init__(self, server: ServerState) -> None:
        super().__init__(server)
        self.transport: asyncio.Transport | None = None
        self._reader: RequestReader | None = None  # made on first data: idle clients stay small
        self._blocked = False
        self._backlog: list[list[bytes]] | None = None  # commands read but not yet run
        self._out: list[bytes] | None = None  # replies of the batch being run
        self._pause_handle: asyncio.TimerHandle | None = None  # CLIENT PAUSE retry
        self._closing = False
        self._paused_writing = False
        self._paused_reading = False
        self._resume_handle: asyncio.Handle | None = None
        self._soft_limit_since = 0.0

    # -- asyncio callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Register the client, or refuse it (maxclients, protected mode) with Redis's text."""
        self.transport = transport
        server = self.server
        peer = transport.get_extra_info("peername")
        server.stats.total_connections_received += 1
        config = server.config
        if len(server.clients) >= config.maxclients:
            server.stats.rejected_connections += 1
            log.warning("refused connection from %s: max number of clients reached", self.address)
            transport.write(b"-ERR max number of clients reached\r\n")
            self._closing = True
            transport.close()
            return
        # Redis 7: protected mode applies while the default user needs no password.
        if config.protected_mode and server.acl.default.nopass and not _is_loopback(peer):
            server.stats.rejected_connections += 1
            log.warning("refused connection from %s: protected mode", self.address)
            transport.write(_DENIED)
            self._closing = True
            transport.close()
            return
        server.clients[self.id] = self

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        server = self.server
        server.clients.pop(self.id, None)
        if self._resume_handle is not None:
            self._resume_handle.cancel()
        if self._pause_handle is not None:
            self._pause_handle.cancel()
        try:
            server.client_gone(self)
        except Exception:
            log.exception("cleaning up client %d failed", self.id)
        self.transport = None
        self._reader = None

    def data_received(self, data: bytes) -> None:
        """Feed the reader and run what is complete. Never lets an exception escape."""
        if self._closing:
            return
        try:
            reader = self._reader
            if reader is None:
                config = self.server.config
                reader = self._reader = make_reader(
                    config.reader, config.proto_max_bulk_len, config.client_query_buffer_limit
                )
                reader.auth_required = not self.authenticated
            self.server.stats.total_net_input_bytes += len(data)
            reader.feed(data)
            if self._blocked or self._paused_writing:
                if reader.buffered > _INPUT_HIGH_WATER:
                    self._pause_reading()
                return
            self._run()
        except QueryBufferLimitError:
            self.server.stats.client_query_buffer_limit_disconnections += 1
            log.warning("closing client %s that reached max query buffer length", self.address)
            self.close()
        except Exception:
            log.exception("unexpected error on connection %s", self.address)
            self.close()

    def pause_writing(self) -> None:
        cls = "pubsub" if self.channels or self.patterns else "normal"
        hard, soft, _ = self.server.obuf_limits.get(cls, (0, 0, 0))
        if hard or soft:
            # A client-output-buffer-limit is set for this class: keep serving, as
            # redis-server does, and let _check_output_limit disconnect the client at
            # the limit. Without one, back-pressure (stop reading) bounds the memory.
            return
        self._paused_writing = True
        self._pause_reading()

    def resume_writing(self) -> None:
        self._paused_writing = False
        if not self._blocked:
            self._resume_reading()
            self._schedule_run()

    # -- the command loop ------------------------------------------------------------------
    def _run(self) -> None:
        """Execute every complete command, in order, and write the replies in one go."""
        reader = self._reader
        if reader is None or self.transport is None:
            return
        out: list[bytes] = []
        self._out = out  # messages sent to us meanwhile (PUBLISH to self) go in order
        closing = False
        try:
            while True:
                batch = self._backlog
                if batch is not None:
                    self._backlog = None
                else:
                    try:
                        batch = reader.read_batch()
                    except ProtocolError as e:
                        # CR/LF in the text (``got '\r'``) become spaces, as in Redis.
                        out.append(b"-%b\r\n" % ReplyError(e.message).wire())
                        closing = True
                        log.info("protocol error from client %s: %s", self.address, e.message)
                        break
                    if not batch:
                        break
                done = run_batch(self, batch, out)
                if done < len(batch):
                    self._backlog = batch[done:]
                if self._blocked or self.close_after_reply or self._paused_writing:
                    closing = self.close_after_reply
                    break
        finally:
            self._out = None
        self.last_interaction = time.monotonic()
        if out:
            self._write(out)
        if closing:
            self.close()
        elif not self._blocked and self._paused_reading and not self._paused_writing:
            self._resume_reading()

    def _write(self, out: list[bytes]) -> None:
        aof = self.server.aof
        if aof is not None and (aof.buf or aof.parked):
            # The log first: no reply acknowledges a write it does not hold. Under
            # appendfsync always the replies wait for one write + fsync at the end of
            # this loop iteration, shared by every client answered in it.
            if aof.park(self, out):
                return
            aof.flush()
        self.write_now(out)

    def write_now(self, out: list[bytes]) -> None:
        transport = self.transport
        if transport is None:
            return
        server = self.server
        if len(out) == 1:
            data = out[0]
            server.stats.total_net_output_bytes += len(data)
            transport.write(data)
        else:
            total = sum(map(len, out))
            server.stats.total_net_output_bytes += total
            if total >= _BIG_WRITE:
                transport.writelines(out)  # large values go out without another copy
            else:
                transport.write(b"".join(out))
        if self.channels or self.patterns or server.normal_obuf_limited:
            self._check_output_limit()

    def _check_output_limit(self) -> None:
        """client-output-buffer-limit for this client's class (normal or pubsub)."""
        transport = self.transport
        if transport is None:
            return
        cls = "pubsub" if self.channels or self.patterns else "normal"
        hard, soft, secs = self.server.obuf_limits.get(cls, (0, 0, 0))
        if not hard and not soft:
            return
        size = transport.get_write_buffer_size()
        if hard and size >= hard:
            self._output_limit_reached(size)
        elif soft and size >= soft:
            now = time.monotonic()
            if not self._soft_limit_since:
                self._soft_limit_since = now
            elif now - self._soft_limit_since >= secs:
                self._output_limit_reached(size)
        else:
            self._soft_limit_since = 0.0

    def _output_limit_reached(self, size: int) -> None:
        self.server.stats.client_output_buffer_limit_disconnections += 1
        log.warning(
            "client %s scheduled to be closed ASAP for overcoming of output buffer limits "
            "(%d bytes buffered)",
            self.address,
            size,
        )
        transport = self.transport
        if transport is not None:
            transport.abort()  # drop what is queued: the point is to free the memory

    def _schedule_run(self) -> None:
        if self._resume_handle is None and self.server.loop is not None:
            self._resume_handle = self.server.loop.call_soon(self._resume)

    def _resume(self) -> None:
        self._resume_handle = None
        if self._closing or self._blocked or self._paused_writing:
            return
        try:
            self._run()
        except Exception:
            log.exception("unexpected error on connection %s", self.address)
            self.close()

    def _pause_reading(self) -> None:
        if not self._paused_reading and self.transport is not None:
            self._paused_reading = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._paused_reading and self.transport is not None:
            self._paused_reading = False
            self.transport.resume_reading()

    # -- ClientState hooks -----------------------------------------------------------------
    def send(self, value: Any) -> None:
        transport = self.transport
        if transport is None or self._closing:
            return
        if self._out is not None:
            # We are running this client's commands: keep the order of its replies (a
            # RESP3 client publishing to its own channel gets the message before
            # PUBLISH's reply, as from redis-server).
            encode(value, self._out, self.resp)
            return
        out: list[bytes] = []
        encode(value, out, self.resp)
        self._write(out)

    def block(self) -> None:
        self._blocked = True

    def postpone(self, delay: float) -> None:
        self._blocked = True
        loop = self.server.loop
        if loop is not None:
            self._pause_handle = loop.call_later(delay, self.resume_postponed)

    def resume_postponed(self) -> None:
        handle, self._pause_handle = self._pause_handle, None
        if handle is None:
            return
        handle.cancel()
        self._blocked = False
        if not self._closing:
            self._schedule_run()
            if not self._paused_writing:
                self._resume_reading()

    def unblock(self, reply: Any) -> None:
        if not self._blocked:
            return
        self._blocked = False
        self.blocked_on = None
        if self._closing:
            return
        if self.reply_mode == 0:
            self.send(reply)
        elif self.reply_mode == 2:
            self.reply_mode = 0
        if self._backlog or (self._reader is not None and self._reader.buffered):
            self._schedule_run()
        if not self._paused_writing:
            self._resume_reading()

    def close(self) -> None:
        self._closing = True
        aof = self.server.aof
        if aof is not None and aof.parked and aof.holds(self):
            return  # closed by the log's release, after the replies it holds
        if self.transport is not None:
            self.transport.close()

    def released(self) -> None:
        """The log released replies it held (appendfsync always): a close asked for
        meanwhile happens now, after them."""
        if self._closing and self.transport is not None:
            self.transport.close()

    def set_authenticated(self, value: bool) -> None:
        self.authenticated = value
        if self._reader is not None:
            self._reader.auth_required = not value

    def input_limits_changed(self) -> None:
        if self._reader is not None:
            config = self.server.config
            self._reader.set_limits(config.proto_max_bulk_len, config.client_query_buffer_limit)

    @property
    def address(self) -> str:
        # Formatted on demand (CLIENT LIST, logs): idle connections stay small.
        t = self.transport
        return _fmt_addr(t.get_extra_info("peername")) if t is not None else "?:0"

    @property
    def is_local(self) -> bool:
        t = self.transport
        return t is not None and _is_loopback(t.get_extra_info("peername"))

    @property
    def local_address(self) -> str:
        t = self.transport
        return _fmt_addr(t.get_extra_info("sockname")) if t is not None else "?:0"

    @property
    def output_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    @property
    def input_buffer_size(self) -> int:
        return self._reader.buffered if self._reader is not None else 0

    @property
    def blocked(self) -> bool:
        return self._blocked

    @property
    def output_paused(self) -> bool:
        return self._paused_writing


def _fmt_addr(addr: Any) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host = addr[0]
        return f"{host}:{addr[1]}"
    if isinstance(addr, str):  # unix socket
        return f"{addr}:0"
    return "?:0"


def _is_loopback(addr: Any) -> bool:
    if not isinstance(addr, tuple):
        return True  # unix sockets are local
    host = str(addr[0])
    return host.startswith("127.") or host in ("::1", "localhost") or host.startswith(
        "::ffff:127."
    )


# redis-server's exact protected-mode text (networking.c, clientAcceptHandler).
_DENIED: Final = (
    b"-DENIED Redis is running in protected mode because protected mode is enabled and no "
    b"password is set for the default user. In this mode connections are only accepted "
    b"from the loopback interface. If you want to connect from external computers to Redis "
    b"you may adopt one of the following solutions: 1) Just disable protected mode sending "
    b"the command 'CONFIG SET protected-mode no' from the loopback interface by connecting "
    b"to Redis from the same host the server is running, however MAKE SURE Redis is not "
    b"publicly accessible from internet if you do so. Use CONFIG REWRITE to make this "
    b"change permanent. 2) Alternatively you can just disable the protected mode by editing "
    b"the Redis configuration file, and setting the protected mode option to 'no', and then "
    b"restarting the server. 3) If you started the server manually just for testing, "
    b"restart it with the '--protected-mode no' option. 4) Set up an authentication "
    b"password for the default user. NOTE: You only need to do one of the above things in "
    b"order for the server to start accepting connections from the outside.\r\n"
)
