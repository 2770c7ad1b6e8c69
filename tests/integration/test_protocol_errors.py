"""Malformed requests, side by side with redis-server: the same reply bytes, the same close.

Each case of redis-server's own protocol tests (tests/unit/protocol.tcl: empty query,
negative and out-of-range multibulk and bulk lengths, wrong payload header, unbalanced
quotes, the "Protocol desync regression test"s; tests/unit/auth.tcl: the limits on
unauthenticated clients), and a few neighbours of them, is sent over a raw socket to a
real redis-server and to tensorserve with each reader (hiredis-backed and pure Python).
Both must send exactly the same bytes and both must close the connection after them, or
both keep it open; the reply is also checked against Redis's exact text.

One difference is ours on purpose: a bulk must be followed by CRLF. redis-server skips
the two bytes after a bulk unread (``*1\\r\\n$4\\r\\nPINGxx`` is a PING there); we refuse
them with ``-ERR Protocol error: bulk not followed by CRLF`` and close.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from ..conftest import require_binary
from ..helpers import RedisServerProcess, ServerProcess

PASSWORD = "protocol-pw"
PING = b"*1\r\n$4\r\nPING\r\n"
PONG = b"+PONG\r\n"
NOAUTH = b"-NOAUTH Authentication required.\r\n"
READERS = ["hiredis", "python"]


def _err(text: str) -> bytes:
    return b"-ERR Protocol error: " + text.encode() + b"\r\n"


@dataclass(frozen=True)
class Case:
    id: str
    payload: bytes
    reply: bytes  # what redis-server sends back (the exact text)
    closed: bool  # whether it closes the connection after it
    auth: bool = False  # sent to a server with requirepass, before AUTH
    stream: bytes = b""  # junk sent after the payload, over and over, until the close


CASES = [
    # tests/unit/protocol.tcl
    Case("empty-query", b"\r\n" + PING, PONG, closed=False),
    Case("empty-queries", b"\r\n" * 100 + b"\n\n" + PING, PONG, closed=False),
    Case("negative-multibulk-length", b"*-10\r\n" + PING, PONG, closed=False),
    Case("zero-multibulk-length", b"*0\r\n" + PING, PONG, closed=False),
    Case("out-of-range-multibulk-length", b"*3000000000\r\n",
         _err("invalid multibulk length"), closed=True),
    Case("multibulk-length-over-int-max", b"*2147483648\r\n",
         _err("invalid multibulk length"), closed=True),
    # Redis 7 takes counts up to INT_MAX and waits for the arguments: the next command's
    # '*' is then where a '$' must be.
    Case("large-multibulk-length-waits", b"*20000000\r\n" + PING,
         _err("expected '$', got '*'"), closed=True),
    Case("wrong-multibulk-payload-header", b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
         _err("expected '$', got 'f'"), closed=True),
    # Without a CR the header is not looked at yet: both wait.
    Case("payload-header-without-newline", b"*3\r\nx", b"", closed=False),
    Case("payload-header-then-command", b"*3\r\nx" + PING, _err("expected '$', got 'x'"),
         closed=True),
    Case("negative-multibulk-payload-length", b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
         _err("invalid bulk length"), closed=True),
    Case("out-of-range-multibulk-payload-length",
         b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", _err("invalid bulk length"),
         closed=True),
    Case("non-number-multibulk-payload-length", b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
         _err("invalid bulk length"), closed=True),
    Case("multibulk-not-followed-by-bulk", b"*1\r\nfoo\r\n", _err("expected '$', got 'f'"),
         closed=True),
    Case("generic-wrong-number-of-args", b"*4\r\n$4\r\nping\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"
         + PING, b"-ERR wrong number of arguments for 'ping' command\r\n" + PONG,
         closed=False),
    Case("unbalanced-quotes", b'set """test-key""" test-value\r\nping\r\n',
         _err("unbalanced quotes in request"), closed=True),
    Case("unbalanced-single-quote", b"set 'k v\r\n", _err("unbalanced quotes in request"),
         closed=True),
    Case("closing-quote-not-followed-by-space", b'set "k"v v\r\n',
         _err("unbalanced quotes in request"), closed=True),
    Case("too-big-inline-request", b"x" * 70_000, _err("too big inline request"), closed=True),
    Case("too-big-mbulk-count-string", b"*" + b"1" * 70_000, _err("too big mbulk count string"),
         closed=True),
    Case("too-big-bulk-count-string", b"*1\r\n$" + b"1" * 70_000,
         _err("too big bulk count string"), closed=True),
    # "Protocol desync regression test" #1-#3: junk after a bad start, sent until the
    # server gives up on it (it must not buffer it forever).
    Case("desync-1", b"\x00", _err("too big inline request"), closed=True, stream=b"payload"),
    Case("desync-2", b"*\x00", _err("too big mbulk count string"), closed=True,
         stream=b"payload"),
    Case("desync-3", b"$\x00", _err("too big inline request"), closed=True, stream=b"payload"),
    Case("desync-huge-bulk-length", b"*1\r\n$2000000000\r\n", _err("invalid bulk length"),
         closed=True, stream=b"A" * 1024 + b"\n"),
    Case("desync-after-valid-prefix", PING + b"*1\r\n$4\r\nPING\r\n\x01\x02junk",
         PONG + PONG + _err("too big inline request"), closed=True,
         stream=b"\xff\xfe\x00junk"),
    Case("large-number-of-args",  # "test large number of args": 20,003 arguments
         b"*20003\r\n$4\r\nMSET\r\n" + b"$1\r\nk\r\n$1\r\nv\r\n" * 10000
         + b"$4\r\n{k}2\r\n$2\r\nv2\r\n*2\r\n$3\r\nGET\r\n$4\r\n{k}2\r\n",
         b"+OK\r\n$2\r\nv2\r\n", closed=False),
    # Neighbours: canonical numbers only (string2ll), the commands before an error are
    # answered first, other RESP types where a bulk belongs, the empty command name.
    Case("commands-before-error", PING + PING + b"*abc\r\n",
         PONG + PONG + _err("invalid multibulk length"), closed=True),
    Case("multibulk-length-leading-zero", b"*01\r\n$4\r\nPING\r\n",
         _err("invalid multibulk length"), closed=True),
    Case("multibulk-length-plus-sign", b"*+1\r\n$4\r\nPING\r\n",
         _err("invalid multibulk length"), closed=True),
    Case("multibulk-length-minus-zero", b"*-0\r\n", _err("invalid multibulk length"),
         closed=True),
    Case("bulk-length-leading-zero", b"*1\r\n$04\r\nPING\r\n", _err("invalid bulk length"),
         closed=True),
    Case("bulk-length-with-space", b"*1\r\n$4 \r\nPING\r\n", _err("invalid bulk length"),
         closed=True),
    Case("bulk-length-minus-one", b"*1\r\n$-1\r\n", _err("invalid bulk length"), closed=True),
    Case("bulk-length-over-proto-max-bulk-len", b"*1\r\n$536870913\r\n",
         _err("invalid bulk length"), closed=True),
    Case("nested-array", b"*1\r\n*1\r\n$4\r\nPING\r\n", _err("expected '$', got '*'"),
         closed=True),
    Case("integer-argument", b"*2\r\n$4\r\nECHO\r\n:1\r\n", _err("expected '$', got ':'"),
         closed=True),
    Case("simple-string-argument", b"*2\r\n$4\r\nECHO\r\n+OK\r\n", _err("expected '$', got '+'"),
         closed=True),
    Case("cr-as-payload-header", b"*1\r\n\r\n", _err("expected '$', got ' '"), closed=True),
    Case("lf-as-payload-header", b"*1\r\n\n\r\n", _err("expected '$', got ' '"), closed=True),
    Case("empty-command-name", b"*1\r\n$0\r\n\r\n" + PING,
         b"-ERR unknown command '', with args beginning with: \r\n" + PONG, closed=False),
    Case("header-cr-without-lf", b"*1\rX$4\r\nPING\r\n", PONG, closed=False),
    Case("inline-ping", b"PING\r\nping\nPING \"a b\"\r\n", PONG + PONG + b"$3\r\na b\r\n",
         closed=False),
    Case("inline-quoted-escapes", b'ECHO "\\x41\\n\\"" \'it\\\'s\'\r\nECHO \'it\\\'s\'\r\n',
         b"-ERR wrong number of arguments for 'echo' command\r\n$4\r\nit's\r\n", closed=False),
    # Junk that parses: an unknown command, its name and arguments echoed as sent (cut
    # at 128 bytes and at a NUL, like C's %.128s).
    Case("junk-line", PING + b"\x01\x02junk \xc3\xa9t\xe9\r\n" + PING,
         PONG + b"-ERR unknown command '\x01\x02junk', with args beginning with: "
         b"'\xc3\xa9t\xe9' \r\n" + PONG, closed=False),
    Case("junk-binary-command-name", b"*1\r\n$2\r\n\xff\xfe\r\n" + PING,
         b"-ERR unknown command '\xff\xfe', with args beginning with: \r\n" + PONG,
         closed=False),
    Case("junk-nul-in-command-name", b"*2\r\n$4\r\nPI\x00G\r\n$2\r\na\x00\r\n",
         b"-ERR unknown command 'PI', with args beginning with: 'a' \r\n", closed=False),
    Case("junk-crlf-in-command-name", b"*2\r\n$4\r\nP\r\nG\r\n$3\r\na\nb\r\n",
         b"-ERR unknown command 'P  G', with args beginning with: 'a b' \r\n", closed=False),
    Case("junk-long-arguments", b"x " + "\u00e9".encode() * 80 + b" y " + b"z" * 200 + b"\r\n",
         b"-ERR unknown command 'x', with args beginning with: '" + "\u00e9".encode() * 64
         + b"' \r\n", closed=False),
    Case("junk-long-command-name", b"y" * 200 + b" a b\r\n",
         b"-ERR unknown command '" + b"y" * 128 + b"', with args beginning with: 'a' 'b' \r\n",
         closed=False),
    # redis-server looks for line ends with strchr: a NUL before the CR (or, inline, the LF)
    # hides the end of the line, so it waits for more (until the 64 KB limit).
    Case("nul-in-multibulk-length", b"*1\x00\r\n" + PING, b"", closed=False),
    Case("nul-in-bulk-length", b"*1\r\n$4\x00\r\nPING\r\n" + PING, b"", closed=False),
    Case("nul-in-inline-command", b"PI\x00NG\r\n" + PING, b"", closed=False),
    Case("nul-in-bulk-payload", b"*2\r\n$4\r\nECHO\r\n$3\r\na\x00b\r\n", b"$3\r\na\x00b\r\n",
         closed=False),
    Case("nul-then-too-big", b"*1\x00\r\n", _err("too big mbulk count string"), closed=True,
         stream=b"payload"),
    # tests/unit/auth.tcl: before AUTH, at most 10 arguments and 16 KB bulks.
    Case("unauthenticated-multibulk-length", b"*100\r\n",
         _err("unauthenticated multibulk length"), closed=True, auth=True),
    Case("unauthenticated-multibulk-length-11", b"*11\r\n",
         _err("unauthenticated multibulk length"), closed=True, auth=True),
    Case("unauthenticated-multibulk-length-10", b"*10\r\n" + b"$4\r\nPING\r\n" * 10 + PING,
         NOAUTH + NOAUTH, closed=False, auth=True),
    Case("unauthenticated-bulk-length", b"*1\r\n$100000000\r\n",
         _err("unauthenticated bulk length"), closed=True, auth=True),
    Case("unauthenticated-bulk-length-16385", b"*2\r\n$4\r\nECHO\r\n$16385\r\n",
         _err("unauthenticated bulk length"), closed=True, auth=True),
    Case("unauthenticated-bulk-length-16384",
         b"*2\r\n$4\r\nECHO\r\n$16384\r\n" + b"x" * 16384 + b"\r\n" + PING,
         NOAUTH + NOAUTH, closed=False, auth=True),
    Case("unauthenticated-inline", b"PING\r\n", NOAUTH, closed=False, auth=True),
    Case("unauthenticated-too-big-inline", b"x" * 70_000, _err("too big inline request"),
         closed=True, auth=True),
    Case("unauthenticated-auth-then-large", b"*2\r\n$4\r\nAUTH\r\n$11\r\nprotocol-pw\r\n"
         b"*2\r\n$4\r\nECHO\r\n$20000\r\n" + b"x" * 20000 + b"\r\n",
         b"+OK\r\n$20000\r\n" + b"x" * 20000 + b"\r\n", closed=False, auth=True),
]

# Ours on purpose (see the module docstring): (case, redis-server's reply and close).
STRICTER = [
    (Case("bulk-not-followed-by-crlf", b"*1\r\n$4\r\nPINGxx",
          _err("bulk not followed by CRLF"), closed=True), (PONG, False)),
    (Case("bulk-followed-by-cr-cr", b"*1\r\n$4\r\nPING\r\r\n",
          _err("bulk not followed by CRLF"), closed=True), (PONG, False)),
    (Case("bulk-followed-by-lf-cr", b"*2\r\n$4\r\nECHO\r\n$1\r\na\n\r" + PING,
          _err("bulk not followed by CRLF"), closed=True), (b"$1\r\na\r\n" + PONG, False)),
]


@dataclass(frozen=True)
class Outcome:
    reply: bytes
    closed: bool


def observe(port: int, case: Case, expect: int | None = None) -> Outcome:
    """Send the case on a fresh connection; what comes back, and whether it was closed.

    Once ``expect`` bytes (the case's reply by default) have come, a short wait shows
    whether anything more, or the close, follows.
    """
    expect = len(case.reply) if expect is None else expect
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = bytearray()
    closed = False
    try:
        try:
            sock.sendall(case.payload)
            if case.stream:
                # Keep sending junk (as redis's desync test does) until the server gives
                # up on it; 8 MB without a close is a failure.
                chunk = case.stream * (4096 // len(case.stream) + 1)
                sent = 0
                while sent < 8 * 1024 * 1024:
                    sock.sendall(chunk)
                    sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        # Read until the close, or until the expected reply came and nothing else follows.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if len(out) >= expect:
                sock.settimeout(0.3)  # anything more (or the close) shows up by now
            try:
                data = sock.recv(1 << 20)
            except ConnectionResetError:
                closed = True
                break
            except TimeoutError:
                break
            if not data:
                closed = True
                break
            out += data
    finally:
        sock.close()
    return Outcome(bytes(out), closed)


@pytest.fixture(scope="module")
def redis_outcomes(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[Callable[[Case, bytes | None], Outcome]]:
    """What redis-server does with a case (each observed once, on demand)."""
    binary = require_binary("redis-server")
    servers: dict[bool, RedisServerProcess] = {}
    seen: dict[Case, Outcome] = {}

    def outcome(case: Case, theirs: bytes | None = None) -> Outcome:
        if case not in seen:
            if case.auth not in servers:
                args = ["--requirepass", PASSWORD] if case.auth else []
                servers[case.auth] = RedisServerProcess(
                    binary, str(tmp_path_factory.mktemp("redis")), args)
            expect = None if theirs is None else len(theirs)
            seen[case] = observe(servers[case.auth].port, case, expect)
        return seen[case]

    yield outcome
    for s in servers.values():
        s.stop()


@pytest.fixture(scope="module")
def ours(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str, bool], int]]:
    """The port of a tensorserve with the given reader (and requirepass or not)."""
    servers: dict[tuple[str, bool], ServerProcess] = {}

    def port(reader: str, auth: bool) -> int:
        if (reader, auth) not in servers:
            args = ["--reader", reader, *(["--requirepass", PASSWORD] if auth else [])]
            servers[reader, auth] = ServerProcess(
                args, cwd=str(tmp_path_factory.mktemp("tensorserve")))
        return servers[reader, auth].port

    yield port
    for s in servers.values():
        log = s.log()
        assert s.stop() == 0, log
        assert "Traceback" not in log, log


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_request_gets_redis_reply_and_close(
    case: Case, reader: str, ours: Callable[[str, bool], int],
    redis_outcomes: Callable[[Case, bytes | None], Outcome],
) -> None:
    want = Outcome(case.reply, case.closed)
    assert redis_outcomes(case, None) == want, "redis-server itself: the case's expectation is off"
    assert observe(ours(reader, case.auth), case) == want


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize(("case", "theirs"), STRICTER, ids=[c.id for c, _ in STRICTER])
def test_bulk_must_be_followed_by_crlf(
    case: Case, theirs: tuple[bytes, bool], reader: str, ours: Callable[[str, bool], int],
    redis_outcomes: Callable[[Case, bytes | None], Outcome],
) -> None:
    assert redis_outcomes(case, theirs[0]) == Outcome(*theirs)  # redis-server skips the 2 bytes unread
    assert observe(ours(reader, case.auth), case) == Outcome(case.reply, case.closed)
