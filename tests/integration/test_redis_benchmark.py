"""redis-benchmark against a live tensorserve.

redis-benchmark aborts the whole run on the first error reply, and starts with
``CONFIG GET save`` / ``CONFIG GET appendonly``, so a clean run of its default test list
is a cheap, broad compatibility check. The file stays under ~2 minutes: the full default
list runs once (its own server), the shorter runs on both session server variants.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest

from ..conftest import require_binary
from ..helpers import RawClient, ServerProcess

# redis-benchmark 7.0's default test list (no -t), in its order.
DEFAULT_TESTS = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "LPUSH",
    "RPUSH",
    "LPOP",
    "RPOP",
    "SADD",
    "HSET",
    "SPOP",
    "ZADD",
    "ZPOPMIN",
    "LPUSH (needed to benchmark LRANGE)",
    "LRANGE_100 (first 100 elements)",
    "LRANGE_300 (first 300 elements)",
    "LRANGE_500 (first 500 elements)",
    "LRANGE_600 (first 600 elements)",
    "MSET (10 keys)",
]

_RESULT = re.compile(r"^(?P<name>[^:]+): (?P<rps>[0-9.]+) requests per second")


def benchmark(port: int, *args: str, timeout: float = 120) -> dict[str, float]:
    """Run redis-benchmark -q; every test name -> requests per second. Fails on errors."""
    binary = require_binary("redis-benchmark")
    proc = subprocess.run([binary, "-h", "127.0.0.1", "-p", str(port), "-q", *args],
                          capture_output=True, timeout=timeout, check=False)
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    lines = [line.strip() for line in re.split(r"[\r\n]", out) if line.strip()]
    errors = [line for line in lines if "rror" in line or line.startswith(("ERR", "-"))]
    assert proc.returncode == 0 and not errors, f"redis-benchmark failed:\n{out[-3000:]}"
    results: dict[str, float] = {}
    for line in lines:
        m = _RESULT.match(line)
        if m:
            results[m["name"]] = float(m["rps"])
    return results


def _flush(port: int) -> None:
    c = RawClient(port)
    try:
        assert c.command("FLUSHALL") == b"OK"
    finally:
        c.close()


@pytest.mark.slow
def test_redis_benchmark_default_tests(start_server: Callable[..., ServerProcess]) -> None:
    """The full default list (no -t) completes with no error and a figure for every test."""
    server = start_server()
    results = benchmark(server.port, "-n", "20000", timeout=240)
    assert list(results) == DEFAULT_TESTS
    assert all(rps > 0 for rps in results.values()), results
    assert server.alive()
    # It leaves the same keys behind as with redis-server (SPOP and ZPOPMIN empty theirs).
    c = RawClient(server.port)
    try:
        assert sorted(c.command("KEYS", "*")) == [b"counter:__rand_int__", b"key:__rand_int__",
                                                  b"myhash", b"mylist"]
        assert c.command("LLEN", "mylist") > 0
    finally:
        c.close()


def test_redis_benchmark_pipelined(server: ServerProcess) -> None:
    _flush(server.port)
    tests = "ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,mset"
    results = benchmark(server.port, "-P", "16", "-n", "20000", "-t", tests)
    assert set(results) == {"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH",
                            "LPOP", "RPOP", "SADD", "HSET", "SPOP", "ZADD", "ZPOPMIN",
                            "MSET (10 keys)"}
    assert server.alive()


def test_redis_benchmark_big_values(server: ServerProcess) -> None:
    _flush(server.port)
    results = benchmark(server.port, "-d", "100000", "-t", "set,get", "-n", "2000")
    assert set(results) == {"SET", "GET"}
    c = RawClient(server.port)
    try:
        assert len(c.command("GET", "key:__rand_int__")) == 100_000
    finally:
        c.close()


def test_redis_benchmark_random_keys(server: ServerProcess) -> None:
    _flush(server.port)
    results = benchmark(server.port, "-r", "1000", "-n", "5000", "-t", "set,get,incr,lpush,sadd,hset")
    assert set(results) == {"SET", "GET", "INCR", "LPUSH", "SADD", "HSET"}
    c = RawClient(server.port)
    try:
        assert c.command("DBSIZE") > 100  # -r spreads the keys over key:000000000xxx
    finally:
        c.close()


def test_redis_benchmark_csv_and_idle_clients(server: ServerProcess) -> None:
    _flush(server.port)
    binary = require_binary("redis-benchmark")
    proc = subprocess.run([binary, "-p", str(server.port), "--csv", "-n", "2000", "-c", "10",
                           "-t", "ping,set"], capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(",")[0].strip('"') for line in proc.stdout.decode().splitlines()[1:]]
    assert rows == ["PING_INLINE", "PING_MBULK", "SET"]


def test_redis_benchmark_resp3(server: ServerProcess) -> None:
    # -3: every benchmark connection starts with HELLO 3 and reads RESP3 replies.
    _flush(server.port)
    results = benchmark(server.port, "-3", "-n", "5000", "-t", "ping,set,get,hset,lrange_100")
    assert set(results) == {"PING_INLINE", "PING_MBULK", "SET", "GET", "HSET",
                            "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)"}


def test_redis_benchmark_threads_and_single_client(server: ServerProcess) -> None:
    _flush(server.port)
    assert set(benchmark(server.port, "--threads", "2", "-n", "5000", "-t", "set,get")) == {
        "SET", "GET"}
    assert set(benchmark(server.port, "-c", "1", "-n", "2000", "-t", "set,get")) == {"SET", "GET"}
