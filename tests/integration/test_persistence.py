"""Snapshots and DUMP / RESTORE against real server processes: every type survives SAVE,
BGSAVE, SHUTDOWN, SIGTERM and DEBUG RELOAD, a stored model runs after a restart with the
same outputs, and damaged snapshot files are refused with the offset of the damage.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from .. import models
from ..helpers import RawClient, ServerProcess, encode_command
from .test_model import assert_close, modelstore, tensorget, tensorset

SNAPSHOT = "dump.tsdb"


class Node:
    """A server with its own --dir that can be stopped and started again on it."""

    def __init__(self, start: Callable[..., ServerProcess], directory: Path,
                 *args: str, cwd: Path | None = None) -> None:
        self._start = start
        self.dir = directory
        self.cwd = cwd or directory  # where the server's log file goes
        self.args = args
        self.proc: ServerProcess | None = None
        self.r: redis.Redis | None = None

    def up(self, *extra: str) -> redis.Redis:
        self.proc = self._start("--dir", str(self.dir), *self.args, *extra, cwd=str(self.cwd))
        self.r = redis.Redis(port=self.proc.port, protocol=3, socket_timeout=60)
        return self.r

    def shutdown(self, *args: str) -> None:
        assert self.proc is not None
        rc = RawClient(self.proc.port)
        rc.send(encode_command("SHUTDOWN", *args))
        assert rc.is_closed(30)
        assert self.proc.proc.wait(30) == 0
        rc.close()

    def kill(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.proc.send_signal(sig)
        return self.proc.proc.wait(30)

    @property
    def snapshot(self) -> Path:
        return self.dir / SNAPSHOT


@pytest.fixture
def node(start_server: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Node]:
    yield Node(start_server, tmp_path)


def fill(r: redis.Redis) -> dict[str, Any]:
    """One key of every type (and a TTL, and a second database); returns the tensors."""
    r.set("str", b"bytes\x00\xff")
    r.set("num", 12345)
    r.hset("hash", mapping={"f1": "v1", "f2": b"\x00"})
    r.rpush("list", "a", "b", "c")
    r.sadd("set", "x", "y", "z")
    r.zadd("zset", {"m1": 1.5, "m2": -2.25, "m3": float("inf")})
    r.set("ttl", "v", px=600_000)
    r.set("empty", "")
    arrays = {
        "t_float": np.arange(6, dtype=np.float32).reshape(2, 3),
        "t_int8": np.array([-1, 127], dtype=np.int8),
        "t_bool": np.array([[True, False]]),
        "t_double": np.array(3.5, dtype=np.float64).reshape(1),
    }
    for key, arr in arrays.items():
        tensorset(r, key, arr)
    assert r.execute_command("AI.TENSORSET", "t_str", "STRING", 2, "VALUES", "ab", "") == b"OK"
    modelstore(r, "m_torch", "TORCH", models.mlp_torch(), "TAG", "v7", "BATCHSIZE", 4,
               "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 10)
    modelstore(r, "m_onnx", "ONNX", models.mlp_onnx())
    assert r.execute_command("AI.SCRIPTSTORE", "script", "CPU", "TAG", "s1", "ENTRY_POINTS",
                             2, "normalize", "argmax", "SOURCE", models.IMAGE_SCRIPT) == b"OK"
    r.execute_command("SELECT", 5)
    r.set("in_db5", "five")
    r.execute_command("SELECT", 0)
    return arrays


def check(r: redis.Redis, arrays: dict[str, Any]) -> None:
    assert r.get("str") == b"bytes\x00\xff" and r.get("num") == b"12345"
    assert r.get("empty") == b""
    assert r.hgetall("hash") == {b"f1": b"v1", b"f2": b"\x00"}
    assert r.lrange("list", 0, -1) == [b"a", b"b", b"c"]
    assert r.smembers("set") == {b"x", b"y", b"z"}
    assert r.zrange("zset", 0, -1, withscores=True) == [
        [b"m2", -2.25], [b"m1", 1.5], [b"m3", float("inf")]]
    assert 590_000 < r.pttl("ttl") <= 600_000
    assert r.ttl("str") == -1
    for key, arr in arrays.items():
        got = tensorget(r, key)
        assert got.dtype == arr.dtype and got.shape == arr.shape and (got == arr).all()
    assert r.execute_command("AI.TENSORGET", "t_str", "VALUES") == [b"ab", b""]
    meta = r.execute_command("AI.MODELGET", "m_torch", "META")
    assert (meta[b"tag"], meta[b"batchsize"], meta[b"minbatchsize"],
            meta[b"minbatchtimeout"]) == (b"v7", 4, 2, 10)
    x = models.mlp_input(3, seed=9)
    tensorset(r, "x", x)
    want = models.reference("mlp", x)[0]
    for key in ("m_torch", "m_onnx"):
        assert r.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, "x", "OUTPUTS", 1,
                                 "y") == b"OK"
        assert_close(tensorget(r, "y"), want)
    assert r.execute_command("AI.SCRIPTGET", "script", "META")[b"tag"] == b"s1"
    img = models.image_input(2)
    tensorset(r, "img", img)
    assert r.execute_command("AI.SCRIPTEXECUTE", "script", "normalize", "INPUTS", 1, "img",
                             "ARGS", 2, "0.5", "2.0", "OUTPUTS", 1, "norm") == b"OK"
    assert_close(tensorget(r, "norm"), models.image_reference(img, 0.5, 2.0)[0])
    r.execute_command("SELECT", 5)
    assert r.get("in_db5") == b"five"
    r.execute_command("SELECT", 0)


# -- round trips ---------------------------------------------------------------------------
def test_save_then_restart_keeps_every_type(node: Node) -> None:
    r = node.up()
    arrays = fill(r)
    before = r.lastsave()
    time.sleep(1.1)
    assert r.save()
    assert r.lastsave() > before
    assert r.info("persistence")["rdb_changes_since_last_save"] == 0
    node.shutdown("NOSAVE")
    r = node.up()
    assert r.info("persistence")["rdb_changes_since_last_save"] == 0
    check(r, arrays)


def test_bgsave_then_restart(node: Node) -> None:
    r = node.up()
    arrays = fill(r)
    assert r.bgsave()
    for _ in range(300):
        info = r.info("persistence")
        if not info["rdb_bgsave_in_progress"] and info["rdb_saves"]:
            break
        time.sleep(0.05)
    assert info["rdb_last_bgsave_status"] == "ok" and info["rdb_saves"] == 1
    assert info["rdb_changes_since_last_save"] == 0
    r.set("after_bgsave", "not saved")
    node.shutdown("NOSAVE")
    r = node.up()
    check(r, arrays)
    assert not r.exists("after_bgsave")


def test_bgsave_twice_and_schedule(node: Node) -> None:
    r = node.up()
    r.set("k", "v")
    rc = RawClient(node.proc.port)  # type: ignore[union-attr]
    # One pipeline: the first BGSAVE cannot have been reported finished before the others.
    rc.send(encode_command("BGSAVE") + encode_command("BGSAVE")
            + encode_command("BGSAVE", "SCHEDULE") + encode_command("SAVE"))
    assert rc.read() == b"Background saving started"
    assert str(rc.read()) == "ERR Background save already in progress"
    assert rc.read() == b"Background saving scheduled"
    assert str(rc.read()) == "ERR Background save already in progress"
    assert str(rc.command("BGSAVE", "NOW")) == "ERR syntax error"
    rc.close()
    for _ in range(300):
        info = r.info("persistence")
        if info["rdb_saves"] == 2 and not info["rdb_bgsave_in_progress"]:
            break
        time.sleep(0.05)
    assert info["rdb_saves"] == 2  # the scheduled one ran after the first


def test_debug_reload_keeps_everything(node: Node) -> None:
    r = node.up("--enable-debug-command", "yes")
    arrays = fill(r)
    assert r.execute_command("DEBUG", "RELOAD") == b"OK"
    check(r, arrays)
    assert node.snapshot.exists()


def test_shutdown_saves_by_rules_or_when_asked(node: Node) -> None:
    r = node.up("--save", "")
    r.set("k", "asked")
    node.shutdown("SAVE")
    r = node.up("--save", "")
    assert r.get("k") == b"asked"
    r.set("k", "changed")
    node.shutdown()  # no save rules, no SAVE: nothing written
    r = node.up("--save", "3600 1")
    assert r.get("k") == b"asked"
    r.set("k", "by rule")
    node.shutdown()  # save rules configured: SHUTDOWN saves
    r = node.up("--save", "3600 1")
    assert r.get("k") == b"by rule"
    r.set("k", "nosave")
    node.shutdown("NOSAVE")
    r = node.up()
    assert r.get("k") == b"by rule"


def test_sigterm_saves_when_rules_are_set(node: Node) -> None:
    r = node.up("--save", "3600 1")
    r.set("k", "v1")
    assert node.kill(signal.SIGTERM) == 0
    r = node.up("--save", "")
    assert r.get("k") == b"v1"
    r.set("k", "v2")
    assert node.kill(signal.SIGTERM) == 0  # no rules: no save
    r = node.up()
    assert r.get("k") == b"v1"


def test_save_rule_triggers_bgsave(node: Node) -> None:
    r = node.up("--save", "1 2", "--hz", "50")
    r.set("a", 1)
    time.sleep(1.5)
    assert r.info("persistence")["rdb_saves"] == 0  # one change: under the rule
    r.set("b", 2)
    for _ in range(200):
        if r.info("persistence")["rdb_saves"]:
            break
        time.sleep(0.05)
    assert r.info("persistence")["rdb_saves"] == 1
    assert node.snapshot.exists()


def test_expired_keys_are_not_loaded(node: Node) -> None:
    r = node.up()
    r.set("short", "v", px=300)
    r.set("long", "v", ex=1000)
    assert r.save()
    node.shutdown("NOSAVE")
    time.sleep(0.4)
    r = node.up()
    assert r.keys() == [b"long"]


def test_failed_save_is_reported_and_shutdown_refused(node: Node) -> None:
    r = node.up("--save", "3600 1")
    node.snapshot.mkdir()  # the rename onto it fails
    r.set("k", "v")
    with pytest.raises(redis.ResponseError) as e:
        r.save()
    assert str(e.value).startswith("Failed to save the DB: ")
    assert r.info("persistence")["rdb_last_bgsave_status"] == "err"
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("SHUTDOWN")
    assert str(e.value) == "Errors trying to SHUTDOWN. Check logs."
    assert r.get("k") == b"v"  # still serving, nothing lost
    assert not [p for p in node.dir.iterdir() if p.name.startswith("temp-")]
    node.snapshot.rmdir()
    assert r.save()
    assert r.info("persistence")["rdb_last_bgsave_status"] == "ok"


# -- damaged snapshots ---------------------------------------------------------------------
def _saved(node: Node) -> bytes:
    r = node.up()
    r.set("a", "1")
    r.rpush("l", *[str(i) for i in range(100)])
    tensorset(r, "t", np.ones((4, 4), np.float32))
    assert r.save()
    node.shutdown("NOSAVE")
    return node.snapshot.read_bytes()


def _refused(node: Node) -> str:
    with pytest.raises(RuntimeError) as e:
        node.up()
    return str(e.value)


def test_corrupted_snapshot_refuses_to_start(node: Node) -> None:
    data = bytearray(_saved(node))
    data[len(data) // 2] ^= 0xFF
    node.snapshot.write_bytes(bytes(data))
    log = _refused(node)
    assert "bad checksum in the record at offset" in log


def test_truncated_snapshot_refuses_to_start(node: Node) -> None:
    data = _saved(node)
    node.snapshot.write_bytes(data[:-7])
    assert "is truncated at offset" in _refused(node)
    node.snapshot.write_bytes(data[:20])
    assert "is truncated at offset" in _refused(node)


def test_foreign_file_refuses_to_start(node: Node) -> None:
    node.snapshot.write_bytes(b"REDIS0011\xfa\x09redis-ver\x057.2.4")
    assert "is not a tensorserve snapshot (bad header at offset 0)" in _refused(node)
    node.snapshot.write_bytes(b"")
    assert "is not a tensorserve snapshot" in _refused(node)


def test_snapshot_with_more_databases_than_configured(node: Node) -> None:
    r = node.up()
    r.execute_command("SELECT", 9)
    r.set("k", "v")
    assert r.save()
    node.shutdown("NOSAVE")
    assert "is in database 9, and this server has 4 (--databases)" in _refused_with(
        node, "--databases", "4")


def _refused_with(node: Node, *args: str) -> str:
    with pytest.raises(RuntimeError) as e:
        node.up(*args)
    return str(e.value)


def test_redis_dump_rdb_in_dir_is_left_alone(node: Node) -> None:
    (node.dir / "dump.rdb").write_bytes(b"REDIS0011")
    r = node.up()
    assert r.config_get("dbfilename") == {"dbfilename": SNAPSHOT}
    r.set("k", "v")
    assert r.save()
    assert (node.dir / "dump.rdb").read_bytes() == b"REDIS0011"


# -- DUMP / RESTORE ------------------------------------------------------------------------
@pytest.fixture
def c(server: ServerProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port, protocol=3, socket_timeout=60)
    client.flushall()
    yield client
    client.close()


def test_dump_restore_every_type(c: redis.Redis) -> None:
    arrays = fill(c)
    c.execute_command("SELECT", 5)
    c.delete("in_db5")
    c.execute_command("SELECT", 0)
    keys = [k for k in c.keys() if k != b"ttl"]
    payloads = {k: c.dump(k) for k in keys}
    c.flushdb()
    for k, payload in payloads.items():
        assert c.restore(k, 0, payload)
    c.set("ttl", "v", px=600_000)
    c.execute_command("SELECT", 5)
    c.set("in_db5", "five")
    c.execute_command("SELECT", 0)
    check(c, arrays)


def test_dump_missing_key_is_nil(c: redis.Redis) -> None:
    assert c.dump("nope") is None


def test_restore_ttl_replace_absttl(c: redis.Redis) -> None:
    c.set("src", "v")
    payload = c.dump("src")
    assert c.restore("a", 5000, payload)
    assert 4000 < c.pttl("a") <= 5000
    with pytest.raises(redis.ResponseError) as e:
        c.restore("a", 0, payload)
    assert str(e.value) == "BUSYKEY Target key name already exists."
    c.set("b", "other")
    assert c.restore("b", 0, payload, replace=True) and c.get("b") == b"v"
    future = int(time.time() * 1000) + 60_000
    assert c.restore("c", future, payload, absttl=True)
    assert 50_000 < c.pttl("c") <= 60_000
    assert c.restore("d", 1000, payload, absttl=True)  # in the past: not created
    assert not c.exists("d")
    assert c.execute_command("RESTORE", "e", 0, payload, "IDLETIME", 10, "FREQ", 5) == b"OK"


def test_restore_errors(c: redis.Redis) -> None:
    c.set("src", "v")
    payload = c.dump("src")

    def err(*args: Any) -> str:
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("RESTORE", *args)
        return str(e.value)

    assert err("k", -1, payload) == "Invalid TTL value, must be >= 0"
    assert err("k", "x", payload) == "value is not an integer or out of range"
    flipped = bytearray(payload)
    flipped[1] ^= 1
    assert err("k", 0, bytes(flipped)) == "DUMP payload version or checksum are wrong"
    assert err("k", 0, payload[:-1]) == "DUMP payload version or checksum are wrong"
    assert err("k", 0, b"") == "DUMP payload version or checksum are wrong"
    assert err("k", 0, b"garbage that is long enough") == (
        "DUMP payload version or checksum are wrong")
    assert err("k", 0, payload, "BOGUS") == "syntax error"
    assert err("k", 0, payload, "IDLETIME", -1) == "Invalid IDLETIME value, must be >= 0"
    assert err("k", 0, payload, "FREQ", 300) == "Invalid FREQ value, must be >= 0 and <= 255"
    assert err("k", 0) == "wrong number of arguments for 'restore' command"
    assert not c.exists("k")


def test_restore_model_payload_compiles_again(c: redis.Redis) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch())
    payload = c.dump("m")
    assert c.restore("m2", 0, payload)
    x = models.mlp_input(2)
    tensorset(c, "x", x)
    assert c.execute_command("AI.MODELEXECUTE", "m2", "INPUTS", 1, "x", "OUTPUTS", 1,
                             "y") == b"OK"
    assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])
    # A payload whose checksum is right but whose model blob is not a model: the
    # engine refuses it and nothing is stored.
    bad = payload.replace(b"PK", b"XX")
    import struct
    import zlib
    body = bad[:-4]
    bad = body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(redis.ResponseError) as e:
        c.restore("m3", 0, bad)
    assert str(e.value) == "Bad data format"
    assert not c.exists("m3")


def test_info_persistence_fields(c: redis.Redis) -> None:
    info = c.info("persistence")
    for field in ("rdb_changes_since_last_save", "rdb_bgsave_in_progress",
                  "rdb_last_save_time", "rdb_last_bgsave_status", "rdb_saves",
                  "aof_enabled"):
        assert field in info
    before = info["rdb_changes_since_last_save"]
    c.set("x", 1)
    assert c.info("persistence")["rdb_changes_since_last_save"] == before + 1


def test_cwd_is_dir(node: Node) -> None:
    r = node.up()
    assert r.config_get("dir") == {"dir": str(node.dir)} or os.path.samefile(
        r.config_get("dir")["dir"], node.dir)


def test_dbfilename_must_be_a_plain_name(c: redis.Redis) -> None:
    for bad in ("sub/dump.tsdb", "/tmp/x", ".."):
        with pytest.raises(redis.ResponseError) as e:
            c.config_set("dbfilename", bad)
        assert str(e.value) == ("CONFIG SET failed (possibly related to argument "
                                "'dbfilename') - dbfilename can't be a path, just a filename")


def test_failed_bgsave_stops_writes_with_misconf(node: Node) -> None:
    r = node.up("--save", "3600 1")
    r.set("k", "v")
    node.snapshot.mkdir()  # the background save's rename onto it fails
    assert r.bgsave()
    for _ in range(200):
        if r.info("persistence")["rdb_last_bgsave_status"] == "err":
            break
        time.sleep(0.05)
    assert r.info("persistence")["rdb_last_bgsave_status"] == "err"
    for cmd in (("SET", "k", "w"), ("RPUSH", "l", "x"),
                ("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1)):
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command(*cmd)
        assert str(e.value).startswith(
            "MISCONF Redis is configured to save RDB snapshots, but it's currently unable "
            "to persist to disk.")
    assert r.get("k") == b"v" and r.ping()  # reads still served
    assert r.config_set("stop-writes-on-bgsave-error", "no")
    assert r.set("k", "w")  # the option turned off lets writes through
    assert r.config_set("stop-writes-on-bgsave-error", "yes")
    with pytest.raises(redis.ResponseError):
        r.set("k", "x")
    node.snapshot.rmdir()
    assert r.bgsave()
    for _ in range(200):
        if r.info("persistence")["rdb_last_bgsave_status"] == "ok":
            break
        time.sleep(0.05)
    assert r.set("k", "after")  # a good save lifts the stop
