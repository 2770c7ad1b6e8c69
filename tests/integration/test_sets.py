"""Set commands against redis-server 7's replies and exact error texts."""

from __future__ import annotations

import pytest
import redis

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _err(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def test_sadd_srem_scard(r: redis.Redis) -> None:
    assert r.sadd("s", "a", "b", "c") == 3
    assert r.sadd("s", "a", "d") == 1
    assert r.scard("s") == 4
    assert r.srem("s", "a", "zz") == 1
    assert r.srem("nokey", "a") == 0
    assert r.scard("nokey") == 0
    assert r.srem("s", "b", "c", "d") == 3
    assert r.exists("s") == 0


def test_smembers_and_membership(r: redis.Redis) -> None:
    r.sadd("s", "a", "b")
    assert r.smembers("s") == {b"a", b"b"}
    assert r.smembers("nokey") == set()
    assert r.sismember("s", "a") in (1, True)
    assert r.sismember("s", "zz") in (0, False)
    assert r.smismember("s", ["a", "zz"]) in ([1, 0], [True, False])
    assert r.smismember("nokey", ["a"]) in ([0], [False])


def test_smembers_wire_shape(raw) -> None:
    c = raw()
    c.command("FLUSHALL")
    c.command("SADD", "s", "a")
    assert c.command("SMEMBERS", "s") == [b"a"]
    c.command("HELLO", "3")
    c.send(b"*2\r\n$8\r\nSMEMBERS\r\n$1\r\ns\r\n")
    c.sock.settimeout(2)
    data = b""
    while not data.endswith(b"a\r\n"):
        data += c.sock.recv(100)
    assert data == b"~1\r\n$1\r\na\r\n"  # RESP3 set


def test_spop(r: redis.Redis) -> None:
    assert r.spop("nokey") is None
    assert not r.spop("nokey", 2)
    r.sadd("s", "a", "b", "c")
    popped = r.spop("s", 2)
    assert len(popped) == 2
    assert r.scard("s") == 1
    last = r.spop("s")
    assert {last, *popped} == {b"a", b"b", b"c"}
    assert r.exists("s") == 0
    r.sadd("s", "a")
    assert not r.spop("s", 0)
    assert set(r.spop("s", 10)) == {b"a"}
    assert r.exists("s") == 0


def test_spop_errors(r: redis.Redis) -> None:
    r.sadd("s", "a")
    assert _err(r, "SPOP", "s", "-1") == "value is out of range, must be positive"
    assert _err(r, "SPOP", "s", "abc") == "value is out of range, must be positive"
    assert _err(r, "SPOP", "s", "1", "2") == "syntax error"


def test_srandmember(r: redis.Redis) -> None:
    assert r.srandmember("nokey") is None
    assert r.srandmember("nokey", 3) == []
    r.sadd("s", "a", "b", "c")
    assert r.srandmember("s") in (b"a", b"b", b"c")
    assert sorted(r.srandmember("s", 5)) == [b"a", b"b", b"c"]
    assert len(set(r.srandmember("s", 2))) == 2
    many = r.srandmember("s", -10)
    assert len(many) == 10 and set(many) <= {b"a", b"b", b"c"}
    assert r.scard("s") == 3
    assert _err(r, "SRANDMEMBER", "s", "1", "2") == "syntax error"
    assert _err(r, "SRANDMEMBER", "s", "-9223372036854775808") == (
        "value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807"
    )


def test_smove(r: redis.Redis) -> None:
    r.sadd("a", "x", "y")
    assert r.smove("a", "b", "x") in (1, True)
    assert r.smove("a", "b", "zz") in (0, False)
    assert r.smove("nokey", "b", "x") in (0, False)
    assert r.smembers("b") == {b"x"}
    assert r.smove("a", "a", "y") in (1, True)
    assert r.smove("a", "b", "y") in (1, True)
    assert r.exists("a") == 0
    r.set("str", "v")
    assert r.smove("nokey", "str", "x") in (0, False)  # source checked first, like redis
    assert _err(r, "SMOVE", "b", "str", "x") == WRONGTYPE


def test_sinter_sunion_sdiff(r: redis.Redis) -> None:
    r.sadd("a", "1", "2", "3")
    r.sadd("b", "2", "3", "4")
    assert r.sinter("a", "b") == {b"2", b"3"}
    assert r.sinter("a", "nokey") == set()
    assert r.sunion("a", "b", "nokey") == {b"1", b"2", b"3", b"4"}
    assert r.sdiff("a", "b") == {b"1"}
    assert r.sdiff("nokey", "a") == set()
    r.set("str", "x")
    assert _err(r, "SINTER", "nokey", "str") == WRONGTYPE
    assert _err(r, "SUNION", "a", "str") == WRONGTYPE


def test_store_variants(r: redis.Redis) -> None:
    r.sadd("a", "1", "2", "3")
    r.sadd("b", "2", "3", "4")
    assert r.sinterstore("d", ["a", "b"]) == 2
    assert r.smembers("d") == {b"2", b"3"}
    assert r.sunionstore("d", ["a", "b"]) == 4
    assert r.sdiffstore("d", ["a", "b"]) == 1
    assert r.sdiffstore("d", ["a", "a"]) == 0
    assert r.exists("d") == 0  # an empty result deletes the destination
    r.set("str", "x")
    assert r.sinterstore("str", ["a", "b"]) == 2
    assert r.type("str") in (b"set", "set")


def test_sintercard(r: redis.Redis) -> None:
    r.sadd("a", "1", "2", "3")
    r.sadd("b", "2", "3", "4")
    assert r.sintercard(2, ["a", "b"]) == 2
    assert r.sintercard(2, ["a", "b"], limit=1) == 1
    assert r.sintercard(2, ["a", "nokey"]) == 0
    assert _err(r, "SINTERCARD", "0", "a") == "numkeys should be greater than 0"
    assert _err(r, "SINTERCARD", "abc", "a") == "numkeys should be greater than 0"
    assert _err(r, "SINTERCARD", "3", "a", "b") == (
        "Number of keys can't be greater than number of args"
    )
    assert _err(r, "SINTERCARD", "1", "a", "LIMIT", "-1") == "LIMIT can't be negative"
    assert _err(r, "SINTERCARD", "1", "a", "FOO", "1") == "syntax error"


def test_sscan_full_iteration(r: redis.Redis) -> None:
    members = {f"m{i}".encode() for i in range(300)}
    r.sadd("s", *members)
    seen: set[bytes] = set()
    cursor = 0
    while True:
        cursor, page = r.sscan("s", cursor, count=40)
        seen.update(page)
        if cursor == 0:
            break
    assert seen == members
    _, page = r.sscan("s", 0, match="m1?", count=1000)
    assert sorted(page) == sorted(f"m1{i}".encode() for i in range(10))
    assert r.sscan("nokey", 0) == (0, [])
    assert _err(r, "SSCAN", "s", "abc") == "invalid cursor"


def test_set_wrongtype(r: redis.Redis) -> None:
    r.set("str", "x")
    for args in (("SADD", "str", "a"), ("SMEMBERS", "str"), ("SPOP", "str"),
                 ("SCARD", "str"), ("SINTERCARD", "1", "str")):
        assert _err(r, *args) == WRONGTYPE
