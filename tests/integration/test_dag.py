"""AI.DAGEXECUTE / AI.DAGEXECUTE_RO and the deprecated AI.DAGRUN / AI.DAGRUN_RO, against
RedisAI 1.2's replies and exact error texts (../shared/REDISAI.md 1.2, 1.3 and 2.4).

Reply shapes that differ between protocols (TENSORGET META inside a DAG reply) are
checked through every redis-py variant (``r``); the rest uses one plain client (``c``),
and error texts are read off the wire (``raw``). Timing claims (TIMEOUT, ops on two
devices at once) are proven by order and by run times the server measures, not by
wall-clock bounds: this runs on a shared 2-core machine.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis

from .. import models
from ..conftest import make_client
from ..helpers import RawClient, ServerProcess, encode_command
from .test_model import (
    WRONGTYPE,
    _as_dict,
    _ok,
    _pairs,
    assert_close,
    info_of,
    modelstore,
    tensorget,
    tensorset,
)
from .test_script import (
    ENTRY_POINTS,
    OLD_SCRIPT,
    REDIS_ENTRY_POINTS,
    REDIS_SCRIPT,
    SCRIPT,
    A,
    B,
    load_backends,
    put,
    scriptstore,
    values,
)

SEP = "|>"


@pytest.fixture(scope="session")
def backends(server: ServerProcess) -> ServerProcess:
    """The session's server, with torch and onnxruntime imported (test_script.py)."""
    load_backends(server.port)
    return server


@pytest.fixture
def c(backends: ServerProcess) -> Iterator[redis.Redis]:
    client = make_client(backends.port, "resp3-hiredis")
    client.flushall()
    yield client
    client.close()


def dag(client: redis.Redis, *args: Any) -> list[Any]:
    reply = client.execute_command(*args)
    assert isinstance(reply, list), reply
    return reply


def _is_error(reply: Any, text: str) -> bool:
    return isinstance(reply, redis.ResponseError) and str(reply) == text


def _na(reply: Any) -> bool:
    return reply in (b"NA", "NA")


# -- reply shapes (every client) --------------------------------------------------------------
def test_dag_reply_shapes(backends: ServerProcess, r: redis.Redis, resp: int) -> None:
    scriptstore(r, "s", SCRIPT, ENTRY_POINTS)
    blob = np.array([1.5, -2.0], dtype=np.float32).tobytes()
    reply = dag(r, "AI.DAGEXECUTE", "ROUTING", "t", SEP,
                "AI.TENSORSET", "t", "FLOAT", 2, "BLOB", blob, SEP,
                "AI.TENSORGET", "t", "META", SEP,
                "AI.TENSORGET", "t", "VALUES", SEP,
                "AI.TENSORGET", "t", "BLOB", SEP,
                "AI.TENSORGET", "t", "META", "VALUES", SEP,
                "AI.TENSORGET", "t", SEP,
                "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "t", "t", "OUTPUTS", 1, "u", SEP,
                "AI.TENSORGET", "u", "VALUES", SEP,
                "AI.SCRIPTEXECUTE", "s", "add_mul", "INPUTS", 2, "t", "t", "OUTPUTS", 1, "v", SEP,
                "AI.TENSORGET", "v", "VALUES")
    assert len(reply) == 10
    floats: list[Any] = [1.5, -2.0] if resp == 3 else [b"1.5", b"-2"]
    doubled: list[Any] = [3.0, -4.0] if resp == 3 else [b"3", b"-4"]
    meta = [(b"dtype", b"FLOAT"), (b"shape", [2])]
    assert _ok(reply[0])
    assert _pairs(reply[1], resp) == meta
    assert reply[2] == floats
    assert reply[3] == blob
    assert _pairs(reply[4], resp) == [*meta, (b"values", floats)]
    assert _pairs(reply[5], resp) == [*meta, (b"blob", blob)]  # no format: META and BLOB
    if resp == 2:  # RedisAI's flat arrays, exactly
        assert reply[1] == [b"dtype", b"FLOAT", b"shape", [2]]
        assert reply[5] == [b"dtype", b"FLOAT", b"shape", [2], b"blob", blob]
    assert _ok(reply[6])
    assert reply[7] == doubled
    # A failed op is an error element; what it never produced is NA (a status reply).
    assert _is_error(reply[8], "Function returned unexpected number of outputs - add_mul")
    assert _na(reply[9])
    assert r.exists("t", "u", "v") == 0  # DAG-local names: nothing reaches the keyspace


def test_dag_errors_inside_the_reply_on_the_wire(c: redis.Redis, raw: Callable[[], RawClient]
                                                 ) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    put(c, "a", A)
    rc = raw()
    rc.send(encode_command("AI.DAGEXECUTE", "LOAD", 1, "a", SEP,
                           "AI.SCRIPTEXECUTE", "s", "add_mul", "INPUTS", 2, "a", "a",
                           "OUTPUTS", 1, "o", SEP,
                           "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "a",
                           "OUTPUTS", 1, "p", SEP,
                           "AI.TENSORGET", "o", "VALUES"))
    want = (b"*3\r\n-Function returned unexpected number of outputs - add_mul\r\n"
            b"+NA\r\n+NA\r\n")
    data = b""
    while len(data) < len(want):
        chunk = rc.sock.recv(4096)
        assert chunk
        data += chunk
    assert data == want


# -- semantics ---------------------------------------------------------------------------------
def test_dag_names_are_versioned(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    modelstore(c, "two", "TORCH", models.two_io_torch())
    put(c, "a", A)
    reply = dag(c, "AI.DAGEXECUTE", "LOAD", 1, "a", "PERSIST", 2, "t", "a", SEP,
                "AI.TENSORGET", "a", "BLOB", SEP,
                "AI.TENSORSET", "t", "INT64", 1, "VALUES", 1, SEP,
                "AI.TENSORGET", "t", "VALUES", SEP,
                "AI.TENSORSET", "t", "INT64", 1, "VALUES", 2, SEP,
                "AI.TENSORGET", "t", "VALUES", SEP,
                "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "t", "t", "OUTPUTS", 1, "t", SEP,
                "AI.TENSORGET", "t", "VALUES", SEP,
                # a loaded name overwritten by a model's output, read before and after
                "AI.MODELEXECUTE", "two", "INPUTS", 2, "a", "a", "OUTPUTS", 2, "a", "b", SEP,
                "AI.TENSORGET", "a", "BLOB", SEP,
                "AI.TENSORSET", "t", "INT64", 1, "VALUES", 9)
    assert reply[0] == A.tobytes()
    assert _ok(reply[1]) and reply[2] == [1]
    assert _ok(reply[3]) and reply[4] == [2]
    assert _ok(reply[5]) and reply[6] == [4]
    assert _ok(reply[7]) and reply[8] == (A + A).tobytes()
    assert _ok(reply[9])
    # PERSIST writes the last version of each name.
    assert values(c, "t") == (b"INT64", [1], [9])
    assert_close(tensorget(c, "a"), A + A)
    assert c.exists("b") == 0  # not persisted


def test_dag_models_and_scripts_match_in_process(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    modelstore(c, "torch", "TORCH", models.mlp_torch())
    modelstore(c, "onnx", "ONNX", models.mlp_onnx(), device="CPU:1")
    x = models.mlp_input(4, seed=11)
    tensorset(c, "x", x)
    want = models.reference("mlp", x)[0]
    reply = dag(c, "AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 2, "y", "z", SEP,
                "AI.MODELEXECUTE", "torch", "INPUTS", 1, "x", "OUTPUTS", 1, "y", SEP,
                "AI.MODELEXECUTE", "onnx", "INPUTS", 1, "x", "OUTPUTS", 1, "y2", SEP,
                # the script waits for both models, on two devices
                "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "y", "y2", "OUTPUTS", 1, "z", SEP,
                "AI.SCRIPTEXECUTE", "s", "scale", "ARGS", 1, "3", "INPUTS", 1, "z",
                "OUTPUTS", 1, "z3", SEP,
                "AI.TENSORGET", "z3", "BLOB")
    assert [_ok(x) for x in reply[:4]] == [True] * 4
    assert_close(np.frombuffer(reply[4], np.float32).reshape(4, 3), (want + want) * 3)
    assert_close(tensorget(c, "y"), want)
    assert_close(tensorget(c, "z"), want + want)
    assert c.exists("y2", "z3") == 0
    # Each op is counted like a single run of its model or script.
    for key, samples in (("torch", 4), ("onnx", 4), ("s", -1)):
        info = info_of(c, key)
        assert (info[b"calls"], info[b"errors"], info[b"samples"]) == (
            2 if key == "s" else 1, 0, samples), key
        assert info[b"duration"] > 0


def test_dag_cross_device_chain(c: redis.Redis) -> None:
    # Each op needs the previous one's output, and they alternate between two devices.
    modelstore(c, "mlp", "TORCH", models.mlp_torch(), device="CPU")
    modelstore(c, "pair", "TORCH", models.two_io_torch(), device="CPU:1")
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS, device="CPU")
    x = models.mlp_input(2, seed=3)
    tensorset(c, "x", x)
    h = models.reference("mlp", x)[0]
    reply = dag(c, "AI.DAGEXECUTE", "LOAD", 1, "x", SEP,
                "AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x", "OUTPUTS", 1, "h", SEP,
                "AI.MODELEXECUTE", "pair", "INPUTS", 2, "h", "h", "OUTPUTS", 2, "s2", "p2", SEP,
                "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "s2", "p2", "OUTPUTS", 1, "q", SEP,
                "AI.TENSORGET", "q", "BLOB")
    assert_close(np.frombuffer(reply[3], np.float32).reshape(2, 3), h + h + h * h)


def test_dag_failed_op_na_and_no_persist(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    modelstore(c, "m", "TORCH", models.mlp_torch())
    put(c, "a", A)
    put(c, "keep", np.array([5], dtype=np.int64))
    tensorset(c, "x", models.mlp_input(2))
    # The model op fails (a tensor of the wrong width): its error is an element, the
    # ops after it never run (NA), and PERSIST writes nothing at all.
    reply = dag(c, "AI.DAGEXECUTE", "LOAD", 2, "a", "x", "PERSIST", 3, "keep", "t", "y", SEP,
                "AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1, SEP,
                "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", SEP,
                "AI.TENSORSET", "keep", "INT64", 1, "VALUES", 6, SEP,
                "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "bad", SEP,
                "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "bad", "bad", "OUTPUTS", 1, "y",
                SEP,
                "AI.TENSORGET", "bad", "VALUES", SEP,
                "AI.TENSORGET", "t", "VALUES")
    assert len(reply) == 7
    assert _ok(reply[0]) and _ok(reply[1]) and _ok(reply[2])
    assert isinstance(reply[3], redis.ResponseError), reply[3]
    text = str(reply[3])
    assert text and "\n" not in text and not text.startswith("internal error"), text
    assert _na(reply[4]) and _na(reply[5])
    assert reply[6] == [1.0]  # set at parse time: still readable
    assert values(c, "keep") == (b"INT64", [1], [5])
    assert c.exists("t", "y", "bad") == 0
    info = info_of(c, "m")
    assert (info[b"calls"], info[b"errors"], info[b"samples"]) == (2, 1, 2)
    assert info_of(c, "s")[b"calls"] == 0  # never ran: not counted
    # The same DAG without the failing op persists everything.
    reply = dag(c, "AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 2, "keep", "y", SEP,
                "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", SEP,
                "AI.TENSORSET", "keep", "INT64", 1, "VALUES", 6)
    assert [_ok(x) for x in reply] == [True, True]
    assert values(c, "keep") == (b"INT64", [1], [6])
    assert_close(tensorget(c, "y"), models.reference("mlp", models.mlp_input(2))[0])


def test_dag_persist_onto_another_type(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    c.set("str", "v")
    c.rpush("list", "a")
    reply = dag(c, "AI.DAGEXECUTE", "PERSIST", 1, "str", SEP,
                "AI.TENSORSET", "str", "FLOAT", 1, "VALUES", 1)
    # The ops' replies, then the persist failure as one more element.
    assert len(reply) == 2 and _ok(reply[0])
    assert _is_error(reply[1], WRONGTYPE)
    for key in ("s", "list"):
        reply = dag(c, "AI.DAGEXECUTE", "PERSIST", 1, key, SEP,
                    "AI.TENSORSET", key, "FLOAT", 1, "VALUES", 1, SEP,
                    "AI.TENSORGET", key, "VALUES")
        assert _ok(reply[0]) and reply[1] == [1.0] and _is_error(reply[2], WRONGTYPE)
    assert c.get("str") == b"v"
    assert c.lrange("list", 0, -1) == [b"a"]
    assert c.type("s") == b"AI_SCRIPT"


def test_dag_load_reads_only_what_is_loaded(c: redis.Redis) -> None:
    put(c, "a", A)
    put(c, "b", B)
    modelstore(c, "two", "TORCH", models.two_io_torch())
    reply = dag(c, "AI.DAGEXECUTE_RO", "LOAD", 2, "a", "b", SEP,
                "AI.MODELEXECUTE", "two", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "s", "p", SEP,
                "AI.TENSORGET", "s", "BLOB", SEP, "AI.TENSORGET", "p", "BLOB")
    assert _ok(reply[0])
    assert reply[1] == (A + B).tobytes() and reply[2] == (A * B).tobytes()
    assert c.exists("s", "p") == 0
    # LOAD takes a snapshot: the DAG's own TENSORSET of a loaded name stays in the DAG.
    reply = dag(c, "AI.DAGEXECUTE", "LOAD", 1, "a", SEP,
                "AI.TENSORSET", "a", "FLOAT", 1, "VALUES", 0, SEP,
                "AI.TENSORGET", "a", "VALUES")
    assert reply[1] == [0.0]
    assert_close(tensorget(c, "a"), A)


def test_dag_script_calls_back_into_the_keyspace(c: redis.Redis) -> None:
    scriptstore(c, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
    modelstore(c, "m", "ONNX", models.mlp_onnx())
    c.set("gone", "x")
    x = models.mlp_input(2, seed=8)
    tensorset(c, "x", x)
    reply = dag(c, "AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "y", SEP,
                "AI.SCRIPTEXECUTE", "r", "writes", "KEYS", 3, "k", "l", "gone", "ARGS", 1, "v",
                SEP,
                "AI.SCRIPTEXECUTE", "r", "model", "KEYS", 1, "m", "INPUTS", 1, "x",
                "ARGS", 1, "1", "OUTPUTS", 1, "y", SEP,
                "AI.SCRIPTEXECUTE", "r", "wrong_type", "KEYS", 1, "k")
    assert _ok(reply[0]) and _ok(reply[1])
    assert _is_error(reply[2], "Redis command returned an error: WRONGTYPE Operation against "
                               "a key holding the wrong kind of value")
    # The writes a script made stay (they are not the DAG's); PERSIST does not happen.
    assert c.get("k") == b"v" and c.lrange("l", 0, -1) == [b"v"] and c.exists("gone") == 0
    assert c.exists("y") == 0
    info = info_of(c, "r")
    assert (info[b"calls"], info[b"errors"], info[b"samples"]) == (3, 1, -1)


def test_dag_image_pipeline_matches_in_process(c: redis.Redis) -> None:
    # script (normalize) -> conv net -> script (argmax) in one AI.DAGEXECUTE.
    scriptstore(c, "pre", models.IMAGE_SCRIPT, ("normalize", "argmax"))
    modelstore(c, "conv", "TORCH", models.conv_torch())
    modelstore(c, "conv_onnx", "ONNX", models.conv_onnx(), device="CPU:1")
    img = models.image_input(6, seed=21)
    mean, std = 0.5, 0.25
    x_want, logits_want, classes_want = models.image_reference(img, mean, std)
    assert len(set(classes_want.tolist())) == 2  # both classes occur: argmax is tested
    for model in ("conv", "conv_onnx"):
        c.delete("classes")
        reply = dag(c, "AI.DAGEXECUTE", "PERSIST", 1, "classes", SEP,
                    "AI.TENSORSET", "img", "UINT8", *img.shape, "BLOB", img.tobytes(), SEP,
                    "AI.SCRIPTEXECUTE", "pre", "normalize", "INPUTS", 1, "img",
                    "ARGS", 2, str(mean), str(std), "OUTPUTS", 1, "x", SEP,
                    "AI.MODELEXECUTE", model, "INPUTS", 1, "x", "OUTPUTS", 1, "logits", SEP,
                    "AI.SCRIPTEXECUTE", "pre", "argmax", "INPUTS", 1, "logits",
                    "OUTPUTS", 1, "classes", SEP,
                    "AI.TENSORGET", "x", "BLOB", SEP,
                    "AI.TENSORGET", "logits", "BLOB", SEP,
                    "AI.TENSORGET", "classes", "META", "VALUES")
        assert [_ok(x) for x in reply[:4]] == [True] * 4
        assert_close(np.frombuffer(reply[4], np.float32).reshape(6, 1, 8, 8), x_want)
        assert_close(np.frombuffer(reply[5], np.float32).reshape(6, 2), logits_want)
        assert _as_dict(reply[6]) == {b"dtype": b"INT64", b"shape": [6],
                                      b"values": classes_want.tolist()}
        assert values(c, "classes") == (b"INT64", [6], classes_want.tolist())
        assert c.exists("img", "x", "logits") == 0


# -- read-only and deprecated variants ---------------------------------------------------------
def test_dag_read_only_and_deprecated_forms(c: redis.Redis) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch())
    assert _ok(c.execute_command("AI.SCRIPTSET", "old", "CPU", "SOURCE", OLD_SCRIPT))
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    x = models.mlp_input(2, seed=4)
    tensorset(c, "x", x)
    want = models.reference("mlp", x)[0]
    # AI.DAGEXECUTE_RO runs model ops.
    reply = dag(c, "AI.DAGEXECUTE_RO", "LOAD", 1, "x", SEP,
                "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", SEP,
                "AI.TENSORGET", "y", "BLOB")
    assert _ok(reply[0])
    assert_close(np.frombuffer(reply[1], np.float32).reshape(2, 3), want)
    # AI.DAGRUN needs none of LOAD / PERSIST / ROUTING.
    assert dag(c, "AI.DAGRUN", SEP, "AI.TENSORSET", "t", "INT64", 2, "VALUES", 1, 2, SEP,
               "AI.TENSORGET", "t", "VALUES") == [b"OK", [1, 2]]
    reply = dag(c, "AI.DAGRUN", "LOAD", 1, "x", "PERSIST", 1, "z", "TIMEOUT", 5000, SEP,
                "AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y", SEP,
                "AI.SCRIPTRUN", "old", "bar_variadic", "INPUTS", "y", "$", "y", "y",
                "OUTPUTS", "z", SEP,
                "AI.SCRIPTRUN", "s", "add", "INPUTS", "y", "y", "OUTPUTS", "w", SEP,
                "AI.TENSORGET", "w", "BLOB")
    assert [_ok(x) for x in reply[:3]] == [True] * 3
    assert_close(np.frombuffer(reply[3], np.float32).reshape(2, 3), want + want)
    assert_close(tensorget(c, "z"), want * 3)
    # AI.DAGRUN_RO allows SCRIPTRUN (only AI.DAGEXECUTE_RO refuses scripts).
    reply = dag(c, "AI.DAGRUN_RO", "LOAD", 1, "x", SEP,
                "AI.SCRIPTRUN", "old", "bar", "INPUTS", "x", "x", "OUTPUTS", "d", SEP,
                "AI.TENSORGET", "d", "BLOB")
    assert _ok(reply[0]) and reply[1] == (x + x).tobytes()
    assert c.exists("y", "d", "w", "t") == 0
    # Lower-case command and op names are the same commands.
    assert dag(c, "ai.dagexecute", "routing", "t", SEP, "ai.tensorset", "t", "int8", 1,
               "values", 3, SEP, "ai.tensorget", "t", "values") == [b"OK", [3]]


def test_dag_refused_inside_multi(c: redis.Redis) -> None:
    put(c, "a", A)
    pipe = c.pipeline(transaction=True)
    for cmd in ("AI.DAGEXECUTE", "AI.DAGEXECUTE_RO"):
        pipe.execute_command(cmd, "LOAD", 1, "a", SEP, "AI.TENSORGET", "a", "VALUES")
    for cmd in ("AI.DAGRUN", "AI.DAGRUN_RO"):
        pipe.execute_command(cmd, SEP, "AI.TENSORSET", "t", "FLOAT", 1)
    pipe.execute_command("AI.TENSORGET", "a", "META")
    replies = pipe.execute(raise_on_error=False)
    for reply in replies[:4]:
        assert isinstance(reply, redis.ResponseError)
        assert str(reply) == "Cannot run RedisAI command within a transaction or a LUA script"
    assert _as_dict(replies[4])[b"shape"] == [2, 3]


# -- TIMEOUT -------------------------------------------------------------------------------
def _pending(rc: RawClient) -> bool:
    return bool(select.select([rc.sock], [], [], 0)[0])


class Slow:
    """The slow model (tests/models.py) under ``key`` on ``device``, warmed up."""

    def __init__(self, client: redis.Redis, key: str, device: str = "CPU") -> None:
        self.client = client
        self.key = key
        modelstore(client, key, "TORCH", models.slow_torch(), device=device)
        tensorset(client, "slow_x", models.slow_input())
        for n in (20, 20, 50):  # TorchScript's profiling runs
            self.run(n)

    def count(self, n: int) -> str:
        tensorset(self.client, f"n{n}", models.slow_count(n))
        return f"n{n}"

    def run(self, n: int) -> float:
        key = self.count(n)
        start = time.perf_counter()
        assert _ok(self.client.execute_command("AI.MODELEXECUTE", self.key, "INPUTS", 2,
                                               "slow_x", key, "OUTPUTS", 1, "slow_y"))
        return time.perf_counter() - start

    def rounds(self, seconds: float) -> int:
        """Rounds for a run of at least ``seconds``: timed here, on the loaded machine, so
        a run may be longer than asked for (the tests below allow that), not shorter."""
        round_s = min(self.run(400) for _ in range(2)) / 400
        return max(50, int(seconds / round_s))


def test_dag_timeout_while_queued(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch())
    tensorset(c, "x", models.mlp_input(2))
    slow = Slow(c, "slow")
    n = slow.rounds(0.6)
    b = RawClient(server.port)
    try:
        for attempt in range(3):
            busy = RawClient(server.port)
            busy.sock.settimeout(120)
            busy.send(encode_command("AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow_x",
                                     slow.count(n * 3**attempt), "OUTPUTS", 1, "slow_y"))
            time.sleep(0.1)
            # Queued behind the slow run on the CPU queue: the deadline passes first.
            start = time.perf_counter()
            b.send(encode_command("AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "y",
                                  "TIMEOUT", 150, SEP,
                                  "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
            reply = b.sock.recv(100)
            elapsed = time.perf_counter() - start
            reply2 = c.execute_command("AI.DAGRUN", "TIMEOUT", 100, SEP,
                                       "AI.TENSORSET", "t", "FLOAT", 1, SEP,
                                       "AI.MODELRUN", "m", "INPUTS", "t", "OUTPUTS", "u")
            during = not _pending(busy)
            assert busy.read() == b"OK"
            busy.close()
            if during:
                break
            c.delete("y")
            assert _ok(c.execute_command("AI.INFO", "m", "RESETSTAT"))
        else:
            pytest.fail("every slow run ended before the DAGs timed out")
        assert reply == b"+TIMEDOUT\r\n"  # the whole reply, a status
        assert reply2 in (b"TIMEDOUT", "TIMEDOUT")
        assert 0.1 < elapsed, elapsed  # answered at its deadline, not before
        time.sleep(0.2)
        assert c.exists("y") == 0  # not persisted
        assert info_of(c, "m")[b"calls"] == 0  # its ops never ran
        # The connection goes on; the same DAG with time to spare runs.
        assert b.command("AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "y", "TIMEOUT", 10000,
                         SEP, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == [
            b"OK"]
        assert c.exists("y") == 1
    finally:
        b.close()


def test_dag_timeout_between_ops(c: redis.Redis) -> None:
    # The deadline passes while the DAG's first op runs: the op after it never starts.
    modelstore(c, "m", "TORCH", models.mlp_torch())
    tensorset(c, "x", models.mlp_input(2))
    slow = Slow(c, "slow")
    n = slow.rounds(0.8)
    for attempt in range(3):
        rounds = n * 3**attempt
        assert _ok(c.execute_command("AI.INFO", "slow", "RESETSTAT"))
        reply = c.execute_command("AI.DAGEXECUTE", "LOAD", 3, "slow_x", slow.count(rounds),
                                  "x", "PERSIST", 1, "y", "TIMEOUT", 200, SEP,
                                  "AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow_x",
                                  f"n{rounds}", "OUTPUTS", 1, "h", SEP,
                                  "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
        if reply in (b"TIMEDOUT", "TIMEDOUT"):
            break
        # Only a slow op faster than the deadline (the machine got faster than it was
        # when timed) may let the DAG finish: then try again, longer.
        assert info_of(c, "slow")[b"duration"] < 200_000, reply
        c.delete("y")
        assert _ok(c.execute_command("AI.INFO", "m", "RESETSTAT"))
    else:
        pytest.fail("every slow op ended before the DAG's deadline")
    slow.run(50)  # queued behind the DAG's slow op: runs after it
    assert c.exists("y") == 0
    assert info_of(c, "m")[b"calls"] == 0


def test_dag_client_leaves_mid_run(c: redis.Redis, server: ServerProcess) -> None:
    # As RedisAI, whose reply callback (where it persists and counts) is skipped for a
    # client that is gone: nothing is persisted, and the ops left are not run.
    modelstore(c, "m", "TORCH", models.mlp_torch())
    tensorset(c, "x", models.mlp_input(2))
    slow = Slow(c, "slow")
    n = slow.rounds(0.6)
    for attempt in range(3):
        gone = RawClient(server.port)
        gone.send(encode_command("AI.DAGEXECUTE", "LOAD", 3, "slow_x",
                                 slow.count(n * 3**attempt), "x", "PERSIST", 1, "y", SEP,
                                 "AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow_x",
                                 f"n{n * 3**attempt}", "OUTPUTS", 1, "h", SEP,
                                 "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
        time.sleep(0.15)
        during = not _pending(gone)
        gone.close()
        slow.run(50)  # queued behind the DAG's slow op: done once that is
        if during:
            break
        c.delete("y")
        assert _ok(c.execute_command("AI.INFO", "m", "RESETSTAT"))
    else:
        pytest.fail("every DAG ended before its client left")
    time.sleep(0.1)
    assert c.exists("y", "h") == 0
    assert info_of(c, "m")[b"calls"] == 0
    assert server.alive() and c.ping()


# -- two devices at once ----------------------------------------------------------------------
def test_dag_ops_on_two_devices_run_concurrently(c: redis.Redis) -> None:
    # Two independent slow ops, on CPU and CPU:1. The server measures each op's run time
    # (AI.INFO duration); both runs happen inside the client's wall time, so
    # d0 + d1 - wall is a lower bound on the time they ran side by side. On one device
    # they cannot overlap: there d0 + d1 <= wall always.
    slow0 = Slow(c, "slow0", "CPU")
    Slow(c, "slow1", "CPU:1")  # warmed up, run through the DAG below
    n = slow0.rounds(0.4)

    def run(models_: tuple[str, str], rounds: int) -> tuple[float, float, float]:
        count = slow0.count(rounds)
        for key in set(models_):
            assert _ok(c.execute_command("AI.INFO", key, "RESETSTAT"))
        start = time.perf_counter()
        reply = dag(c, "AI.DAGEXECUTE", "LOAD", 2, "slow_x", count, SEP,
                    "AI.MODELEXECUTE", models_[0], "INPUTS", 2, "slow_x", count,
                    "OUTPUTS", 1, "y0", SEP,
                    "AI.MODELEXECUTE", models_[1], "INPUTS", 2, "slow_x", count,
                    "OUTPUTS", 1, "y1", SEP,
                    "AI.TENSORGET", "y0", "META", SEP, "AI.TENSORGET", "y1", "META")
        wall = time.perf_counter() - start
        assert _ok(reply[0]) and _ok(reply[1])
        assert _as_dict(reply[2]) == _as_dict(reply[3]) == {b"dtype": b"FLOAT",
                                                           b"shape": [64, 256]}
        durations = [info_of(c, key)[b"duration"] / 1e6 for key in models_]
        if models_[0] == models_[1]:
            durations = [durations[0] / 2] * 2  # one model: its two runs added up
        return durations[0], durations[1], wall

    for attempt in range(3):
        d0, d1, wall = run(("slow0", "slow1"), n * 3**attempt)
        if d0 + d1 - wall > 0.3 * min(d0, d1):
            break
    else:
        pytest.fail(f"the ops on CPU and CPU:1 did not overlap: {d0=} {d1=} {wall=}")
    d0, d1, wall = run(("slow0", "slow0"), n)
    assert d0 + d1 <= wall, (d0, d1, wall)
    assert info_of(c, "slow0")[b"calls"] == 2


# -- errors: exact wire texts -------------------------------------------------------------------
def _arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


DX = ("AI.DAGEXECUTE", "LOAD", 1, "x", SEP)
ROUTED = ("AI.DAGEXECUTE", "ROUTING", "x", SEP)
AT_LEAST_ONE = ("ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one "
                "out of ROUTING, LOAD, PERSIST keywords")
NOT_IN_DAG = "ERR INPUT key cannot be found in DAG"

ERRORS: list[tuple[tuple[Any, ...], str]] = [
    # arity: fixed texts from RedisAI's parsers
    (("AI.DAGEXECUTE", "LOAD", 1, "x", SEP), "ERR missing arguments for 'AI.DAGEXECUTE' command"),
    (("ai.dagexecute_ro", "LOAD", 1, "x"),
     "ERR missing arguments for 'AI.DAGEXECUTE_RO' command"),
    (("AI.DAGRUN", SEP, "AI.TENSORGET"), _arity("AI.DAGRUN")),
    (("ai.dagrun_ro",), _arity("AI.DAGRUN_RO")),
    # LOAD
    (("AI.DAGEXECUTE", "PERSIST", 1, "y", "LOAD", 1),
     "ERR missing arguments after LOAD keyword in DAG command"),
    (("AI.DAGEXECUTE", "LOAD", "one", "x", SEP, "AI.TENSORGET", "x"),
     "ERR invalid or negative value found in number of keys to LOAD"),
    (("AI.DAGEXECUTE", "LOAD", 0, "x", SEP, "AI.TENSORGET", "x"),
     "ERR invalid or negative value found in number of keys to LOAD"),
    (("AI.DAGEXECUTE", "LOAD", -1, "x", SEP, "AI.TENSORGET", "x"),
     "ERR invalid or negative value found in number of keys to LOAD"),
    (("AI.DAGEXECUTE", "ROUTING", "x", "LOAD", 2, "x"),
     "ERR number of keys to LOAD into DAG does not match the number of given arguments"),
    (("AI.DAGEXECUTE", "ROUTING", "nox", "LOAD", 1, "nox"),
     "ERR tensor key is empty or in a different shard"),
    (("AI.DAGEXECUTE", "ROUTING", "str", "LOAD", 1, "str"), WRONGTYPE),
    (("AI.DAGEXECUTE", "LOAD", 2, "x", "m", SEP, "AI.TENSORGET", "x"), WRONGTYPE),
    (("AI.DAGRUN", "LOAD", 1, "nox", SEP, "AI.TENSORGET", "nox"),
     "ERR tensor key is empty or in a different shard"),
    # PERSIST
    (("AI.DAGEXECUTE", "ROUTING", "x", "LOAD", 1, "x", "PERSIST", 1),
     "ERR missing arguments after PERSIST keyword in DAG command"),
    (("AI.DAGEXECUTE", "ROUTING", "x", "PERSIST", "many", "x"),
     "ERR invalid or negative value found in number of keys to PERSIST"),
    (("AI.DAGEXECUTE", "ROUTING", "x", "PERSIST", 2, "x"),
     "ERR number of keys to PERSIST after DAG execution does not match the number of given "
     "arguments"),
    (("AI.DAGEXECUTE", "PERSIST", 2, "z", "z", SEP, "AI.TENSORSET", "z", "FLOAT", 1),
     "ERR PERSIST keys must be unique"),
    (("AI.DAGEXECUTE", "PERSIST", 1, "z", SEP, "AI.TENSORSET", "w", "FLOAT", 1),
     "ERR PERSIST key cannot be found in DAG"),
    (("AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "y", SEP, "AI.TENSORGET", "x"),
     "ERR PERSIST key cannot be found in DAG"),  # y is in the keyspace, not in the DAG
    # TIMEOUT
    (("AI.DAGEXECUTE", "ROUTING", "x", "PERSIST", 1, "x", "TIMEOUT"),
     "ERR No value provided for TIMEOUT"),
    (("AI.DAGEXECUTE", "ROUTING", "x", "PERSIST", 1, "x", "TIMEOUT", "soon"),
     "ERR Invalid value for TIMEOUT"),
    # ROUTING, syntax
    (("AI.DAGEXECUTE", "PERSIST", 3, "a", "b", "c", "ROUTING"), "ERR Missing ROUTING value"),
    (("AI.DAGEXECUTE", "ROUTING", "x", "PERSIST", 1, "x", "BAD_ARG"),
     "ERR Invalid DAG command. Unexpected argument:  BAD_ARG"),
    (("AI.DAGEXECUTE", "LOAD", 1, "x", "LOAD", 1, "x", SEP, "AI.TENSORGET", "x"),
     "ERR Invalid DAG command. Unexpected argument:  LOAD"),
    ((*DX, "AI.TENSORGET", "x", SEP), "ERR Invalid DAG command. Unexpected argument:  |>"),
    (("AI.DAGEXECUTE", SEP, "AI.TENSORSET", "z", "FLOAT", 1, 2, "VALUES", 5, 10), AT_LEAST_ONE),
    (("AI.DAGEXECUTE_RO", "TIMEOUT", 100, SEP, "AI.TENSORGET", "x"), AT_LEAST_ONE),
    (("AI.DAGEXECUTE", "ROUTING", "x", "LOAD", 1, "x"), "ERR DAG is empty"),
    (("AI.DAGRUN", "LOAD", 1, "x"), "ERR DAG is empty"),
    # ops
    ((*ROUTED, "AI.NOCOMMAND", "x", "FLOAT", 1), "Unsupported command within DAG"),
    ((*ROUTED, "TENSORGET", "x"), "Unsupported command within DAG"),
    ((*ROUTED, SEP, "AI.TENSORSET", "x", "FLOAT", 1), "Unsupported command within DAG"),
    ((*ROUTED, "GET", "x"), "Unsupported command within DAG"),
    ((*DX, "AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y"),
     "Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command"),
    ((*DX, "AI.SCRIPTRUN", "s", "add", "INPUTS", "x", "x", "OUTPUTS", "y"),
     "Deprecated AI.SCRIPTRUN cannot be used in AI.DAGEXECUTE command"),
    (("AI.DAGRUN", "LOAD", 1, "x", SEP, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x",
      "OUTPUTS", 1, "y"), "AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN command"),
    (("AI.DAGRUN", "LOAD", 1, "x", SEP, "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "x", "x"),
     "AI.SCRIPTEXECUTE cannot be used in a deprecated AI.DAGRUN command"),
    # TENSORSET / TENSORGET inside a DAG
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 1, SEP, "AI.TENSORGET"),
     "wrong number of arguments for 'AI.TENSORGET' command"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 1, SEP, "AI.TENSORGET", "z", "META", "BLOB", "x"),
     "wrong number of arguments for 'AI.TENSORGET' command"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 1, SEP, "AI.TENSORSET"),
     "wrong number of arguments for 'AI.TENSORSET' command"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT"),
     "wrong number of arguments for 'AI.TENSORSET' command"),
    ((*ROUTED, "AI.TENSORSET", "z", "NOTYPE", 1), "ERR invalid data type"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 0), "ERR invalid or negative value found in tensor shape"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 2, "VALUES", 1),
     "ERR wrong number of values was given in 'AI.TENSORSET' command"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 2, "BLOB", b"\0" * 3),
     "ERR data length does not match tensor shape and type"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 1, SEP, "AI.TENSORGET", "z", "BLOB", "VALUES"),
     "ERR both BLOB and VALUES specified"),
    ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 1, SEP, "AI.TENSORGET", "z", "JUNK"),
     "ERR unsupported data format"),
    ((*ROUTED, "AI.TENSORGET", "x", "VALUES"), NOT_IN_DAG),  # the keyspace is not read
    ((*DX, "AI.TENSORGET", "x", SEP, "AI.TENSORGET", "a"), NOT_IN_DAG),
    # MODELEXECUTE inside a DAG
    ((*DX, "AI.MODELEXECUTE", "nokey", "INPUTS", 1, "x", "OUTPUTS", 1, "z"),
     "ERR model key is empty"),
    ((*DX, "AI.MODELEXECUTE", "s", "INPUTS", 1, "x", "OUTPUTS", 1, "z"), WRONGTYPE),
    ((*DX, "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "z"),
     "Number of keys given as INPUTS here does not match model definition"),
    ((*DX, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "z", "TIMEOUT", 100),
     "ERR TIMEOUT not allowed within a DAG command"),
    ((*DX, "AI.MODELEXECUTE", "m", "INPUTS", 1, "nope", "OUTPUTS", 1, "z"), NOT_IN_DAG),
    ((*ROUTED, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "z"), NOT_IN_DAG),
    ((*DX, "AI.MODELEXECUTE", "m", "INPUTS", 1, "z", "OUTPUTS", 1, "z"), NOT_IN_DAG),
    (("AI.DAGRUN", "LOAD", 1, "x", SEP, "AI.MODELRUN", "m", "TIMEOUT", 100, "INPUTS", "x",
      "OUTPUTS", "z"), "ERR TIMEOUT not allowed within a DAG command"),
    # SCRIPTEXECUTE inside a DAG
    ((*DX, "AI.SCRIPTEXECUTE", "s"), _arity("AI.SCRIPTEXECUTE")),
    ((*DX, "AI.SCRIPTEXECUTE", "nokey", "add", "INPUTS", 1, "x"), "ERR script key is empty"),
    ((*DX, "AI.SCRIPTEXECUTE", "m", "add", "INPUTS", 1, "x"), WRONGTYPE),
    # no function name: INPUTS is taken for it, and "1" is unexpected (RedisAI's test)
    ((*DX, "AI.SCRIPTEXECUTE", "s", "INPUTS", 1, "x", "OUTPUTS", 1, "z"),
     "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: 1"),
    ((*DX, "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "x", "x", "TIMEOUT", 100),
     "ERR TIMEOUT not allowed within a DAG command"),
    ((*DX, "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "x", "nope", "OUTPUTS", 1, "z"),
     NOT_IN_DAG),
    ((*DX, "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 3, "x", "x"),
     "ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given "
     "arguments"),
    (("AI.DAGRUN", "LOAD", 1, "x", SEP, "AI.SCRIPTRUN", "s", "add", "INPUTS", "$", "x", "$",
      "x"), "ERR Already encountered a variable size list of tensors"),
    # read-only variants
    (("AI.DAGEXECUTE_RO", "PERSIST", 1, "z", SEP, "AI.TENSORSET", "z", "FLOAT", 1, 2,
      "VALUES", 5, 10), "ERR PERSIST cannot be specified in a read-only DAG"),
    (("AI.DAGRUN_RO", "PERSIST", 1, "z", SEP, "AI.TENSORSET", "z", "FLOAT", 1),
     "ERR PERSIST cannot be specified in a read-only DAG"),
    (("AI.DAGEXECUTE_RO", "LOAD", 1, "x", SEP, "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2,
      "x", "x"), "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"),
]


@pytest.fixture
def loaded(c: redis.Redis) -> redis.Redis:
    """Keys the error table refers to: model m, script s, tensors x (an MLP input) and
    y (a known value), string str."""
    modelstore(c, "m", "TORCH", models.mlp_torch(), "TAG", "v1")
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    tensorset(c, "x", models.mlp_input(2))
    put(c, "y", np.array([42], dtype=np.int64))
    c.set("str", "v")
    return c


def _unchanged(c: redis.Redis) -> None:
    assert_close(tensorget(c, "x"), models.mlp_input(2))
    assert values(c, "y") == (b"INT64", [1], [42])
    assert c.get("str") == b"v"
    assert c.type("m") == b"AI__MODEL" and c.type("s") == b"AI_SCRIPT"
    assert c.exists("z", "w", "a", "b", "nox", "nokey") == 0
    for key in ("m", "s"):
        info = info_of(c, key)
        assert (info[b"calls"], info[b"errors"]) == (0, 0), key  # parse errors: no runs


@pytest.mark.parametrize("args,message", ERRORS,
                         ids=[" ".join(map(str, a[:10]))[:80] for a, _ in ERRORS])
def test_dag_error_texts(loaded: redis.Redis, raw: Callable[[], RawClient],
                         args: tuple[Any, ...], message: str) -> None:
    reply = raw().command(*args)
    assert isinstance(reply, Exception), reply
    assert str(reply) == message
    _unchanged(loaded)


def test_dag_bare_errors_on_the_wire(loaded: redis.Redis, raw: Callable[[], RawClient]
                                     ) -> None:
    # Read the socket itself: no "ERR " in front of RedisAI's bare messages.
    rc = raw()
    for args, line in [
        ((*ROUTED, "AI.NOCOMMAND", "x"), b"-Unsupported command within DAG\r\n"),
        ((*DX, "AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y"),
         b"-Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command\r\n"),
        ((*ROUTED, "AI.TENSORSET", "z", "FLOAT", 1, SEP, "AI.TENSORGET"),
         b"-wrong number of arguments for 'AI.TENSORGET' command\r\n"),
        ((*DX, "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "z"),
         b"-Number of keys given as INPUTS here does not match model definition\r\n"),
        (("AI.DAGEXECUTE", "ROUTING", "x", "PERSIST", 1, "x", "BAD_ARG"),
         b"-ERR Invalid DAG command. Unexpected argument:  BAD_ARG\r\n"),
    ]:
        rc.send(encode_command(*args))
        assert rc.sock.recv(4096) == line
    _unchanged(loaded)
