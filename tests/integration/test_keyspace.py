"""Generic key commands against a real server, compared with redis-server 7's exact replies."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis

from ..helpers import RawClient, ServerProcess, encode_command


def _error(r: redis.Redis, *args: object) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def _db1(r: redis.Redis) -> redis.Redis:
    """A client like ``r`` (same protocol and parser) on database 1 (``r`` flushes all)."""
    kwargs = {**r.connection_pool.connection_kwargs, "db": 1}
    return redis.Redis(connection_pool=redis.ConnectionPool(**kwargs))


def _raw_reply(c: RawClient, *args: bytes | str | int) -> bytes:
    """The exact bytes of one small reply (to assert RESP2 / RESP3 shapes)."""
    c.send(encode_command(*args))
    c.sock.settimeout(5)
    return c.sock.recv(65536)


# -- DEL / UNLINK / EXISTS / TOUCH / TYPE ------------------------------------------------


def test_del_counts_deleted_keys(r: redis.Redis) -> None:
    r.mset({"a": "1", "b": "2"})
    assert r.delete("a", "b", "nokey") == 2
    assert r.exists("a", "b") == 0


def test_unlink_counts_deleted_keys(r: redis.Redis) -> None:
    r.set("a", "1")
    r.rpush("l", "x")
    assert r.unlink("a", "l", "nokey") == 2
    assert r.dbsize() == 0


def test_exists_counts_repeats(r: redis.Redis) -> None:
    r.set("a", "1")
    assert r.exists("a", "a", "nokey") == 2


def test_touch_counts_existing(r: redis.Redis) -> None:
    r.set("a", "1")
    assert r.touch("a", "nokey", "a") == 2


def test_type_of_each_kind(r: redis.Redis) -> None:
    r.set("s", "v")
    r.rpush("l", "x")
    r.zadd("z", {"m": 1})
    r.hset("h", "f", "v")
    r.sadd("set", "m")
    assert r.type("h") == b"hash"
    assert r.type("set") == b"set"
    assert r.type("s") == b"string"
    assert r.type("l") == b"list"
    assert r.type("z") == b"zset"
    assert r.type("nokey") == b"none"


def test_type_is_simple_string(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.command("SET", "typed", "v")
    assert _raw_reply(c, "TYPE", "typed") == b"+string\r\n"
    assert _raw_reply(c, "TYPE", "nokey-typed") == b"+none\r\n"
    c.command("DEL", "typed")


# -- KEYS / SCAN / RANDOMKEY ----------------------------------------------------------


def test_keys_patterns(r: redis.Redis) -> None:
    r.mset({"one": "1", "two": "2", "three": "3", "four": "4"})
    assert sorted(r.keys("*")) == [b"four", b"one", b"three", b"two"]
    assert sorted(r.keys("t*")) == [b"three", b"two"]
    assert sorted(r.keys("???")) == [b"one", b"two"]
    assert sorted(r.keys("[ot]*e")) == [b"one", b"three"]
    assert r.keys("nomatch*") == []


def test_keys_skips_expired(r: redis.Redis) -> None:
    r.set("live", "1")
    r.set("dead", "1", px=1)
    time.sleep(0.005)
    assert r.keys("*") == [b"live"]


def test_scan_iterates_all_keys_once_per_call(r: redis.Redis) -> None:
    r.mset({f"key:{i}": i for i in range(100)})
    r.rpush("list:0", "x")
    seen: list[bytes] = []
    cursor = 0
    calls = 0
    while True:
        cursor, batch = r.scan(cursor, count=10)
        seen.extend(batch)
        calls += 1
        if cursor == 0:
            break
    assert calls > 1
    assert sorted(set(seen)) == sorted([f"key:{i}".encode() for i in range(100)] + [b"list:0"])


def test_scan_match_and_type(r: redis.Redis) -> None:
    r.mset({"a1": "1", "a2": "2", "b1": "3"})
    r.rpush("a3", "x")
    assert sorted(r.scan_iter(match="a*")) == [b"a1", b"a2", b"a3"]
    assert sorted(r.scan_iter(_type="list")) == [b"a3"]
    assert sorted(r.scan_iter(match="a*", _type="STRING")) == [b"a1", b"a2"]
    # An unknown type matches nothing (redis-server 7.0 answers, not errors).
    assert list(r.scan_iter(_type="foo")) == []


def test_scan_reply_shape(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.command("SET", "scan-shape", "v")
    cursor, keys = c.command("SCAN", "0", "MATCH", "scan-shape")
    assert cursor == b"0"
    assert keys == [b"scan-shape"]
    c.command("DEL", "scan-shape")


@pytest.mark.parametrize(
    ("args", "message"),
    [(("x",), "invalid cursor"), (("1x",), "invalid cursor"),
     (("0", "COUNT", "0"), "syntax error"), (("0", "COUNT", "x"),
                                             "value is not an integer or out of range"),
     (("0", "MATCH"), "syntax error"), (("0", "FOO"), "syntax error")],
)
def test_scan_errors(r: redis.Redis, args: tuple[str, ...], message: str) -> None:
    assert _error(r, "SCAN", *args) == message


def test_randomkey(r: redis.Redis) -> None:
    assert r.randomkey() is None
    r.mset({"a": "1", "b": "2"})
    assert r.randomkey() in (b"a", b"b")


def test_randomkey_null_shape(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.command("SELECT", "15")
    c.command("FLUSHDB")
    assert _raw_reply(c, "RANDOMKEY") == b"$-1\r\n"
    c.command("HELLO", "3")
    assert _raw_reply(c, "RANDOMKEY") == b"_\r\n"
    assert _raw_reply(c, "OBJECT", "ENCODING", "nokey") == b"_\r\n"


# -- RENAME / RENAMENX / COPY / MOVE -------------------------------------------------


def test_rename_moves_value_and_ttl(r: redis.Redis) -> None:
    r.set("a", "1", ex=100)
    r.set("b", "old")
    assert r.rename("a", "b") is True
    assert r.get("b") == b"1"
    assert r.exists("a") == 0
    assert 99 <= r.ttl("b") <= 100


def test_rename_drops_destination_ttl(r: redis.Redis) -> None:
    r.set("a", "1")
    r.set("b", "2", ex=100)
    r.rename("a", "b")
    assert r.ttl("b") == -1


def test_rename_errors_and_same_key(r: redis.Redis) -> None:
    assert _error(r, "RENAME", "nokey", "x") == "no such key"
    assert _error(r, "RENAMENX", "nokey", "x") == "no such key"
    assert _error(r, "RENAME", "nokey", "nokey") == "no such key"
    r.set("a", "1")
    assert r.rename("a", "a") is True
    assert r.execute_command("RENAMENX", "a", "a") == 0


def test_renamenx(r: redis.Redis) -> None:
    r.set("a", "1")
    r.set("b", "2")
    assert r.renamenx("a", "b") is False
    assert r.renamenx("a", "c") is True
    assert r.get("c") == b"1"
    assert r.exists("a") == 0


def test_rename_other_types(r: redis.Redis) -> None:
    r.rpush("l", "x", "y")
    r.rename("l", "m")
    assert r.lrange("m", 0, -1) == [b"x", b"y"]


def test_copy_value_and_ttl(r: redis.Redis) -> None:
    r.set("a", "1", ex=100)
    assert r.copy("a", "b") is True
    assert r.get("b") == b"1"
    assert 99 <= r.ttl("b") <= 100
    r.set("c", "other")
    assert r.copy("a", "c") is False
    assert r.copy("a", "c", replace=True) is True
    assert r.get("c") == b"1"
    assert r.copy("nokey", "d") is False


def test_copy_is_independent_for_containers(r: redis.Redis) -> None:
    r.rpush("l", "x")
    r.copy("l", "l2")
    r.rpush("l2", "y")
    assert r.lrange("l", 0, -1) == [b"x"]
    r.zadd("z", {"m": 1})
    r.copy("z", "z2")
    r.zadd("z2", {"n": 2})
    assert r.zcard("z") == 1
    assert r.zrange("z2", 0, -1) == [b"m", b"n"]
    r.hset("h", "f", "v")
    r.copy("h", "h2")
    r.hset("h2", "g", "w")
    assert r.hgetall("h") == {b"f": b"v"}
    r.sadd("s", "a")
    r.copy("s", "s2")
    r.sadd("s2", "b")
    assert r.smembers("s") == {b"a"}


@pytest.mark.parametrize(
    "change",
    [("RENAME", "src", "w"), ("RENAME", "w", "dst"), ("EXPIRE", "w", "100"),
     ("PERSIST", "w"), ("DEL", "w"), ("COPY", "src", "w", "REPLACE"), ("MOVE", "w", "1"),
     ("SET", "w", "x"), ("INCR", "n"), ("APPEND", "w", "x"), ("MSET", "a", "1", "w", "2")],
)
def test_key_changes_invalidate_watch(r: redis.Redis, change: tuple[str, ...]) -> None:
    r.mset({"w": "1", "src": "2", "n": "1"})
    r.expire("w", 1000)
    watched = "n" if change[0] == "INCR" else "w"
    with r.pipeline() as p:
        p.watch(watched)
        r.execute_command(*change)  # another connection of the pool
        p.multi()
        p.get(watched)
        with pytest.raises(redis.WatchError):
            p.execute()


def test_copy_to_other_db(r: redis.Redis) -> None:
    r.set("a", "1")
    assert r.copy("a", "a", destination_db=1) is True
    with _db1(r) as r1:
        assert r1.get("a") == b"1"


@pytest.mark.parametrize(
    ("args", "message"),
    [(("a", "a"), "source and destination objects are the same"),
     (("a", "b", "DB", "99"), "DB index is out of range"),
     (("a", "b", "DB", "-1"), "DB index is out of range"),
     (("a", "b", "DB", "x"), "value is not an integer or out of range"),
     (("a", "b", "DB", "2147483648"),
      "value is out of range, value must between -2147483648 and 2147483647"),
     (("a", "b", "DB"), "syntax error"), (("a", "b", "FOO"), "syntax error")],
)
def test_copy_errors(r: redis.Redis, args: tuple[str, ...], message: str) -> None:
    r.set("a", "1")
    assert _error(r, "COPY", *args) == message


def test_move_between_databases(r: redis.Redis) -> None:
    r.set("a", "1", ex=100)
    assert r.move("a", 1) is True
    assert r.exists("a") == 0
    assert r.move("nokey", 1) is False
    r.set("a", "2")
    assert r.move("a", 1) is False  # already there
    with _db1(r) as r1:
        assert r1.get("a") == b"1"
        assert r1.ttl("a") > 0


def test_move_errors(r: redis.Redis) -> None:
    r.set("a", "1")
    assert _error(r, "MOVE", "a", "0") == "source and destination objects are the same"
    assert _error(r, "MOVE", "a", "99") == "DB index is out of range"
    assert _error(r, "MOVE", "a", "x") == "value is not an integer or out of range"


# -- EXPIRE family ------------------------------------------------------------------


def test_expire_and_ttl_family(r: redis.Redis) -> None:
    r.set("k", "v")
    assert r.ttl("k") == -1
    assert r.pttl("k") == -1
    assert r.expiretime("k") == -1
    assert r.ttl("nokey") == -2
    assert r.pttl("nokey") == -2
    assert r.expiretime("nokey") == -2
    assert r.execute_command("PEXPIRETIME", "nokey") == -2
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert 99_000 <= r.pttl("k") <= 100_000
    assert r.pexpire("k", 50_000) is True
    assert 49 <= r.ttl("k") <= 50
    assert r.expireat("k", 4_000_000_000) is True
    assert r.expiretime("k") == 4_000_000_000
    assert r.execute_command("PEXPIRETIME", "k") == 4_000_000_000_000
    assert r.pexpireat("k", 4_000_000_000_123) is True
    assert r.execute_command("PEXPIRETIME", "k") == 4_000_000_000_123
    assert r.expiretime("k") == 4_000_000_000
    r.pexpireat("k", 4_000_000_000_500)
    assert r.expiretime("k") == 4_000_000_001  # rounded like TTL, as redis does
    assert r.expire("nokey", 100) is False


def test_expire_past_or_zero_deletes(r: redis.Redis) -> None:
    r.mset({"a": "1", "b": "2", "c": "3", "d": "4"})
    assert r.expire("a", 0) is True
    assert r.pexpire("b", -5) is True
    assert r.expireat("c", 1) is True
    assert r.pexpireat("d", 1) is True
    assert r.exists("a", "b", "c", "d") == 0


def test_lazy_expiry(r: redis.Redis) -> None:
    r.set("k", "v", px=1)
    time.sleep(0.005)
    assert r.get("k") is None
    assert r.exists("k") == 0
    assert r.ttl("k") == -2


def test_active_expiry_removes_untouched_keys(r: redis.Redis) -> None:
    r.set("k", "v", px=1)
    r.set("p", "v")
    deadline = time.monotonic() + 3
    while r.dbsize() != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r.dbsize() == 1


def test_expire_nx_xx_gt_lt(r: redis.Redis) -> None:
    r.set("k", "v")
    assert r.expire("k", 100, xx=True) is False
    assert r.expire("k", 100, gt=True) is False  # no TTL counts as infinite
    assert r.expire("k", 100, nx=True) is True
    assert r.expire("k", 200, nx=True) is False
    assert r.expire("k", 200, xx=True) is True
    assert r.expire("k", 100, gt=True) is False
    assert r.expire("k", 300, gt=True) is True
    assert r.expire("k", 400, lt=True) is False
    assert r.expire("k", 50, lt=True) is True
    assert 49 <= r.ttl("k") <= 50
    r.persist("k")
    assert r.expire("k", 50, lt=True) is True


@pytest.mark.parametrize(
    ("opts", "message"),
    [(("NX", "XX"), "NX and XX, GT or LT options at the same time are not compatible"),
     (("NX", "GT"), "NX and XX, GT or LT options at the same time are not compatible"),
     (("LT", "NX"), "NX and XX, GT or LT options at the same time are not compatible"),
     (("GT", "LT"), "GT and LT options at the same time are not compatible"),
     (("FOO",), "Unsupported option FOO")],
)
def test_expire_option_errors(r: redis.Redis, opts: tuple[str, ...], message: str) -> None:
    r.set("k", "v")
    assert _error(r, "EXPIRE", "k", "10", *opts) == message


@pytest.mark.parametrize(
    ("cmd", "value"),
    [("EXPIRE", "9223372036854776"), ("EXPIRE", "-9223372036854776"),
     ("PEXPIRE", "9223372036854775807"), ("EXPIREAT", "9223372036854776"),
     ("EXPIRE", "9223372036854775")],
)
def test_expire_invalid_time(r: redis.Redis, cmd: str, value: str) -> None:
    r.set("k", "v")
    assert _error(r, cmd, "k", value) == f"invalid expire time in '{cmd.lower()}' command"


def test_expire_not_integer_after_options(r: redis.Redis) -> None:
    r.set("k", "v")
    assert _error(r, "EXPIRE", "k", "x") == "value is not an integer or out of range"
    # Options are checked first, as in redis-server.
    assert _error(r, "EXPIRE", "k", "x", "FOO") == "Unsupported option FOO"


def test_persist(r: redis.Redis) -> None:
    r.set("k", "v", ex=100)
    assert r.persist("k") is True
    assert r.persist("k") is False
    assert r.persist("nokey") is False
    assert r.ttl("k") == -1


# -- OBJECT -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "encoding"),
    [("12345", b"int"), ("-5", b"int"), ("9223372036854775807", b"int"),
     ("9223372036854775808", b"embstr"), ("01", b"embstr"), ("a" * 44, b"embstr"),
     ("a" * 45, b"raw")],
)
def test_object_encoding_strings(r: redis.Redis, value: str, encoding: bytes) -> None:
    r.set("k", value)
    assert r.object("encoding", "k") == encoding


def test_object_encoding_containers(r: redis.Redis) -> None:
    r.rpush("l", "a", "b")
    assert r.object("encoding", "l") == b"listpack"
    r.rpush("big", *[b"x" * 100 for _ in range(100)])
    assert r.object("encoding", "big") == b"quicklist"
    r.zadd("z", {"m": 1})
    assert r.object("encoding", "z") == b"listpack"
    r.zadd("z", {f"m{i}": i for i in range(200)})
    assert r.object("encoding", "z") == b"skiplist"
    r.zadd("zl", {"x" * 65: 1})
    assert r.object("encoding", "zl") == b"skiplist"
    assert r.object("encoding", "nokey") is None


def test_object_encoding_hash_and_set(r: redis.Redis) -> None:
    r.hset("h", mapping={"f": "v"})
    assert r.object("encoding", "h") == b"listpack"
    r.hset("h", "long", "x" * 65)
    assert r.object("encoding", "h") == b"hashtable"
    r.hset("h2", mapping={f"f{i}": i for i in range(129)})
    assert r.object("encoding", "h2") == b"hashtable"
    r.sadd("ints", 1, 2, -3)
    assert r.object("encoding", "ints") == b"intset"
    r.sadd("words", "a", "b")
    assert r.object("encoding", "words") == b"listpack"  # redis 7.2's small-set encoding
    r.sadd("bigints", *range(513))
    assert r.object("encoding", "bigints") == b"hashtable"
    r.sadd("bigwords", *[f"w{i}" for i in range(129)])
    assert r.object("encoding", "bigwords") == b"hashtable"


def test_object_refcount_freq_idletime(r: redis.Redis) -> None:
    r.set("small", "5")
    r.set("str", "hello")
    assert r.object("refcount", "small") == 2147483647  # a shared integer
    assert r.object("refcount", "str") == 1
    assert r.object("refcount", "nokey") is None
    assert r.object("idletime", "str") >= 0
    assert r.object("idletime", "nokey") is None
    assert _error(r, "OBJECT", "FREQ", "str").startswith(
        "An LFU maxmemory policy is not selected, access frequency not tracked."
    )


def test_object_help_and_errors(r: redis.Redis) -> None:
    lines = r.execute_command("OBJECT", "HELP")
    assert lines[0] in (b"OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    assert len(lines) == 15
    assert _error(r, "OBJECT", "FOO") == "unknown subcommand 'FOO'. Try OBJECT HELP."
    assert (_error(r, "OBJECT", "ENCODING")
            == "wrong number of arguments for 'object|encoding' command")


# -- stats ----------------------------------------------------------------------------


def test_reads_count_keyspace_hits(r: redis.Redis) -> None:
    r.set("k", "v")
    before = r.info("stats")
    r.exists("k", "nokey")
    r.type("k")
    after = r.info("stats")
    assert after["keyspace_hits"] - before["keyspace_hits"] == 2
    assert after["keyspace_misses"] - before["keyspace_misses"] == 1


def test_object_freq_and_idletime_under_lfu(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server("--maxmemory-policy", "allkeys-lfu")
    c = RawClient(server.port)
    try:
        c.command("SET", "k", "hello")
        assert c.command("OBJECT", "FREQ", "k") == 5  # LFU_INIT_VAL, as redis-server 7.2
        err = c.command("OBJECT", "IDLETIME", "k")
        assert isinstance(err, Exception)
        assert str(err).startswith("ERR An LFU maxmemory policy is selected, idle time not")
    finally:
        c.close()


def test_rename_wakes_client_blocked_on_destination(
    r: redis.Redis, raw: Callable[[], RawClient]
) -> None:
    c = raw()
    c.send(encode_command("BLPOP", "dst", "5"))
    deadline = time.monotonic() + 2
    while r.info("clients").get("blocked_clients", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    r.rpush("src", "x")
    r.rename("src", "dst")
    assert c.read() == [b"dst", b"x"]
    assert r.exists("dst") == 0
