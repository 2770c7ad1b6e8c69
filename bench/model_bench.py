"""Model runs: tensorserve's added latency and throughput against the raw engine, same run.

Builds four small models (an MLP 784-256-10 and a two-layer conv net on 1x1x28x28, each
as TorchScript and as ONNX), starts redis-server and two tensorserve servers (default
flags, and ``--inline-run-max-us 0`` so that every run goes through a worker thread;
``--variant`` adds more), each on a free port with persistence off, and measures in one run, interleaved:

- latency at concurrency 1 with redis-py (hiredis parser, RESP2): the pipelined triple
  AI.TENSORSET + AI.MODELEXECUTE + AI.TENSORGET BLOB in one round trip on each
  tensorserve; the raw forward pass of the same model in this process (TorchScript
  module call under torch.inference_mode, onnxruntime InferenceSession.run) and
  tensorserve's own backend ``run`` in this process; a GET round trip on redis-server
  and on tensorserve; and, as a control, a pipelined SET + SET + GET with the same byte
  counts on redis-server;
- throughput (inferences/s) of the same triple at several concurrencies, each client a
  separate process with its own connection sending pre-encoded requests from a plain
  socket (so the client's CPU stays small next to the server's; both are reported).

Reported: added latency = tensorserve triple p50 - raw forward p50, paired within a
repetition, and its ratio to redis-server's GET round trip p50 from the same repetition
(median over repetitions), against the target ratio <= 2.

    python bench/model_bench.py                  # full run (~8 minutes on 2 cores)
    python bench/model_bench.py --quick          # smoke run (~40 s)
    python bench/model_bench.py --models mlp-onnx --concurrency 1,8 --ts-args "--intra-op-parallelism 1"
    python bench/model_bench.py --variant "intra1=--intra-op-parallelism 1" --name model-intra1

Writes bench/results/model.json and bench/results/model.md (``--out``, ``--name``).
"""

from __future__ import annotations

import argparse
import functools
import gc
import io
import multiprocessing as mp
import os
import socket
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    ROOT,
    Server,
    command,
    encode,
    machine_notes,
    sched_seconds,
    write_results,
)

TARGET_RATIO = 2.0  # added latency <= 2x redis-server's GET round trip (issue 3)
CONCURRENCY = (1, 2, 4, 8, 16, 32)
QUICK_CONCURRENCY = (1, 8)
MODEL_IDS = ("mlp-torch", "mlp-onnx", "cnn-torch", "cnn-onnx")
SHAPES: dict[str, tuple[int, ...]] = {"mlp": (1, 784), "cnn": (1, 1, 28, 28)}
# tensorserve servers run side by side: name -> extra flags (``--variant`` adds more).
VARIANTS: dict[str, list[str]] = {"default": [], "inline0": ["--inline-run-max-us", "0"]}
GET_KEY = "bench:k"


def blocks_for(variants: list[str]) -> list[str]:
    """Latency blocks measured for each model in each repetition (order alternates)."""
    return ["raw", "backend", *(f"ts:{v}" for v in variants), "redis_get", "ts_get",
            "redis_triple"]


@dataclass
class ModelCase:
    """One model in one backend, with everything needed to run it here and on a server."""

    id: str  # "mlp-torch"
    net: str  # "mlp" | "cnn"
    backend: str  # "TORCH" | "ONNX"
    key: str
    shape: tuple[int, ...]
    blob: bytes
    x: np.ndarray
    expected: np.ndarray  # the raw forward's output for x
    raw: Callable[[], object]  # one forward pass, same model object, in this process
    backend_run: Callable[[], object] | None  # tensorserve's backend LoadedModel.run, here

    @property
    def x_bytes(self) -> bytes:
        return self.x.tobytes()

    @property
    def out_bytes(self) -> int:
        return int(self.expected.nbytes)


# ---------------------------------------------------------------------------- models


def _torch_net(net: str) -> Any:
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    if net == "mlp":
        return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10)).eval()
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10),
    ).eval()


def _tensorserve_backend(backend: str, blob: bytes) -> Any:
    """tensorserve's own loaded model (runtime/backends), or None if it cannot load here."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from tensorserve.runtime import BackendOptions, parse_device
        from tensorserve.runtime.backends import get_backend

        engine = get_backend(backend)
        device = parse_device(b"CPU")
        if engine is None or device is None:
            return None
        return engine.load_model(blob, device, BackendOptions())
    except Exception as e:
        print(f"tensorserve backend {backend} not measured in process: {e}", file=sys.stderr)
        return None


def build_models(ids: list[str], threads: int) -> list[ModelCase]:
    """The models, exported once; ``threads`` > 0 sets the in-process engines' pools."""
    import onnxruntime as ort
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    cases = []
    for model_id in ids:
        net, backend = model_id.split("-")
        backend = backend.upper()
        shape = SHAPES[net]
        module = _torch_net(net)
        rng = np.random.default_rng(1)
        x = rng.standard_normal(shape).astype(np.float32)
        xt = torch.from_numpy(x)
        buf = io.BytesIO()
        if backend == "TORCH":
            torch.jit.save(torch.jit.script(module), buf)
            blob = buf.getvalue()
            loaded = torch.jit.load(io.BytesIO(blob))
            raw: Callable[[], object] = functools.partial(loaded, xt)
            with torch.inference_mode():
                expected = loaded(xt).numpy().copy()
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
                torch.onnx.export(module, (xt,), cast(Any, buf), input_names=["x"],
                                  output_names=["y"], opset_version=17, dynamo=False)
            blob = buf.getvalue()
            so = ort.SessionOptions()
            if threads > 0:
                so.intra_op_num_threads = threads
            session = ort.InferenceSession(blob, sess_options=so,
                                           providers=["CPUExecutionProvider"])
            feed = {"x": x}
            raw = functools.partial(session.run, None, feed)
            expected = np.asarray(session.run(None, feed)[0])
        handle = _tensorserve_backend(backend, blob)
        backend_run: Callable[[], object] | None = None
        if handle is not None:
            stored = np.frombuffer(x.tobytes(), dtype=np.float32).reshape(shape)  # read-only
            backend_run = functools.partial(handle.run, [stored])

        cases.append(ModelCase(model_id, net, backend, f"bench:{model_id}", shape, blob, x,
                               expected, raw, backend_run))
    return cases


# ---------------------------------------------------------------------------- latency


def time_calls(fn: Callable[[], object], n: int) -> list[int]:
    """Wall time of ``n`` back-to-back calls, in ns (garbage collection off meanwhile)."""
    out = []
    clock = time.perf_counter_ns
    gc.collect()
    gc.disable()
    try:
        for _ in range(n):
            t0 = clock()
            fn()
            out.append(clock() - t0)
    finally:
        gc.enable()
    return out


def triple(r: Any, case: ModelCase, xk: str, yk: str) -> Callable[[], list[Any]]:
    """The pipelined TENSORSET + MODELEXECUTE + TENSORGET BLOB, one round trip."""
    pipe = r.pipeline(transaction=False)
    dims = case.shape
    blob = case.x_bytes
    key = case.key

    def go() -> list[Any]:
        pipe.execute_command("AI.TENSORSET", xk, "FLOAT", *dims, "BLOB", blob)
        pipe.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, xk, "OUTPUTS", 1, yk)
        pipe.execute_command("AI.TENSORGET", yk, "BLOB")
        return list(pipe.execute())

    return go


def redis_triple(r: Any, case: ModelCase) -> Callable[[], list[Any]]:
    """Control on redis-server: three pipelined commands moving the same bytes."""
    pipe = r.pipeline(transaction=False)
    x = case.x_bytes
    y = b"y" * case.out_bytes

    def go() -> list[Any]:
        pipe.set("bench:x", x)
        pipe.set("bench:y", y)
        pipe.get("bench:y")
        return list(pipe.execute())

    return go


def run_counts(port: int, model_key: str) -> tuple[int, int]:
    """(AI.INFO calls of the model, runs taken by CPU queue workers) on a tensorserve."""
    import hiredis

    reply = command(port, "AI.INFO", model_key)
    reader = hiredis.Reader()
    reader.feed(reply)
    fields = reader.gets()
    calls = 0
    if isinstance(fields, list):
        pairs = dict(zip(fields[::2], fields[1::2], strict=False))
        calls = int(pairs.get(b"calls", 0))
    worker = 0
    for line in command(port, "INFO", "modules").decode(errors="replace").splitlines():
        if line.startswith("queue_CPU_calls:"):
            worker = int(line.split(":", 1)[1])
    return calls, worker


def pct(sorted_ns: list[int], q: float) -> float:
    """The q-quantile (nearest rank) of sorted nanoseconds, in microseconds."""
    if not sorted_ns:
        return float("nan")
    i = min(len(sorted_ns) - 1, max(0, round(q * len(sorted_ns)) - 1))
    return sorted_ns[i] / 1000.0


@dataclass
class LatBlock:
    rep: int
    model: str
    block: str
    n: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    runs: int | None = None  # model runs during the block (tensorserve blocks)
    worker_runs: int | None = None  # of which a worker thread did


# ---------------------------------------------------------------------------- throughput


def _client_main(conn: Connection) -> None:
    """A throughput client process: one connection per port, pre-encoded pipelines."""
    import hiredis

    socks: dict[int, socket.socket] = {}
    while True:
        msg = conn.recv()
        if msg[0] == "stop":
            break
        _, port, payload, replies, start_at, end_at = msg
        try:
            s = socks.get(port)
            if s is None:
                s = socks[port] = socket.create_connection(("127.0.0.1", port), timeout=30)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = hiredis.Reader()
            lat: list[int] = []
            count = 0
            cpu0 = time.process_time()
            while time.monotonic() < start_at:
                time.sleep(0.001)
            clock, mono = time.perf_counter_ns, time.monotonic
            while mono() < end_at:
                t0 = clock()
                s.sendall(payload)
                got = 0
                while got < replies:
                    data = s.recv(1 << 16)
                    if not data:
                        raise ConnectionError("server closed the connection")
                    reader.feed(data)
                    while (item := reader.gets()) is not False:
                        if isinstance(item, hiredis.ReplyError):
                            raise RuntimeError(f"error reply: {item}")
                        got += 1
                t1 = clock()
                if mono() <= end_at:
                    count += 1
                    lat.append(t1 - t0)
            conn.send((count, lat, time.process_time() - cpu0, None))
        except Exception as e:
            conn.send((0, [], 0.0, f"{type(e).__name__}: {e}"))
    for s in socks.values():
        s.close()


class ClientPool:
    """``size`` client processes (spawned, so none inherits torch), reused across runs."""

    def __init__(self, size: int) -> None:
        ctx = mp.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[BaseProcess] = []
        for _ in range(size):
            mine, theirs = ctx.Pipe()
            p = ctx.Process(target=_client_main, args=(theirs,), daemon=True)
            p.start()
            self.conns.append(mine)
            self.procs.append(p)

    def run(self, port: int, payloads: list[bytes], replies: int, seconds: float
            ) -> tuple[int, list[int], float, float, list[str]]:
        """Clients 0..len(payloads)-1 each send their payload in a closed loop for
        ``seconds``; (completed, latencies ns, elapsed s, client CPU s, errors)."""
        start_at = time.monotonic() + 0.05 + 0.005 * len(payloads)
        for conn, payload in zip(self.conns, payloads, strict=False):
            conn.send(("run", port, payload, replies, start_at, start_at + seconds))
        total, lat, cpu, errors = 0, [], 0.0, []
        for conn in self.conns[: len(payloads)]:
            count, ns, cpu_s, err = conn.recv()
            total += count
            lat.extend(ns)
            cpu += cpu_s
            if err:
                errors.append(err)
        return total, lat, seconds, cpu, errors

    def close(self) -> None:
        for conn in self.conns:
            try:
                conn.send(("stop",))
            except OSError:
                pass
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.terminate()


@dataclass
class TputRun:
    rep: int
    model: str  # a model id, or "GET" for the plain GET reference
    server: str  # "default" | "inline0" | "redis"
    concurrency: int
    completed: int
    seconds: float
    per_s: float
    p50_us: float
    p99_us: float
    server_cpu_us: float | None  # server CPU (all threads, schedstat) per completed request
    client_cpu_us: float  # client processes' CPU per completed request
    errors: list[str] = field(default_factory=list)


def triple_payload(case: ModelCase, client: int) -> bytes:
    xk, yk = f"bench:x:{client}", f"bench:y:{client}"
    dims = [str(d) for d in case.shape]
    return (encode("AI.TENSORSET", xk, "FLOAT", *dims, "BLOB", case.x_bytes)
            + encode("AI.MODELEXECUTE", case.key, "INPUTS", "1", xk, "OUTPUTS", "1", yk)
            + encode("AI.TENSORGET", yk, "BLOB"))


def tput_run(pool: ClientPool, server: Server, label: str, model: str, payloads: list[bytes],
             replies: int, seconds: float, rep: int) -> TputRun:
    sched0 = sched_seconds(server.pid)
    done, lat, elapsed, client_cpu, errors = pool.run(server.port, payloads, replies, seconds)
    sched = sched_seconds(server.pid) - sched0
    lat.sort()
    per = max(done, 1)
    return TputRun(rep, model, label, len(payloads), done, elapsed, done / elapsed,
                   pct(lat, 0.5), pct(lat, 0.99), sched / per * 1e6, client_cpu / per * 1e6,
                   errors)


# ---------------------------------------------------------------------------- summary


def med(values: list[float]) -> float | None:
    values = [v for v in values if v == v]  # drop NaN
    return statistics.median(values) if values else None


@dataclass
class LatSummary:
    model: str
    variant: str  # tensorserve server variant
    raw_p50_us: float | None
    backend_p50_us: float | None
    ts_p50_us: float | None
    ts_p99_us: float | None  # over all samples of all repetitions
    added_us: float | None  # median over reps of (ts p50 - raw p50)
    redis_get_p50_us: float | None
    ratio: float | None  # median over reps of added / redis GET p50
    ratios: list[float] = field(default_factory=list)
    ts_get_p50_us: float | None = None
    redis_triple_p50_us: float | None = None
    worker_share: float | None = None  # fraction of runs a worker thread did
    vs_default_us: float | None = None  # (this p50 - default p50), paired; not on default
    target: float = TARGET_RATIO
    passed: bool = False


def summarise_latency(blocks: list[LatBlock], pooled: dict[tuple[str, str], list[int]],
                      models: list[str], variants: list[str]) -> list[LatSummary]:
    out = []
    for model in models:
        mine = [b for b in blocks if b.model == model]
        by_rep: dict[int, dict[str, LatBlock]] = {}
        for b in mine:
            by_rep.setdefault(b.rep, {})[b.block] = b

        def p50(block: str, reps: dict[int, dict[str, LatBlock]] = by_rep) -> float | None:
            return med([r[block].p50_us for r in reps.values() if block in r])

        for variant in variants:
            ts = f"ts:{variant}"
            added, ratios, vs_default = [], [], []
            for r in by_rep.values():
                if ts in r and "raw" in r and "redis_get" in r:
                    a = r[ts].p50_us - r["raw"].p50_us
                    added.append(a)
                    ratios.append(a / r["redis_get"].p50_us)
                if variant != "default" and ts in r and "ts:default" in r:
                    vs_default.append(r[ts].p50_us - r["ts:default"].p50_us)
            runs = sum(b.runs or 0 for b in mine if b.block == ts)
            worker = sum(b.worker_runs or 0 for b in mine if b.block == ts)
            all_ts = sorted(pooled.get((model, ts), []))
            s = LatSummary(model, variant, p50("raw"), p50("backend"), p50(ts),
                           pct(all_ts, 0.99) if all_ts else None, med(added),
                           p50("redis_get"), med(ratios), sorted(ratios))
            s.ts_get_p50_us = p50("ts_get")
            s.redis_triple_p50_us = p50("redis_triple")
            s.worker_share = worker / runs if runs else None
            s.vs_default_us = med(vs_default) if variant != "default" else None
            # A negative added latency means the raw reference was disturbed (its p50 came
            # out above the whole round trip's): not a pass.
            s.passed = s.ratio is not None and 0.0 <= s.ratio <= TARGET_RATIO
            out.append(s)
    return out


def summarise_tput(runs: list[TputRun]) -> list[dict[str, Any]]:
    keys = sorted({(r.model, r.server, r.concurrency) for r in runs},
                  key=lambda k: (k[0] == "GET", k[0], k[1], k[2]))
    out = []
    for model, server, c in keys:
        mine = [r for r in runs if (r.model, r.server, r.concurrency) == (model, server, c)]
        out.append({
            "model": model, "server": server, "concurrency": c,
            "per_s": med([r.per_s for r in mine]),
            "per_s_all": sorted(round(r.per_s, 1) for r in mine),
            "p50_us": med([r.p50_us for r in mine]),
            "p99_us": med([r.p99_us for r in mine]),
            "server_cpu_us": med([r.server_cpu_us for r in mine if r.server_cpu_us is not None]),
            "client_cpu_us": med([r.client_cpu_us for r in mine]),
            "errors": sorted({e for r in mine for e in r.errors}),
        })
    return out


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def verdict(s: LatSummary) -> str:
    if s.ratio is None:
        return "ERROR"
    if s.ratio < 0:
        return "raw disturbed"
    return "pass" if s.passed else "FAIL"


def markdown(meta: dict[str, Any], lat: list[LatSummary], tput: list[dict[str, Any]]) -> str:
    m = meta["machine"]
    lines = [
        "# Model benchmark: tensorserve vs the raw engine and redis-server",
        "",
        f"- Date: {m['date_utc']}; host {m['host']}, {m['cpus']} CPUs ({m['cpu_model']}), "
        "shared and noisy; nothing pinned; load average (1 min) "
        f"{meta['loadavg_start'][0]:.1f} at the start, {meta['loadavg_end'][0]:.1f} at the end.",
        f"- redis-server {meta['redis_version']}; tensorserve {meta['tensorserve_version']} "
        f"(checkout {m['checkout']}; extra flags: {' '.join(meta['ts_args']) or 'none'}); "
        f"torch {meta['torch']}, onnxruntime {meta['onnxruntime']}, redis-py {meta['redis_py']} "
        f"(hiredis {meta['hiredis']}, RESP2); Python {m['python']}.",
        "- Servers side by side: redis-server; tensorserve " + "; ".join(
            f"`{name}` ({' '.join(flags) or 'no more flags'})"
            for name, flags in meta["variants"].items())
        + f". In-process engines: {meta['torch_threads']} torch thread(s), onnxruntime "
        + ("default threads." if not meta["engine_threads"] else
           f"{meta['engine_threads']} intra-op thread(s)."),
        f"- Latency: {meta['lat_reps']} repetitions x {meta['samples']} samples per block, "
        "blocks interleaved (order reversed every repetition), concurrency 1, redis-py "
        "pipeline(transaction=False). p50 = median over repetitions of the per-repetition "
        "p50; p99 over all samples. added = tensorserve triple p50 - raw forward p50 and "
        "ratio = added / redis-server GET p50, both paired within a repetition, median "
        f"over repetitions. Target: ratio <= {TARGET_RATIO:g}.",
        f"- Throughput: {meta['tput_reps']} repetitions x {meta['seconds']} s per point, "
        "one client process per connection (plain socket, pre-encoded pipelined triple, "
        "closed loop); servers alternate A B / B A; median over repetitions.",
        "",
        "## Latency (us), concurrency 1",
        "",
        "| model | server | raw p50 | backend run p50 | ts triple p50 | ts triple p99 "
        "| added | redis GET p50 | ratio | target | pass | runs on workers | ts GET p50 "
        "| redis 3-cmd p50 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for s in lat:
        share = "-" if s.worker_share is None else f"{s.worker_share:.0%}"
        lines.append(
            f"| {s.model} | {s.variant} | {fmt(s.raw_p50_us, '.1f')} | "
            f"{fmt(s.backend_p50_us, '.1f')} | {fmt(s.ts_p50_us, '.0f')} | "
            f"{fmt(s.ts_p99_us, '.0f')} | {fmt(s.added_us, '.0f')} | "
            f"{fmt(s.redis_get_p50_us, '.0f')} | {fmt(s.ratio, '.2f')} | "
            f"<= {s.target:g} | {verdict(s)} | {share} | "
            f"{fmt(s.ts_get_p50_us, '.0f')} | {fmt(s.redis_triple_p50_us, '.0f')} |")
    for variant in dict.fromkeys(s.variant for s in lat if s.vs_default_us is not None):
        what = " = the worker hand-off" if variant == "inline0" else ""
        lines += ["", f"{variant} triple p50 - default triple p50 (paired){what}: "
                  + "; ".join(f"{s.model} {s.vs_default_us:+.0f} us"
                              for s in lat if s.variant == variant and s.vs_default_us is not None)
                  + "."]
    concs = sorted({t["concurrency"] for t in tput})
    if tput:
        lines += [
            "",
            "## Throughput (pipelined triples = inferences per second; GET rows: GETs/s)",
            "",
            "| model | server | " + " | ".join(f"c={c}" for c in concs) + " |",
            "|---|---|" + "---:|" * len(concs),
        ]
        rows: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        for t in tput:
            rows.setdefault((t["model"], t["server"]), {})[t["concurrency"]] = t
        for (model, server), by_c in rows.items():
            cells = [fmt(by_c[c]["per_s"], ",.0f") if c in by_c else "-" for c in concs]
            lines.append(f"| {model} | {server} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Server CPU / client CPU per request (us), and client-side p50 / p99 latency (us):",
            "",
            "| model | server | " + " | ".join(f"c={c}" for c in concs) + " |",
            "|---|---|" + "---|" * len(concs),
        ]
        for (model, server), by_c in rows.items():
            cells = []
            for c in concs:
                point = by_c.get(c)
                cells.append("-" if point is None else
                             f"{fmt(point['server_cpu_us'], '.0f')} / "
                             f"{fmt(point['client_cpu_us'], '.0f')}; "
                             f"{fmt(point['p50_us'], '.0f')} / {fmt(point['p99_us'], '.0f')}")
            lines.append(f"| {model} | {server} | " + " | ".join(cells) + " |")
    errors = [(t["model"], t["server"], t["concurrency"], e) for t in tput for e in t["errors"]]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {m_} {s_} c={c}: {e}" for m_, s_, c, e in errors]
    met = []
    for variant in dict.fromkeys(s.variant for s in lat):
        mine = [s for s in lat if s.variant == variant]
        met.append(f"{variant} {sum(s.passed for s in mine)} of {len(mine)}")
    lines += ["", "Latency target met (models per server): " + ", ".join(met) + ".", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 repetition, few samples, concurrency 1 and 8")
    ap.add_argument("--models", default=",".join(MODEL_IDS),
                    help=f"comma-separated subset of {','.join(MODEL_IDS)}")
    ap.add_argument("--reps", type=int, default=None, help="latency repetitions (default 7)")
    ap.add_argument("--samples", type=int, default=None,
                    help="round trips per latency block (default 1000)")
    ap.add_argument("--tput-reps", type=int, default=None,
                    help="throughput repetitions (default 3)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="seconds per throughput point (default 1.5)")
    ap.add_argument("--concurrency", default=None,
                    help=f"comma-separated client counts (default {','.join(map(str, CONCURRENCY))})")
    ap.add_argument("--ts-args", default="", help="extra flags for every tensorserve server, "
                    "e.g. '--intra-op-parallelism 1' (also applied to the in-process engines; "
                    "a --variant's flags are not)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=FLAGS",
                    help="one more tensorserve server run side by side, e.g. "
                    "'intra1=--intra-op-parallelism 1' (repeatable)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="model", help="output file stem (default: model)")
    args = ap.parse_args(argv)

    quick = args.quick
    lat_reps = args.reps if args.reps is not None else (1 if quick else 7)
    samples = args.samples or (200 if quick else 1000)
    warmup = 50 if quick else 300
    tput_reps = args.tput_reps if args.tput_reps is not None else (1 if quick else 3)
    seconds = args.seconds or (0.3 if quick else 1.5)
    concs = (tuple(int(c) for c in args.concurrency.split(",")) if args.concurrency
             else (QUICK_CONCURRENCY if quick else CONCURRENCY))
    ids = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = set(ids) - set(MODEL_IDS)
    if unknown:
        ap.error(f"unknown models {sorted(unknown)}; known: {', '.join(MODEL_IDS)}")
    ts_args = args.ts_args.split()
    variants = dict(VARIANTS)
    for spec in args.variant:
        name, sep, flags = spec.partition("=")
        if not sep or not name.strip() or name.strip() in variants:
            ap.error(f"--variant wants a new NAME=FLAGS, got {spec!r}")
        variants[name.strip()] = flags.split()
    names = list(variants)
    threads = 0
    if "--intra-op-parallelism" in ts_args:
        threads = int(ts_args[ts_args.index("--intra-op-parallelism") + 1])

    # Client processes first: spawned before torch and onnxruntime start their threads.
    pool = ClientPool(max(concs) if tput_reps else 0)
    started = time.monotonic()
    servers: dict[str, Server] = {}
    try:
        import hiredis
        import onnxruntime
        import redis
        import torch

        cases = build_models(ids, threads)
        servers["redis"] = Server("redis")
        for variant, extra in variants.items():
            servers[variant] = Server("tensorserve", [*ts_args, *extra])
        meta: dict[str, Any] = {
            "machine": machine_notes(),
            "redis_version": servers["redis"].version(),
            "tensorserve_version": servers["default"].version(),
            "ts_args": ts_args,
            "variants": variants,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "engine_threads": threads,
            "onnxruntime": onnxruntime.__version__,
            "redis_py": redis.__version__,
            "hiredis": hiredis.__version__,
            "hiredis_parser": bool(redis.utils.HIREDIS_AVAILABLE),
            "lat_reps": lat_reps,
            "samples": samples,
            "warmup": warmup,
            "tput_reps": tput_reps,
            "seconds": seconds,
            "concurrency": list(concs),
            "models": {c.id: {"backend": c.backend, "shape": list(c.shape),
                              "blob_bytes": len(c.blob), "input_bytes": c.x.nbytes,
                              "output_bytes": c.out_bytes} for c in cases},
            "command": " ".join(sys.argv),
            "loadavg_start": os.getloadavg(),
        }
        clients = {k: redis.Redis(host="127.0.0.1", port=s.port, protocol=2)
                   for k, s in servers.items()}
        for r in clients.values():
            r.set(GET_KEY, b"xxx")
        fns: dict[tuple[str, str], Callable[[], object]] = {}
        checks: dict[str, bool] = {}
        for case in cases:
            for variant in variants:
                r = clients[variant]
                r.execute_command("AI.MODELSTORE", case.key, case.backend, "CPU",
                                  "BLOB", case.blob)
                fn = triple(r, case, "bench:x", "bench:y")
                reply = fn()
                got = np.frombuffer(reply[2], dtype=np.float32)
                checks[f"{case.id}:{variant}"] = bool(
                    np.allclose(got, case.expected.ravel(), rtol=1e-4, atol=1e-5))
                fns[(case.id, f"ts:{variant}")] = fn
            fns[(case.id, "raw")] = case.raw
            if case.backend_run is not None:
                fns[(case.id, "backend")] = case.backend_run
            fns[(case.id, "redis_get")] = functools.partial(clients["redis"].get, GET_KEY)
            fns[(case.id, "ts_get")] = functools.partial(clients["default"].get, GET_KEY)
            fns[(case.id, "redis_triple")] = redis_triple(clients["redis"], case)
            with torch.inference_mode():
                for block in blocks_for(names):
                    if (case.id, block) in fns:
                        time_calls(fns[(case.id, block)], warmup)
        meta["outputs_match_raw"] = checks
        if not all(checks.values()):
            print(f"WARNING: outputs differ from the raw forward: {checks}", file=sys.stderr)

        # Latency: per repetition, per model, every block; the order reverses each rep.
        blocks: list[LatBlock] = []
        pooled: dict[tuple[str, str], list[int]] = {}
        for rep in range(lat_reps):
            order = blocks_for(names)
            if rep % 2:
                order.reverse()
            for case in cases:
                for block in order:
                    call = fns.get((case.id, block))
                    if call is None:
                        continue
                    port = servers[block[3:]].port if block.startswith("ts:") else 0
                    before = run_counts(port, case.key) if port else (0, 0)
                    if block in ("raw", "backend"):
                        with torch.inference_mode():
                            ns = time_calls(call, samples)
                    else:
                        ns = time_calls(call, samples)
                    after = run_counts(port, case.key) if port else (0, 0)
                    pooled.setdefault((case.id, block), []).extend(ns)
                    ns.sort()
                    b = LatBlock(rep, case.id, block, len(ns), pct(ns, 0.5), pct(ns, 0.9),
                                 pct(ns, 0.99), sum(ns) / len(ns) / 1000.0)
                    if port:
                        b.runs, b.worker_runs = after[0] - before[0], after[1] - before[1]
                    blocks.append(b)
                    time.sleep(0.02)  # let engine threads that spin after a run go idle
                r50 = {b.block: b.p50_us for b in blocks if b.rep == rep and b.model == case.id}
                print(f"[{time.monotonic() - started:5.0f}s] latency rep {rep} {case.id:<9} "
                      + " ".join(f"{k}={v:.0f}" for k, v in r50.items()), flush=True)
        lat_summary = summarise_latency(blocks, pooled, ids, names)

        # Throughput: per repetition, per model, per concurrency, servers A B / B A.
        tput: list[TputRun] = []
        flip = False
        for rep in range(tput_reps):
            for c in concs:
                get = encode("GET", GET_KEY)
                for label in (["redis", "default"] if not flip else ["default", "redis"]):
                    run = tput_run(pool, servers[label], label, "GET", [get] * c, 1, seconds, rep)
                    tput.append(run)
                    print(f"[{time.monotonic() - started:5.0f}s] tput rep {rep} GET       "
                          f"{label:<8} c={c:<2} {run.per_s:8,.0f}/s p50 {run.p50_us:6.0f} us",
                          flush=True)
                flip = not flip
            for case in cases:
                for c in concs:
                    payloads = [triple_payload(case, i) for i in range(c)]
                    for label in (names if not flip else names[::-1]):
                        run = tput_run(pool, servers[label], label, case.id, payloads, 3,
                                       seconds, rep)
                        tput.append(run)
                        print(f"[{time.monotonic() - started:5.0f}s] tput rep {rep} {case.id:<9} "
                              f"{label:<8} c={c:<2} {run.per_s:8,.0f}/s p50 {run.p50_us:6.0f} us "
                              f"server {fmt(run.server_cpu_us, '.0f')} us/inf"
                              + (f" ERRORS {run.errors[:1]}" if run.errors else ""), flush=True)
                    flip = not flip
        for name, s in servers.items():
            if not s.alive():
                print(f"{name} died: {s.log()[-500:]}", file=sys.stderr)
    finally:
        pool.close()
        for s in servers.values():
            s.stop()

    tput_summary = summarise_tput(tput)
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    meta["loadavg_end"] = os.getloadavg()
    write_results(args.out, args.name,
                  {"meta": meta, "latency": [asdict(s) for s in lat_summary],
                   "throughput": tput_summary, "latency_blocks": [asdict(b) for b in blocks],
                   "throughput_runs": [asdict(r) for r in tput]},
                  markdown(meta, lat_summary, tput_summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
