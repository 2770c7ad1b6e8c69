"""String commands against a real server, compared with redis-server 7's exact replies."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from ..helpers import RawClient, encode_command


def _error(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def _raw_reply(c: RawClient, *args: bytes | str | int) -> bytes:
    """The exact bytes of one small reply (to assert RESP2 / RESP3 shapes)."""
    c.send(encode_command(*args))
    c.sock.settimeout(5)
    data = c.sock.recv(65536)
    return data


WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"


def _wrongtype(r: redis.Redis, *args: object) -> None:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    assert str(e.value) == WRONGTYPE


# -- GET / SET ------------------------------------------------------------------------


def test_get_missing_key_is_null(r: redis.Redis) -> None:
    assert r.get("nokey") is None


def test_set_get_roundtrip_binary(r: redis.Redis) -> None:
    value = b"\x00\xff\r\nbinary" * 100
    assert r.set("k", value) is True
    assert r.get("k") == value


def test_set_large_value_roundtrip(r: redis.Redis) -> None:
    value = b"x" * 100_000
    r.set("big", value)
    assert r.get("big") == value
    assert r.strlen("big") == 100_000


def test_get_null_shape_per_protocol(raw: Callable[[], RawClient], resp: int) -> None:
    c = raw()
    c.command("HELLO", resp)
    assert _raw_reply(c, "GET", "nokey") == (b"_\r\n" if resp == 3 else b"$-1\r\n")
    assert _raw_reply(c, "SET", "k", "v", "NX") == b"+OK\r\n"
    assert _raw_reply(c, "SET", "k", "v", "NX") == (b"_\r\n" if resp == 3 else b"$-1\r\n")
    c.command("DEL", "k")


def test_get_wrongtype(r: redis.Redis) -> None:
    r.rpush("l", "a")
    _wrongtype(r, "GET", "l")


def test_set_overwrites_other_types(r: redis.Redis) -> None:
    r.rpush("l", "a")
    assert r.set("l", "v")
    assert r.get("l") == b"v"


def test_set_nx_xx(r: redis.Redis) -> None:
    assert r.set("k", "1", xx=True) is None
    assert r.get("k") is None
    assert r.set("k", "1", nx=True) is True
    assert r.set("k", "2", nx=True) is None
    assert r.get("k") == b"1"
    assert r.set("k", "3", xx=True) is True
    assert r.get("k") == b"3"


def test_set_get_option_returns_old_value(r: redis.Redis) -> None:
    assert r.set("k", "1", get=True) is None
    assert r.set("k", "2", get=True) == b"1"
    # NX with GET: the old value comes back and nothing is written.
    assert r.set("k", "3", nx=True, get=True) == b"2"
    assert r.get("k") == b"2"
    assert r.set("new", "3", xx=True, get=True) is None
    assert r.get("new") is None


def test_set_get_option_wrongtype_leaves_key(r: redis.Redis) -> None:
    r.rpush("l", "a")
    _wrongtype(r, "SET", "l", "v", "GET")
    assert r.type("l") == b"list"


def test_set_expire_options(r: redis.Redis) -> None:
    r.set("k", "v", ex=100)
    assert 99 <= r.ttl("k") <= 100
    r.set("k", "v", px=50_000)
    assert 49_000 <= r.pttl("k") <= 50_000
    r.set("k", "v", exat=int(time.time()) + 100)
    assert 98 <= r.ttl("k") <= 100
    r.set("k", "v", pxat=int(time.time() * 1000) + 100_000)
    assert 98 <= r.ttl("k") <= 100
    # Repeating the same option is allowed: the last one wins.
    assert r.execute_command("SET", "k", "v", "EX", "1", "EX", "200")
    assert 199 <= r.ttl("k") <= 200


def test_set_keepttl_and_plain_set_drops_ttl(r: redis.Redis) -> None:
    r.set("k", "v", ex=100)
    r.set("k", "w", keepttl=True)
    assert r.ttl("k") > 0
    assert r.get("k") == b"w"
    r.set("k", "x")
    assert r.ttl("k") == -1


def test_set_past_absolute_deadline_expires_key(r: redis.Redis) -> None:
    assert r.execute_command("SET", "k", "v", "EXAT", "1") is not None
    assert r.get("k") is None
    assert r.execute_command("SET", "k", "v", "PXAT", "1") is not None
    assert r.exists("k") == 0


@pytest.mark.parametrize(
    "args",
    [("EX", "0"), ("EX", "-1"), ("PX", "0"), ("EXAT", "0"), ("PXAT", "-5"),
     ("EX", "9223372036854776"), ("PX", "9223372036854775807")],
)
def test_set_invalid_expire_time(r: redis.Redis, args: tuple[str, str]) -> None:
    assert _error(r, "SET", "k", "v", *args) == "invalid expire time in 'set' command"
    assert r.exists("k") == 0


@pytest.mark.parametrize(
    "args",
    [("NX", "XX"), ("XX", "NX"), ("EX", "1", "PX", "1"), ("KEEPTTL", "EX", "1"),
     ("EX", "1", "KEEPTTL"), ("EX",), ("FOO",), ("PERSIST",), ("PXAT", "1", "EXAT", "1")],
)
def test_set_conflicting_options_syntax_error(r: redis.Redis, args: tuple[str, ...]) -> None:
    assert _error(r, "SET", "k", "v", *args) == "syntax error"


def test_set_expire_not_integer(r: redis.Redis) -> None:
    assert _error(r, "SET", "k", "v", "EX", "x") == "value is not an integer or out of range"
    assert _error(r, "SET", "k", "v", "EX", "1.5") == "value is not an integer or out of range"


def test_set_wrong_arity(r: redis.Redis) -> None:
    assert _error(r, "SET", "k") == "wrong number of arguments for 'set' command"


# -- SETNX / SETEX / PSETEX / GETEX / GETDEL / GETSET ------------------------------------


def test_setnx_replies_integer(r: redis.Redis) -> None:
    assert r.setnx("k", "1") is True
    assert r.setnx("k", "2") is False
    assert r.execute_command("SETNX", "k", "3") == 0
    assert r.get("k") == b"1"


def test_setex_psetex(r: redis.Redis) -> None:
    assert r.execute_command("SETEX", "k", "100", "v")
    assert 99 <= r.ttl("k") <= 100
    assert r.execute_command("PSETEX", "p", "100000", "v")
    assert 99_000 <= r.pttl("p") <= 100_000
    assert _error(r, "SETEX", "k", "0", "v") == "invalid expire time in 'setex' command"
    assert _error(r, "PSETEX", "k", "-1", "v") == "invalid expire time in 'psetex' command"
    assert _error(r, "SETEX", "k", "x", "v") == "value is not an integer or out of range"


def test_getex_options(r: redis.Redis) -> None:
    r.set("k", "v")
    assert r.getex("k") == b"v"
    assert r.ttl("k") == -1
    assert r.getex("k", ex=100) == b"v"
    assert 99 <= r.ttl("k") <= 100
    assert r.getex("k", px=200_000) == b"v"
    assert r.ttl("k") > 150
    assert r.getex("k", persist=True) == b"v"
    assert r.ttl("k") == -1
    assert r.getex("k", exat=1) == b"v"
    assert r.exists("k") == 0


def test_getex_errors(r: redis.Redis) -> None:
    r.set("k", "v")
    assert _error(r, "GETEX", "k", "FOO") == "syntax error"
    assert _error(r, "GETEX", "k", "PERSIST", "EX", "10") == "syntax error"
    assert _error(r, "GETEX", "k", "EX", "10", "PX", "10") == "syntax error"
    assert _error(r, "GETEX", "k", "KEEPTTL") == "syntax error"
    assert _error(r, "GETEX", "k", "EX", "-1") == "invalid expire time in 'getex' command"
    # A missing key answers null before the expire time is checked.
    assert r.execute_command("GETEX", "nokey", "EX", "-1") is None
    r.rpush("l", "a")
    _wrongtype(r, "GETEX", "l")


def test_getdel(r: redis.Redis) -> None:
    r.set("k", "v")
    assert r.getdel("k") == b"v"
    assert r.getdel("k") is None
    assert r.exists("k") == 0
    r.rpush("l", "a")
    _wrongtype(r, "GETDEL", "l")


def test_getset_returns_old_and_drops_ttl(r: redis.Redis) -> None:
    assert r.getset("k", "1") is None
    r.expire("k", 100)
    assert r.getset("k", "2") == b"1"
    assert r.get("k") == b"2"
    assert r.ttl("k") == -1
    r.rpush("l", "a")
    _wrongtype(r, "GETSET", "l", "v")


# -- MGET / MSET / MSETNX -------------------------------------------------------------


def test_mget_mixed_keys(r: redis.Redis) -> None:
    r.mset({"a": "1", "b": "2"})
    r.rpush("l", "x")
    assert r.mget("a", "nokey", "l", "b") == [b"1", None, None, b"2"]


def test_mset_odd_arguments_error(r: redis.Redis) -> None:
    assert _error(r, "MSET", "a", "1", "b") == "wrong number of arguments for 'mset' command"
    assert _error(r, "MSETNX", "a", "1", "b") == "wrong number of arguments for 'msetnx' command"


def test_msetnx_all_or_nothing(r: redis.Redis) -> None:
    assert r.msetnx({"a": "1", "b": "2"}) is True
    assert r.msetnx({"b": "3", "c": "4"}) is False
    assert r.mget("a", "b", "c") == [b"1", b"2", None]


def test_mset_overwrites_and_drops_ttl(r: redis.Redis) -> None:
    r.set("a", "old", ex=100)
    assert r.mset({"a": "1", "b": "2"}) is True
    assert r.get("a") == b"1"
    assert r.ttl("a") == -1


# -- APPEND / STRLEN / GETRANGE / SETRANGE --------------------------------------------


def test_append_and_strlen(r: redis.Redis) -> None:
    assert r.append("k", "hello") == 5
    assert r.append("k", " world") == 11
    assert r.get("k") == b"hello world"
    assert r.strlen("k") == 11
    assert r.strlen("nokey") == 0
    r.rpush("l", "a")
    _wrongtype(r, "APPEND", "l", "x")
    _wrongtype(r, "STRLEN", "l")


def test_append_keeps_ttl(r: redis.Redis) -> None:
    r.set("k", "a", ex=100)
    r.append("k", "b")
    assert r.ttl("k") > 0


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [(0, 4, b"Hello"), (-5, -1, b"World"), (-1, -5, b""), (3, 100, b"lo World"),
     (100, 200, b""), (-100, 2, b"Hel"), (0, -100, b"H"), (5, 3, b"")],
)
def test_getrange_bounds(r: redis.Redis, start: int, end: int, expected: bytes) -> None:
    r.set("k", "Hello World")
    assert r.getrange("k", start, end) == expected


def test_getrange_missing_and_substr(r: redis.Redis) -> None:
    assert r.getrange("nokey", 0, 10) == b""
    r.set("k", "Hello")
    assert r.execute_command("SUBSTR", "k", "1", "2") == b"el"
    assert _error(r, "GETRANGE", "k", "x", "1") == "value is not an integer or out of range"


def test_setrange_overwrites_and_pads(r: redis.Redis) -> None:
    r.set("k", "Hello World")
    assert r.setrange("k", 6, "Redis") == 11
    assert r.get("k") == b"Hello Redis"
    assert r.setrange("k", 13, "!") == 14
    assert r.get("k") == b"Hello Redis\x00\x00!"
    assert r.setrange("new", 2, "ab") == 4
    assert r.get("new") == b"\x00\x00ab"
    # An empty piece creates nothing and changes nothing.
    assert r.setrange("empty", 5, "") == 0
    assert r.exists("empty") == 0
    assert r.setrange("k", 100, "") == 14


def test_setrange_errors(r: redis.Redis) -> None:
    assert _error(r, "SETRANGE", "k", "-1", "x") == "offset is out of range"
    assert (_error(r, "SETRANGE", "k", "536870912", "x")
            == "string exceeds maximum allowed size (proto-max-bulk-len)")
    r.rpush("l", "a")
    _wrongtype(r, "SETRANGE", "l", "0", "x")


# -- INCR family ----------------------------------------------------------------------


def test_incr_decr_family(r: redis.Redis) -> None:
    assert r.incr("n") == 1
    assert r.incrby("n", 10) == 11
    assert r.decr("n") == 10
    assert r.decrby("n", 15) == -5
    assert r.get("n") == b"-5"
    assert r.object("encoding", "n") == b"int"


def test_incr_keeps_ttl(r: redis.Redis) -> None:
    r.set("n", "1", ex=100)
    r.incr("n")
    assert r.ttl("n") > 0


@pytest.mark.parametrize("value", ["abc", " 1", "+1", "01", "-0", "1.5", "", "99999999999999999999"])
def test_incr_not_an_integer(r: redis.Redis, value: str) -> None:
    r.set("n", value)
    assert _error(r, "INCR", "n") == "value is not an integer or out of range"
    assert r.get("n") == value.encode()


def test_incr_overflow_errors(r: redis.Redis) -> None:
    r.set("n", "9223372036854775807")
    assert _error(r, "INCR", "n") == "increment or decrement would overflow"
    r.set("n", "-9223372036854775808")
    assert _error(r, "DECR", "n") == "increment or decrement would overflow"
    assert _error(r, "DECRBY", "n", "-9223372036854775808") == "decrement would overflow"
    assert _error(r, "INCRBY", "n", "x") == "value is not an integer or out of range"
    r.rpush("l", "a")
    _wrongtype(r, "INCR", "l")


def test_incrbyfloat_formats_like_redis(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.command("DEL", "f", "g", "h")
    assert c.command("INCRBYFLOAT", "f", "10.5") == b"10.5"
    assert c.command("INCRBYFLOAT", "f", "0.1") == b"10.6"
    # redis computes in long double: these are its exact digits.
    assert c.command("INCRBYFLOAT", "f", "5.0e3") == b"5010.60000000000000009"
    assert c.command("GET", "f") == b"5010.60000000000000009"
    assert c.command("INCRBYFLOAT", "g", "5.0e3") == b"5000"
    c.command("SET", "h", "3")
    assert c.command("INCRBYFLOAT", "h", "-3") == b"0"
    assert c.command("GET", "h") == b"0"
    c.command("DEL", "f", "g", "h")


def test_incrbyfloat_client_reads_float(r: redis.Redis) -> None:
    assert r.incrbyfloat("f", 1.5) == 1.5
    assert r.get("f") == b"1.5"


def test_incrbyfloat_errors(r: redis.Redis) -> None:
    r.set("f", "1")
    assert _error(r, "INCRBYFLOAT", "f", "inf") == "increment would produce NaN or Infinity"
    assert _error(r, "INCRBYFLOAT", "f", "abc") == "value is not a valid float"
    assert _error(r, "INCRBYFLOAT", "f", " 1") == "value is not a valid float"
    assert _error(r, "INCRBYFLOAT", "f", "1e5000") == "value is not a valid float"
    assert _error(r, "INCRBYFLOAT", "f", "1e-5000") == "value is not a valid float"
    r.set("s", "abc")
    assert _error(r, "INCRBYFLOAT", "s", "1") == "value is not a valid float"
    r.rpush("l", "a")
    _wrongtype(r, "INCRBYFLOAT", "l", "1")


# -- stats ----------------------------------------------------------------------------


def test_get_counts_keyspace_hits_and_misses(r: redis.Redis) -> None:
    before = r.info("stats")
    r.set("k", "v")
    r.get("k")
    r.get("nokey")
    r.mget("k", "nokey", "nokey2")
    after = r.info("stats")
    assert after["keyspace_hits"] - before["keyspace_hits"] == 2
    assert after["keyspace_misses"] - before["keyspace_misses"] == 3


# -- LCS ------------------------------------------------------------------------------


def test_lcs_string_len_and_idx(r: redis.Redis, resp: int) -> None:
    r.mset({"a": "ohmytext", "b": "mynewtext"})
    assert r.lcs("a", "b") == b"mytext"
    assert r.lcs("a", "b", len=True) == 6
    reply = r.execute_command("LCS", "a", "b", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN")
    expected = {b"matches": [[[4, 7], [5, 8], 4]], b"len": 6}
    if resp == 3:
        assert reply == expected
    else:
        assert reply == [b"matches", [[[4, 7], [5, 8], 4]], b"len", 6]
    reply = r.execute_command("LCS", "a", "b", "IDX")
    matches = reply[b"matches"] if resp == 3 else reply[1]
    assert matches == [[[4, 7], [5, 8]], [[2, 3], [0, 1]]]


def test_lcs_missing_key_is_empty(r: redis.Redis) -> None:
    r.set("a", "abc")
    assert r.lcs("a", "nokey") == b""
    assert r.lcs("a", "nokey", len=True) == 0


def test_lcs_errors(r: redis.Redis) -> None:
    r.set("a", "abc")
    r.rpush("l", "x")
    assert _error(r, "LCS", "l", "a") == "The specified keys must contain string values"
    assert _error(r, "LCS", "a", "a", "FOO") == "syntax error"
    assert _error(r, "LCS", "a", "a", "MINMATCHLEN") == "syntax error"
    assert (_error(r, "LCS", "a", "a", "MINMATCHLEN", "x")
            == "value is not an integer or out of range")
    assert (_error(r, "LCS", "a", "a", "LEN", "IDX")
            == "If you want both the length and indexes, please just use IDX.")
