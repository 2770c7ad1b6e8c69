"""Limits on what a run can take (issue 7): the execution time limit that stops a
runaway ONNX model (RedisAI's MODEL_EXECUTION_TIMEOUT) while the server keeps serving."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
import redis

from .. import models
from ..helpers import RawClient, ServerProcess, encode_command
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
    assert r.config_set("tensor-max-bytes", "1mb")
    assert r.config_set("proto-max-bulk-len", "2kb")
    assert err("AI.TENSORSET", "t", "FLOAT", 1024) == (
        "tensor of 4096 bytes exceeds proto-max-bulk-len (2048 bytes)")


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
