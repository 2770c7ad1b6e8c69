"""Server and introspection commands: TIME LASTSAVE ROLE SHUTDOWN SLOWLOG MONITOR DEBUG MEMORY
SWAPDB and COMMAND, with redis-server 7's reply shapes and error texts."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
import redis

from ..conftest import require_binary
from ..helpers import RawClient, ServerProcess


def _error(r: redis.Redis, *args: str | int) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def _text(x: object) -> object:
    return x.decode() if isinstance(x, bytes) else x


@pytest.fixture
def slowlog_all(r: redis.Redis) -> Iterator[None]:
    """Log every command, then put the threshold back."""
    r.config_set("slowlog-log-slower-than", "0")
    r.slowlog_reset()
    yield
    r.config_set("slowlog-log-slower-than", "10000")
    r.slowlog_reset()


# -- TIME / LASTSAVE / ROLE ----------------------------------------------------------------
def test_time_reply(raw: Callable[[], RawClient]) -> None:
    sec, usec = raw().command("TIME")
    assert abs(int(sec) - time.time()) < 5
    assert 0 <= int(usec) < 1_000_000


def test_time_redis_py(r: redis.Redis) -> None:
    sec, _usec = r.time()
    assert abs(sec - time.time()) < 5


def test_lastsave_is_a_recent_timestamp(r: redis.Redis) -> None:
    assert abs(r.lastsave().timestamp() - time.time()) < 3600


def test_role_master(raw: Callable[[], RawClient]) -> None:
    assert raw().command("ROLE") == [b"master", 0, []]


# -- SHUTDOWN ------------------------------------------------------------------------------
def test_shutdown_exits_zero(start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server()
    c = RawClient(srv.port)
    c.send(b"SHUTDOWN NOSAVE\r\n")
    assert c.read_until_closed() == b""  # no reply: the connection just closes
    assert srv.proc.wait(10) == 0


def test_shutdown_errors(r: redis.Redis) -> None:
    assert _error(r, "SHUTDOWN", "ABORT") == "No shutdown in progress."
    assert _error(r, "SHUTDOWN", "FOO") == "syntax error"
    assert _error(r, "SHUTDOWN", "NOSAVE", "SAVE") == "syntax error"


# -- SLOWLOG -------------------------------------------------------------------------------
def test_slowlog_get_entries(raw: Callable[[], RawClient], r: redis.Redis,
                             slowlog_all: None) -> None:
    c = raw()
    c.command("CLIENT", "SETNAME", "slowpoke")
    c.command("SET", "slowkey", "x" * 200)
    entries = c.command("SLOWLOG", "GET", "2")
    assert len(entries) == 2
    newest = entries[0]
    assert len(newest) == 6
    entry_id, ts, duration, args, peer, name = newest
    assert entries[1][0] == entry_id - 1
    assert abs(ts - time.time()) < 60 and duration >= 0
    assert args == [b"SET", b"slowkey", b"x" * 128 + b"... (72 more bytes)"]
    assert re.fullmatch(rb"127\.0\.0\.1:\d+", peer)
    assert name == b"slowpoke"


def test_slowlog_len_reset_and_count(r: redis.Redis, slowlog_all: None) -> None:
    for _ in range(12):
        r.ping()
    assert r.slowlog_len() >= 12
    assert len(r.slowlog_get()) == 10  # default count
    assert len(r.slowlog_get(-1)) >= 13
    assert r.slowlog_reset() is True
    assert r.slowlog_len() <= 1  # the RESET itself may be logged afterwards


def test_slowlog_redis_py_parses_entries(r: redis.Redis, slowlog_all: None) -> None:
    r.get("k")
    entry = r.slowlog_get(1)[0]
    assert entry["command"] in (b"GET k", "GET k")
    assert entry["client_address"] is not None


def test_slowlog_errors(r: redis.Redis) -> None:
    assert _error(r, "SLOWLOG", "GET", "-5") == "count should be greater than or equal to -1"
    assert _error(r, "SLOWLOG", "GET", "x") == "count should be greater than or equal to -1"
    assert _error(r, "SLOWLOG", "foo") == "unknown subcommand 'foo'. Try SLOWLOG HELP."
    assert _text(r.execute_command("SLOWLOG", "HELP")[0]) == (
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")


# -- MONITOR -------------------------------------------------------------------------------
def test_monitor_streams_commands(raw: Callable[[], RawClient]) -> None:
    mon, c = raw(), raw()
    assert mon.command("MONITOR") == b"OK"
    c.command("SET", "mkey", "hello world")
    line = mon.read().decode()
    assert re.fullmatch(r'\d+\.\d{6} \[0 127\.0\.0\.1:\d+\] "SET" "mkey" "hello world"', line)


def test_monitor_leaves_out_admin_commands(raw: Callable[[], RawClient]) -> None:
    """As redis-server: CONFIG, CLIENT LIST, DEBUG ... are not fed to MONITOR."""
    mon, other = raw(), raw()
    assert mon.command("MONITOR") == b"OK"
    other.command("CONFIG", "GET", "hz")
    other.command("CLIENT", "LIST")
    other.command("SET", "mon-admin", "v")
    line = mon.read()
    assert b'"set" "mon-admin" "v"' in line.lower(), line


def test_monitor_stops_on_reset(raw: Callable[[], RawClient]) -> None:
    mon, c = raw(), raw()
    mon.command("MONITOR")
    mon.send(b"RESET\r\n")
    assert mon.read() == b"RESET"
    c.command("PING")
    assert mon.command("ECHO", "after") == b"after"  # no monitor line in between


def test_monitor_wrong_arity(r: redis.Redis) -> None:
    assert _error(r, "MONITOR", "x") == "wrong number of arguments for 'monitor' command"


# -- DEBUG ---------------------------------------------------------------------------------
def test_debug_sleep_and_object(r: redis.Redis) -> None:
    t0 = time.monotonic()
    assert r.execute_command("DEBUG", "SLEEP", "0.05") in (b"OK", "OK", True)
    assert time.monotonic() - t0 >= 0.05
    r.set("dbg", "12345")
    info = _text(r.execute_command("DEBUG", "OBJECT", "dbg"))
    assert isinstance(info, str)
    assert "refcount:1 encoding:int" in info
    assert _error(r, "DEBUG", "OBJECT", "nokey") == "no such key"
    assert _error(r, "DEBUG", "FOO") == "unknown subcommand 'FOO'. Try DEBUG HELP."


# -- MEMORY --------------------------------------------------------------------------------
def test_memory_usage(r: redis.Redis) -> None:
    assert r.memory_usage("nokey") is None
    r.set("small", "x")
    r.set("big", "x" * 10000)
    small, big = r.memory_usage("small"), r.memory_usage("big")
    assert small is not None and big is not None
    assert 0 < small < big and big > 10000
    r.rpush("l", *range(100))
    usage = r.memory_usage("l", samples=0)
    assert usage is not None and usage > small
    assert _error(r, "MEMORY", "USAGE", "l", "SAMPLES") == "syntax error"


def test_memory_stats_doctor_help(r: redis.Redis) -> None:
    stats = r.memory_stats()
    assert stats["total.allocated"] > 0
    assert "keys.count" in stats
    doctor = _text(r.execute_command("MEMORY", "DOCTOR"))
    assert isinstance(doctor, str) and doctor.startswith("Hi Sam")
    assert _text(r.execute_command("MEMORY", "HELP")[0]) == (
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")


# -- SWAPDB --------------------------------------------------------------------------------
def test_swapdb(r: redis.Redis) -> None:
    r.set("in0", "a")
    assert r.swapdb(0, 1) is True
    assert r.get("in0") is None
    r.execute_command("SELECT", 1)
    assert r.get("in0") == b"a"
    r.execute_command("SELECT", 0)
    r.swapdb(0, 1)
    assert r.get("in0") == b"a"
    assert _error(r, "SWAPDB", "a", "1") == "invalid first DB index"
    assert _error(r, "SWAPDB", "0", "b") == "invalid second DB index"
    assert _error(r, "SWAPDB", "0", "99") == "DB index is out of range"


# -- COMMAND -------------------------------------------------------------------------------
def test_command_count_and_list(r: redis.Redis) -> None:
    count = r.command_count()
    names = [_text(n) for n in r.command_list()]
    assert count == len(names) > 100
    assert {"get", "client", "config", "command", "info"} <= set(names)


def test_command_list_filterby(r: redis.Redis, raw: Callable[[], RawClient]) -> None:
    assert r.command_list(pattern="xz*") == []
    got = {_text(n) for n in r.command_list(pattern="client|set*")}
    assert got == {"client|setname", "client|setinfo"}
    assert "get" in {_text(n) for n in r.command_list(category="string")}
    assert r.command_list(category="nosuchcat") == []
    c = raw()
    assert c.command("COMMAND", "LIST", "FILTERBY", "MODULE", "x") == []
    assert str(c.command("COMMAND", "LIST", "FILTERBY", "foo", "x")) == "ERR syntax error"
    assert str(c.command("COMMAND", "LIST", "foo")) == "ERR syntax error"


def test_command_info_shape(raw: Callable[[], RawClient]) -> None:
    c = raw()
    [get] = c.command("COMMAND", "INFO", "get")
    assert get[:2] == [b"get", 2]
    assert set(get[2]) == {b"readonly", b"fast"}
    assert get[3:6] == [1, 1, 1]
    assert set(get[6]) == {b"@read", b"@string", b"@fast"}
    assert get[7] == []
    assert get[8] == [[b"flags", [b"RO", b"access"],
                       b"begin_search", [b"type", b"index", b"spec", [b"index", 1]],
                       b"find_keys", [b"type", b"range", b"spec",
                                      [b"lastkey", 0, b"keystep", 1, b"limit", 0]]]]
    assert get[9] == []
    assert c.command("COMMAND", "INFO", "nosuch") == [None]


def test_command_info_resp3_uses_sets_and_maps(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.command("HELLO", "3")
    c.send(b"COMMAND INFO get\r\n")
    data = c.sock.recv(65536)
    assert data.startswith(b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n")
    assert b"~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n" in data


def test_command_info_container_lists_subcommands(r: redis.Redis) -> None:
    info = r.execute_command("COMMAND", "INFO", "config")
    if isinstance(info, dict):  # redis-py parses COMMAND INFO into a dict
        config = info["config"]
        subs = {_text(s[0]) for s in config["subcommands"]}
        assert config["arity"] == -2
    else:
        config = info[0]
        subs = {_text(s[0]) for s in config[9]}
    assert subs == {"config|get", "config|set", "config|resetstat", "config|rewrite",
                    "config|help"}


def test_command_docs_map(raw: Callable[[], RawClient], resp: int) -> None:
    c = raw()
    if resp == 3:
        c.command("HELLO", "3")
    docs = c.command("COMMAND", "DOCS", "get", "nosuch", "config")
    if isinstance(docs, list):
        docs = dict(zip(docs[::2], docs[1::2], strict=True))
        docs = {k: dict(zip(v[::2], v[1::2], strict=True)) for k, v in docs.items()}
    assert set(docs) == {b"get", b"config"}
    assert docs[b"get"][b"group"] == b"string"
    assert docs[b"get"][b"since"] == b"1.0.0"
    assert docs[b"get"][b"summary"]
    assert b"config|get" in (docs[b"config"][b"subcommands"]
                             if isinstance(docs[b"config"][b"subcommands"], dict)
                             else docs[b"config"][b"subcommands"][::2])


def test_command_docs_all_well_formed(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.command("HELLO", "3")
    docs = c.command("COMMAND", "DOCS")
    assert len(docs) == c.command("COMMAND", "COUNT")
    for name, doc in docs.items():
        assert {b"summary", b"since", b"group", b"complexity"} <= set(doc), name
        for sub in doc.get(b"subcommands", {}).values():
            assert {b"summary", b"since", b"group", b"complexity"} <= set(sub), name


def test_command_getkeys(r: redis.Redis, raw: Callable[[], RawClient]) -> None:
    assert [_text(k) for k in r.command_getkeys("GET", "a")] == ["a"]
    c = raw()
    assert c.command("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == [b"a", b"b"]
    assert c.command("COMMAND", "GETKEYS", "CONFIG", "GET", "x").args[0] == (
        "ERR The command has no key arguments")
    for args, msg in [
        (("foo", "a"), "Invalid command specified"),
        (("ping", "a"), "The command has no key arguments"),
        (("get", "a", "b"), "Invalid number of arguments specified for command"),
        (("get",), "wrong number of arguments for 'command|getkeys' command"),
    ]:
        assert str(c.command("COMMAND", "GETKEYS", *args)) == "ERR " + msg


def test_command_getkeysandflags(raw: Callable[[], RawClient]) -> None:
    reply = raw().command("COMMAND", "GETKEYSANDFLAGS", "GET", "k")
    assert reply == [[b"k", [b"RO", b"access"]]]


def test_command_help_and_errors(raw: Callable[[], RawClient]) -> None:
    c = raw()
    assert c.command("COMMAND", "HELP")[0] == (
        b"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    assert str(c.command("COMMAND", "COUNT", "x")) == (
        "ERR wrong number of arguments for 'command|count' command")
    assert str(c.command("COMMAND", "FOO")) == "ERR unknown subcommand 'FOO'. Try COMMAND HELP."


def test_command_info_all(raw: Callable[[], RawClient]) -> None:
    c = raw()
    infos = c.command("COMMAND", "INFO")
    assert len(infos) == c.command("COMMAND", "COUNT")
    assert all(len(info) == 10 for info in infos)


def test_command_bare_lists_everything(r: redis.Redis) -> None:
    cmds = r.command()
    assert "get" in cmds and cmds["get"]["arity"] == 2


# -- redis-cli -----------------------------------------------------------------------------
def test_redis_cli_interactive_uses_command_docs(server: ServerProcess) -> None:
    """redis-cli on a tty fetches COMMAND DOCS on connect and shows it in `help`."""
    path = require_binary("redis-cli")
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.environ["TERM"] = "dumb"  # no cursor-position queries from linenoise
        os.execv(path, [path, "-p", str(server.port)])

    def read(until: bytes, timeout: float = 5.0) -> bytes:
        out = b""
        deadline = time.monotonic() + timeout
        while until not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
        return out

    try:
        prompt = f"127.0.0.1:{server.port}> ".encode()
        assert prompt in read(prompt)
        os.write(fd, b"help client setname\n")
        assert b"Sets the connection name." in read(prompt)
        os.write(fd, b"config get appendonly\n")
        assert b'"no"' in read(prompt)
        os.write(fd, b"exit\n")
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        os.close(fd)
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def test_redis_cli_info_and_client_list(server: ServerProcess) -> None:
    path = require_binary("redis-cli")
    out = subprocess.run([path, "-p", str(server.port), "INFO", "server"], capture_output=True,
                         timeout=30, check=True).stdout.decode()
    assert "redis_version:7.2.4" in out
    out = subprocess.run([path, "-p", str(server.port), "-3", "CLIENT", "LIST"],
                         capture_output=True, timeout=30, check=True).stdout.decode()
    assert "cmd=client|list" in out and "resp=3" in out


def test_debug_and_protected_configs_are_off_by_default() -> None:
    """Redis 7's defaults: DEBUG, and CONFIG SET of dir / dbfilename, are refused unless
    enabled (yes, or local: from loopback)."""
    from ..helpers import ServerProcess

    default = ServerProcess([])
    local = ServerProcess(["--enable-debug-command", "local",
                           "--enable-protected-configs", "local"])
    try:
        r = redis.Redis(port=default.port)
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command("DEBUG", "SLEEP", "0")
        assert str(e.value) == (
            "DEBUG command not allowed. If the enable-debug-command option is set to "
            "\"local\", you can run it from a local connection, otherwise you need to set "
            "this option in the configuration file, and then restart the server.")
        for name, value in (("dir", "/tmp"), ("dbfilename", "x.tsdb")):
            with pytest.raises(redis.ResponseError) as e:
                r.config_set(name, value)
            assert str(e.value) == (f"CONFIG SET failed (possibly related to argument "
                                    f"'{name}') - can't set protected config")
        with pytest.raises(redis.ResponseError) as e:
            r.config_set("enable-debug-command", "yes")
        assert "can't set immutable config" in str(e.value)
        assert r.config_get("enable-*") == {"enable-protected-configs": "no",
                                            "enable-debug-command": "no"}
        # local: allowed from loopback, where this client is.
        r = redis.Redis(port=local.port)
        assert r.execute_command("DEBUG", "SLEEP", "0")
        assert r.config_set("dbfilename", "x.tsdb")
    finally:
        default.stop()
        local.stop()
