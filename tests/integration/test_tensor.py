"""AI.TENSORSET / AI.TENSORGET against RedisAI 1.2's replies and exact error texts.

Expectations come from ../shared/REDISAI.md (1.2, 1.3) and RedisAI's own flow tests
(tests/flow/tests_common.py): redis-py strips a leading ``ERR `` from ``str(exc)``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import redis

from ..helpers import RawClient

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

# RedisAI type name -> numpy dtype of its blob (what redisai-py uses).
NUMPY = {
    "FLOAT": np.float32, "DOUBLE": np.float64, "INT8": np.int8, "INT16": np.int16,
    "INT32": np.int32, "INT64": np.int64, "UINT8": np.uint8, "UINT16": np.uint16,
    "BOOL": np.bool_,
}
SAMPLES: dict[str, list[Any]] = {
    "FLOAT": [1.5, -2.0, 0.1, 3e38], "DOUBLE": [1.5, -2.0, 0.1, 1e300],
    "INT8": [-128, 127, 0, -1], "INT16": [-32768, 32767, 1, -1],
    "INT32": [-(2**31), 2**31 - 1, 5, -5], "INT64": [-(2**63), 2**63 - 1, 7, -7],
    "UINT8": [0, 255, 1, 2], "UINT16": [0, 65535, 3, 4], "BOOL": [1, 0, 0, 1],
}


def _err(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def _ok(reply: Any) -> bool:
    return reply in (b"OK", "OK", True)


def _meta(reply: Any, resp: int) -> dict[bytes, Any]:
    """A META-style reply as a dict: a RESP3 map, or RedisAI's flat RESP2 array."""
    if resp == 3:
        assert isinstance(reply, dict), reply
        return reply
    assert isinstance(reply, list), reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _expected_values(dtype: str, values: list[Any], resp: int) -> list[Any]:
    if dtype in ("FLOAT", "DOUBLE"):
        doubles = np.array(values, dtype=NUMPY[dtype]).astype(np.float64).tolist()
        return doubles if resp == 3 else [b"%.17g" % v for v in doubles]
    return [int(v) for v in values]


# -- round trips -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", list(NUMPY))
def test_tensor_blob_round_trip(r: redis.Redis, resp: int, dtype: str) -> None:
    arr: np.ndarray = np.array(SAMPLES[dtype], dtype=NUMPY[dtype]).reshape(2, 2)
    assert _ok(r.execute_command("AI.TENSORSET", "t", dtype, 2, 2, "BLOB", arr.tobytes()))
    meta = _meta(r.execute_command("AI.TENSORGET", "t", "META", "BLOB"), resp)
    assert meta == {b"dtype": dtype.encode(), b"shape": [2, 2], b"blob": arr.tobytes()}
    assert r.execute_command("AI.TENSORGET", "t", "BLOB") == arr.tobytes()
    blob = r.execute_command("AI.TENSORGET", "t", "BLOB")
    got: np.ndarray = np.frombuffer(blob, dtype=NUMPY[dtype])
    assert (got.reshape(2, 2) == arr).all()
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == _expected_values(
        dtype, SAMPLES[dtype], resp
    )


@pytest.mark.parametrize("dtype", list(NUMPY))
def test_tensor_values_round_trip(r: redis.Redis, resp: int, dtype: str) -> None:
    vals = SAMPLES[dtype]
    assert _ok(r.execute_command("AI.TENSORSET", "t", dtype, 4, "VALUES", *vals))
    meta = _meta(r.execute_command("AI.TENSORGET", "t", "META", "VALUES"), resp)
    assert meta == {
        b"dtype": dtype.encode(),
        b"shape": [4],
        b"values": _expected_values(dtype, vals, resp),
    }
    blob = r.execute_command("AI.TENSORGET", "t", "BLOB")
    assert blob == np.array(vals, dtype=NUMPY[dtype]).tobytes()
    # The blob sets an equal tensor (RedisAI's test_common_tensorset).
    assert _ok(r.execute_command("AI.TENSORSET", "t2", dtype, 4, "BLOB", blob))
    for fmt in ("META", "VALUES", "BLOB"):
        assert (r.execute_command("AI.TENSORGET", "t", fmt)
                == r.execute_command("AI.TENSORGET", "t2", fmt))


def test_tensor_redisai_float_values_text(r: redis.Redis, resp: int) -> None:
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, "0.1")
    values = r.execute_command("AI.TENSORGET", "t", "VALUES")
    if resp == 2:
        assert values == [b"1", b"0.10000000149011612"]
    else:
        assert values == [1.0, 0.10000000149011612]


def test_tensor_type_names_any_case(r: redis.Redis, resp: int) -> None:
    for spelling in ("float", "Float", "int8", "uInt16", "bool", "string"):
        assert _ok(r.execute_command("AI.TENSORSET", "t", spelling, 1))
        meta = _meta(r.execute_command("AI.TENSORGET", "t", "META"), resp)
        assert meta[b"dtype"] == spelling.upper().encode()


def test_tensor_string_values_and_blob(r: redis.Redis, resp: int) -> None:
    assert _ok(r.execute_command("AI.TENSORSET", "s", "STRING", 2, "VALUES",
                                 "str_val1", b"str_val2\0"))
    assert r.execute_command("AI.TENSORGET", "s", "VALUES") == [b"str_val1", b"str_val2"]
    assert r.execute_command("AI.TENSORGET", "s", "BLOB") == b"str_val1\0str_val2\0"
    assert _ok(r.execute_command("AI.TENSORSET", "s", "STRING", 2, 2, "BLOB",
                                 b"str11\0str12\0str21\0str22\0"))
    meta = _meta(r.execute_command("AI.TENSORGET", "s", "META", "VALUES"), resp)
    assert meta == {b"dtype": b"STRING", b"shape": [2, 2],
                    b"values": [b"str11", b"str12", b"str21", b"str22"]}
    hebrew = "\u05e2\u05d1\u05e8\u05d9\u05ea"
    r.execute_command("AI.TENSORSET", "u", "STRING", 2, "BLOB", f"english\0{hebrew}\0".encode())
    assert r.execute_command("AI.TENSORGET", "u", "VALUES")[1].decode() == hebrew


def test_tensor_zero_filled(r: redis.Redis, resp: int) -> None:
    for dtype, np_type in NUMPY.items():
        assert _ok(r.execute_command("AI.TENSORSET", "z", dtype, 2, 3))
        assert r.execute_command("AI.TENSORGET", "z", "BLOB") == np.zeros(6, np_type).tobytes()
        assert r.execute_command("AI.TENSORGET", "z", "VALUES") == _expected_values(
            dtype, [0] * 6, resp
        )
    r.execute_command("AI.TENSORSET", "z", "STRING", 2)
    meta = _meta(r.execute_command("AI.TENSORGET", "z", "META", "VALUES"), resp)
    assert meta == {b"dtype": b"STRING", b"shape": [2], b"values": [b"", b""]}
    assert r.execute_command("AI.TENSORGET", "z", "BLOB") == b"\0\0"


def test_tensor_zero_d_scalar(r: redis.Redis, resp: int) -> None:
    assert _ok(r.execute_command("AI.TENSORSET", "s", "FLOAT", "VALUES", 2))
    meta = _meta(r.execute_command("AI.TENSORGET", "s"), resp)
    assert meta == {b"dtype": b"FLOAT", b"shape": [],
                    b"blob": np.float32(2).tobytes()}
    assert r.execute_command("AI.TENSORGET", "s", "VALUES") == ([2.0] if resp == 3 else [b"2"])
    assert _ok(r.execute_command("AI.TENSORSET", "s", "INT64", "BLOB", b"\1" + b"\0" * 7))
    assert r.execute_command("AI.TENSORGET", "s", "VALUES") == [1]
    # A zero-filled scalar cannot be written: argc < 4 is an arity error in RedisAI.
    assert _err(r, "AI.TENSORSET", "s", "INT16") == (
        "wrong number of arguments for 'AI.TENSORSET' command"
    )


def test_tensor_negative_signed_values_accepted(r: redis.Redis) -> None:
    # The deliberate difference (REDISAI.md): RedisAI refuses these with "invalid value".
    assert _ok(r.execute_command("AI.TENSORSET", "t", "INT8", 2, "VALUES", -1, -128))
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == [-1, -128]


def test_tensor_overwrite_replaces(r: redis.Redis) -> None:
    r.execute_command("AI.TENSORSET", "t", "INT8", 1, "VALUES", 1)
    r.execute_command("AI.TENSORSET", "t", "DOUBLE", 1, 1, "VALUES", 2)
    assert r.execute_command("AI.TENSORGET", "t", "BLOB") == np.float64(2).tobytes()


# -- TENSORGET formats -----------------------------------------------------------------
@pytest.mark.parametrize(
    "tokens",
    [p for n in (1, 2) for c in itertools.combinations(["META", "BLOB", "VALUES"], n)
     if not ("BLOB" in c and "VALUES" in c) for p in itertools.permutations(c)]
    + [("meta", "meta"), ("blob", "Blob"), ("Values",), ("values", "META")],
)
def test_tensorget_format_combinations(r: redis.Redis, resp: int, tokens: tuple[str, ...]
                                       ) -> None:
    r.execute_command("AI.TENSORSET", "t", "INT32", 2, "VALUES", 3, -4)
    blob = np.array([3, -4], dtype=np.int32).tobytes()
    reply = r.execute_command("AI.TENSORGET", "t", *tokens)
    upper = {t.upper() for t in tokens}
    if "META" not in upper:
        assert reply == (blob if "BLOB" in upper else [3, -4])
        return
    expected: dict[bytes, Any] = {b"dtype": b"INT32", b"shape": [2]}
    if "BLOB" in upper:
        expected[b"blob"] = blob
    elif "VALUES" in upper:
        expected[b"values"] = [3, -4]
    meta = _meta(reply, resp)
    assert meta == expected
    if resp == 2:  # RedisAI's flat array, in its order
        assert reply[:4] == [b"dtype", b"INT32", b"shape", [2]]


def test_tensorget_default_is_meta_blob(r: redis.Redis, resp: int) -> None:
    r.execute_command("AI.TENSORSET", "t", "UINT8", 3, "VALUES", 1, 2, 3)
    assert (r.execute_command("AI.TENSORGET", "t")
            == r.execute_command("AI.TENSORGET", "t", "META", "BLOB"))
    reply = r.execute_command("AI.TENSORGET", "t")
    if resp == 2:
        assert reply == [b"dtype", b"UINT8", b"shape", [3], b"blob", b"\1\2\3"]
    else:
        assert reply == {b"dtype": b"UINT8", b"shape": [3], b"blob": b"\1\2\3"}


def test_tensorget_raw_wire_shapes(raw: Callable[[], RawClient]) -> None:
    c = raw()
    assert c.command("AI.TENSORSET", "t", "DOUBLE", 2, "VALUES", "1.5", "0.25") == b"OK"
    c.send(b"*3\r\n$12\r\nAI.TENSORGET\r\n$1\r\nt\r\n$4\r\nMETA\r\n")
    assert c.read() == [b"dtype", b"DOUBLE", b"shape", [2]]
    assert c.command("AI.TENSORGET", "t", "VALUES") == [b"1.5", b"0.25"]
    c3 = raw()
    c3.command("HELLO", "3")
    assert c3.command("AI.TENSORGET", "t", "META") == {b"dtype": b"DOUBLE", b"shape": [2]}
    assert c3.command("AI.TENSORGET", "t", "VALUES") == [1.5, 0.25]
    # Exact bytes: bulk-string keys, integer dims, RESP3 map and doubles.
    c.send(b"*4\r\n$12\r\nAI.TENSORGET\r\n$1\r\nt\r\n$4\r\nMETA\r\n$6\r\nVALUES\r\n")
    c.sock.settimeout(5)
    want2 = (b"*6\r\n$5\r\ndtype\r\n$6\r\nDOUBLE\r\n$5\r\nshape\r\n*1\r\n:2\r\n"
             b"$6\r\nvalues\r\n*2\r\n$3\r\n1.5\r\n$4\r\n0.25\r\n")
    got = b""
    while len(got) < len(want2):
        got += c.sock.recv(65536)
    assert got == want2
    c3.send(b"*4\r\n$12\r\nai.tensorget\r\n$1\r\nt\r\n$4\r\nmeta\r\n$6\r\nvalues\r\n")
    want3 = (b"%3\r\n$5\r\ndtype\r\n$6\r\nDOUBLE\r\n$5\r\nshape\r\n*1\r\n:2\r\n"
             b"$6\r\nvalues\r\n*2\r\n,1.5\r\n,0.25\r\n")
    got = b""
    while len(got) < len(want3):
        got += c3.sock.recv(65536)
    assert got == want3


def test_tensor_large_float_round_trip(r: redis.Redis, resp: int) -> None:
    arr = np.random.default_rng(1).standard_normal(256 * 1024).astype(np.float32)  # 1 MB
    assert _ok(r.execute_command("AI.TENSORSET", "big", "FLOAT", 512, 512, "BLOB",
                                 arr.tobytes()))
    assert r.execute_command("AI.TENSORGET", "big", "BLOB") == arr.tobytes()
    meta = _meta(r.execute_command("AI.TENSORGET", "big", "META", "BLOB"), resp)
    assert meta[b"shape"] == [512, 512]
    assert np.array_equal(np.frombuffer(meta[b"blob"], np.float32), arr)
    values = r.execute_command("AI.TENSORGET", "big", "VALUES")
    assert len(values) == arr.size
    assert float(values[12345]) == float(arr[12345])


def test_tensor_large_values_set(r: redis.Redis) -> None:
    vals = list(range(-5000, 5000))
    assert _ok(r.execute_command("AI.TENSORSET", "t", "INT16", 100, 100, "VALUES", *vals))
    assert r.execute_command("AI.TENSORGET", "t", "VALUES") == vals


# -- errors ----------------------------------------------------------------------------
def test_tensorset_arity_echoes_the_name_as_typed(r: redis.Redis) -> None:
    for args in (("AI.TENSORSET",), ("AI.TENSORSET", "z"), ("AI.TENSORSET", "z", "FLOAT")):
        assert _err(r, *args) == "wrong number of arguments for 'AI.TENSORSET' command"
    assert _err(r, "ai.tensorset", "z") == "wrong number of arguments for 'ai.tensorset' command"


def test_tensorget_arity_echoes_the_name_as_typed(r: redis.Redis) -> None:
    assert _err(r, "AI.TENSORGET") == "wrong number of arguments for 'AI.TENSORGET' command"
    assert _err(r, "AI.TENSORGET", "t", "META", "VALUES", "extra-arg") == (
        "wrong number of arguments for 'AI.TENSORGET' command"
    )
    assert _err(r, "AI.TENSORGET", "t", "META", "BLOB", "META") == (
        "wrong number of arguments for 'AI.TENSORGET' command"
    )
    assert _err(r, "Ai.TensorGet") == "wrong number of arguments for 'Ai.TensorGet' command"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("z", "INT128", 2, "VALUES", 2, 3), "invalid data type"),
        (("z", "UINT32", 1), "invalid data type"),
        (("z", "INT32", -1, "VALUES", 2, 3), "invalid or negative value found in tensor shape"),
        (("z", "INT32", 0), "invalid or negative value found in tensor shape"),
        (("z", "INT32", 2, "not_a_number", "VALUES", 2, 3),
         "invalid or negative value found in tensor shape"),
        (("z", "INT32", "02"), "invalid or negative value found in tensor shape"),
        (("z", "INT32", 2**63), "invalid or negative value found in tensor shape"),
        (("z", "FLOAT", 2, "VALUES", 2, "A"), "invalid value"),
        (("z", "INT32", 2, "VALUES", 2, "1.87"), "invalid value"),
        (("z", "BOOL", 2, "VALUES", 1, 2), "invalid value"),
        (("z", "UINT8", 1, "VALUES", 256), "invalid value"),
        (("z", "UINT8", 1, "VALUES", -1), "invalid value"),
        (("z", "INT8", 1, "VALUES", -129), "invalid value"),
        (("z", "INT64", 1, "VALUES", 2**63), "invalid value"),
        (("z", "DOUBLE", 1, "VALUES", "nan"), "invalid value"),
        (("z", "STRING", 2, "VALUES", "valid C-string", b"invalid\0C-string"),
         "C-string value contains null character"),
        (("z", "FLOAT", 2, "VALUES", 1), "wrong number of values was given in 'AI.TENSORSET' command"),
        (("z", "FLOAT", 2, "VALUES", 1, 2, 3),
         "wrong number of values was given in 'AI.TENSORSET' command"),
        (("z", "FLOAT", 2, "VALUES"), "wrong number of values was given in 'AI.TENSORSET' command"),
        (("z", "FLOAT", 2, "BLOB", b"\0", "extra-argument"),
         "a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"),
        (("z", "FLOAT", 2, "BLOB"),
         "a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"),
        (("z", "FLOAT", 1, 1, 28, 280, "BLOB", b"\0" * 3136),
         "data length does not match tensor shape and type"),
        (("z", "STRING", 2, "BLOB", b"single c-string\0"),
         "Number of string elements in data blob does not match tensor length"),
        (("z", "STRING", 2, "BLOB", b"one\0two\0three\0"),
         "Number of string elements in data blob does not match tensor length"),
        (("z", "STRING", 2, "BLOB", b"C-string\0followed by a non C-string"),
         "Number of string elements in data blob does not match tensor length"),
        (("z", "BOOL", 2, "BLOB", b"\x02\x01"), "BOOL tensor elements must be 0 or 1"),
    ],
)
def test_tensorset_error_texts(r: redis.Redis, args: tuple[Any, ...], message: str) -> None:
    assert _err(r, "AI.TENSORSET", *args) == message
    assert r.exists("z") == 0


def test_tensorset_first_error_wins(r: redis.Redis) -> None:
    # Type before dims, dims left to right before the data section.
    assert _err(r, "AI.TENSORSET", "z", "BAD", -1) == "invalid data type"
    assert _err(r, "AI.TENSORSET", "z", "FLOAT", -1, "BLOB") == (
        "invalid or negative value found in tensor shape"
    )
    assert _err(r, "AI.TENSORSET", "z", "FLOAT", 2, "VALUES", 1, 2, "x") == (
        "wrong number of values was given in 'AI.TENSORSET' command"
    )


def test_tensorget_error_texts(r: redis.Redis) -> None:
    assert _err(r, "AI.TENSORGET", "empty") == "tensor key is empty or in a different shard"
    assert _err(r, "AI.TENSORGET", "empty", "junk") == (
        "tensor key is empty or in a different shard"
    )
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 1, 1)
    assert _err(r, "AI.TENSORGET", "t", "unsupported_format") == "unsupported data format"
    assert _err(r, "AI.TENSORGET", "t", "BLOB", "VALUES") == "both BLOB and VALUES specified"
    assert _err(r, "AI.TENSORGET", "t", "values", "blob") == "both BLOB and VALUES specified"
    assert _err(r, "AI.TENSORGET", "t", "BLOB", "junk") == "unsupported data format"


def test_tensor_wrongtype_both_ways(r: redis.Redis) -> None:
    r.set("s", "value")
    # The key type is checked before any argument is parsed.
    assert _err(r, "AI.TENSORSET", "s", "INT32", 2, "unsupported", 2, 3) == WRONGTYPE
    assert _err(r, "AI.TENSORSET", "s", "FLOAT", 1) == WRONGTYPE
    assert _err(r, "AI.TENSORGET", "s", "unsupported") == WRONGTYPE
    assert _err(r, "AI.TENSORGET", "s") == WRONGTYPE
    r.rpush("l", "a")
    assert _err(r, "AI.TENSORSET", "l", "FLOAT", 1) == WRONGTYPE
    r.execute_command("AI.TENSORSET", "t", "FLOAT", 1)
    assert _err(r, "GET", "t") == WRONGTYPE
    assert _err(r, "LPUSH", "t", "a") == WRONGTYPE
    assert _err(r, "HGET", "t", "a") == WRONGTYPE
    assert r.get("s") == b"value"
    # SET replaces a tensor like any value.
    assert r.set("t", "x")
    assert r.get("t") == b"x"


# -- keyspace --------------------------------------------------------------------------
def test_tensor_type_and_keyspace_commands(r: redis.Redis) -> None:
    r.execute_command("AI.TENSORSET", "t", "INT8", 2, "VALUES", 1, 2)
    assert r.type("t") in (b"AI_TENSOR", "AI_TENSOR")
    assert r.exists("t") == 1
    assert r.rename("t", "u")
    assert r.exists("t") == 0
    assert r.execute_command("AI.TENSORGET", "u", "VALUES") == [1, 2]
    assert r.copy("u", "v")
    assert r.execute_command("AI.TENSORGET", "v", "VALUES") == [1, 2]
    assert set(r.scan_iter(_type="AI_TENSOR")) == {b"u", b"v"}
    assert r.expire("u", 100)
    assert 0 < r.ttl("u") <= 100
    assert r.pexpire("v", 1)
    time.sleep(0.05)
    assert r.exists("v") == 0
    assert _err(r, "AI.TENSORGET", "v") == "tensor key is empty or in a different shard"
    # TENSORSET drops a TTL, as RedisAI's ModuleTypeSetValue does.
    r.execute_command("AI.TENSORSET", "u", "INT8", 1)
    assert r.ttl("u") == -1
    assert r.delete("u") == 1
    assert r.exists("u") == 0
    assert r.dbsize() == 0


def test_tensor_inside_multi(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.execute_command("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 5)
    pipe.execute_command("AI.TENSORGET", "t", "VALUES")
    out = pipe.execute()
    assert _ok(out[0])
    assert out[1] in ([b"5"], [5.0])


def test_tensor_command_info(r: redis.Redis) -> None:
    info = r.execute_command("COMMAND", "INFO", "ai.tensorset", "ai.tensorget")
    assert info is not None and len(info) == 2


def test_tensor_huge_shape_refused_server_responsive(r: redis.Redis) -> None:
    t0 = time.monotonic()
    msg = _err(r, "AI.TENSORSET", "h", "DOUBLE", 100000, 100000, 100000)
    assert "exceeds proto-max-bulk-len" in msg
    msg = _err(r, "AI.TENSORSET", "h", "STRING", 10**18)
    assert "exceeds proto-max-bulk-len" in msg
    # With data the shape must match what was sent: no allocation either way.
    assert _err(r, "AI.TENSORSET", "h", "FLOAT", 10**9, 10**9, "BLOB", b"\0" * 4) == (
        "data length does not match tensor shape and type"
    )
    assert _err(r, "AI.TENSORSET", "h", "FLOAT", 10**9, 10**9, "VALUES", 1) == (
        "wrong number of values was given in 'AI.TENSORSET' command"
    )
    assert time.monotonic() - t0 < 5
    assert r.ping()
    assert r.exists("h") == 0


def test_tensor_cap_follows_proto_max_bulk_len(start_server: Callable[..., Any]) -> None:
    srv = start_server("--proto-max-bulk-len", "1mb")
    c = redis.Redis(port=srv.port)
    try:
        assert _ok(c.execute_command("AI.TENSORSET", "t", "UINT8", 1024, 1024))
        assert "exceeds proto-max-bulk-len" in _err(c, "AI.TENSORSET", "t", "UINT8", 1024, 1025)
        # Another client stays served while the refusals happen.
        results: list[Any] = []
        th = threading.Thread(target=lambda: results.append(redis.Redis(port=srv.port).ping()))
        th.start()
        th.join(5)
        assert results == [True]
    finally:
        c.close()
