"""redisai-py 1.3.0 DAGs: ``client.dag(load, persist, routing, timeout, readonly)`` and its
builder (tensorset, tensorget, modelexecute, scriptexecute, deprecated modelrun and run),
with the replies post-processed by redisai-py.

redisai-py sends ``AI.DAGEXECUTE[_RO]`` when one of load/persist/routing is given, and
falls back to the deprecated ``AI.DAGRUN[_RO]`` (with a DeprecationWarning) otherwise.
``Dag.execute`` applies one post-processor per op to the reply: ``bytes.decode`` for
TENSORSET/MODELEXECUTE/SCRIPTEXECUTE, the tensorget processor (numpy arrays, dicts) for
TENSORGET. An error inside a DAG comes back as an element (redis-py makes it a
ResponseError instance inside the list), and ``bytes.decode`` of that raises TypeError:
redisai-py users see the elements only with ``dag.enable_postprocess = False``.

Models and expected outputs are built by the outer test in the main venv (torch lives
there) and come in as files:

* ``--mlp-torch``: FLOAT ``x[b, 4]`` -> ``y[b, 3]`` (TorchScript);
* ``--two-io-torch``: ``forward(a, b) -> (a + b, a * b)``;
* ``--data``: a folder of .npy files: ``x2``, ``mlp_y2`` (the MLP's input and output);
  ``a``, ``b``, ``sum``, ``prod`` (two_io's); ``raw``, ``probs``, ``label`` (the
  pipeline's input and outputs: ``pre`` below with args 2.0 and 0.25, the MLP, ``post``).

Usage: scenario_dag.py --port N --mlp-torch F --two-io-torch F --data DIR
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import redis
from _common import arguments, check, connect, expect_error, expect_warning
from redisai import Client

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
TENSOR_EMPTY = "tensor key is empty or in a different shard"

SOURCE = r'''
def pre(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * float(args[0]) + float(args[1])

def post(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0].softmax(1), tensors[0].argmax(1)

def tally(tensors: List[Tensor], keys: List[str], args: List[str]):
    n = redis.execute("INCR", [keys[0]])
    return tensors[0] * float(str(n))

def fail(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("HSET", [keys[0], "field", "value"])
    return tensors[0]
'''


def _close(what: str, got: Any, expected: np.ndarray) -> None:
    assert isinstance(got, np.ndarray), f"{what}: not an ndarray: {got!r}"
    check(f"{what} dtype", got.dtype, expected.dtype)
    check(f"{what} shape", got.shape, expected.shape)
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6), (
        f"{what}: expected {expected!r}, got {got!r}"
    )


def _raises(exc: type[Exception], what: str, fn: Any, *args: Any, **kwargs: Any
            ) -> Exception:
    try:
        got = fn(*args, **kwargs)
    except exc as e:
        return e
    raise AssertionError(f"{what}: expected {exc.__name__}, got {got!r}")


def setup(c: Client, mlp: bytes, two_io: bytes, data: dict[str, np.ndarray]) -> None:
    check("modelstore mlp", c.modelstore("mlp", "TORCH", "cpu", mlp), "OK")
    check("modelstore two_io", c.modelstore("two", "torch", "cpu", two_io), "OK")
    check("scriptstore", c.scriptstore("pipe", "cpu", SOURCE, ["pre", "post", "tally", "fail"]),
          "OK")
    for name in ("x2", "a", "b", "raw"):
        c.tensorset(name, data[name])
    c.set("plain", "string")


def check_execute(c: Client, data: dict[str, np.ndarray]) -> None:
    dag = c.dag(load="x2", persist="y", routing="x2", timeout=5000)
    check("dag commands", dag.commands,
          ["AI.DAGEXECUTE", "LOAD", 1, "x2", "PERSIST", 1, "y", "ROUTING", "x2", "TIMEOUT",
           5000, "|>"])
    got = (dag.tensorset("t", [1, 2], shape=(2,), dtype="float")
           .tensorget("t")
           .modelexecute("mlp", "x2", "y")
           .tensorget("y")
           .tensorget("y", as_numpy=False)
           .tensorget("y", meta_only=True)
           .execute())
    check("dag reply length", len(got), 6)
    check("dag tensorset", got[0], "OK")
    _close("dag tensorget (numpy)", got[1], np.array([1.0, 2.0], dtype=np.float32))
    check("dag modelexecute", got[2], "OK")
    _close("dag tensorget of the model output", got[3], data["mlp_y2"])
    check("dag tensorget as_numpy=False", got[4],
          {"dtype": "FLOAT", "shape": [2, 3],
           "values": [float(v) for v in data["mlp_y2"].flat]})
    # meta_only in a DAG still sends META BLOB (redisai-py passes as_numpy_mutable where
    # the builder expects meta_only) and returns the whole dict.
    check("dag tensorget meta_only", got[5],
          {"dtype": "FLOAT", "shape": [2, 3], "blob": data["mlp_y2"].tobytes()})
    _close("persisted y", c.tensorget("y"), data["mlp_y2"])
    check("DAG-local t not persisted", c.exists("t"), 0)

    # as_numpy_mutable=True goes into the builder's meta_only slot: META only is sent and
    # the post-processor looks for a blob that is not there.
    dag = c.dag(routing="m").tensorset("m", np.ones(3, dtype=np.float32))
    _raises(KeyError, "dag tensorget as_numpy_mutable", dag.tensorget("m",
                                                                     as_numpy_mutable=True).execute)

    # Versions: a TENSORGET sees the tensor current at its position.
    got = (c.dag(routing="v")
           .tensorset("v", np.array([1, 2], dtype=np.int64))
           .tensorget("v")
           .tensorset("v", [3.5], dtype="double")
           .tensorget("v", as_numpy=False)
           .execute())
    check("versions: ops", (got[0], got[2]), ("OK", "OK"))
    _close("versions: first", got[1], np.array([1, 2], dtype=np.int64))
    check("versions: second", got[3], {"dtype": "DOUBLE", "shape": [1], "values": [3.5]})
    check("ROUTING-only DAG persists nothing", c.exists("v"), 0)

    # STRING tensors (redisai-py's NUL-joined blob), and PERSIST writes the last version.
    strings = np.array([["a", "bc"], ["", "d\u00e9f"]])
    got = (c.dag(routing="str", persist=["str", "n"])
           .tensorset("str", strings)
           .tensorget("str")
           .tensorget("str", as_numpy=False)
           .tensorset("n", [1, 2], dtype="int8")
           .tensorset("n", [3], dtype="int8")
           .execute())
    check("strings: ops", (got[0], got[3], got[4]), ("OK", "OK", "OK"))
    check("strings: numpy", (got[1].tolist(), got[1].dtype.kind), (strings.tolist(), "U"))
    check("strings: values", got[2],
          {"dtype": "STRING", "shape": [2, 2], "values": ["a", "bc", "", "d\u00e9f"]})
    check("persisted strings", c.tensorget("str").tolist(), strings.tolist())
    check("persisted last version", c.tensorget("n", as_numpy=False),
          {"dtype": "INT8", "shape": [1], "values": [3]})

    # Two outputs persisted; modelrun on a DAGEXECUTE dag becomes MODELEXECUTE (warning).
    dag = c.dag(load=["a", "b"], persist=["s", "p"])
    expect_warning(DeprecationWarning, dag.modelrun, "two", ["a", "b"], ["s", "p"])
    check("dag modelrun -> MODELEXECUTE", dag.commands[-11:],
          ["AI.MODELEXECUTE", "two", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "s", "p", "|>"])
    got = expect_warning(DeprecationWarning, dag.tensorget("p").run)  # run() is deprecated
    check("dag run() reply length", len(got), 2)
    check("dag run() modelexecute", got[0], "OK")
    _close("dag run() tensorget", got[1], data["prod"])
    _close("persisted s", c.tensorget("s"), data["sum"])
    _close("persisted p", c.tensorget("p"), data["prod"])


def check_readonly(c: Client, data: dict[str, np.ndarray]) -> None:
    dag = c.dag(load="x2", routing="x2", readonly=True)
    check("readonly commands", dag.commands[0], "AI.DAGEXECUTE_RO")
    got = dag.modelexecute("mlp", "x2", "y_ro").tensorget("y_ro").execute()
    check("readonly modelexecute", got[0], "OK")
    _close("readonly tensorget", got[1], data["mlp_y2"])
    check("readonly DAG wrote nothing", c.exists("y_ro"), 0)
    # redisai-py refuses PERSIST and SCRIPTEXECUTE in a read-only DAG itself ...
    _raises(RuntimeError, "readonly dag with persist", c.dag, persist="y", readonly=True)
    _raises(RuntimeError, "readonly dag scriptexecute",
            c.dag(load="x2", readonly=True).scriptexecute, "pipe", "pre", inputs="x2",
            args=["1", "0"], outputs="o")
    # ... except an empty persist list (falsy), which it sends as PERSIST 0: the server
    # refuses PERSIST before reading the count.
    dag = c.dag(persist=[], routing="x2", readonly=True)
    check("readonly dag with PERSIST 0", dag.commands[:4], ["AI.DAGEXECUTE_RO", "PERSIST", 0,
                                                            "ROUTING"])
    expect_error("PERSIST cannot be specified in a read-only DAG",
                 dag.tensorset("t", [1.0], dtype="float").execute)


def check_deprecated(c: Client, data: dict[str, np.ndarray]) -> None:
    """No load/persist/routing: AI.DAGRUN / AI.DAGRUN_RO with MODELRUN."""
    for readonly, command in ((False, "AI.DAGRUN"), (True, "AI.DAGRUN_RO")):
        dag = expect_warning(DeprecationWarning, c.dag, readonly=readonly)
        check(f"{command} commands", dag.commands, [command, "|>"])
        dag.tensorset("in", data["x2"])
        expect_warning(DeprecationWarning, dag.modelrun, "mlp", "in", "out")
        got = dag.tensorget("out").tensorget("out", as_numpy=False).execute()
        check(f"{command} reply length", len(got), 4)
        check(f"{command} ops", got[:2], ["OK", "OK"])
        _close(f"{command} tensorget", got[2], data["mlp_y2"])
        check(f"{command} values", got[3]["values"], [float(v) for v in data["mlp_y2"].flat])
        check(f"{command} wrote nothing", c.exists("in", "out"), 0)
        # The DAGRUN builder refuses the new ops.
        _raises(RuntimeError, f"{command} modelexecute", dag.modelexecute, "mlp", "in", "o")
        _raises(RuntimeError, f"{command} scriptexecute", dag.scriptexecute, "pipe", "pre",
                inputs="in")


def check_pipeline(c: Client, data: dict[str, np.ndarray]) -> None:
    """script -> model -> script, as computed in process by the outer test."""
    dag = c.dag(load="raw", persist=["probs", "label"], routing="raw")
    got = (dag.scriptexecute("pipe", "pre", inputs="raw", args=["2.0", "0.25"],
                             outputs="pre_out")
           .modelexecute("mlp", "pre_out", "logits")
           .scriptexecute("pipe", "post", inputs=["logits"], outputs=["probs", "label"])
           .tensorget("probs")
           .tensorget("label")
           .execute())
    check("pipeline ops", got[:3], ["OK", "OK", "OK"])
    _close("pipeline probs", got[3], data["probs"])
    _close("pipeline label", got[4], data["label"])
    _close("persisted probs", c.tensorget("probs"), data["probs"])
    _close("persisted label", c.tensorget("label"), data["label"])
    check("intermediates not persisted", c.exists("pre_out", "logits"), 0)

    # SCRIPTEXECUTE with KEYS inside a DAG: redis.execute reaches the keyspace.
    for n in (1, 2):
        got = (c.dag(load="raw", routing="counter")
               .scriptexecute("pipe", "tally", keys="counter", inputs="raw", outputs="tallied")
               .tensorget("tallied")
               .execute())
        check(f"tally {n} op", got[0], "OK")
        _close(f"tally {n} output", got[1], data["raw"] * np.float32(n))
    check("counter after two DAGs", c.get("counter"), b"2")


def check_errors(c: Client, parser: str) -> None:
    """A failed op is an element of the reply; the ops after it answer NA."""
    p = connect(c.connection_pool.connection_kwargs["port"], parser)
    bad = np.zeros((2, 5), dtype=np.float32)  # the MLP wants 4 columns

    def model_dag() -> Any:
        return (p.dag(load="x2", persist="y_bad")
                .tensorset("bad", bad)
                .modelexecute("mlp", "bad", "y_bad")
                .modelexecute("mlp", "x2", "y_never")
                .tensorget("y_bad"))

    # With post-processing (the default), bytes.decode meets the error element.
    e = _raises(TypeError, f"{parser}: failed DAG, post-processed", model_dag().execute)
    assert "ResponseError" in str(e), f"{parser}: unexpected TypeError {e}"
    dag = model_dag()
    dag.enable_postprocess = False
    got = dag.execute()
    check(f"{parser}: failed DAG reply length", len(got), 4)
    check(f"{parser}: tensorset before the failure", got[0], b"OK")
    assert isinstance(got[1], redis.ResponseError) and str(got[1]), (
        f"{parser}: model failure element: {got[1]!r}")
    check(f"{parser}: ops after the failure", got[2:], [b"NA", b"NA"])
    check(f"{parser}: failed DAG persists nothing", p.exists("y_bad", "y_never"), 0)
    info = p.infoget("mlp")
    assert info["errors"] >= 1, f"{parser}: failed DAG op not counted: {info}"

    # A script's redis.execute error inside a DAG.
    dag = (p.dag(load="x2", routing="plain")
           .scriptexecute("pipe", "fail", keys="plain", inputs="x2", outputs="f")
           .tensorget("f"))
    dag.enable_postprocess = False
    got = dag.execute()
    assert isinstance(got[0], redis.ResponseError), f"{parser}: script failure: {got[0]!r}"
    assert "Redis command returned an error: " + WRONGTYPE in str(got[0]), got[0]
    check(f"{parser}: tensorget after the script failure", got[1], b"NA")
    check(f"{parser}: plain untouched", p.get("plain"), b"string")

    # Errors found while parsing fail the whole command.
    expect_error(TENSOR_EMPTY, p.dag(load="missing").tensorget("missing").execute)
    expect_error("INPUT key cannot be found in DAG",
                 p.dag(load="x2").modelexecute("mlp", "nope", "o").execute)
    expect_error("INPUT key cannot be found in DAG", p.dag(load="x2").tensorget("nope").execute)
    expect_error("PERSIST key cannot be found in DAG",
                 p.dag(load="x2", persist="never").tensorget("x2").execute)
    expect_error("model key is empty",
                 p.dag(load="x2").modelexecute("missing", "x2", "o").execute)
    expect_error("script key is empty",
                 p.dag(load="x2").scriptexecute("missing", "pre", inputs="x2").execute)
    expect_error(WRONGTYPE, p.dag(load="plain").tensorget("plain").execute)
    expect_error(WRONGTYPE, p.dag(load="x2").modelexecute("pipe", "x2", "o").execute)
    p.close()


def check_stats(c: Client) -> None:
    """Ops run inside DAGs count in AI.INFO like single commands; a failed op adds a call
    and an error (no samples), an op that never ran adds nothing."""
    info = c.infoget("mlp")
    # Runs of batch 2: check_execute, readonly, DAGRUN, DAGRUN_RO; batch 4: the pipeline;
    # four failures (the failing DAG twice per reply parser); its NA op never counts.
    check("mlp calls/samples/errors", (info["calls"], info["samples"], info["errors"]),
          (9, 12, 4))
    info = c.infoget("pipe")
    # pre, post, tally twice, fail twice (failed).
    check("script calls/samples/errors", (info["calls"], info["samples"], info["errors"]),
          (6, -1, 2))


def main() -> None:
    parser = arguments(__doc__)
    for name in ("--mlp-torch", "--two-io-torch", "--data"):
        parser.add_argument(name, type=Path, required=True)
    args = parser.parse_args()
    data = {p.stem: np.load(p) for p in args.data.glob("*.npy")}
    c = connect(args.port)
    c.flushall()
    setup(c, args.mlp_torch.read_bytes(), args.two_io_torch.read_bytes(), data)
    check_execute(c, data)
    check_readonly(c, data)
    check_deprecated(c, data)
    check_pipeline(c, data)
    for reply_parser in ("hiredis", "python"):
        check_errors(c, reply_parser)
    check_stats(c)
    c.flushall()
    print("dag: ok")


if __name__ == "__main__":
    main()
