"""Auto-batching: throughput and latency of batched against unbatched keys, same server, same run.

Builds an MLP 784-256-10 (model_bench's "mlp") and a wider MLP 784-1024-1024-10
("mlpwide", where compute dominates), each as TorchScript and as ONNX, starts ONE
tensorserve server (default flags, free port, persistence off) and stores every model
under three keys: BATCHSIZE 0 (unbatched), 16 and 32. It pre-stores 64 distinct 1x784
FLOAT input tensors ``x:000000000000`` .. ``x:000000000063`` (the 12-digit zero-padded
form redis-benchmark gives ``__rand_int__`` with ``-r 64``). Before any load, every key
runs all 64 inputs at once (one connection each, so that batched keys really concatenate
and split) and each output is checked against the in-process forward. The ONNX export
has a dynamic batch dimension (model_bench's has not: a batch would not fit it).

Load comes from redis-benchmark (a C client, so that the client is not the bottleneck):

    redis-benchmark -p PORT -c C -n N -r 64 --csv \\
        AI.MODELEXECUTE KEY INPUTS 1 x:__rand_int__ OUTPUTS 1 y:__rand_int__

C connections, one request outstanding on each. N is chosen so that a measurement takes
about ``--seconds`` (a short calibration run per (model, key, C) in the first
repetition, which also warms up; later repetitions use the rate measured before). Every
(model, key, C) is measured once per repetition, keys interleaved (their order reverses
at every step); reported values are medians over repetitions. Per measurement:

- redis-benchmark's CSV line: requests/s, p50 and p99 latency;
- rows per batch actually achieved: deltas of ``batched_rows`` and ``batches`` from
  ``INFO ai_batching`` read before and after (unbatched keys: 1);
- engine calls made by a queue worker thread (INFO ai_queues), of all engine calls
  (runs, or batches): the rest ran inline on the event loop;
- CPU seconds of redis-benchmark (``RUSAGE_CHILDREN`` delta) and of the server (its
  /proc stat), to show that the client is not what limits throughput;
- right after it, with the server idle: the raw in-process throughput (rows/s) of the
  same blob at the achieved batch size, round(rows per batch) >= 1, on one thread
  (torch.jit.load under torch.inference_mode with torch.set_num_threads(1);
  onnxruntime InferenceSession, intra_op_num_threads=1, CPUExecutionProvider), the same
  thread count the server's engines get by default (intra-op-parallelism 1).

Ratios (batched / unbatched at the same C, server / raw) are paired within a repetition
and their median reported: on a shared, noisy machine only ratios from one run mean
anything. Targets, per model:

- at C=32, batched requests/s (best of BATCHSIZE 16 and 32; each shown) >= 1.8x unbatched;
- at C=32, that batched throughput >= 50% of the raw in-process throughput at its
  achieved batch size;
- at C=1, p99 of every batched key <= 1.10x the unbatched p99.

    python bench/batch_bench.py                  # full run (~6-7 minutes on 2 cores)
    python bench/batch_bench.py --quick          # smoke run (~25 s)
    python bench/batch_bench.py --models mlpwide-torch --concurrency 1,32 --reps 5

Writes bench/results/batch.json and bench/results/batch.md (``--out``, ``--name``).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import resource
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    Server,
    command,
    cpu_seconds,
    encode,
    machine_notes,
    need,
    write_results,
)
from model_bench import _torch_net, fmt, med

MODEL_IDS = ("mlp-torch", "mlp-onnx", "mlpwide-torch", "mlpwide-onnx")
QUICK_MODELS = ("mlp-torch", "mlp-onnx")
BATCHSIZES = (0, 16, 32)
CONCURRENCY = (1, 8, 32, 64)
QUICK_CONCURRENCY = (1, 32)
SHAPE = (1, 784)
KEYSPACE = 64  # redis-benchmark -r: input/output keys x:/y:000000000000 .. 000000000063
TARGET_SPEEDUP = 1.8  # batched rps >= 1.8x unbatched at C=32
TARGET_RAW_SHARE = 0.5  # batched rps >= 50% of the raw engine at the achieved batch
TARGET_P99 = 1.10  # batched p99 <= 1.10x unbatched at C=1
TARGET_C_TPUT = 32
TARGET_C_LAT = 1


# ---------------------------------------------------------------------------- models


def _net(net: str) -> Any:
    """model_bench's nets, plus the wider MLP 784-1024-1024-10."""
    if net != "mlpwide":
        return _torch_net(net)
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 10)).eval()


def export_blob(net: str, backend: str) -> bytes:
    """The model as model_bench exports it: torch.jit.script, or ONNX opset 17 (TorchScript
    exporter), with a dynamic batch dimension so that the ONNX model takes any batch."""
    import torch

    module = _net(net)
    buf = io.BytesIO()
    if backend == "TORCH":
        torch.jit.save(torch.jit.script(module), buf)
    else:
        xt = torch.zeros(SHAPE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
            torch.onnx.export(module, (xt,), cast(Any, buf), input_names=["x"],
                              output_names=["y"], opset_version=17, dynamo=False,
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return buf.getvalue()


class RawEngine:
    """The same blob loaded in this process on one thread; ``forward(x)`` -> output."""

    def __init__(self, backend: str, blob: bytes) -> None:
        self.backend = backend
        self.forward: Callable[[np.ndarray], np.ndarray]
        if backend == "TORCH":
            import torch

            torch.set_num_threads(1)
            module = torch.jit.load(io.BytesIO(blob))

            def fwd(x: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return cast(np.ndarray, module(torch.from_numpy(x)).numpy())

            self.forward = fwd
        else:
            import onnxruntime as ort

            so = ort.SessionOptions()
            so.intra_op_num_threads = 1
            so.inter_op_num_threads = 1
            session = ort.InferenceSession(blob, sess_options=so,
                                           providers=["CPUExecutionProvider"])

            def fwd(x: np.ndarray) -> np.ndarray:
                return np.asarray(session.run(None, {"x": x})[0])

            self.forward = fwd

    def rows_per_s(self, batch: int, seconds: float, chunks: int = 3) -> float:
        """Median over ``chunks`` timed stretches of forward passes at ``batch`` rows."""
        x = np.random.default_rng(batch).standard_normal((batch, SHAPE[1])).astype(np.float32)
        fwd = self.forward
        for _ in range(3):
            fwd(x)  # warm up this batch shape
        rates = []
        per = seconds / chunks
        for _ in range(chunks):
            n = 0
            t0 = time.perf_counter()
            while True:
                fwd(x)
                n += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= per:
                    break
            rates.append(n * batch / elapsed)
        return float(np.median(rates))


@dataclass
class Case:
    id: str  # "mlp-torch"
    net: str
    backend: str  # "TORCH" | "ONNX"
    blob: bytes
    raw: RawEngine

    def key(self, batchsize: int) -> str:
        return f"bench:{self.id}:b{batchsize}"


# ---------------------------------------------------------------------------- measuring


def input_key(i: int) -> str:
    return f"x:{i:012d}"


def worker_jobs(port: int) -> int:
    """Jobs (single runs or whole batches) taken by queue worker threads so far; the
    rest ran inline on the event loop (INFO ai_queues)."""
    total = 0
    for line in command(port, "INFO", "ai_queues").decode(errors="replace").splitlines():
        name, sep, value = line.partition(":")
        if sep and name.startswith("queue_") and name.endswith("_calls"):
            total += int(value)
    return total


def batching_stats(port: int) -> dict[str, dict[str, str]]:
    """INFO ai_batching, parsed: model key -> its fields."""
    raw = command(port, "INFO", "ai_batching").decode(errors="replace")
    out: dict[str, dict[str, str]] = {}
    for line in raw.splitlines():
        name, sep, rest = line.partition(":")
        if not sep or not name.startswith("model"):
            continue
        fields = dict(part.partition("=")[::2] for part in rest.strip().split(","))
        if "key" in fields:
            out[fields["key"]] = fields
    return out


def check_outputs(port: int, key: str) -> list[np.ndarray]:
    """Every stored input through ``key`` at once, one connection each (runs of one
    connection are done one after the other, so a single pipeline would never batch),
    then each output: in input order."""
    import hiredis

    def read(s: socket.socket, reader: Any, count: int) -> list[Any]:
        out: list[Any] = []
        while len(out) < count:
            while (item := reader.gets()) is not False:
                if isinstance(item, hiredis.ReplyError):
                    raise RuntimeError(f"{key}: error reply {item}")
                out.append(item)
            if len(out) < count:
                data = s.recv(1 << 20)
                if not data:
                    raise ConnectionError("server closed the connection")
                reader.feed(data)
        return out

    socks = [socket.create_connection(("127.0.0.1", port), timeout=30)
             for _ in range(KEYSPACE)]
    try:
        for i, s in enumerate(socks):
            s.sendall(encode("AI.MODELEXECUTE", key, "INPUTS", "1", input_key(i),
                             "OUTPUTS", "1", f"bench:check:{i}"))
        for s in socks:
            read(s, hiredis.Reader(), 1)
        socks[0].sendall(b"".join(encode("AI.TENSORGET", f"bench:check:{i}", "BLOB")
                                  for i in range(KEYSPACE)))
        blobs = read(socks[0], hiredis.Reader(), KEYSPACE)
    finally:
        for s in socks:
            s.close()
    return [np.frombuffer(cast(bytes, b), dtype=np.float32) for b in blobs]


@dataclass
class Measurement:
    rep: int
    model: str
    batchsize: int
    concurrency: int
    requests: int  # redis-benchmark -n
    wall_s: float  # the redis-benchmark process, start to exit
    rps: float
    avg_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    client_cpu_s: float  # redis-benchmark's user + system CPU
    server_cpu_s: float  # tensorserve's, all threads
    batches: int | None = None  # INFO ai_batching deltas (batched keys)
    batched_runs: int | None = None
    batched_rows: int | None = None
    rows_per_batch: float = 1.0
    raw_batch: int = 1  # round(rows_per_batch), at least 1
    raw_rows_per_s: float | None = None  # in-process, right after, server idle
    worker_jobs: int = 0  # engine calls made by a worker thread (the rest ran inline)
    errors: list[str] = field(default_factory=list)

    @property
    def engine_calls(self) -> int:
        return self.batches if self.batches is not None else self.requests

    @property
    def worker_share(self) -> float:
        return self.worker_jobs / self.engine_calls if self.engine_calls else float("nan")

    @property
    def client_share(self) -> float:
        total = self.client_cpu_s + self.server_cpu_s
        return self.client_cpu_s / total if total > 0 else 0.0


def redis_benchmark(port: int, key: str, c: int, n: int) -> tuple[dict[str, float], float,
                                                                   float, list[str]]:
    """One redis-benchmark run: (CSV values, wall s, its CPU s, error lines)."""
    cmd = [need("redis-benchmark"), "-h", "127.0.0.1", "-p", str(port), "-c", str(c),
           "-n", str(n), "-r", str(KEYSPACE), "--csv",
           "AI.MODELEXECUTE", key, "INPUTS", "1", "x:__rand_int__", "OUTPUTS", "1",
           "y:__rand_int__"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    values: dict[str, float] = {}
    header: list[str] | None = None
    errors = []
    for line in proc.stdout.splitlines():
        if not line.startswith('"'):
            if line.strip():
                errors.append(line.strip())
            continue
        row = next(csv.reader([line]))
        if row and row[0] == "test":
            header = row
        elif header is not None and len(row) == len(header):
            values = {h: float(v) for h, v in zip(header[1:], row[1:], strict=True)}
    errors += [e.strip() for e in proc.stderr.splitlines() if e.strip()]
    if proc.returncode != 0 or not values:
        errors.append(f"redis-benchmark exit {proc.returncode}, no CSV result")
    return values, wall, cpu, errors[:5]


def measure(server: Server, case: Case, batchsize: int, c: int, n: int, rep: int,
            raw_seconds: float) -> Measurement:
    key = case.key(batchsize)
    before = batching_stats(server.port).get(key) if batchsize else None
    jobs0 = worker_jobs(server.port)
    srv0 = cpu_seconds(server.pid)
    values, wall, client_cpu, errors = redis_benchmark(server.port, key, c, n)
    srv = cpu_seconds(server.pid) - srv0
    jobs = worker_jobs(server.port) - jobs0
    m = Measurement(rep, case.id, batchsize, c, n, wall, values.get("rps", 0.0),
                    values.get("avg_latency_ms", float("nan")),
                    values.get("p50_latency_ms", float("nan")),
                    values.get("p95_latency_ms", float("nan")),
                    values.get("p99_latency_ms", float("nan")),
                    values.get("max_latency_ms", float("nan")), client_cpu, srv,
                    worker_jobs=jobs, errors=errors)
    if batchsize:
        after = batching_stats(server.port).get(key)
        if before is not None and after is not None:
            m.batches = int(after["batches"]) - int(before["batches"])
            m.batched_runs = int(after["batched_runs"]) - int(before["batched_runs"])
            m.batched_rows = int(after["batched_rows"]) - int(before["batched_rows"])
            m.rows_per_batch = m.batched_rows / m.batches if m.batches else float("nan")
        else:
            m.errors.append(f"{key} missing from INFO ai_batching")
            m.rows_per_batch = float("nan")
    if raw_seconds > 0:
        m.raw_batch = max(1, round(m.rows_per_batch)) if m.rows_per_batch == m.rows_per_batch \
            else 1
        time.sleep(0.05)  # let the server's engine threads go idle
        m.raw_rows_per_s = case.raw.rows_per_s(m.raw_batch, raw_seconds)
    return m


def calibrate(server: Server, case: Case, batchsize: int, c: int, seconds: float) -> float:
    """Requests/s from short runs (which also warm the key up at this concurrency)."""
    n = max(200, 10 * c)
    rate = 0.0
    for _ in range(3):
        values, wall, _, errors = redis_benchmark(server.port, case.key(batchsize), c, n)
        if errors and not values:
            raise RuntimeError(f"redis-benchmark failed on {case.key(batchsize)}: {errors}")
        rate = values.get("rps", 0.0) or n / wall
        if wall >= 0.15 * seconds:
            break
        n = max(n, int(rate * 0.25 * seconds))
    return rate


def requests_for(rate: float, c: int, seconds: float) -> int:
    return max(20 * c, 200, int(rate * seconds))


# ---------------------------------------------------------------------------- summary


def paired(runs: list[Measurement], model: str, bs: int, c: int, base_bs: int,
           value: Callable[[Measurement, Measurement], float | None]) -> float | None:
    """Median over repetitions of value(run of bs, run of base_bs), same model and c."""
    by_rep = {(m.rep, m.batchsize): m for m in runs if m.model == model and m.concurrency == c}
    out = []
    for (rep, b), m in by_rep.items():
        base = by_rep.get((rep, base_bs))
        if b == bs and base is not None:
            v = value(m, base)
            if v is not None:
                out.append(v)
    return med(out)


def summarise(runs: list[Measurement], models: list[str], batchsizes: list[int],
              concs: list[int]) -> list[dict[str, Any]]:
    out = []
    for model in models:
        for bs in batchsizes:
            for c in concs:
                mine = [m for m in runs if (m.model, m.batchsize, m.concurrency) == (model, bs, c)]
                if not mine:
                    continue
                out.append({
                    "model": model, "batchsize": bs, "concurrency": c,
                    "rps": med([m.rps for m in mine]),
                    "rps_all": sorted(round(m.rps, 1) for m in mine),
                    "vs_unbatched": paired(runs, model, bs, c, 0,
                                           lambda m, b: m.rps / b.rps if b.rps else None),
                    "p50_ms": med([m.p50_ms for m in mine]),
                    "p99_ms": med([m.p99_ms for m in mine]),
                    "p50_vs_unbatched": paired(runs, model, bs, c, 0,
                                               lambda m, b: m.p50_ms / b.p50_ms
                                               if b.p50_ms else None),
                    "p99_vs_unbatched": paired(runs, model, bs, c, 0,
                                               lambda m, b: m.p99_ms / b.p99_ms
                                               if b.p99_ms else None),
                    "rows_per_batch": med([m.rows_per_batch for m in mine]),
                    "raw_batch": max(1, round(med([float(m.raw_batch) for m in mine]) or 1)),
                    "raw_rows_per_s": med([m.raw_rows_per_s for m in mine
                                           if m.raw_rows_per_s is not None]),
                    "of_raw": med([m.rps / m.raw_rows_per_s for m in mine
                                   if m.raw_rows_per_s]),
                    "on_worker": med([m.worker_share for m in mine]),
                    "client_cpu_cores": med([m.client_cpu_s / m.wall_s for m in mine]),
                    "server_cpu_cores": med([m.server_cpu_s / m.wall_s for m in mine]),
                    "client_share": med([m.client_share for m in mine]),
                    "client_cpu_us_per_req": med([m.client_cpu_s / m.requests * 1e6
                                                  for m in mine]),
                    "server_cpu_us_per_req": med([m.server_cpu_s / m.requests * 1e6
                                                  for m in mine]),
                    "wall_s": med([m.wall_s for m in mine]),
                    "errors": sorted({e for m in mine for e in m.errors}),
                })
    return out


def targets(summary: list[dict[str, Any]], models: list[str]) -> list[dict[str, Any]]:
    """The three targets per model, from the summary rows."""
    rows = {(s["model"], s["batchsize"], s["concurrency"]): s for s in summary}
    out = []
    for model in models:
        batched = sorted({s["batchsize"] for s in summary if s["model"] == model and s["batchsize"]})
        t: dict[str, Any] = {"model": model}
        at_c = [rows[(model, bs, TARGET_C_TPUT)] for bs in batched
                if (model, bs, TARGET_C_TPUT) in rows]
        speedups = {s["batchsize"]: s["vs_unbatched"] for s in at_c}
        best = max(at_c, key=lambda s: s["vs_unbatched"] or 0.0, default=None)
        t["speedup_each"] = speedups
        t["speedup_best_batchsize"] = best["batchsize"] if best else None
        t["speedup"] = best["vs_unbatched"] if best else None
        t["speedup_pass"] = None if t["speedup"] is None else t["speedup"] >= TARGET_SPEEDUP
        t["of_raw_each"] = {s["batchsize"]: s["of_raw"] for s in at_c}
        t["of_raw"] = best["of_raw"] if best else None
        t["of_raw_pass"] = None if t["of_raw"] is None else t["of_raw"] >= TARGET_RAW_SHARE
        p99s = {bs: rows[(model, bs, TARGET_C_LAT)]["p99_vs_unbatched"] for bs in batched
                if (model, bs, TARGET_C_LAT) in rows}
        t["p99_ratio_each"] = p99s
        worst = [v for v in p99s.values() if v is not None]
        t["p99_ratio"] = max(worst) if worst else None
        t["p99_pass"] = None if t["p99_ratio"] is None else t["p99_ratio"] <= TARGET_P99
        t["p50_ratio_each"] = {bs: rows[(model, bs, TARGET_C_LAT)]["p50_vs_unbatched"]
                               for bs in batched if (model, bs, TARGET_C_LAT) in rows}
        out.append(t)
    return out


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def markdown(meta: dict[str, Any], summary: list[dict[str, Any]],
             tgts: list[dict[str, Any]]) -> str:
    m = meta["machine"]
    lines = [
        "# Auto-batching benchmark: BATCHSIZE 16 and 32 against unbatched, one server",
        "",
        f"- Date: {m['date_utc']}; host {m['host']}, {m['cpus']} CPUs ({m['cpu_model']}), "
        "shared and noisy; nothing pinned; load average (1 min) "
        f"{meta['loadavg_start'][0]:.1f} at the start, {meta['loadavg_end'][0]:.1f} at the end; "
        f"run took {meta['elapsed_s']:.0f} s.",
        f"- tensorserve {meta['tensorserve_version']} (checkout {m['checkout']}; default "
        f"flags: {meta['server_configs']}); {meta['redis_benchmark']}; torch {meta['torch']}, "
        f"onnxruntime {meta['onnxruntime']}; Python {m['python']}.",
        f"- Load: redis-benchmark -c C -n N -r {KEYSPACE} `AI.MODELEXECUTE key INPUTS 1 "
        "x:__rand_int__ OUTPUTS 1 y:__rand_int__` over 64 stored 1x784 FLOAT inputs; N for "
        f"~{meta['seconds']:g} s per measurement; {meta['reps']} repetition(s), keys "
        "interleaved; medians over repetitions. Ratios (x unbatched, % of raw, p99 ratio) "
        "are paired within a repetition, then the median.",
        "- rows/batch: INFO ai_batching deltas (batched_rows / batches) over the measurement "
        "(unbatched: 1). raw rows/s: the same blob in the benchmark process, one thread, "
        "batch = round(rows/batch), measured right after with the server idle; % of raw = "
        "server requests/s (1 row each) / raw rows/s. client CPU: redis-benchmark's CPU in "
        "cores (its share of client + server CPU). on worker: engine calls (runs, or "
        "batches) a queue worker thread made, of all; the rest ran inline on the event loop.",
        "",
    ]
    for model in meta["models"]:
        mine = [s for s in summary if s["model"] == model]
        if not mine:
            continue
        lines += [
            f"## {model} ({meta['models'][model]['blob_bytes']:,} byte blob)",
            "",
            "| BATCHSIZE | c | rps | x unbatched | p50 ms | p99 ms | rows/batch "
            "| raw rows/s @batch | % of raw | on worker | client CPU |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for s in mine:
            raw = (f"{fmt(s['raw_rows_per_s'], ',.0f')} @{s['raw_batch']}"
                   if s["raw_rows_per_s"] is not None else "-")
            of_raw = "-" if s["of_raw"] is None else f"{s['of_raw']:.0%}"
            lines.append(
                f"| {s['batchsize'] or '0 (off)'} | {s['concurrency']} | "
                f"{fmt(s['rps'], ',.0f')} | {fmt(s['vs_unbatched'], '.2f')} | "
                f"{fmt(s['p50_ms'], '.3f')} | {fmt(s['p99_ms'], '.3f')} | "
                f"{fmt(s['rows_per_batch'], '.2f')} | {raw} | {of_raw} | "
                f"{'-' if s['on_worker'] is None else format(s['on_worker'], '.0%')} | "
                f"{fmt(s['client_cpu_cores'], '.2f')} ({fmt(s['client_share'], '.0%')}) |")
        lines.append("")
    lines += [
        "## Targets",
        "",
        f"| model | c={TARGET_C_TPUT} batched / unbatched rps (>= {TARGET_SPEEDUP:g}x) | pass "
        f"| c={TARGET_C_TPUT} batched / raw at achieved batch (>= {TARGET_RAW_SHARE:.0%}) "
        f"| pass | c={TARGET_C_LAT} p99 batched / unbatched (<= {TARGET_P99:.2f}x, worst key) "
        "| pass |",
        "|---|---|---|---|---|---|---|",
    ]

    def each(d: dict[int, float | None], spec: str, pctg: bool = False) -> str:
        return ", ".join(f"B{bs} " + ("-" if v is None else
                                      (f"{v:.0%}" if pctg else format(v, spec)))
                         for bs, v in d.items())

    for t in tgts:
        best = t["speedup_best_batchsize"]
        lines.append(
            f"| {t['model']} | {fmt(t['speedup'], '.2f')}x best (B{best}); "
            f"{each(t['speedup_each'], '.2f')} | {verdict(t['speedup_pass'])} | "
            f"{'-' if t['of_raw'] is None else format(t['of_raw'], '.0%')} (B{best}); "
            f"{each(t['of_raw_each'], '', True)} | {verdict(t['of_raw_pass'])} | "
            f"{fmt(t['p99_ratio'], '.2f')}x; {each(t['p99_ratio_each'], '.2f')} "
            f"(p50: {each(t['p50_ratio_each'], '.2f')}) | {verdict(t['p99_pass'])} |")
    errors = [(s["model"], s["batchsize"], s["concurrency"], e)
              for s in summary for e in s["errors"]]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {m_} B{b} c={c}: {e}" for m_, b, c, e in errors[:40]]
    if meta.get("outputs_match_raw") and not all(meta["outputs_match_raw"].values()):
        lines += ["", f"WARNING: server outputs differ from the raw forward: "
                  f"{meta['outputs_match_raw']}"]
    else:
        lines += ["", f"Outputs checked before the load: all {KEYSPACE} inputs at once (one "
                  "connection each) per key match the in-process forward on every key (largest batch in that "
                  "check: " + ", ".join(f"{k.split(':', 1)[1]} {v} rows" for k, v in
                                        meta.get("check_max_rows_per_batch", {}).items())
                  + ")."]
    if meta.get("server_log"):
        lines += ["", "Server log (tail):", "", "```", meta["server_log"].rstrip(), "```"]
    checks = [t[k] for t in tgts for k in ("speedup_pass", "of_raw_pass", "p99_pass")]
    lines += ["", f"Targets met: {sum(1 for v in checks if v)} of "
              f"{sum(1 for v in checks if v is not None)}.", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 repetition, concurrency 1 and 32, the small MLPs, "
                    "short measurements")
    ap.add_argument("--models", default=None,
                    help=f"comma-separated subset of {','.join(MODEL_IDS)}")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3)")
    ap.add_argument("--seconds", type=float, default=None,
                    help="target seconds per measurement (default 2; --quick 1)")
    ap.add_argument("--raw-seconds", type=float, default=None,
                    help="seconds of in-process forward passes after each measurement "
                    "(default 0.3; 0 skips them)")
    ap.add_argument("--concurrency", default=None,
                    help=f"comma-separated client counts (default {','.join(map(str, CONCURRENCY))})")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--name", default="batch", help="output file stem (default: batch)")
    args = ap.parse_args(argv)

    quick = args.quick
    reps = args.reps if args.reps is not None else (1 if quick else 3)
    seconds = args.seconds or (1.0 if quick else 2.0)
    raw_seconds = args.raw_seconds if args.raw_seconds is not None else (0.15 if quick else 0.3)
    concs = ([int(c) for c in args.concurrency.split(",")] if args.concurrency
             else list(QUICK_CONCURRENCY if quick else CONCURRENCY))
    ids = ([m.strip().lower() for m in args.models.split(",") if m.strip()] if args.models
           else list(QUICK_MODELS if quick else MODEL_IDS))
    unknown = set(ids) - set(MODEL_IDS)
    if unknown:
        ap.error(f"unknown models {sorted(unknown)}; known: {', '.join(MODEL_IDS)}")
    rb = need("redis-benchmark")

    started = time.monotonic()
    import onnxruntime
    import torch

    cases = []
    for model_id in ids:
        net, backend = model_id.split("-")
        blob = export_blob(net, backend.upper())
        cases.append(Case(model_id, net, backend.upper(), blob, RawEngine(backend.upper(), blob)))

    server: Server | None = None
    runs: list[Measurement] = []
    try:
        server = Server("tensorserve")
        port = server.port
        rng = np.random.default_rng(1)
        inputs = [rng.standard_normal(SHAPE).astype(np.float32) for _ in range(KEYSPACE)]
        for i, x in enumerate(inputs):
            reply = command(port, "AI.TENSORSET", input_key(i), "FLOAT",
                            *(str(d) for d in SHAPE), "BLOB", x.tobytes())
            if not reply.startswith(b"+OK"):
                raise RuntimeError(f"AI.TENSORSET failed: {reply[:200]!r}")
        checks: dict[str, bool] = {}
        check_rows: dict[str, int] = {}
        for case in cases:
            expected = [case.raw.forward(x) for x in inputs]
            for bs in BATCHSIZES:
                key = case.key(bs)
                reply = command(port, "AI.MODELSTORE", key, case.backend, "CPU",
                                "BATCHSIZE", str(bs), "BLOB", case.blob)
                if not reply.startswith(b"+OK"):
                    raise RuntimeError(f"AI.MODELSTORE {key} failed: {reply[:200]!r}")
                got = check_outputs(port, key)
                checks[key] = all(np.allclose(g, e.ravel(), rtol=1e-4, atol=1e-5)
                                  for g, e in zip(got, expected, strict=True))
                if bs:
                    check_rows[key] = int(batching_stats(port)[key]["max_rows_per_batch"])
        if not all(checks.values()):
            print(f"WARNING: outputs differ from the raw forward: {checks}", file=sys.stderr)
        configs = command(port, "INFO", "ai_load_time_configs").decode(errors="replace")
        server_configs = ", ".join(
            line.strip() for line in configs.splitlines()
            if ":" in line and line.split(":")[0] in ("threads_per_queue",
                                                      "intra_op_parallelism",
                                                      "inter_op_parallelism"))
        rb_version = subprocess.run([rb, "--version"], capture_output=True, text=True,
                                    timeout=10).stdout.strip()
        meta: dict[str, Any] = {
            "machine": machine_notes(),
            "tensorserve_version": server.version(),
            "server_cmd": server.cmd,
            "server_configs": server_configs,
            "redis_benchmark": rb_version,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "reps": reps,
            "seconds": seconds,
            "raw_seconds": raw_seconds,
            "batchsizes": list(BATCHSIZES),
            "concurrency": concs,
            "models": {c.id: {"backend": c.backend, "net": c.net, "shape": list(SHAPE),
                              "blob_bytes": len(c.blob)} for c in cases},
            "outputs_match_raw": checks,
            "check_max_rows_per_batch": check_rows,
            "command": " ".join(sys.argv),
            "loadavg_start": os.getloadavg(),
        }

        rates: dict[tuple[str, int, int], list[float]] = {}
        flip = False
        for rep in range(reps):
            for case in cases:
                for c in concs:
                    order = list(BATCHSIZES) if not flip else list(BATCHSIZES)[::-1]
                    flip = not flip
                    for bs in order:
                        k = (case.id, bs, c)
                        if k not in rates:
                            rates[k] = [calibrate(server, case, bs, c, seconds)]
                        n = requests_for(med(rates[k]) or 0.0, c, seconds)
                        m = measure(server, case, bs, c, n, rep, raw_seconds)
                        runs.append(m)
                        if m.rps:
                            rates[k].append(m.rps)
                        raw = (f" raw@{m.raw_batch} {m.raw_rows_per_s:8,.0f}/s"
                               if m.raw_rows_per_s is not None else "")
                        print(f"[{time.monotonic() - started:5.0f}s] rep {rep} {case.id:<13} "
                              f"B{bs:<2} c={c:<2} {m.rps:8,.0f}/s p50 {m.p50_ms:6.3f} "
                              f"p99 {m.p99_ms:6.3f} ms rows/batch {m.rows_per_batch:5.2f}{raw} "
                              f"cpu client {m.client_cpu_s / m.wall_s:.2f} server "
                              f"{m.server_cpu_s / m.wall_s:.2f} ({m.wall_s:.1f} s)"
                              + (f" ERRORS {m.errors[:2]}" if m.errors else ""), flush=True)
        if not server.alive():
            print(f"tensorserve died: {server.log()[-1000:]}", file=sys.stderr)
        meta["server_log"] = server.log()[-2000:]
    finally:
        if server is not None:
            server.stop()

    summary = summarise(runs, ids, list(BATCHSIZES), concs)
    tgts = targets(summary, ids)
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    meta["loadavg_end"] = os.getloadavg()
    write_results(args.out, args.name, {"meta": meta, "summary": summary, "targets": tgts,
                                         "runs": [asdict(m) for m in runs]},
                  markdown(meta, summary, tgts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
