"""INFO: redis-server's sections, field names and text format.

The reply is ``# Section\\r\\nfield:value\\r\\n...`` with sections separated by an empty
line, in redis-server's fixed order whatever order they were asked in. Tools (redis-cli
``--stat``, redis-benchmark, exporters, client libraries) parse these fields by name,
so names and formats follow redis-server 7 (``server.c``, ``genRedisInfoString``).
Numbers we do not have (allocator internals, replication backlog) keep redis-server's
idle values rather than disappearing, so parsers that expect them keep working.
"""

from __future__ import annotations

import os
import platform
import resource
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

from .. import __version__, histogram
from ..protocol import HAVE_HIREDIS
from ._evict import process_rss
from ._spec import COMMANDS, CommandSpec
from .ai import MODULE_SECTIONS

if TYPE_CHECKING:
    from ._server_state import ServerState

__all__ = [
    "ServerExtras",
    "bytes_to_human",
    "extras",
    "info_fields",
    "info_text",
    "iter_specs",
    "used_memory",
]

REDIS_VERSION: Final = "7.2.4"

# redis-server's order; True = part of "default" (commandstats and latencystats are not).
_BUILTIN: Final[tuple[tuple[str, bool], ...]] = (
    ("server", True),
    ("clients", True),
    ("memory", True),
    ("persistence", True),
    ("stats", True),
    ("replication", True),
    ("cpu", True),
    ("modules", True),
    ("commandstats", False),
    ("errorstats", True),
    ("latencystats", False),
    ("cluster", True),
    ("keyspace", True),
    ("tensorserve", True),
)
_TITLES: Final = {"cpu": "CPU", "tensorserve": "Tensorserve"}

_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ServerExtras:
    """State INFO and friends keep per server that ServerState has no field for."""

    __slots__ = ("ops_last", "ops_samples", "peak_memory")

    def __init__(self) -> None:
        self.ops_samples: list[int] = []
        self.ops_last: tuple[float, int] | None = None
        self.peak_memory = 0


_EXTRAS: weakref.WeakKeyDictionary[ServerState, ServerExtras] = weakref.WeakKeyDictionary()


def extras(server: ServerState) -> ServerExtras:
    """This server's extras; the first call also starts the ops/sec sampler in its cron."""
    e = _EXTRAS.get(server)
    if e is None:
        e = _EXTRAS[server] = ServerExtras()
        server.cron_jobs.append(lambda: _sample_ops(server, e))
    return e


def _sample_ops(server: ServerState, e: ServerExtras) -> None:
    # redis-server's trackInstantaneousMetric: 16 samples of ops/sec, averaged.
    now = time.monotonic()
    total = total_commands(server)
    if e.ops_last is not None:
        dt = now - e.ops_last[0]
        if dt > 0:
            e.ops_samples.append(int((total - e.ops_last[1]) / dt))
            del e.ops_samples[:-16]
    e.ops_last = (now, total)
    used_memory(server)


def iter_specs() -> Iterable[CommandSpec]:
    """Every runnable spec: plain commands and subcommands (not their containers)."""
    for spec in COMMANDS.values():
        if spec.subcommands is not None:
            yield from spec.subcommands.values()
            if spec.handler is not None:
                yield spec
        else:
            yield spec


def total_commands(server: ServerState) -> int:
    return sum(s.stats.calls for s in iter_specs())


def used_memory(server: ServerState) -> int:
    """used_memory. With maxmemory set, the logical figure eviction uses: the start-up
    baseline + the accounted dataset (commands/_evict.py). Without a limit nothing is
    accounted (that costs nothing) and it is the resident set size: Python has no
    allocator counter as cheap as jemalloc's."""
    mem = server.memory
    used = mem.used() if mem.accounting else process_rss()
    e = _EXTRAS.get(server)
    if e is not None and used > e.peak_memory:
        e.peak_memory = used
    return used


def bytes_to_human(n: int) -> str:
    """redis-server's bytesToHuman: 1023B, 1.50K, 2.00M ..."""
    if n < 1024:
        return f"{n}B"
    for unit, div in (("K", 1024), ("M", 1024**2), ("G", 1024**3), ("T", 1024**4)):
        if n < div * 1024:
            return f"{n / div:.2f}{unit}"
    return f"{n / 1024**5:.2f}P"


def _server(s: ServerState) -> dict[str, Any]:
    uptime = int(s.uptime())
    uname = platform.uname()
    return {
        "redis_version": REDIS_VERSION,
        "redis_git_sha1": "00000000",
        "redis_git_dirty": 0,
        "redis_build_id": "0",
        "redis_mode": "standalone",
        "os": f"{uname.system} {uname.release} {uname.machine}",
        "arch_bits": 64 if sys.maxsize > 2**32 else 32,
        "monotonic_clock": "POSIX clock_gettime",
        "multiplexing_api": "epoll" if sys.platform.startswith("linux") else "kqueue",
        "atomicvar_api": "c11-builtin",
        "gcc_version": "0.0.0",
        "process_id": s.pid,
        "process_supervised": "no",
        "run_id": s.run_id,
        "tcp_port": s.tcp_port,
        "server_time_usec": int(time.time() * 1_000_000),
        "uptime_in_seconds": uptime,
        "uptime_in_days": uptime // 86400,
        "hz": s.config.hz,
        "configured_hz": s.config.hz,
        "lru_clock": int(time.time()) & ((1 << 24) - 1),
        "executable": os.path.abspath(s.executable) if s.executable else "",
        "config_file": s.config_file,
        "io_threads_active": 0,
    }


def _clients(s: ServerState) -> dict[str, Any]:
    clients = list(s.clients.values())
    return {
        "connected_clients": len(clients),
        "cluster_connections": 0,
        "maxclients": s.config.maxclients,
        "client_recent_max_input_buffer": max((c.input_buffer_size for c in clients), default=0),
        "client_recent_max_output_buffer": max(
            (c.output_buffer_size for c in clients), default=0
        ),
        "blocked_clients": sum(1 for c in clients if c.blocked),
        "tracking_clients": 0,
        "clients_in_timeout_table": 0,
        "total_blocking_keys": 0,
        "total_blocking_keys_on_nokey": 0,
    }


def _memory(s: ServerState) -> dict[str, Any]:
    mem = s.memory
    if mem.acct is not None:
        mem.acct.check(s.keyspace)  # a loader may just have filled a database
    used = used_memory(s)
    rss = process_rss()
    peak = max(extras(s).peak_memory, used)
    startup = min(mem.baseline, used)
    dataset = mem.dataset() if mem.accounting else used - startup
    cfg = s.config
    try:
        total_system = os.sysconf("SC_PHYS_PAGES") * _PAGE
    except (ValueError, OSError, AttributeError):
        total_system = 0
    return {
        "used_memory": used,
        "used_memory_human": bytes_to_human(used),
        "used_memory_rss": rss,
        "used_memory_rss_human": bytes_to_human(rss),
        "used_memory_peak": peak,
        "used_memory_peak_human": bytes_to_human(peak),
        "used_memory_peak_perc": f"{100 * used / peak:.2f}%" if peak else "100.00%",
        "used_memory_overhead": startup,
        "used_memory_startup": startup,
        "used_memory_dataset": dataset,
        "used_memory_dataset_perc": f"{100 * dataset / max(used - startup, 1):.2f}%",
        "total_system_memory": total_system,
        "total_system_memory_human": bytes_to_human(total_system),
        "maxmemory": cfg.maxmemory,
        "maxmemory_human": bytes_to_human(cfg.maxmemory),
        "maxmemory_policy": cfg.maxmemory_policy,
        "mem_fragmentation_ratio": f"{rss / used:.2f}" if used else "1.00",
        "mem_fragmentation_bytes": rss - used,
        "mem_allocator": "libc",
        "lazyfree_pending_objects": 0,
        "lazyfreed_objects": 0,
    }


def _persistence(s: ServerState) -> dict[str, Any]:
    p = s.persistence
    a = s.aof
    out = {
        "loading": 0,
        "async_loading": 0,
        "current_cow_peak": 0,
        "current_cow_size": 0,
        "current_cow_size_age": 0,
        "current_fork_perc": "0.00",
        "current_save_keys_processed": p.keys_done if p is not None and p.in_progress else 0,
        "current_save_keys_total": p.keys_total if p is not None and p.in_progress else 0,
        "rdb_changes_since_last_save": s.keyspace.dirty,
        "rdb_bgsave_in_progress": int(p is not None and p.in_progress),
        "rdb_last_save_time": s.last_save,
        "rdb_last_bgsave_status": "ok" if p is None or p.last_status_ok else "err",
        "rdb_last_bgsave_time_sec": p.last_bg_seconds if p is not None else -1,
        "rdb_current_bgsave_time_sec": (int(time.monotonic() - p.bg_started)
                                        if p is not None and p.in_progress else -1),
        "rdb_saves": p.saves if p is not None else 0,
        "rdb_last_cow_size": 0,
        "aof_enabled": int(a is not None),
        "aof_rewrite_in_progress": int(a is not None and a.rewriting is not None),
        "aof_rewrite_scheduled": int(a is not None and a.rewrite_scheduled),
        "aof_last_rewrite_time_sec": a.last_rewrite_seconds if a is not None else -1,
        "aof_current_rewrite_time_sec": (int(time.monotonic() - a.rewrite_started)
                                         if a is not None and a.rewriting is not None
                                         else -1),
        "aof_last_bgrewrite_status": "ok" if a is None or a.last_rewrite_ok else "err",
        "aof_rewrites": a.rewrites if a is not None else 0,
        "aof_rewrites_consecutive_failures": 0,
        "aof_last_write_status": "ok" if a is None or not a.error else "err",
        "aof_last_cow_size": 0,
        "module_fork_in_progress": 0,
        "module_fork_last_cow_size": 0,
    }
    if a is not None:  # redis-server adds these while the log is on
        out.update({"aof_current_size": a.size + sum(map(len, a.buf)),
                    "aof_base_size": a.base_size, "aof_pending_rewrite": 0,
                    "aof_buffer_length": sum(map(len, a.buf)),
                    "aof_pending_bio_fsync": int(a.unsynced), "aof_delayed_fsync": 0})
    return out


def _stats(s: ServerState) -> dict[str, Any]:
    st = s.stats
    e = extras(s)
    ops = sum(e.ops_samples) // len(e.ops_samples) if e.ops_samples else 0
    return {
        "total_connections_received": st.total_connections_received,
        "total_commands_processed": total_commands(s),
        "instantaneous_ops_per_sec": ops,
        "total_net_input_bytes": st.total_net_input_bytes,
        "total_net_output_bytes": st.total_net_output_bytes,
        "total_net_repl_input_bytes": 0,
        "total_net_repl_output_bytes": 0,
        "instantaneous_input_kbps": "0.00",
        "instantaneous_output_kbps": "0.00",
        "instantaneous_input_repl_kbps": "0.00",
        "instantaneous_output_repl_kbps": "0.00",
        "rejected_connections": st.rejected_connections,
        "sync_full": 0,
        "sync_partial_ok": 0,
        "sync_partial_err": 0,
        "expired_keys": st.expired_keys + s.keyspace.expired_keys,
        "expired_stale_perc": "0.00",
        "expired_time_cap_reached_count": 0,
        "expire_cycle_cpu_milliseconds": 0,
        "evicted_keys": st.evicted_keys,
        "evicted_clients": 0,
        "total_eviction_exceeded_time": 0,
        "current_eviction_exceeded_time": 0,
        "keyspace_hits": st.keyspace_hits,
        "keyspace_misses": st.keyspace_misses,
        "pubsub_channels": len(s.channels),
        "pubsub_patterns": len(s.patterns),
        "pubsubshard_channels": 0,
        "latest_fork_usec": 0,
        "total_forks": 0,
        "migrate_cached_sockets": 0,
        "slave_expires_tracked_keys": 0,
        "active_defrag_hits": 0,
        "active_defrag_misses": 0,
        "active_defrag_key_hits": 0,
        "active_defrag_key_misses": 0,
        "total_active_defrag_time": 0,
        "current_active_defrag_time": 0,
        "tracking_total_keys": 0,
        "tracking_total_items": 0,
        "tracking_total_prefixes": 0,
        "unexpected_error_replies": st.unexpected_error_replies,
        "total_error_replies": st.total_error_replies,
        "dump_payload_sanitizations": 0,
        "total_reads_processed": 0,
        "total_writes_processed": 0,
        "io_threaded_reads_processed": 0,
        "io_threaded_writes_processed": 0,
        "client_query_buffer_limit_disconnections": st.client_query_buffer_limit_disconnections,
        "client_output_buffer_limit_disconnections": (
            st.client_output_buffer_limit_disconnections
        ),
        "reply_buffer_shrinks": 0,
        "reply_buffer_expands": 0,
        "acl_access_denied_auth": st.acl_access_denied_auth,
        "acl_access_denied_cmd": st.acl_access_denied_cmd,
        "acl_access_denied_key": st.acl_access_denied_key,
        "acl_access_denied_channel": st.acl_access_denied_channel,
    }


def _replication(s: ServerState) -> dict[str, Any]:
    return {
        "role": "master",
        "connected_slaves": 0,
        "master_failover_state": "no-failover",
        "master_replid": s.run_id[:40].ljust(40, "0"),
        "master_replid2": "0" * 40,
        "master_repl_offset": 0,
        "second_repl_offset": -1,
        "repl_backlog_active": 0,
        "repl_backlog_size": 1048576,
        "repl_backlog_first_byte_offset": 0,
        "repl_backlog_histlen": 0,
    }


def _cpu(s: ServerState) -> dict[str, Any]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {
        "used_cpu_sys": f"{me.ru_stime:.6f}",
        "used_cpu_user": f"{me.ru_utime:.6f}",
        "used_cpu_sys_children": f"{kids.ru_stime:.6f}",
        "used_cpu_user_children": f"{kids.ru_utime:.6f}",
    }
    thread = getattr(resource, "RUSAGE_THREAD", None)
    if thread is not None:  # Linux only, like redis-server
        main = resource.getrusage(thread)
        out["used_cpu_sys_main_thread"] = f"{main.ru_stime:.6f}"
        out["used_cpu_user_main_thread"] = f"{main.ru_utime:.6f}"
    return out


def _commandstats(s: ServerState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in iter_specs():
        st = spec.stats
        if st.calls or st.failed_calls or st.rejected_calls:
            # Dispatch accumulates integer nanoseconds on the hot path.
            usec = st.nsec / 1000
            per_call = usec / st.calls if st.calls else 0.0
            out[f"cmdstat_{spec.name}"] = (
                f"calls={st.calls},usec={int(usec)},usec_per_call={per_call:.2f},"
                f"rejected_calls={st.rejected_calls},failed_calls={st.failed_calls}"
            )
    return out


def _latencystats(s: ServerState) -> dict[str, Any]:
    """Redis 7's per-command percentiles (latency-percentiles default: 50 99 99.9), read
    from the commands' power-of-two histograms: each figure is the upper bound of the
    bucket it falls in, so it is exact to within a factor of two (Redis: 2 digits)."""
    out: dict[str, Any] = {}
    for spec in iter_specs():
        hist = spec.stats.hist
        if spec.stats.calls:
            p = [histogram.percentile_ns(hist, q) / 1000 for q in (50.0, 99.0, 99.9)]
            out[f"latency_percentiles_usec_{spec.name}"] = (
                f"p50={p[0]:.3f},p99={p[1]:.3f},p99.9={p[2]:.3f}"
            )
    return out


def _errorstats(s: ServerState) -> dict[str, Any]:
    counts: dict[str, int] = s.stats.errorstats
    return {f"errorstat_{code}": f"count={n}" for code, n in counts.items()}


def _keyspace(s: ServerState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    now_ms = int(time.time() * 1000)
    for db in s.keyspace.dbs:
        if not db.data:
            continue
        avg_ttl = 0
        if db.expires:
            # redis-server estimates it from samples; a bounded average is as good.
            sample = [t - now_ms for _, t in zip(range(1000), db.expires.values(), strict=False)]
            live = [t for t in sample if t > 0]
            avg_ttl = sum(live) // len(live) if live else 0
        out[f"db{db.id}"] = f"keys={len(db.data)},expires={len(db.expires)},avg_ttl={avg_ttl}"
    return out


def _tensorserve(s: ServerState) -> dict[str, Any]:
    loop = s.loop
    loop_name = "uvloop" if loop is not None and type(loop).__module__.startswith("uvloop") \
        else "asyncio"
    reader = s.config.reader
    if reader == "auto":
        reader = "hiredis" if HAVE_HIREDIS else "python"
    return {
        "tensorserve_version": __version__,
        "python_version": platform.python_version(),
        "event_loop": loop_name,
        "reader": reader,
    }


def _empty(s: ServerState) -> dict[str, Any]:
    return {}


def _cluster(s: ServerState) -> dict[str, Any]:
    return {"cluster_enabled": 0}


_BUILDERS: Final[dict[str, Callable[[ServerState], dict[str, Any]]]] = {
    "server": _server,
    "clients": _clients,
    "memory": _memory,
    "persistence": _persistence,
    "stats": _stats,
    "replication": _replication,
    "cpu": _cpu,
    "modules": _empty,
    "commandstats": _commandstats,
    "errorstats": _errorstats,
    "latencystats": _latencystats,
    "cluster": _cluster,
    "keyspace": _keyspace,
    "tensorserve": _tensorserve,
}


def info_fields(server: ServerState, section: str) -> dict[str, Any]:
    """One built-in INFO section's fields (the metrics endpoint reads the same figures)."""
    return _BUILDERS[section](server)


def _section(title: str, fields: dict[str, Any]) -> str:
    lines = [f"# {title}\r\n"]
    lines.extend(f"{k}:{v}\r\n" for k, v in fields.items())
    return "".join(lines)


def info_text(server: ServerState, args: list[bytes]) -> bytes:
    """The INFO reply for section arguments ``args`` (none = ``default``)."""
    wanted = {a.decode("utf-8", "replace").lower() for a in args} or {"default"}
    everything = bool(wanted & {"all", "everything"})
    default = everything or "default" in wanted
    extra = server.info_sections
    parts: list[str] = []
    for name, in_default in _BUILTIN:
        if (default and (in_default or everything)) or name in wanted:
            parts.append(_section(_TITLES.get(name, name.capitalize()), _BUILDERS[name](server)))
        if name == "modules":
            # Module sections (RedisAI's ai_*): with "modules", "everything" or by name,
            # not in the default reply, as redis-server does for module info fields.
            for mod_name, mod_builder in MODULE_SECTIONS.items():
                if everything or "modules" in wanted or mod_name in wanted:
                    parts.append(_section(mod_name, mod_builder(server)))
    for name, builder in extra.items():
        if default or name.lower() in wanted:
            parts.append(_section(_TITLES.get(name, name[:1].upper() + name[1:]), builder()))
    return "\r\n".join(parts).encode("utf-8", "replace")
