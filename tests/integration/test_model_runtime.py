"""Model runs against a real server: the event loop keeps serving while a model runs,
blocked clients resume in order, TIMEOUT answers TIMEDOUT, run queues and their flags
(threads-per-queue, intra/inter-op parallelism, inline-run-max-us), many clients at once.

A deliberately slow TorchScript model (tests/models.py: ``n`` rounds of a matmul, ``n``
read from an input tensor) gives runs of a chosen length; its speed is measured on the
server under test, so run lengths hold on a noisy machine. Timing bounds are generous:
this runs on a shared 2-core VM.
"""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis

from .. import models
from ..conftest import make_client
from ..helpers import RawClient, ServerProcess, encode_command
from .test_model import assert_close, info_fields, info_of, modelstore, tensorget, tensorset


def _ok(reply: Any) -> bool:
    return reply in (b"OK", "OK", True)


class SlowModel:
    """The slow model stored on one server, its round time measured there."""

    def __init__(self, client: redis.Redis, key: str = "slow", device: str = "CPU") -> None:
        self.client = client
        self.key = key
        modelstore(client, key, "TORCH", models.slow_torch(), device=device)
        tensorset(client, "slow_x", models.slow_input())
        # TorchScript's profiling executor specialises on the first runs: warm up with
        # enough rounds that the model never looks cheap enough to run inline.
        for n in (20, 20, 50):
            self.run(n, "slow_warm")
        # The fastest of a few timings: the machine is shared, and a run may only take
        # longer than asked for (what the tests below can live with), not shorter.
        times = []
        for _ in range(3):
            start = time.perf_counter()
            self.run(300, "slow_warm")
            times.append((time.perf_counter() - start) / 300)
        self.round_s = min(times)

    def args(self, seconds: float, out: str = "slow_y", *extra: Any) -> tuple[Any, ...]:
        """A MODELEXECUTE of about ``seconds`` (the count tensor is stored here)."""
        n = max(50, int(seconds / self.round_s))
        tensorset(self.client, f"n{n}", models.slow_count(n))
        return ("AI.MODELEXECUTE", self.key, "INPUTS", 2, "slow_x", f"n{n}",
                "OUTPUTS", 1, out, *extra)

    def run(self, n: int, out: str) -> None:
        tensorset(self.client, f"n{n}", models.slow_count(n))
        assert _ok(self.client.execute_command(
            "AI.MODELEXECUTE", self.key, "INPUTS", 2, "slow_x", f"n{n}", "OUTPUTS", 1, out))


def _client(port: int) -> redis.Redis:
    """A RESP3 client that waits long enough for slow runs on a loaded machine."""
    return redis.Redis(host="127.0.0.1", port=port, protocol=3, socket_timeout=120)


def _raw(port: int) -> RawClient:
    rc = RawClient(port)
    rc.sock.settimeout(120)
    return rc


def _pending(rc: RawClient) -> bool:
    """Whether the server has sent ``rc`` anything not read yet."""
    return bool(select.select([rc.sock], [], [], 0)[0])


@pytest.fixture
def c(server: ServerProcess) -> Iterator[redis.Redis]:
    client = _client(server.port)
    client.flushall()
    yield client
    client.close()


def _clean_log(srv: ServerProcess) -> None:
    assert "Traceback" not in srv.log(), srv.log()


def _longer(seconds: float, tries: int = 3) -> Iterator[float]:
    """Run lengths for a test that needs a run still under way at some point: when one
    ends too early (the machine got faster than measured), the next try is 3x longer."""
    for i in range(tries):
        yield seconds * 3**i


# -- (a), (b): the loop serves others during a run; the blocked client resumes in order ----
def test_model_run_does_not_block_other_clients(c: redis.Redis, server: ServerProcess
                                                ) -> None:
    slow = SlowModel(c)
    b = _client(server.port)
    for seconds in _longer(0.6):
        a = _raw(server.port)
        a_id = a.command("CLIENT", "ID")
        # One write: the run, then commands pipelined behind it.
        a.send(encode_command(*slow.args(seconds, "a_out"))
               + encode_command("PING")
               + encode_command("SET", "k", "after")
               + encode_command("GET", "k")
               + encode_command("AI.TENSORGET", "a_out", "META"))
        time.sleep(0.1)
        latencies = []
        for _ in range(10):
            start = time.perf_counter()
            assert b.ping()
            latencies.append(time.perf_counter() - start)
        assert b.set("k", "during") and b.get("k") == b"during"
        # Like a RedisAI run (a module block with no timeout callback), CLIENT UNBLOCK
        # cannot cut it short.
        assert b.client_unblock(a_id) == 0
        during = not _pending(a)  # the run was still under way
        # The blocked client: the run's reply first, then its pipelined commands.
        assert a.read() == b"OK"
        assert a.read() == b"PONG"
        assert a.read() == b"OK"
        assert a.read() == b"after"
        assert a.read() == [b"dtype", b"FLOAT", b"shape", [64, 256]]
        a.close()
        if during:
            assert sorted(latencies)[len(latencies) // 2] < 0.1, latencies
            break
    else:
        pytest.fail("every run ended before the other client was served")
    b.close()


# -- (c): TIMEOUT ------------------------------------------------------------------------------
def test_modelexecute_timeout_while_queued_answers_timedout(c: redis.Redis,
                                                            server: ServerProcess) -> None:
    slow = SlowModel(c)
    modelstore(c, "mlp", "TORCH", models.mlp_torch())
    tensorset(c, "x", models.mlp_input(2))
    b = _raw(server.port)
    for seconds in _longer(1.0):
        a = _raw(server.port)
        a.send(encode_command(*slow.args(seconds, "a_out")))
        time.sleep(0.2)
        # Queued behind the slow run on the CPU queue: its deadline passes first, and
        # the reply comes at the deadline, not when the queue gets to it.
        start = time.perf_counter()
        b.send(encode_command("AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x",
                              "OUTPUTS", 1, "late", "TIMEOUT", 200))
        reply = b.sock.recv(100)
        elapsed = time.perf_counter() - start
        # The deprecated form times out the same way; redis-py reads a plain string.
        reply2 = c.execute_command("AI.MODELRUN", "mlp", "TIMEOUT", 100, "INPUTS", "x",
                                   "OUTPUTS", "late2")
        during = not _pending(a)
        assert a.read() == b"OK"  # the slow run itself completes
        a.close()
        if not during:  # the slow run ended too early for this test: again, longer
            c.delete("late", "late2")
            continue
        assert reply == b"+TIMEDOUT\r\n"  # a status reply, not an error
        assert 0.15 < elapsed < 1.0, elapsed
        assert reply2 == b"TIMEDOUT"
        break
    else:
        pytest.fail("every slow run ended before the queued ones timed out")
    time.sleep(0.3)  # the timed-out jobs are dequeued after it: they must not run
    assert c.exists("late", "late2") == 0
    assert c.exists("a_out") == 1
    # The connection that timed out is usable, and the model runs normally again.
    assert b.command("AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x", "OUTPUTS", 1, "late",
                     "TIMEOUT", 5000) == b"OK"
    assert c.exists("late") == 1
    b.close()


def test_modelexecute_timeout_does_not_cut_a_started_run(c: redis.Redis) -> None:
    # RedisAI checks TIMEOUT when a job is dequeued only: a run that started in time
    # answers its own result, outputs stored, however long it takes.
    slow = SlowModel(c)
    for seconds in _longer(0.8):
        args = slow.args(seconds, "started", "TIMEOUT", 250)
        start = time.perf_counter()
        assert _ok(c.execute_command(*args))
        if time.perf_counter() - start > 0.3:  # it did outlast its TIMEOUT
            break
    else:
        pytest.fail("every run ended before its TIMEOUT")
    assert_close(tensorget(c, "started"), models.slow_input())  # x @ a permutation
    count_key = args[5]
    assert _ok(c.execute_command("AI.MODELRUN", "slow", "TIMEOUT", 250, "INPUTS", "slow_x",
                                 count_key, "OUTPUTS", "started2"))
    assert c.exists("started2") == 1


# -- (d): a client leaves mid-run ----------------------------------------------------------------
def test_client_disconnect_mid_run(c: redis.Redis, server: ServerProcess) -> None:
    slow = SlowModel(c)
    modelstore(c, "mlp", "ONNX", models.mlp_onnx())
    for seconds in _longer(0.6):
        gone = _raw(server.port)
        gone.send(encode_command(*slow.args(seconds, "gone_out")))
        time.sleep(0.2)
        during = not _pending(gone)
        gone.close()
        assert c.ping()
        x = models.mlp_input(3)
        tensorset(c, "x", x)
        # Queued behind the orphaned run, answered after it.
        assert _ok(c.execute_command("AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x",
                                     "OUTPUTS", 1, "y"))
        assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])
        if during:
            # As RedisAI (whose reply callback is skipped for a client that is gone):
            # the orphaned run's outputs are not stored.
            time.sleep(0.1)
            assert c.exists("gone_out") == 0
            break
        c.delete("gone_out")
    else:
        pytest.fail("every run ended before its client left")
    assert server.alive()
    slow.run(50, "again")  # the queue's worker is still there
    assert c.exists("again") == 1


# -- (e), (f): run queues and their flags ----------------------------------------------------
def _first_answered(port: int, long_run: tuple[Any, ...], short_run: tuple[Any, ...]
                    ) -> str | None:
    """Send a long run, then (0.1 s later, from another connection) a run ~20x shorter
    on the same kind of model: "short" when the short one answers first (it ran beside
    the long one), "long" when it waited for it; None when the order proves nothing
    (the long run was over before the short one was sent, or both answers arrived
    within the same instant). An order, not a duration: it holds on a loaded machine,
    where every run slows down alike."""
    a, b = _raw(port), _raw(port)
    try:
        a.send(encode_command(*long_run))
        time.sleep(0.1)
        if _pending(a):
            assert a.read() == b"OK"
            return None
        b.send(encode_command(*short_run))
        ready, _, _ = select.select([a.sock, b.sock], [], [], 120)
        assert a.read() == b"OK" and b.read() == b"OK"
        if len(ready) != 1:
            return None
        return "short" if ready[0] is b.sock else "long"
    finally:
        a.close()
        b.close()


def _order(port: int, long_model: SlowModel, short_model: SlowModel) -> str:
    for seconds in _longer(0.6):
        winner = _first_answered(port, long_model.args(seconds, "y_long"),
                                 short_model.args(seconds / 20, "y_short"))
        if winner is not None:
            return winner
    pytest.fail("no attempt could tell whether the runs overlapped")


def test_threads_per_queue_two_runs_concurrently(start_server: Callable[..., ServerProcess]
                                                 ) -> None:
    srv = start_server("--threads-per-queue", "2", "--intra-op-parallelism", "1",
                       "--inter-op-parallelism", "1")
    cl = _client(srv.port)
    slow = SlowModel(cl)
    # Two workers on the CPU queue: a short run does not wait for a long one.
    assert _order(srv.port, slow, slow) == "short"
    fields = info_fields(_info(srv, "modules"))
    assert fields["queue_CPU_threads"] == "2"
    assert fields["threads_per_queue"] == "2"
    assert fields["intra_op_parallelism"] == "1"
    assert fields["inter_op_parallelism"] == "1"
    # Both workers did some of the work.
    assert float(fields["queue_CPU_bthread_n1_used_cpu_total"]) > 0
    assert float(fields["queue_CPU_bthread_n2_used_cpu_total"]) > 0
    cl.close()
    _clean_log(srv)


def test_device_queues_run_side_by_side(start_server: Callable[..., ServerProcess]) -> None:
    # One thread per queue: two runs on CPU wait for each other, CPU and CPU:1 do not.
    srv = start_server("--intra-op-parallelism", "1")
    cl = _client(srv.port)
    slow = SlowModel(cl, "slow")
    slow1 = SlowModel(cl, "slow1", device="CPU:1")
    slow1.round_s = slow.round_s  # the same round counts on both queues
    assert _order(srv.port, slow, slow) == "long"
    assert _order(srv.port, slow, slow1) == "short"
    assert _order(srv.port, slow1, slow) == "short"
    text = _info(srv, "ai_queues")
    assert "queue_CPU_threads:1" in text and "queue_CPU:1_threads:1" in text
    cl.close()
    _clean_log(srv)


def _info(srv: ServerProcess, section: str) -> str:
    rc = RawClient(srv.port)
    try:
        reply = rc.command("INFO", section)
        assert isinstance(reply, bytes), reply
        return reply.decode()
    finally:
        rc.close()


def test_parallelism_flags_accepted_and_shown(start_server: Callable[..., ServerProcess]
                                              ) -> None:
    intra, inter = "2", "3"  # distinct, so a swap would show
    srv = start_server("--intra-op-parallelism", intra, "--inter-op-parallelism", inter)
    cl = _client(srv.port)
    fields = info_fields(_info(srv, "ai_load_time_configs"))
    assert fields["intra_op_parallelism"] == intra
    assert fields["inter_op_parallelism"] == inter
    assert fields["threads_per_queue"] == "1"
    assert cl.config_get("intra-op-parallelism") == {"intra-op-parallelism": intra}
    x = models.conv_input(5)
    tensorset(cl, "x", x)
    for backend, blob in (("TORCH", models.conv_torch()), ("ONNX", models.conv_onnx())):
        modelstore(cl, backend, backend, blob)
        assert _ok(cl.execute_command("AI.MODELEXECUTE", backend, "INPUTS", 1, "x",
                                      "OUTPUTS", 1, "y"))
        assert_close(tensorget(cl, "y"), models.reference("conv", x)[0])
    cl.close()
    _clean_log(srv)


def test_threads_per_queue_zero_refused() -> None:
    with pytest.raises(RuntimeError, match="exited early"):
        ServerProcess(["--threads-per-queue", "0"])


# -- (g): many clients at once ------------------------------------------------------------------
def test_sixteen_clients_get_their_own_outputs(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "torch", "TORCH", models.mlp_torch())
    modelstore(c, "onnx", "ONNX", models.mlp_onnx())
    rounds = 4
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def client_loop(i: int) -> None:
        cl = make_client(server.port, "resp3-hiredis" if i % 2 else "resp2-python")
        try:
            barrier.wait()
            for j in range(rounds):
                x = models.mlp_input(1 + (i + j) % 4, seed=100 * i + j)
                tensorset(cl, f"x{i}", x)
                model = "torch" if (i + j) % 2 else "onnx"
                assert _ok(cl.execute_command("AI.MODELEXECUTE", model, "INPUTS", 1, f"x{i}",
                                              "OUTPUTS", 1, f"y{i}"))
                assert_close(tensorget(cl, f"y{i}"), models.reference("mlp", x)[0])
        except BaseException as e:
            errors.append(e)
        finally:
            cl.close()

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    calls = info_of(c, "torch")[b"calls"] + info_of(c, "onnx")[b"calls"]
    assert calls == 16 * rounds


# -- (h): inline runs and worker runs give the same results ------------------------------------
@pytest.mark.parametrize("inline_max_us", ["0", "100"])
def test_inline_run_limit_results_equal(start_server: Callable[..., ServerProcess],
                                        inline_max_us: str) -> None:
    srv = start_server("--inline-run-max-us", inline_max_us)
    cl = _client(srv.port)
    modelstore(cl, "torch", "TORCH", models.mlp_torch())
    modelstore(cl, "onnx", "ONNX", models.mlp_onnx())
    runs = 0
    for j in range(6):
        x = models.mlp_input(1 + j % 3, seed=j)
        tensorset(cl, "x", x)
        for model in ("torch", "onnx"):
            assert _ok(cl.execute_command("AI.MODELEXECUTE", model, "INPUTS", 1, "x",
                                          "OUTPUTS", 1, "y"))
            runs += 1
            assert_close(tensorget(cl, "y"), models.reference("mlp", x)[0])
    # Errors come back the same way on both paths.
    tensorset(cl, "bad", np.ones((1, 9), dtype=np.float32))
    for model in ("torch", "onnx"):
        with pytest.raises(redis.ResponseError):
            cl.execute_command("AI.MODELEXECUTE", model, "INPUTS", 1, "bad", "OUTPUTS", 1, "y")
        runs += 1
    calls = int(info_fields(_info(srv, "ai_queues"))["queue_CPU_calls"])
    if inline_max_us == "0":
        assert calls == runs  # every run went through the CPU queue's worker
    else:
        assert 2 <= calls <= runs  # the first run of each model always does
    assert info_of(cl, "torch")[b"calls"] == runs // 2
    cl.close()
    _clean_log(srv)
