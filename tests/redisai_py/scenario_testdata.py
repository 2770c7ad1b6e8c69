"""redisai-py 1.3.0 with the RedisAI-era files of ../shared/testdata, as its own tests use them.

* pt-minimal.pt (TORCH, forward(a, b) -> a + b), stored with modelstore and modelset;
* boston.onnx (``float_input[1, 13]`` -> ``variable[1, 1]``) and findsquare.onnx
  (``0[1]`` -> ``1[1]``, the square), outputs checked against the ones the outer test
  computed with onnxruntime (``--data``: ``boston_y.npy``, ``findsquare_y.npy``);
* one.raw (a 1x28x28 float32 image) as a tensor;
* pt-minimal (1352 bytes) under MODEL_CHUNK_SIZE 450: four chunks, as in redisai-py's
  own test_config.

Usage: scenario_testdata.py --port N --testdata DIR --data DIR
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _common import arguments, check, connect, expect_warning
from redisai import Client

DEFAULT_CHUNK = 511 * 1024 * 1024


def check_pt_minimal(c: Client, pt: bytes) -> None:
    check("modelstore pt-minimal", c.modelstore("pt_model", "torch", "cpu", pt, tag="v1.0"), "OK")
    meta = c.modelget("pt_model")
    check("modelget pt-minimal blob", meta.pop("blob"), pt)
    check("modelget pt-minimal", meta,
          {"backend": "TORCH", "device": "cpu", "tag": "v1.0", "batchsize": 0,
           "minbatchsize": 0, "inputs": ["a", "b"], "outputs": [""], "minbatchtimeout": 0})
    c.tensorset("a", [2, 3, 2, 3], shape=(2, 2), dtype="float")
    c.tensorset("b", [2, 3, 2, 3], shape=(2, 2), dtype="float")
    check("modelexecute pt-minimal", c.modelexecute("pt_model", ["a", "b"], ["output"]), "OK")
    check("pt-minimal output", c.tensorget("output", as_numpy=False),
          {"dtype": "FLOAT", "shape": [2, 2], "values": [4.0, 6.0, 4.0, 6.0]})
    got = expect_warning(DeprecationWarning, c.modelset, "pt_set", "torch", "cpu", pt)
    check("modelset pt-minimal", got, "OK")
    got = expect_warning(DeprecationWarning, c.modelrun, "pt_set", ["a", "b"], ["output2"])
    check("modelrun pt-minimal", got, "OK")
    check("pt-minimal modelrun output", c.tensorget("output2").tolist(), [[4.0, 6.0], [4.0, 6.0]])


def check_onnx(c: Client, boston: bytes, findsquare: bytes, data: dict[str, np.ndarray]) -> None:
    got = expect_warning(DeprecationWarning, c.modelset, "onnx_model", "onnx", "cpu", boston)
    check("modelset boston", got, "OK")
    meta = c.modelget("onnx_model", meta_only=True)
    check("boston inputs/outputs", (meta["inputs"], meta["outputs"]),
          (["float_input"], ["variable"]))
    c.tensorset("input", np.ones((1, 13), dtype=np.float32))
    check("modelexecute boston", c.modelexecute("onnx_model", ["input"], ["output"]), "OK")
    out = c.tensorget("output", as_numpy=False)
    check("boston output meta", (out["dtype"], out["shape"]), ("FLOAT", [1, 1]))
    check("boston output as redisai-py's test reads it", int(float(out["values"][0])), 24)
    assert np.allclose(c.tensorget("output"), data["boston_y"]), (
        f"boston: expected {data['boston_y']!r}, got {c.tensorget('output')!r}"
    )

    check("modelstore findsquare", c.modelstore("square", "onnx", "cpu", findsquare), "OK")
    meta = c.modelget("square", meta_only=True)
    check("findsquare inputs/outputs", (meta["inputs"], meta["outputs"]), (["0"], ["1"]))
    c.tensorset("two", np.array((2,)).astype(np.float32))
    check("modelexecute findsquare", c.modelexecute("square", "two", "sq"), "OK")
    got = c.tensorget("sq")
    assert np.allclose(got, [4.0]) and np.allclose(got, data["findsquare_y"]), (
        f"findsquare(2): expected {data['findsquare_y']!r}, got {got!r}"
    )


def check_one_raw(c: Client, raw: bytes) -> None:
    img = np.frombuffer(raw, dtype=np.float32).reshape(1, 28, 28)
    check("tensorset one.raw", c.tensorset("img", img), "OK")
    check("tensorget one.raw meta_only", c.tensorget("img", meta_only=True),
          {"dtype": "FLOAT", "shape": [1, 28, 28]})
    check("tensorget one.raw bytes", c.tensorget("img").tobytes(), raw)
    values = c.tensorget("img", as_numpy=False)["values"]
    check("tensorget one.raw values", values, [float(v) for v in img.flat])


def check_chunks(c: Client, pt: bytes) -> None:
    chunk = len(pt) // 3
    try:
        check("config('MODEL_CHUNK_SIZE', len // 3)", c.config("MODEL_CHUNK_SIZE", chunk), "OK")
        check("modelstore chunked pt-minimal", c.modelstore("pt_chunked", "torch", "cpu", pt),
              "OK")
        chunks = c.modelget("pt_chunked")["blob"]
        check("pt-minimal chunk count", len(chunks), 4)  # 1352 bytes by 450
        check("pt-minimal chunks joined", b"".join(chunks), pt)
    finally:
        c.config("MODEL_CHUNK_SIZE", DEFAULT_CHUNK)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--testdata", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    args = parser.parse_args()
    data = {p.stem: np.load(p) for p in args.data.glob("*.npy")}
    pt = (args.testdata / "pt-minimal.pt").read_bytes()
    c = connect(args.port)
    c.flushall()
    check_pt_minimal(c, pt)
    check_onnx(c, (args.testdata / "boston.onnx").read_bytes(),
               (args.testdata / "findsquare.onnx").read_bytes(), data)
    check_one_raw(c, (args.testdata / "one.raw").read_bytes())
    check_chunks(c, pt)
    c.flushall()
    print("testdata: ok")


if __name__ == "__main__":
    main()
