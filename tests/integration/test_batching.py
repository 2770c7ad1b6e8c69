"""Auto-batching (models stored with BATCHSIZE) against a real server: concurrent
clients' runs share one engine call and each gets exactly its own rows back.

Requests are sent "at once" by many raw connections, each its own client. Where a test
needs one particular batch, MINBATCHSIZE holds the batch back until all its rows have
arrived (with a MINBATCHTIMEOUT long enough never to fire on a slow machine), so what
is batched with what does not depend on timing. What the server did is read from INFO
ai_batching and AI.INFO, not guessed from wall-clock time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis

from .. import models
from ..helpers import RawClient, ServerProcess, encode_command
from .test_model import assert_close, info_of, modelstore, tensorget, tensorset
from .test_model_runtime import SlowModel

WRONG_BATCH = "Model did not generate the expected batch size"
LONG_WAIT = 20_000  # a MINBATCHTIMEOUT (ms) that never fires during a test


@pytest.fixture
def c(server: ServerProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(host="127.0.0.1", port=server.port, protocol=3, socket_timeout=60)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def clients(server: ServerProcess) -> Iterator[Callable[[int], list[RawClient]]]:
    made: list[RawClient] = []

    def make(n: int, port: int = server.port) -> list[RawClient]:
        out = []
        for _ in range(n):
            rc = RawClient(port)
            rc.sock.settimeout(60)
            out.append(rc)
        made.extend(out)
        return out

    yield make
    for rc in made:
        rc.close()


def batching(port: int) -> dict[str, dict[str, str]]:
    """INFO ai_batching as {model key: {field: value}}."""
    rc = RawClient(port)
    try:
        text = rc.command("INFO", "ai_batching").decode()
    finally:
        rc.close()
    out = {}
    for line in text.splitlines():
        if line.startswith("model") and ":" in line:
            fields = dict(f.split("=", 1) for f in line.split(":", 1)[1].split(","))
            out[fields["key"]] = fields
    return out


def execute(key: str, x: str, y: str, *extra: Any) -> bytes:
    return encode_command("AI.MODELEXECUTE", key, "INPUTS", 1, x, "OUTPUTS", 1, y, *extra)


def send_all(conns: list[RawClient], commands: list[bytes]) -> list[Any]:
    """Send one command per connection back to back, then read every reply."""
    for rc, cmd in zip(conns, commands, strict=True):
        rc.send(cmd)
    return [rc.read() for rc in conns]


def reply_text(reply: Any) -> str:
    assert isinstance(reply, Exception), reply
    return str(reply)


# -- every client gets exactly its own rows -----------------------------------------------
@pytest.mark.parametrize("backend", ["TORCH", "ONNX"])
def test_32_clients_each_get_their_own_rows(c: redis.Redis, server: ServerProcess,
                                            clients: Callable[..., list[RawClient]],
                                            backend: str) -> None:
    blob = models.mlp_torch() if backend == "TORCH" else models.mlp_onnx()
    modelstore(c, "m", backend, blob, "BATCHSIZE", 16)
    conns = clients(32)
    for rnd in range(5):
        xs = [models.mlp_input(1, seed=100 * rnd + i) for i in range(32)]
        for i, x in enumerate(xs):
            tensorset(c, f"x{i}", x)
        replies = send_all(conns, [execute("m", f"x{i}", f"y{i}") for i in range(32)])
        assert replies == [b"OK"] * 32
        for i, x in enumerate(xs):
            assert_close(tensorget(c, f"y{i}"), models.reference("mlp", x)[0])
    stats = batching(server.port)["m"]
    assert int(stats["calls"]) == int(stats["batched_runs"]) == 160
    assert int(stats["batched_rows"]) == 160
    # Some engine calls carried more than one client's run.
    assert int(stats["batches"]) < 160, stats
    assert int(stats["max_rows_per_batch"]) <= 16
    info = info_of(c, "m")
    assert info[b"calls"] == 160 and info[b"samples"] == 160 and info[b"errors"] == 0


def test_one_batch_of_32_clients_with_different_row_counts(
        c: redis.Redis, server: ServerProcess, clients: Callable[..., list[RawClient]]) -> None:
    rows = [1 + i % 3 for i in range(32)]  # 63 rows in all
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 64, "MINBATCHSIZE", 63,
               "MINBATCHTIMEOUT", LONG_WAIT)
    xs = [models.mlp_input(n, seed=i) for i, n in enumerate(rows)]
    for i, x in enumerate(xs):
        tensorset(c, f"x{i}", x)
    replies = send_all(clients(32), [execute("m", f"x{i}", f"y{i}") for i in range(32)])
    assert replies == [b"OK"] * 32
    for i, x in enumerate(xs):
        got = tensorget(c, f"y{i}")
        assert got.shape == (rows[i], 3)
        assert_close(got, models.reference("mlp", x)[0])
    stats = batching(server.port)["m"]
    assert (stats["batches"], stats["batched_runs"], stats["batched_rows"]) == ("1", "32", "63")
    assert stats["rows_33_64"] == "1" and stats["avg_rows_per_batch"] == "63.00"
    # AI.INFO: calls count runs, samples count rows.
    info = info_of(c, "m")
    assert info[b"calls"] == 32 and info[b"samples"] == 63


def test_batches_never_pass_batchsize(c: redis.Redis, server: ServerProcess,
                                      clients: Callable[..., list[RawClient]]) -> None:
    # 3 + 3 rows would pass BATCHSIZE 4: each 3-row run waits for its own batch, filled
    # by a 1-row run behind it (oldest first).
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 4, "MINBATCHSIZE", 4,
               "MINBATCHTIMEOUT", LONG_WAIT)
    rows = [3, 3, 1, 1]
    xs = [models.mlp_input(n, seed=i) for i, n in enumerate(rows)]
    for i, x in enumerate(xs):
        tensorset(c, f"x{i}", x)
    replies = send_all(clients(4), [execute("m", f"x{i}", f"y{i}") for i in range(4)])
    assert replies == [b"OK"] * 4
    for i, x in enumerate(xs):
        assert_close(tensorget(c, f"y{i}"), models.reference("mlp", x)[0])
    stats = batching(server.port)["m"]
    assert (stats["batches"], stats["max_rows_per_batch"], stats["rows_3_4"]) == ("2", "4", "2")


def test_run_larger_than_batchsize_runs_alone(c: redis.Redis, server: ServerProcess,
                                              clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 4, "MINBATCHSIZE", 4,
               "MINBATCHTIMEOUT", LONG_WAIT)
    rows = [1, 6, 1, 1, 1]
    xs = [models.mlp_input(n, seed=i) for i, n in enumerate(rows)]
    for i, x in enumerate(xs):
        tensorset(c, f"x{i}", x)
    replies = send_all(clients(5), [execute("m", f"x{i}", f"y{i}") for i in range(5)])
    assert replies == [b"OK"] * 5
    for i, x in enumerate(xs):
        assert_close(tensorget(c, f"y{i}"), models.reference("mlp", x)[0])
    stats = batching(server.port)["m"]
    # The 6-row run was not batched; the four 1-row runs made one batch.
    assert (stats["calls"], stats["batches"], stats["batched_runs"]) == ("5", "1", "4")
    assert stats["max_rows_per_batch"] == "4"
    assert info_of(c, "m")[b"samples"] == 10


def test_incompatible_runs_are_not_merged(c: redis.Redis, server: ServerProcess,
                                          clients: Callable[..., list[RawClient]]) -> None:
    # two_io (a + b, a * b) takes any shape: runs are batched only with runs whose inputs
    # agree in dtype and in every dimension after the first.
    modelstore(c, "m", "TORCH", models.two_io_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 2,
               "MINBATCHTIMEOUT", LONG_WAIT)
    rng = np.random.default_rng(7)
    shapes = [((1, 3), np.float32), ((1, 5), np.float32), ((1, 3), np.float32),
              ((1, 5), np.float32), ((1, 3), np.float64), ((1, 3), np.float64)]
    arrays = []
    for i, (shape, dtype) in enumerate(shapes):
        a = rng.standard_normal(shape).astype(dtype)
        b = rng.standard_normal(shape).astype(dtype)
        tensorset(c, f"a{i}", a)
        tensorset(c, f"b{i}", b)
        arrays.append((a, b))
    cmds = [encode_command("AI.MODELEXECUTE", "m", "INPUTS", 2, f"a{i}", f"b{i}",
                           "OUTPUTS", 2, f"s{i}", f"p{i}") for i in range(len(shapes))]
    assert send_all(clients(len(shapes)), cmds) == [b"OK"] * len(shapes)
    for i, (a, b) in enumerate(arrays):
        assert_close(tensorget(c, f"s{i}"), a + b)
        assert_close(tensorget(c, f"p{i}"), a * b)
    stats = batching(server.port)["m"]
    # Three groups of two: FLOAT [*, 3], FLOAT [*, 5] and DOUBLE [*, 3].
    assert (stats["batches"], stats["batched_runs"], stats["max_rows_per_batch"]) == (
        "3", "6", "2")


def test_inputs_disagreeing_on_dim0_run_alone(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "m", "TORCH", models.two_io_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 8,
               "MINBATCHTIMEOUT", LONG_WAIT)
    a = np.ones((2, 3), np.float32)
    b = np.full((1, 3), 2, np.float32)  # broadcasts: a run, but not a batchable one
    tensorset(c, "a", a)
    tensorset(c, "b", b)
    assert c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b",
                             "OUTPUTS", 2, "s", "p") == b"OK"  # no MINBATCHSIZE wait
    assert_close(tensorget(c, "s"), a + b)
    assert batching(server.port)["m"]["batches"] == "0"


# -- MINBATCHSIZE / MINBATCHTIMEOUT --------------------------------------------------------
def test_minbatchsize_waits_for_minbatchtimeout(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 4,
               "MINBATCHTIMEOUT", 400)
    x = models.mlp_input(1)
    tensorset(c, "x", x)
    start = time.monotonic()
    assert c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    waited = time.monotonic() - start
    assert 0.38 <= waited < 10, waited  # held for MINBATCHTIMEOUT, then run anyway
    assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])
    stats = batching(server.port)["m"]
    assert stats["batches"] == "1" and int(stats["avg_queue_wait_usec"]) >= 380_000


def test_minbatchsize_reached_runs_without_waiting(
        c: redis.Redis, server: ServerProcess, clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 4,
               "MINBATCHTIMEOUT", LONG_WAIT)
    for i in range(4):
        tensorset(c, f"x{i}", models.mlp_input(1, seed=i))
    start = time.monotonic()
    replies = send_all(clients(4), [execute("m", f"x{i}", f"y{i}") for i in range(4)])
    assert replies == [b"OK"] * 4
    assert time.monotonic() - start < LONG_WAIT / 2000
    assert batching(server.port)["m"]["batches"] == "1"


def test_minbatchsize_without_timeout_waits_the_default(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--minbatch-timeout-default", "300")
    c = redis.Redis(port=srv.port, protocol=3, socket_timeout=60)
    assert c.config_get("minbatch-timeout-default") == {"minbatch-timeout-default": "300"}
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 4)
    tensorset(c, "x", models.mlp_input(1))
    for _ in range(2):
        start = time.monotonic()
        assert c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1,
                                 "y") == b"OK"
        waited = time.monotonic() - start
        assert 0.28 <= waited < 10, waited  # never forever (RedisAI would hang here)
    # CONFIG SET applies to the next wait.
    assert c.config_set("minbatch-timeout-default", 50)
    start = time.monotonic()
    assert c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    assert time.monotonic() - start < 0.28
    c.close()


def test_minbatch_timeout_default_is_100ms(c: redis.Redis) -> None:
    assert c.config_get("minbatch-timeout-default") == {"minbatch-timeout-default": "100"}


# -- errors --------------------------------------------------------------------------------
def test_model_breaking_dim0_fails_every_run_of_the_batch(
        c: redis.Redis, server: ServerProcess, clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "TORCH", models.row_sum_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 3,
               "MINBATCHTIMEOUT", LONG_WAIT)
    for i in range(3):
        tensorset(c, f"x{i}", models.mlp_input(1, seed=i))
    replies = send_all(clients(3), [execute("m", f"x{i}", f"y{i}") for i in range(3)])
    assert [reply_text(r) for r in replies] == [f"ERR {WRONG_BATCH}"] * 3
    assert c.keys("y*") == []  # nothing stored
    info = info_of(c, "m")
    assert (info[b"calls"], info[b"errors"]) == (3, 3)
    # Alone, a run is not a batch: its output is taken as it is (RedisAI checks dim 0
    # only when it batched).
    assert c.execute_command("AI.MODELSTORE", "one", "TORCH", "CPU", "BATCHSIZE", 8,
                             "BLOB", models.row_sum_torch()) == b"OK"
    tensorset(c, "two", models.mlp_input(2))
    assert c.execute_command("AI.MODELEXECUTE", "one", "INPUTS", 1, "two", "OUTPUTS", 1,
                             "out") == b"OK"
    assert tensorget(c, "out").shape == (1, 4)


def test_engine_error_is_reported_to_every_run_of_the_batch(
        c: redis.Redis, server: ServerProcess, clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 3,
               "MINBATCHTIMEOUT", LONG_WAIT)
    for i in range(3):
        # 5 features where the MLP takes 4: the engine refuses the batch.
        tensorset(c, f"x{i}", np.ones((1, 5), np.float32))
    replies = send_all(clients(3), [execute("m", f"x{i}", f"y{i}") for i in range(3)])
    texts = [reply_text(r) for r in replies]
    assert len(set(texts)) == 1 and "mat1 and mat2 shapes cannot be multiplied" in texts[0]
    assert c.keys("y*") == []
    assert info_of(c, "m")[b"errors"] == 3
    # The server goes on: a good batch right after.
    for i in range(3):
        tensorset(c, f"x{i}", models.mlp_input(1, seed=i))
    replies = send_all(clients(3), [execute("m", f"x{i}", f"y{i}") for i in range(3)])
    assert replies == [b"OK"] * 3
    assert_close(tensorget(c, "y2"), models.reference("mlp", models.mlp_input(1, seed=2))[0])


def test_wrong_output_key_type_fails_only_that_run(
        c: redis.Redis, clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 2,
               "MINBATCHTIMEOUT", LONG_WAIT)
    tensorset(c, "x", models.mlp_input(1))
    c.set("taken", "a string")
    replies = send_all(clients(2), [execute("m", "x", "taken"), execute("m", "x", "free")])
    assert reply_text(replies[0]).startswith("WRONGTYPE")
    assert replies[1] == b"OK"
    assert c.get("taken") == b"a string"


# -- TIMEOUT, disconnects, the queue cap ---------------------------------------------------
def test_timeout_while_waiting_for_a_batch(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 4,
               "MINBATCHTIMEOUT", 3000)
    tensorset(c, "x", models.mlp_input(1))
    start = time.monotonic()
    reply = c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y",
                              "TIMEOUT", 200)
    assert reply == b"TIMEDOUT"
    assert time.monotonic() - start < 2.5
    assert not c.exists("y")
    time.sleep(3.2)  # the batch's own wait ends: the timed-out run is dropped, not run
    assert not c.exists("y")
    assert info_of(c, "m")[b"calls"] == 0
    assert batching(server.port)["m"]["batches"] == "0"


def test_client_gone_while_waiting_is_dropped(c: redis.Redis, server: ServerProcess,
                                              clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 2,
               "MINBATCHTIMEOUT", 1500)
    tensorset(c, "x", models.mlp_input(1))
    gone, stays = clients(2)
    gone.send(execute("m", "x", "y_gone"))
    time.sleep(0.2)
    gone.close()
    time.sleep(0.2)
    # The second run alone does not reach MINBATCHSIZE: the departed client's run no
    # longer counts. It runs when its wait ends, by itself.
    stays.send(execute("m", "x", "y_stays"))
    assert stays.read() == b"OK"
    assert not c.exists("y_gone")
    stats = batching(server.port)["m"]
    assert (stats["batches"], stats["batched_runs"], stats["max_rows_per_batch"]) == (
        "1", "1", "1")
    assert c.ping()


def test_queue_cap_refuses_new_runs(start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--queue-max-len", "3")
    c = redis.Redis(port=srv.port, protocol=3, socket_timeout=60)
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 8,
               "MINBATCHTIMEOUT", LONG_WAIT)
    tensorset(c, "x", models.mlp_input(1))
    waiting = [RawClient(srv.port) for _ in range(3)]
    for i, rc in enumerate(waiting):
        rc.send(execute("m", "x", f"y{i}"))
    time.sleep(0.3)
    extra = RawClient(srv.port)
    reply = extra.command(*["AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y3"])
    assert reply_text(reply) == (
        "ERR run queue of device CPU is full (3 runs waiting, queue-max-len)")
    # DAGs are refused before anything runs, too.
    reply = extra.command("AI.DAGEXECUTE", "LOAD", 1, "x", "|>", "AI.MODELEXECUTE", "m",
                          "INPUTS", 1, "x", "OUTPUTS", 1, "z", "|>", "AI.TENSORGET", "z",
                          "META")
    assert reply_text(reply).startswith("ERR run queue of device CPU is full")
    assert c.ping() and not c.exists("y3")
    # Raising the cap lets new runs in; the waiting ones are unaffected.
    assert c.config_set("queue-max-len", 0)
    extra.send(execute("m", "x", "y3"))
    fill = [RawClient(srv.port) for _ in range(4)]
    for i, rc in enumerate(fill):
        rc.send(execute("m", "x", f"f{i}"))
    assert [rc.read() for rc in [*waiting, extra, *fill]] == [b"OK"] * 8
    for rc in [*waiting, extra, *fill]:
        rc.close()
    c.close()


def test_queue_max_len_default(c: redis.Redis) -> None:
    assert c.config_get("queue-max-len") == {"queue-max-len": "10000"}


# -- DAGs, deprecated MODELRUN, statistics ------------------------------------------------
def test_dag_model_ops_join_batches(c: redis.Redis, server: ServerProcess,
                                    clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 6,
               "MINBATCHTIMEOUT", LONG_WAIT)
    xs = [models.mlp_input(1, seed=i) for i in range(6)]
    for i, x in enumerate(xs):
        tensorset(c, f"x{i}", x)
    cmds = []
    for i in range(3):  # three DAGs ...
        cmds.append(encode_command(
            "AI.DAGEXECUTE", "LOAD", 1, f"x{i}", "PERSIST", 1, f"y{i}",
            "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, f"x{i}", "OUTPUTS", 1, f"y{i}"))
    for i in range(3, 6):  # ... and three single runs share one batch
        cmds.append(execute("m", f"x{i}", f"y{i}"))
    replies = send_all(clients(6), cmds)
    assert replies == [[b"OK"]] * 3 + [b"OK"] * 3
    for i, x in enumerate(xs):
        assert_close(tensorget(c, f"y{i}"), models.reference("mlp", x)[0])
    stats = batching(server.port)["m"]
    assert (stats["batches"], stats["batched_runs"]) == ("1", "6")


def test_dag_with_batched_op_between_other_ops(c: redis.Redis) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8)
    modelstore(c, "plain", "TORCH", models.mlp_torch())
    x = models.mlp_input(2)
    reply = c.execute_command(
        "AI.DAGEXECUTE", "ROUTING", "x",
        "|>", "AI.TENSORSET", "x", "FLOAT", 2, 4, "BLOB", x.tobytes(),
        "|>", "AI.MODELEXECUTE", "plain", "INPUTS", 1, "x", "OUTPUTS", 1, "a",
        "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "b",
        "|>", "AI.MODELEXECUTE", "plain", "INPUTS", 1, "x", "OUTPUTS", 1, "c",
        "|>", "AI.TENSORGET", "a", "BLOB", "|>", "AI.TENSORGET", "b", "BLOB",
        "|>", "AI.TENSORGET", "c", "BLOB")
    want = models.reference("mlp", x)[0]
    assert reply[:4] == [b"OK"] * 4
    for blob in reply[4:]:
        assert_close(np.frombuffer(blob, np.float32).reshape(2, 3), want)


def test_dag_error_in_batched_op(c: redis.Redis,
                                 clients: Callable[..., list[RawClient]]) -> None:
    # Two DAGs whose model ops share a batch of a model that breaks dim 0: each DAG
    # reports the error at that op, the op after it is not run, and nothing persists.
    modelstore(c, "m", "TORCH", models.row_sum_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 2,
               "MINBATCHTIMEOUT", LONG_WAIT)
    modelstore(c, "plain", "TORCH", models.mlp_torch())
    tensorset(c, "x", models.mlp_input(1))
    dag = encode_command(
        "AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "b",
        "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "a",
        "|>", "AI.MODELEXECUTE", "plain", "INPUTS", 1, "a", "OUTPUTS", 1, "b")
    for reply in send_all(clients(2), [dag, dag]):
        assert isinstance(reply, list) and len(reply) == 2, reply
        assert reply_text(reply[0]) == f"ERR {WRONG_BATCH}"
        assert reply[1] == b"NA"
    assert not c.exists("b")
    assert info_of(c, "m")[b"errors"] == 2
    assert info_of(c, "plain")[b"calls"] == 0


def test_dag_timeout_while_op_waits_for_batch(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 4,
               "MINBATCHTIMEOUT", 2000)
    tensorset(c, "x", models.mlp_input(1))
    reply = c.execute_command(
        "AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "y", "TIMEOUT", 200,
        "|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    assert reply == b"TIMEDOUT"
    time.sleep(2.3)
    assert not c.exists("y")
    assert batching(server.port)["m"]["batches"] == "0"
    assert c.ping()


def test_modelrun_deprecated_is_batched(c: redis.Redis, server: ServerProcess,
                                        clients: Callable[..., list[RawClient]]) -> None:
    modelstore(c, "m", "ONNX", models.mlp_onnx(), "BATCHSIZE", 8, "MINBATCHSIZE", 3,
               "MINBATCHTIMEOUT", LONG_WAIT)
    xs = [models.mlp_input(1, seed=i) for i in range(3)]
    for i, x in enumerate(xs):
        tensorset(c, f"x{i}", x)
    cmds = [encode_command("AI.MODELRUN", "m", "INPUTS", f"x{i}", "OUTPUTS", f"y{i}")
            for i in range(3)]
    assert send_all(clients(3), cmds) == [b"OK"] * 3
    for i, x in enumerate(xs):
        assert_close(tensorget(c, f"y{i}"), models.reference("mlp", x)[0])
    assert batching(server.port)["m"]["batches"] == "1"


def test_info_ai_batching_fields_and_resetstat(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "m:1", "TORCH", models.mlp_torch(), "TAG", "v1", "BATCHSIZE", 4,
               "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 30)
    modelstore(c, "plain", "TORCH", models.mlp_torch())
    tensorset(c, "x", models.mlp_input(1))
    assert c.execute_command("AI.MODELEXECUTE", "m:1", "INPUTS", 1, "x", "OUTPUTS", 1,
                             "y") == b"OK"
    stats = batching(server.port)
    assert list(stats) == ["m:1"]  # only models that batch are listed
    fields = stats["m:1"]
    assert list(fields) == [
        "key", "batchsize", "minbatchsize", "minbatchtimeout", "calls", "batches",
        "batched_runs", "batched_rows", "avg_runs_per_batch", "avg_rows_per_batch",
        "max_rows_per_batch", "avg_batch_usec", "avg_queue_wait_usec", "rows_1"]
    assert (fields["batchsize"], fields["minbatchsize"], fields["minbatchtimeout"]) == (
        "4", "2", "30")
    assert (fields["batches"], fields["rows_1"]) == ("1", "1")
    # Shown under INFO modules and INFO everything, like the other ai_ sections.
    rc = RawClient(server.port)
    assert "# ai_batching" in rc.command("INFO", "modules").decode()
    rc.close()
    assert c.execute_command("AI.INFO", "m:1", "RESETSTAT") == b"OK"
    fields = batching(server.port)["m:1"]
    assert (fields["calls"], fields["batches"], fields["max_rows_per_batch"]) == (
        "0", "0", "0")
    assert "rows_1" not in fields
    # A deleted model leaves the section.
    c.delete("m:1")
    assert batching(server.port) == {}


def test_overwritten_model_does_not_share_batches(
        c: redis.Redis, server: ServerProcess, clients: Callable[..., list[RawClient]]) -> None:
    # Runs batch only with runs of the same model object: a MODELSTORE over the key
    # while runs wait starts new groups (the old model finishes its own).
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8, "MINBATCHSIZE", 2,
               "MINBATCHTIMEOUT", 800)
    tensorset(c, "x", models.mlp_input(1))
    first, second = clients(2)
    first.send(execute("m", "x", "y1"))
    time.sleep(0.2)
    modelstore(c, "m", "ONNX", models.mlp_onnx(), "BATCHSIZE", 8, "MINBATCHSIZE", 2,
               "MINBATCHTIMEOUT", 800)
    second.send(execute("m", "x", "y2"))
    assert first.read() == b"OK" and second.read() == b"OK"
    want = models.reference("mlp", models.mlp_input(1))[0]
    assert_close(tensorget(c, "y1"), want)
    assert_close(tensorget(c, "y2"), want)
    stats = batching(server.port)["m"]  # the new model's own statistics
    assert (stats["batches"], stats["batched_runs"]) == ("1", "1")


def test_batch_not_starved_by_other_runs_on_its_queue(
        c: redis.Redis, server: ServerProcess, clients: Callable[..., list[RawClient]]) -> None:
    # Two clients keep the CPU queue's one worker busy with unbatched slow runs (each has
    # one run queued or running at any time). A batched run arriving meanwhile is
    # released at the next hand-back, not held until the queue is empty.
    slow = SlowModel(c)
    modelstore(c, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 8)
    x = models.mlp_input(1)
    tensorset(c, "x", x)
    a, b, batched = clients(3)
    n_runs = 12
    for rc, out in ((a, "ya"), (b, "yb")):
        rc.send(encode_command(*slow.args(0.05, out)) * n_runs)
    time.sleep(0.15)
    batched.send(execute("m", "x", "y"))
    assert batched.read() == b"OK"
    done_first = time.monotonic()
    replies = [rc.read() for rc in (a, b) for _ in range(n_runs)]
    assert replies == [b"OK"] * (2 * n_runs)
    # The slow runs were still coming when the batched run was answered.
    assert time.monotonic() - done_first > 0.1
    assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])
