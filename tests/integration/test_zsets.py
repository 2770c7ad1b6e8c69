"""Sorted-set commands through redis-py (RESP2/RESP3, hiredis on/off).

Expected replies and error texts were taken from redis-server 7 (WITHSCORE on ZRANK is
7.2's). ``execute_command`` is used where redis-py's own response callbacks would hide
the wire shape that differs between RESP2 and RESP3.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import redis


def _err(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def _all(r: redis.Redis, key: str) -> list[tuple[bytes, float]]:
    return [tuple(p) for p in r.zrange(key, 0, -1, withscores=True)]


def _pairs(reply: list, resp: int) -> list[tuple[bytes, float]]:
    """WITHSCORES reply -> [(member, score)], checking its per-protocol shape."""
    if resp == 3:
        assert all(isinstance(p, list) and len(p) == 2 for p in reply)
        return [(m, s) for m, s in reply]
    assert all(isinstance(x, bytes) for x in reply)
    return [(reply[i], float(reply[i + 1])) for i in range(0, len(reply), 2)]


def test_zadd_flags_and_counts(r: redis.Redis) -> None:
    assert r.execute_command("ZADD", "z", 1, "a", 2, "b") == 2
    assert r.execute_command("ZADD", "z", "NX", 5, "a", 3, "c") == 1
    assert r.zscore("z", "a") == 1.0
    assert r.execute_command("ZADD", "z", "XX", 5, "a", 9, "new") == 0
    assert r.zscore("z", "a") == 5.0 and r.zscore("z", "new") is None
    assert r.execute_command("ZADD", "z", "CH", 6, "a", 2, "b", 4, "d") == 2
    assert r.execute_command("ZADD", "z", "GT", "CH", 1, "a", 7, "b") == 1
    assert r.execute_command("ZADD", "z", "LT", "CH", 10, "a", 0, "c") == 1
    assert _all(r, "z") == [
        (b"c", 0.0), (b"d", 4.0), (b"a", 6.0), (b"b", 7.0)]


def test_zadd_incr_replies_score_or_null(r: redis.Redis) -> None:
    assert r.zadd("z", {"a": 1.5}, incr=True) == 1.5
    assert r.zadd("z", {"a": 2}, incr=True) == 3.5
    assert r.zadd("z", {"a": 1}, nx=True, incr=True) is None
    assert r.zadd("z", {"nope": 1}, xx=True, incr=True) is None
    assert r.zadd("z", {"a": -1}, gt=True, incr=True) is None
    assert r.zincrby("z", 1, "a") == 4.5
    assert r.zscore("z", "a") == 4.5


@pytest.mark.parametrize("proto", [2, 3])
def test_zset_score_replies_are_doubles_in_resp3_bulk_in_resp2(raw, proto: int) -> None:
    c = raw()
    if proto == 3:
        c.command("HELLO", 3)
    c.command("ZADD", "z", "1.5", "a", "2", "b")
    expect = (lambda x: x) if proto == 3 else (lambda x: repr(x).encode())
    assert c.command("ZSCORE", "z", "a") == expect(1.5)
    assert c.command("ZINCRBY", "z", "1", "a") == expect(2.5)
    assert c.command("ZADD", "z", "INCR", "1", "b") == (3.0 if proto == 3 else b"3")
    assert c.command("ZMSCORE", "z", "a", "x") == [expect(2.5), None]
    pairs = c.command("ZRANGE", "z", "0", "-1", "WITHSCORES")
    if proto == 3:
        assert pairs == [[b"a", 2.5], [b"b", 3.0]]
        assert c.command("ZPOPMIN", "z") == [b"a", 2.5]
    else:
        assert pairs == [b"a", b"2.5", b"b", b"3"]
        assert c.command("ZPOPMIN", "z") == [b"a", b"2.5"]
    c.command("DEL", "z")


def test_zadd_errors_exact_text(r: redis.Redis) -> None:
    assert _err(r, "ZADD", "z", "XX", "NX", 1, "a") == (
        "XX and NX options at the same time are not compatible")
    assert _err(r, "ZADD", "z", "GT", "LT", 1, "a") == (
        "GT, LT, and/or NX options at the same time are not compatible")
    assert _err(r, "ZADD", "z", "GT", "NX", 1, "a") == (
        "GT, LT, and/or NX options at the same time are not compatible")
    assert _err(r, "ZADD", "z", "INCR", 1, "a", 2, "b") == (
        "INCR option supports a single increment-element pair")
    assert _err(r, "ZADD", "z", "abc", "a") == "value is not a valid float"
    assert _err(r, "ZADD", "z", "nan", "a") == "value is not a valid float"
    assert _err(r, "ZADD", "z", " 1", "a") == "value is not a valid float"
    assert _err(r, "ZADD", "z", "1_0", "a") == "value is not a valid float"
    assert _err(r, "ZADD", "z", "1e400", "a") == "value is not a valid float"  # ERANGE
    assert _err(r, "ZADD", "z", "1e-400", "a") == "value is not a valid float"
    assert _err(r, "ZADD", "z", 1, "a", 2) == "syntax error"
    assert _err(r, "ZADD", "z", 1) == "wrong number of arguments for 'zadd' command"
    # Nothing was applied by the failed commands.
    assert r.exists("z") == 0
    r.set("s", "x")
    assert _err(r, "ZADD", "s", 1, "a") == (
        "WRONGTYPE Operation against a key holding the wrong kind of value")


def test_zincrby_nan_result_is_an_error(r: redis.Redis) -> None:
    r.zadd("z", {"a": "inf"})
    assert _err(r, "ZINCRBY", "z", "-inf", "a") == "resulting score is not a number (NaN)"
    assert r.zscore("z", "a") == math.inf
    assert _err(r, "ZINCRBY", "z", "x", "a") == "value is not a valid float"


def test_zscore_zmscore_zcard_zrem(r: redis.Redis) -> None:
    r.zadd("z", {"a": 1.5, "b": 2, "c": 3})
    assert r.zscore("z", "a") == 1.5
    assert r.zscore("z", "nope") is None and r.zscore("nokey", "a") is None
    assert r.zmscore("z", ["a", "x", "c"]) == [1.5, None, 3.0]
    assert r.zmscore("nokey", ["a"]) == [None]
    assert r.zcard("z") == 3 and r.zcard("nokey") == 0
    assert r.zrem("z", "a", "x", "b") == 2
    assert r.zrem("z", "c") == 1
    assert r.exists("z") == 0


def test_zrange_by_rank_rev_and_withscores_shape(r: redis.Redis, resp: int) -> None:
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4})
    assert r.execute_command("ZRANGE", "z", 0, -1) == [b"a", b"b", b"c", b"d"]
    assert r.execute_command("ZRANGE", "z", -2, 100) == [b"c", b"d"]
    assert r.execute_command("ZRANGE", "z", 3, 1) == []
    assert r.execute_command("ZRANGE", "z", 0, 1, "REV") == [b"d", b"c"]
    assert r.execute_command("ZREVRANGE", "z", 1, 2) == [b"c", b"b"]
    reply = r.execute_command("ZRANGE", "z", 0, 1, "WITHSCORES")
    if resp == 3:
        assert reply == [[b"a", 1.0], [b"b", 2.0]]
    else:
        assert reply == [b"a", b"1", b"b", b"2"]
    assert r.execute_command("ZRANGE", "nokey", 0, -1) == []


def test_zrange_byscore_exclusive_infinite_and_limit(r: redis.Redis, resp: int) -> None:
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.execute_command("ZRANGE", "z", "(1", 3, "BYSCORE") == [b"b", b"c"]
    assert r.execute_command("ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", 1, 2) == [
        b"b", b"c"]
    assert r.execute_command("ZRANGE", "z", "(5", "(2", "BYSCORE", "REV") == [b"d", b"c"]
    assert r.execute_command("ZRANGEBYSCORE", "z", 2, "+inf", "LIMIT", 1, -1) == [
        b"c", b"d", b"e"]
    assert r.execute_command("ZRANGEBYSCORE", "z", 0, 10, "LIMIT", -1, 2) == []
    assert r.execute_command("ZRANGEBYSCORE", "z", 0, 10, "LIMIT", 0, 0) == []
    assert r.execute_command("ZREVRANGEBYSCORE", "z", 10, 0, "LIMIT", 1, 2) == [b"d", b"c"]
    pairs = _pairs(r.execute_command("ZREVRANGEBYSCORE", "z", "+inf", 4, "WITHSCORES"), resp)
    assert pairs == [(b"e", 5.0), (b"d", 4.0)]
    assert r.zcount("z", "(1", "(5") == 3 and r.zcount("z", "-inf", "+inf") == 5
    assert r.zcount("nokey", 0, 1) == 0


def test_zrange_bylex_and_zlexcount(r: redis.Redis) -> None:
    r.zadd("z", {m: 0 for m in ("a", "b", "c", "d", "e")})
    assert r.execute_command("ZRANGE", "z", "[b", "(d", "BYLEX") == [b"b", b"c"]
    assert r.execute_command("ZRANGE", "z", "+", "[d", "BYLEX", "REV") == [b"e", b"d"]
    assert r.execute_command("ZRANGEBYLEX", "z", "-", "+", "LIMIT", 1, 2) == [b"b", b"c"]
    assert r.execute_command("ZREVRANGEBYLEX", "z", "(c", "-") == [b"b", b"a"]
    assert r.zlexcount("z", "(a", "[c") == 2
    assert r.zremrangebylex("z", "[a", "(c") == 2
    assert r.execute_command("ZRANGE", "z", 0, -1) == [b"c", b"d", b"e"]


def test_zrange_errors_exact_text(r: redis.Redis) -> None:
    r.zadd("z", {"a": 1})
    assert _err(r, "ZRANGE", "z", "a", "b", "BYLEX") == "min or max not valid string range item"
    assert _err(r, "ZRANGEBYLEX", "z", "a", "+") == "min or max not valid string range item"
    assert _err(r, "ZLEXCOUNT", "z", "-", "x") == "min or max not valid string range item"
    assert _err(r, "ZRANGE", "z", "x", 1, "BYSCORE") == "min or max is not a float"
    assert _err(r, "ZCOUNT", "z", "(x", 1) == "min or max is not a float"
    assert _err(r, "ZCOUNT", "z", "1 ", 1) == "min or max is not a float"
    # zslParseRange is plain strtod: "(" alone is "(0", leading spaces are skipped.
    assert r.zcount("z", "(", " 1") == 1
    assert _err(r, "ZRANGE", "z", 0, 1, "LIMIT", 0, 1) == (
        "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
    assert _err(r, "ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES") == (
        "syntax error, WITHSCORES not supported in combination with BYLEX")
    assert _err(r, "ZRANGE", "z", 0, -1, "BYSCORE", "BYLEX") == "syntax error"
    assert _err(r, "ZRANGEBYSCORE", "z", 0, 1, "REV") == "syntax error"
    assert _err(r, "ZRANGE", "z", 0, "x") == "value is not an integer or out of range"
    assert _err(r, "ZRANGEBYSCORE", "z", 0, 1, "LIMIT", 0, "a") == (
        "value is not an integer or out of range")
    # LIMIT 0 -1 is the default, so Redis accepts it with a rank range.
    assert r.execute_command("ZRANGE", "z", 0, -1, "LIMIT", 0, -1) == [b"a"]


def test_zrank_zrevrank_with_score(r: redis.Redis) -> None:
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zrank("z", "a") == 0 and r.zrevrank("z", "a") == 2
    assert r.zrank("z", "x") is None and r.zrank("nokey", "a") is None
    reply = r.execute_command("ZRANK", "z", "b", "WITHSCORE")
    assert reply[0] == 1 and float(reply[1]) == 2.0
    reply = r.execute_command("ZREVRANK", "z", "c", "WITHSCORE")
    assert reply[0] == 0 and float(reply[1]) == 3.0
    assert _err(r, "ZRANK", "z", "a", "foo") == "syntax error"


def _popped(reply: list[Any]) -> list[tuple[bytes, float]]:
    """redis-py's ZPOP* results (tuples in RESP2, lists or a flat pair in RESP3)."""
    if reply and not isinstance(reply[0], (list, tuple)):
        return [(reply[0], float(reply[1]))]
    return [(m, float(s)) for m, s in reply]


def test_zpopmin_zpopmax(r: redis.Redis) -> None:
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert _popped(r.zpopmin("z")) == [(b"a", 1.0)]
    assert _popped(r.zpopmax("z", 2)) == [(b"e", 5.0), (b"d", 4.0)]
    assert r.zpopmin("z", 0) == []
    assert r.zpopmin("nokey") == []
    assert _popped(r.zpopmin("z", 10)) == [(b"b", 2.0), (b"c", 3.0)]
    assert r.exists("z") == 0
    assert _err(r, "ZPOPMIN", "z", -1) == "value is out of range, must be positive"
    assert _err(r, "ZPOPMIN", "z", 1, 2) == "syntax error"


def test_zremrangebyrank_and_byscore(r: redis.Redis) -> None:
    r.zadd("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5})
    assert r.zremrangebyrank("z", 0, 1) == 2
    assert r.zremrangebyscore("z", "(3", "+inf") == 2
    assert r.execute_command("ZRANGE", "z", 0, -1) == [b"c"]
    assert r.zremrangebyrank("z", 5, 10) == 0
    assert _err(r, "ZREMRANGEBYSCORE", "z", "a", 1) == "min or max is not a float"
    assert r.zremrangebyrank("z", 0, -1) == 1 and r.exists("z") == 0


def test_zrangestore_stores_and_deletes_on_empty(r: redis.Redis) -> None:
    r.zadd("src", {"a": 1, "b": 2, "c": 3})
    assert r.execute_command("ZRANGESTORE", "dst", "src", 1, "+inf", "BYSCORE", "LIMIT", 0, 2
                             ) == 2
    assert _all(r, "dst") == [(b"a", 1.0), (b"b", 2.0)]
    assert r.execute_command("ZRANGESTORE", "dst", "src", 10, 20, "BYSCORE") == 0
    assert r.exists("dst") == 0
    assert _err(r, "ZRANGESTORE", "dst", "src", 0, -1, "WITHSCORES") == "syntax error"


def test_zrandmember_counts(r: redis.Redis, resp: int) -> None:
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.execute_command("ZRANDMEMBER", "z") in (b"a", b"b", b"c")
    assert sorted(r.execute_command("ZRANDMEMBER", "z", 5)) == [b"a", b"b", b"c"]
    two = r.execute_command("ZRANDMEMBER", "z", 2)
    assert len(set(two)) == 2
    assert len(r.execute_command("ZRANDMEMBER", "z", -7)) == 7
    pairs = _pairs(r.execute_command("ZRANDMEMBER", "z", -4, "WITHSCORES"), resp)
    assert len(pairs) == 4 and all(float(ord(m) - 96) == s for m, s in pairs)
    assert r.execute_command("ZRANDMEMBER", "nokey") is None
    assert r.execute_command("ZRANDMEMBER", "nokey", 3) == []
    assert _err(r, "ZRANDMEMBER", "z", 1, "foo") == "syntax error"


def test_zscan_returns_all_members_with_string_scores(r: redis.Redis) -> None:
    r.zadd("z", {b"m%d" % i: i for i in range(300)})
    seen: dict[Any, float] = {}
    cursor = 0
    while True:
        cursor, items = r.zscan("z", cursor, count=50)
        seen.update((m, float(s)) for m, s in items)
        if cursor == 0:
            break
    assert seen == {b"m%d" % i: float(i) for i in range(300)}
    cursor, items = r.zscan("z", 0, match="m1?", count=1000)
    assert cursor == 0 and len(items) == 10
    assert r.zscan("nokey", 0) == (0, [])


def test_zunionstore_zinterstore_weights_aggregate(r: redis.Redis, resp: int) -> None:
    r.zadd("z1", {"a": 1, "b": 2})
    r.zadd("z2", {"b": 3, "c": 4})
    r.sadd("s", "a", "c")
    assert r.execute_command("ZUNIONSTORE", "out", 2, "z1", "z2", "WEIGHTS", 2, 1) == 3
    assert _all(r, "out") == [(b"a", 2.0), (b"c", 4.0), (b"b", 7.0)]
    assert r.execute_command("ZINTERSTORE", "out", 2, "z1", "z2", "AGGREGATE", "MAX") == 1
    assert _all(r, "out") == [(b"b", 3.0)]
    pairs = _pairs(r.execute_command("ZUNION", 2, "z1", "s", "WITHSCORES"), resp)
    assert pairs == [(b"c", 1.0), (b"b", 2.0), (b"a", 2.0)] or pairs == [
        (b"c", 1.0), (b"a", 2.0), (b"b", 2.0)]
    assert r.execute_command("ZDIFF", 2, "z1", "z2") == [b"a"]
    assert r.execute_command("ZINTERSTORE", "out", 2, "z1", "nokey") == 0
    assert r.exists("out") == 0
    assert _err(r, "ZUNIONSTORE", "out", 0, "z1") == (
        "at least 1 input key is needed for 'zunionstore' command")
    assert _err(r, "ZUNIONSTORE", "out", 1, "z1", "WEIGHTS", "x") == "weight value is not a float"
    assert _err(r, "ZUNIONSTORE", "out", 3, "z1") == "syntax error"
    assert _err(r, "ZDIFF", 1, "z1", "WEIGHTS", 1) == "syntax error"


def test_zset_pipelined_zadd_zpopmin(r: redis.Redis) -> None:
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.execute_command("ZADD", "z", i, b"m%d" % i)
    for _ in range(200):
        pipe.execute_command("ZPOPMIN", "z")
    replies = pipe.execute()
    assert replies[:200] == [1] * 200
    assert [_popped(p)[0][0] for p in replies[200:]] == [b"m%d" % i for i in range(200)]
    assert r.exists("z") == 0


def test_zmpop_and_zintercard(r: redis.Redis, resp: int) -> None:
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    r.zadd("y", {"b": 1, "c": 1, "d": 1})
    reply = r.execute_command("ZMPOP", 2, "nokey", "z", "MAX", "COUNT", 2)
    assert reply[0] == b"z"
    assert [(m, float(s)) for m, s in reply[1]] == [(b"c", 3.0), (b"b", 2.0)]
    assert r.execute_command("ZMPOP", 1, "nokey", "MIN") is None
    assert _err(r, "ZMPOP", 0, "z", "MIN") == "numkeys should be greater than 0"
    assert _err(r, "ZMPOP", 1, "z", "MIN", "COUNT", 0) == "count should be greater than 0"
    assert _err(r, "ZMPOP", 2, "z", "MIN") == "syntax error"
    r.zadd("z", {"b": 2, "c": 3})
    assert r.execute_command("ZINTERCARD", 2, "z", "y") == 2
    assert r.execute_command("ZINTERCARD", 2, "z", "y", "LIMIT", 1) == 1
    assert r.execute_command("ZINTERCARD", 2, "z", "nokey") == 0
    assert _err(r, "ZINTERCARD", 1, "z", "LIMIT", -1) == "LIMIT can't be negative"


def test_bzpopmin_returns_at_once_or_times_out(r: redis.Redis) -> None:
    r.zadd("z", {"a": 1, "b": 2})
    reply = r.execute_command("BZPOPMIN", "nokey", "z", 0)
    assert list(reply[:2]) == [b"z", b"a"] and float(reply[2]) == 1.0
    reply = r.execute_command("BZPOPMAX", "z", 0)
    assert list(reply[:2]) == [b"z", b"b"]
    assert r.execute_command("BZPOPMIN", "z", "0.05") is None
    assert _err(r, "BZPOPMIN", "z", -1) == "timeout is negative"


def test_bzpopmin_woken_by_zadd_from_another_client(raw) -> None:
    waiter = raw()
    waiter.send(b"*3\r\n$8\r\nBZPOPMIN\r\n$6\r\nbzwait\r\n$1\r\n5\r\n")
    time.sleep(0.05)
    other = raw()
    assert other.command("ZADD", "bzwait", "3", "m", "4", "n") == 2
    assert waiter.read() == [b"bzwait", b"m", b"3"]
    waiter.send(b"*5\r\n$6\r\nBZMPOP\r\n$1\r\n5\r\n$1\r\n1\r\n$7\r\nbzwait2\r\n$3\r\nMAX\r\n")
    time.sleep(0.05)
    other.command("ZUNIONSTORE", "bzwait2", 1, "bzwait")
    assert waiter.read() == [b"bzwait2", [[b"n", b"4"]]]
    other.command("DEL", "bzwait", "bzwait2")


def test_bzpopmin_inside_multi_does_not_block(raw) -> None:
    c = raw()
    c.command("MULTI")
    c.command("BZPOPMIN", "nothing", 0)
    assert c.command("EXEC") == [None]
