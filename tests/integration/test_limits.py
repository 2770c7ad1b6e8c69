"""Limits on what a run can take (issue 7): the execution time limit that stops a
runaway ONNX model (RedisAI's MODEL_EXECUTION_TIMEOUT) while the server keeps serving."""

from __future__ import annotations

import resource
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from .. import models
from ..conftest import require_binary
from ..helpers import RawClient, RedisServerProcess, ServerProcess, encode_command
from .test_model import modelstore, tensorset


def test_runaway_onnx_run_is_stopped_at_the_time_limit(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--model-execution-timeout", "1000")
    r = redis.Redis(port=srv.port, protocol=3, socket_timeout=60)
    assert r.config_get("model-execution-timeout") == {"model-execution-timeout": "1000"}
    modelstore(r, "endless", "ONNX", models.endless_onnx())
    tensorset(r, "x", np.zeros(1, np.float32))
    rc = RawClient(srv.port)
    rc.sock.settimeout(30)
    start = time.monotonic()
    rc.send(encode_command("AI.MODELEXECUTE", "endless", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    time.sleep(0.3)
    assert r.ping()  # the run is on a worker: others are served meanwhile
    reply = rc.read()
    elapsed = time.monotonic() - start
    assert isinstance(reply, Exception) and str(reply) == (
        "Exiting due to terminate flag being set to true.")
    assert 0.9 <= elapsed < 10, elapsed
    assert not r.exists("y")
    info = r.execute_command("AI.INFO", "endless")
    assert info[b"errors"] == 1
    rc.close()


def test_model_execution_timeout_default_and_bounds(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server()
    r = redis.Redis(port=srv.port, protocol=3)
    assert r.config_get("model-execution-timeout") == {"model-execution-timeout": "5000"}
    rc = RawClient(srv.port)
    assert "model_execution_timeout:5000" in rc.command("INFO", "ai_load_time_configs").decode()
    rc.close()
    # A load-time option, as in RedisAI (at least 1000 ms there too).
    with pytest.raises(redis.ResponseError):
        r.config_set("model-execution-timeout", 2000)
    with pytest.raises(RuntimeError) as e:
        start_server("--model-execution-timeout", "999")
    assert "argument must be between 1000 and 2147483647 inclusive" in str(e.value)


def test_tensor_max_bytes_caps_every_way_of_making_a_tensor(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--tensor-max-bytes", "1kb")
    r = redis.Redis(port=srv.port, protocol=3)
    assert r.config_get("tensor-max-bytes") == {"tensor-max-bytes": "1024"}
    want = "tensor of 1028 bytes exceeds tensor-max-bytes (1024 bytes)"

    def err(*args: object) -> str:
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command(*args)
        return str(e.value)

    assert err("AI.TENSORSET", "t", "FLOAT", 257, "BLOB", b"\0" * 1028) == want
    assert err("AI.TENSORSET", "t", "FLOAT", 257) == want
    assert err("AI.TENSORSET", "t", "FLOAT", 257, "VALUES", *([1] * 257)) == want
    # A typo'd shape is refused without allocating anything.
    assert err("AI.TENSORSET", "t", "DOUBLE", 10**9, 10**9) == (
        f"tensor of {8 * 10**18} bytes exceeds tensor-max-bytes (1024 bytes)")
    # In a DAG too (a TENSORSET op's error fails the whole command, as in RedisAI).
    assert err("AI.DAGEXECUTE", "ROUTING", "t", "|>", "AI.TENSORSET", "t", "FLOAT",
               257) == want
    assert r.exists("t") == 0
    assert r.execute_command("AI.TENSORSET", "t", "FLOAT", 256) == b"OK"  # 1024: fits
    # The lower of the two limits applies, named in the error.
    assert r.config_set("tensor-max-bytes", "1gb")
    assert r.config_set("proto-max-bulk-len", "1mb")  # redis-server's smallest
    assert err("AI.TENSORSET", "t", "FLOAT", 1024, 257) == (
        "tensor of 1052672 bytes exceeds proto-max-bulk-len (1048576 bytes)")


def test_onnx_model_with_external_data_is_refused(
        start_server: Callable[..., ServerProcess]) -> None:
    import os
    import tempfile

    import onnx

    srv = start_server()
    r = redis.Redis(port=srv.port, protocol=3)
    model = onnx.load_from_string(models.mlp_onnx())
    d = tempfile.mkdtemp()
    onnx.save_model(model, os.path.join(d, "m.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.bin", size_threshold=0)
    with open(os.path.join(d, "m.onnx"), "rb") as f:
        blob = f.read()
    # Pointing at a file the server can read (same length: the protobuf stays valid):
    # refused before onnxruntime opens it.
    blob = blob.replace(b"weights.bin", b"/etc/passwd")
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", blob)
    assert str(e.value) == "Initializer tensors with external data is not allowed."
    assert not r.exists("m")
    modelstore(r, "ok", "ONNX", models.mlp_onnx())  # a self-contained model still loads


def test_slow_reader_is_disconnected_at_the_output_limit(
        start_server: Callable[..., ServerProcess]) -> None:
    import socket

    srv = start_server("--client-output-buffer-limit", "normal 32mb 16mb 10")
    r = redis.Redis(port=srv.port, protocol=3, socket_timeout=30)
    tensorset(r, "t", np.zeros(256 * 1024, np.float32))  # 1 MiB
    base_rss = srv.rss_kb()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(encode_command("AI.TENSORGET", "t", "BLOB") * 1000)  # 1 GiB of replies
    closed = False
    for _ in range(100):
        time.sleep(0.1)
        if r.info("stats")["client_output_buffer_limit_disconnections"]:
            closed = True
            break
    assert closed, "the slow reader was not disconnected"
    assert srv.rss_kb() - base_rss < 200 * 1024  # bounded by the limit, not 1 GiB
    s.settimeout(5)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        while s.recv(1 << 20):
            pass
        raise ConnectionResetError  # an orderly close counts too
    s.close()
    assert r.ping()


def test_slow_reader_without_a_limit_is_held_back_not_buffered(
        start_server: Callable[..., ServerProcess]) -> None:
    import socket

    srv = start_server()  # normal class: no limit (redis-server's default)
    r = redis.Redis(port=srv.port, protocol=3, socket_timeout=30)
    tensorset(r, "t", np.zeros(256 * 1024, np.float32))
    base_rss = srv.rss_kb()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", srv.port))
    s.sendall(encode_command("AI.TENSORGET", "t", "BLOB") * 1000)
    time.sleep(2)
    # Back-pressure: the server stopped executing its commands instead of buffering
    # a gigabyte of replies.
    assert srv.rss_kb() - base_rss < 200 * 1024
    assert r.ping()
    s.close()


def test_10000_idle_connections_keep_ping_fast(
        start_server: Callable[..., ServerProcess]) -> None:
    import resource
    import socket

    n = 10_000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 200
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the open-file hard limit ({hard}) is below {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    srv = start_server("--maxclients", str(n + 100))
    base_rss = srv.rss_kb()
    socks = []
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            socks.append(s)
            if i % 1000 == 999:
                time.sleep(0.05)  # let the accept backlog drain
        r = redis.Redis(port=srv.port, socket_timeout=10)
        for _ in range(50):
            if r.info("clients")["connected_clients"] >= n + 1:
                break
            time.sleep(0.1)
        assert r.info("clients")["connected_clients"] >= n + 1
        times = []
        for _ in range(500):
            start = time.perf_counter()
            assert r.ping()
            times.append(time.perf_counter() - start)
        times.sort()
        p99 = times[int(len(times) * 0.99)]
        assert p99 < 0.005, f"PING p99 {p99 * 1000:.2f} ms with {n} idle connections"
        per_conn = (srv.rss_kb() - base_rss) * 1024 / n
        assert per_conn < 20_000, per_conn  # bench/memory_bench.py reports the figure
        r.close()
    finally:
        for s in socks:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_ping_stays_fast_while_every_worker_spins(
        start_server: Callable[..., ServerProcess]) -> None:
    from .test_model_runtime import SlowModel

    srv = start_server("--threads-per-queue", "2")
    r = redis.Redis(port=srv.port, protocol=3, socket_timeout=60)
    slow = SlowModel(r)
    busy = [RawClient(srv.port) for _ in range(2)]
    for i, rc in enumerate(busy):
        rc.sock.settimeout(120)
        rc.send(encode_command(*slow.args(2.0, f"out{i}")))
    time.sleep(0.3)
    times = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        start = time.perf_counter()
        assert r.ping()
        times.append(time.perf_counter() - start)
        time.sleep(0.01)
    times.sort()
    # Both workers are inside the engine (the GIL released): the loop still answers.
    assert times[len(times) // 2] < 0.005 and times[int(len(times) * 0.99)] < 0.05, times[-5:]
    for rc in busy:
        assert rc.read() == b"OK"
        rc.close()


# --- redis-server's limits: names, defaults, settings and behaviour, side by side -------
#
# Each limit below is set by flag, config file and CONFIG SET, and crossed on tensorserve
# and on a real redis-server with the same request, with the same outcome. The limits
# on unauthenticated clients (10 arguments, 16 KB bulks) are in test_protocol_errors.py.

REDIS_LIMITS = {
    # name: (redis-server 7's default, a value to set, how CONFIG GET shows it)
    "proto-max-bulk-len": ("536870912", "2mb", "2097152"),
    "client-query-buffer-limit": ("1073741824", "3mb", "3145728"),
    "maxclients": ("10000", "500", "500"),
    "client-output-buffer-limit": (
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        "pubsub 4mb 2mb 5",
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 4194304 2097152 5"),
    "timeout": ("0", "7", "7"),
}
ALL_LIMITS = {**REDIS_LIMITS, "tensor-max-bytes": ("536870912", "1mb", "1048576")}

BOUNDS = [  # CONFIG SET values redis-server refuses, each with its own text
    ("proto-max-bulk-len", "1000"), ("proto-max-bulk-len", "-5"), ("proto-max-bulk-len", "abc"),
    ("client-query-buffer-limit", "1000"), ("maxclients", "0"), ("maxclients", "abc"),
    ("timeout", "-1"), ("timeout", "abc"),
    ("client-output-buffer-limit", "pubsub 1 2"), ("client-output-buffer-limit", "foo 1 2 3"),
    ("client-output-buffer-limit", "pubsub 1mb x 3"),
    ("client-output-buffer-limit", "pubsub -1 0 0"),
]

Pair = tuple[int, int]  # (tensorserve's port, redis-server's port)


@pytest.fixture
def start_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServerProcess]]:
    binary = require_binary("redis-server")
    procs: list[RedisServerProcess] = []

    def start(*args: str, nofile: tuple[int, int] | None = None) -> RedisServerProcess:
        d = tmp_path / f"redis-{len(procs)}"
        d.mkdir()
        p = RedisServerProcess(binary, str(d), args, nofile=nofile)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


@pytest.fixture
def pair(start_server: Callable[..., ServerProcess],
         start_redis: Callable[..., RedisServerProcess]) -> Pair:
    """tensorserve and redis-server, both with their defaults."""
    return start_server().port, start_redis().port


@pytest.fixture(params=["hiredis", "python"])
def reader_pair(request: pytest.FixtureRequest, start_server: Callable[..., ServerProcess],
                start_redis: Callable[..., RedisServerProcess]) -> Pair:
    """As ``pair``, once with each of tensorserve's readers."""
    return start_server("--reader", str(request.param)).port, start_redis().port


def _config_error(port: int, name: str, value: str) -> str:
    with redis.Redis(port=port) as r, pytest.raises(redis.ResponseError) as e:
        r.config_set(name, value)
    return str(e.value)


def test_limit_defaults_and_bounds_match_redis_server(
        start_server: Callable[..., ServerProcess],
        start_redis: Callable[..., RedisServerProcess]) -> None:
    ours, theirs = redis.Redis(port=start_server().port), redis.Redis(port=start_redis().port)
    for name, (default, _, _) in REDIS_LIMITS.items():
        assert ours.config_get(name) == theirs.config_get(name) == {name: default}
    assert ours.config_get("tensor-max-bytes") == {"tensor-max-bytes": "536870912"}
    bounds = list(BOUNDS)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:  # more clients than the open-file limit allows
        bounds.append(("maxclients", str(hard + 100)))
    for name, value in bounds:
        want = _config_error(theirs.connection_pool.connection_kwargs["port"], name, value)
        assert _config_error(ours.connection_pool.connection_kwargs["port"], name,
                             value) == want, (name, value)
    for name, (default, _, _) in REDIS_LIMITS.items():  # nothing changed
        assert ours.config_get(name) == {name: default}


def test_limits_are_set_by_flag_config_file_and_config_set(
        start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    flags = [w for name, (_, value, _) in ALL_LIMITS.items()
             for w in (f"--{name}", *value.split())]
    conf = tmp_path / "limits.conf"
    conf.write_text("".join(f"{name} {value}\n" for name, (_, value, _) in ALL_LIMITS.items()))
    by_flag = redis.Redis(port=start_server(*flags).port)
    by_file = redis.Redis(port=start_server(config_file=str(conf)).port)
    by_set = redis.Redis(port=start_server().port)
    for name, (_, value, _) in ALL_LIMITS.items():
        assert by_set.config_set(name, value)
    for name, (_, _, shown) in ALL_LIMITS.items():
        for r in (by_flag, by_file, by_set):
            assert r.config_get(name) == {name: shown}, name


def _ping(sock: socket.socket) -> bytes:
    sock.sendall(b"*1\r\n$4\r\nPING\r\n")
    return sock.recv(100)


def _until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """Everything read until the server closes (a reset counts as a close)."""
    sock.settimeout(timeout)
    out = b""
    try:
        while data := sock.recv(1 << 20):
            out += data
    except ConnectionResetError:
        pass
    return out


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        data = sock.recv(1 << 20)
        assert data, f"closed after {len(out)} of {n} bytes"
        out += data
    return out


def test_proto_max_bulk_len_crossed(reader_pair: Pair) -> None:
    """CONFIG SET applies to connections already open (redis-server reads the setting at
    every bulk header): a bulk of the limit passes, one byte more is a protocol error."""
    for port in reader_pair:
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert _ping(client) == b"+PONG\r\n"
        assert redis.Redis(port=port).config_set("proto-max-bulk-len", "1mb")
        value = b"x" * (1024 * 1024)
        client.sendall(encode_command("ECHO", value))
        assert _read_exactly(client, len(value) + 12) == b"$1048576\r\n" + value + b"\r\n"
        client.sendall(b"*2\r\n$4\r\nECHO\r\n$1048577\r\n")
        assert _until_closed(client) == b"-ERR Protocol error: invalid bulk length\r\n", port
        client.close()


def test_client_query_buffer_limit_crossed(reader_pair: Pair) -> None:
    """A client whose unparsed input passes the limit is closed without a reply; the
    setting applies to connections already open; below it, big values pass."""
    for port in reader_pair:
        client = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert _ping(client) == b"+PONG\r\n"
        r = redis.Redis(port=port)
        assert r.config_set("client-query-buffer-limit", "1mb")
        value = b"x" * (900 * 1024)
        client.sendall(encode_command("ECHO", value))
        assert _read_exactly(client, len(value) + 11) == b"$921600\r\n" + value + b"\r\n"
        try:
            client.sendall(b"*2\r\n$4\r\nECHO\r\n$2000000\r\n" + b"x" * 1_200_000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _until_closed(client) == b"", port
        client.close()
        assert r.ping()
    stats = redis.Redis(port=reader_pair[0]).info("stats")
    assert stats["client_query_buffer_limit_disconnections"] == 1


def test_maxclients_crossed(pair: Pair) -> None:
    for port in pair:
        r = redis.Redis(port=port, single_connection_client=True)
        assert r.config_set("maxclients", "2")
        second = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert _ping(second) == b"+PONG\r\n"
        third = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert _until_closed(third) == b"-ERR max number of clients reached\r\n", port
        assert _ping(second) == b"+PONG\r\n"  # the clients already in are kept
        assert r.info("stats")["rejected_connections"] == 1
        assert r.config_set("maxclients", "3")
        third = socket.create_connection(("127.0.0.1", port), timeout=5)
        assert _ping(third) == b"+PONG\r\n"
        second.close()
        third.close()
        r.close()


def _nofile_soft(pid: int) -> int:
    with open(f"/proc/{pid}/limits") as f:
        line = next(x for x in f if x.startswith("Max open files"))
    return int(line.split()[3])


def test_maxclients_raises_the_open_file_limit(
        start_server: Callable[..., ServerProcess],
        start_redis: Callable[..., RedisServerProcess]) -> None:
    """As redis-server's adjustOpenFilesLimit: the soft limit is raised to maxclients +
    32 reserved descriptors at start and on CONFIG SET maxclients.

    One difference: redis-server sets the hard limit to the same value, so it can never
    raise it again (CONFIG SET maxclients 12000 then fails there); we keep the hard limit.
    """
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 10_032 + 2000:
        pytest.skip(f"the open-file hard limit ({hard}) is too low")
    ours = start_server(nofile=(1024, hard))
    theirs = start_redis(nofile=(1024, hard))
    assert _nofile_soft(ours.proc.pid) == _nofile_soft(theirs.proc.pid) == 10_032
    assert redis.Redis(port=ours.port).config_set("maxclients", "12000")
    assert _nofile_soft(ours.proc.pid) == 12_032
    assert redis.Redis(port=ours.port).config_get("maxclients") == {"maxclients": "12000"}
    assert _config_error(theirs.port, "maxclients", "12000").endswith("try with 10000")


def test_maxclients_reduced_to_fit_a_low_open_file_limit(
        start_server: Callable[..., ServerProcess],
        start_redis: Callable[..., RedisServerProcess]) -> None:
    """Where the hard limit is too low, maxclients is reduced to fit (logged with
    redis-server's words), CONFIG SET asks for no more than fits, and the 32 descriptors
    kept back are enough: every client up to the reduced maxclients is served."""
    ours = start_server("--maxclients", "1000", "--loglevel", "notice", nofile=(200, 200))
    theirs = start_redis("--maxclients", "1000", nofile=(200, 200))
    for port in (ours.port, theirs.port):
        r = redis.Redis(port=port)
        assert r.config_get("maxclients") == {"maxclients": "168"}
        assert _config_error(port, "maxclients", "500") == (
            "CONFIG SET failed (possibly related to argument 'maxclients') - The operating "
            "system is not able to handle the specified number of clients, try with 168")
        assert r.config_get("maxclients") == {"maxclients": "168"}
        r.close()
    for line in ("You requested maxclients of 1000 requiring at least 1032 max file "
                 "descriptors.",
                 "Server can't set maximum open files to 1032 because of OS error: "
                 "Operation not permitted.",
                 "Current maximum open files is 200. maxclients has been reduced to 168 to "
                 "compensate for low ulimit. If you need higher maxclients increase "
                 "'ulimit -n'."):
        assert line in ours.log() and line in theirs.log(), line
    r = redis.Redis(port=ours.port, single_connection_client=True)
    deadline = time.monotonic() + 5
    while r.info("clients")["connected_clients"] > 1:  # the closes above are seen
        assert time.monotonic() < deadline
        time.sleep(0.05)
    socks = [socket.create_connection(("127.0.0.1", ours.port), timeout=10) for _ in range(167)]
    try:
        for s in socks:  # with r: 168 clients
            assert _ping(s) == b"+PONG\r\n"
        extra = socket.create_connection(("127.0.0.1", ours.port), timeout=5)
        assert _until_closed(extra) == b"-ERR max number of clients reached\r\n"
        extra.close()
    finally:
        for s in socks:
            s.close()
        r.close()
    assert ours.alive()
    assert "Traceback" not in ours.log()


def test_open_file_limit_too_low_to_start(start_server: Callable[..., ServerProcess],
                                          start_redis: Callable[..., RedisServerProcess]) -> None:
    with pytest.raises(RuntimeError) as e:
        start_server("--maxclients", "1000", nofile=(32, 32))
    assert ("Your current 'ulimit -n' of 32 is not enough for the server to start. Please "
            "increase your open file limit to at least 1032. Exiting.") in str(e.value)
    with pytest.raises(RuntimeError) as e2:
        start_redis("--maxclients", "1000", nofile=(32, 32))
    assert "Your current 'ulimit -n' of 32 is not enough" in str(e2.value)


def test_timeout_closes_idle_clients_only(pair: Pair) -> None:
    """timeout N: a client idle for more than N seconds is closed without a reply; a
    subscriber, a client blocked in BLPOP and a busy client are not."""
    for port in pair:
        r = redis.Redis(port=port, single_connection_client=True)
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert _ping(idle) == b"+PONG\r\n"
        subscriber = socket.create_connection(("127.0.0.1", port), timeout=10)
        subscriber.sendall(encode_command("SUBSCRIBE", "ch"))
        assert subscriber.recv(100).startswith(b"*3\r\n$9\r\nsubscribe\r\n")
        blocked = socket.create_connection(("127.0.0.1", port), timeout=10)
        blocked.sendall(encode_command("BLPOP", "nolist", "0"))
        assert r.config_set("timeout", "1")
        start = time.monotonic()
        while time.monotonic() - start < 3.5:
            assert r.ping()  # busy: never idle for a second
            time.sleep(0.2)
        assert _until_closed(idle, timeout=3) == b"", port
        assert r.publish("ch", "still here") == 1
        assert subscriber.recv(100).endswith(b"$10\r\nstill here\r\n")
        assert r.rpush("nolist", "x") == 1
        assert blocked.recv(100) == b"*2\r\n$6\r\nnolist\r\n$1\r\nx\r\n"
        for s in (subscriber, blocked, idle):
            s.close()
        r.close()


def _slow_socket(port: int, name: str) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills after little
    s.connect(("127.0.0.1", port))
    s.settimeout(10)
    s.sendall(encode_command("CLIENT", "SETNAME", name))
    assert s.recv(100) == b"+OK\r\n"
    return s


def _gone(r: redis.Redis, name: str) -> bool:
    return all(c.get("name") != name for c in r.client_list())


def _send_until_dropped(r: redis.Redis, s: socket.socket, name: str, payload: bytes,
                        every: float, limit: float) -> float:
    """Send ``payload`` on ``s`` every ``every`` s without reading the replies, until the
    server drops the client; the seconds that took."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            s.sendall(payload)
        except OSError:
            pass
        if _gone(r, name):
            return time.monotonic() - start
        time.sleep(every)
    raise AssertionError(f"{name} was not dropped in {limit} s")


def _publish_until_dropped(r: redis.Redis, message: bytes, every: float, limit: float
                           ) -> float:
    """Publish on "ch" every ``every`` s until no subscriber is left; the seconds taken."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if r.publish("ch", message) == 0:
            return time.monotonic() - start
        time.sleep(every)
    raise AssertionError(f"the subscriber was not dropped in {limit} s")


def _subscriber(port: int) -> socket.socket:
    s = _slow_socket(port, "sub")
    s.sendall(encode_command("SUBSCRIBE", "ch"))
    assert s.recv(100).startswith(b"*3\r\n$9\r\nsubscribe\r\n")
    return s


def test_output_buffer_limit_normal_soft_limit_waits_its_seconds(pair: Pair) -> None:
    """normal 0 1mb 2: a client over the soft limit is dropped once it has stayed over
    it for 2 seconds (checked as replies are added, as redis-server does)."""
    for port in pair:
        r = redis.Redis(port=port, single_connection_client=True)
        assert r.config_set("client-output-buffer-limit", "normal 0 1mb 2")
        r.set("big", b"x" * 100_000)
        slow = _slow_socket(port, "slow")
        took = _send_until_dropped(r, slow, "slow", encode_command("GET", "big") * 5,
                                   every=0.05, limit=15)
        assert 2 <= took < 12, (port, took)
        assert r.ping()
        slow.close()
        r.close()
    assert redis.Redis(port=pair[0]).info("stats")[
        "client_output_buffer_limit_disconnections"] == 1


def test_output_buffer_limit_pubsub_hard_limit(pair: Pair) -> None:
    """pubsub 1mb 0 0: a subscriber that does not read is dropped at the hard limit (at
    once), the publisher is not."""
    for port in pair:
        r = redis.Redis(port=port, single_connection_client=True)
        assert r.config_set("client-output-buffer-limit", "pubsub 1mb 0 0")
        sub = _subscriber(port)
        took = _publish_until_dropped(r, b"x" * 100_000, every=0.002, limit=15)
        assert took < 10, (port, took)
        assert r.ping()
        sub.close()
        r.close()
    assert redis.Redis(port=pair[0]).info("stats")[
        "client_output_buffer_limit_disconnections"] == 1


def test_output_buffer_limit_pubsub_soft_limit_waits_its_seconds(pair: Pair) -> None:
    """pubsub 0 512kb 2: dropped only after 2 seconds over the soft limit."""
    for port in pair:
        r = redis.Redis(port=port, single_connection_client=True)
        assert r.config_set("client-output-buffer-limit", "pubsub 0 512kb 2")
        sub = _subscriber(port)
        took = _publish_until_dropped(r, b"x" * 100_000, every=0.02, limit=15)
        assert 2 <= took < 12, (port, took)
        sub.close()
        r.close()
