"""Black-box fuzzing of a live server: malformed and mutated requests on fresh connections.

For every case (random bytes, bit-flipped and truncated valid frames, extreme lengths,
inline junk) sent on a fresh raw connection:

* everything the server sends back is valid RESP (whole replies, read by hiredis);
* the connection answers one reply per complete command and then either stays usable
  (a PING after the case gets PONG) or, on a protocol error, replies
  ``-ERR Protocol error: ...`` last and closes;
* a second, well-behaved client gets PONG to PING after every case;
* the server stays alive and its RSS stays bounded.

The expected outcome (commands, error, complete or not) comes from the reference
PythonReader, which tests/protocol/test_reader.py checks on its own.
"""

from __future__ import annotations

import itertools
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import hiredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tensorserve.protocol import ProtocolError, PythonReader

from ..helpers import RawClient, ServerProcess, encode_command

CASES_PER_SERVER = 2500
RSS_GROWTH_LIMIT_KB = 150 * 1024
IO_TIMEOUT = 5.0
_NEED_DATA = object()

# Commands whose replies are one reply each, that never block, never change the
# connection's state (no MULTI, SUBSCRIBE, MONITOR, QUIT...) and never allocate much.
VOCABULARY = [
    ("PING",), ("PING", "x"), ("ECHO", "x"), ("SET", "k", "v"), ("GET", "k"), ("DEL", "k"),
    ("INCR", "k"), ("EXISTS", "k", "k"), ("APPEND", "k", "v"), ("STRLEN", "k"),
    ("MSET", "k", "v", "k", "v"), ("MGET", "k", "k"), ("LPUSH", "k", "v"), ("RPOP", "k"),
    ("LRANGE", "k", "0", "-1"), ("LLEN", "k"), ("HSET", "k", "v", "v"), ("HGET", "k", "v"),
    ("HGETALL", "k"), ("SADD", "k", "v"), ("SMEMBERS", "k"), ("ZADD", "k", "1", "v"),
    ("ZRANGE", "k", "0", "-1"), ("TYPE", "k"), ("TTL", "k"), ("EXPIRE", "k", "100"),
    ("DBSIZE",), ("GETRANGE", "k", "0", "10"), ("INCRBYFLOAT", "k", "1.5"),
]
KEYS = [b"k1", b"k2", b"k3", b"fuzz", b"\x00\xff", b""]


@st.composite
def commands_st(draw: st.DrawFn) -> list[list[bytes]]:
    out = []
    for _ in range(draw(st.integers(1, 6))):
        template = draw(st.sampled_from(VOCABULARY))
        argv = [template[0].encode() if draw(st.booleans()) else template[0].lower().encode()]
        for a in template[1:]:
            if a == "k":
                argv.append(draw(st.sampled_from(KEYS)))
            elif a == "v":
                argv.append(draw(st.binary(max_size=50)))
            else:
                argv.append(a.encode() if draw(st.booleans()) else draw(st.binary(max_size=8)))
        out.append(argv)
    return out


def _frames(commands: list[list[bytes]]) -> bytes:
    return b"".join(encode_command(*argv) for argv in commands)


def _mutate(data: bytes, rnd: random.Random, n: int) -> bytes:
    buf = bytearray(data)
    for _ in range(n):
        if not buf:
            break
        i = rnd.randrange(len(buf))
        op = rnd.randrange(6)
        if op == 0:
            buf[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            del buf[i:]
        elif op == 2:
            buf[i:i] = rnd.randbytes(rnd.randrange(1, 5))
        elif op == 3:
            del buf[i]
        elif op == 4:
            buf[i:i] = rnd.choice([b"\r\n", b"\r", b"\n", b"*", b"$", b'"', b"'"])
        else:
            digits = [j for j, c in enumerate(buf) if 48 <= c <= 57]
            if digits:
                buf[rnd.choice(digits)] = rnd.choice(b"0123456789")
    return bytes(buf)


@st.composite
def mutated_st(draw: st.DrawFn) -> bytes:
    data = _frames(draw(commands_st()))
    return _mutate(data, random.Random(draw(st.integers(0, 2**32))), draw(st.integers(1, 3)))


EXTREME = [b"-1", b"0", b"-0", b"01", b"2147483647", b"2147483648", b"4294967295",
           b"4294967296", b"9223372036854775807", b"9223372036854775808",
           b"99999999999999999999", b"536870912", b"536870913", b"100000000", b"100000",
           b"-2147483648", b"+5", b"1e3", b""]


@st.composite
def extreme_st(draw: st.DrawFn) -> bytes:
    """Valid-looking frames with extreme counts or bulk lengths."""
    head = draw(st.sampled_from([b"*", b"$"]))
    n = draw(st.sampled_from(EXTREME))
    if head == b"*":
        frame = b"*" + n + b"\r\n" + draw(st.sampled_from([b"", b"$4\r\nPING\r\n", b"$3\r\nGET"]))
    else:
        frame = b"*2\r\n$3\r\nGET\r\n$" + n + b"\r\n" + draw(st.binary(max_size=20))
    prefix = _frames(draw(st.lists(st.just([b"PING"]), max_size=2)))
    return prefix + frame


inline_st = st.lists(
    st.sampled_from([b"PING", b"ECHO", b"GET", b"SET", b"k", b" ", b"  ", b"\t", b'"', b"'",
                     b"\\x41", b"\\", b"\\n", b"\r\n", b"\n", b"\r", b"x", b"\x00", b"\xff",
                     b"unknown", b"12"]),
    max_size=40,
).map(b"".join)

cases_st = st.one_of(
    st.binary(min_size=1, max_size=300),
    mutated_st(),
    mutated_st(),
    extreme_st(),
    inline_st.filter(bool),
    st.builds(lambda a, b: a + b, commands_st().map(_frames), st.binary(min_size=1, max_size=50)),
)


def expected(case: bytes, auth_required: bool = False) -> tuple[int, str | None, bool]:
    """From the reference reader: (complete commands, protocol error, at a boundary)."""
    reader = PythonReader()
    reader.auth_required = auth_required
    reader.feed(case)
    n = 0
    try:
        while batch := reader.read_batch():
            n += len(batch)
    except ProtocolError as e:
        return n, e.message, False
    return n, None, reader.at_boundary()


def read_replies(sock: socket.socket, n: int) -> list[Any]:
    """Exactly ``n`` whole replies (hiredis must accept every byte as RESP)."""
    reader = hiredis.Reader(notEnoughData=_NEED_DATA)
    out: list[Any] = []
    while len(out) < n:
        reply = reader.gets()
        if reply is not _NEED_DATA:
            out.append(reply)
            continue
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed after {len(out)} of {n} replies")
        reader.feed(data)
    assert reader.gets() is _NEED_DATA and not reader.has_data(), "extra bytes after replies"
    return out


def read_until_closed(sock: socket.socket) -> list[Any]:
    """Every reply until the server closes; they must be whole, valid RESP replies."""
    reader = hiredis.Reader(notEnoughData=_NEED_DATA)
    out: list[Any] = []
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:  # closed with our bytes unread: an RST, not a FIN
            data = b""
        if not data:
            break
        reader.feed(data)
        while (reply := reader.gets()) is not _NEED_DATA:
            out.append(reply)
    assert not reader.has_data(), "a partial reply before the close"
    return out


class Fuzzer:
    def __init__(self, server: ServerProcess, password: str | None = None) -> None:
        self.server = server
        self.password = password
        self.observer = RawClient(server.port)
        if password is not None:
            assert self.observer.command("AUTH", password) == b"OK"
        self.cases = 0
        self.outcomes: dict[str, int] = {"ok": 0, "error": 0, "partial": 0}

    def run_case(self, case: bytes, cuts: list[int]) -> None:
        n, error, complete = expected(case, auth_required=self.password is not None)
        sock = socket.create_connection((self.server.host, self.server.port), IO_TIMEOUT)
        sock.settimeout(IO_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            points = sorted({c % (len(case) + 1) for c in cuts})
            bounds = [0, *points, len(case)]
            try:
                for a, b in itertools.pairwise(bounds):
                    if b > a:
                        sock.sendall(case[a:b])
            except (BrokenPipeError, ConnectionResetError):
                assert error is not None, "closed while sending a valid request"
            if error is not None:
                self.outcomes["error"] += 1
                replies = read_until_closed(sock)
                # The commands before the error are answered (a reset may lose the tail).
                assert len(replies) <= n + 1, replies
                if len(replies) == n + 1:
                    last = replies[-1]
                    assert isinstance(last, hiredis.ReplyError), replies
                    # As redis-server's addReplyErrorFormat: CR/LF become spaces.
                    text = error.replace("\r", " ").replace("\n", " ")
                    assert str(last) == f"ERR {text}", (str(last), error)
                for r in replies[:-1]:
                    assert not str(r).startswith("ERR Protocol error"), replies
            elif complete:
                self.outcomes["ok"] += 1
                sock.sendall(b"*1\r\n$4\r\nPING\r\n")
                replies = read_replies(sock, n + 1)
                if self.password is None:
                    assert replies[-1] == b"PONG", replies
                else:  # still usable, and still unauthenticated
                    assert str(replies[-1]).startswith("NOAUTH"), replies
            else:
                self.outcomes["partial"] += 1
                read_replies(sock, n)  # the rest of the command may never come
        finally:
            sock.close()
        self.check_server()

    def check_server(self) -> None:
        self.cases += 1
        assert self.server.alive(), self.server.log()
        assert self.observer.command("PING") == b"PONG"


def _fuzz(server: ServerProcess, max_examples: int, password: str | None = None) -> Fuzzer:
    fuzzer = Fuzzer(server, password)
    fuzzer.check_server()
    baseline = server.rss_kb()

    @settings(max_examples=max_examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=cases_st, cuts=st.lists(st.integers(min_value=0), max_size=3))
    def fuzz(case: bytes, cuts: list[int]) -> None:
        fuzzer.run_case(case, cuts)
        if fuzzer.cases % 250 == 0:
            assert server.rss_kb() - baseline < RSS_GROWTH_LIMIT_KB

    try:
        fuzz()
    finally:
        fuzzer.observer.close()
    time.sleep(0.2)
    growth = server.rss_kb() - baseline
    assert growth < RSS_GROWTH_LIMIT_KB, f"RSS grew by {growth} KB"
    return fuzzer


@pytest.mark.slow
@pytest.mark.parametrize("variant", [["--reader", "hiredis", "--event-loop", "uvloop"],
                                     ["--reader", "python", "--event-loop", "asyncio"]],
                         ids=["fast", "pure"])
def test_fuzz_server_survives_malformed_requests(
    start_server: Callable[..., ServerProcess], variant: list[str]
) -> None:
    server = start_server(*variant)
    fuzzer = _fuzz(server, CASES_PER_SERVER)
    assert fuzzer.cases > CASES_PER_SERVER // 2
    # Every kind of outcome was exercised.
    assert all(v > 0 for v in fuzzer.outcomes.values()), fuzzer.outcomes
    log = server.log()
    assert "Traceback" not in log, log
    assert server.stop() == 0, server.log()


@pytest.mark.parametrize("reader", ["hiredis", "python"])
def test_fuzz_unauthenticated_clients(start_server: Callable[..., ServerProcess], reader: str
                                      ) -> None:
    """Before AUTH the tighter limits apply (10 arguments, 16 KB bulks); every command is
    answered -NOAUTH, one reply each, and the server survives."""
    server = start_server("--requirepass", "fuzz-pw", "--reader", reader)
    fuzzer = _fuzz(server, 300, password="fuzz-pw")
    assert fuzzer.outcomes["error"] > 0
    assert "Traceback" not in server.log()


def test_fuzz_known_cases(start_server: Callable[..., ServerProcess]) -> None:
    """Hand-picked nasty inputs, each on its own connection, against one server."""
    server = start_server()
    fuzzer = Fuzzer(server)
    baseline = server.rss_kb()
    cases = [
        b"*1\r\n$536870912\r\n",
        b"*1\r\n$536870913\r\n",
        b"*-2147483648\r\nPING\r\n",
        b"*1\r\n$4\r\nPING\r\n" * 1000 + b"*abc\r\n",
        b"*" + b"9" * 70_000,
        b"x" * 70_000,
        b'SET "unbalanced\r\n',
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:1\r\n",
        b"*1\r\n*1\r\n$4\r\nPING\r\n",
        b"\r\n" * 1000 + b"PING\r\n",
        b"*1\r\n$4\r\nPINGXY",
        b"*2\r\n$4\r\nECHO\r\n+OK\r\n*1\r\n$4\r\nPING\r\n",
        b"*2\r\n$4\r\nECHO\r\n=7\r\ntxt:abc\r\n*1\r\n$4\r\nPING\r\n",
        b"*2147483647\r\n$4\r\nPING\r\n",
        b"*1\r\n$4\r\nPING\r\n*4294967295\r\n",
        b"\x00" * 100 + b"\r\n",
    ]
    for case in cases:
        fuzzer.run_case(case, [])
    assert server.rss_kb() - baseline < RSS_GROWTH_LIMIT_KB
    fuzzer.observer.close()


def _ping_latency(port: int) -> float:
    c = RawClient(port, timeout=30)
    try:
        start = time.monotonic()
        assert c.command("PING") == b"PONG"
        return time.monotonic() - start
    finally:
        c.close()


@pytest.mark.parametrize("reader", ["hiredis", "python"])
@pytest.mark.parametrize("frame", [b"*2147483647\r\n$4\r\nPING\r\n",
                                   b"*2147483648\r\n",  # refused at once by redis-server
                                   b"*4294967295\r\n",
                                   b"*1\r\n$4\r\nPING\r\n*2147483647\r\n",
                                   b"*2\r\n$3\r\nGET\r\n*2147483647\r\n"])
def test_fuzz_huge_multibulk_count_does_not_stall_server(
    start_server: Callable[..., ServerProcess], reader: str, frame: bytes
) -> None:
    """A 24-byte request declaring 2**31-1 arguments must not freeze the event loop.

    redis-server accepts the header and waits for the arguments; so must we, without
    allocating (hiredis allocates a list of that many slots and frees it slot by slot).
    """
    server = start_server("--reader", reader)
    attacker = socket.create_connection((server.host, server.port), IO_TIMEOUT)
    try:
        attacker.sendall(frame)
        time.sleep(0.05)
        assert _ping_latency(server.port) < 1.0
        attacker.close()
        time.sleep(0.05)
        assert _ping_latency(server.port) < 1.0
    finally:
        attacker.close()
    assert server.rss_kb() < 500 * 1024


@pytest.mark.parametrize("reader", ["hiredis", "python"])
@pytest.mark.parametrize(("frame", "reply"), [
    (b"*1\r\n\r\n", b"-ERR Protocol error: expected '$', got ' '\r\n"),
    (b"*1\r\n\n\r\n", b"-ERR Protocol error: expected '$', got ' '\r\n"),
    (b"*2\r\n$3\r\nGET\r\nfoo\r\n", b"-ERR Protocol error: expected '$', got 'f'\r\n"),
])
def test_fuzz_protocol_error_reply_is_one_line(
    start_server: Callable[..., ServerProcess], reader: str, frame: bytes, reply: bytes
) -> None:
    """The error reply is valid RESP even when the offending byte is CR or LF (redis-server
    turns them into spaces), and the connection is closed after it."""
    server = start_server("--reader", reader)
    c = RawClient(server.port)
    try:
        c.send(frame)
        assert c.read_until_closed() == reply
    finally:
        c.close()
