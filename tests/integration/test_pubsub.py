"""Pub/Sub with a subscriber and a publisher client (redis-py PubSub, both protocols),
plus raw-socket checks of RESP2 subscribe mode."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from ..helpers import RawClient


def _next(p: Any, timeout: float = 2.0) -> dict[str, Any]:
    msg = p.get_message(timeout=timeout)
    assert msg is not None, "no message arrived"
    return msg


def test_pubsub_subscribe_publish_delivers_message(r: redis.Redis) -> None:
    p = r.pubsub()
    try:
        p.subscribe("news", "sport")
        assert _next(p) == {"type": "subscribe", "pattern": None, "channel": b"news", "data": 1}
        assert _next(p)["data"] == 2
        publisher = r
        assert publisher.publish("news", b"hello\x00") == 1
        assert publisher.publish("nobody", "x") == 0
        assert _next(p) == {"type": "message", "pattern": None, "channel": b"news",
                            "data": b"hello\x00"}
    finally:
        p.close()


def test_pubsub_psubscribe_receives_pmessage_and_counts_both(r: redis.Redis) -> None:
    p = r.pubsub()
    try:
        p.psubscribe("user.*")
        p.subscribe("user.1")
        assert _next(p)["type"] == "psubscribe"
        assert _next(p)["data"] == 2
        assert r.publish("user.1", "hi") == 2
        got = [_next(p), _next(p)]
        assert {m["type"] for m in got} == {"message", "pmessage"}
        pm = next(m for m in got if m["type"] == "pmessage")
        assert pm["pattern"] == b"user.*" and pm["channel"] == b"user.1"
        assert r.execute_command("PUBSUB", "NUMPAT") == 1
    finally:
        p.close()


def test_pubsub_introspection_channels_numsub(r: redis.Redis) -> None:
    p = r.pubsub()
    try:
        p.subscribe("chan.a", "chan.b", "other")
        for _ in range(3):
            _next(p)
        assert sorted(r.pubsub_channels("chan.*")) == [b"chan.a", b"chan.b"]
        assert r.execute_command("PUBSUB", "NUMSUB", "chan.a", "zzz") == [b"chan.a", 1, b"zzz", 0]
        p.unsubscribe("chan.a")
        assert _next(p)["type"] == "unsubscribe"
        assert r.execute_command("PUBSUB", "NUMSUB", "chan.a") == [b"chan.a", 0]
        assert b"chan.a" not in r.pubsub_channels()
    finally:
        p.close()
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("PUBSUB", "CHANNELS", "a", "b")
    assert str(e.value) == (
        "unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.")


def test_pubsub_disconnect_cleans_up(r: redis.Redis, raw) -> None:
    c = raw()
    assert c.command("SUBSCRIBE", "gone") == [b"subscribe", b"gone", 1]
    assert c.command("PSUBSCRIBE", "g*") == [b"psubscribe", b"g*", 2]
    c.close()
    for _ in range(50):  # the server notices the close asynchronously
        if r.execute_command("PUBSUB", "NUMSUB", "gone")[1] == 0:
            break
        time.sleep(0.02)
    assert r.execute_command("PUBSUB", "NUMSUB", "gone") == [b"gone", 0]
    assert r.execute_command("PUBSUB", "NUMPAT") == 0
    assert r.publish("gone", "x") == 0


def test_pubsub_resp2_subscribe_mode_allows_only_pubsub_commands(raw) -> None:
    c: RawClient = raw()
    c.send(b"*3\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n")
    assert c.read() == [b"subscribe", b"a", 1]
    assert c.read() == [b"subscribe", b"b", 2]
    err = c.command("GET", "x")
    assert isinstance(err, Exception)
    assert str(err) == ("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / "
                        "PING / QUIT / RESET are allowed in this context")
    assert c.command("PING") == [b"pong", b""]
    assert c.command("PUNSUBSCRIBE", "x") == [b"punsubscribe", b"x", 2]
    c.send(b"*1\r\n$11\r\nUNSUBSCRIBE\r\n")
    first, second = c.read(), c.read()
    assert {first[1], second[1]} == {b"a", b"b"}
    assert (first[0], first[2], second[0], second[2]) == (b"unsubscribe", 1, b"unsubscribe", 0)
    assert c.command("UNSUBSCRIBE") == [b"unsubscribe", None, 0]
    # Out of subscribe mode again: ordinary commands run.
    assert c.command("GET", "x") is None


def test_pubsub_unsubscribe_all_order_and_reset(raw) -> None:
    c: RawClient = raw()
    assert c.command("PSUBSCRIBE", "p*") == [b"psubscribe", b"p*", 1]
    assert c.command("UNSUBSCRIBE") == [b"unsubscribe", None, 1]
    assert c.command("SUBSCRIBE", "a") == [b"subscribe", b"a", 2]
    assert c.command("SUBSCRIBE", "a") == [b"subscribe", b"a", 2]
    assert c.command("RESET") == b"RESET"
    assert c.command("GET", "x") is None
    assert c.command("PUBSUB", "NUMSUB", "a") == [b"a", 0]


def test_pubsub_resp3_client_runs_commands_while_subscribed(raw) -> None:
    sub: RawClient = raw()
    sub.command("HELLO", 3)
    assert sub.command("SUBSCRIBE", "ch") == [b"subscribe", b"ch", 1]
    assert sub.command("SET", "k", "v") == b"OK"
    pub: RawClient = raw()
    assert pub.command("PUBLISH", "ch", "m") == 1
    assert sub.read() == [b"message", b"ch", b"m"]
    assert sub.command("GET", "k") == b"v"


def test_pubsub_resp3_publish_to_own_channel_keeps_reply_order(raw) -> None:
    """Like redis-server: the message comes after the earlier replies of the same read and
    before PUBLISH's own reply."""
    c: RawClient = raw()
    c.command("HELLO", 3)
    assert c.command("SUBSCRIBE", "ch") == [b"subscribe", b"ch", 1]
    c.send(b"*1\r\n$4\r\nPING\r\n*3\r\n$7\r\nPUBLISH\r\n$2\r\nch\r\n$2\r\nhi\r\n"
           b"*2\r\n$4\r\nECHO\r\n$3\r\nend\r\n")
    assert c.read() == b"PONG"
    assert c.read() == [b"message", b"ch", b"hi"]
    assert c.read() == 1
    assert c.read() == b"end"


def test_pubsub_sharded_client_is_in_subscribe_mode_in_resp2(raw) -> None:
    c: RawClient = raw()
    assert c.command("SSUBSCRIBE", "s1") == [b"ssubscribe", b"s1", 1]
    err = c.command("GET", "k")
    assert str(err) == ("ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                        "QUIT / RESET are allowed in this context")


def test_pubsub_sharded_channels(raw) -> None:
    sub: RawClient = raw()
    assert sub.command("SSUBSCRIBE", "s1") == [b"ssubscribe", b"s1", 1]
    pub: RawClient = raw()
    assert pub.command("SPUBLISH", "s1", "m") == 1
    assert pub.command("PUBLISH", "s1", "m") == 0
    assert sub.read() == [b"smessage", b"s1", b"m"]
    assert pub.command("PUBSUB", "SHARDNUMSUB", "s1") == [b"s1", 1]
    assert pub.command("PUBSUB", "SHARDCHANNELS") == [b"s1"]
    assert sub.command("SUNSUBSCRIBE") == [b"sunsubscribe", b"s1", 0]
    assert sub.command("SUNSUBSCRIBE") == [b"sunsubscribe", None, 0]


def test_pubsub_arity_errors(r: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("PUBLISH", "a")
    assert str(e.value) == "wrong number of arguments for 'publish' command"
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("PUBSUB", "NUMPAT", "x")
    assert str(e.value) == "wrong number of arguments for 'pubsub|numpat' command"
