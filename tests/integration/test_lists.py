"""List commands against redis-server 7's replies and exact error texts."""

from __future__ import annotations

import pytest
import redis


def _err(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def test_push_order_and_length(r: redis.Redis) -> None:
    assert r.rpush("l", "a", "b") == 2
    assert r.lpush("l", "x", "y") == 4
    assert r.lrange("l", 0, -1) == [b"y", b"x", b"a", b"b"]
    assert r.llen("l") == 4
    assert r.llen("nokey") == 0


def test_pushx_only_existing(r: redis.Redis) -> None:
    assert r.lpushx("l", "a") == 0
    assert r.rpushx("l", "a") == 0
    assert r.exists("l") == 0
    r.rpush("l", "m")
    assert r.rpushx("l", "z", "zz") == 3
    assert r.lpushx("l", "a") == 4
    assert r.lrange("l", 0, -1) == [b"a", b"m", b"z", b"zz"]


def test_pop_single_and_count(r: redis.Redis) -> None:
    r.rpush("l", "1", "2", "3", "4")
    assert r.lpop("l") == b"1"
    assert r.rpop("l") == b"4"
    assert r.lpop("l", 0) == []
    assert r.rpop("l", 5) == [b"3", b"2"]
    assert r.exists("l") == 0
    assert r.lpop("l") is None
    assert r.lpop("l", 2) is None  # RESP2 null array, RESP3 null


def test_pop_missing_key_with_count_is_null_array(raw) -> None:
    c = raw()
    c.command("FLUSHALL")
    c.send(b"*3\r\n$4\r\nLPOP\r\n$2\r\nzz\r\n$1\r\n2\r\n*2\r\n$4\r\nRPOP\r\n$2\r\nzz\r\n")
    c.sock.settimeout(2)
    data = b""
    while data.count(b"\r\n") < 2:
        data += c.sock.recv(100)
    assert data == b"*-1\r\n$-1\r\n"


def test_pop_count_errors(r: redis.Redis) -> None:
    r.rpush("l", "a")
    assert _err(r, "LPOP", "l", "-1") == "value is out of range, must be positive"
    assert _err(r, "RPOP", "l", "abc") == "value is out of range, must be positive"
    assert _err(r, "LPOP", "l", "1", "2") == "wrong number of arguments for 'lpop' command"


def test_lrange_clamping(r: redis.Redis) -> None:
    r.rpush("l", *"abcdefgh")
    assert r.lrange("l", -3, -1) == [b"f", b"g", b"h"]
    assert r.lrange("l", 5, 2) == []
    assert r.lrange("l", -100, 100) == [bytes([c]) for c in b"abcdefgh"]
    assert r.lrange("l", 6, 100) == [b"g", b"h"]
    assert r.lrange("l", 8, 9) == []
    assert r.lrange("nokey", 0, -1) == []
    assert _err(r, "LRANGE", "l", "a", "1") == "value is not an integer or out of range"


def test_lrange_first_hundred_of_long_list(r: redis.Redis) -> None:
    r.rpush("l", *range(1000))
    assert r.lrange("l", 0, 99) == [str(i).encode() for i in range(100)]
    assert r.lrange("l", 990, -1) == [str(i).encode() for i in range(990, 1000)]


def test_lindex_and_lset(r: redis.Redis) -> None:
    r.rpush("l", "a", "b", "c")
    assert r.lindex("l", 0) == b"a"
    assert r.lindex("l", -1) == b"c"
    assert r.lindex("l", 10) is None
    assert r.lindex("nokey", "abc") is None  # the key is looked up first, like redis
    assert _err(r, "LINDEX", "l", "abc") == "value is not an integer or out of range"
    assert r.lset("l", -1, "C")
    assert r.lrange("l", 0, -1) == [b"a", b"b", b"C"]
    assert _err(r, "LSET", "l", "10", "x") == "index out of range"
    assert _err(r, "LSET", "nokey", "0", "x") == "no such key"


def test_lrem_directions(r: redis.Redis) -> None:
    r.rpush("l", "a", "b", "a", "c", "a")
    assert r.lrem("l", 1, "a") == 1
    assert r.lrange("l", 0, -1) == [b"b", b"a", b"c", b"a"]
    assert r.lrem("l", -1, "a") == 1
    assert r.lrange("l", 0, -1) == [b"b", b"a", b"c"]
    assert r.lrem("l", 0, "zz") == 0
    r.rpush("l", "a")
    assert r.lrem("l", 0, "a") == 2
    assert r.lrange("l", 0, -1) == [b"b", b"c"]
    assert r.lrem("nokey", 0, "a") == 0
    assert r.lrem("l", 0, "b") == 1
    assert r.lrem("l", 0, "c") == 1
    assert r.exists("l") == 0


def test_ltrim_and_delete_when_empty(r: redis.Redis) -> None:
    r.rpush("l", *"abcde")
    assert r.ltrim("l", 1, -2)
    assert r.lrange("l", 0, -1) == [b"b", b"c", b"d"]
    assert r.ltrim("l", 5, 2)
    assert r.exists("l") == 0
    assert r.ltrim("nokey", 0, 1)


def test_linsert(r: redis.Redis) -> None:
    r.rpush("l", "a", "b")
    assert r.linsert("l", "BEFORE", "b", "x") == 3
    assert r.linsert("l", "after", "b", "y") == 4
    assert r.linsert("l", "AFTER", "zz", "y") == -1
    assert r.linsert("nokey", "AFTER", "a", "y") == 0
    assert r.lrange("l", 0, -1) == [b"a", b"x", b"b", b"y"]
    assert _err(r, "LINSERT", "l", "MIDDLE", "a", "b") == "syntax error"


def test_lpos_options(r: redis.Redis) -> None:
    r.rpush("l", "a", "b", "c", "a", "d", "a")
    assert r.lpos("l", "a") == 0
    assert r.lpos("l", "a", rank=2) == 3
    assert r.lpos("l", "a", rank=-1) == 5
    assert r.lpos("l", "a", count=0) == [0, 3, 5]
    assert r.lpos("l", "a", rank=-2, count=0) == [3, 0]
    assert r.lpos("l", "a", count=2, maxlen=4) == [0, 3]
    assert r.lpos("l", "zz") is None
    assert r.lpos("l", "zz", count=1) == []
    assert r.lpos("nokey", "a", count=1) == []


def test_lpos_errors(r: redis.Redis) -> None:
    r.rpush("l", "a")
    assert _err(r, "LPOS", "l", "a", "RANK", "0") == (
        "RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
        "or use negative to start from the end of the list"
    )
    assert _err(r, "LPOS", "l", "a", "COUNT", "-1") == "COUNT can't be negative"
    assert _err(r, "LPOS", "l", "a", "COUNT", "abc") == "COUNT can't be negative"
    assert _err(r, "LPOS", "l", "a", "MAXLEN", "-1") == "MAXLEN can't be negative"
    assert _err(r, "LPOS", "l", "a", "RANK") == "syntax error"
    assert _err(r, "LPOS", "l", "a", "FOO", "1") == "syntax error"


def test_lmove_and_rpoplpush(r: redis.Redis) -> None:
    r.rpush("src", "a", "b", "c")
    assert r.lmove("src", "dst", "LEFT", "RIGHT") == b"a"
    assert r.lmove("src", "dst", "RIGHT", "LEFT") == b"c"
    assert r.rpoplpush("src", "dst") == b"b"
    assert r.exists("src") == 0
    assert r.lrange("dst", 0, -1) == [b"b", b"c", b"a"]
    assert r.lmove("dst", "dst", "LEFT", "RIGHT") == b"b"  # rotation
    assert r.lrange("dst", 0, -1) == [b"c", b"a", b"b"]
    assert r.lmove("nokey", "dst", "LEFT", "LEFT") is None
    assert _err(r, "LMOVE", "dst", "x", "UP", "LEFT") == "syntax error"


def test_lmove_wrong_type_destination_keeps_source(r: redis.Redis) -> None:
    r.rpush("src", "a")
    r.set("str", "x")
    assert _err(r, "LMOVE", "src", "str", "LEFT", "LEFT").startswith("WRONGTYPE")
    assert r.lrange("src", 0, -1) == [b"a"]


def test_lmpop(r: redis.Redis) -> None:
    r.rpush("l", "1", "2", "3")
    assert r.lmpop(2, "nokey", "l", direction="RIGHT", count=2) == [b"l", [b"3", b"2"]]
    assert r.lmpop(1, "l", direction="LEFT") == [b"l", [b"1"]]
    assert r.lmpop(1, "l", direction="LEFT") is None


def test_lmpop_errors(r: redis.Redis) -> None:
    assert _err(r, "LMPOP", "0", "l", "LEFT") == "numkeys should be greater than 0"
    assert _err(r, "LMPOP", "abc", "l", "LEFT") == "numkeys should be greater than 0"
    assert _err(r, "LMPOP", "2", "l", "LEFT") == "syntax error"
    assert _err(r, "LMPOP", "1", "l", "MIDDLE") == "syntax error"
    assert _err(r, "LMPOP", "1", "l", "LEFT", "COUNT", "0") == "count should be greater than 0"
    assert _err(r, "LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2") == "syntax error"


def test_list_wrongtype(r: redis.Redis) -> None:
    r.set("s", "x")
    for args in (("LPUSH", "s", "a"), ("LPOP", "s"), ("LRANGE", "s", 0, 1), ("LLEN", "s"),
                 ("LMPOP", "1", "s", "LEFT")):
        assert _err(r, *args) == "WRONGTYPE Operation against a key holding the wrong kind of value"
