"""Server-wide state that commands read and change: keyspace, config, clients, stats.

The transport (``tensorserve.server``) creates one ServerState and fills in the hooks
(``loop``, ``request_shutdown``); commands never touch sockets or listeners themselves.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..logs import LEVELS, VERBOSE
from ..runtime import BackendOptions, Runtime
from ..store import Keyspace
from ._acl_registry import Acl
from ._evict import MemoryLimit

if TYPE_CHECKING:
    from ._client import ClientState
    from .aof import Aof
    from .persistence import Persistence

__all__ = ["ServerState", "SlowlogEntry", "Stats"]

log = logging.getLogger("tensorserve.server")


@dataclass(slots=True)
class Stats:
    """INFO stats counters (CONFIG RESETSTAT zeroes them)."""

    total_connections_received: int = 0
    total_commands_processed: int = 0
    rejected_connections: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    expired_keys: int = 0
    evicted_keys: int = 0
    total_net_input_bytes: int = 0
    total_net_output_bytes: int = 0
    total_error_replies: int = 0
    unexpected_error_replies: int = 0
    pubsub_channels_published: int = 0
    client_query_buffer_limit_disconnections: int = 0
    client_output_buffer_limit_disconnections: int = 0
    # Redis 7.2's ACL denials by reason (what ACL LOG records, counted).
    acl_access_denied_auth: int = 0
    acl_access_denied_cmd: int = 0
    acl_access_denied_key: int = 0
    acl_access_denied_channel: int = 0
    errorstats: dict[str, int] = field(default_factory=dict)  # error code -> count

    def reset(self) -> None:
        for name in self.__slots__:
            setattr(self, name, {} if name == "errorstats" else 0)


@dataclass(slots=True, frozen=True)
class SlowlogEntry:
    id: int
    timestamp: int
    duration_us: int
    argv: tuple[bytes, ...]
    peer: str
    name: bytes


class ServerState:
    """Everything commands share. Mutated on the event-loop thread only."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.keyspace = Keyspace(config.databases)
        self.stats = Stats()
        self.clients: dict[int, ClientState] = {}
        self._ids = itertools.count(1)
        # ACL users, the ACL log and file (commands/_acl_registry.py).
        self.acl = Acl(self)
        # The client whose command dispatch's general path is running (Redis's
        # server.current_client): a script started now runs with its user's rights.
        self.current_client: ClientState | None = None
        self.start_time = time.time()
        self.start_monotonic = time.monotonic()
        self.pid = os.getpid()
        self.run_id = os.urandom(20).hex()
        # Pub/Sub: channel / pattern -> subscribed clients (insertion-ordered).
        self.channels: dict[bytes, dict[ClientState, None]] = {}
        self.patterns: dict[bytes, dict[ClientState, None]] = {}
        self.shard_channels: dict[bytes, dict[ClientState, None]] = {}
        self.monitors: dict[ClientState, None] = {}
        self.slowlog: deque[SlowlogEntry] = deque(maxlen=max(config.slowlog_max_len, 0))
        self.slowlog_next_id = 0
        # slowlog-log-slower-than in ns (negative: off), read on every command.
        self.slowlog_ns = config.slowlog_log_slower_than * 1000
        # client-output-buffer-limit by class, and whether the normal class has any
        # limit (when not, a normal client's writes skip the check entirely).
        self.obuf_limits: dict[str, tuple[int, int, int]] = {}
        self.normal_obuf_limited = False
        self._apply_obuf_limits(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0  # threading.get_ident() of the loop's thread, once running
        self.tcp_port = config.port
        self.executable = ""
        self.config_file = ""
        # Set by the transport: ask the server to stop (SHUTDOWN, signals), saving
        # first if asked; False when the save failed and the server keeps running.
        self.request_shutdown: Callable[[bool], bool] = lambda save: True
        # Snapshots (commands/persistence.Persistence), installed by the server.
        self.persistence: Persistence | None = None
        # The append-only log (commands/aof.Aof) when appendonly is on, after loading.
        self.aof: Aof | None = None
        # The last snapshot failed, or the log cannot be written: writes may be refused
        # (MISCONF). Also routes every command through dispatch's general path, where
        # that check is. Set only by refresh_disk_error.
        self.disk_error = False
        # Extra INFO sections contributed by later subsystems: name -> () -> dict.
        self.info_sections: dict[str, Callable[[], dict[str, Any]]] = {}
        # Keys with clients blocked on them and data now available: served after the
        # current command (redis-server's handleClientsBlockedOnKeys).
        self.ready_keys: dict[tuple[int, bytes], None] = {}
        self.serve_ready: Callable[[], None] = lambda: None
        self.last_save = int(time.time())
        # CLIENT PAUSE: monotonic deadline (0.0 = not paused) and whether reads pause too.
        self.pause_until = 0.0
        self.pause_all = False
        # Families register clean-up for a closed client (pub/sub, WATCH, blocked pops).
        self.on_client_gone: list[Callable[[ClientState], None]] = []
        # ... and for RESET (unsubscribe, unwatch, stop monitoring).
        self.on_client_reset: list[Callable[[ClientState], None]] = []
        # Run every 1/hz seconds (serverCron) and at shutdown.
        self.cron_jobs: list[Callable[[], None]] = []
        self.on_shutdown: list[Callable[[], None]] = []
        # Called with (old, new) after CONFIG SET swaps the config (the transport layer
        # applies what lives on sockets, like tcp-keepalive).
        self.on_config: list[Callable[[Config, Config], None]] = []
        # Model execution: per-device run queues (threads start with a device's first
        # model). Load-time options, as RedisAI's module arguments.
        self.runtime = Runtime(
            config.threads_per_queue,
            BackendOptions(config.intra_op_parallelism, config.inter_op_parallelism,
                           config.model_execution_timeout),
            lambda: self.loop,
        )
        self.runtime.configure(config.inline_run_max_us, config.minbatch_timeout_default,
                               config.queue_max_len)
        self.on_shutdown.append(self.runtime.stop)
        # maxmemory (commands/_evict.py): accounting, eviction, the OOM gate. While
        # memory_active (a limit or an LRU / LFU policy is set) dispatch consults it
        # before commands (and per batch for its fast path); False costs nothing.
        self.memory_active = False
        self.memory = MemoryLimit(self)
        self.memory.configure(config)

    def _apply_obuf_limits(self, config: Config) -> None:
        self.obuf_limits = {c: (h, s, t) for c, h, s, t in config.client_output_buffer_limit}
        hard, soft, _ = self.obuf_limits.get("normal", (0, 0, 0))
        self.normal_obuf_limited = bool(hard or soft)

    def client_gone(self, client: ClientState) -> None:
        for cb in self.on_client_gone:
            cb(client)

    def next_client_id(self) -> int:
        return next(self._ids)

    def set_config(self, config: Config) -> None:
        """Swap in a new Config (CONFIG SET) and apply what must change at once."""
        old, self.config = self.config, config
        self.slowlog_ns = config.slowlog_log_slower_than * 1000
        self._apply_obuf_limits(config)
        self.runtime.configure(config.inline_run_max_us, config.minbatch_timeout_default,
                               config.queue_max_len)
        self.memory.configure(config)
        if old.appendonly != config.appendonly and self.loop is not None:
            from .aof import switch  # the family module imports this one

            switch(self, config.appendonly)
        for hook in self.on_config:
            hook(old, config)
        if old.loglevel != config.loglevel:
            logging.getLogger("tensorserve").setLevel(LEVELS[config.loglevel])
        if (old.proto_max_bulk_len != config.proto_max_bulk_len
                or old.client_query_buffer_limit != config.client_query_buffer_limit):
            for c in self.clients.values():
                c.input_limits_changed()
        if old.slowlog_max_len != config.slowlog_max_len:
            self.slowlog = deque(self.slowlog, maxlen=max(config.slowlog_max_len, 0))
        if old.requirepass != config.requirepass:
            # requirepass is the default user's password (empty: nopass, and clients
            # not yet authenticated need no AUTH any more).
            self.acl.set_default_password(config.requirepass)

    def refresh_disk_error(self) -> None:
        """``disk_error`` from its two sources, after either changes: a snapshot that
        succeeds must not clear a log that still cannot be written, nor the reverse."""
        p, aof = self.persistence, self.aof
        self.disk_error = bool((p is not None and not p.last_status_ok)
                               or (aof is not None and aof.error))

    def cron(self) -> None:
        """serverCron: expire keys actively, drop idle clients, run the families' jobs."""
        deadline = time.perf_counter() + 0.001  # at most ~1 ms of the loop per tick
        for db in self.keyspace.dbs:
            if db.expires:
                while db.active_expire(20) > 5 and time.perf_counter() < deadline:
                    pass
        timeout = self.config.timeout
        if timeout:
            now = time.monotonic()
            for c in list(self.clients.values()):
                if (
                    now - c.last_interaction > timeout
                    and not c.blocked
                    and not c.subscriptions
                    and c not in self.monitors
                ):
                    log.log(VERBOSE, "closing idle client %s (timeout %d s)", c.address,
                            timeout)
                    c.close()
        for job in self.cron_jobs:
            job()
        if self.aof is not None:
            self.aof.flush()  # DELs of keys expired by the cron, with no reply to wait for

    def uptime(self) -> float:
        return time.monotonic() - self.start_monotonic
