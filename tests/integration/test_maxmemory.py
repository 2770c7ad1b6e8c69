"""maxmemory and maxmemory-policy as redis-server 7.2 applies them, with the logical
memory accounting that drives them (store/_memory.py, commands/_evict.py).

Every test starts its own server. A limit is set in two steps, as Redis's own maxmemory
tests do it: a huge limit first (that switches accounting on, so INFO's used_memory
becomes the logical figure), then "what is used now + room".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from .. import models
from ..helpers import RawClient, ServerProcess, encode_command
from .test_config import _start_with_file
from .test_model import tensorset
from .test_model_runtime import SlowModel

OOM = "OOM command not allowed when used memory > 'maxmemory'."
EXECABORT = "EXECABORT Transaction discarded because of previous errors."


def _client(srv: ServerProcess) -> redis.Redis:
    return redis.Redis(port=srv.port, protocol=3, socket_timeout=60)


def _limit(r: redis.Redis, room: int) -> int:
    """Set maxmemory to the accounted memory in use now plus ``room`` bytes."""
    r.config_set("maxmemory", "100gb")
    limit = int(r.info("memory")["used_memory"]) + room
    r.config_set("maxmemory", str(limit))
    return limit


def _mem(r: redis.Redis) -> dict[str, Any]:
    return r.info("memory")


def _evicted(r: redis.Redis) -> int:
    return int(r.info("stats")["evicted_keys"])


def _error(c: RawClient, *args: Any) -> str:
    reply = c.command(*args)
    assert isinstance(reply, Exception), reply
    return str(reply)


# -- configuration -------------------------------------------------------------------------
def test_maxmemory_parameters_defaults_and_validation(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--maxmemory-samples", "7")
    r = _client(srv)
    got = r.config_get("maxmemory*")
    assert got == {"maxmemory": "0", "maxmemory-policy": "noeviction",
                   "maxmemory-samples": "7", "maxmemory-eviction-tenacity": "10"}
    assert r.config_get("lfu-*") == {"lfu-log-factor": "10", "lfu-decay-time": "1"}
    c = RawClient(srv.port)
    prefix = "ERR CONFIG SET failed (possibly related to argument"
    assert _error(c, "CONFIG", "SET", "maxmemory", "-1") == (
        f"{prefix} 'maxmemory') - argument must be a memory value")
    assert _error(c, "CONFIG", "SET", "maxmemory-policy", "lru") == (
        f"{prefix} 'maxmemory-policy') - argument(s) must be one of the following: "
        "volatile-lru, volatile-lfu, volatile-random, volatile-ttl, allkeys-lru, "
        "allkeys-lfu, allkeys-random, noeviction")
    assert _error(c, "CONFIG", "SET", "maxmemory-samples", "0") == (
        f"{prefix} 'maxmemory-samples') - argument must be between 1 and 64 inclusive")
    c.close()
    for policy in ("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                   "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"):
        assert r.config_set("maxmemory-policy", policy.upper())
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": policy}
    assert r.config_set("maxmemory", "2mb")
    assert r.info("memory")["maxmemory"] == 2 * 1024 * 1024


def test_maxmemory_from_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "ts.conf"
    conf.write_text("save \"\"\nmaxmemory 64mb\nmaxmemory-policy allkeys-lru\n"
                    "lfu-decay-time 5\n")
    proc, port = _start_with_file(conf)
    try:
        r = redis.Redis(port=port, protocol=3)
        info = _mem(r)
        assert info["maxmemory"] == 64 * 1024 * 1024
        assert info["maxmemory_policy"] == "allkeys-lru"
        assert r.config_get("lfu-decay-time") == {"lfu-decay-time": "5"}
        assert info["used_memory"] == (info["used_memory_startup"]
                                       + info["used_memory_dataset"])
        r.close()
    finally:
        proc.terminate()
        proc.wait(10)


# -- accounting ----------------------------------------------------------------------------
def test_info_memory_is_the_accounted_figure_while_a_limit_is_set(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server()
    r = _client(srv)
    info = _mem(r)
    # No limit: nothing is accounted, used_memory is the RSS.
    assert info["maxmemory"] == 0
    assert info["used_memory_dataset"] >= 0 and info["used_memory_startup"] > 1_000_000
    r.set("big", b"x" * 1_000_000)
    r.config_set("maxmemory", "1gb")
    info = _mem(r)
    startup, dataset = info["used_memory_startup"], info["used_memory_dataset"]
    assert info["used_memory"] == startup + dataset
    assert 1_000_000 < dataset < 1_001_000
    assert dataset == r.memory_usage("big")  # one estimator for both
    assert info["mem_fragmentation_ratio"] == pytest.approx(
        info["used_memory_rss"] / info["used_memory"], abs=0.01)
    # Every kind of value is counted, and a delete gives it all back.
    tensorset(r, "t", np.zeros((256, 256), np.float32))
    t_size = _mem(r)["used_memory_dataset"] - dataset
    assert 256 * 256 * 4 < t_size < 256 * 256 * 4 + 2000
    assert r.memory_usage("t") == t_size
    r.rpush("list", *[b"v" * 100] * 1000)
    r.hset("hash", mapping={f"f{i}": "v" * 50 for i in range(500)})
    r.sadd("set", *[f"m{i}" for i in range(500)])
    r.zadd("zset", {f"m{i}": i for i in range(500)})
    for key, least in (("list", 1000 * 100), ("hash", 500 * 50), ("set", 500 * 4),
                       ("zset", 500 * 4)):
        usage = r.memory_usage(key)
        assert usage is not None and usage > least
    total = sum(r.memory_usage(k) or 0 for k in ("big", "t", "list", "hash", "set", "zset"))
    assert _mem(r)["used_memory_dataset"] == total
    r.delete("big", "t", "list", "hash", "set", "zset")
    assert _mem(r)["used_memory_dataset"] == 0
    # Back to no limit: accounting off again, used_memory the RSS once more.
    r.config_set("maxmemory", "0")
    info = _mem(r)
    assert info["used_memory"] == pytest.approx(info["used_memory_rss"], rel=0.05)


def test_model_and_script_blobs_are_counted(start_server: Callable[..., ServerProcess]
                                            ) -> None:
    srv = start_server("--maxmemory", "1gb")
    r = _client(srv)
    blob = models.mlp_torch()
    assert r.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", blob)
    usage = r.memory_usage("m")
    assert usage is not None and usage > 2 * len(blob)
    assert r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "normalize",
                             "SOURCE", models.IMAGE_SCRIPT)
    s_usage = r.memory_usage("s")
    assert s_usage is not None and s_usage > len(models.IMAGE_SCRIPT)
    assert _mem(r)["used_memory_dataset"] == usage + s_usage


# -- eviction ------------------------------------------------------------------------------
def test_allkeys_lru_keeps_a_cache_of_tensors_and_strings_at_the_limit(
        start_server: Callable[..., ServerProcess]) -> None:
    """The main use: results cached far past the limit. Accounted memory stays at the
    limit, RSS stays bounded, keys read recently survive and the oldest go."""
    srv = start_server("--maxmemory-policy", "allkeys-lru")
    r = _client(srv)
    room = 4 * 1024 * 1024
    limit = _limit(r, room)
    rss_before = srv.rss_kb() * 1024
    value = np.arange(16 * 1024, dtype=np.float32)  # 64 KB tensors
    hot = [f"hot{i}" for i in range(8)]
    for key in hot:
        tensorset(r, key, value)
    written = 0
    pipe = r.pipeline(transaction=False)
    for i in range(2000):  # 2000 x 64 KB written: ~32x the room
        if i % 2:
            pipe.execute_command("AI.TENSORSET", f"t{i}", "FLOAT", value.size, "BLOB",
                                 value.tobytes())
        else:
            pipe.set(f"s{i}", b"s" * 65536)
        written += 65536
        if i % 10 == 9:
            for key in hot:  # the hot keys are read all along
                pipe.execute_command("AI.TENSORGET", key, "META")
            pipe.execute()
            assert _mem(r)["used_memory"] <= limit + 70_000  # one value past, at most
    pipe.execute()
    info = _mem(r)
    assert limit - 200_000 < info["used_memory"] <= limit + 70_000
    assert written > 30 * room
    assert all(r.exists(key) for key in hot)
    assert not any(r.exists(f"s{i}") or r.exists(f"t{i + 1}") for i in range(0, 1000, 2))
    assert _evicted(r) > 1900
    # RSS: bounded by the limit's room plus the allocator's slack, not by what was written.
    rss_growth = srv.rss_kb() * 1024 - rss_before
    assert rss_growth < 32 * 1024 * 1024, rss_growth


def test_allkeys_lru_with_many_small_keys(start_server: Callable[..., ServerProcess]
                                          ) -> None:
    """Hundreds of live keys: candidates are sampled from a key-list snapshot."""
    srv = start_server("--maxmemory-policy", "allkeys-lru")
    r = _client(srv)
    limit = _limit(r, 1_000_000)  # ~800 keys of 1 KB
    hot = [f"hot{i}" for i in range(50)]
    pipe = r.pipeline(transaction=False)
    for key in hot:
        pipe.set(key, b"h" * 1000)
    for i in range(8000):
        pipe.set(f"k{i}", b"v" * 1000)
        if i % 100 == 99:
            for key in hot:
                pipe.get(key)
            pipe.execute()
    pipe.execute()
    assert _mem(r)["used_memory"] <= limit + 100_000
    assert sum(r.exists(key) for key in hot) >= 48  # approximated LRU: nearly all
    assert sum(r.exists(f"k{i}") for i in range(4000)) < 40  # the old half: nearly none
    assert 700 < r.dbsize() < 1000


def test_allkeys_lfu_keeps_frequently_read_keys(
        start_server: Callable[..., ServerProcess]) -> None:
    # No decay: a minute boundary during the test must not age the hot keys' counters.
    srv = start_server("--maxmemory-policy", "allkeys-lfu", "--lfu-decay-time", "0")
    r = _client(srv)
    _limit(r, 400_000)
    for i in range(5):
        r.set(f"hot{i}", b"h" * 1000)
    for _ in range(20):
        for i in range(5):
            r.get(f"hot{i}")
    for i in range(2000):
        r.set(f"cold{i}", b"c" * 1000)
    assert all(r.exists(f"hot{i}") for i in range(5))
    assert _evicted(r) > 1000


def test_noeviction_refuses_writes_while_reads_and_del_work(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server()
    r = _client(srv)
    _limit(r, 100_000)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for i in range(1000):
            r.set(f"k{i}", b"v" * 1000)
    c = RawClient(srv.port)
    assert _error(c, "SET", "one", "more") == OOM
    assert _error(c, "LPUSH", "l", "x") == OOM
    assert _error(c, "HSET", "h", "f", "v") == OOM
    assert _error(c, "AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1) == OOM
    assert c.command("GET", "k0") == b"v" * 1000  # reads still work
    assert c.command("EXISTS", "k1") == 1
    assert c.command("EXPIRE", "k2", 100) == 1  # no denyoom flag: allowed
    # Inside MULTI an OOM rejects the command as it is queued, and EXEC aborts.
    assert c.command("MULTI") == b"OK"
    assert _error(c, "SET", "x", "y") == OOM
    assert _error(c, "GET", "k0") == OOM  # anything but EXEC / DISCARD while OOM
    assert _error(c, "EXEC") == EXECABORT
    assert r.info("errorstats")["errorstat_OOM"]["count"] >= 7
    assert r.info("stats")["evicted_keys"] == 0
    # DEL frees memory; then writes are accepted again.
    assert r.delete(*[f"k{i}" for i in range(20)]) == 20
    assert r.set("again", "ok")
    c.close()


def test_exec_of_a_queued_write_is_refused_when_memory_ran_out_meanwhile(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server()
    r = _client(srv)
    _limit(r, 50_000)
    c = RawClient(srv.port)
    assert c.command("MULTI") == b"OK"
    assert c.command("SET", "queued", "v") == b"QUEUED"
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for i in range(1000):
            r.set(f"k{i}", b"v" * 1000)
    assert _error(c, "EXEC") == f"EXECABORT Transaction discarded because of: {OOM}"
    assert r.get("queued") is None
    assert _error(c, "EXEC") == "ERR EXEC without MULTI"  # the transaction is gone
    c.close()


def test_volatile_ttl_evicts_the_nearest_deadline_first(
        start_server: Callable[..., ServerProcess]) -> None:
    # 64 samples over at most 64 keys with a TTL: the choice is exact, not approximate.
    srv = start_server("--maxmemory-policy", "volatile-ttl", "--maxmemory-samples", "64")
    r = _client(srv)
    for i in range(20):
        r.set(f"keep{i}", b"k" * 1000)  # no TTL: never a candidate
    for i in range(40):
        r.set(f"ttl{i}", b"t" * 1000, ex=1000 + 10 * i)
    _limit(r, 0)
    r.set("push", b"p" * 10_000)  # ~10 keys' worth over the limit
    r.ping()  # the next command evicts
    gone = [i for i in range(40) if not r.exists(f"ttl{i}")]
    assert gone and gone == list(range(len(gone)))  # the shortest TTLs, in order
    assert all(r.exists(f"keep{i}") for i in range(20))
    assert _evicted(r) == len(gone)


@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random",
                                    "volatile-ttl"])
def test_volatile_policies_without_volatile_keys_give_oom(
        start_server: Callable[..., ServerProcess], policy: str) -> None:
    srv = start_server("--maxmemory-policy", policy)
    r = _client(srv)
    for i in range(50):
        r.set(f"k{i}", b"v" * 1000)
    _limit(r, 0)
    r.set("over", b"o" * 5000)
    c = RawClient(srv.port)
    assert _error(c, "SET", "more", "v") == OOM
    assert c.command("DBSIZE") == 51  # nothing had a TTL: nothing evicted
    # One key with a TTL: that one goes, and (if that frees enough) writes work again.
    assert c.command("EXPIRE", "over", 1000) == 1
    assert c.command("SET", "more", "v") == b"OK"
    assert c.command("EXISTS", "over") == 0
    assert _evicted(r) == 1
    c.close()


def test_lowering_maxmemory_at_runtime_evicts(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--maxmemory-policy", "allkeys-random")
    r = _client(srv)
    limit = _limit(r, 10 * 1024 * 1024)
    for i in range(200):
        r.set(f"k{i}", b"v" * 10_000)
    used = _mem(r)["used_memory"]
    assert used < limit and _evicted(r) == 0
    lower = used - 1_000_000
    r.config_set("maxmemory", str(lower))
    r.set("next", "write")
    info = _mem(r)
    assert info["used_memory"] <= lower + 1000
    assert 90 <= _evicted(r) <= 110  # ~1 MB of 10 KB keys
    assert r.dbsize() == 201 - _evicted(r)


def test_eviction_is_logged_and_seen_by_watch(
        start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    args = ("--appendonly", "yes", "--appendfsync", "always",
            "--maxmemory-policy", "allkeys-lru")
    srv = start_server(*args)
    r = _client(srv)
    r.set("watched", b"w" * 1000)
    _limit(r, 50_000)
    c = RawClient(srv.port)
    assert c.command("WATCH", "watched") == b"OK"
    for i in range(200):  # 'watched' is the least recently used key
        r.set(f"k{i}", b"v" * 1000)
    assert not r.exists("watched")
    evicted = _evicted(r)
    assert evicted > 100
    assert c.command("MULTI") == b"OK"
    assert c.command("SET", "watched", "again") == b"QUEUED"
    assert c.command("EXEC") is None  # the eviction touched the watched key
    c.close()
    keys = set(r.keys())
    srv.stop()
    log = (tmp_path / "appendonly.aof").read_bytes()
    assert log.count(b"*2\r\n$3\r\nDEL\r\n") == evicted
    # A restart replays the log: evicted keys stay gone, nothing else is lost.
    srv2 = start_server(*args, "--maxmemory", "1gb")
    r2 = _client(srv2)
    assert set(r2.keys()) == keys


def test_evicting_a_model_while_it_runs_is_safe(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--maxmemory-policy", "allkeys-random")
    r = _client(srv)
    slow = SlowModel(r)
    c = RawClient(srv.port)
    c.sock.settimeout(60)
    c.send(encode_command(*slow.args(0.5, "out")))
    time.sleep(0.1)  # the run is on a worker now
    r.config_set("maxmemory", "1")  # evicts every key, the model and its inputs too
    assert r.dbsize() == 0
    assert c.read() == b"OK"  # the run had its own references: it finished
    assert r.ping()
    c.close()


# -- LRU / LFU data --------------------------------------------------------------------
def test_object_idletime_and_freq_follow_the_policy(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--maxmemory-policy", "allkeys-lru")
    r = _client(srv)
    r.set("k", "v")
    r.set("untouched", "v")
    time.sleep(1.1)
    assert r.object("idletime", "k") >= 1
    assert r.object("idletime", "k") >= 1  # OBJECT does not count as an access
    r.get("k")
    assert r.object("idletime", "k") == 0
    assert r.object("idletime", "untouched") >= 1
    c = RawClient(srv.port)
    assert _error(c, "OBJECT", "FREQ", "k").startswith(
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked.")
    # CLIENT NO-TOUCH: reads leave the clock alone, except TOUCH itself.
    assert c.command("CLIENT", "NO-TOUCH", "ON") == b"OK"
    c.command("GET", "untouched")
    assert r.object("idletime", "untouched") >= 1
    assert c.command("TOUCH", "untouched") == 1
    assert r.object("idletime", "untouched") == 0
    # LFU: a fresh key starts at LFU_INIT_VAL (5) and a read counts.
    r.config_set("maxmemory-policy", "allkeys-lfu", "lfu-decay-time", "0")
    r.set("f", "v")
    assert r.object("freq", "f") == 5
    r.get("f")
    assert r.object("freq", "f") == 6
    assert r.object("freq", "f") == 6
    assert _error(c, "OBJECT", "IDLETIME", "f").startswith(
        "ERR An LFU maxmemory policy is selected, idle time not tracked.")
    c.close()


def test_accounting_covers_data_loaded_from_a_snapshot(
        start_server: Callable[..., ServerProcess]) -> None:
    srv = start_server("--maxmemory", "1gb", "--enable-debug-command", "yes")
    r = _client(srv)
    r.set("s", b"x" * 10_000)
    r.rpush("l", *[b"v" * 100] * 100)
    tensorset(r, "t", np.zeros(1000, np.float32))
    dataset = _mem(r)["used_memory_dataset"]
    assert dataset > 10_000 + 100 * 100 + 4000
    assert r.save()
    assert r.execute_command("DEBUG", "RELOAD")  # empties the keyspace, loads the file
    assert _mem(r)["used_memory_dataset"] == dataset
    srv.stop()
    srv2 = start_server("--maxmemory", "1gb")  # same directory: loads dump.tsdb
    r2 = _client(srv2)
    assert r2.dbsize() == 3
    assert _mem(r2)["used_memory_dataset"] == dataset
