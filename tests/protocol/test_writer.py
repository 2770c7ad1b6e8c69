"""Reply encoding: every type of the table in tensorserve/protocol/_writer.py, RESP2 and RESP3.

Exact bytes are asserted, and where hiredis can read the reply back the value is
round-tripped through hiredis.Reader (which understands both RESP versions).
"""

from __future__ import annotations

import enum
import math
from typing import Any

import hiredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.errors import ReplyError, WrongTypeError
from tensorserve.protocol import (
    NULL_ARRAY,
    OK,
    QUEUED,
    Push,
    Raw,
    Replies,
    Verbatim,
    encode,
    encode_bytes,
    encoder_for,
    format_double,
)

BIG = 16 * 1024
_NEED_DATA = object()


def parse_all(data: bytes) -> list[Any]:
    """Every reply in ``data`` as hiredis reads it; the data must be whole replies."""
    reader = hiredis.Reader(notEnoughData=_NEED_DATA)  # False is a reply (#f) here
    reader.feed(data)
    out = []
    while (reply := reader.gets()) is not _NEED_DATA:
        out.append(reply)
    assert not reader.has_data()
    return out


def roundtrip(value: Any, proto: int) -> Any:
    replies = parse_all(encode_bytes(value, proto))
    assert len(replies) == 1
    return replies[0]


# --- exact wire forms --------------------------------------------------------------------

CASES: list[tuple[Any, bytes, bytes]] = [  # value, RESP3, RESP2
    (b"abc", b"$3\r\nabc\r\n", b"$3\r\nabc\r\n"),
    (b"", b"$0\r\n\r\n", b"$0\r\n\r\n"),
    (b"a\r\nb", b"$4\r\na\r\nb\r\n", b"$4\r\na\r\nb\r\n"),
    (bytearray(b"xy"), b"$2\r\nxy\r\n", b"$2\r\nxy\r\n"),
    ("OK", b"+OK\r\n", b"+OK\r\n"),
    ("", b"+\r\n", b"+\r\n"),
    (0, b":0\r\n", b":0\r\n"),
    (-42, b":-42\r\n", b":-42\r\n"),
    (2**63 - 1, b":9223372036854775807\r\n", b":9223372036854775807\r\n"),
    (-(2**63), b":-9223372036854775808\r\n", b":-9223372036854775808\r\n"),
    (True, b"#t\r\n", b":1\r\n"),
    (False, b"#f\r\n", b":0\r\n"),
    (1.5, b",1.5\r\n", b"$3\r\n1.5\r\n"),
    (1.0, b",1\r\n", b"$1\r\n1\r\n"),
    (-2.0, b",-2\r\n", b"$2\r\n-2\r\n"),
    (0.1, b",0.1\r\n", b"$3\r\n0.1\r\n"),
    (1.5e20, b",1.5e+20\r\n", b"$7\r\n1.5e+20\r\n"),
    (float("inf"), b",inf\r\n", b"$3\r\ninf\r\n"),
    (float("-inf"), b",-inf\r\n", b"$4\r\n-inf\r\n"),
    (float("nan"), b",nan\r\n", b"$3\r\nnan\r\n"),
    (None, b"_\r\n", b"$-1\r\n"),
    (NULL_ARRAY, b"_\r\n", b"*-1\r\n"),
    ([], b"*0\r\n", b"*0\r\n"),
    ([b"a", 1, None], b"*3\r\n$1\r\na\r\n:1\r\n_\r\n", b"*3\r\n$1\r\na\r\n:1\r\n$-1\r\n"),
    ((b"a", "b"), b"*2\r\n$1\r\na\r\n+b\r\n", b"*2\r\n$1\r\na\r\n+b\r\n"),
    ([[b"x"], []], b"*2\r\n*1\r\n$1\r\nx\r\n*0\r\n", b"*2\r\n*1\r\n$1\r\nx\r\n*0\r\n"),
    ({}, b"%0\r\n", b"*0\r\n"),
    ({b"k": 1, b"j": b"v"}, b"%2\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n$1\r\nv\r\n",
     b"*4\r\n$1\r\nk\r\n:1\r\n$1\r\nj\r\n$1\r\nv\r\n"),
    ({b"m": {b"n": True}}, b"%1\r\n$1\r\nm\r\n%1\r\n$1\r\nn\r\n#t\r\n",
     b"*2\r\n$1\r\nm\r\n*2\r\n$1\r\nn\r\n:1\r\n"),
    ({b"a"}, b"~1\r\n$1\r\na\r\n", b"*1\r\n$1\r\na\r\n"),
    (frozenset(), b"~0\r\n", b"*0\r\n"),
    (Push([b"message", b"ch", b"hi"]), b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
     b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"),
    (Verbatim(b"hello"), b"=9\r\ntxt:hello\r\n", b"$5\r\nhello\r\n"),
    (Verbatim(b""), b"=4\r\ntxt:\r\n", b"$0\r\n\r\n"),
    (ReplyError("bad thing"), b"-ERR bad thing\r\n", b"-ERR bad thing\r\n"),
    (WrongTypeError(), b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
     b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    (Raw(b"+PONG\r\n"), b"+PONG\r\n", b"+PONG\r\n"),
    (OK, b"+OK\r\n", b"+OK\r\n"),
    (QUEUED, b"+QUEUED\r\n", b"+QUEUED\r\n"),
    (Replies([1, "a"]), b":1\r\n+a\r\n", b":1\r\n+a\r\n"),
    (Replies([]), b"", b""),
]


@pytest.mark.parametrize(("value", "resp3", "resp2"), CASES,
                         ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)])
def test_writer_exact_bytes(value: Any, resp3: bytes, resp2: bytes) -> None:
    assert encode_bytes(value, 3) == resp3
    assert encode_bytes(value, 2) == resp2
    assert encode_bytes(value) == resp2  # RESP2 is the default


@pytest.mark.parametrize(("value", "resp3", "resp2"), CASES,
                         ids=[f"{type(c[0]).__name__}-{i}" for i, c in enumerate(CASES)])
def test_writer_encode_appends(value: Any, resp3: bytes, resp2: bytes) -> None:
    out: list[bytes] = [b"before"]
    encode(value, out, 3)
    assert out[0] == b"before" and b"".join(out[1:]) == resp3
    out = []
    encoder_for(value)(value, out, 2)
    assert b"".join(out) == resp2


def test_writer_wire_forms_are_valid_resp() -> None:
    for value, resp3, resp2 in CASES:
        if isinstance(value, Replies):
            assert len(parse_all(resp3)) == len(value)
            continue
        for wire in (resp3, resp2):
            assert len(parse_all(wire)) == 1, (value, wire)


# --- CR/LF in one-line replies -----------------------------------------------------------


@pytest.mark.parametrize("proto", [2, 3])
def test_writer_simple_string_crlf_become_spaces(proto: int) -> None:
    assert encode_bytes("a\r\nb\rc\nd", proto) == b"+a  b c d\r\n"


@pytest.mark.parametrize("proto", [2, 3])
def test_writer_error_crlf_become_spaces(proto: int) -> None:
    assert encode_bytes(ReplyError("line1\r\nline2\n"), proto) == b"-ERR line1  line2 \r\n"
    reply = roundtrip(ReplyError("x\ny"), proto)
    assert isinstance(reply, hiredis.ReplyError) and str(reply) == "ERR x y"


def test_writer_error_subclass_code() -> None:
    class CustomError(ReplyError):
        code = "CUSTOM"

    assert encode_bytes(CustomError("boom")) == b"-CUSTOM boom\r\n"
    assert encode_bytes(CustomError()) == b"-CUSTOM\r\n"


def test_writer_simple_string_unicode() -> None:
    assert encode_bytes("héllo") == "+héllo\r\n".encode()


# --- big bulks (the >= 16 KB path: header, value, CRLF) ------------------------------------


@pytest.mark.parametrize("size", [BIG - 1, BIG, BIG + 1, 100_000, 1 << 20])
@pytest.mark.parametrize("proto", [2, 3])
def test_writer_big_bulk(size: int, proto: int) -> None:
    value = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    out: list[bytes] = []
    encode(value, out, proto)
    assert b"".join(out) == b"$%d\r\n%b\r\n" % (size, value)
    if size >= BIG:
        # The value itself is appended, not copied into a formatted string.
        assert out == [b"$%d\r\n" % size, value, b"\r\n"]
        assert out[1] is value
    assert roundtrip(value, proto) == value


@pytest.mark.parametrize("proto", [2, 3])
def test_writer_big_bulk_inside_array(proto: int) -> None:
    value = b"v" * 50_000
    reply = roundtrip([b"k", value, [value]], proto)
    assert reply == [b"k", value, [value]]


@pytest.mark.parametrize("size", [10, BIG, 100_000])
def test_writer_memoryview(size: int) -> None:
    value = b"m" * size
    assert encode_bytes(memoryview(value)) == b"$%d\r\n%b\r\n" % (size, value)


@pytest.mark.parametrize("proto", [2, 3])
def test_writer_big_verbatim(proto: int) -> None:
    value = Verbatim(b"t" * 40_000)
    assert roundtrip(value, proto) == bytes(value)


# --- subclasses and unknown types --------------------------------------------------------


class _Color(enum.IntEnum):
    RED = 5


class _MyBytes(bytes):
    pass


class _MyList(list):  # type: ignore[type-arg]
    pass


class _MyDict(dict):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize(("value", "resp2", "resp3"), [
    (_Color.RED, b":5\r\n", b":5\r\n"),
    (_MyBytes(b"ab"), b"$2\r\nab\r\n", b"$2\r\nab\r\n"),
    (_MyList([1]), b"*1\r\n:1\r\n", b"*1\r\n:1\r\n"),
    (_MyDict({b"a": 1}), b"*2\r\n$1\r\na\r\n:1\r\n", b"%1\r\n$1\r\na\r\n:1\r\n"),
])
def test_writer_subclasses_use_fallback(value: Any, resp2: bytes, resp3: bytes) -> None:
    assert encode_bytes(value, 2) == resp2
    assert encode_bytes(value, 3) == resp3


def test_writer_unknown_type_raises_type_error() -> None:
    with pytest.raises(TypeError):
        encode_bytes(object())
    with pytest.raises(TypeError):
        encode_bytes([b"ok", object()])


# --- doubles -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    (0.0, b"0"), (1.0, b"1"), (-1.0, b"-1"), (3.14, b"3.14"), (1e16, b"10000000000000000"),
    (1e17, b"1e+17"), (1.5e-7, b"1.5e-07"), (2.0**53, b"9007199254740992"),
    (float("inf"), b"inf"), (float("-inf"), b"-inf"), (float("nan"), b"nan"),
])
def test_writer_format_double(value: float, text: bytes) -> None:
    assert format_double(value) == text


def test_writer_format_double_negative_zero() -> None:
    assert format_double(-0.0) == b"-0"


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=True))
def test_writer_double_roundtrip(value: float) -> None:
    # The shortest text that reads back the same value, in both versions.
    assert float(format_double(value)) == value
    assert roundtrip(value, 3) == value
    assert float(roundtrip(value, 2)) == value


def test_writer_double_nan_roundtrip() -> None:
    assert math.isnan(roundtrip(float("nan"), 3))


# --- property: anything built from the table round-trips through hiredis -----------------

scalars = st.one_of(
    st.binary(max_size=64),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.none(),
    st.text(alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
            max_size=20),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.binary(max_size=8), children, max_size=4),
    ),
    max_leaves=30,
)


def expected_resp3(value: Any) -> Any:
    """What hiredis.Reader gives back for ``value`` encoded in RESP3."""
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [expected_resp3(v) for v in value]
    if isinstance(value, dict):
        return {k: expected_resp3(v) for k, v in value.items()}
    return value


def expected_resp2(value: Any) -> Any:
    """RESP2 flattens maps into arrays of pairs and booleans into integers."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, list):
        return [expected_resp2(v) for v in value]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in (k, expected_resp2(v))]
    return value


@settings(max_examples=300, deadline=None)
@given(values)
def test_writer_property_roundtrip(value: Any) -> None:
    assert roundtrip(value, 3) == expected_resp3(value)
    assert roundtrip(value, 2) == expected_resp2(value)


@settings(max_examples=100, deadline=None)
@given(st.lists(values, max_size=5))
def test_writer_property_replies_concatenate(items: list[Any]) -> None:
    # Several replies encoded into one list read back as that many replies, in order.
    out: list[bytes] = []
    for item in items:
        encode(item, out, 3)
    assert parse_all(b"".join(out)) == [expected_resp3(i) for i in items]
