"""AI.SCRIPTSTORE / SCRIPTSET / SCRIPTGET / SCRIPTDEL / SCRIPTEXECUTE / SCRIPTRUN /
_SCRIPTSCAN and AI.INFO for scripts, against RedisAI 1.2's replies and exact error texts;
the helpers a script can call (redis.execute, redis.asList, redisAI.model_execute).

Expectations come from ../shared/REDISAI.md (1.2, 1.3, 2.5, 2.7) and RedisAI's sources
where that page is silent. Reply shapes that differ between protocols are checked through
every redis-py variant (``r``); the rest uses one plain client (``c``), and error texts
are read off the wire whole (``raw``), ``ERR`` prefix included or not. Both server builds
run everything.
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
    _err,
    _ok,
    _pairs,
    assert_close,
    info_of,
    modelstore,
    tensorget,
    tensorset,
)

# Entry points (tensors, keys, args) and one helper with its own signature.
SCRIPT = '''
def helper(x: Tensor, factor: float) -> Tensor:
    return x * factor


def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]


def add_mul(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1], tensors[0] * tensors[1]


def as_list(tensors: List[Tensor], keys: List[str], args: List[str]):
    return [torch.stack(tensors).sum(0), torch.tensor(len(tensors))]


def scale(tensors: List[Tensor], keys: List[str], args: List[str]):
    return helper(tensors[0], float(args[0]))


def echo(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], ",".join(keys) + "|" + ",".join(args))
    return torch.tensor([len(tensors), len(keys), len(args)])


def ignored(tensors: List[Tensor], keys: List[str], args: List[str]):
    return len(args)


def bad_index(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[3]


def in_place(tensors: List[Tensor], keys: List[str], args: List[str]):
    tensors[0].add_(100.0)
    return tensors[0]
'''
ENTRY_POINTS = ("add", "add_mul", "as_list", "scale", "echo", "ignored", "bad_index",
                "in_place")

# Scripts that call back into the server. TorchScript folds ``x is None`` to False for
# an ``Any`` (it does in libtorch too), so a nil reply is told apart by its text.
REDIS_SCRIPT = '''
def as_int(value: Any) -> Tensor:
    return torch.tensor(int(str(value)))


def strings(tensors: List[Tensor], keys: List[str], args: List[str]):
    status = redis.execute("SET", keys[0], args[0])
    value = redis.execute("GET", keys[0])
    missing = redis.execute("GET", keys[1])
    deleted = redis.execute("DEL", [keys[0], keys[1]])
    kinds = [str(status) == "OK", isinstance(value, str), isinstance(missing, str),
             str(missing) == "None", isinstance(deleted, int)]
    return torch.tensor(kinds), as_int(value), as_int(deleted)


def collections(tensors: List[Tensor], keys: List[str], args: List[str]):
    added = redis.execute("HSET", keys[0], "a", args[0], "b", args[1])
    fields = redis.asList(redis.execute("HVALS", keys[0]))
    pushed = redis.execute("RPUSH", keys[1], args[0], args[1], args[2])
    items = redis.asList(redis.execute("LRANGE", keys[1], "0", "-1"))
    values = [torch.tensor(int(str(v))) for v in items]
    for v in fields:
        values.append(torch.tensor(int(str(v))))
    counts: List[int] = [int(str(added)), int(str(pushed)), len(fields), len(items)]
    return torch.tensor(counts), torch.stack(values)


def nested(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], "1")
    reply = redis.asList(redis.execute("SCAN", "0", "MATCH", keys[0], "COUNT", "1000"))
    found = redis.asList(reply[1])
    return torch.tensor([len(reply) == 2, len(found) == 1, str(reply[0]) == "0",
                         str(found[0]) == keys[0]])


def writes(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", [keys[0], args[0]])
    redis.execute("RPUSH", keys[1], args[0])
    redis.execute("DEL", keys[2])


def wrong_type(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("LPUSH", keys[0], "x")


def bad_arity(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0])


def no_such_command(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("NOSUCHCOMMAND", keys[0])


def refused(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("BLPOP", keys[0], "1")


def model(tensors: List[Tensor], keys: List[str], args: List[str]):
    return redisAI.model_execute(keys[0], tensors, int(args[0]))


def chained(tensors: List[Tensor], keys: List[str], args: List[str]):
    hidden = redisAI.model_execute(keys[0], tensors, 1)
    return redisAI.model_execute(keys[1], [hidden[0], hidden[0]], 2)
'''
REDIS_ENTRY_POINTS = ("strings", "collections", "nested", "writes", "wrong_type", "bad_arity",
                      "no_such_command", "refused", "model", "chained")

# A script for the deprecated AI.SCRIPTSET: any signature, tensors passed positionally.
OLD_SCRIPT = '''
def bar(a, b):
    return a + b


def bar_variadic(a, args: List[Tensor]):
    return args[0] + args[1] + a


def pair(a, b):
    return a - b, a * b
'''

TYPES = {np.dtype(np.float32): "FLOAT", np.dtype(np.int64): "INT64",
         np.dtype(np.bool_): "BOOL", np.dtype(np.uint8): "UINT8"}


# -- helpers ---------------------------------------------------------------------------
def load_backends(port: int) -> None:
    """Import torch and onnxruntime in the server before the first test needs them:
    backends load lazily, and on a loaded machine importing torch can outlast the
    clients' 10 s socket timeout."""
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=300)
    try:
        for backend in ("TORCH", "ONNX"):
            assert _ok(client.execute_command("AI.CONFIG", "LOADBACKEND", backend, "x"))
    finally:
        client.close()


@pytest.fixture(scope="session")
def backends(server: ServerProcess) -> ServerProcess:
    """The session's server, with its backends loaded (see load_backends)."""
    load_backends(server.port)
    return server


@pytest.fixture
def c(backends: ServerProcess) -> Iterator[redis.Redis]:
    """One plain client (redis-py's default: RESP3, hiredis) where the reply shape does
    not depend on the protocol."""
    client = make_client(backends.port, "resp3-hiredis")
    client.flushall()
    yield client
    client.close()


def scriptstore(client: redis.Redis, key: str, source: str, entry_points: tuple[str, ...],
                *options: Any, device: str = "CPU") -> None:
    assert _ok(client.execute_command("AI.SCRIPTSTORE", key, device, *options, "ENTRY_POINTS",
                                      len(entry_points), *entry_points, "SOURCE", source))


def put(client: redis.Redis, key: str, arr: np.ndarray) -> None:
    assert _ok(client.execute_command("AI.TENSORSET", key, TYPES[arr.dtype], *arr.shape,
                                      "BLOB", arr.tobytes()))


def values(client: redis.Redis, key: str) -> tuple[bytes, list[int], list[Any]]:
    """(dtype, shape, values) of a tensor, through TENSORGET META VALUES."""
    meta = _as_dict(client.execute_command("AI.TENSORGET", key, "META", "VALUES"))
    return meta[b"dtype"], meta[b"shape"], meta[b"values"]


def execute(client: redis.Redis, *args: Any) -> None:
    assert _ok(client.execute_command("AI.SCRIPTEXECUTE", *args))


def wire(rc: RawClient, *args: Any) -> bytes:
    """The first reply line exactly as sent (read with the socket, not a parser)."""
    rc.send(encode_command(*args))
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = rc.sock.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    return data


A = np.arange(6, dtype=np.float32).reshape(2, 3)
B = np.full((2, 3), 2.5, dtype=np.float32)


# -- SCRIPTSTORE / SCRIPTGET reply shapes (every client) ------------------------------------
def test_scriptget_reply_in_redisai_order(backends: ServerProcess, r: redis.Redis, resp: int
                                          ) -> None:
    scriptstore(r, "s", SCRIPT, ("add", "scale"), "TAG", "v1", device="cpu")
    head = [(b"device", b"cpu"), (b"tag", b"v1"), (b"Entry Points", [b"add", b"scale"])]
    full = [*head, (b"source", SCRIPT.encode())]
    # "Entry Points" (capitalised, with a space) comes before "source", as RedisAI sends.
    for tokens in ((), ("META", "SOURCE"), ("source", "meta"), ("FOO",)):
        reply = r.execute_command("AI.SCRIPTGET", "s", *tokens)
        assert _pairs(reply, resp) == full, tokens
        if resp == 2:
            assert len(reply) == 8
    reply = r.execute_command("AI.SCRIPTGET", "s", "META")
    assert _pairs(reply, resp) == head
    if resp == 2:
        assert reply[4] == b"Entry Points" and len(reply) == 6
    # SOURCE alone: the bare source string.
    assert r.execute_command("AI.SCRIPTGET", "s", "SOURCE") == SCRIPT.encode()
    assert r.execute_command("AI.SCRIPTGET", "s", "source") == SCRIPT.encode()
    # The deprecated AI.SCRIPTSET stores no entry points.
    assert _ok(r.execute_command("AI.SCRIPTSET", "old", "CPU", "SOURCE", OLD_SCRIPT))
    assert _pairs(r.execute_command("AI.SCRIPTGET", "old", "META"), resp) == [
        (b"device", b"CPU"), (b"tag", b""), (b"Entry Points", [])]


def test_ai_info_script_reply_shape(backends: ServerProcess, r: redis.Redis, resp: int
                                    ) -> None:
    scriptstore(r, "s", SCRIPT, ENTRY_POINTS, "TAG", "t1", device="cpu")
    reply = r.execute_command("AI.INFO", "s")
    assert _pairs(reply, resp) == [
        (b"key", b"s"), (b"type", b"SCRIPT"), (b"backend", b"TORCH"), (b"device", b"cpu"),
        (b"tag", b"t1"), (b"duration", 0), (b"samples", -1), (b"calls", 0), (b"errors", 0)]
    if resp == 2:
        assert len(reply) == 18
    put(r, "a", A)
    execute(r, "s", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "y")
    info = _as_dict(r.execute_command("AI.INFO", "s"))
    assert (info[b"calls"], info[b"errors"], info[b"samples"]) == (1, 0, -1)
    assert isinstance(info[b"duration"], int) and info[b"duration"] > 0
    assert _ok(r.execute_command("AI.INFO", "s", "RESETSTAT"))
    assert _as_dict(r.execute_command("AI.INFO", "s"))[b"calls"] == 0


def test_scriptscan_lists_scripts_in_insertion_order(c: redis.Redis) -> None:
    r = c
    assert r.execute_command("AI._SCRIPTSCAN") == []
    scriptstore(r, "zeta", SCRIPT, ("add",), "TAG", "tz")
    modelstore(r, "a_model", "TORCH", models.mlp_torch())
    r.set("a_string", "v")
    assert _ok(r.execute_command("AI.SCRIPTSET", "alpha", "CPU", "SOURCE", OLD_SCRIPT))
    scriptstore(r, "mid", SCRIPT, ("scale",), "TAG", "tm")
    assert r.execute_command("AI._SCRIPTSCAN") == [
        [b"zeta", b"tz"], [b"alpha", b""], [b"mid", b"tm"]]
    assert r.execute_command("AI._MODELSCAN") == [[b"a_model", b""]]
    assert _ok(r.execute_command("AI.SCRIPTDEL", "zeta"))
    scriptstore(r, "zeta", SCRIPT, ("add",), "TAG", "again")
    assert r.execute_command("AI._SCRIPTSCAN") == [
        [b"alpha", b""], [b"mid", b"tm"], [b"zeta", b"again"]]


# -- SCRIPTEXECUTE results ---------------------------------------------------------------
def test_scriptexecute_entry_points(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    put(c, "a", A)
    put(c, "b", B)
    execute(c, "s", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "sum")
    assert_close(tensorget(c, "sum"), A + B)
    # A tuple of tensors fills the outputs in order; so does a list.
    execute(c, "s", "add_mul", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "s2", "p2")
    assert_close(tensorget(c, "s2"), A + B)
    assert_close(tensorget(c, "p2"), A * B)
    execute(c, "s", "as_list", "INPUTS", 3, "a", "b", "a", "OUTPUTS", 2, "total", "n")
    assert_close(tensorget(c, "total"), A + B + A)
    assert values(c, "n") == (b"INT64", [], [3])
    # A helper with any signature can be called by an entry point.
    execute(c, "s", "scale", "INPUTS", 1, "a", "ARGS", 1, "0.5", "OUTPUTS", 1, "half")
    assert_close(tensorget(c, "half"), A * 0.5)
    # With no OUTPUTS the return value is ignored (even a non-tensor one).
    execute(c, "s", "ignored", "KEYS", 1, "k", "ARGS", 2, "x", "y")
    execute(c, "s", "add", "INPUTS", 2, "a", "b")
    # A script on another CPU queue.
    scriptstore(c, "s1", SCRIPT, ("add",), device="CPU:1")
    execute(c, "s1", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "sum1")
    assert_close(tensorget(c, "sum1"), A + B)
    assert info_of(c, "s1")[b"device"] == b"CPU:1"
    # A script that writes to its input tensor in place does not change the stored one.
    execute(c, "s", "in_place", "INPUTS", 1, "a", "OUTPUTS", 1, "moved")
    assert_close(tensorget(c, "moved"), A + 100)
    assert_close(tensorget(c, "a"), A)
    # The same key as input and output; TIMEOUT that is not reached.
    execute(c, "s", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "a", "TIMEOUT", 10000)
    assert_close(tensorget(c, "a"), A + A)


def test_scriptexecute_keys_and_args_reach_the_function(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    put(c, "a", A)
    # After KEYS or INPUTS the scopes come in any order.
    for args in (
        ("KEYS", 2, "k1", "k2", "INPUTS", 1, "a", "ARGS", 3, "x", "y", "z", "OUTPUTS", 1, "n"),
        ("INPUTS", 1, "a", "OUTPUTS", 1, "n", "ARGS", 3, "x", "y", "z", "KEYS", 2, "k1", "k2"),
        ("KEYS", 2, "k1", "k2", "ARGS", 3, "x", "y", "z", "OUTPUTS", 1, "n", "INPUTS", 1, "a"),
        ("keys", 2, "k1", "k2", "args", 3, "x", "y", "z", "inputs", 1, "a", "outputs", 1, "n",
         "timeout", 5000),
    ):
        c.delete("k1", "n")
        execute(c, "s", "echo", *args)
        assert c.get("k1") == b"k1,k2|x,y,z"
        assert values(c, "n") == (b"INT64", [3], [1, 2, 3])
    # Empty scopes.
    execute(c, "s", "echo", "KEYS", 1, "k1", "INPUTS", 0, "ARGS", 0, "OUTPUTS", 1, "n")
    assert c.get("k1") == b"k1|"
    assert values(c, "n") == (b"INT64", [3], [0, 1, 0])


def test_scriptexecute_outputs_onto_other_types_wrongtype(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    put(c, "a", A)
    c.set("str", "v")
    modelstore(c, "m", "TORCH", models.mlp_torch())
    for out in ("str", "m", "s"):
        assert _err(c, "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "a",
                    "OUTPUTS", 1, out) == WRONGTYPE
    assert _err(c, "AI.SCRIPTEXECUTE", "s", "add_mul", "INPUTS", 2, "a", "a",
                "OUTPUTS", 2, "fresh", "str") == WRONGTYPE
    assert c.exists("fresh") == 0
    assert c.get("str") == b"v" and c.type("m") == b"AI__MODEL" and c.type("s") == b"AI_SCRIPT"


def test_scriptexecute_runtime_errors(c: redis.Redis, raw: Callable[[], RawClient]) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    put(c, "a", A)
    put(c, "out", np.array([7], dtype=np.int64))
    rc = raw()
    for args, line in [
        (("nofn", "INPUTS", 1, "a", "OUTPUTS", 1, "out"), b"-Function does not exist: nofn\r\n"),
        (("add_mul", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "out"),
         b"-Function returned unexpected number of outputs - add_mul\r\n"),
        (("add", "INPUTS", 2, "a", "a", "OUTPUTS", 2, "out", "out2"),
         b"-Function returned unexpected number of outputs - add\r\n"),
        (("ignored", "KEYS", 1, "k", "OUTPUTS", 1, "out"),
         b"-Function returned non-tensor valuesignored\r\n"),
    ]:
        assert wire(rc, "AI.SCRIPTEXECUTE", "s", *args) == line
    # STRING tensors cannot enter TorchScript: a clean one-line error.
    assert _ok(c.execute_command("AI.TENSORSET", "str", "STRING", 1, "VALUES", "x"))
    text = _err(c, "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "str", "str", "OUTPUTS", 1,
                "out")
    assert text and "\n" not in text and not text.startswith("internal error"), text
    # An exception inside TorchScript: one line, the interpreter's reason.
    text = _err(c, "AI.SCRIPTEXECUTE", "s", "bad_index", "INPUTS", 1, "a", "OUTPUTS", 1, "out")
    assert "out of range" in text and "\n" not in text, text
    assert values(c, "out") == (b"INT64", [1], [7])  # no output written by a failed run
    assert c.exists("out2") == 0
    info = info_of(c, "s")
    assert (info[b"calls"], info[b"errors"], info[b"samples"]) == (6, 6, -1)
    # The script still runs afterwards.
    execute(c, "s", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "out")
    assert_close(tensorget(c, "out"), A + A)


# -- scripts calling back into the server -------------------------------------------------
def test_script_redis_execute_string_commands(c: redis.Redis) -> None:
    scriptstore(c, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
    c.set("k", "old")
    execute(c, "r", "strings", "KEYS", 2, "k", "missing", "ARGS", 1, "41", "OUTPUTS", 3,
            "kinds", "value", "deleted")
    # SET -> "OK" (str), GET -> str, GET of a missing key -> None, DEL -> int.
    assert values(c, "kinds") == (b"BOOL", [5], [1, 1, 0, 1, 1])
    assert values(c, "value") == (b"INT64", [], [41])
    assert values(c, "deleted") == (b"INT64", [], [1])  # "k"; "missing" was not there
    assert c.exists("k", "missing") == 0


def test_script_redis_execute_hash_and_list(c: redis.Redis) -> None:
    scriptstore(c, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
    execute(c, "r", "collections", "KEYS", 2, "h", "l", "ARGS", 3, "3", "4", "5",
            "OUTPUTS", 2, "counts", "items")
    # HSET -> 2 fields added, RPUSH -> length 3; arrays come back as lists.
    assert values(c, "counts") == (b"INT64", [4], [2, 3, 2, 3])
    assert values(c, "items") == (b"INT64", [5], [3, 4, 5, 3, 4])
    assert c.hgetall("h") == {b"a": b"3", b"b": b"4"}
    assert c.lrange("l", 0, -1) == [b"3", b"4", b"5"]
    # An array inside an array (SCAN's [cursor, [keys]]).
    execute(c, "r", "nested", "KEYS", 1, "only_key", "OUTPUTS", 1, "shape")
    assert values(c, "shape") == (b"BOOL", [4], [1, 1, 1, 1])


def test_script_redis_execute_writes_and_deletes(c: redis.Redis, server: ServerProcess
                                                 ) -> None:
    scriptstore(c, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
    c.set("victim", "here")
    c.rpush("l", "old")
    other = make_client(server.port, "resp2-python")
    try:
        # The list-argument form redis.execute("SET", [key, value]) and DEL.
        execute(c, "r", "writes", "KEYS", 3, "k", "l", "victim", "ARGS", 1, "v1")
        assert other.get("k") == b"v1"
        assert other.lrange("l", 0, -1) == [b"old", b"v1"]
        assert other.exists("victim") == 0
        # The script's writes are ordinary writes: they show in the keyspace stats and
        # touch WATCHed keys.
        with other.pipeline() as pipe:
            pipe.watch("k")
            execute(c, "r", "writes", "KEYS", 3, "k", "l", "victim", "ARGS", 1, "v2")
            pipe.multi()
            pipe.get("k")
            with pytest.raises(redis.WatchError):
                pipe.execute()
        assert other.get("k") == b"v2"
    finally:
        other.close()


def test_script_redis_execute_errors(c: redis.Redis, raw: Callable[[], RawClient]) -> None:
    scriptstore(c, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
    c.set("str", "v")
    rc = raw()
    prefix = b"-Redis command returned an error: "
    # The error reply of the command, behind RedisAI's prefix, with no ERR in front.
    assert wire(rc, "AI.SCRIPTEXECUTE", "r", "wrong_type", "KEYS", 1, "str") == (
        prefix + b"WRONGTYPE Operation against a key holding the wrong kind of value\r\n")
    # RedisModule_Call gives no reply for a wrong argument count or an unknown command;
    # RedisAI raises strerror(errno) for those (EINVAL, ENOENT).
    assert wire(rc, "AI.SCRIPTEXECUTE", "r", "bad_arity", "KEYS", 1, "str") == (
        prefix + b"Invalid argument\r\n")
    assert wire(rc, "AI.SCRIPTEXECUTE", "r", "no_such_command", "KEYS", 1, "str") == (
        prefix + b"No such file or directory\r\n")
    # A command that would block is refused (as Redis 6 refuses it in Lua), not run.
    assert _err(c, "AI.SCRIPTEXECUTE", "r", "refused", "KEYS", 1, "nolist") == (
        "Redis command returned an error: ERR This Redis command is not allowed from script")
    assert c.get("str") == b"v"
    info = info_of(c, "r")
    assert (info[b"calls"], info[b"errors"]) == (4, 4)
    assert c.ping()


def test_script_model_execute(c: redis.Redis, raw: Callable[[], RawClient]) -> None:
    scriptstore(c, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
    modelstore(c, "torch", "TORCH", models.mlp_torch())
    modelstore(c, "onnx", "ONNX", models.mlp_onnx())
    modelstore(c, "two", "TORCH", models.two_io_torch())
    x = models.mlp_input(3, seed=5)
    tensorset(c, "x", x)
    want = models.reference("mlp", x)[0]
    for key in ("torch", "onnx"):
        execute(c, "r", "model", "KEYS", 1, key, "INPUTS", 1, "x", "ARGS", 1, "1",
                "OUTPUTS", 1, "y")
        assert_close(tensorget(c, "y"), want)
    # Two models in one script, the second with two outputs.
    execute(c, "r", "chained", "KEYS", 2, "onnx", "two", "INPUTS", 1, "x",
            "OUTPUTS", 2, "sum", "prod")
    assert_close(tensorget(c, "sum"), want + want)
    assert_close(tensorget(c, "prod"), want * want)
    # Runs from a script count for the script, not for the model.
    assert info_of(c, "r")[b"calls"] == 3
    assert info_of(c, "torch")[b"calls"] == 0
    # Errors: the model's lookup and count checks, raised inside the script.
    c.set("str", "v")
    rc = raw()
    for args, line in [
        (("nomodel", "ARGS", 1, "1"), b"-ERR model key is empty\r\n"),
        (("str", "ARGS", 1, "1"), b"-" + WRONGTYPE.encode() + b"\r\n"),
        (("torch", "ARGS", 1, "2"),
         b"-Number of keys given as OUTPUTS here does not match model definition\r\n"),
    ]:
        assert wire(rc, "AI.SCRIPTEXECUTE", "r", "model", "KEYS", 1, *args[:1],
                    "INPUTS", 1, "x", *args[1:], "OUTPUTS", 1, "y") == line
    assert wire(rc, "AI.SCRIPTEXECUTE", "r", "model", "KEYS", 1, "torch", "INPUTS", 2, "x",
                "x", "ARGS", 1, "1", "OUTPUTS", 1, "y") == (
        b"-Number of keys given as INPUTS here does not match model definition\r\n")
    # The engine's own error (a wrong input width) comes back on one line.
    tensorset(c, "wide", np.ones((2, 9), dtype=np.float32))
    text = _err(c, "AI.SCRIPTEXECUTE", "r", "model", "KEYS", 1, "onnx", "INPUTS", 1, "wide",
                "ARGS", 1, "1", "OUTPUTS", 1, "y")
    assert text and "\n" not in text and not text.startswith("internal error"), text
    assert_close(tensorget(c, "y"), want)  # untouched by the failed runs


def test_script_callbacks_inline_and_on_a_worker(start_server: Callable[..., ServerProcess]
                                                ) -> None:
    # A script's first run goes to a worker (its cost is unknown); with a generous
    # inline-run-max-us the later ones run inline on the event loop thread, where
    # redis.execute calls straight into dispatch. Both give the same results.
    srv = start_server("--inline-run-max-us", "1000000")
    load_backends(srv.port)
    cl = make_client(srv.port, "resp2-python")
    try:
        scriptstore(cl, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
        for i in range(4):
            execute(cl, "r", "strings", "KEYS", 2, "k", "missing", "ARGS", 1, str(i),
                    "OUTPUTS", 3, "kinds", "value", "deleted")
            assert values(cl, "kinds") == (b"BOOL", [5], [1, 1, 0, 1, 1])
            assert values(cl, "value") == (b"INT64", [], [i])
            execute(cl, "r", "writes", "KEYS", 3, "w", "l", "k", "ARGS", 1, str(i))
            assert cl.get("w") == str(i).encode()
        assert cl.lrange("l", 0, -1) == [b"0", b"1", b"2", b"3"]
        assert _err(cl, "AI.SCRIPTEXECUTE", "r", "wrong_type", "KEYS", 1, "w") == (
            "Redis command returned an error: " + WRONGTYPE)
        rc = RawClient(srv.port)
        queues = rc.command("INFO", "ai_queues").decode()
        rc.close()
        assert "queue_CPU_calls:1\r\n" in queues, queues  # only the first run
        assert info_of(cl, "r")[b"calls"] == 9
    finally:
        cl.close()
    assert "Traceback" not in srv.log(), srv.log()


# -- the deprecated AI.SCRIPTSET / AI.SCRIPTRUN -------------------------------------------
def test_scriptrun_positional_and_variadic(c: redis.Redis, raw: Callable[[], RawClient]
                                           ) -> None:
    assert _ok(c.execute_command("AI.SCRIPTSET", "old", "CPU", "TAG", "t", "SOURCE",
                                 OLD_SCRIPT))
    put(c, "a", A)
    put(c, "b", B)
    assert _ok(c.execute_command("AI.SCRIPTRUN", "old", "bar", "INPUTS", "a", "b",
                                 "OUTPUTS", "c"))
    assert_close(tensorget(c, "c"), A + B)
    # "$" starts the variadic List[Tensor] tail.
    assert _ok(c.execute_command("AI.SCRIPTRUN", "old", "bar_variadic", "INPUTS", "a", "$",
                                 "b", "b", "OUTPUTS", "v"))
    assert_close(tensorget(c, "v"), A + B + B)
    # TIMEOUT before INPUTS, and anywhere after the function.
    assert _ok(c.execute_command("AI.SCRIPTRUN", "old", "pair", "TIMEOUT", 5000, "INPUTS",
                                 "a", "b", "OUTPUTS", "d", "p"))
    assert_close(tensorget(c, "d"), A - B)
    assert _ok(c.execute_command("AI.SCRIPTRUN", "old", "bar", "INPUTS", "b", "a",
                                 "OUTPUTS", "c2", "TIMEOUT", 5000))
    assert_close(tensorget(c, "c2"), A + B)
    # AI.SCRIPTEXECUTE on such a script maps INPUTS to the parameters positionally.
    execute(c, "old", "bar", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "e")
    assert_close(tensorget(c, "e"), A + A)
    # The new form runs entry points of a SCRIPTSTORE script too.
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    assert _ok(c.execute_command("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "b",
                                 "OUTPUTS", "f"))
    assert_close(tensorget(c, "f"), A + B)
    # A function given the wrong number of tensors.
    assert wire(raw(), "AI.SCRIPTRUN", "old", "bar", "INPUTS", "a", "OUTPUTS", "z") == (
        b"-Wrong number of inputs provided to function: bar\r\n")
    assert c.exists("z") == 0
    info = info_of(c, "old")
    assert (info[b"calls"], info[b"errors"], info[b"tag"]) == (6, 1, b"t")


# -- TIMEOUT ----------------------------------------------------------------------------
def _pending(rc: RawClient) -> bool:
    return bool(select.select([rc.sock], [], [], 0)[0])


def _busy_queue(c: redis.Redis, port: int) -> Iterator[RawClient]:
    """Clients whose slow model run keeps the CPU queue busy (about 0.6 s, then longer
    on each retry); the caller sends its own work right after one is yielded."""
    modelstore(c, "slow", "TORCH", models.slow_torch())
    tensorset(c, "slow_x", models.slow_input())
    for n in (20, 20, 50):  # TorchScript's profiling runs
        tensorset(c, "n", models.slow_count(n))
        assert _ok(c.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow_x", "n",
                                     "OUTPUTS", 1, "slow_y"))
    tensorset(c, "n", models.slow_count(500))
    start = time.perf_counter()
    assert _ok(c.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow_x", "n",
                                 "OUTPUTS", 1, "slow_y"))
    round_s = (time.perf_counter() - start) / 500
    for seconds in (0.6, 1.8, 5.4):
        tensorset(c, "n", models.slow_count(max(50, int(seconds / round_s))))
        rc = RawClient(port)
        rc.sock.settimeout(120)
        rc.send(encode_command("AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow_x", "n",
                               "OUTPUTS", 1, "slow_y"))
        time.sleep(0.1)
        try:
            yield rc
        finally:
            rc.close()


def test_scriptexecute_timeout_while_queued(c: redis.Redis, server: ServerProcess) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    assert _ok(c.execute_command("AI.SCRIPTSET", "old", "CPU", "SOURCE", OLD_SCRIPT))
    put(c, "a", A)
    b = RawClient(server.port)
    try:
        for busy in _busy_queue(c, server.port):
            b.send(encode_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "a",
                                  "OUTPUTS", 1, "late", "TIMEOUT", 150))
            reply = b.sock.recv(100)
            reply2 = c.execute_command("AI.SCRIPTRUN", "old", "bar", "TIMEOUT", 100,
                                       "INPUTS", "a", "a", "OUTPUTS", "late2")
            during = not _pending(busy)
            assert busy.read() == b"OK"
            if during:
                break
            c.delete("late", "late2")  # they may have run: try again, longer
            assert _ok(c.execute_command("AI.INFO", "s", "RESETSTAT"))
        else:
            pytest.fail("every slow run ended before the scripts timed out")
        assert reply == b"+TIMEDOUT\r\n"  # a status reply, not an error
        assert reply2 == b"TIMEDOUT"
        time.sleep(0.2)
        assert c.exists("late", "late2") == 0  # timed out before they ran: never run
        assert info_of(c, "s")[b"calls"] == 0
        # The same connection runs scripts normally again.
        assert b.command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "a",
                         "OUTPUTS", 1, "late", "TIMEOUT", 5000) == b"OK"
    finally:
        b.close()


def test_script_redis_execute_while_queued_behind_a_model(c: redis.Redis,
                                                          server: ServerProcess) -> None:
    # A script on a worker thread calls back into the keyspace through the event loop,
    # which meanwhile keeps serving other clients.
    scriptstore(c, "r", REDIS_SCRIPT, REDIS_ENTRY_POINTS)
    for busy in _busy_queue(c, server.port):
        b = RawClient(server.port)
        b.sock.settimeout(120)
        b.send(encode_command("AI.SCRIPTEXECUTE", "r", "writes", "KEYS", 3, "k", "l", "gone",
                              "ARGS", 1, "v"))
        assert c.set("during", "1")
        before = c.get("k")
        during = not _pending(busy)  # so the script, queued behind it, had not run
        assert busy.read() == b"OK"
        assert b.read() == b"OK"
        b.close()
        if during:
            assert before is None
            break
        c.delete("k", "l")
    assert c.get("k") == b"v"
    assert c.lrange("l", 0, -1) == [b"v"]


def test_scriptstore_gpu_without_cuda_refused(c: redis.Redis) -> None:
    if models.cuda_device_count():
        pytest.skip("CUDA is available here")
    for device in ("GPU", "GPU:0", "gpu:1"):
        assert _err(c, *_store("ENTRY_POINTS", 1, "add")[:2], device,
                    *_store("ENTRY_POINTS", 1, "add")[3:]) == (
            f"GPU device {device} requested but CUDA is not available")
    assert c.exists("s") == 0


# -- keyspace, transactions ----------------------------------------------------------------
def test_script_type_del_and_keyspace_commands(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS, "TAG", "t")
    assert c.type("s") == b"AI_SCRIPT"
    assert c.rename("s", "s2")
    put(c, "a", A)
    execute(c, "s2", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "y")
    assert_close(tensorget(c, "y"), A + A)
    assert _ok(c.execute_command("AI.SCRIPTDEL", "s2"))
    assert c.exists("s2") == 0
    assert _err(c, "AI.SCRIPTDEL", "s2") == "script key is empty"
    assert _err(c, "AI.INFO", "s2") == "cannot find run info for key"
    assert c.execute_command("AI._SCRIPTSCAN") == []
    # Overwriting replaces the script and resets its statistics.
    scriptstore(c, "s", SCRIPT, ("add",), "TAG", "v1")
    execute(c, "s", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "y")
    scriptstore(c, "s", SCRIPT, ("scale",), "TAG", "v2")
    assert _as_dict(c.execute_command("AI.SCRIPTGET", "s", "META"))[b"Entry Points"] == [
        b"scale"]
    info = info_of(c, "s")
    assert (info[b"calls"], info[b"tag"]) == (0, b"v2")
    assert c.delete("s") == 1


def test_script_execution_refused_inside_multi(c: redis.Redis) -> None:
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS)
    put(c, "a", A)
    pipe = c.pipeline(transaction=True)
    pipe.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "a",
                         "OUTPUTS", 1, "z")
    pipe.execute_command("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "a", "OUTPUTS", "z")
    pipe.execute_command("AI.SCRIPTEXECUTE", "s")  # refused before its arity is checked
    pipe.execute_command("AI.SCRIPTSTORE", "s2", "CPU", "ENTRY_POINTS", 1, "add",
                         "SOURCE", SCRIPT)
    pipe.execute_command("AI.SCRIPTGET", "s", "META")
    replies = pipe.execute(raise_on_error=False)
    for reply in replies[:3]:
        assert isinstance(reply, redis.ResponseError)
        assert str(reply) == "Cannot run RedisAI command within a transaction or a LUA script"
    assert _ok(replies[3])  # storing and reading scripts do run inside MULTI
    assert _as_dict(replies[4])[b"Entry Points"] == list(map(str.encode, ENTRY_POINTS))
    assert c.exists("z") == 0
    assert c.type("s2") == b"AI_SCRIPT"


# -- errors: exact wire texts ------------------------------------------------------------
def _arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


def _store(*middle: Any, source: str = SCRIPT) -> tuple[Any, ...]:
    return ("AI.SCRIPTSTORE", "s", "CPU", *middle, "SOURCE", source)


SIGNATURES = '''
def two_args(tensors: List[Tensor], keys: List[str]):
    return tensors[0]


def four_args(tensors: List[Tensor], keys: List[str], args: List[str], more: List[str]):
    return tensors[0]


def bad_types(tensors: List[Tensor], keys: List[str], args: List[int]):
    return tensors[0]


def tensor_first(tensors: Tensor, keys: List[str], args: List[str]):
    return tensors
'''
SX = ("AI.SCRIPTEXECUTE", "s", "add")

ERRORS: list[tuple[tuple[Any, ...], str]] = [
    # arity: RedisModule_WrongArity echoes the name as typed ...
    (("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE"),
     _arity("AI.SCRIPTSTORE")),
    (("ai.scriptstore", "s"), _arity("ai.scriptstore")),
    (("AI.SCRIPTSET", "s", "CPU", "SOURCE"), _arity("AI.SCRIPTSET")),
    (("AI.ScriptSet", "s", "CPU", "TAG", "t", "SOURCE"), _arity("AI.ScriptSet")),
    (("AI.SCRIPTSET", "s", "CPU", "TAG", "t", "SOURCE", SCRIPT, "x"), _arity("AI.SCRIPTSET")),
    (("AI.SCRIPTGET",), _arity("AI.SCRIPTGET")),
    (("ai.scriptget", "s", "META", "SOURCE", "x"), _arity("ai.scriptget")),
    (("AI.SCRIPTDEL",), _arity("AI.SCRIPTDEL")),
    (("AI.SCRIPTDEL", "s", "x"), _arity("AI.SCRIPTDEL")),
    (("AI._SCRIPTSCAN", "x"), _arity("AI._SCRIPTSCAN")),
    # ... but the execution commands' parsers name them in capitals
    (("AI.SCRIPTEXECUTE", "s"), _arity("AI.SCRIPTEXECUTE")),
    (("ai.scriptexecute", "s"), _arity("AI.SCRIPTEXECUTE")),
    (("ai.scriptrun", "s"), _arity("AI.SCRIPTRUN")),
    # SCRIPTSTORE
    (("AI.SCRIPTSTORE", "s", "CPU", "TAG", "t", "SOURCE", SCRIPT, "x"),
     "ERR Insufficient arguments, missing script entry points"),
    (_store("ENTRY_POINTS", "one", "add"),
     "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command"),
    (_store("ENTRY_POINTS", 2, "add"), "ERR Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "add", "SRC", SCRIPT),
     "ERR Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSTORE", "s", "XPU", "ENTRY_POINTS", 1, "add", "SOURCE", SCRIPT),
     "ERR unsupported device"),
    (("AI.SCRIPTSTORE", "s", "CPU:x", "TAG", "t", "ENTRY_POINTS", 1, "add", "SOURCE", SCRIPT),
     "ERR unsupported device"),
    (_store("ENTRY_POINTS", 1, "nope"), "Function nope does not exist in the given script."),
    (_store("ENTRY_POINTS", 2, "add", "nope"),
     "Function nope does not exist in the given script."),
    (_store("ENTRY_POINTS", 1, "helper"),
     "Wrong number of inputs in function helper. Expected 3 but was 2"),
    (_store("ENTRY_POINTS", 1, "two_args", source=SIGNATURES),
     "Wrong number of inputs in function two_args. Expected 3 but was 2"),
    (_store("ENTRY_POINTS", 1, "four_args", source=SIGNATURES),
     "Wrong number of inputs in function four_args. Expected 3 but was 4"),
    (_store("ENTRY_POINTS", 1, "bad_types", source=SIGNATURES),
     "Wrong inputs type in function bad_types. Expected signature similar to: "
     "def bad_types(tensors: List[Tensor], keys: List[str], args: List[str])"),
    (_store("ENTRY_POINTS", 1, "tensor_first", source=SIGNATURES),
     "Wrong inputs type in function tensor_first. Expected signature similar to: "
     "def tensor_first(tensors: List[Tensor], keys: List[str], args: List[str])"),
    (("AI.SCRIPTSTORE", "str", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE", SCRIPT), WRONGTYPE),
    (("AI.SCRIPTSTORE", "m", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE", SCRIPT), WRONGTYPE),
    # SCRIPTSET
    (("AI.SCRIPTSET", "s", "CPU", "TAG", "t", "SRC", SCRIPT),
     "ERR Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSET", "s", "CPU", "SRC", SCRIPT),
     "ERR Insufficient arguments, missing script SOURCE"),
    (("AI.SCRIPTSET", "a", "CPU", "SOURCE", OLD_SCRIPT), WRONGTYPE),
    # SCRIPTGET / SCRIPTDEL
    (("AI.SCRIPTGET", "nokey"), "ERR script key is empty"),
    (("AI.SCRIPTGET", "nokey", "META"), "ERR script key is empty"),
    (("AI.SCRIPTGET", "a", "META"), WRONGTYPE),
    (("AI.SCRIPTGET", "m"), WRONGTYPE),
    (("AI.SCRIPTDEL", "nokey"), "ERR script key is empty"),
    (("AI.SCRIPTDEL", "a"), WRONGTYPE),
    (("AI.SCRIPTDEL", "str"), WRONGTYPE),
    # SCRIPTEXECUTE, in RedisAI's parse order: the script first
    (("AI.SCRIPTEXECUTE", "nokey", "add", "INPUTS", 1, "a"), "ERR script key is empty"),
    (("AI.SCRIPTEXECUTE", "m", "add", "INPUTS", 1, "a"), WRONGTYPE),
    (("AI.SCRIPTEXECUTE", "a", "add", "INPUTS", 1, "a"), WRONGTYPE),
    ((*SX,), "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"),
    ((*SX, "ARGS", 1, "x", "INPUTS", 1, "a"),
     "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"),
    ((*SX, "OUTPUTS", 1, "y"),
     "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"),
    ((*SX, "KEYS"), "ERR Missing arguments after KEYS keyword"),
    ((*SX, "KEYS", 1), "ERR Missing arguments after KEYS keyword"),
    ((*SX, "INPUTS", 1, "a", "KEYS", 1), "ERR Missing arguments after KEYS keyword"),
    ((*SX, "KEYS", 0, "k"), "ERR Invalid or negative value found in number of KEYS"),
    ((*SX, "KEYS", -1, "k"), "ERR Invalid or negative value found in number of KEYS"),
    ((*SX, "KEYS", "one", "k"), "ERR Invalid or negative value found in number of KEYS"),
    ((*SX, "KEYS", 3, "k", "l"),
     "ERR Number of pre declared KEYS to be used in the command does not match the number "
     "of given arguments"),
    ((*SX, "INPUTS"), "ERR Invalid arguments provided to AI.SCRIPTEXECUTE"),
    ((*SX, "INPUTS", 2, "a", "a", "ARGS"), "ERR Invalid arguments provided to AI.SCRIPTEXECUTE"),
    ((*SX, "INPUTS", 2, "a", "a", "OUTPUTS"),
     "ERR Invalid arguments provided to AI.SCRIPTEXECUTE"),
    ((*SX, "INPUTS", "two", "a", "a"), "ERR Invalid argument for inputs count in AI.SCRIPTEXECUTE"),
    ((*SX, "KEYS", 1, "k", "ARGS", "x", "y"),
     "ERR Invalid argument for keys count in AI.SCRIPTEXECUTE"),
    ((*SX, "INPUTS", 2, "a", "a", "OUTPUTS", "one", "y"),
     "ERR Invalid argument for outputs count in AI.SCRIPTEXECUTE"),
    ((*SX, "INPUTS", 3, "a", "a"),
     "ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given "
     "arguments"),
    ((*SX, "KEYS", 1, "k", "ARGS", 2, "x"),
     "ERR number of args to AI.SCRIPTEXECUTE command does not match the number of given "
     "arguments"),
    ((*SX, "INPUTS", 2, "a", "a", "OUTPUTS", 2, "y"),
     "ERR number of outputs to AI.SCRIPTEXECUTE command does not match the number of given "
     "arguments"),
    ((*SX, "KEYS", 1, "k", "KEYS", 1, "k"),
     "ERR Already Encountered KEYS scope in AI.SCRIPTEXECUTE command"),
    ((*SX, "INPUTS", 1, "a", "INPUTS", 1, "a"),
     "ERR Already Encountered INPUTS scope in AI.SCRIPTEXECUTE command"),
    ((*SX, "KEYS", 1, "k", "ARGS", 1, "x", "args", 1, "x"),
     "ERR Already Encountered ARGS scope in AI.SCRIPTEXECUTE command"),
    ((*SX, "INPUTS", 1, "a", "OUTPUTS", 1, "y", "OUTPUTS", 1, "y"),
     "ERR Already Encountered OUTPUTS scope in AI.SCRIPTEXECUTE command"),
    ((*SX, "INPUTS", 2, "a", "a", "JUNK"),
     "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: JUNK"),
    ((*SX, "INPUTS", 2, "a", "a", "a"),
     "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: a"),
    ((*SX, "INPUTS", 2, "a", "a", "TIMEOUT"),
     "ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE"),
    ((*SX, "INPUTS", 2, "a", "a", "TIMEOUT", 0), "ERR Invalid value for TIMEOUT"),
    ((*SX, "INPUTS", 2, "a", "a", "TIMEOUT", -3), "ERR Invalid value for TIMEOUT"),
    ((*SX, "INPUTS", 2, "a", "a", "TIMEOUT", "soon"), "ERR Invalid value for TIMEOUT"),
    ((*SX, "INPUTS", 2, "a", "a", "TIMEOUT", 100, "OUTPUTS", 1, "y"),
     "ERR Encountered problem parsing AI.SCRIPTEXECUTE"),
    ((*SX, "INPUTS", 2, "a", "nox", "OUTPUTS", 1, "y"),
     "ERR tensor key is empty or in a different shard"),
    ((*SX, "INPUTS", 2, "a", "str", "OUTPUTS", 1, "y"), WRONGTYPE),
    ((*SX, "INPUTS", 2, "a", "s", "OUTPUTS", 1, "y"), WRONGTYPE),
    # SCRIPTRUN (deprecated.c)
    (("AI.SCRIPTRUN", "nokey", "bar", "INPUTS", "a"), "ERR script key is empty"),
    (("AI.SCRIPTRUN", "a", "bar", "INPUTS", "a"), WRONGTYPE),
    (("AI.SCRIPTRUN", "s", "add", "a", "INPUTS", "a"), "ERR Unrecongnized parameter to SCRIPTRUN"),
    (("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "OUTPUTS", "y", "INPUTS", "a"),
     "ERR Already encountered an INPUTS section in SCRIPTRUN"),
    (("AI.SCRIPTRUN", "s", "add", "INPUTS", "INPUTS", "a"),
     "ERR Already encountered an INPUTS keyword in SCRIPTRUN"),
    (("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "OUTPUTS", "OUTPUTS", "y"),
     "ERR Already encountered an OUTPUTS keyword in SCRIPTRUN"),
    (("AI.SCRIPTRUN", "s", "add", "$", "a"),
     "ERR Encountered a variable size list of tensors outside of input section"),
    (("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "OUTPUTS", "$", "y"),
     "ERR Encountered a variable size list of tensors outside of input section"),
    (("AI.SCRIPTRUN", "s", "add", "INPUTS", "$", "a", "$", "a"),
     "ERR Already encountered a variable size list of tensors"),
    (("AI.SCRIPTRUN", "s", "add", "TIMEOUT", 10, "INPUTS", "a", "TIMEOUT", 10),
     "ERR Already encountered an TIMEOUT section in SCRIPTRUN"),
    (("AI.SCRIPTRUN", "s", "add", "TIMEOUT", 0, "INPUTS", "a"), "ERR Invalid value for TIMEOUT"),
    (("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "nox", "OUTPUTS", "y"),
     "ERR tensor key is empty or in a different shard"),
    # AI.INFO
    (("AI.INFO", "nokey"), "ERR cannot find run info for key"),
    (("AI.INFO", "a", "RESETSTAT"), "ERR cannot find run info for key"),
]


@pytest.fixture
def loaded(c: redis.Redis) -> redis.Redis:
    """Keys the error table refers to: script s (SCRIPT, tagged), model m, tensors a and
    y (an output slot holding a known value), string str."""
    scriptstore(c, "s", SCRIPT, ENTRY_POINTS, "TAG", "v1")
    modelstore(c, "m", "TORCH", models.mlp_torch())
    put(c, "a", A)
    put(c, "y", np.array([42], dtype=np.int64))
    c.set("str", "v")
    return c


def _unchanged(c: redis.Redis) -> None:
    """Nothing an error reply touched: the values the table starts from are intact."""
    meta = _as_dict(c.execute_command("AI.SCRIPTGET", "s"))
    assert (meta[b"tag"], meta[b"source"]) == (b"v1", SCRIPT.encode())
    assert meta[b"Entry Points"] == list(map(str.encode, ENTRY_POINTS))
    assert_close(tensorget(c, "a"), A)
    assert values(c, "y") == (b"INT64", [1], [42])
    assert c.get("str") == b"v"
    assert c.type("m") == b"AI__MODEL"
    assert c.exists("z", "nox", "nokey", "k") == 0
    assert c.execute_command("AI._SCRIPTSCAN") == [[b"s", b"v1"]]
    info = info_of(c, "s")
    assert (info[b"calls"], info[b"errors"]) == (0, 0)  # refused commands are no runs


@pytest.mark.parametrize("args,message", ERRORS,
                         ids=[" ".join(map(str, a[:9]))[:80] for a, _ in ERRORS])
def test_script_error_texts(loaded: redis.Redis, raw: Callable[[], RawClient],
                            args: tuple[Any, ...], message: str) -> None:
    reply = raw().command(*args)
    assert isinstance(reply, Exception), reply
    assert str(reply) == message
    _unchanged(loaded)


def test_script_bare_errors_on_the_wire(loaded: redis.Redis, raw: Callable[[], RawClient]
                                        ) -> None:
    # Read the socket itself: no "ERR " in front of RedisAI's bare messages.
    rc = raw()
    assert wire(rc, *_store("ENTRY_POINTS", 1, "nope")) == (
        b"-Function nope does not exist in the given script.\r\n")
    assert wire(rc, *_store("ENTRY_POINTS", 1, "two_args", source=SIGNATURES)) == (
        b"-Wrong number of inputs in function two_args. Expected 3 but was 2\r\n")
    assert wire(rc, *_store("ENTRY_POINTS", 1, "bad_types", source=SIGNATURES)) == (
        b"-Wrong inputs type in function bad_types. Expected signature similar to: "
        b"def bad_types(tensors: List[Tensor], keys: List[str], args: List[str])\r\n")
    assert wire(rc, "AI.SCRIPTGET", "nokey") == b"-ERR script key is empty\r\n"
    _unchanged(loaded)


@pytest.mark.parametrize("source", [
    "def add(tensors: List[Tensor], keys: List[str], args: List[str]):\n    return (\n",
    "def add(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
    "    return undefined_name + 1\n",
    "def add(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
    "    x: int = 'a string'\n    return tensors[0]\n",
    "not python at all",
])
def test_scriptstore_compile_errors_are_one_line(loaded: redis.Redis,
                                                 raw: Callable[[], RawClient],
                                                 source: str) -> None:
    for cmd in (("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE", source),
                ("AI.SCRIPTSTORE", "new", "CPU", "TAG", "t", "ENTRY_POINTS", 1, "add",
                 "SOURCE", source),
                ("AI.SCRIPTSET", "new", "CPU", "SOURCE", source)):
        line = wire(raw(), *cmd)
        assert line.startswith(b"-") and line.endswith(b"\r\n"), line
        text = line[1:-2]
        assert text and b"\r" not in text and b"\n" not in text, line
        assert not text.startswith((b"ERR internal error", b"ERR ")), line
    assert loaded.exists("new") == 0
    _unchanged(loaded)
    # The stored script still runs.
    execute(loaded, "s", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "out")
    assert_close(tensorget(loaded, "out"), A + A)


def test_scriptstore_compile_error_names_the_problem(c: redis.Redis) -> None:
    text = _err(c, *_store("ENTRY_POINTS", 1, "add", source=(
        "def add(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
        "    return undefined_name\n")))
    assert "undefined_name" in text, text
