"""Memory: RSS per idle connection, and RSS for 1M small string keys; tensorserve vs redis.

(a) Idle connections: open N (default 2000) TCP connections to a fresh server, send one
    PING on each (so per-connection state such as the reader exists), then measure the RSS
    growth divided by N. Target: <= 2 KB per idle connection.
(b) 1M keys: load ``SET key:%07d <10-byte value>`` through pipelined raw-socket batches into
    a fresh server and measure RSS growth (bytes per key) and the ratio tensorserve/redis.
    Target: <= 2x redis-server.

    python bench/memory_bench.py               # N=2000 connections, 1,000,000 keys
    python bench/memory_bench.py --quick       # N=500, 100,000 keys

Writes bench/results/memory.json and bench/results/memory.md (``--out`` for elsewhere).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    Server,
    encode,
    machine_notes,
    raise_nofile,
    send_all_count,
    settle,
    write_results,
)

CONN_TARGET_BYTES = 2048
KEYS_TARGET_RATIO = 2.0
BATCH = 10_000


def idle_connections(kind: str, n: int, ts_args: list[str]) -> dict[str, Any]:
    server = Server(kind, ts_args if kind == "tensorserve" else None)
    socks: list[socket.socket] = []
    try:
        # One connection first, so lazily created server-wide state is in the baseline.
        warm = socket.create_connection(("127.0.0.1", server.port))
        send_all_count(warm, encode("PING"), 1)
        warm.close()
        time.sleep(0.2)
        before = settle(server)
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", server.port), timeout=30)
            socks.append(s)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            if i % 100 == 99:  # read replies in groups: keeps the accept queue short
                for t in socks[-100:]:
                    assert t.recv(64) == b"+PONG\r\n"
        for t in socks[len(socks) - len(socks) % 100:]:
            assert t.recv(64) == b"+PONG\r\n"
        # redis-server trims an idle client's query buffer after ~2 s (clientsCron): wait
        # past that so both servers are measured with idle connections, not fresh ones.
        time.sleep(3.0)
        after = settle(server, 1.0)
        clients = _connected_clients(server.port)
        return {
            "server": kind,
            "connections": n,
            "connected_clients_reported": clients,
            "rss_before_kb": before,
            "rss_after_kb": after,
            "bytes_per_connection": (after - before) * 1024 / n,
        }
    finally:
        for s in socks:
            s.close()
        server.stop()


def _connected_clients(port: int) -> int | None:
    from _common import command

    try:
        info = command(port, "INFO", "clients").decode(errors="replace")
    except OSError:
        return None
    for line in info.splitlines():
        if line.startswith("connected_clients:"):
            return int(line.split(":")[1])
    return None


def load_keys(kind: str, nkeys: int, ts_args: list[str]) -> dict[str, Any]:
    server = Server(kind, ts_args if kind == "tensorserve" else None)
    try:
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=120)
        send_all_count(sock, encode("PING"), 1)
        time.sleep(0.2)
        before = settle(server)
        t0 = time.monotonic()
        for start in range(0, nkeys, BATCH):
            stop = min(start + BATCH, nkeys)
            payload = b"".join(
                b"*3\r\n$3\r\nSET\r\n$11\r\nkey:%07d\r\n$10\r\nval:%06d\r\n" % (i, i % 1_000_000)
                for i in range(start, stop)
            )
            send_all_count(sock, payload, stop - start)
        load_s = time.monotonic() - t0
        sock.sendall(encode("DBSIZE"))
        dbsize = int(sock.recv(64)[1:].split(b"\r\n")[0])
        sock.close()
        after = settle(server, 1.0)
        used = _used_memory(server.port)
        return {
            "server": kind,
            "keys": nkeys,
            "dbsize": dbsize,
            "load_seconds": round(load_s, 2),
            "sets_per_second": round(nkeys / load_s),
            "rss_before_kb": before,
            "rss_after_kb": after,
            "rss_growth_kb": after - before,
            "bytes_per_key": (after - before) * 1024 / nkeys,
            "used_memory_reported": used,
        }
    finally:
        server.stop()


def _used_memory(port: int) -> int | None:
    from _common import command

    try:
        info = command(port, "INFO", "memory").decode(errors="replace")
    except OSError:
        return None
    for line in info.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return None


def markdown(result: dict[str, Any]) -> str:
    m = result["meta"]
    conns = {r["server"]: r for r in result["idle_connections"]}
    keys = {r["server"]: r for r in result["keys"]}
    ts_c, rd_c = conns["tensorserve"], conns["redis"]
    ts_k, rd_k = keys["tensorserve"], keys["redis"]
    ratio = ts_k["rss_growth_kb"] / rd_k["rss_growth_kb"] if rd_k["rss_growth_kb"] else None
    conn_ok = ts_c["bytes_per_connection"] <= CONN_TARGET_BYTES
    keys_ok = ratio is not None and ratio <= KEYS_TARGET_RATIO
    lines = [
        "# Memory benchmark: tensorserve vs redis-server",
        "",
        f"- Date: {m['machine']['date_utc']}; host {m['machine']['host']}, "
        f"{m['machine']['cpus']} CPUs, shared; Python {m['machine']['python']}; "
        f"tensorserve flags: {' '.join(m['tensorserve_args']) or 'default'}, checkout "
        f"{m['machine']['checkout']}.",
        "- RSS from /proc/<pid>/status (VmRSS) of a fresh server before and after; "
        "growth / count.",
        "",
        "## Idle connections",
        "",
        "| server | connections | RSS before (KB) | RSS after (KB) | bytes / connection "
        "| target | pass |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r, ok in ((ts_c, conn_ok), (rd_c, None)):
        lines.append(
            f"| {r['server']} | {r['connections']} | {r['rss_before_kb']:,} | "
            f"{r['rss_after_kb']:,} | {r['bytes_per_connection']:,.0f} | "
            + (f"<= {CONN_TARGET_BYTES} | {'pass' if ok else 'FAIL'} |" if ok is not None
               else "- | - |"))
    lines += [
        "",
        f"## {ts_k['keys']:,} string keys (SET key:%07d, 10-byte values)",
        "",
        "| server | RSS growth (MB) | bytes / key | load (SET/s) | used_memory (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in (ts_k, rd_k):
        used = r["used_memory_reported"]
        lines.append(
            f"| {r['server']} | {r['rss_growth_kb'] / 1024:,.1f} | {r['bytes_per_key']:,.0f} | "
            f"{r['sets_per_second']:,} | {'-' if used is None else f'{used / 2**20:,.1f}'} |")
    lines += [
        "",
        f"Ratio tensorserve / redis (RSS growth): "
        f"**{'-' if ratio is None else f'{ratio:.2f}'}x** (target <= {KEYS_TARGET_RATIO:.0f}x: "
        f"{'pass' if keys_ok else 'FAIL'}). Idle connection: "
        f"**{ts_c['bytes_per_connection']:,.0f} B** (target <= {CONN_TARGET_BYTES} B: "
        f"{'pass' if conn_ok else 'FAIL'}).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 connections, 100,000 keys")
    ap.add_argument("--connections", type=int, default=None)
    ap.add_argument("--keys", type=int, default=None)
    ap.add_argument("--ts-args", default="", help="extra tensorserve flags")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    nconn = args.connections or (500 if args.quick else 2000)
    nkeys = args.keys or (100_000 if args.quick else 1_000_000)
    ts_args = args.ts_args.split()
    limit = raise_nofile(nconn + 200)
    if limit < nconn + 50:
        sys.exit(f"RLIMIT_NOFILE is {limit}: too low for {nconn} connections")

    result: dict[str, Any] = {
        "meta": {"machine": machine_notes(), "tensorserve_args": ts_args,
                 "command": " ".join(sys.argv)},
        "idle_connections": [],
        "keys": [],
    }
    for kind in ("tensorserve", "redis"):
        r = idle_connections(kind, nconn, ts_args)
        print(f"{kind:<11} idle connections: {r['bytes_per_connection']:,.0f} B each "
              f"({r['rss_before_kb']:,} -> {r['rss_after_kb']:,} KB)", flush=True)
        result["idle_connections"].append(r)
    for kind in ("tensorserve", "redis"):
        r = load_keys(kind, nkeys, ts_args)
        print(f"{kind:<11} {nkeys:,} keys: {r['bytes_per_key']:,.0f} B/key, "
              f"{r['rss_growth_kb'] / 1024:,.1f} MB, {r['sets_per_second']:,} SET/s", flush=True)
        result["keys"].append(r)

    write_results(args.out, "memory", result, markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
