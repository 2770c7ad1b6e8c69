"""RESP throughput and CPU per request: tensorserve against redis-server, same run.

Starts redis-server and tensorserve (this checkout, ``sys.executable -m tensorserve``),
each on a free port with persistence off, pins nothing, and runs redis-benchmark against
both, one test at a time, interleaved A B / B A (alternating by repetition), for every
(config, test). Each run records the server's CPU time (utime+stime from /proc/<pid>/stat,
before and after) and redis-benchmark's requests per second (--csv). Reported: the median
over repetitions of the paired ratio tensorserve rps / redis rps (paired within a
repetition) and each server's median CPU microseconds per request, against the targets.

    python bench/resp_bench.py                 # full run (~6-9 minutes on 2 cores)
    python bench/resp_bench.py --quick         # smoke run (~1 minute)
    python bench/resp_bench.py --configs P16 --tests set,get --reps 5

Writes bench/results/resp.json and bench/results/resp.md (``--out`` for elsewhere).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    Server,
    encode,
    machine_notes,
    need,
    sched_seconds,
    send_all_count,
    write_results,
)

# Test name -> how redis-benchmark runs it. LRANGE_100 is run as the custom command
# redis-benchmark itself uses (LRANGE mylist 0 99) on a list filled beforehand, so its
# CPU figure is not mixed with the LPUSH warm-up `-t lrange_100` would add.
TESTS: dict[str, list[str]] = {
    "PING_INLINE": ["-t", "ping_inline"],
    "PING_MBULK": ["-t", "ping_mbulk"],
    "SET": ["-t", "set"],
    "GET": ["-t", "get"],
    "INCR": ["-t", "incr"],
    "LPUSH": ["-t", "lpush"],
    "RPUSH": ["-t", "rpush"],
    "LPOP": ["-t", "lpop"],
    "RPOP": ["-t", "rpop"],
    "SADD": ["-t", "sadd"],
    "HSET": ["-t", "hset"],
    "SPOP": ["-t", "spop"],
    "ZADD": ["-t", "zadd"],
    "ZPOPMIN": ["-t", "zpopmin"],
    "LRANGE_100": ["LRANGE", "mylist", "0", "99"],
    "MSET": ["-t", "mset"],
}
BIG_TESTS = ["SET", "GET"]


@dataclass(frozen=True)
class BenchConfig:
    name: str
    pipeline: int
    requests: int  # -n per test (LRANGE_100 gets a quarter: it is ~5x slower per request)
    data_size: int = 3  # -d
    clients: int = 50
    tests: tuple[str, ...] = tuple(TESTS)


CONFIGS: dict[str, BenchConfig] = {
    "P1": BenchConfig("P1", 1, 50_000),
    "P16": BenchConfig("P16", 16, 300_000),
    "P64": BenchConfig("P64", 64, 600_000),
    "100KB": BenchConfig("100KB", 1, 2_000, data_size=100_000, tests=tuple(BIG_TESTS)),
}
QUICK_DIVISOR = 10

TARGETS: dict[str, float] = {"P1": 0.95, "P16": 0.85, "P64": 0.6, "100KB": 0.85}
LRANGE_TARGET = 0.5  # at -P 16 (and -P 64, where 0.6 would be stricter than at -P 16)
CPU_TARGET_US = 1.0  # server CPU per pipelined request
CPU_TARGET_TESTS = ("PING_INLINE", "PING_MBULK", "SET", "GET")
CPU_TARGET_CONFIGS = ("P16", "P64")


def target_for(config: str, test: str) -> float:
    if test == "LRANGE_100" and config in ("P16", "P64"):
        return LRANGE_TARGET
    return TARGETS[config]


@dataclass
class Run:
    rep: int
    config: str
    test: str
    server: str
    requests: int
    rps: float | None = None
    cpu_s: float | None = None
    cpu_us_per_req: float | None = None
    sched_us_per_req: float | None = None  # the same from schedstat (ns resolution)
    wall_s: float | None = None
    error: str | None = None


@dataclass
class Summary:
    config: str
    test: str
    ratio: float | None
    ratios: list[float] = field(default_factory=list)
    ts_rps: float | None = None
    redis_rps: float | None = None
    ts_cpu_us: float | None = None
    redis_cpu_us: float | None = None
    target: float = 0.0
    passed: bool = False
    cpu_target_us: float | None = None
    cpu_passed: bool | None = None
    errors: list[str] = field(default_factory=list)


def prepare(server: Server, test: str) -> None:
    """Per-test state redis-benchmark's own sequence would have left."""
    if test == "LRANGE_100":
        # As `-t lrange_100` does first: LPUSH mylist with the 3-byte payload, 600 times.
        import socket

        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
            send_all_count(s, encode("DEL", "mylist"), 1)
            send_all_count(s, encode("LPUSH", "mylist", *["xxx"] * 600), 1)


def flush(server: Server) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        send_all_count(s, encode("FLUSHALL"), 1)


def run_one(server: Server, cfg: BenchConfig, test: str, requests: int, rep: int,
            timeout: float) -> Run:
    run = Run(rep, cfg.name, test, server.kind, requests)
    try:
        prepare(server, test)
    except Exception as e:  # the command may not exist yet
        run.error = f"prepare: {e}"
        return run
    cmd = [need("redis-benchmark"), "-h", "127.0.0.1", "-p", str(server.port), "-c",
           str(cfg.clients), "-P", str(cfg.pipeline), "-n", str(requests), "-d",
           str(cfg.data_size), "--csv", *TESTS[test]]
    cpu0 = server.cpu_seconds()
    sched0 = sched_seconds(server.pid)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        run.error = f"timed out after {timeout:.0f} s"
        return run
    run.wall_s = time.monotonic() - t0
    if not server.alive():
        run.error = f"server died: {server.log()[-500:]}"
        return run
    cpu = server.cpu_seconds() - cpu0
    sched = sched_seconds(server.pid) - sched0
    out = proc.stdout.decode(errors="replace")
    rows = [line for line in out.splitlines() if line.startswith('"') and
            not line.startswith('"test"')]
    if proc.returncode != 0 or not rows:
        err = (proc.stderr.decode(errors="replace") + out).strip().splitlines()
        run.error = " | ".join(err[-3:])[:300] or f"exit code {proc.returncode}"
        return run
    run.rps = float(rows[-1].split(",")[1].strip('"'))
    run.cpu_s = cpu
    run.cpu_us_per_req = cpu / requests * 1e6
    run.sched_us_per_req = sched / requests * 1e6
    return run


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarise(runs: list[Run], configs: list[BenchConfig]) -> list[Summary]:
    out = []
    for cfg in configs:
        for test in cfg.tests:
            mine = [r for r in runs if r.config == cfg.name and r.test == test]
            by_rep: dict[int, dict[str, Run]] = {}
            for r in mine:
                by_rep.setdefault(r.rep, {})[r.server] = r
            ratios = []
            for pair in by_rep.values():
                ts, rd = pair.get("tensorserve"), pair.get("redis")
                if ts and rd and ts.rps and rd.rps:
                    ratios.append(ts.rps / rd.rps)
            s = Summary(cfg.name, test, median(ratios), sorted(ratios))
            s.ts_rps = median([r.rps for r in mine if r.server == "tensorserve" and r.rps])
            s.redis_rps = median([r.rps for r in mine if r.server == "redis" and r.rps])
            s.ts_cpu_us = median([r.cpu_us_per_req for r in mine
                                  if r.server == "tensorserve" and r.cpu_us_per_req is not None])
            s.redis_cpu_us = median([r.cpu_us_per_req for r in mine
                                     if r.server == "redis" and r.cpu_us_per_req is not None])
            s.target = target_for(cfg.name, test)
            s.passed = s.ratio is not None and s.ratio >= s.target
            if cfg.name in CPU_TARGET_CONFIGS and test in CPU_TARGET_TESTS:
                s.cpu_target_us = CPU_TARGET_US
                s.cpu_passed = s.ts_cpu_us is not None and s.ts_cpu_us <= CPU_TARGET_US
            s.errors = sorted({f"{r.server}: {r.error}" for r in mine if r.error})
            out.append(s)
    return out


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def markdown(meta: dict[str, Any], summary: list[Summary]) -> str:
    lines = [
        "# RESP benchmark: tensorserve vs redis-server",
        "",
        f"- Date: {meta['machine']['date_utc']}; host {meta['machine']['host']}, "
        f"{meta['machine']['cpus']} CPUs ({meta['machine']['cpu_model']}), shared and noisy; "
        "nothing pinned.",
        f"- redis-server {meta['redis_version']}; tensorserve {meta['tensorserve_version']} "
        f"({' '.join(meta['tensorserve_args']) or 'default flags'}, checkout "
        f"{meta['machine']['checkout']}), Python "
        f"{meta['machine']['python']}.",
        f"- redis-benchmark -c 50, {meta['reps']} repetitions, interleaved A B / B A; "
        "-n per config: " + ", ".join(f"{k} {v}" for k, v in meta["requests"].items()) + ".",
        "- ratio = median over repetitions of (tensorserve rps / redis rps), paired within a "
        "repetition; CPU = server utime+stime per request (median), from /proc/<pid>/stat.",
        "",
        "| config | test | ratio | ts rps | redis rps | ts CPU us/req | redis CPU us/req "
        "| target | pass | CPU target | CPU pass |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for s in summary:
        cpu_t = "-" if s.cpu_target_us is None else f"<= {s.cpu_target_us:.1f}"
        cpu_p = "-" if s.cpu_passed is None else ("pass" if s.cpu_passed else "FAIL")
        result = "pass" if s.passed else ("ERROR" if s.ratio is None else "FAIL")
        lines.append(
            f"| {s.config} | {s.test} | {fmt(s.ratio, '.2f')} | {fmt(s.ts_rps, ',.0f')} | "
            f"{fmt(s.redis_rps, ',.0f')} | {fmt(s.ts_cpu_us, '.2f')} | "
            f"{fmt(s.redis_cpu_us, '.2f')} | >= {s.target:.2f} | {result} | {cpu_t} | {cpu_p} |"
        )
    errors = [(s.config, s.test, e) for s in summary for e in s.errors]
    if errors:
        lines += ["", "## Errors", ""]
        lines += [f"- {c} {t}: {e}" for c, t, e in errors]
    passed = sum(s.passed for s in summary)
    lines += ["", f"{passed} of {len(summary)} throughput targets met; CPU targets met: "
              f"{sum(1 for s in summary if s.cpu_passed)} of "
              f"{sum(1 for s in summary if s.cpu_passed is not None)}.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"-n / {QUICK_DIVISOR}, 1 repetition")
    ap.add_argument("--reps", type=int, default=None, help="repetitions (default 3; quick 1)")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help=f"comma-separated subset of {','.join(CONFIGS)}")
    ap.add_argument("--tests", default="", help="comma-separated subset of the test names")
    ap.add_argument("-n", "--requests", type=int, default=None,
                    help="requests per test for every config (default: per config)")
    ap.add_argument("--ts-args", default="", help="extra tensorserve flags, e.g. "
                    "'--reader python --event-loop asyncio'")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--timeout", type=float, default=300.0, help="per redis-benchmark run")
    args = ap.parse_args(argv)

    reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    wanted = {t.strip().upper() for t in args.tests.split(",") if t.strip()}
    unknown = wanted - set(TESTS)
    if unknown:
        ap.error(f"unknown tests {sorted(unknown)}; known: {', '.join(TESTS)}")
    configs = []
    for name in [c.strip() for c in args.configs.split(",") if c.strip()]:
        if name not in CONFIGS:
            ap.error(f"unknown config {name}; known: {', '.join(CONFIGS)}")
        cfg = CONFIGS[name]
        tests = tuple(t for t in cfg.tests if not wanted or t in wanted)
        n = args.requests or (cfg.requests // QUICK_DIVISOR if args.quick else cfg.requests)
        if tests:
            configs.append(BenchConfig(cfg.name, cfg.pipeline, max(n, 100), cfg.data_size,
                                       cfg.clients, tests))

    ts_args = args.ts_args.split()
    servers = {"tensorserve": Server("tensorserve", ts_args), "redis": Server("redis")}
    meta: dict[str, Any] = {
        "machine": machine_notes(),
        "redis_version": servers["redis"].version(),
        "tensorserve_version": "?",
        "tensorserve_args": ts_args,
        "reps": reps,
        "requests": {c.name: c.requests for c in configs},
        "clients": 50,
        "command": " ".join(sys.argv),
    }
    try:
        meta["tensorserve_version"] = servers["tensorserve"].version()
    except Exception:
        pass
    runs: list[Run] = []
    started = time.monotonic()
    try:
        for rep in range(reps):
            for cfg in configs:
                order = ["tensorserve", "redis"] if rep % 2 == 0 else ["redis", "tensorserve"]
                for kind in order:
                    try:
                        flush(servers[kind])
                    except Exception as e:
                        print(f"FLUSHALL failed on {kind}: {e}", file=sys.stderr)
                for test in cfg.tests:
                    n = cfg.requests // 4 if test == "LRANGE_100" else cfg.requests
                    # A B for this test, then B A for the next one: drift cancels out.
                    for kind in order:
                        server = servers[kind]
                        if not server.alive():
                            print(f"{kind} died; restarting", file=sys.stderr)
                            servers[kind] = server = Server(kind, ts_args if kind ==
                                                            "tensorserve" else None)
                        run = run_one(server, cfg, test, n, rep, args.timeout)
                        runs.append(run)
                        status = (f"{run.rps:>12,.0f} rps {run.cpu_us_per_req:6.2f} us/req"
                                  if run.rps else f"ERROR {run.error}")
                        print(f"[{time.monotonic() - started:6.0f}s] rep {rep} {cfg.name:>5} "
                              f"{test:<11} {kind:<11} {status}", flush=True)
                    order.reverse()
    finally:
        for s in servers.values():
            s.stop()

    summary = summarise(runs, configs)
    meta["elapsed_s"] = round(time.monotonic() - started, 1)
    write_results(args.out, "resp", {"meta": meta, "summary": [asdict(s) for s in summary],
                                     "runs": [asdict(r) for r in runs]},
                  markdown(meta, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
