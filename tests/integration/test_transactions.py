"""MULTI / EXEC / DISCARD / WATCH / UNWATCH, with WATCH invalidated by another client."""

from __future__ import annotations

import time

import pytest
import redis

from ..helpers import RawClient


def _err(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def test_multi_exec_runs_queued_commands(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=True)
    pipe.set("a", 1)
    pipe.incr("a")
    pipe.get("a")
    pipe.zadd("z", {"m": 1})
    assert pipe.execute() == [True, 2, b"2", 1]


def test_exec_runtime_error_is_an_element_and_the_rest_run(raw) -> None:
    c: RawClient = raw()
    assert c.command("MULTI") == b"OK"
    assert c.command("SET", "a", "x") == b"QUEUED"
    assert c.command("INCR", "a") == b"QUEUED"
    assert c.command("ZADD", "a", "1", "m") == b"QUEUED"
    assert c.command("SET", "b", "y") == b"QUEUED"
    replies = c.command("EXEC")
    assert replies[0] == b"OK" and replies[3] == b"OK"
    assert str(replies[1]) == "ERR value is not an integer or out of range"
    assert str(replies[2]) == "WRONGTYPE Operation against a key holding the wrong kind of value"
    assert c.command("GET", "b") == b"y"


def test_exec_aborts_after_queueing_error(raw) -> None:
    c: RawClient = raw()
    c.command("MULTI")
    assert str(c.command("SET", "a")) == "ERR wrong number of arguments for 'set' command"
    assert str(c.command("NOSUCH")) == "ERR unknown command 'NOSUCH', with args beginning with: "
    assert c.command("SET", "aborted", "1") == b"QUEUED"
    assert str(c.command("EXEC")) == "EXECABORT Transaction discarded because of previous errors."
    assert c.command("GET", "aborted") is None
    # The transaction is over: a new one starts clean.
    c.command("MULTI")
    c.command("SET", "aborted", "1")
    assert c.command("EXEC") == [b"OK"]


def test_transaction_state_errors_exact_text(r: redis.Redis, raw) -> None:
    assert _err(r, "EXEC") == "EXEC without MULTI"
    assert _err(r, "DISCARD") == "DISCARD without MULTI"
    c: RawClient = raw()
    c.command("MULTI")
    assert str(c.command("MULTI")) == "ERR MULTI calls can not be nested"
    assert str(c.command("WATCH", "k")) == "ERR WATCH inside MULTI is not allowed"
    assert c.command("UNWATCH") == b"QUEUED"
    # Neither error dooms the transaction.
    assert c.command("EXEC") == [b"OK"]


def test_discard_drops_queue(raw) -> None:
    c: RawClient = raw()
    c.command("MULTI")
    c.command("SET", "a", "1")
    assert c.command("DISCARD") == b"OK"
    assert c.command("GET", "a") is None
    assert str(c.command("EXEC")) == "ERR EXEC without MULTI"


def test_watch_invalidated_by_another_client_returns_null(r: redis.Redis, raw) -> None:
    r.set("k", "1")
    c: RawClient = raw()
    assert c.command("WATCH", "k") == b"OK"
    r.set("k", "2")  # another client
    c.command("MULTI")
    c.command("SET", "k", "3")
    assert c.command("EXEC") is None
    assert r.get("k") == b"2"
    # The WATCH is gone after EXEC: the next transaction runs.
    c.command("MULTI")
    c.command("SET", "k", "3")
    assert c.command("EXEC") == [b"OK"]


def test_watch_null_reply_shapes(raw) -> None:
    for proto, expected in ((2, b"*-1\r\n"), (3, b"_\r\n")):
        c: RawClient = raw()
        if proto == 3:
            c.command("HELLO", 3)
        other: RawClient = raw()
        c.command("WATCH", "w")
        other.command("ZADD", "w", "1", "m")
        c.command("MULTI")
        c.command("GET", "w")
        c.send(b"*1\r\n$4\r\nEXEC\r\n")
        c.sock.settimeout(2)
        assert c.sock.recv(100) == expected
        other.command("DEL", "w")


def test_watch_through_redis_py_pipeline(r: redis.Redis) -> None:
    r.set("counter", 0)
    other = redis.Redis(connection_pool=r.connection_pool)
    with r.pipeline() as pipe:
        pipe.watch("counter")
        other.incr("counter")
        pipe.multi()
        pipe.incr("counter")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    assert r.get("counter") == b"1"


def test_watch_unchanged_key_and_unwatch_let_exec_run(r: redis.Redis, raw) -> None:
    c: RawClient = raw()
    c.command("WATCH", "a", "b")
    r.set("zz", "unrelated")
    r.zadd("a", {"m": 1})
    assert c.command("UNWATCH") == b"OK"
    c.command("MULTI")
    c.command("GET", "zz")
    assert c.command("EXEC") == [b"unrelated"]
    # A no-op write (ZADD NX on an existing member) does not touch the key.
    c.command("WATCH", "a")
    r.zadd("a", {"m": 5}, nx=True)
    c.command("MULTI")
    c.command("ZSCORE", "a", "m")
    assert c.command("EXEC") == [b"1"]


def test_watch_key_expiring_after_watch_aborts_exec(r: redis.Redis, raw) -> None:
    r.set("ttl", "v", px=50)
    c: RawClient = raw()
    c.command("WATCH", "ttl")
    time.sleep(0.12)
    c.command("MULTI")
    c.command("PING")
    assert c.command("EXEC") is None


def test_watch_discard_and_reset_forget_watches(r: redis.Redis, raw) -> None:
    c: RawClient = raw()
    c.command("WATCH", "k")
    c.command("MULTI")
    assert c.command("DISCARD") == b"OK"
    r.set("k", "changed")
    c.command("MULTI")
    c.command("PING")
    assert c.command("EXEC") == [b"PONG"]
    c.command("WATCH", "k")
    assert c.command("RESET") == b"RESET"
    r.set("k", "again")
    c.command("MULTI")
    c.command("PING")
    assert c.command("EXEC") == [b"PONG"]


def test_watch_flushall_invalidates(r: redis.Redis, raw) -> None:
    r.set("f", "1")
    c: RawClient = raw()
    c.command("WATCH", "f")
    r.flushall()
    c.command("MULTI")
    c.command("PING")
    assert c.command("EXEC") is None
