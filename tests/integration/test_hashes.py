"""Hash commands against redis-server 7's replies and exact error texts."""

from __future__ import annotations

import pytest
import redis

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _err(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def test_hset_counts_new_fields(r: redis.Redis) -> None:
    assert r.hset("h", mapping={"a": "1", "b": "2"}) == 2
    assert r.hset("h", mapping={"a": "10", "c": "3"}) == 1
    assert r.hset("h", "d", "4") == 1
    assert r.hset("h", "d", "5") == 0
    assert r.hget("h", "a") == b"10"
    assert r.hget("h", "zz") is None
    assert r.hget("nokey", "a") is None


def test_hset_odd_arguments_arity_error(r: redis.Redis) -> None:
    assert _err(r, "HSET", "h", "a") == "wrong number of arguments for 'hset' command"
    assert _err(r, "HSET", "h", "a", "1", "b") == "wrong number of arguments for 'hset' command"
    assert _err(r, "HMSET", "h", "a", "1", "b") == (
        "wrong number of arguments for 'hmset' command"
    )


def test_hmset_hmget_hgetall(r: redis.Redis, resp: int) -> None:
    assert r.execute_command("HMSET", "h", "a", "1", "b", "2") in (True, b"OK", "OK")
    assert r.hmget("h", "a", "zz", "b") == [b"1", None, b"2"]
    assert r.hmget("nokey", "a", "b") == [None, None]
    assert r.hgetall("h") == {b"a": b"1", b"b": b"2"}
    assert r.hgetall("nokey") == {}


def test_hgetall_wire_shape(raw) -> None:
    c = raw()
    c.command("FLUSHALL")
    c.command("HSET", "h", "a", "1")
    assert c.command("HGETALL", "h") == [b"a", b"1"]  # RESP2: flat array
    c.command("HELLO", "3")
    assert c.command("HGETALL", "h") == {b"a": b"1"}  # RESP3: map


def test_hdel_deletes_empty_hash(r: redis.Redis) -> None:
    r.hset("h", mapping={"a": "1", "b": "2"})
    assert r.hdel("h", "a", "zz") == 1
    assert r.hdel("nokey", "a") == 0
    assert r.hdel("h", "b") == 1
    assert r.exists("h") == 0


def test_hexists_hlen_hkeys_hvals_hstrlen(r: redis.Redis) -> None:
    r.hset("h", mapping={"a": "1", "b": "22"})
    assert r.hexists("h", "a") is True
    assert r.hexists("h", "zz") is False
    assert r.hlen("h") == 2
    assert r.hlen("nokey") == 0
    assert sorted(r.hkeys("h")) == [b"a", b"b"]
    assert sorted(r.hvals("h")) == [b"1", b"22"]
    assert r.hkeys("nokey") == []
    assert r.hstrlen("h", "b") == 2
    assert r.hstrlen("h", "zz") == 0


def test_hsetnx(r: redis.Redis) -> None:
    assert r.hsetnx("h", "a", "1") == 1
    assert r.hsetnx("h", "a", "2") == 0
    assert r.hget("h", "a") == b"1"


def test_hincrby(r: redis.Redis) -> None:
    assert r.hincrby("h", "n", 5) == 5
    assert r.hincrby("h", "n", -7) == -2
    r.hset("h", mapping={"s": "hello", "big": "9223372036854775807"})
    assert _err(r, "HINCRBY", "h", "s", "1") == "hash value is not an integer"
    assert _err(r, "HINCRBY", "h", "big", "1") == "increment or decrement would overflow"
    assert _err(r, "HINCRBY", "h", "n", "abc") == "value is not an integer or out of range"


def test_hincrbyfloat_long_double_formatting(r: redis.Redis) -> None:
    assert r.hincrbyfloat("h", "f", 0.1) == 0.1
    assert r.execute_command("HINCRBYFLOAT", "h", "f", "0.2") in (b"0.3", 0.3)
    assert r.hget("h", "f") == b"0.3"  # 80-bit long double like redis, not 0.30000000000000004
    assert r.execute_command("HINCRBYFLOAT", "h", "g", "3.0e3") in (b"3000", 3000.0)
    assert r.hget("h", "g") == b"3000"
    r.hset("h", "s", "hello")
    assert _err(r, "HINCRBYFLOAT", "h", "s", "1") == "hash value is not a float"
    assert _err(r, "HINCRBYFLOAT", "h", "f", "abc") == "value is not a valid float"
    assert _err(r, "HINCRBYFLOAT", "h", "f", "inf") == "value is NaN or Infinity"
    r.hset("h", "m", "1e4932")
    assert _err(r, "HINCRBYFLOAT", "h", "q", "1e4933") == "value is not a valid float"
    assert _err(r, "HINCRBYFLOAT", "h", "m", "1e4932") == (
        "increment would produce NaN or Infinity"
    )


def test_hrandfield(r: redis.Redis, resp: int) -> None:
    assert r.hrandfield("nokey") is None
    assert r.hrandfield("nokey", 3) == []
    r.hset("h", mapping={"a": "1", "b": "2", "c": "3"})
    assert r.hrandfield("h") in (b"a", b"b", b"c")
    assert sorted(r.hrandfield("h", 5)) == [b"a", b"b", b"c"]
    assert len(set(r.hrandfield("h", 2))) == 2
    assert len(r.hrandfield("h", -10)) == 10  # negative: repeats allowed
    assert r.hrandfield("h", 0) == []
    pairs = r.execute_command("HRANDFIELD", "h", "-4", "WITHVALUES")
    if resp == 3:
        assert len(pairs) == 4 and all(p[1] == {b"a": b"1", b"b": b"2", b"c": b"3"}[p[0]]
                                       for p in pairs)
    else:
        assert len(pairs) == 8


def test_hrandfield_errors(r: redis.Redis) -> None:
    r.hset("h", "a", "1")
    assert _err(r, "HRANDFIELD", "h", "5", "foo") == "syntax error"
    assert _err(r, "HRANDFIELD", "h", "5", "WITHVALUES", "x") == "syntax error"
    assert _err(r, "HRANDFIELD", "h", "abc") == "value is not an integer or out of range"
    assert _err(r, "HRANDFIELD", "h", "-9223372036854775808") == (
        "value is out of range, value must between -9223372036854775807 and "
        "9223372036854775807"
    )
    assert _err(r, "HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES") == (
        "value is out of range"
    )


def test_hscan_full_iteration_and_novalues(r: redis.Redis) -> None:
    fields = {f"f{i}": str(i) for i in range(300)}
    r.hset("h", mapping=fields)
    seen: dict[bytes, bytes] = {}
    cursor = 0
    while True:
        cursor, page = r.hscan("h", cursor, count=50)
        seen.update(page)
        if cursor == 0:
            break
    assert seen == {k.encode(): v.encode() for k, v in fields.items()}
    _, page = r.hscan("h", 0, match="f1?", count=1000)
    assert sorted(page) == [f"f1{i}".encode() for i in range(10)]
    _, names = r.hscan("h", 0, match="f2?", count=1000, no_values=True)
    assert sorted(names) == [f"f2{i}".encode() for i in range(10)]
    assert r.hscan("nokey", 0) == (0, {})
    assert _err(r, "HSCAN", "h", "abc") == "invalid cursor"
    assert _err(r, "HSCAN", "h", "0", "foo") == "syntax error"


def test_hash_wrongtype(r: redis.Redis) -> None:
    r.set("s", "x")
    for args in (("HSET", "s", "a", "1"), ("HGET", "s", "a"), ("HGETALL", "s"),
                 ("HINCRBY", "s", "a", "1"), ("HSCAN", "s", "0")):
        assert _err(r, *args) == WRONGTYPE
