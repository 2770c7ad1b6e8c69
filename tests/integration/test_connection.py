"""Connection commands through redis-py (RESP2/RESP3, hiredis on/off) and raw sockets."""

from __future__ import annotations

import pytest
import redis


def test_ping_pong(r: redis.Redis) -> None:
    assert r.ping() is True


def test_ping_with_message_echoes(raw) -> None:
    assert raw().command("PING", "hello") == b"hello"


def test_echo_returns_argument(r: redis.Redis) -> None:
    assert r.echo(b"\x00binary\r\n") == b"\x00binary\r\n"


def test_ping_wrong_arity_exact_error(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("PING", "a", "b")
    assert str(e.value) == "wrong number of arguments for 'ping' command"


def test_unknown_command_exact_error(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("FOO", "a", "b")
    assert str(e.value) == "unknown command 'FOO', with args beginning with: 'a' 'b' "


def test_hello_reports_protocol(r: redis.Redis, resp: int) -> None:
    reply = r.execute_command("HELLO", resp)
    assert reply[b"proto"] == resp if isinstance(reply, dict) else True


def test_select_out_of_range(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("SELECT", 16)
    assert str(e.value) == "DB index is out of range"


def test_inline_and_multibulk_mixed(raw) -> None:
    c = raw()
    c.send(b"PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO \"a b\"\r\n")
    assert c.read() == b"PONG"
    assert c.read() == b"hi"
    assert c.read() == b"a b"
