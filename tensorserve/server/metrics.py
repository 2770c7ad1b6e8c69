"""The Prometheus endpoint (``--metrics-port``): the INFO and AI.INFO figures, scraped.

Nothing is counted twice: a scrape reads the figures INFO and AI.INFO answer from (the
INFO section builders, the commands' and models' counters and power-of-two histograms)
and renders them with prometheus-client. The scrape runs on the event loop, like INFO:
the loop owns that state, so there is no lock and no copy, and the hot path pays only
for the histogram increment it already makes. A small HTTP/1.1 server on the same loop
answers ``GET /metrics``; nothing else listens.

Durations are histograms with fixed power-of-two bounds (tensorserve.histogram), the
same on every instance, so they aggregate across instances (summaries would not).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector

from .. import __version__, histogram
from ..commands._info import info_fields, iter_specs

if TYPE_CHECKING:
    from ..commands import ServerState
    from ..store.model import Model, RunStats
    from ..store.script import Script

__all__ = ["MetricsServer", "registry_for"]

log = logging.getLogger("tensorserve.metrics")

_P: Final = "tensorserve_"
_MAX_REQUEST: Final = 8192  # bytes of request line and headers a scrape may send
_CONTENT_TYPE: Final = b"text/plain; version=0.0.4; charset=utf-8"

# INFO fields exported as they are: (section, field, metric, kind, help).
_FIELDS: Final = (
    ("clients", "connected_clients", "connected_clients", "gauge", "Client connections open."),
    ("clients", "blocked_clients", "blocked_clients", "gauge",
     "Clients waiting in a blocking command or a model run."),
    ("clients", "maxclients", "maxclients", "gauge", "The maxclients setting."),
    ("stats", "total_connections_received", "connections_received", "counter",
     "Connections accepted."),
    ("stats", "rejected_connections", "rejected_connections", "counter",
     "Connections refused (maxclients)."),
    ("stats", "total_commands_processed", "commands_processed", "counter",
     "Commands run."),
    ("stats", "expired_keys", "expired_keys", "counter", "Keys deleted for having expired."),
    ("stats", "evicted_keys", "evicted_keys", "counter", "Keys evicted under maxmemory."),
    ("stats", "keyspace_hits", "keyspace_hits", "counter", "Key lookups that found a key."),
    ("stats", "keyspace_misses", "keyspace_misses", "counter",
     "Key lookups that found no key."),
    ("stats", "total_net_input_bytes", "net_input_bytes", "counter", "Bytes read from clients."),
    ("stats", "total_net_output_bytes", "net_output_bytes", "counter",
     "Bytes written to clients."),
    ("memory", "used_memory", "memory_used_bytes", "gauge", "INFO used_memory."),
    ("memory", "used_memory_rss", "memory_rss_bytes", "gauge", "Resident set size."),
    ("memory", "maxmemory", "memory_max_bytes", "gauge", "The maxmemory setting (0: none)."),
    ("persistence", "rdb_changes_since_last_save", "rdb_changes_since_last_save", "gauge",
     "Writes since the last snapshot."),
    ("persistence", "rdb_last_save_time", "rdb_last_save_timestamp_seconds", "gauge",
     "When the last snapshot succeeded (Unix time)."),
    ("persistence", "rdb_bgsave_in_progress", "rdb_bgsave_in_progress", "gauge",
     "1 while a background save runs."),
    ("persistence", "rdb_saves", "rdb_saves", "counter", "Snapshots written."),
    ("persistence", "aof_enabled", "aof_enabled", "gauge", "1 when the append-only log is on."),
    ("persistence", "aof_rewrite_in_progress", "aof_rewrite_in_progress", "gauge",
     "1 while the log is rewritten."),
)
# INFO status fields exported as 1 (ok) / 0 (err).
_STATUS: Final = (
    ("persistence", "rdb_last_bgsave_status", "rdb_last_save_ok",
     "1 when the last snapshot succeeded."),
    ("persistence", "aof_last_write_status", "aof_last_write_ok",
     "1 when the last append-only log write succeeded."),
)


def _seconds_buckets(hist: Sequence[int]) -> list[tuple[str, float]]:
    """A power-of-two ns histogram as Prometheus buckets in seconds (cumulative)."""
    return [("+Inf" if i < 0 else repr((1 << i) / 1e9), float(n))
            for i, n in histogram.cumulative(hist, histogram.NS_BOUNDS)]


def _sum_seconds(total_ns: int) -> float:
    return total_ns / 1e9


class _Collector:
    """prometheus-client's custom-collector protocol: ``collect`` builds every family
    from the server's state at scrape time."""

    def __init__(self, state: ServerState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        state = self.state
        info = GaugeMetricFamily(_P + "build_info", "tensorserve's version.",
                                 labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info
        sections: dict[str, dict[str, Any]] = {}
        for section, name, metric, kind, text in _FIELDS:
            fields = sections.get(section)
            if fields is None:
                fields = sections[section] = info_fields(state, section)
            value = fields.get(name)
            if value is None:
                continue
            family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)
            yield family(_P + metric, text, value=float(value))
        for section, name, metric, text in _STATUS:
            value = sections[section].get(name)
            yield GaugeMetricFamily(_P + metric, text, value=float(value == "ok"))
        uptime = info_fields(state, "server").get("uptime_in_seconds", 0)
        yield GaugeMetricFamily(_P + "uptime_seconds", "Seconds since start.",
                                value=float(uptime))
        yield from self._keyspace()
        yield from self._commands()
        yield from self._runs()

    def _keyspace(self) -> Iterator[Metric]:
        keys = GaugeMetricFamily(_P + "keys", "Keys per database.", labels=["db"])
        expires = GaugeMetricFamily(_P + "keys_expiring", "Keys with a TTL per database.",
                                    labels=["db"])
        for db in self.state.keyspace.dbs:
            if db.data:
                keys.add_metric([str(db.id)], float(len(db.data)))
                expires.add_metric([str(db.id)], float(len(db.expires)))
        yield keys
        yield expires

    def _commands(self) -> Iterator[Metric]:
        calls = CounterMetricFamily(_P + "command_calls", "Calls per command.",
                                    labels=["command"])
        failed = CounterMetricFamily(_P + "command_failed_calls",
                                     "Calls that answered an error, per command.",
                                     labels=["command"])
        rejected = CounterMetricFamily(_P + "command_rejected_calls",
                                       "Calls refused before running (arity, auth, ...).",
                                       labels=["command"])
        duration = HistogramMetricFamily(_P + "command_duration_seconds",
                                         "Time in the command's handler.",
                                         labels=["command"])
        for spec in iter_specs():
            st = spec.stats
            if not (st.calls or st.failed_calls or st.rejected_calls):
                continue
            label = [spec.name]
            calls.add_metric(label, float(st.calls))
            failed.add_metric(label, float(st.failed_calls))
            rejected.add_metric(label, float(st.rejected_calls))
            duration.add_metric(label, _seconds_buckets(st.hist), _sum_seconds(st.nsec))
        yield from (calls, failed, rejected, duration)
        errors = CounterMetricFamily(_P + "error_replies", "Error replies by error code.",
                                     labels=["code"])
        for code, n in self.state.stats.errorstats.items():
            errors.add_metric([code], float(n))
        yield errors

    def _runs(self) -> Iterator[Metric]:
        labels = ["key", "kind", "backend", "device"]
        runs = CounterMetricFamily(_P + "model_runs", "Runs of a stored model or script.",
                                   labels=labels)
        errors = CounterMetricFamily(_P + "model_run_errors", "Runs that failed.",
                                     labels=labels)
        samples = CounterMetricFamily(_P + "model_samples",
                                      "Rows (dim 0 of the first output) computed.",
                                      labels=labels)
        wait = HistogramMetricFamily(_P + "model_queue_wait_seconds",
                                     "Time a run waited for a worker.", labels=labels)
        compute = HistogramMetricFamily(_P + "model_compute_seconds",
                                        "Time a run spent in the engine.", labels=labels)
        batch = HistogramMetricFamily(_P + "model_batch_rows",
                                      "Rows per engine call, for auto-batching models.",
                                      labels=labels)
        runtime = self.state.runtime
        for label, stats in _by_label(list(runtime.run_values)):
            runs.add_metric(label, float(stats.calls))
            errors.add_metric(label, float(stats.errors))
            samples.add_metric(label, float(stats.samples))
            wait.add_metric(label, _seconds_buckets(stats.wait_hist),
                            _sum_seconds(stats.queue_wait_ns))
            compute.add_metric(label, _seconds_buckets(stats.run_hist),
                               _sum_seconds(stats.duration_ns))
            if stats.batches:
                buckets = [("+Inf" if i < 0 else str(1 << i), float(n))
                           for i, n in histogram.cumulative(stats.batch_rows_hist,
                                                            histogram.ROW_BOUNDS)]
                batch.add_metric(label, buckets, float(stats.batched_rows))
        yield from (runs, errors, samples, wait, compute, batch)
        pending = GaugeMetricFamily(_P + "run_queue_pending",
                                    "Runs queued, running or being batched per device.",
                                    labels=["device"])
        for name in list(runtime.queues):
            pending.add_metric([name], float(runtime.pending(name)))
        yield pending


def _by_label(values: Iterable[Model | Script]) -> list[tuple[list[str], RunStats]]:
    """One entry per label set. Two live values may share a key name (in two databases,
    or an old model a running job still holds); their figures are added together, as
    Prometheus wants one sample per label set."""
    from ..store.model import Model, RunStats

    groups: dict[tuple[str, ...], list[RunStats]] = {}
    for v in values:
        kind = "model" if isinstance(v, Model) else "script"
        label = (v.key.decode("utf-8", "replace"), kind, v.backend, v.device.name)
        groups.setdefault(label, []).append(v.stats)
    out = []
    for labels, group in groups.items():
        stats = group[0]
        if len(group) > 1:
            stats = RunStats()
            for other in group:
                _add_stats(stats, other)
        out.append((list(labels), stats))
    return out


def _add_stats(into: RunStats, other: RunStats) -> None:
    into.calls += other.calls
    into.errors += other.errors
    into.samples += other.samples
    into.queue_wait_ns += other.queue_wait_ns
    into.duration_ns += other.duration_ns
    into.batches += other.batches
    into.batched_rows += other.batched_rows
    for mine, theirs in ((into.wait_hist, other.wait_hist), (into.run_hist, other.run_hist)):
        for i, n in enumerate(theirs):
            mine[i] += n
    rows = into.batch_rows_hist
    rows.extend([0] * (len(other.batch_rows_hist) - len(rows)))
    for i, n in enumerate(other.batch_rows_hist):
        rows[i] += n


def registry_for(state: ServerState) -> CollectorRegistry:
    """A registry with the server's figures and the process's (CPU, RSS, open files)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(state))
    ProcessCollector(registry=registry)
    return registry


class MetricsServer:
    """``GET /metrics`` over HTTP/1.1 on the server's event loop."""

    def __init__(self, state: ServerState) -> None:
        self.registry = registry_for(state)
        self._servers: list[asyncio.base_events.Server] = []
        self.ports: list[int] = []

    async def start(self, hosts: Sequence[str], port: int) -> None:
        for host in hosts:
            srv = await asyncio.start_server(self._handle, host=host, port=port,
                                             reuse_address=True)
            self._servers.append(srv)
            self.ports.extend(s.getsockname()[1] for s in srv.sockets)

    def close(self) -> None:
        for srv in self._servers:
            srv.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            with contextlib.suppress(asyncio.TimeoutError, ConnectionError,
                                     asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                while True:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
                    if len(head) > _MAX_REQUEST:
                        await self._reply(writer, 431, b"request too large\n", close=True)
                        return
                    keep = await self._answer(head, writer)
                    if not keep:
                        return
        finally:
            writer.close()

    async def _answer(self, head: bytes, writer: asyncio.StreamWriter) -> bool:
        line, _, headers = head.partition(b"\r\n")
        parts = line.split()
        close = b"connection: close" in headers.lower() or parts[-1:] == [b"HTTP/1.0"]
        if len(parts) != 3:
            await self._reply(writer, 400, b"bad request\n", close=True)
            return False
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if method not in (b"GET", b"HEAD"):
            await self._reply(writer, 405, b"only GET\n", close=close)
        elif target != b"/metrics":
            await self._reply(writer, 404, b"the metrics are at /metrics\n", close=close)
        else:
            body = generate_latest(self.registry)
            await self._reply(writer, 200, body if method == b"GET" else b"", close=close,
                              length=len(body), content_type=_CONTENT_TYPE)
        return not close

    async def _reply(self, writer: asyncio.StreamWriter, status: int, body: bytes, *,
                     close: bool, length: int | None = None,
                     content_type: bytes = b"text/plain; charset=utf-8") -> None:
        reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found",
                  405: b"Method Not Allowed", 431: b"Request Header Fields Too Large"}[status]
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n"
                     % (status, reason, content_type, len(body) if length is None else length,
                        b"Connection: close\r\n" if close else b"") + body)
        await writer.drain()
