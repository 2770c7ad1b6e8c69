"""redisai-py 1.3.0 tensors: tensorset/tensorget for every RedisAI dtype, errors.

Every dtype goes in as a numpy array (BLOB) and as a list with shape and dtype (VALUES),
and comes back as numpy (``META BLOB``), as values (``as_numpy=False``: ``META VALUES``)
and as meta only. Both of redis-py 4's reply parsers are used.

Usage: scenario_tensors.py --port N
"""

from __future__ import annotations

from typing import Any

import numpy as np
from _common import arguments, check, connect, expect_error
from redisai import Client

# RedisAI dtype -> (numpy dtype redisai-py maps to it, dtype name redisai-py takes with lists)
DTYPES: dict[str, tuple[str, str]] = {
    "FLOAT": ("float32", "float"), "DOUBLE": ("float64", "double"), "INT8": ("int8", "int8"),
    "INT16": ("int16", "int16"), "INT32": ("int32", "int32"), "INT64": ("int64", "int64"),
    "UINT8": ("uint8", "uint8"), "UINT16": ("uint16", "uint16"), "BOOL": ("bool", "bool"),
}
# Six values each, the extremes included; negative ints are accepted by tensorserve
# (REDISAI.md: a deliberate difference from RedisAI's range-check bug).
SAMPLES: dict[str, list[Any]] = {
    "FLOAT": [1.5, -2.0, 0.1, 3e38, 0.0, -1e-30],
    "DOUBLE": [1.5, -2.0, 0.1, 1e300, 0.0, -5e-324],
    "INT8": [-128, 127, 0, -1, 5, 6],
    "INT16": [-32768, 32767, 1, -1, 5, 6],
    "INT32": [-(2**31), 2**31 - 1, 5, -5, 0, 1],
    "INT64": [-(2**63), 2**63 - 1, 7, -7, 0, 1],
    "UINT8": [0, 255, 1, 2, 3, 4],
    "UINT16": [0, 65535, 3, 4, 5, 6],
    "BOOL": [1, 0, 0, 1, 1, 0],
}
STRINGS = [["a", "bc", ""], ["d\u00e9f", "x y", "z"]]  # empty, non-ASCII and a space


def _values(arr: np.ndarray) -> list[Any]:
    """What tensorget(as_numpy=False) gives: float() for FLOAT/DOUBLE, int() otherwise."""
    if arr.dtype.kind == "f":
        return [float(v) for v in arr.flat]
    return [int(v) for v in arr.flat]


def check_numeric(c: Client, rai: str) -> None:
    npdtype, listdtype = DTYPES[rai]
    arr = np.array(SAMPLES[rai], dtype=npdtype).reshape(2, 3)
    check(f"tensorset numpy {npdtype}", c.tensorset("t", arr), "OK")
    got = c.tensorget("t")
    assert isinstance(got, np.ndarray), f"tensorget {rai}: not an ndarray: {got!r}"
    check(f"tensorget {rai} dtype", got.dtype, arr.dtype)
    check(f"tensorget {rai} shape", got.shape, (2, 3))
    check(f"tensorget {rai} bytes", got.tobytes(), arr.tobytes())
    check(f"tensorget {rai} meta_only", c.tensorget("t", meta_only=True),
          {"dtype": rai, "shape": [2, 3]})
    check(f"tensorget {rai} as_numpy=False", c.tensorget("t", as_numpy=False),
          {"dtype": rai, "shape": [2, 3], "values": _values(arr)})

    check(f"tensorset list {listdtype}",
          c.tensorset("l", SAMPLES[rai], shape=(2, 3), dtype=listdtype), "OK")
    check(f"tensorget list {rai} bytes", c.tensorget("l").tobytes(), arr.tobytes())
    check(f"tensorget list {rai} as_numpy=False", c.tensorget("l", as_numpy=False),
          {"dtype": rai, "shape": [2, 3], "values": _values(arr)})
    # A tuple without a shape is one-dimensional; numpy-style dtype names work too.
    check(f"tensorset tuple {npdtype}", c.tensorset("l1", tuple(SAMPLES[rai]), dtype=npdtype),
          "OK")
    check(f"tensorget tuple {rai} meta_only", c.tensorget("l1", meta_only=True),
          {"dtype": rai, "shape": [6]})
    check(f"tensorget tuple {rai}", c.tensorget("l1").tobytes(), arr.tobytes())


def check_strings(c: Client) -> None:
    arr = np.array(STRINGS)
    check("tensorset numpy str", c.tensorset("s", arr), "OK")
    got = c.tensorget("s")
    check("tensorget STRING (numpy)", got.tolist(), STRINGS)
    check("tensorget STRING meta_only", c.tensorget("s", meta_only=True),
          {"dtype": "STRING", "shape": [2, 3]})
    flat = [v for row in STRINGS for v in row]
    check("tensorget STRING as_numpy=False", c.tensorget("s", as_numpy=False),
          {"dtype": "STRING", "shape": [2, 3], "values": flat})
    check("tensorset list str", c.tensorset("sl", flat, shape=(2, 3), dtype="str"), "OK")
    check("tensorget list STRING", c.tensorget("sl").tolist(), STRINGS)
    check("tensorget list STRING as_numpy=False", c.tensorget("sl", as_numpy=False)["values"],
          flat)


def check_shapes(c: Client) -> None:
    scalar = np.array(2.5, dtype=np.float64)
    check("tensorset 0-d", c.tensorset("scalar", scalar), "OK")
    check("tensorget 0-d meta_only", c.tensorget("scalar", meta_only=True),
          {"dtype": "DOUBLE", "shape": []})
    got = c.tensorget("scalar")
    check("tensorget 0-d", (got.shape, float(got)), ((), 2.5))
    big = np.arange(1 << 20, dtype=np.float32).reshape(1024, 1024)  # 4 MB
    check("tensorset 4 MB", c.tensorset("big", big), "OK")
    check("tensorget 4 MB", c.tensorget("big").tobytes(), big.tobytes())
    high = np.arange(2 * 3 * 4 * 5, dtype=np.int16).reshape(2, 3, 4, 5)
    check("tensorset 4-d", c.tensorset("high", high), "OK")
    assert np.array_equal(c.tensorget("high"), high), "tensorget 4-d: values differ"


def check_errors(c: Client) -> None:
    """The ResponseError texts of REDISAI.md 1.3, as redisai-py users see them."""
    # redisai-py maps uint32/uint64 to UINT32/UINT64, which RedisAI has not.
    expect_error("invalid data type", c.tensorset, "bad", np.zeros(3, dtype=np.uint32))
    expect_error("invalid data type", c.tensorset, "bad", [1, 2], dtype="uint64")
    expect_error("tensor key is empty or in a different shard", c.tensorget, "missing")
    expect_error("tensor key is empty or in a different shard", c.tensorget, "missing",
                 meta_only=True)
    expect_error("wrong number of values was given in 'AI.TENSORSET' command",
                 c.tensorset, "bad", [1, 2], shape=(3,), dtype="float")
    expect_error("invalid value", c.tensorset, "bad", [256], dtype="uint8")
    expect_error("invalid value", c.tensorset, "bad", [2], dtype="bool")
    expect_error("invalid or negative value found in tensor shape",
                 c.tensorset, "bad", [], shape=(0,), dtype="float")
    c.set("plain", "x")
    wrongtype = "WRONGTYPE Operation against a key holding the wrong kind of value"
    expect_error(wrongtype, c.tensorget, "plain")
    expect_error(wrongtype, c.tensorset, "plain", np.zeros(2, dtype=np.float32))
    check("exists bad", c.exists("bad"), 0)


def main() -> None:
    args = arguments(__doc__).parse_args()
    for parser in ("hiredis", "python"):
        c = connect(args.port, parser)
        c.flushall()
        for rai in DTYPES:
            check_numeric(c, rai)
        check_strings(c)
        check_shapes(c)
        check_errors(c)
        c.flushall()
        c.close()
    print("tensors: ok")


if __name__ == "__main__":
    main()
