"""Persistence: SAVE and BGSAVE time and file size for about 1 GB of tensors, the loop's
responsiveness while a BGSAVE runs, the load time at restart; and SET / AI.TENSORSET
throughput with the append-only log under each appendfsync policy next to no log.

Starts one tensorserve (persistence rules off, its own --dir), stores ``--gb`` GiB of
FLOAT tensors (``--tensor-mb`` MiB each, random bytes so nothing compresses), then:

- SAVE: wall time of the command (the loop is busy for all of it), file size;
- BGSAVE: time until INFO reports it done, and PING round trips from another client
  while it runs (p50 / p99 / max): the loop only copies the key list, a thread writes;
- restart: time from process start to the first PONG with the snapshot loaded;
- the log: four servers side by side (appendonly no, and yes with appendfsync no,
  everysec, always), each driven in turn by redis-benchmark (``-c 50``, one request in
  flight per connection) with SET and with ``AI.TENSORSET t:<rand> FLOAT 4 VALUES 1 2 3
  4``, ``--reps`` repetitions interleaved; medians and ratios to the server without a log.

The disk is whatever backs the temp directory (``--dir`` to choose): fsync cost is part
of both saves.

    python bench/persist_bench.py            # 1 GiB in 4 MiB tensors
    python bench/persist_bench.py --gb 0.25

Writes bench/results/persist.json and bench/results/persist.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    ROOT,
    Server,
    command,
    encode,
    free_port,
    machine_notes,
    write_results,
)


def _start(port: int, directory: str) -> tuple[subprocess.Popen[bytes], float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorserve", "--port", str(port), "--save", "", "--dir",
         directory, "--loglevel", "warning"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    while True:
        if proc.poll() is not None:
            raise RuntimeError("tensorserve exited")
        try:
            if command(port, "PING", timeout=600) == b"+PONG\r\n":
                return proc, time.perf_counter() - t0
        except OSError:
            time.sleep(0.02)


def _info(port: int) -> dict[str, str]:
    text = command(port, "INFO", "persistence").decode()
    body = text.split("\r\n", 1)[1] if text.startswith("$") else text
    return dict(line.split(":", 1) for line in body.splitlines() if ":" in line)


_AOF_SERVERS: dict[str, list[str]] = {
    "appendonly no": [],
    "appendfsync no": ["--appendonly", "yes", "--appendfsync", "no"],
    "appendfsync everysec": ["--appendonly", "yes", "--appendfsync", "everysec"],
    "appendfsync always": ["--appendonly", "yes", "--appendfsync", "always"],
}
_WORKLOADS: dict[str, list[str]] = {
    "SET": ["-t", "set"],
    "TENSORSET": ["AI.TENSORSET", "t:__rand_int__", "FLOAT", "4", "VALUES", "1", "2", "3",
                  "4"],
}


def _aof_throughput(reps: int, requests: int) -> dict[str, dict[str, float]]:
    servers = {}
    dirs = []
    try:
        for name, flags in _AOF_SERVERS.items():
            d = tempfile.mkdtemp(prefix="persist-aof-")
            dirs.append(d)
            servers[name] = Server("tensorserve", ["--dir", d, *flags])
        runs: dict[tuple[str, str], list[float]] = {}
        order = list(servers)
        for rep in range(reps):
            for work, wargs in _WORKLOADS.items():
                for name in (order if rep % 2 == 0 else order[::-1]):
                    out = subprocess.run(
                        ["redis-benchmark", "-p", str(servers[name].port), "-c", "50", "-n",
                         str(requests), "-r", "100000", "--csv", *wargs],
                        capture_output=True, text=True, timeout=600, check=True)
                    rps = float(out.stdout.strip().splitlines()[-1].split('","')[1])
                    runs.setdefault((name, work), []).append(rps)
    finally:
        for srv in servers.values():
            srv.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    table: dict[str, dict[str, float]] = {}
    for name in _AOF_SERVERS:
        row: dict[str, float] = {}
        for work in _WORKLOADS:
            row[work] = statistics.median(runs[(name, work)])
            base = statistics.median(runs[("appendonly no", work)])
            row[f"{work}_ratio"] = row[work] / base
        table[name] = row
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gb", type=float, default=1.0, help="GiB of tensors (default 1)")
    ap.add_argument("--tensor-mb", type=int, default=4)
    ap.add_argument("--dir", default=None, help="where the snapshot goes (default: a temp dir)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--requests", type=int, default=50_000)
    args = ap.parse_args(argv)

    directory = tempfile.mkdtemp(prefix="persist-bench-", dir=args.dir)
    port = free_port()
    n = max(1, int(args.gb * 1024 / args.tensor_mb))
    elems = args.tensor_mb * 1024 * 1024 // 4
    result: dict[str, Any] = {"meta": {**machine_notes(), "tensors": n,
                                       "tensor_bytes": elems * 4, "dir": directory}}
    proc, _ = _start(port, directory)
    try:
        t0 = time.perf_counter()
        for i in range(n):
            blob = os.urandom(elems * 4)
            reply = command(port, *[b"AI.TENSORSET", b"t%d" % i, b"FLOAT", b"%d" % elems,
                                    b"BLOB", blob], timeout=120)
            assert reply == b"+OK\r\n", reply
        result["store_s"] = time.perf_counter() - t0
        total = n * elems * 4

        t0 = time.perf_counter()
        assert command(port, "SAVE", timeout=600) == b"+OK\r\n"
        result["save_s"] = time.perf_counter() - t0
        snap = Path(directory) / "dump.tsdb"
        result["file_bytes"] = snap.stat().st_size
        result["data_bytes"] = total

        import socket

        sock = socket.create_connection(("127.0.0.1", port))
        ping = encode("PING")
        assert command(port, "BGSAVE") == b"+Background saving started\r\n"
        t0 = time.perf_counter()
        pings: list[float] = []
        while True:
            s = time.perf_counter()
            sock.sendall(ping)
            sock.recv(64)
            pings.append(time.perf_counter() - s)
            if _info(port).get("rdb_bgsave_in_progress") == "0":
                break
            time.sleep(0.005)
        result["bgsave_s"] = time.perf_counter() - t0
        sock.close()
        pings.sort()
        result["ping_during_bgsave_ms"] = {
            "n": len(pings), "p50": statistics.median(pings) * 1e3,
            "p99": pings[int(len(pings) * 0.99) - 1 if len(pings) > 1 else 0] * 1e3,
            "max": pings[-1] * 1e3}
        command(port, "SHUTDOWN", "NOSAVE")
        proc.wait(60)
        proc, result["restart_s"] = _start(port, directory)
        keys = int(command(port, "DBSIZE").decode().strip(":\r\n"))
        assert keys == n, keys
    finally:
        proc.terminate()
        proc.wait(60)
        shutil.rmtree(directory, ignore_errors=True)

    result["aof"] = _aof_throughput(args.reps, args.requests)

    gib = result["data_bytes"] / 2**30
    p = result["ping_during_bgsave_ms"]
    md = "\n".join([
        f"# Snapshots: {gib:.2f} GiB of tensors ({n} x {args.tensor_mb} MiB FLOAT)",
        "",
        f"- {result['meta'].get('date_utc', '')}; checkout {result['meta'].get('checkout', '')}; {result['meta'].get('cpus', '')} CPUs; disk: the temp directory",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| SAVE (loop blocked) | {result['save_s']:.2f} s ({gib / result['save_s']:.2f} GiB/s) |",
        f"| snapshot file size | {result['file_bytes']:,} B ({result['file_bytes'] / result['data_bytes']:.4f}x the tensor bytes) |",
        f"| BGSAVE until done | {result['bgsave_s']:.2f} s |",
        f"| PING during BGSAVE p50 / p99 / max | {p['p50']:.2f} / {p['p99']:.2f} / {p['max']:.2f} ms ({p['n']} pings) |",
        f"| restart to first PONG (loading) | {result['restart_s']:.2f} s |",
        f"| storing the tensors (TENSORSET) | {result['store_s']:.2f} s |",
        "",
        f"Append-only log, redis-benchmark -c 50 -n {args.requests}, medians of {args.reps}"
        " (ratio to no log in brackets):",
        "",
        "| server | SET/s | AI.TENSORSET/s |",
        "|---|---:|---:|",
        *[f"| {name} | {row['SET']:,.0f} ({row['SET_ratio']:.2f}x) | "
          f"{row['TENSORSET']:,.0f} ({row['TENSORSET_ratio']:.2f}x) |"
          for name, row in result["aof"].items()],
        "",
    ])
    write_results(args.out, "persist", result, md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
