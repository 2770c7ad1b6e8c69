"""The dtype table and the Tensor constructors (no server)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from tensorserve.errors import ReplyError
from tensorserve.store import TYPE_NAMES, type_name
from tensorserve.store.dtypes import DTYPES, by_numpy, lookup
from tensorserve.store.tensor import (
    BAD_BOOL,
    BAD_LENGTH,
    BAD_STRING_COUNT,
    BAD_VALUE,
    NULL_IN_STRING,
    Tensor,
)

CAP = 512 * 1024 * 1024
NUMERIC = ["FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "BOOL"]


def err(fn: object, *args: object) -> str:
    with pytest.raises(ReplyError) as e:
        fn(*args)  # type: ignore[operator]
    return e.value.message


# -- dtypes ----------------------------------------------------------------------------
def test_dtypes_table_has_redisai_types_only() -> None:
    assert list(DTYPES) == [*NUMERIC[:8], "BOOL", "STRING"]
    for name in ("UINT32", "UINT64", "FLOAT16", "INT128", "int08", ""):
        assert lookup(name) is None


def test_dtypes_lookup_is_case_insensitive() -> None:
    for name, d in DTYPES.items():
        assert lookup(name.lower()) is d
        assert lookup(name.encode()) is d
        assert lookup(name.capitalize().encode()) is d
    assert lookup(b"\xff") is None


@pytest.mark.parametrize(
    ("name", "itemsize", "npname", "torch", "onnx"),
    [
        ("FLOAT", 4, "float32", "float32", "tensor(float)"),
        ("DOUBLE", 8, "float64", "float64", "tensor(double)"),
        ("INT8", 1, "int8", "int8", "tensor(int8)"),
        ("INT16", 2, "int16", "int16", "tensor(int16)"),
        ("INT32", 4, "int32", "int32", "tensor(int32)"),
        ("INT64", 8, "int64", "int64", "tensor(int64)"),
        ("UINT8", 1, "uint8", "uint8", "tensor(uint8)"),
        ("UINT16", 2, "uint16", "uint16", "tensor(uint16)"),
        ("BOOL", 1, "bool", "bool", "tensor(bool)"),
    ],
)
def test_dtypes_columns(name: str, itemsize: int, npname: str, torch: str, onnx: str) -> None:
    d = DTYPES[name]
    assert d.itemsize == itemsize == d.numpy.itemsize
    assert d.numpy == np.dtype(npname).newbyteorder("<")
    assert (d.torch, d.onnx) == (torch, onnx)
    assert by_numpy(np.dtype(npname)) is d


def test_dtypes_integer_ranges() -> None:
    assert (DTYPES["INT8"].min, DTYPES["INT8"].max) == (-128, 127)
    assert (DTYPES["INT64"].min, DTYPES["INT64"].max) == (-(2**63), 2**63 - 1)
    assert (DTYPES["UINT16"].min, DTYPES["UINT16"].max) == (0, 65535)
    assert (DTYPES["BOOL"].min, DTYPES["BOOL"].max) == (0, 1)
    assert DTYPES["STRING"].itemsize == 1
    assert by_numpy(np.dtype(object)) is None


# -- construction ----------------------------------------------------------------------
def test_tensor_registers_type_name() -> None:
    assert TYPE_NAMES[Tensor] == "AI_TENSOR"
    assert type_name(Tensor.zeros(DTYPES["FLOAT"], (1,), CAP)) == "AI_TENSOR"


def test_tensor_from_blob_keeps_the_bytes_object() -> None:
    data = np.arange(6, dtype=np.float32).tobytes()
    t = Tensor.from_blob(DTYPES["FLOAT"], (2, 3), data)
    assert t.blob is data  # no copy in
    assert t.array.shape == (2, 3)
    assert not t.array.flags.writeable
    assert t.array.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert t.values(3) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_tensor_from_blob_length_checks() -> None:
    f = DTYPES["FLOAT"]
    assert err(Tensor.from_blob, f, (2,), b"\0" * 7) == BAD_LENGTH
    assert err(Tensor.from_blob, f, (2,), b"") == BAD_LENGTH
    assert err(Tensor.from_blob, f, (10**12, 10**12), b"\0" * 8) == BAD_LENGTH
    Tensor.from_blob(f, (), b"\0" * 4)


def test_tensor_bool_blob_bytes_must_be_0_or_1() -> None:
    b = DTYPES["BOOL"]
    assert err(Tensor.from_blob, b, (2,), b"\x02\x01") == BAD_BOOL
    assert err(Tensor.from_blob, b, (2,), b"\x01\x02") == BAD_BOOL  # last byte too
    t = Tensor.from_blob(b, (3,), b"\x01\x00\x01")
    assert t.array.dtype == np.bool_
    assert t.values(2) == [1, 0, 1]
    assert all(type(v) is int for v in t.values(3))


def test_tensor_string_blob() -> None:
    s = DTYPES["STRING"]
    t = Tensor.from_blob(s, (2, 2), b"a\0bc\0\0d\0")
    assert t.values(2) == [b"a", b"bc", b"", b"d"]
    assert t.array.shape == (2, 2)
    for bad in (b"one\0", b"one\0two\0three\0", b"a\0b", b""):
        assert err(Tensor.from_blob, s, (2,), bad) == BAD_STRING_COUNT


def test_tensor_string_values() -> None:
    s = DTYPES["STRING"]
    t = Tensor.from_values(s, (3,), [b"a", b"b\0", b""], CAP)
    assert t.blob == b"a\0b\0\0"
    assert t.values(3) == [b"a", b"b", b""]
    assert err(Tensor.from_values, s, (1,), [b"a\0b"], CAP) == NULL_IN_STRING
    assert err(Tensor.from_values, s, (1,), [b"a\0\0"], CAP) == NULL_IN_STRING


def test_tensor_float_values_parse_like_strtod() -> None:
    f = DTYPES["DOUBLE"]
    good = [b"1", b"-2.5", b"1e3", b"+4", b".5", b"inf", b"-Infinity", b"1E-2", b"0e999",
            b"-0.0", b"00.000e-5"]
    t = Tensor.from_values(f, (len(good),), good, CAP)
    assert t.values(3) == [1.0, -2.5, 1000.0, 4.0, 0.5, float("inf"), float("-inf"), 0.01,
                           0.0, -0.0, 0.0]
    for bad in (b"A", b"nan", b" 1", b"1 ", b"1_0", b"", b"1e400", b"1e-400", b"-0.001e-999", b"0x", b"--1", b"1.2.3"):
        assert err(Tensor.from_values, f, (1,), [bad], CAP) == BAD_VALUE, bad


def test_tensor_float32_values_resp2_17g() -> None:
    t = Tensor.from_values(DTYPES["FLOAT"], (3,), [b"1", b"0.1", b"1e39"], CAP)
    assert t.values(2) == [b"1", b"0.10000000149011612", b"inf"]
    assert t.values(3)[1] == float(np.float32(0.1))


@pytest.mark.parametrize("name", ["INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16"])
def test_tensor_int_values_range(name: str) -> None:
    d = DTYPES[name]
    t = Tensor.from_values(d, (2,), [str(d.min).encode(), str(d.max).encode()], CAP)
    assert t.values(2) == [d.min, d.max]
    assert t.blob == np.array([d.min, d.max], dtype=d.numpy).tobytes()
    for bad in (d.min - 1, d.max + 1):
        assert err(Tensor.from_values, d, (1,), [str(bad).encode()], CAP) == BAD_VALUE


def test_tensor_negative_signed_values_accepted() -> None:
    # The deliberate difference from RedisAI (REDISAI.md): negatives are stored.
    t = Tensor.from_values(DTYPES["INT8"], (2,), [b"-1", b"-128"], CAP)
    assert t.values(2) == [-1, -128]


def test_tensor_int_values_strict_like_string2ll() -> None:
    d = DTYPES["INT64"]
    for bad in (b"1.87", b"01", b"-0", b"+1", b" 1", b"1_0", b"", b"-", b"1-2", b"--1",
                b"9223372036854775808", b"a"):
        assert err(Tensor.from_values, d, (1,), [bad], CAP) == BAD_VALUE, bad
    assert Tensor.from_values(d, (2,), [b"0", b"-10"], CAP).values(2) == [0, -10]


def test_tensor_bool_values() -> None:
    b = DTYPES["BOOL"]
    assert Tensor.from_values(b, (2,), [b"1", b"0"], CAP).blob == b"\x01\x00"
    assert err(Tensor.from_values, b, (2,), [b"1", b"2"], CAP) == BAD_VALUE
    assert err(Tensor.from_values, b, (1,), [b"-1"], CAP) == BAD_VALUE


@pytest.mark.parametrize("name", [*NUMERIC, "STRING"])
def test_tensor_zeros(name: str) -> None:
    d = DTYPES[name]
    t = Tensor.zeros(d, (2, 3), CAP)
    assert t.array.shape == (2, 3)
    if name == "STRING":
        assert t.blob == b"\0" * 6
        assert t.values(2) == [b""] * 6
    else:
        assert t.blob == bytes(6 * d.itemsize)
        assert t.values(2) == ([b"0"] * 6 if d.kind == "float" else [0] * 6)


def test_tensor_zero_d_scalar() -> None:
    t = Tensor.from_values(DTYPES["INT32"], (), [b"7"], CAP)
    assert t.shape == ()
    assert t.array.shape == ()
    assert t.values(2) == [7]
    assert t.blob == b"\x07\0\0\0"


def test_tensor_huge_shape_refused_before_allocating() -> None:
    msg = err(Tensor.zeros, DTYPES["DOUBLE"], (10**9, 10**9), CAP)
    assert "exceeds proto-max-bulk-len" in msg
    assert "exceeds proto-max-bulk-len" in err(Tensor.zeros, DTYPES["UINT8"], (101,), 100)
    Tensor.zeros(DTYPES["UINT8"], (100,), 100)


def test_tensor_is_frozen_and_shared_by_copy() -> None:
    t = Tensor.zeros(DTYPES["FLOAT"], (2,), CAP)
    with pytest.raises(AttributeError):
        t.shape = (3,)  # type: ignore[misc]
    assert copy.copy(t) is t
    assert copy.deepcopy(t) is t
    assert not hasattr(t, "__dict__")
