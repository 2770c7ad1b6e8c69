"""redisai-py 1.3.0 models: store, get, scan, execute, run stats, delete, errors.

Models and expected outputs are built by the outer test in the main venv (torch lives
there) and come in as files:

* ``--mlp-torch`` / ``--mlp-onnx``: FLOAT ``x[b, 4]`` -> ``y[b, 3]`` (TorchScript; ONNX
  export with a dynamic batch axis);
* ``--two-io-torch``: ``forward(a, b) -> (a + b, a * b)``;
* ``--slow-torch``: ``forward(x[1, 256], n INT64[1])``, ``n`` rounds of a matmul;
* ``--data``: a folder of .npy files: ``x2`` / ``x5`` (inputs, batch 2 and 5),
  ``mlp_torch_y2``, ``mlp_onnx_y2``, ``mlp_onnx_y5`` (expected outputs), ``a``, ``b``,
  ``sum``, ``prod`` (two_io's inputs and outputs).

Usage: scenario_models.py --port N --mlp-torch F --mlp-onnx F --two-io-torch F
       --slow-torch F --data DIR
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import arguments, check, connect, expect_error, expect_warning
from redisai import Client

MODEL_EMPTY = "model key is empty"
TENSOR_EMPTY = "tensor key is empty or in a different shard"
NO_RUN_INFO = "cannot find run info for key"
INPUTS_MISMATCH = "Number of keys given as INPUTS here does not match model definition"
OUTPUTS_MISMATCH = "Number of keys given as OUTPUTS here does not match model definition"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _close(what: str, got: Any, expected: np.ndarray) -> None:
    assert isinstance(got, np.ndarray), f"{what}: not an ndarray: {got!r}"
    check(f"{what} dtype", got.dtype, expected.dtype)
    check(f"{what} shape", got.shape, expected.shape)
    assert np.allclose(got, expected, rtol=1e-5, atol=1e-6), (
        f"{what}: expected {expected!r}, got {got!r}"
    )


def _info(key: str, backend: str, device: str, tag: str, **counts: int) -> dict[str, Any]:
    stats = {"duration": 0, "samples": 0, "calls": 0, "errors": 0, **counts}
    return {"key": key, "type": "MODEL", "backend": backend, "device": device, "tag": tag,
            **stats}


def check_store_get(c: Client, mlp_torch: bytes, mlp_onnx: bytes) -> None:
    check("modelstore TORCH", c.modelstore("mlp_pt", "TORCH", "cpu", mlp_torch, batch=4,
                                           minbatch=2, tag="v1"), "OK")
    meta = {"backend": "TORCH", "device": "cpu", "tag": "v1", "batchsize": 4,
            "minbatchsize": 2, "inputs": ["x"], "outputs": [""], "minbatchtimeout": 0}
    check("modelget TORCH meta_only", c.modelget("mlp_pt", meta_only=True), meta)
    full = c.modelget("mlp_pt")
    blob = full.pop("blob", None)
    check("modelget TORCH meta", full, meta)
    assert blob == mlp_torch, f"modelget TORCH blob: {len(blob or b'')} bytes differ from the file"

    # Lower-case backend (redisai-py accepts it), minbatchtimeout, an upper-case device.
    check("modelstore ONNX", c.modelstore("mlp_onnx", "onnx", "CPU", mlp_onnx, batch=8,
                                          minbatch=1, minbatchtimeout=20), "OK")
    meta = {"backend": "ONNX", "device": "CPU", "tag": "", "batchsize": 8, "minbatchsize": 1,
            "inputs": ["x"], "outputs": ["y"], "minbatchtimeout": 20}
    check("modelget ONNX meta_only", c.modelget("mlp_onnx", meta_only=True), meta)
    check("modelget ONNX blob", c.modelget("mlp_onnx")["blob"], mlp_onnx)
    scan = expect_warning(UserWarning, c.modelscan)  # "experimental" warning
    check("modelscan", scan, [["mlp_pt", "v1"], ["mlp_onnx", ""]])  # insertion order


def check_execute(c: Client, data: dict[str, np.ndarray]) -> None:
    first = _info("mlp_pt", "TORCH", "cpu", "v1")
    check("infoget before any run", c.infoget("mlp_pt"), first)
    check("tensorset x2", c.tensorset("x2", data["x2"]), "OK")
    # Plain strings for inputs/outputs: redisai-py wraps them in lists.
    check("modelexecute TORCH", c.modelexecute("mlp_pt", "x2", "y"), "OK")
    _close("TORCH output", c.tensorget("y"), data["mlp_torch_y2"])
    check("modelexecute TORCH with timeout",
          c.modelexecute("mlp_pt", ["x2"], ["y_t"], timeout=5000), "OK")
    _close("TORCH output (timeout)", c.tensorget("y_t"), data["mlp_torch_y2"])
    info = c.infoget("mlp_pt")
    check("infoget calls/samples/errors", (info["calls"], info["samples"], info["errors"]),
          (2, 4, 0))
    assert isinstance(info["duration"], int) and info["duration"] >= 0, info
    check("inforeset", c.inforeset("mlp_pt"), "OK")
    check("infoget after inforeset", c.infoget("mlp_pt"), first)

    check("tensorset x5", c.tensorset("x5", data["x5"]), "OK")
    check("modelexecute ONNX batch 5", c.modelexecute("mlp_onnx", ["x5"], ["y5"]), "OK")
    _close("ONNX output batch 5", c.tensorget("y5"), data["mlp_onnx_y5"])
    check("modelexecute ONNX batch 2", c.modelexecute("mlp_onnx", ["x2"], ["y2"], timeout=1000),
          "OK")
    _close("ONNX output batch 2", c.tensorget("y2"), data["mlp_onnx_y2"])
    check("infoget ONNX", c.infoget("mlp_onnx")["samples"], 7)

    # A failed run counts as a call and an error.
    c.tensorset("bad_x", np.zeros((2, 5), dtype=np.float32))
    expect_error(None, c.modelexecute, "mlp_pt", ["bad_x"], ["bad_y"])
    info = c.infoget("mlp_pt")
    check("infoget after a failed run", (info["calls"], info["errors"]), (1, 1))
    check("exists bad_y", c.exists("bad_y"), 0)


def check_deprecated(c: Client, mlp_torch: bytes, data: dict[str, np.ndarray]) -> None:
    got = expect_warning(DeprecationWarning, c.modelrun, "mlp_pt", ["x2"], ["y_run"])
    check("modelrun", got, "OK")
    _close("modelrun output", c.tensorget("y_run"), data["mlp_torch_y2"])
    got = expect_warning(DeprecationWarning, c.modelset, "mlp_set", "torch", "cpu", mlp_torch,
                         batch=2, minbatch=1, tag="old")
    check("modelset", got, "OK")
    check("modelget after modelset", c.modelget("mlp_set", meta_only=True),
          {"backend": "TORCH", "device": "cpu", "tag": "old", "batchsize": 2,
           "minbatchsize": 1, "inputs": ["x"], "outputs": [""], "minbatchtimeout": 0})
    check("modelexecute of a modelset model", c.modelexecute("mlp_set", ["x2"], ["y_set"]), "OK")
    _close("modelset model output", c.tensorget("y_set"), data["mlp_torch_y2"])


def check_two_io(c: Client, blob: bytes, data: dict[str, np.ndarray]) -> None:
    check("modelstore two_io", c.modelstore("two", "torch", "cpu", blob), "OK")
    meta = c.modelget("two", meta_only=True)
    check("two_io inputs/outputs", (meta["inputs"], meta["outputs"]), (["a", "b"], ["", ""]))
    c.tensorset("a", data["a"])
    c.tensorset("b", data["b"])
    check("modelexecute two_io", c.modelexecute("two", ["a", "b"], ["s", "p"]), "OK")
    _close("two_io sum", c.tensorget("s"), data["sum"])
    _close("two_io prod", c.tensorget("p"), data["prod"])

    expect_error(INPUTS_MISMATCH, c.modelexecute, "two", ["a"], ["s", "p"])
    expect_error(OUTPUTS_MISMATCH, c.modelexecute, "two", ["a", "b"], ["s"])
    expect_error(TENSOR_EMPTY, c.modelexecute, "two", ["a", "missing"], ["s", "p"])
    expect_error(MODEL_EMPTY, c.modelexecute, "missing", ["a"], ["s"])
    expect_warning(DeprecationWarning, expect_error, INPUTS_MISMATCH, c.modelrun, "two",
                   ["a"], ["s", "p"])
    expect_warning(DeprecationWarning, expect_error, MODEL_EMPTY, c.modelrun, "missing",
                   ["a"], ["s"])


def check_model_errors(c: Client, mlp_torch: bytes) -> None:
    expect_error(MODEL_EMPTY, c.modelget, "missing")
    expect_error(MODEL_EMPTY, c.modelget, "missing", meta_only=True)
    expect_error(MODEL_EMPTY, c.modeldel, "missing")
    expect_error(NO_RUN_INFO, c.infoget, "missing")
    expect_error(NO_RUN_INFO, c.infoget, "x2")  # a tensor has no run info
    expect_error(WRONGTYPE, c.modelget, "x2")
    expect_error(WRONGTYPE, c.modeldel, "x2")
    expect_error(None, c.modelstore, "junk", "torch", "cpu", b"not a model")
    expect_error(None, c.modelstore, "junk", "onnx", "cpu", mlp_torch)  # wrong backend
    check("exists junk", c.exists("junk"), 0)

    check("modeldel", c.modeldel("mlp_onnx"), "OK")
    expect_error(MODEL_EMPTY, c.modelget, "mlp_onnx")
    expect_error(NO_RUN_INFO, c.infoget, "mlp_onnx")
    scan = expect_warning(UserWarning, c.modelscan)
    check("modelscan after modeldel", scan, [["mlp_pt", "v1"], ["mlp_set", "old"], ["two", ""]])

    # Storing over a model resets its run stats (RedisAI re-creates them).
    check("modelstore over mlp_pt", c.modelstore("mlp_pt", "TORCH", "cpu", mlp_torch, tag="v2"),
          "OK")
    check("infoget after overwrite", c.infoget("mlp_pt"), _info("mlp_pt", "TORCH", "cpu", "v2"))


def _slow_rounds(c: Client, seconds: float) -> int:
    """The round count that keeps the slow model busy about ``seconds`` on this server
    (timed through the server: its torch threads differ from any other process's)."""
    c.tensorset("calibrate", np.array([2000], dtype=np.int64))
    elapsed = []
    for _ in range(3):  # the first runs include TorchScript's profiling passes
        start = time.perf_counter()
        check("modelexecute slow (calibration)",
              c.modelexecute("slow", ["sx", "calibrate"], ["sy"]), "OK")
        elapsed.append(time.perf_counter() - start)
    return max(2000, int(seconds / (min(elapsed) / 2000)))


def check_timedout(c: Client, slow: bytes) -> None:
    """A run still queued when its TIMEOUT passes answers TIMEDOUT (a status, not an
    error) and stores no output; the run ahead of it is unaffected."""
    check("modelstore slow", c.modelstore("slow", "TORCH", "cpu", slow), "OK")
    c.tensorset("sx", np.ones((1, 256), dtype=np.float32))
    c.tensorset("sn", np.array([_slow_rounds(c, 1.0)], dtype=np.int64))
    c.tensorset("sn1", np.array([1], dtype=np.int64))
    c.delete("sy")
    busy: dict[str, Any] = {}

    def run_busy() -> None:
        try:
            busy["reply"] = c.modelexecute("slow", ["sx", "sn"], ["sy"])
        except Exception as e:  # reported by the main thread
            busy["reply"] = e

    thread = threading.Thread(target=run_busy)
    thread.start()
    time.sleep(0.25)  # the busy run is on the CPU queue's only worker by now
    check("modelexecute queued past its TIMEOUT",
          c.modelexecute("slow", ["sx", "sn1"], ["sy_late"], timeout=20), "TIMEDOUT")
    thread.join(60)
    check("modelexecute ahead of it", busy.get("reply"), "OK")
    check("exists sy", c.exists("sy"), 1)
    check("exists sy_late", c.exists("sy_late"), 0)


def main() -> None:
    parser = arguments(__doc__)
    for name in ("--mlp-torch", "--mlp-onnx", "--two-io-torch", "--slow-torch", "--data"):
        parser.add_argument(name, type=Path, required=True)
    args = parser.parse_args()
    data = {p.stem: np.load(p) for p in args.data.glob("*.npy")}
    mlp_torch = args.mlp_torch.read_bytes()
    c = connect(args.port)
    c.flushall()
    check_store_get(c, mlp_torch, args.mlp_onnx.read_bytes())
    check_execute(c, data)
    check_deprecated(c, mlp_torch, data)
    check_two_io(c, args.two_io_torch.read_bytes(), data)
    check_model_errors(c, mlp_torch)
    check_timedout(c, args.slow_torch.read_bytes())
    c.flushall()
    print("models: ok")


if __name__ == "__main__":
    main()
