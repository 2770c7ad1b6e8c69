"""Request readers: PythonReader and HiredisReader through one parametrized fixture.

Every example is fed three ways (h11's ``tr()``): whole, byte by byte, and followed by
trailing data. Property tests check that random well-formed traffic parses exactly,
that both readers agree on arbitrary (mutated) input, and that any input either parses
or raises ProtocolError, nothing else.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tensorserve.protocol import (
    HAVE_HIREDIS,
    ProtocolError,
    QueryBufferLimitError,
    RequestReader,
    make_reader,
)

IMPLS = ["python", "hiredis"]

Result = tuple[list[list[bytes]], str | None]  # commands returned, then the error (if any)

PING = b"*1\r\n$4\r\nPING\r\n"


def _new(impl: str, **kwargs: Any) -> RequestReader:
    if impl == "hiredis" and not HAVE_HIREDIS:
        pytest.skip("hiredis is not installed")
    return make_reader(impl, **kwargs)


class ReaderFactory:
    """Makes readers of one implementation; ``impl`` is "python" or "hiredis"."""

    def __init__(self, impl: str) -> None:
        self.impl = impl

    def __call__(self, **kwargs: Any) -> RequestReader:
        return _new(self.impl, **kwargs)


@pytest.fixture(params=IMPLS)
def new_reader(request: pytest.FixtureRequest) -> ReaderFactory:
    """A factory of readers of one implementation (ids: python, hiredis)."""
    return ReaderFactory(str(request.param))


def drain(reader: RequestReader) -> list[list[bytes]]:
    """Every command the reader can return now (``read_batch`` until it returns [])."""
    out: list[list[bytes]] = []
    while batch := reader.read_batch():
        out.extend(batch)
    return out


def run(reader: RequestReader, chunks: Iterable[bytes]) -> Result:
    """Feed ``chunks`` one by one, draining commands after each; stop at the first error."""
    out: list[list[bytes]] = []
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while batch := reader.read_batch():
                out.extend(batch)
    except ProtocolError as e:
        return out, e.message
    return out, None


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def encode(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%b\r\n" % (len(a), a) for a in args)


def check_ok(new: Callable[..., RequestReader], data: bytes, expected: list[list[bytes]],
             **kwargs: Any) -> None:
    """``data`` parses to ``expected`` whole, byte by byte and with trailing data."""
    assert run(new(**kwargs), [data]) == (expected, None)
    assert run(new(**kwargs), bytewise(data)) == (expected, None)
    assert run(new(**kwargs), [data + PING]) == ([*expected, [b"PING"]], None)
    assert run(new(**kwargs), [data, PING]) == ([*expected, [b"PING"]], None)


def check_error(new: Callable[..., RequestReader], data: bytes, message: str,
                before: list[list[bytes]] | None = None, *, bytewise_too: bool = True,
                **kwargs: Any) -> None:
    """``data`` raises ``message`` (after the commands in ``before``), however it arrives."""
    expected = (before or [], message)
    assert run(new(**kwargs), [data]) == expected
    if bytewise_too:
        assert run(new(**kwargs), bytewise(data)) == expected
    assert run(new(**kwargs), [data + PING + b"trailing junk\r\n"]) == expected


# --- multibulk ---------------------------------------------------------------------------


def test_reader_multibulk_single(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n",
             [[b"SET", b"k", b"value"]])


def test_reader_multibulk_pipeline(new_reader: ReaderFactory) -> None:
    data = encode(b"SET", b"a", b"1") + encode(b"GET", b"a") + encode(b"PING")
    check_ok(new_reader, data, [[b"SET", b"a", b"1"], [b"GET", b"a"], [b"PING"]])


def test_reader_multibulk_binary_args(new_reader: ReaderFactory) -> None:
    args = [b"SET", b"\r\n\x00\xff", b"", b"*1\r\n$4\r\nPING\r\n", b"\r"]
    check_ok(new_reader, encode(*args), [args])


def test_reader_multibulk_empty_arg(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", [[b"ECHO", b""]])


@pytest.mark.parametrize("header", [b"*0\r\n", b"*-1\r\n", b"*-10\r\n"])
def test_reader_empty_and_negative_multibulk_skipped(
    new_reader: ReaderFactory, header: bytes
) -> None:
    check_ok(new_reader, header, [])
    check_ok(new_reader, header + header + PING, [[b"PING"]])
    check_ok(new_reader, PING + header + PING, [[b"PING"], [b"PING"]])


def test_reader_needs_more_data(new_reader: ReaderFactory) -> None:
    full = encode(b"SET", b"key", b"value")
    for i in range(len(full)):
        assert run(new_reader(), [full[:i]]) == ([], None)


def test_reader_get_without_data(new_reader: ReaderFactory) -> None:
    r = new_reader()
    assert r.read_batch() == []
    r.feed(b"")
    assert r.read_batch() == []
    r.feed(PING)
    assert r.read_batch() == [[b"PING"]]
    assert r.read_batch() == []


def test_reader_interleaved_feed_and_get(new_reader: ReaderFactory) -> None:
    r = new_reader()
    r.feed(PING + b"*2\r\n$4\r\nEC")
    assert drain(r) == [[b"PING"]]
    r.feed(b"HO\r\n$2\r\nhi\r\nPI")
    assert drain(r) == [[b"ECHO", b"hi"]]
    r.feed(b"NG\r\n")
    assert drain(r) == [[b"PING"]]
    assert r.read_batch() == []


def test_reader_error_raised_after_earlier_commands(
    new_reader: ReaderFactory
) -> None:
    # The commands before a protocol error come first; the error on the next call.
    r = new_reader()
    r.feed(PING + PING + b"*abc\r\n")
    assert r.read_batch() == [[b"PING"], [b"PING"]]
    with pytest.raises(ProtocolError, match="invalid multibulk length"):
        r.read_batch()


def test_reader_large_bulk_in_chunks(new_reader: ReaderFactory) -> None:
    value = bytes(range(256)) * 4096  # 1 MB
    data = encode(b"SET", b"big", value) + PING
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    assert run(new_reader(), chunks) == ([[b"SET", b"big", value], [b"PING"]], None)
    assert run(new_reader(), [data]) == ([[b"SET", b"big", value], [b"PING"]], None)


def test_reader_large_bulk_odd_chunks(new_reader: ReaderFactory) -> None:
    value = b"x" * (300 * 1024 + 7)
    data = PING + encode(b"SET", b"big", value) + encode(b"GET", b"big")
    chunks = [data[i : i + 4999] for i in range(0, len(data), 4999)]
    expected = [[b"PING"], [b"SET", b"big", value], [b"GET", b"big"]]
    assert run(new_reader(), chunks) == (expected, None)


def test_reader_large_bulk_header_split(new_reader: ReaderFactory) -> None:
    value = b"y" * (1 << 20)
    data = encode(b"SET", b"k", value)
    head = data.index(b"y")
    chunks = [data[: head - 3], data[head - 3 : head + 10], data[head + 10 : -1], data[-1:]]
    assert run(new_reader(), chunks) == ([[b"SET", b"k", value]], None)


def test_reader_bulk_at_max_len_accepted(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, encode(b"SET", b"k", b"x" * 100), [[b"SET", b"k", b"x" * 100]],
             max_bulk_len=100)


# --- inline ------------------------------------------------------------------------------


def test_reader_inline_simple(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b"PING\r\n", [[b"PING"]])
    check_ok(new_reader, b"SET  k\tv \r\n", [[b"SET", b"k", b"v"]])


def test_reader_inline_lf_only(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b"PING\nECHO hi\n", [[b"PING"], [b"ECHO", b"hi"]])


def test_reader_inline_double_quotes(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b'SET "a key" "va lue"\r\n', [[b"SET", b"a key", b"va lue"]])


def test_reader_inline_escapes(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b'ECHO "\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\"\\q"\r\n',
             [[b"ECHO", b"Az\n\r\t\x08\x07\\\"q"]])


def test_reader_inline_bad_hex_escape_kept(new_reader: ReaderFactory) -> None:
    # sdssplitargs: "\xZZ" is not a hex escape, so "\x" becomes "x".
    check_ok(new_reader, b'ECHO "\\xZZ"\r\n', [[b"ECHO", b"xZZ"]])


def test_reader_inline_single_quotes(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b"ECHO 'it\\'s \\n raw'\r\n", [[b"ECHO", b"it's \\n raw"]])


def test_reader_inline_empty_quoted_arg(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b'ECHO ""\r\n', [[b"ECHO", b""]])


def test_reader_inline_empty_lines_skipped(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, b"\r\n\r\n   \r\n\nPING\r\n\r\n", [[b"PING"]])


def test_reader_inline_then_multibulk(new_reader: ReaderFactory) -> None:
    data = b"PING\r\n" + encode(b"ECHO", b"hi") + b'ECHO "a b"\r\n'
    check_ok(new_reader, data, [[b"PING"], [b"ECHO", b"hi"], [b"ECHO", b"a b"]])


def test_reader_multibulk_then_inline(new_reader: ReaderFactory) -> None:
    check_ok(new_reader, PING + b"PING\r\n" + PING, [[b"PING"], [b"PING"], [b"PING"]])


def test_reader_dollar_line_is_inline(new_reader: ReaderFactory) -> None:
    # Outside a multibulk, "$-10" is just an inline command named "$-10".
    check_ok(new_reader, b"$-10\r\n", [[b"$-10"]])


# --- protocol errors (texts as redis-server's) -------------------------------------------


@pytest.mark.parametrize("header", [b"*abc\r\n", b"*3000000000\r\n", b"*1a\r\n", b"*+1\r\n",
                                    b"*01\r\n", b"* 1\r\n", b"*\r\n"])
def test_reader_invalid_multibulk_length(
    new_reader: ReaderFactory, header: bytes
) -> None:
    check_error(new_reader, header, "Protocol error: invalid multibulk length")


def test_reader_multibulk_length_int_max_accepted(
    new_reader: ReaderFactory
) -> None:
    # 2147483647 is a valid count (redis waits for the arguments); one more is not.
    assert run(new_reader(), [b"*2147483647\r\n$4\r\nPING\r\n"]) == ([], None)
    check_error(new_reader, b"*2147483648\r\n", "Protocol error: invalid multibulk length")


@pytest.mark.parametrize("bulk", [b"$-10", b"$-1", b"$blabla", b"$2000000000", b"$", b"$01",
                                  b"$+1", b"$1 "])
def test_reader_invalid_bulk_length(
    new_reader: ReaderFactory, bulk: bytes
) -> None:
    check_error(new_reader, b"*1\r\n" + bulk + b"\r\n", "Protocol error: invalid bulk length")


def test_reader_bulk_over_custom_max(new_reader: ReaderFactory) -> None:
    check_error(new_reader, b"*2\r\n$3\r\nGET\r\n$101\r\n", "Protocol error: invalid bulk length",
                max_bulk_len=100)


@pytest.mark.parametrize(("arg", "got"), [(b"foo", "f"), (b":1", ":"), (b"*1", "*"),
                                          (b"-ERR", "-"), (b"_", "_"), (b",1.5", ","),
                                          (b"#t", "#"), (b"%1", "%"), (b"~1", "~"),
                                          (b">1", ">"), (b"+OK", "+"), (b"(123", "("),
                                          (b"=7\r\ntxt:abc", "="), (b"!3\r\nabc", "!")])
def test_reader_expected_dollar(
    new_reader: ReaderFactory, arg: bytes, got: str, request: pytest.FixtureRequest
) -> None:
    check_error(new_reader, b"*2\r\n$3\r\nGET\r\n" + arg + b"\r\n",
                f"Protocol error: expected '$', got '{got}'")


@pytest.mark.parametrize("line", [b'SET "a b\r\n', b"SET 'a b\r\n", b'SET "a"b\r\n',
                                  b"SET 'a'b\r\n", b'"\r\n'])
def test_reader_unbalanced_quotes(new_reader: ReaderFactory, line: bytes) -> None:
    check_error(new_reader, line, "Protocol error: unbalanced quotes in request")


def test_reader_unbalanced_quotes_after_good_commands(
    new_reader: ReaderFactory
) -> None:
    check_error(new_reader, PING + b'ECHO "x\r\n', "Protocol error: unbalanced quotes in request",
                before=[[b"PING"]])


def test_reader_too_big_inline_request(new_reader: ReaderFactory) -> None:
    data = b"a" * (64 * 1024 + 100)
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    expected: Result = ([], "Protocol error: too big inline request")
    assert run(new_reader(), [data]) == expected
    assert run(new_reader(), chunks) == expected


def test_reader_inline_just_under_limit(new_reader: ReaderFactory) -> None:
    arg = b"x" * (60 * 1024)
    assert run(new_reader(), [b"ECHO " + arg + b"\r\n"]) == ([[b"ECHO", arg]], None)


def test_reader_too_big_mbulk_count_string(new_reader: ReaderFactory) -> None:
    data = b"*" + b"1" * (64 * 1024 + 10)
    assert run(new_reader(), [data]) == ([], "Protocol error: too big mbulk count string")
    chunks = [data[i : i + 8192] for i in range(0, len(data), 8192)]
    assert run(new_reader(), chunks) == ([], "Protocol error: too big mbulk count string")


def test_reader_too_big_bulk_count_string(new_reader: ReaderFactory) -> None:
    data = b"*1\r\n$" + b"1" * (64 * 1024 + 10)
    assert run(new_reader(), [data]) == ([], "Protocol error: too big bulk count string")


@pytest.mark.parametrize("data", [b"*1\x00\r\n", b"*\x00\r\n", b"*1\r\n$4\x00\r\n",
                                  b"*1\r\n\x00\r\n", b"*1\r\n$\x00\r\n", b"PI\x00NG\r\n",
                                  b"\x00\r\n", b"\x00\n"])
def test_reader_nul_hides_the_line_end(new_reader: ReaderFactory, data: bytes) -> None:
    """redis-server finds line ends with strchr, which stops at a NUL: a header or an
    inline line with a NUL before its end waits for more (the same line, however much
    follows) until the 64 KB limit; a NUL inside a bulk is just a byte."""
    assert run(new_reader(), [data + PING * 10]) == ([], None)
    assert run(new_reader(), bytewise(data + PING)) == ([], None)
    too_big = ("Protocol error: too big inline request" if data[0] != 42 else
               "Protocol error: too big mbulk count string" if data.count(b"\r") == 1 else
               "Protocol error: too big bulk count string")
    assert run(new_reader(), [data, b"x" * 70_000]) == ([], too_big)
    check_ok(new_reader, encode(b"ECHO", b"a\x00\r\nb"), [[b"ECHO", b"a\x00\r\nb"]])


@pytest.mark.parametrize("tail", [b"XY", b"\n\r", b"\rX", b"X\n"])
def test_reader_bulk_not_followed_by_crlf(new_reader: ReaderFactory, tail: bytes) -> None:
    # Stricter than redis-server (which skips two bytes blindly): ours.
    check_error(new_reader, b"*1\r\n$4\r\nPING" + tail,
                "Protocol error: bulk not followed by CRLF")


def test_reader_error_after_complete_commands(new_reader: ReaderFactory) -> None:
    check_error(new_reader, PING + encode(b"ECHO", b"x") + b"*abc\r\n",
                "Protocol error: invalid multibulk length", before=[[b"PING"], [b"ECHO", b"x"]])


# --- limits before AUTH ------------------------------------------------------------------


def test_reader_unauthenticated_multibulk_length(
    new_reader: ReaderFactory
) -> None:
    def new() -> RequestReader:
        r = new_reader()
        r.auth_required = True
        return r

    ten = encode(*[b"a"] * 10)
    check_ok(new, ten, [[b"a"] * 10])
    check_error(new, b"*11\r\n", "Protocol error: unauthenticated multibulk length")
    check_error(new, PING + encode(*[b"a"] * 11), "Protocol error: unauthenticated multibulk length",
                before=[[b"PING"]])


def test_reader_unauthenticated_bulk_length(new_reader: ReaderFactory) -> None:
    def new() -> RequestReader:
        r = new_reader()
        r.auth_required = True
        return r

    ok = b"x" * 16384
    assert run(new(), [encode(b"AUTH", ok)]) == ([[b"AUTH", ok]], None)
    check_error(new, b"*2\r\n$4\r\nAUTH\r\n$16385\r\n", "Protocol error: unauthenticated bulk length")


def test_reader_auth_limits_lifted(new_reader: ReaderFactory) -> None:
    r = new_reader()
    r.auth_required = True
    r.feed(encode(b"AUTH", b"pw"))
    assert drain(r) == [[b"AUTH", b"pw"]]
    r.auth_required = False
    r.feed(encode(*[b"a"] * 20))
    assert drain(r) == [[b"a"] * 20]


def test_reader_auth_in_the_same_read_lifts_the_limits(new_reader: ReaderFactory) -> None:
    """Before AUTH, one command per batch: what follows AUTH in the same read is parsed
    once the caller has run it (as redis-server parses each command after the last ran)."""
    r = new_reader()
    r.auth_required = True
    big = b"x" * 20000
    r.feed(encode(b"AUTH", b"pw") + encode(b"ECHO", big) + encode(*[b"a"] * 20))
    assert r.read_batch() == [[b"AUTH", b"pw"]]
    r.auth_required = False  # AUTH succeeded
    assert drain(r) == [[b"ECHO", big], [b"a"] * 20]


def test_reader_auth_failed_in_the_same_read_keeps_the_limits(
    new_reader: ReaderFactory
) -> None:
    r = new_reader()
    r.auth_required = True
    r.feed(encode(b"AUTH", b"wrong") + encode(*[b"a"] * 11))
    assert r.read_batch() == [[b"AUTH", b"wrong"]]
    with pytest.raises(ProtocolError, match="unauthenticated multibulk length"):
        drain(r)


def test_reader_auth_required_set_mid_stream(new_reader: ReaderFactory) -> None:
    r = new_reader()
    r.feed(PING)
    assert drain(r) == [[b"PING"]]
    r.auth_required = True
    r.feed(encode(*[b"a"] * 11))
    with pytest.raises(ProtocolError, match="unauthenticated multibulk length"):
        drain(r)


# --- query buffer limit ------------------------------------------------------------------


def test_reader_query_buffer_limit(new_reader: ReaderFactory) -> None:
    r = new_reader(query_buffer_limit=1000)
    r.feed(b"*2\r\n$4\r\nECHO\r\n$2000\r\n")
    assert drain(r) == []
    with pytest.raises(QueryBufferLimitError):
        for _ in range(10):  # 2000 bytes of a bulk that may not be buffered past 1000
            r.feed(b"x" * 200)
            assert drain(r) == []


def test_reader_query_buffer_limit_inline(new_reader: ReaderFactory) -> None:
    r = new_reader(query_buffer_limit=1000)
    with pytest.raises(QueryBufferLimitError):
        for _ in range(10):
            r.feed(b"y" * 200)
            assert drain(r) == []


def test_reader_query_buffer_limit_large_bulk(new_reader: ReaderFactory) -> None:
    r = new_reader(query_buffer_limit=1 << 20)
    r.feed(b"*2\r\n$4\r\nECHO\r\n$4000000\r\n")
    assert drain(r) == []
    with pytest.raises(QueryBufferLimitError):
        for _ in range(40):
            r.feed(b"x" * 65536)
            assert drain(r) == []


def test_reader_query_buffer_limit_is_protocol_error() -> None:
    assert issubclass(QueryBufferLimitError, ProtocolError)


def test_reader_under_query_buffer_limit(new_reader: ReaderFactory) -> None:
    r = new_reader(query_buffer_limit=1 << 20)
    value = b"v" * 500_000
    data = encode(b"SET", b"k", value)
    for i in range(0, len(data), 65536):
        r.feed(data[i : i + 65536])
    assert drain(r) == [[b"SET", b"k", value]]


# --- frames hiredis accepts and redis-server refuses ---------------------------------------

# hiredis parses replies: it skips the two bytes after a bulk without looking at them and
# returns simple strings (+OK), big numbers ((123) and verbatim strings (=7 txt:abc) as
# bytes. Inside one read, surrounded by good frames, the hiredis reader must still refuse
# them exactly as the Python reader (the reference, like redis-server) does.
MID_READ_BAD_FRAMES = [
    b"*1\r\n$3\r\nfooXY" + PING,
    b"*1\r\n$3\r\nfoo\r\r" + PING,
    b"*2\r\n$4\r\nECHO\r\n+OK\r\n" + PING,
    b"*2\r\n$4\r\nECHO\r\n(123\r\n" + PING,
    b"*2\r\n$4\r\nECHO\r\n+OK\r\n\r\n" + PING,  # CRLF count made up
    b"*2\r\n$4\r\nECHO\r\n$3\r\nabcXY*1\r\n$3\r\nab\r\r\n\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n|1\r\n+a\r\n+b\r\n$1\r\nv\r\n",  # attribute
    b"*2\r\n$3\r\nGET\r\n=7\r\ntxt:abc\r\n",  # verbatim: as many CRLFs as a bulk
    b"*2\r\n$3\r\nGET\r\n=7\r\ntxt:abc\r\n" + PING,
    b"*3\r\n$3\r\nSET\r\n=7\r\nx\r\n:abc\r\n+123\r\n" + PING,  # CRLF inside the prefix
]

def _same_as_python(data: bytes) -> None:
    py = run(_new("python"), [data])
    assert py[1] is not None
    assert run(_new("hiredis"), [data]) == py
    assert run(_new("hiredis"), [PING + data]) == ([[b"PING"], *py[0]], py[1])


@pytest.mark.parametrize("data", MID_READ_BAD_FRAMES)
def test_reader_hiredis_refuses_reply_framing_mid_read(data: bytes) -> None:
    _same_as_python(data)


# --- property tests ----------------------------------------------------------------------

args_st = st.lists(st.binary(max_size=40) | st.sampled_from([b"", b"\r\n", b"*1\r\n", b"$-1"]),
                   min_size=1, max_size=6)
commands_st = st.lists(args_st, min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(commands=commands_st, cuts=st.lists(st.integers(min_value=0), max_size=20))
def test_reader_property_random_commands_in_random_chunks(
    commands: list[list[bytes]], cuts: list[int]
) -> None:
    data = b"".join(encode(*c) for c in commands)
    chunks = split_at(data, cuts)
    for impl in IMPLS:
        assert run(_new(impl), chunks) == (commands, None), impl


RESP3_ELEMENTS = [b"+OK\r\n", b"-ERR x\r\n", b":1\r\n", b"_\r\n", b",1.5\r\n", b"#t\r\n",
                  b"(123\r\n", b"=7\r\ntxt:abc\r\n", b"=7\r\nx\r\n:abc\r\n", b"!3\r\nabc\r\n",
                  b"%1\r\n$1\r\na\r\n$1\r\nb\r\n", b"~1\r\n$1\r\na\r\n", b">1\r\n$1\r\na\r\n",
                  b"|1\r\n+a\r\n+b\r\n$1\r\nv\r\n", b"*1\r\n$1\r\na\r\n", b"$-1\r\n", b"*-1\r\n",
                  b"+OK\r\n\r\n", b"$3\r\nabcXY"]


def _int_or(s: bytes | bytearray, default: int = 0) -> int:
    try:
        return int(s)
    except ValueError:
        return default


def _mutate(data: bytes, rnd: random.Random, n: int) -> bytes:
    buf = bytearray(data)
    for _ in range(n):
        op = rnd.randrange(8)
        if not buf:
            buf += rnd.randbytes(rnd.randrange(1, 8))
            continue
        i = rnd.randrange(len(buf))
        if op == 0:  # bit flip
            buf[i] ^= 1 << rnd.randrange(8)
        elif op == 1:  # truncation
            del buf[i:]
        elif op == 2:  # random junk inserted
            buf[i:i] = rnd.randbytes(rnd.randrange(1, 6))
        elif op == 3:  # a random digit in a header
            digits = [j for j, c in enumerate(buf) if 48 <= c <= 57]
            if digits:
                buf[rnd.choice(digits)] = rnd.choice(b"0123456789")
        elif op == 4:  # an extreme length in a header
            marks = [j for j, c in enumerate(buf) if c in b"*$"]
            if marks:
                j = rnd.choice(marks)
                end = buf.find(b"\r", j)
                end = len(buf) if end < 0 else end
                buf[j + 1 : end] = rnd.choice(
                    [b"-1", b"0", b"-0", b"00", b"2147483648", b"9" * 20, b"18446744073709551616",
                     b"536870912", b"536870913", b"+1", b" 1", b"1 ", b"0x10", b"-2147483649"])
        elif op == 7:  # a bulk replaced by a reply-only RESP element
            marks = [j for j, c in enumerate(buf) if c == 36]  # '$'
            if marks:
                j = rnd.choice(marks)
                end = buf.find(b"\r\n", j)
                if end > 0:
                    size = _int_or(buf[j + 1 : end])
                    buf[j : end + 4 + max(size, 0)] = rnd.choice(RESP3_ELEMENTS)
        elif op == 5:  # a byte deleted
            del buf[i]
        else:  # CR/LF dropped or doubled
            buf[i:i] = rnd.choice([b"\r", b"\n", b"\r\n", b"\r\r\n"])
    return bytes(buf)


junk_st = st.one_of(
    st.binary(max_size=200),
    st.lists(st.sampled_from([b"*", b"$", b"\r\n", b"\r", b"\n", b"1", b"2", b"0", b"-", b"a",
                              b'"', b"'", b"\\", b"\\x4", b" ", b"PING", b"\x00"]),
             max_size=60).map(b"".join),
)


@st.composite
def mutated_st(draw: st.DrawFn) -> bytes:
    commands = draw(commands_st)
    frames = [encode(*c) for c in commands]
    if draw(st.booleans()):
        frames.insert(draw(st.integers(0, len(frames))),
                      draw(st.sampled_from([b"PING\r\n", b'ECHO "a\\x41" \'b\'\r\n', b"\r\n",
                                            b"*0\r\n", b"*-1\r\n"])))
    data = b"".join(frames)
    seed = draw(st.integers(0, 2**32))
    n = draw(st.integers(1, 4))
    return _mutate(data, random.Random(seed), n)


any_input_st = st.one_of(junk_st, mutated_st())


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=any_input_st, cuts=st.lists(st.integers(min_value=0), max_size=6),
       auth=st.booleans())
@example(data=b"*1\r\n$03\r\nfoo\r\n" + PING, cuts=[], auth=False)
@example(data=b"*01\r\n$3\r\nfoo\r\n" + PING, cuts=[], auth=False)
@example(data=PING + b"*1\r\n*1\r\n$1\r\na\r\n" + PING, cuts=[], auth=False)
@example(data=PING + b"*2\r\n$1\r\na\r\n:1\r\n" + PING, cuts=[], auth=False)
@example(data=b"*2\r\n$1\r\na\r\n$-1\r\n" + PING, cuts=[], auth=False)
@example(data=b"*1\r\n$-0\r\n\r\n" + PING, cuts=[], auth=False)
@example(data=b"*1\r\n$1\r\na\r\n*2147483648\r\n", cuts=[], auth=False)
def test_reader_property_differential(data: bytes, cuts: list[int], auth: bool) -> None:
    """PythonReader (the reference) and HiredisReader agree on any input, however split."""
    if not HAVE_HIREDIS:
        pytest.skip("hiredis is not installed")
    chunks = split_at(data, cuts)
    results = []
    for impl in IMPLS:
        r = make_reader(impl)
        r.auth_required = auth
        results.append(run(r, chunks))
    py, hi = results
    assert hi == py, data


@settings(max_examples=800, deadline=None)
@given(data=any_input_st, cuts=st.lists(st.integers(min_value=0), max_size=6),
       auth=st.booleans(), impl=st.sampled_from(IMPLS),
       limits=st.sampled_from([{}, {"max_bulk_len": 10}, {"query_buffer_limit": 64},
                               {"max_bulk_len": 1, "query_buffer_limit": 20}]))
def test_reader_property_parses_or_protocol_error(
    data: bytes, cuts: list[int], auth: bool, impl: str, limits: dict[str, int]
) -> None:
    """Any input either parses into lists of bytes or raises ProtocolError, nothing else."""
    r = _new(impl, **limits)
    r.auth_required = auth
    try:
        for chunk in split_at(data, cuts):
            r.feed(chunk)
            for argv in drain(r):
                assert isinstance(argv, list) and argv
                assert all(isinstance(a, bytes) for a in argv)
    except ProtocolError as e:
        assert e.message.startswith("Protocol error: ") or isinstance(e, QueryBufferLimitError)


@settings(max_examples=200, deadline=None)
@given(commands=commands_st, data=st.data())
def test_reader_property_valid_then_garbage(commands: list[list[bytes]], data: st.DataObject
                                            ) -> None:
    """Valid commands before a protocol error are all returned before it, by both readers."""
    bad = data.draw(st.sampled_from([b"*abc\r\n", b"*1\r\n$x\r\n", b"*1\r\nfoo\r\n",
                                     b'"unbalanced\r\n', b"*1\r\n$-5\r\n"]))
    stream = b"".join(encode(*c) for c in commands) + bad
    cuts = data.draw(st.lists(st.integers(min_value=0), max_size=5))
    for impl in IMPLS:
        out, err = run(_new(impl), split_at(stream, cuts))
        assert out == commands, impl
        assert err is not None and err.startswith("Protocol error: "), impl
