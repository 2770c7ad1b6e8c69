"""redis-cli against a live tensorserve: one-shot commands (RESP2 and -3), --scan, --pipe,
INFO, and an interactive session on a pseudo-terminal (where redis-cli sends COMMAND DOCS
on connect to build its help)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import require_binary
from ..helpers import RawClient, RedisServerProcess, ServerProcess, encode_command

TIMEOUT = 60


@pytest.fixture
def cli(server: ServerProcess) -> Iterator[CLI]:
    """A redis-cli runner for the session server, whose keyspace is flushed first."""
    path = require_binary("redis-cli")
    c = RawClient(server.port)
    assert c.command("FLUSHALL") == b"OK"
    c.close()
    yield CLI(path, server)


class _Port:
    """Where a server listens (a ServerProcess, or redis-server started here)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.port = port
        self.host = host


class CLI:
    def __init__(self, path: str, server: ServerProcess | _Port) -> None:
        self.path = path
        self.server = server

    def run(self, *args: str, resp3: bool = False, stdin: bytes | None = None,
            check: bool = True) -> subprocess.CompletedProcess[bytes]:
        cmd = [self.path, "-h", self.server.host, "-p", str(self.server.port)]
        if resp3:
            cmd.append("-3")
        proc = subprocess.run([*cmd, *args], input=stdin, capture_output=True,
                              timeout=TIMEOUT, check=False)
        if check:
            assert proc.returncode == 0, (proc.stdout, proc.stderr)
        return proc

    def out(self, *args: str, resp3: bool = False) -> str:
        return self.run(*args, resp3=resp3).stdout.decode()

    def lines(self, *args: str, resp3: bool = False) -> list[str]:
        return self.out(*args, resp3=resp3).splitlines()


# --- one-shot commands -------------------------------------------------------------------


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_redis_cli_strings(cli: CLI, resp3: bool) -> None:
    assert cli.out("SET", "greeting", "hello world", resp3=resp3) == "OK\n"
    assert cli.out("GET", "greeting", resp3=resp3) == "hello world\n"
    assert cli.out("GET", "missing", resp3=resp3) == "\n"
    assert cli.out("INCR", "counter", resp3=resp3) == "1\n"
    assert cli.out("INCR", "counter", resp3=resp3) == "2\n"


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_redis_cli_lists(cli: CLI, resp3: bool) -> None:
    assert cli.out("LPUSH", "l", "a", "b", "c", resp3=resp3) == "3\n"
    assert cli.lines("LRANGE", "l", "0", "-1", resp3=resp3) == ["c", "b", "a"]
    assert cli.out("LRANGE", "nolist", "0", "-1", resp3=resp3) == "\n"  # as with redis-server


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_redis_cli_hashes(cli: CLI, resp3: bool) -> None:
    assert cli.out("HSET", "h", "f1", "v1", "f2", "v2", resp3=resp3) == "2\n"
    lines = cli.lines("HGETALL", "h", resp3=resp3)
    if resp3:
        # A RESP3 map: redis-cli prints "key value" pairs, one per line, when not on a tty.
        assert sorted(lines) == ["f1 v1", "f2 v2"]
    else:
        assert sorted(zip(lines[::2], lines[1::2], strict=True)) == [("f1", "v1"), ("f2", "v2")]


def test_redis_cli_error_reply(cli: CLI) -> None:
    cli.out("SET", "s", "x")
    proc = cli.run("LPUSH", "s", "a", check=False)
    assert b"WRONGTYPE Operation against a key holding the wrong kind of value" in proc.stdout
    proc = cli.run("NOSUCHCOMMAND", check=False)
    assert b"ERR unknown command 'NOSUCHCOMMAND'" in proc.stdout


def test_redis_cli_binary_value_roundtrip(cli: CLI) -> None:
    # -x reads the last argument from stdin, bytes as they are.
    value = bytes(range(256)) * 4
    assert cli.run("-x", "SET", "bin", stdin=value).stdout == b"OK\n"
    c = RawClient(cli.server.port)
    try:
        assert c.command("GET", "bin") == value
    finally:
        c.close()


# --- --scan ------------------------------------------------------------------------------


def _load(port: int, commands: list[bytes]) -> None:
    c = RawClient(port)
    try:
        c.send(b"".join(commands))
        for _ in commands:
            reply = c.read()
            assert not isinstance(reply, Exception), reply
    finally:
        c.close()


def test_redis_cli_scan(cli: CLI) -> None:
    keys = {f"user:{i}" for i in range(500)} | {f"item:{i}" for i in range(300)}
    _load(cli.server.port, [encode_command("SET", k, "v") for k in sorted(keys)])
    assert set(cli.lines("--scan")) == keys
    assert set(cli.lines("--scan", "--pattern", "user:*")) == {k for k in keys
                                                              if k.startswith("user:")}
    assert set(cli.lines("--scan", "--pattern", "item:1?")) == {f"item:{i}" for i in range(10, 20)}
    assert cli.lines("--scan", "--pattern", "nothing:*") == []


# --- --pipe mass insertion ---------------------------------------------------------------


@pytest.mark.slow
def test_redis_cli_pipe_mass_insertion(cli: CLI) -> None:
    n = 100_000
    data = b"".join(encode_command("SET", f"key:{i:07d}", f"value-{i}") for i in range(n))
    proc = cli.run("--pipe", stdin=data)
    out = proc.stdout.decode()
    assert f"errors: 0, replies: {n}" in out, out
    assert cli.out("DBSIZE") == f"{n}\n"
    assert cli.out("GET", "key:0054321") == "value-54321\n"


def test_redis_cli_pipe_reports_errors(cli: CLI) -> None:
    data = (encode_command("SET", "s", "x") + encode_command("LPUSH", "s", "a")
            + encode_command("GET", "s"))
    proc = cli.run("--pipe", stdin=data, check=False)
    assert "errors: 1, replies: 3" in proc.stdout.decode(), proc.stdout


def test_redis_cli_pipe_inline_commands(cli: CLI) -> None:
    data = b"".join(b"SET inline:%d %d\r\n" % (i, i) for i in range(1000))
    proc = cli.run("--pipe", stdin=data)
    assert "errors: 0, replies: 1000" in proc.stdout.decode()
    assert cli.out("GET", "inline:999") == "999\n"


# --- same output as redis-server --------------------------------------------------------

COMPARED: list[list[str]] = [
    ["SET", "s", "v"], ["GET", "s"], ["GET", "nokey"], ["APPEND", "s", "w"], ["STRLEN", "s"],
    ["INCR", "n"], ["INCRBY", "n", "10"], ["DECR", "n"], ["INCRBYFLOAT", "f", "1.5"],
    ["INCR", "s"], ["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "nokey"],
    ["RPUSH", "l", "x", "y", "z"], ["LRANGE", "l", "0", "-1"], ["LRANGE", "nokey", "0", "-1"],
    ["LPOP", "l"], ["LLEN", "l"], ["LPUSH", "s", "x"],
    ["HSET", "h", "f", "v"], ["HGET", "h", "f"], ["HGETALL", "h"], ["HGETALL", "nokey"],
    ["SADD", "set", "m"], ["SMEMBERS", "set"], ["SISMEMBER", "set", "m"],
    ["ZADD", "z", "1.5", "m", "2", "n"], ["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    ["ZSCORE", "z", "m"], ["ZPOPMIN", "z"],
    ["EXISTS", "s", "nokey"], ["TYPE", "h"], ["TYPE", "nokey"], ["DEL", "a", "b"],
    ["EXPIRE", "s", "100"], ["TTL", "s"], ["PERSIST", "s"], ["TTL", "s"],
    ["PING"], ["PING", "hello"], ["ECHO", "hi"], ["DBSIZE"], ["GET"], ["NOSUCHCOMMAND", "x"],
]


@pytest.fixture
def redis_server_port(tmp_path: Path) -> Iterator[int]:
    """A real redis-server on a free port, persistence off."""
    server = RedisServerProcess(require_binary("redis-server"), str(tmp_path))
    try:
        yield server.port
    finally:
        server.stop()


@pytest.mark.parametrize("resp3", [False, True], ids=["resp2", "resp3"])
def test_redis_cli_output_matches_redis_server(cli: CLI, redis_server_port: int, resp3: bool
                                               ) -> None:
    """Each command's redis-cli output (text and exit code) equals redis-server's."""
    theirs = CLI(cli.path, _Port(redis_server_port))
    theirs.run("FLUSHALL")
    for args in COMPARED:
        mine = cli.run(*args, resp3=resp3, check=False)
        ref = theirs.run(*args, resp3=resp3, check=False)
        assert (mine.stdout, mine.returncode) == (ref.stdout, ref.returncode), args


# --- INFO --------------------------------------------------------------------------------


def test_redis_cli_info(cli: CLI) -> None:
    out = cli.out("INFO")
    assert "# Server" in out
    assert "redis_version:" in out
    assert "# Keyspace" in out


def test_redis_cli_info_keyspace(cli: CLI) -> None:
    cli.out("SET", "a", "1")
    cli.out("SET", "b", "2")
    lines = [line.strip() for line in cli.lines("INFO", "keyspace")]
    assert lines[0] == "# Keyspace"
    assert any(line.startswith("db0:keys=2,") for line in lines), lines


# --- stdin, non-interactive and interactive ----------------------------------------------


def test_redis_cli_commands_from_stdin(cli: CLI) -> None:
    # Without a tty, redis-cli runs one command per stdin line.
    proc = cli.run(stdin=b"SET k v\nGET k\nINCR n\nPING\n")
    assert proc.stdout.decode().splitlines() == ["OK", "v", "1", "PONG"]


def _interactive(path: str, port: int, script: bytes, timeout: float = 15.0
                 ) -> tuple[int, str]:
    """Run redis-cli on a pseudo-terminal (so it sends COMMAND DOCS on connect)."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "dumb"}  # linenoise reads plain lines on a dumb terminal
    proc = subprocess.Popen([path, "-p", str(port)], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    out = b""
    try:
        time.sleep(0.3)
        os.write(master, script)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, out.decode(errors="replace")


def test_redis_cli_interactive_session(cli: CLI) -> None:
    code, out = _interactive(cli.path, cli.server.port,
                             b"PING\nSET greeting hi\nGET greeting\nHELP GET\nquit\n")
    assert code == 0, out
    assert "PONG" in out
    assert '"hi"' in out
    assert "Returns the string value of a key" in out  # help built from COMMAND DOCS
    assert cli.server.alive()


def test_redis_cli_interactive_help_for_every_group(cli: CLI) -> None:
    script = b"".join(b"HELP @%s\n" % g for g in (b"string", b"list", b"hash", b"set",
                                                   b"sorted-set", b"generic", b"server"))
    code, out = _interactive(cli.path, cli.server.port, script + b"PING\nquit\n")
    assert code == 0, out
    assert "PONG" in out
