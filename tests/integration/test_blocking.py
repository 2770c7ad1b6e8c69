"""Blocking list pops: wake-ups by other clients, timeouts, FIFO order, disconnects."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
import redis

from tests.conftest import make_client
from tests.helpers import RawClient, ServerProcess, encode_command

RawFactory = Callable[[], RawClient]


def _blocked(raw: RawFactory, *args: object) -> RawClient:
    """A raw client that sent a blocking command (and is now waiting)."""
    c = raw()
    c.command("SELECT", "0")
    c.send(encode_command(*args))  # type: ignore[arg-type]
    time.sleep(0.05)  # let the server register the waiter before anyone pushes
    return c


def _still_blocked(c: RawClient) -> bool:
    c.sock.settimeout(0.1)
    try:
        return not c.sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    finally:
        c.sock.settimeout(5)


def _wire(c: RawClient, n: int = 1, timeout: float = 2.0) -> bytes:
    """The raw bytes of the next ``n`` simple replies (null, integer, status)."""
    c.sock.settimeout(timeout)
    data = b""
    while data.count(b"\r\n") < n:
        data += c.sock.recv(1024)
    return data


def test_blpop_woken_by_push_from_other_client(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLPOP", "k", "0")
    assert _still_blocked(c)
    assert r.rpush("k", "v") == 1
    assert c.read() == [b"k", b"v"]
    assert r.exists("k") == 0  # popped when the waiter was served


def test_blpop_redis_py_client_in_thread(r: redis.Redis, server: ServerProcess,
                                         client_variant: str) -> None:
    other = make_client(server.port, client_variant)
    result: list[object] = []
    t = threading.Thread(target=lambda: result.append(other.brpop(["k"], timeout=5)))
    t.start()
    time.sleep(0.1)
    r.lpush("k", "a", "b")
    t.join(5)
    other.close()
    assert result == [[b"k", b"a"]] or result == [(b"k", b"a")]
    assert r.lrange("k", 0, -1) == [b"b"]


def test_blocking_timeout_null_array_on_the_wire(raw: RawFactory) -> None:
    c = raw()
    c.command("FLUSHALL")
    t0 = time.monotonic()
    c.send(encode_command("BLPOP", "k", "0.1") + encode_command("BRPOP", "k", "0.1")
           + encode_command("BRPOPLPUSH", "k", "d", "0.1")
           + encode_command("BLMOVE", "k", "d", "LEFT", "RIGHT", "0.1")
           + encode_command("BLMPOP", "0.1", "1", "k", "LEFT"))
    # redis-server 7 answers every list-blocking timeout with a null array in RESP2.
    assert _wire(c, 5, timeout=5) == b"*-1\r\n" * 5
    assert time.monotonic() - t0 >= 0.45


def test_blocking_timeout_redis_py(r: redis.Redis) -> None:
    assert r.blpop(["k"], timeout=0.1) is None
    assert r.brpoplpush("k", "d", timeout=0.1) is None
    assert r.blmove("k", "d", 0.1, "LEFT", "RIGHT") is None
    assert r.blmpop(0.1, 1, "k", direction="LEFT") is None
    assert r.exists("d") == 0


def test_blpop_fifo_order(r: redis.Redis, raw: RawFactory) -> None:
    first = _blocked(raw, "BLPOP", "k", "0")
    second = _blocked(raw, "BLPOP", "k", "0")
    third = _blocked(raw, "BLPOP", "k", "0")
    r.rpush("k", "a", "b")  # one push, two elements: the two oldest waiters, in order
    assert first.read() == [b"k", b"a"]
    assert second.read() == [b"k", b"b"]
    assert _still_blocked(third)
    r.rpush("k", "c")
    assert third.read() == [b"k", b"c"]
    assert r.exists("k") == 0


def test_blpop_disconnect_while_blocked(r: redis.Redis, raw: RawFactory) -> None:
    gone = _blocked(raw, "BLPOP", "k", "0")
    waiting = _blocked(raw, "BLPOP", "k", "0")
    gone.close()
    time.sleep(0.05)
    r.rpush("k", "a", "b")
    assert waiting.read() == [b"k", b"a"]
    assert r.lrange("k", 0, -1) == [b"b"]  # nothing was handed to the closed client


def test_blocked_client_keeps_pipelined_commands_queued(r: redis.Redis,
                                                        raw: RawFactory) -> None:
    c = raw()
    c.send(encode_command("BLPOP", "k", "0") + encode_command("PING")
           + encode_command("LLEN", "k"))
    time.sleep(0.05)
    assert r.ping() is True  # other clients are served meanwhile
    assert r.set("x", "1")
    assert _still_blocked(c)
    r.rpush("k", "a", "b")
    assert c.read() == [b"k", b"a"]
    assert c.read() == b"PONG"
    assert c.read() == 1


def test_blpop_returns_at_once_when_data_exists(r: redis.Redis) -> None:
    r.rpush("b", "x", "y")
    assert r.blpop(["a", "b"], timeout=0) in ([b"b", b"x"], (b"b", b"x"))
    assert r.brpop(["a", "b"], timeout=0) in ([b"b", b"y"], (b"b", b"y"))
    assert r.exists("b") == 0


def test_blpop_second_key_wakes(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLPOP", "a", "b", "0")
    r.lpush("b", "v")
    assert c.read() == [b"b", b"v"]
    r.lpush("a", "w")
    assert r.lrange("a", 0, -1) == [b"w"]  # the waiter left every key it waited on


def test_blpop_other_database_does_not_wake(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLPOP", "k", "0")
    other = raw()
    other.command("SELECT", "1")
    other.command("RPUSH", "k", "x")
    assert _still_blocked(c)
    r.rpush("k", "y")
    assert c.read() == [b"k", b"y"]
    other.command("FLUSHDB")


def test_blpop_wrongtype_and_timeout_errors(r: redis.Redis) -> None:
    r.set("s", "x")
    with pytest.raises(redis.ResponseError) as e:
        r.blpop(["s"], timeout=0)
    assert str(e.value) == "WRONGTYPE Operation against a key holding the wrong kind of value"
    for bad, text in (("-1", "timeout is negative"),
                      ("abc", "timeout is not a float or out of range"),
                      ("inf", "timeout is not a float or out of range")):
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command("BLPOP", "k", bad)
        assert str(e.value) == text


def test_blmove_woken_moves_element(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLMOVE", "src", "dst", "RIGHT", "LEFT", "0")
    r.rpush("dst", "old")
    r.rpush("src", "a", "b")
    assert c.read() == b"b"
    assert r.lrange("src", 0, -1) == [b"a"]
    assert r.lrange("dst", 0, -1) == [b"b", b"old"]


def test_brpoplpush_chain_wakes_destination_waiter(r: redis.Redis, raw: RawFactory) -> None:
    mover = _blocked(raw, "BRPOPLPUSH", "src", "dst", "0")
    popper = _blocked(raw, "BLPOP", "dst", "0")
    r.lpush("src", "v")
    assert mover.read() == b"v"
    assert popper.read() == [b"dst", b"v"]  # the move made dst ready in turn
    assert r.exists("src", "dst") == 0


def test_blmove_wrongtype_destination_unblocks_with_error(r: redis.Redis,
                                                          raw: RawFactory) -> None:
    c = _blocked(raw, "BLMOVE", "src", "dst", "LEFT", "LEFT", "0")
    r.set("dst", "string")
    r.rpush("src", "a")
    reply = c.read()
    assert isinstance(reply, Exception)
    assert str(reply) == "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert r.lrange("src", 0, -1) == [b"a"]


def test_blmpop_woken_pops_count(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2")
    r.rpush("b", "1", "2", "3")
    assert c.read() == [b"b", [b"3", b"2"]]
    assert r.lrange("b", 0, -1) == [b"1"]


def test_blpop_woken_by_lmove_destination(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLPOP", "dst", "0")
    r.rpush("src", "v")
    assert r.lmove("src", "dst", "LEFT", "LEFT") == b"v"
    assert c.read() == [b"dst", b"v"]


def test_blocking_timeout_then_other_waiter_still_served(r: redis.Redis,
                                                        raw: RawFactory) -> None:
    short = _blocked(raw, "BLPOP", "k", "0.1")
    forever = _blocked(raw, "BLPOP", "k", "0")
    assert _wire(short) == b"*-1\r\n"
    r.rpush("k", "a")
    assert forever.read() == [b"k", b"a"]


def test_blpop_inside_multi_does_not_block(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.blpop(["k"], timeout=0)
    pipe.brpoplpush("k", "d", timeout=0)
    pipe.rpush("k", "a")
    pipe.blpop(["k"], timeout=0)
    results = pipe.execute()
    assert results[:3] == [None, None, 1]
    assert list(results[3]) == [b"k", b"a"]


def test_blpop_not_served_in_the_middle_of_exec(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLPOP", "k", "0")
    pipe = r.pipeline(transaction=True)
    pipe.rpush("k", "a", "b")
    pipe.lpop("k")
    assert pipe.execute() == [2, b"a"]  # the transaction ran as one unit
    assert c.read() == [b"k", b"b"]  # the waiter is served after EXEC


def test_client_unblock_timeout_and_error(r: redis.Redis, raw: RawFactory) -> None:
    mover = raw()
    mover_id = mover.command("CLIENT", "ID")
    mover.send(encode_command("BRPOPLPUSH", "k", "d", "0"))
    popper = raw()
    popper_id = popper.command("CLIENT", "ID")
    popper.send(encode_command("BLPOP", "k", "0"))
    time.sleep(0.05)
    assert r.client_unblock(mover_id) in (1, True)
    assert _wire(mover) == b"*-1\r\n"  # the command's own timeout reply
    assert r.client_unblock(popper_id, error=True) in (1, True)
    reply = popper.read()
    assert isinstance(reply, Exception)
    assert str(reply) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    assert r.client_unblock(popper_id) in (0, False)


def test_blpop_woken_by_rename_onto_key(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLPOP", "dst", "0")
    r.rpush("src", "v")
    r.rename("src", "dst")
    assert c.read() == [b"dst", b"v"]
    assert r.exists("src", "dst") == 0


def test_blpop_waits_through_wrong_type_value(r: redis.Redis, raw: RawFactory) -> None:
    c = _blocked(raw, "BLPOP", "k", "0")
    r.set("k", "string")  # not a list: the waiter keeps waiting, like redis 7.0
    assert _still_blocked(c)
    r.delete("k")
    r.rpush("k", "v")
    assert c.read() == [b"k", b"v"]
