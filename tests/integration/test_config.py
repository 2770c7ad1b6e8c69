"""CONFIG GET / SET / RESETSTAT / REWRITE / HELP with redis-server 7's replies and errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from ..helpers import ROOT, RawClient, free_port


@pytest.fixture
def restore_config(r: redis.Redis) -> Iterator[None]:
    """Put back what a test changes on the shared server."""
    saved = r.config_get("*")
    yield
    for name in ("hz", "maxclients", "slowlog-log-slower-than", "slowlog-max-len", "timeout",
                 "maxmemory", "maxmemory-policy", "save", "appendonly"):
        r.config_set(name, saved[name] or "")


def _error(r: redis.Redis, *args: str) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def test_config_get_benchmark_probes(r: redis.Redis) -> None:
    # redis-benchmark starts with these two and aborts on an error reply.
    assert r.config_get("save") == {"save": ""}
    assert r.config_get("appendonly") == {"appendonly": "no"}


def test_config_get_reply_shape(raw: Callable[[], RawClient], resp: int) -> None:
    c = raw()
    if resp == 3:
        c.command("HELLO", "3")
    reply = c.command("CONFIG", "GET", "maxmemory-policy")
    expected = {b"maxmemory-policy": b"noeviction"}
    assert reply == (expected if resp == 3 else [b"maxmemory-policy", b"noeviction"])


def test_config_get_glob_and_several_patterns(r: redis.Redis) -> None:
    got = r.execute_command("CONFIG", "GET", "maxmemory*", "hz", "nonexistent")
    got = got if isinstance(got, dict) else dict(zip(got[::2], got[1::2], strict=True))
    assert {k.decode() if isinstance(k, bytes) else k for k in got} == {
        "maxmemory", "maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity",
        "hz"}
    assert r.config_get("nonexistent*") == {}


def test_config_get_case_insensitive(r: redis.Redis) -> None:
    assert r.config_get("HZ") == {"hz": "10"}


def test_config_get_wrong_arity(r: redis.Redis) -> None:
    assert _error(r, "CONFIG", "GET") == "wrong number of arguments for 'config|get' command"


def test_config_set_and_get_roundtrip(r: redis.Redis, restore_config: None) -> None:
    assert r.config_set("hz", "20") is True
    assert r.config_get("hz") == {"hz": "20"}
    assert r.execute_command("CONFIG", "SET", "maxmemory", "1mb", "maxmemory-policy",
                             "allkeys-lru") in (True, b"OK", "OK")
    assert r.config_get("maxmemory") == {"maxmemory": "1048576"}
    assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    assert r.info("memory")["maxmemory"] == 1048576


def test_config_set_is_all_or_nothing(r: redis.Redis, restore_config: None) -> None:
    msg = _error(r, "CONFIG", "SET", "hz", "33", "maxclients", "notanumber")
    assert msg == ("CONFIG SET failed (possibly related to argument 'maxclients') - "
                   "argument couldn't be parsed into an integer")
    assert r.config_get("hz") == {"hz": "10"}


def test_config_set_unknown_option(r: redis.Redis) -> None:
    assert _error(r, "CONFIG", "SET", "foo", "1") == (
        "Unknown option or number of arguments for CONFIG SET - 'foo'")
    # Unknown names are reported before any value is parsed, as in redis-server.
    assert _error(r, "CONFIG", "SET", "hz", "x", "Foo", "1") == (
        "Unknown option or number of arguments for CONFIG SET - 'Foo'")


def test_config_set_parse_errors(r: redis.Redis) -> None:
    assert _error(r, "CONFIG", "SET", "HZ", "x") == (
        "CONFIG SET failed (possibly related to argument 'hz') - "
        "argument couldn't be parsed into an integer")
    assert _error(r, "CONFIG", "SET", "maxmemory", "abc") == (
        "CONFIG SET failed (possibly related to argument 'maxmemory') - "
        "argument must be a memory value")
    assert _error(r, "CONFIG", "SET", "protected-mode", "maybe") == (
        "CONFIG SET failed (possibly related to argument 'protected-mode') - "
        "argument must be 'yes' or 'no'")
    assert _error(r, "CONFIG", "SET", "save", "1 2 3") == (
        "CONFIG SET failed (possibly related to argument 'save') - Invalid save parameters")
    assert _error(r, "CONFIG", "SET", "slowlog-max-len", "-5") == (
        "CONFIG SET failed (possibly related to argument 'slowlog-max-len') - "
        "argument must be between 0 and 9223372036854775807 inclusive")
    assert _error(r, "CONFIG", "SET", "client-output-buffer-limit", "foo 1 2 3") == (
        "CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - "
        "Invalid client class specified in buffer limit configuration.")


def test_config_set_immutable(r: redis.Redis) -> None:
    assert _error(r, "CONFIG", "SET", "port", "1") == (
        "CONFIG SET failed (possibly related to argument 'port') - can't set immutable config")
    assert _error(r, "CONFIG", "SET", "hz", "5", "databases", "3") == (
        "CONFIG SET failed (possibly related to argument 'databases') - "
        "can't set immutable config")
    assert r.config_get("hz") == {"hz": "10"}


def test_config_set_duplicate_and_syntax(r: redis.Redis) -> None:
    assert _error(r, "CONFIG", "SET", "hz", "5", "hz", "6") == (
        "CONFIG SET failed (possibly related to argument 'hz') - duplicate parameter")
    assert _error(r, "CONFIG", "SET", "hz", "5", "maxclients") == "syntax error"
    assert _error(r, "CONFIG", "SET", "hz") == (
        "wrong number of arguments for 'config|set' command")


def test_config_set_slowlog_max_len_applies(r: redis.Redis, restore_config: None) -> None:
    r.slowlog_reset()
    r.config_set("slowlog-log-slower-than", "0")
    r.config_set("slowlog-max-len", "3")
    for _ in range(6):
        r.ping()
    assert r.slowlog_len() == 3
    r.slowlog_reset()


def test_config_resetstat_zeroes_stats(r: redis.Redis) -> None:
    r.get("x")
    assert r.config_resetstat() is True
    assert r.info("commandstats").keys() <= {"cmdstat_config|resetstat", "cmdstat_info"}
    assert r.info("stats")["keyspace_misses"] == 0
    assert _error(r, "CONFIG", "RESETSTAT", "x") == (
        "wrong number of arguments for 'config|resetstat' command")


def test_config_rewrite_without_config_file(r: redis.Redis) -> None:
    assert _error(r, "CONFIG", "REWRITE") == "The server is running without a config file"


def test_config_help_and_unknown_subcommand(r: redis.Redis) -> None:
    lines = r.execute_command("CONFIG", "HELP")
    assert [x.decode() if isinstance(x, bytes) else x for x in lines][:2] == [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "GET <pattern>"]
    assert _error(r, "CONFIG", "FOO") == "unknown subcommand 'FOO'. Try CONFIG HELP."


def _start_with_file(conf: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tensorserve", str(conf), "--port", str(port)],
        cwd=str(conf.parent), env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("server with a config file did not start")


def test_config_rewrite_updates_the_file(tmp_path: Path) -> None:
    conf = tmp_path / "ts.conf"
    conf.write_text("# my settings\nhz 15\nsave \"\"\nhz 16\nloglevel warning\n")
    proc, port = _start_with_file(conf)
    try:
        r = redis.Redis(port=port, protocol=2)
        assert r.config_get("hz") == {"hz": "16"}
        assert r.info("server")["config_file"] == str(conf)
        r.config_set("hz", "25")
        r.config_set("maxmemory", "2mb")
        assert r.config_rewrite() == b"OK"  # redis-py has no bool callback for it
        text = conf.read_text()
        assert text.startswith("# my settings\nhz 25\nsave \"\"\nloglevel warning\n")
        assert "maxmemory 2097152" in text
        assert text.count("hz ") == 1
        r.close()
    finally:
        proc.terminate()
        proc.wait(10)
    # The rewritten file starts a server with the same settings.
    proc, port = _start_with_file(conf)
    try:
        r = redis.Redis(port=port, protocol=2)
        assert r.config_get("hz") == {"hz": "25"}
        assert r.config_get("maxmemory") == {"maxmemory": "2097152"}
        r.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_config_get_protected_mode(r: redis.Redis) -> None:
    assert r.config_get("protected-mode") == {"protected-mode": "yes"}
