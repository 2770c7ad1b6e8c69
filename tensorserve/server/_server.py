"""Server start and stop: listeners, the periodic cron, signals, graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import ssl
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from .. import __version__
from ..commands import ServerState
from ..commands._acl_registry import AclFileError
from ..commands.aof import Aof
from ..commands.persistence import Persistence
from ..config import Config
from ..fdlimit import adjust_open_files_limit
from ..protocol import reader_name
from ..runtime.backends import available_backends
from ..runtime.device import visible_devices
from ..store.persistence import AofError, SnapshotError
from ._connection import Connection
from ._loop import loop_name, new_event_loop
from ._process import remove_pidfile, write_pidfile
from .metrics import MetricsServer

__all__ = ["Server", "run"]

log = logging.getLogger("tensorserve.server")

class Server:
    """A tensorserve instance: a ServerState plus listeners on an event loop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.state = ServerState(config)
        self.state.request_shutdown = self._request_shutdown
        self.persistence = self.state.persistence = Persistence(self.state)
        self._servers: list[asyncio.base_events.Server] = []
        self._stopping: asyncio.Event | None = None
        self._cron: asyncio.TimerHandle | None = None
        self.ports: list[int] = []
        self.tls_ports: list[int] = []
        self.metrics: MetricsServer | None = None

    # -- start -----------------------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.state.loop = loop
        self.state.loop_thread = threading.get_ident()
        self._stopping = asyncio.Event()
        maxclients = adjust_open_files_limit(self.config.maxclients)
        if maxclients != self.config.maxclients:  # reduced to fit (logged), as Redis
            self.config = dataclasses.replace(self.config, maxclients=maxclients)
            self.state.config = self.config
        self.state.acl.load_at_start()  # the aclfile, if any: a bad one stops the start
        self._load()  # before any client can connect
        state = self.state

        def factory() -> Connection:
            return Connection(state)

        # Checked before any listener opens: a bad TLS setup must not leave the plain
        # port answering for a moment before the server exits.
        tls = tls_context(self.config) if self.config.tls_port else None
        if self.config.port:
            self.ports += await self._listen(factory, self.config.port, None)
        if tls is not None:
            self.tls_ports += await self._listen(factory, self.config.tls_port, tls)
        if self.ports:
            state.tcp_port = self.ports[0]
        if self.config.metrics_port:
            self.metrics = MetricsServer(state)
            await self.metrics.start(_hosts(self.config.bind), self.config.metrics_port)
        state.on_config.append(self._config_changed)
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        self._schedule_cron()

    async def _listen(self, factory: Callable[[], Connection], port: int,
                      ssl_context: ssl.SSLContext | None) -> list[int]:
        """Listeners on ``port`` at every bind address; the ports bound."""
        loop = asyncio.get_running_loop()
        ports = []
        for addr in self.config.bind:
            optional = addr.startswith("-")
            host = _hosts([addr])[0]
            try:
                srv = await loop.create_server(
                    factory,
                    host=host,
                    port=port,
                    backlog=self.config.tcp_backlog,
                    reuse_address=True,
                    ssl=ssl_context,
                )
            except OSError as e:
                if optional:
                    log.info("could not bind %s:%d (%s), skipped", host, port, e)
                    continue
                raise
            for sock in srv.sockets:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                _keepalive(sock, self.config.tcp_keepalive)
                ports.append(sock.getsockname()[1])
            self._servers.append(srv)
        return ports

    def _load(self) -> None:
        """The data at start: the append-only log when appendonly is on and one exists
        (as redis-server, it wins over the snapshot), else the snapshot."""
        state = self.state
        if not self.config.appendonly:
            self.persistence.load()
            return
        aof = Aof(state)
        if os.path.exists(aof.path):
            aof.load()
            aof.open()
        else:
            self.persistence.load()
            aof.create()
        state.aof = aof
        state.keyspace.on_expired = aof.feed_expired

        def close() -> None:
            if state.aof is not None:
                state.aof.close()

        state.on_shutdown.append(close)

    async def serve_forever(self) -> None:
        await self.start()
        self._banner()
        assert self._stopping is not None
        await self._stopping.wait()
        await self.stop()

    def _config_changed(self, old: Config, new: Config) -> None:
        self.config = new
        if old.tcp_keepalive != new.tcp_keepalive:  # for connections accepted from now on
            for srv in self._servers:
                for sock in srv.sockets:
                    _keepalive(sock, new.tcp_keepalive)

    def _banner(self) -> None:
        """One line with what an operator checks first: version, ports, backends,
        devices, persistence (redis-server prints its own at start)."""
        cfg = self.config
        backends = available_backends()
        log.info(
            "tensorserve %s ready to accept connections on %s port %s%s%s (%s event loop, "
            "%s reader); backends: %s; devices: %s; persistence: %s",
            __version__,
            ",".join(cfg.bind),
            ",".join(str(p) for p in sorted(set(self.ports))) or "-",
            f", TLS port {','.join(str(p) for p in sorted(set(self.tls_ports)))}"
            if self.tls_ports else "",
            f", metrics port {','.join(map(str, sorted(set(self.metrics.ports))))}"
            if self.metrics is not None else "",
            loop_name(asyncio.get_running_loop()),
            reader_name(cfg.reader),
            ", ".join(f"{k} {v}" for k, v in backends.items()) or "none installed",
            visible_devices(),
            _persistence_mode(cfg),
        )

    # -- cron ------------------------------------------------------------------------------
    def _schedule_cron(self) -> None:
        loop = self.state.loop
        assert loop is not None
        self._cron = loop.call_later(1 / max(self.state.config.hz, 1), self._run_cron)

    def _run_cron(self) -> None:
        try:
            self.state.cron()
        except Exception:
            log.exception("cron failed")
        self._schedule_cron()

    # -- stop ------------------------------------------------------------------------------
    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        log.warning("received %s, scheduling shutdown...", name)
        # As redis-server: a signal saves when save rules are configured.
        if not self._request_shutdown(bool(self.state.config.save)):
            log.warning("Errors trying to shut down the server. Check the logs for more "
                        "information.")

    def _request_shutdown(self, save: bool) -> bool:
        if save:
            log.warning("Saving the final snapshot before exiting.")
            if not self.persistence.save_for_shutdown():
                return False
        if self._stopping is not None:
            self._stopping.set()
        return True

    async def stop(self) -> None:
        """Close listeners and clients, run shutdown hooks (persistence, workers)."""
        if self._cron is not None:
            self._cron.cancel()
        for srv in self._servers:
            srv.close()
        if self.metrics is not None:
            self.metrics.close()
        for client in list(self.state.clients.values()):
            client.close()
        for hook in self.state.on_shutdown:
            try:
                hook()
            except Exception:
                log.exception("shutdown hook failed")
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 1.0)
        log.warning("tensorserve is now ready to exit, bye bye...")


def _keepalive(sock: Any, seconds: int) -> None:
    """redis-server's tcp-keepalive: probes after ``seconds`` idle, then every third of
    it, dead after 3 unanswered (anetKeepAlive). Set on the listener: Linux copies these
    options to every accepted socket, so connections pay nothing."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(seconds > 0))
        if seconds <= 0:
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, seconds)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, max(seconds // 3, 1))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 3)


def _persistence_mode(cfg: Config) -> str:
    where = os.path.join(os.path.abspath(cfg.dir), "")
    snap = f"snapshot {where}{cfg.dbfilename}" + (f" (save {cfg.save})" if cfg.save
                                                 else " (no save rules)")
    if cfg.appendonly:
        return f"{snap}, append-only log {where}{cfg.appendfilename} " \
               f"(appendfsync {cfg.appendfsync})"
    return f"{snap}, append-only log off"


def _hosts(bind: Iterable[str]) -> list[str]:
    """bind addresses as hosts to listen on ("-" marks an optional one; "*": all)."""
    return ["0.0.0.0" if a.lstrip("-") == "*" else a.lstrip("-") for a in bind]


def tls_context(config: Config) -> ssl.SSLContext:
    """The server's TLS context (redis-server's tls-* options); OSError / ssl.SSLError
    when a file is missing or does not hold what it should."""
    if not config.tls_cert_file or not config.tls_key_file:
        raise OSError("tls-port needs tls-cert-file and tls-key-file")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # redis-server's default protocols
    # Relative to dir, as redis-server (which works there; see _process.private_workdir).
    ctx.load_cert_chain(os.path.join(config.dir, config.tls_cert_file),
                        os.path.join(config.dir, config.tls_key_file))
    mode = config.tls_auth_clients
    if mode != "no":
        if not config.tls_ca_cert_file:
            raise OSError("tls-auth-clients needs tls-ca-cert-file (or tls-auth-clients no)")
        ctx.load_verify_locations(os.path.join(config.dir, config.tls_ca_cert_file))
        ctx.verify_mode = ssl.CERT_REQUIRED if mode == "yes" else ssl.CERT_OPTIONAL
    return ctx


def run(config: Config, config_file: str = "", pidfile: str = "") -> int:
    """Run a server until SHUTDOWN or a signal; the process exit code. ``pidfile``: an
    absolute path to write the pid to while running."""
    server = Server(config)
    server.state.config_file = config_file
    server.state.executable = sys.argv[0]
    loop = new_event_loop(config.event_loop)
    asyncio.set_event_loop(loop)
    if pidfile:
        write_pidfile(pidfile)
    try:
        loop.run_until_complete(server.serve_forever())
    except (OSError, ssl.SSLError, SnapshotError, AofError, AclFileError) as e:
        log.error("could not start: %s", e)
        print(f"tensorserve: {e}", file=sys.stderr)
        return 1
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        if pidfile:
            remove_pidfile(pidfile)
    return 0
