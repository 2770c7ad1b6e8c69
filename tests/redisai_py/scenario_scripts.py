"""redisai-py 1.3.0 scripts: store, get, scan, execute, run stats, delete, errors, and the
TorchScript extensions (``redis.execute``, ``redis.asList``, ``redisAI.model_execute``).

The sources are written inline. Models and expected outputs are built by the outer test
in the main venv (torch lives there) and come in as files:

* ``--mlp-torch``: FLOAT ``x[b, 4]`` -> ``y[b, 3]`` (TorchScript);
* ``--two-io-torch``: ``forward(a, b) -> (a + b, a * b)``;
* ``--data``: a folder of .npy files: ``x2`` (the MLP's input) and ``mlp_y2`` (its output),
  ``a``, ``b``, ``sum``, ``prod`` (two_io's inputs and outputs).

Usage: scenario_scripts.py --port N --mlp-torch F --two-io-torch F --data DIR
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from _common import arguments, check, connect, expect_error, expect_warning
from redisai import Client

SCRIPT_EMPTY = "script key is empty"
MODEL_EMPTY = "model key is empty"
NO_RUN_INFO = "cannot find run info for key"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
REDIS_ERROR = "Redis command returned an error: "
ENTRY_POINTS = ["add", "scale", "keyspace", "as_list", "hash_values", "model", "wrongtype",
                "nothing"]

# Entry points have RedisAI's signature; `helper` does not need it (it is no entry point).
SOURCE = r'''
def helper(t: Tensor, factor: float) -> Tensor:
    return t * factor

def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]

def scale(tensors: List[Tensor], keys: List[str], args: List[str]):
    out: List[Tensor] = []
    for t in tensors:
        out.append(helper(t, float(args[0])))
    return out

def keyspace(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", [keys[0], args[0]])
    got = redis.execute("GET", [keys[0]])
    fields = redis.execute("HSET", [keys[1], "field1", args[0], "field2", args[1]])
    length = redis.execute("RPUSH", [keys[2], args[0], args[1]])
    deleted = redis.execute("DEL", [keys[3], keys[4]])
    counts = float(str(fields)) * 100.0 + float(str(length)) * 10.0 + float(str(deleted))
    return tensors[0] * float(str(got)), tensors[0] * 0.0 + counts

def as_list(tensors: List[Tensor], keys: List[str], args: List[str]):
    for a in args:
        redis.execute("RPUSH", keys[0], a)
    values = redis.asList(redis.execute("LRANGE", keys[0], "0", "-1"))
    out: List[Tensor] = []
    for v in values:
        out.append(tensors[0] * float(str(v)))
    return out

def hash_values(tensors: List[Tensor], keys: List[str], args: List[str]):
    command_args = [keys[0]]
    for a in args:
        command_args.append(a)
    redis.execute("HSET", command_args)
    total = 0.0
    for v in redis.asList(redis.execute("HVALS", keys[0])):
        total += float(str(v))
    missing = redis.execute("GET", [keys[0] + ":missing"])
    if str(missing) == "None":  # a nil reply; `is None` on Any folds to False
        total += 1000.0
    return tensors[0] * total

def model(tensors: List[Tensor], keys: List[str], args: List[str]):
    return redisAI.model_execute(keys[0], tensors, int(args[0]))

def wrongtype(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("HSET", [keys[0], "field", "value"])

def nothing(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", [keys[0], "touched"])
'''

# What redisai-py's own test stores with the deprecated scriptset: no entry points.
OLD_SOURCE = "def bar(a, b):\n    return a + b\n"

SIGNATURE = ("Wrong inputs type in function f. Expected signature similar to: "
             "def f(tensors: List[Tensor], keys: List[str], args: List[str])")


def _close(what: str, got: Any, expected: np.ndarray) -> None:
    assert isinstance(got, np.ndarray), f"{what}: not an ndarray: {got!r}"
    check(f"{what} dtype", got.dtype, expected.dtype)
    check(f"{what} shape", got.shape, expected.shape)
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6), (
        f"{what}: expected {expected!r}, got {got!r}"
    )


def _info(key: str, tag: str, **counts: int) -> dict[str, Any]:
    stats = {"duration": 0, "samples": -1, "calls": 0, "errors": 0, **counts}
    return {"key": key, "type": "SCRIPT", "backend": "TORCH", "device": "cpu", "tag": tag,
            **stats}


def _error_containing(text: str, fn: Any, *args: Any, **kwargs: Any) -> None:
    """A ResponseError whose text contains ``text``: RedisAI's script-run errors come
    through libtorch's interpreter, which may wrap them (its tests match substrings)."""
    got = expect_error(None, fn, *args, **kwargs)
    assert text in got, f"{fn.__name__}{args}{kwargs}: {text!r} not in {got!r}"


def check_store_get(c: Client) -> None:
    check("scriptstore", c.scriptstore("s", "cpu", SOURCE, ENTRY_POINTS, tag="v1"), "OK")
    entry = [e.encode() for e in ENTRY_POINTS]  # list2dict decodes only top-level bytes
    meta = {"device": "cpu", "tag": "v1", "entry points": entry}
    check("scriptget meta_only", c.scriptget("s", meta_only=True), meta)
    check("scriptget", c.scriptget("s"), {**meta, "source": SOURCE})
    check("infoget before any run", c.infoget("s"), _info("s", "v1"))
    # A single entry point as a plain string (redisai-py wraps it), no tag, upper-case CPU.
    check("scriptstore one entry point", c.scriptstore("s1", "CPU", SOURCE, "add"), "OK")
    check("scriptget s1", c.scriptget("s1", meta_only=True),
          {"device": "CPU", "tag": "", "entry points": [b"add"]})
    scan = expect_warning(UserWarning, c.scriptscan)  # "experimental" warning
    check("scriptscan", scan, [["s", "v1"], ["s1", ""]])  # insertion order
    check("type of a script", c.type("s"), b"AI_SCRIPT")


def check_execute(c: Client, data: dict[str, np.ndarray]) -> None:
    c.tensorset("a", data["a"])
    c.tensorset("b", data["b"])
    check("scriptexecute add", c.scriptexecute("s", "add", inputs=["a", "b"], outputs=["c"]),
          "OK")
    _close("add output", c.tensorget("c"), data["sum"])
    check("scriptexecute add with timeout",
          c.scriptexecute("s", "add", inputs=["a", "b"], outputs="c_t", timeout=5000), "OK")
    _close("add output (timeout)", c.tensorget("c_t"), data["sum"])
    # Every scope: KEYS (unused), INPUTS, ARGS, OUTPUTS; a list return is flattened.
    check("scriptexecute scale",
          c.scriptexecute("s", "scale", keys=["unused"], inputs=["a", "b"], args=["2.5"],
                          outputs=["a25", "b25"]), "OK")
    _close("scale output 0", c.tensorget("a25"), data["a"] * np.float32(2.5))
    _close("scale output 1", c.tensorget("b25"), data["b"] * np.float32(2.5))
    # No OUTPUTS: the return value is ignored.
    check("scriptexecute add without outputs", c.scriptexecute("s", "add", inputs=["a", "b"]),
          "OK")
    info = c.infoget("s")
    check("infoget calls/errors/samples", (info["calls"], info["errors"], info["samples"]),
          (4, 0, -1))
    assert isinstance(info["duration"], int) and info["duration"] >= 0, info
    check("inforeset", c.inforeset("s"), "OK")
    check("infoget after inforeset", c.infoget("s"), _info("s", "v1"))


def check_keyspace(c: Client) -> None:
    """redis.execute with SET/GET/HSET/RPUSH/DEL, checked through redisai-py's own redis
    methods afterwards."""
    c.tensorset("one", np.array([1.0, 2.0], dtype=np.float32))
    c.set("doomed", "x")
    c.rpush("lst", "first")
    check("scriptexecute keyspace",
          c.scriptexecute("s", "keyspace", keys=["str", "hsh", "lst", "doomed", "absent"],
                          inputs="one", args=["42", "7"], outputs=["got", "counts"]), "OK")
    _close("GET value as tensor", c.tensorget("got"), np.array([42.0, 84.0], dtype=np.float32))
    # HSET added 2 fields, RPUSH made the list 3 long, DEL removed 1 of 2 keys.
    _close("command replies as tensor", c.tensorget("counts"),
           np.array([231.0, 231.0], dtype=np.float32))
    check("get str", c.get("str"), b"42")
    check("hgetall hsh", c.hgetall("hsh"), {b"field1": b"42", b"field2": b"7"})
    check("lrange lst", c.lrange("lst", 0, -1), [b"first", b"42", b"7"])
    check("exists doomed", c.exists("doomed"), 0)
    check("type hsh", c.type("hsh"), b"hash")

    # redis.asList over an LRANGE reply; redis.execute with variadic strings.
    check("scriptexecute as_list",
          c.scriptexecute("s", "as_list", keys="nums", inputs="one", args=["3", "4"],
                          outputs=["n0", "n1"]), "OK")
    _close("as_list output 0", c.tensorget("n0"), np.array([3.0, 6.0], dtype=np.float32))
    _close("as_list output 1", c.tensorget("n1"), np.array([4.0, 8.0], dtype=np.float32))
    check("lrange nums", c.lrange("nums", 0, -1), [b"3", b"4"])
    check("scriptexecute hash_values",
          c.scriptexecute("s", "hash_values", keys="h2", inputs="one",
                          args=["f1", "5", "f2", "7"], outputs="hv"), "OK")
    _close("hash_values output (a nil reply is None)", c.tensorget("hv"),
           np.array([1012.0, 2024.0], dtype=np.float32))
    check("hgetall h2", c.hgetall("h2"), {b"f1": b"5", b"f2": b"7"})
    # KEYS only, no INPUTS, no OUTPUTS.
    check("scriptexecute KEYS only", c.scriptexecute("s", "nothing", keys="touched"), "OK")
    check("get touched", c.get("touched"), b"touched")


def check_model_execute(c: Client, mlp: bytes, two_io: bytes,
                        data: dict[str, np.ndarray]) -> None:
    """redisAI.model_execute on TORCH models stored through redisai-py."""
    check("modelstore mlp", c.modelstore("mlp", "TORCH", "cpu", mlp), "OK")
    check("modelstore two_io", c.modelstore("two", "torch", "cpu", two_io), "OK")
    c.tensorset("x2", data["x2"])
    check("scriptexecute model mlp",
          c.scriptexecute("s", "model", keys="mlp", inputs="x2", args="1", outputs="y"), "OK")
    _close("model_execute mlp output", c.tensorget("y"), data["mlp_y2"])
    check("scriptexecute model two_io",
          c.scriptexecute("s", "model", keys=["two"], inputs=["a", "b"], args=["2"],
                          outputs=["ms", "mp"]), "OK")
    _close("model_execute two_io sum", c.tensorget("ms"), data["sum"])
    _close("model_execute two_io prod", c.tensorget("mp"), data["prod"])
    _error_containing(MODEL_EMPTY, c.scriptexecute, "s", "model", keys="missing",
                      inputs="x2", args="1", outputs="y_missing")
    check("exists y_missing", c.exists("y_missing"), 0)


def check_deprecated(c: Client, data: dict[str, np.ndarray]) -> None:
    expect_warning(DeprecationWarning, expect_error, None, c.scriptset, "ket", "cpu",
                   "return 1")
    got = expect_warning(DeprecationWarning, c.scriptset, "ket", "cpu", OLD_SOURCE, tag="old")
    check("scriptset", got, "OK")
    check("scriptget of a scriptset script", c.scriptget("ket"),
          {"device": "cpu", "tag": "old", "entry points": [], "source": OLD_SOURCE})
    expect_warning(DeprecationWarning, expect_error,
                   "Wrong number of inputs provided to function: bar", c.scriptrun, "ket",
                   "bar", inputs=["a"], outputs=["c_old"])
    got = expect_warning(DeprecationWarning, c.scriptrun, "ket", "bar", inputs=["a", "b"],
                         outputs=["c_old"])
    check("scriptrun", got, "OK")
    check("scriptrun output as values", c.tensorget("c_old", as_numpy=False),
          {"dtype": "FLOAT", "shape": list(data["sum"].shape),
           "values": [float(v) for v in data["sum"].flat]})
    # SCRIPTEXECUTE runs a scriptset function in its "best-effort" positional mode.
    check("scriptexecute of a scriptset function",
          c.scriptexecute("ket", "bar", inputs=["a", "b"], outputs="c_best"), "OK")
    _close("best-effort output", c.tensorget("c_best"), data["sum"])
    info = c.infoget("ket")
    check("infoget of a scriptset script", (info["type"], info["tag"], info["samples"],
                                            info["calls"], info["errors"]),
          ("SCRIPT", "old", -1, 3, 1))


def check_errors(c: Client) -> None:
    expect_error("Function nope does not exist in the given script.", c.scriptstore,
                 "bad", "cpu", SOURCE, ["add", "nope"])
    expect_error("Wrong number of inputs in function f. Expected 3 but was 1", c.scriptstore,
                 "bad", "cpu", "def f(a):\n    return a\n", "f")
    expect_error(SIGNATURE, c.scriptstore, "bad", "cpu",
                 "def f(tensors: List[Tensor], keys: List[str], args: int):\n    return 1\n",
                 "f")
    _error_containing("expected ident but found ':' here", c.scriptstore, "bad", "cpu",
                      "def f(:\n    return 1\n", "f")
    check("exists bad", c.exists("bad"), 0)

    c.set("plain", "string")
    _error_containing(REDIS_ERROR + WRONGTYPE, c.scriptexecute, "s", "wrongtype",
                      keys="plain")
    check("get plain", c.get("plain"), b"string")
    expect_error("Function does not exist: nope", c.scriptexecute, "s", "nope", inputs="a")
    expect_error("Function returned unexpected number of outputs - add", c.scriptexecute,
                 "s", "add", inputs=["a", "b"], outputs=["o1", "o2"])
    expect_error("tensor key is empty or in a different shard", c.scriptexecute, "s", "add",
                 inputs=["a", "missing"], outputs="o1")
    check("exists o1", c.exists("o1"), 0)

    expect_error(SCRIPT_EMPTY, c.scriptget, "missing")
    expect_error(SCRIPT_EMPTY, c.scriptget, "missing", meta_only=True)
    expect_error(SCRIPT_EMPTY, c.scriptdel, "missing")
    expect_error(SCRIPT_EMPTY, c.scriptexecute, "missing", "add", inputs="a")
    expect_error(NO_RUN_INFO, c.infoget, "missing")
    expect_error(WRONGTYPE, c.scriptget, "a")
    expect_error(WRONGTYPE, c.scriptdel, "a")
    expect_error(WRONGTYPE, c.scriptexecute, "a", "add", inputs="a")
    expect_error(WRONGTYPE, c.scriptget, "mlp")  # a model is no script
    # redisai-py's own checks, before anything is sent.
    for call in (lambda: c.scriptstore("s2", "tpu", SOURCE, "add"),
                 lambda: c.scriptexecute("s", "add")):
        try:
            call()
        except ValueError:
            continue
        raise AssertionError("redisai-py did not refuse a bad device / missing KEYS+INPUTS")

    info = c.infoget("s")
    check("infoget after failed runs (since the reset)", (info["calls"], info["errors"]),
          (10, 4))
    check("scriptdel", c.scriptdel("ket"), "OK")
    expect_error(SCRIPT_EMPTY, c.scriptget, "ket")
    expect_error(NO_RUN_INFO, c.infoget, "ket")
    check("scriptscan after scriptdel", expect_warning(UserWarning, c.scriptscan),
          [["s", "v1"], ["s1", ""]])
    # Storing over a script resets its run stats.
    check("scriptstore over s", c.scriptstore("s", "cpu", SOURCE, ENTRY_POINTS, tag="v2"), "OK")
    check("infoget after overwrite", c.infoget("s"), _info("s", "v2"))


def check_torch_namespace(c: Client) -> None:
    """``torch.*`` in a source, as in RedisAI's own fixture (tests/flow/test_data/
    redis_scripts.py): libtorch resolves ``torch`` for every script."""
    source = r'''
def int_list(tensors: List[Tensor], keys: List[str], args: List[str]):
    for a in args:
        redis.execute("RPUSH", keys[0], a)
    values = redis.asList(redis.execute("LRANGE", keys[0], "0", "-1"))
    l = [torch.tensor(int(str(v))).reshape(1, 1) for v in values]
    return torch.cat(l, dim=0)

def model_const(tensors: List[Tensor], keys: List[str], args: List[str]):
    a = torch.tensor([[2.0, 3.0], [2.0, 3.0]])
    return redisAI.model_execute(keys[0], [a, a], 2)
'''
    check("scriptstore using torch.*",
          c.scriptstore("ts", "cpu", source, ["int_list", "model_const"]), "OK")
    check("scriptexecute int_list",
          c.scriptexecute("ts", "int_list", keys="il", args=["1", "2"], outputs="il_y"), "OK")
    check("int_list output", c.tensorget("il_y", as_numpy=False),
          {"dtype": "INT64", "shape": [2, 1], "values": [1, 2]})
    check("scriptexecute model_const",
          c.scriptexecute("ts", "model_const", keys="two", outputs=["mc_sum", "mc_prod"]),
          "OK")
    check("model_const sum", c.tensorget("mc_sum", as_numpy=False)["values"],
          [4.0, 6.0, 4.0, 6.0])
    check("model_const prod", c.tensorget("mc_prod", as_numpy=False)["values"],
          [4.0, 9.0, 4.0, 9.0])


def check_refused_calls(c: Client) -> None:
    """RedisModule_Call gives no reply for a wrong arity (errno EINVAL) or an unknown
    command (ENOENT), which torch_redis.cpp reports as strerror(errno): RedisAI's
    tests_torchscript_extensions.py expects "Invalid argument" for ``redis.execute("SET",
    key)``."""
    source = r'''
def test_redis_command_error(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0])

def unknown_command(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("NOSUCHCOMMAND", keys[0])
'''
    check("scriptstore", c.scriptstore("calls", "cpu", source,
                                       ["test_redis_command_error", "unknown_command"]), "OK")
    _error_containing(REDIS_ERROR + "Invalid argument", c.scriptexecute, "calls",
                      "test_redis_command_error", keys="k")
    _error_containing(REDIS_ERROR + "No such file or directory", c.scriptexecute, "calls",
                      "unknown_command", keys="k")
    check("exists k", c.exists("k"), 0)


def main() -> None:
    parser = arguments(__doc__)
    for name in ("--mlp-torch", "--two-io-torch", "--data"):
        parser.add_argument(name, type=Path, required=True)
    args = parser.parse_args()
    data = {p.stem: np.load(p) for p in args.data.glob("*.npy")}
    c = connect(args.port)
    c.flushall()
    check_store_get(c)
    check_execute(c, data)
    check_keyspace(c)
    check_model_execute(c, args.mlp_torch.read_bytes(), args.two_io_torch.read_bytes(), data)
    check_deprecated(c, data)
    check_errors(c)
    check_torch_namespace(c)
    check_refused_calls(c)
    # The same through redis-py 4's pure-Python reply parser.
    p = connect(args.port, "python")
    check("scriptget (python parser)", p.scriptget("s1", meta_only=True),
          {"device": "CPU", "tag": "", "entry points": [b"add"]})
    _error_containing(REDIS_ERROR + WRONGTYPE, p.scriptexecute, "s", "wrongtype",
                      keys="plain")
    check("scriptexecute (python parser)",
          p.scriptexecute("s", "add", inputs=["a", "b"], outputs="c_py"), "OK")
    _close("add output (python parser)", p.tensorget("c_py"), data["sum"])
    c.flushall()
    print("scripts: ok")


if __name__ == "__main__":
    main()
