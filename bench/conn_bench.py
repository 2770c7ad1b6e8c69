"""Idle connections: RSS per idle connection and PING latency while they are held,
tensorserve next to redis-server in one run.

For each N (default 1,000 and 10,000) and each repetition, for each server in turn (a
fresh process each time, ``--maxclients N + 100``, started with a high enough open-file
limit):

1. one connection and PING first, so lazily built server-wide state is in the baseline;
   RSS (VmRSS) once it stops moving;
2. N connections, each sending one PING and reading PONG (so per-connection state such as
   the request reader exists, as a real client leaves it), then idle;
3. wait 3 s: redis-server trims an idle client's query buffer after ~2 s (clientsCron),
   so both are measured with idle connections, not fresh ones; RSS again;
   (RSS after - RSS before) / N is the cost of an idle connection;
4. ``--pings`` PINGs, one at a time, from another client while the N are held: p50 and
   p99 round trip.

Medians over the repetitions; the ratio tensorserve / redis-server is of the medians.

    python bench/conn_bench.py                       # N = 1000, 10000; 3 repetitions
    python bench/conn_bench.py --counts 1000 --reps 1

Writes bench/results/conn.json and bench/results/conn.md (``--out`` for elsewhere).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, Server, machine_notes, raise_nofile, settle, write_results

KINDS = ("tensorserve", "redis")
PING = b"*1\r\n$4\r\nPING\r\n"


def ping_times(port: int, n: int) -> list[float]:
    """Round trips of ``n`` PINGs on one connection, one at a time (seconds)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(PING)
            assert s.recv(64) == b"+PONG\r\n"
            out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def one_run(kind: str, n: int, pings: int, ts_args: list[str]) -> dict[str, Any]:
    extra = ["--maxclients", str(n + 100)]
    server = Server(kind, [*extra, *ts_args] if kind == "tensorserve" else extra)
    socks: list[socket.socket] = []
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as warm:
            warm.sendall(PING)
            assert warm.recv(64) == b"+PONG\r\n"
        time.sleep(0.2)
        before = settle(server, 1.0)
        t0 = time.monotonic()
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            socks.append(s)
            s.sendall(PING)
            if i % 100 == 99:  # read replies in groups: keeps the accept queue short
                for t in socks[-100:]:
                    assert t.recv(64) == b"+PONG\r\n"
        for t in socks[len(socks) - len(socks) % 100:]:
            assert t.recv(64) == b"+PONG\r\n"
        connect_s = time.monotonic() - t0
        time.sleep(3.0)
        after = settle(server, 1.0)
        times = ping_times(server.port, pings)
        return {
            "server": kind,
            "connections": n,
            "connect_seconds": round(connect_s, 2),
            "rss_before_kb": before,
            "rss_after_kb": after,
            "bytes_per_connection": (after - before) * 1024 / n,
            "ping_p50_us": pct(times, 0.50) * 1e6,
            "ping_p99_us": pct(times, 0.99) * 1e6,
            "ping_max_us": max(times) * 1e6,
        }
    finally:
        for s in socks:
            s.close()
        server.stop()


def summarize(runs: list[dict[str, Any]], counts: list[int]) -> list[dict[str, Any]]:
    rows = []
    for n in counts:
        med: dict[str, dict[str, float]] = {}
        for kind in KINDS:
            mine = [r for r in runs if r["server"] == kind and r["connections"] == n]
            med[kind] = {k: statistics.median(r[k] for r in mine)
                         for k in ("bytes_per_connection", "ping_p50_us", "ping_p99_us")}
        ts, rd = med["tensorserve"], med["redis"]
        rows.append({
            "connections": n,
            "reps": sum(1 for r in runs if r["server"] == "redis" and r["connections"] == n),
            "tensorserve": ts,
            "redis": rd,
            "bytes_ratio": (ts["bytes_per_connection"] / rd["bytes_per_connection"]
                            if rd["bytes_per_connection"] > 0 else None),
            "p99_ratio": ts["ping_p99_us"] / rd["ping_p99_us"] if rd["ping_p99_us"] else None,
        })
    return rows


def markdown(result: dict[str, Any]) -> str:
    m = result["meta"]
    lines = [
        "# Idle connections: tensorserve vs redis-server",
        "",
        f"- Date: {m['machine']['date_utc']}; host {m['machine']['host']}, "
        f"{m['machine']['cpus']} CPUs, shared; Python {m['machine']['python']}; "
        f"tensorserve flags: {' '.join(m['tensorserve_args']) or 'default'}; checkout "
        f"{m['machine']['checkout']}.",
        f"- Each server fresh per repetition; N connections each sent one PING, then idle "
        f"3 s; RSS (VmRSS) growth / N; then {m['pings']} PINGs one at a time from another "
        "client while the N are held. Medians over the repetitions.",
        "",
        "| connections | reps | tensorserve B / conn | redis-server B / conn | ratio "
        "| tensorserve PING p50 / p99 (us) | redis-server PING p50 / p99 (us) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["summary"]:
        ts, rd = row["tensorserve"], row["redis"]
        ratio = "-" if row["bytes_ratio"] is None else f"{row['bytes_ratio']:.2f}x"
        lines.append(
            f"| {row['connections']:,} | {row['reps']} | {ts['bytes_per_connection']:,.0f} | "
            f"{rd['bytes_per_connection']:,.0f} | {ratio} | {ts['ping_p50_us']:,.0f} / "
            f"{ts['ping_p99_us']:,.0f} | {rd['ping_p50_us']:,.0f} / {rd['ping_p99_us']:,.0f} |")
    lines += ["", "Every run: `results/conn.json`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--counts", default="1000,10000", help="numbers of idle connections")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--ts-args", default="", help="extra tensorserve flags")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    counts = [int(x) for x in args.counts.split(",") if x]
    ts_args = args.ts_args.split()
    # Our N sockets plus the servers' (they inherit the limit and raise it themselves).
    limit = raise_nofile(max(counts) + 500)
    if limit < max(counts) + 200:
        sys.exit(f"RLIMIT_NOFILE is {limit}: too low for {max(counts)} connections")
    runs = []
    for rep in range(args.reps):
        for n in counts:
            for kind in KINDS if rep % 2 == 0 else reversed(KINDS):
                r = one_run(kind, n, args.pings, ts_args)
                runs.append(r)
                print(f"rep {rep + 1} {kind:<11} N={n:>6,}: {r['bytes_per_connection']:>7,.0f} "
                      f"B/conn, PING p50 {r['ping_p50_us']:,.0f} us, p99 "
                      f"{r['ping_p99_us']:,.0f} us (connect {r['connect_seconds']} s)",
                      flush=True)
    result = {
        "meta": {"machine": machine_notes(), "tensorserve_args": ts_args,
                 "command": " ".join(sys.argv), "pings": args.pings},
        "runs": runs,
        "summary": summarize(runs, counts),
    }
    write_results(args.out, "conn", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
