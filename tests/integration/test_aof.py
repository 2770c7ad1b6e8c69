"""The append-only log against real server processes: a workload over every kind of
write replays to the same keyspace after ``kill -9``, no acknowledged write is lost
under ``appendfsync always``, torn and corrupted logs are handled as redis-server does,
BGREWRITEAOF compacts, and ``tensorserve check-aof`` repairs.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from .. import models
from ..helpers import ROOT, RawClient, ServerProcess, encode_command
from .test_model import assert_close, modelstore, tensorget, tensorset
from .test_persistence import Node

AOF = "appendonly.aof"


@pytest.fixture
def node(start_server: Callable[..., ServerProcess], tmp_path: Path) -> Iterator[Node]:
    yield Node(start_server, tmp_path, "--appendonly", "yes")


def _value(r: redis.Redis, key: bytes) -> Any:
    kind = r.type(key)
    if kind == b"string":
        return r.get(key)
    if kind == b"hash":
        return r.hgetall(key)
    if kind == b"list":
        return r.lrange(key, 0, -1)
    if kind == b"set":
        return sorted(r.smembers(key))
    if kind == b"zset":
        return r.zrange(key, 0, -1, withscores=True)
    if kind == b"AI_TENSOR":
        return r.execute_command("AI.TENSORGET", key, "META", "BLOB")
    if kind == b"AI__MODEL":
        return r.execute_command("AI.MODELGET", key, "META", "BLOB")
    if kind == b"AI_SCRIPT":
        return r.execute_command("AI.SCRIPTGET", key)
    raise AssertionError(f"unknown type {kind!r}")


class Keyspace(dict[tuple[int, bytes], tuple[str, Any, int]]):
    """(db, key) -> (type, value, TTL ms); equal when TTLs are within 5 s."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Keyspace) and not self.diff(other)

    def diff(self, other: Keyspace) -> list[Any]:
        """What differs (keys on one side only, values, TTLs beyond 5 s)."""
        out: list[Any] = sorted(set(self) ^ set(other))
        for k in set(self) & set(other):
            (kind, value, ttl), (okind, ovalue, ottl) = self[k], other[k]
            if kind != okind or value != ovalue or (ttl < 0) != (ottl < 0) \
                    or abs(ttl - ottl) > 5000:
                out.append((k, self[k], other[k]))
        return out

    __hash__ = None  # type: ignore[assignment]


def keyspace(r: redis.Redis) -> Keyspace:
    """Every key of every database: type, value read back, TTL."""
    out = Keyspace()
    for db in range(16):
        r.execute_command("SELECT", db)
        for key in r.keys():
            out[(db, key)] = (r.type(key), _value(r, key), r.pttl(key))
    r.execute_command("SELECT", 0)
    return out


def workload(r: redis.Redis, port: int) -> None:
    """Writes of every kind, including the ones a log must not replay verbatim."""
    r.set("s", "v")
    r.set("s_ex", "v", ex=1000)
    r.set("s_px", "v", px=2_000_000)
    r.setex("setex", 1000, "v")
    r.psetex("psetex", 1_000_000, "v")
    r.set("keep", "v", ex=1000)
    r.set("keep", "w", keepttl=True)
    r.set("getex", "v")
    r.getex("getex", ex=500)
    r.set("persist", "v", ex=100)
    r.persist("persist")
    r.set("short", "v", px=50)  # expires before the crash: logged as DEL
    r.append("s", "x")
    r.incr("n")
    r.incrby("n", 10)
    r.incrbyfloat("f", 1.25)
    r.mset({"m1": "a", "m2": "b"})
    r.msetnx({"m3": "c"})
    r.setnx("m1", "nope")
    r.setrange("s", 1, "ZZ")
    r.getset("gs", "v")
    r.getdel("m3")
    r.expire("m2", 900)
    r.pexpire("m1", 900_000)
    r.expireat("n", int(time.time()) + 800)
    r.hset("h", mapping={"a": 1, "b": 2, "c": 3})
    r.hdel("h", "c")
    r.hincrby("h", "a", 5)
    r.hincrbyfloat("h", "b", 0.5)
    r.hsetnx("h", "d", 4)
    r.rpush("l", *range(10))
    r.lpush("l", "head")
    r.lpop("l")
    r.rpop("l", 2)
    r.lset("l", 0, "zero")
    r.lrem("l", 1, "5")
    r.ltrim("l", 0, 5)
    r.linsert("l", "BEFORE", "zero", "pre")
    r.lmove("l", "l2", "LEFT", "RIGHT")
    r.rpoplpush("l", "l2")
    r.sadd("st", *[f"m{i}" for i in range(20)])
    r.spop("st")
    r.spop("st", 3)
    r.srem("st", "m0")
    r.smove("st", "st2", "m1")
    r.sadd("st3", "m1", "m2", "m3")
    r.sinterstore("inter", ["st", "st3"])
    r.sunionstore("union", ["st2", "st3"])
    r.sdiffstore("diff", ["st3", "st2"])
    r.zadd("z", {f"z{i}": i for i in range(10)})
    r.zincrby("z", 2.5, "z1")
    r.zrem("z", "z9")
    r.zpopmin("z")
    r.zpopmax("z", 2)
    r.zremrangebyscore("z", 5, 5)
    r.zadd("z2", {"z1": 1, "z2": 2})
    r.zunionstore("zu", ["z", "z2"])
    r.zinterstore("zi", ["z", "z2"])
    r.zrangestore("zr", "z", 0, 1)
    r.rename("gs", "gs2")
    r.copy("s", "s_copy")
    r.move("s_copy", 3)
    r.delete("nothing", "l2")
    r.unlink("diff")
    # A transaction.
    pipe = r.pipeline(transaction=True)
    pipe.set("tx", 1).incr("tx").rpush("txl", "a")
    pipe.execute()
    # Blocking pops: at once, and served later by another client's push.
    r.rpush("bl", "a", "b")
    r.blpop(["bl"], 1)
    r.zadd("bz", {"a": 1, "b": 2})
    r.bzpopmin(["bz"], 1)
    waiter = redis.Redis(port=port, protocol=3, socket_timeout=30)
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(waiter.brpop(["later"], 10)))
    t.start()
    time.sleep(0.3)
    r.rpush("later", "x", "y")
    t.join()
    assert got == [[b"later", b"y"]]
    waiter.close()
    # RESTORE with a relative TTL.
    r.restore("restored", 700_000, r.dump("h"))
    # Another database, SWAPDB, FLUSHDB.
    r.execute_command("SELECT", 4)
    r.set("db4", "x")
    r.execute_command("SELECT", 5)
    r.set("db5", "y")
    r.execute_command("SELECT", 0)
    r.execute_command("SWAPDB", 4, 6)
    r.execute_command("SELECT", 7)
    r.set("gone", "x")
    r.execute_command("FLUSHDB")
    r.execute_command("SELECT", 0)
    # Tensors, models, scripts, runs (logged as their output tensors).
    x = models.mlp_input(3)
    tensorset(r, "x", x)
    modelstore(r, "m", "TORCH", models.mlp_torch(), "BATCHSIZE", 4)
    modelstore(r, "mo", "ONNX", models.mlp_onnx())
    assert r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1,
                             "y") == b"OK"
    assert r.execute_command("AI.MODELRUN", "mo", "INPUTS", "x", "OUTPUTS", "yo") == b"OK"
    assert r.execute_command("AI.SCRIPTSTORE", "sc", "CPU", "ENTRY_POINTS", 1, "normalize",
                             "SOURCE", models.IMAGE_SCRIPT) == b"OK"
    tensorset(r, "img", models.image_input(1))
    assert r.execute_command("AI.SCRIPTEXECUTE", "sc", "normalize", "INPUTS", 1, "img",
                             "ARGS", 2, "0.5", "2", "OUTPUTS", 1, "norm") == b"OK"
    reply = r.execute_command("AI.DAGEXECUTE", "LOAD", 1, "x", "PERSIST", 1, "dy", "|>",
                              "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "dy")
    assert reply == [b"OK"]
    tensorset(r, "tmp", np.ones(2, np.float32))
    assert r.execute_command("AI.TENSORSET", "tmp", "INT64", 1, "VALUES", 7) == b"OK"
    modelstore(r, "gone_model", "TORCH", models.mlp_torch())
    assert r.execute_command("AI.MODELDEL", "gone_model") == b"OK"
    time.sleep(0.1)  # "short" expires
    assert not r.exists("short")


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_kill_9_then_replay_gives_the_same_keyspace(node: Node, fsync: str) -> None:
    r = node.up("--appendfsync", fsync)
    workload(r, node.proc.port)  # type: ignore[union-attr]
    before = keyspace(r)
    assert node.kill(signal.SIGKILL) == -signal.SIGKILL
    r = node.up("--appendfsync", fsync)
    after = keyspace(r)
    assert after == before, after.diff(before)
    # The replayed models run and give the in-process outputs.
    x = models.mlp_input(2, seed=3)
    tensorset(r, "x2", x)
    for key in ("m", "mo"):
        assert r.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, "x2", "OUTPUTS", 1,
                                 "y2") == b"OK"
        assert_close(tensorget(r, "y2"), models.reference("mlp", x)[0])
    # A run was logged as its output tensors, not as a run to do again.
    log = (node.dir / AOF).read_bytes()
    assert b"AI.MODELEXECUTE" not in log and b"AI.DAGEXECUTE" not in log
    assert b"AI.SCRIPTEXECUTE" not in log and b"BRPOP" not in log
    assert b"EXPIRE\r\n" not in log.upper().replace(b"PEXPIREAT", b"")


def _writer(port: int, name: str, acked: list[int], stop: threading.Event) -> None:
    r = redis.Redis(port=port, socket_timeout=5)
    i = 0
    try:
        while not stop.is_set():
            r.execute_command("RPUSH", name, i)
            acked.append(i)
            i += 1
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        pass


@pytest.mark.parametrize("round_", range(5))
def test_crash_loses_no_acknowledged_write_with_always(node: Node, round_: int) -> None:
    r = node.up("--appendfsync", "always")
    port = node.proc.port  # type: ignore[union-attr]
    stop = threading.Event()
    acked: dict[str, list[int]] = {f"w{i}": [] for i in range(4)}
    threads = [threading.Thread(target=_writer, args=(port, name, acked[name], stop))
               for name in acked]
    for t in threads:
        t.start()
    time.sleep(0.5 + 0.1 * round_)
    node.kill(signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join()
    r = node.up("--appendfsync", "always")
    for name, values in acked.items():
        stored = [int(v) for v in r.lrange(name, 0, -1)]
        assert values, "the writer never got an answer"
        # Every acknowledged push is there, in order; at most the one in flight more.
        assert stored[:len(values)] == values
        assert len(stored) - len(values) in (0, 1)


@pytest.mark.parametrize("round_", range(5))
def test_everysec_loss_is_bounded(node: Node, round_: int) -> None:
    r = node.up("--appendfsync", "everysec")
    port = node.proc.port  # type: ignore[union-attr]
    stop = threading.Event()
    acked: list[int] = []
    t = threading.Thread(target=_writer, args=(port, "w", acked, stop))
    t.start()
    time.sleep(0.6 + 0.2 * round_)
    node.kill(signal.SIGKILL)
    stop.set()
    t.join()
    r = node.up()
    stored = [int(v) for v in r.lrange("w", 0, -1)]
    # kill -9 keeps what reached the kernel: the writes go out before each reply, and
    # only a machine crash could lose the last second's fsync.
    assert stored[:len(acked)] == acked


# -- torn and damaged logs ------------------------------------------------------------------
def _log_with(node: Node, *writes: tuple[str, ...]) -> Path:
    r = node.up()
    for w in writes:
        r.execute_command(*w)
    node.shutdown("NOSAVE")
    return node.dir / AOF


def test_truncated_last_command_is_dropped_with_a_log_line(node: Node) -> None:
    path = _log_with(node, ("SET", "a", "1"), ("SET", "b", "2"))
    good = path.read_bytes()
    path.write_bytes(good + encode_command("SET", "c", "3")[:-4])
    r = node.up()
    assert r.mget("a", "b", "c") == [b"1", b"2", None]
    assert path.read_bytes() == good  # truncated to the last complete command
    assert "is truncated" in node.proc.log()  # type: ignore[union-attr]
    r.set("d", "4")  # appends after the cut cleanly
    node.shutdown("NOSAVE")
    r = node.up()
    assert r.mget("a", "b", "d") == [b"1", b"2", b"4"]


def test_torn_transaction_is_dropped(node: Node) -> None:
    path = _log_with(node, ("SET", "a", "1"))
    path.write_bytes(path.read_bytes() + encode_command("MULTI")
                     + encode_command("SET", "a", "2") + encode_command("SET", "b", "2"))
    r = node.up()
    assert r.mget("a", "b") == [b"1", None]


def test_garbage_in_the_middle_refuses_to_start_and_check_aof_fixes(node: Node) -> None:
    path = _log_with(node, ("SET", "a", "1"), ("SET", "b", "2"), ("SET", "c", "3"))
    data = path.read_bytes()
    cut = data.index(encode_command("SET", "b", "2"))
    path.write_bytes(data[:cut] + b"garbage!" + data[cut:])
    with pytest.raises(RuntimeError) as e:
        node.up()
    assert f"expected '*' at offset {cut}" in str(e.value)
    check = [sys.executable, "-m", "tensorserve", "check-aof"]
    env = {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([*check, str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 1 and f"offset {cut}" in out.stdout
    out = subprocess.run([*check, "--fix", str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and f"truncated AOF {path} to {cut} bytes" in out.stdout
    out = subprocess.run([*check, str(path)], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "is valid" in out.stdout
    r = node.up()
    assert r.mget("a", "b", "c") == [b"1", None, None]


def test_bad_bulk_terminator_is_garbage(node: Node) -> None:
    path = _log_with(node, ("SET", "a", "1"), ("SET", "b", "2"))
    data = path.read_bytes().replace(b"$1\r\n2\r\n", b"$1\r\n2XX")
    path.write_bytes(data)
    with pytest.raises(RuntimeError) as e:
        node.up()
    assert "bulk not followed by CRLF" in str(e.value)


# -- rewriting, switching, start-up ---------------------------------------------------------
def test_bgrewriteaof_compacts_and_keeps_writes_made_meanwhile(node: Node) -> None:
    r = node.up()
    for i in range(300):
        r.set("k", i)
    tensorset(r, "t", np.arange(4, dtype=np.float32))
    size = (node.dir / AOF).stat().st_size
    rc = RawClient(node.proc.port)  # type: ignore[union-attr]
    # One pipeline: the write after BGREWRITEAOF lands while the rewrite runs.
    rc.send(encode_command("BGREWRITEAOF") + encode_command("SET", "during", "1")
            + encode_command("BGREWRITEAOF"))
    assert rc.read() == b"Background append only file rewriting started"
    assert rc.read() == b"OK"
    assert str(rc.read()) == "ERR Background append only file rewriting already in progress"
    rc.close()
    for _ in range(200):
        if not r.info("persistence")["aof_rewrite_in_progress"]:
            break
        time.sleep(0.05)
    info = r.info("persistence")
    assert info["aof_rewrites"] == 1 and info["aof_last_bgrewrite_status"] == "ok"
    assert (node.dir / AOF).stat().st_size < size
    r.set("after", "2")
    before = keyspace(r)
    node.kill(signal.SIGKILL)
    r = node.up()
    assert keyspace(r) == before
    assert r.get("k") == b"299" and r.get("during") == b"1"


def test_appendonly_switched_on_at_run_time(start_server: Callable[..., ServerProcess],
                                            tmp_path: Path) -> None:
    plain = Node(start_server, tmp_path)
    r = plain.up()
    r.set("before", "1")
    tensorset(r, "t", np.ones(3, np.float32))
    assert r.config_set("appendonly", "yes")
    r.set("after", "2")
    for _ in range(200):
        if r.info("persistence")["aof_rewrites"]:
            break
        time.sleep(0.05)
    r.set("later", "3")
    before = keyspace(r)
    plain.kill(signal.SIGKILL)
    r = plain.up("--appendonly", "yes")
    assert keyspace(r) == before
    assert r.config_set("appendonly", "no")
    assert r.info("persistence")["aof_enabled"] == 0


def test_snapshot_becomes_the_base_of_a_new_log(start_server: Callable[..., ServerProcess],
                                               tmp_path: Path) -> None:
    plain = Node(start_server, tmp_path)
    r = plain.up()
    r.set("from_snapshot", "1")
    assert r.save()
    plain.shutdown("NOSAVE")
    logged = Node(start_server, tmp_path, "--appendonly", "yes")
    r = logged.up()
    assert r.get("from_snapshot") == b"1"
    r.set("logged", "2")
    logged.kill(signal.SIGKILL)
    (tmp_path / "dump.tsdb").unlink()  # the log alone has everything now
    r = logged.up()
    assert r.mget("from_snapshot", "logged") == [b"1", b"2"]


def test_bgrewriteaof_needs_appendonly(c: redis.Redis) -> None:
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("BGREWRITEAOF")
    assert str(e.value) == ("Background append only file rewriting is not possible: "
                            "appendonly is no")


@pytest.fixture
def c(server: ServerProcess) -> Iterator[redis.Redis]:
    client = redis.Redis(port=server.port, protocol=3, socket_timeout=30)
    yield client
    client.close()


def test_info_aof_fields(node: Node) -> None:
    r = node.up("--appendfsync", "no")
    r.set("k", "v")
    info = r.info("persistence")
    assert info["aof_enabled"] == 1 and info["aof_last_write_status"] == "ok"
    assert info["aof_current_size"] > 0 and info["aof_buffer_length"] == 0


# -- a full disk ----------------------------------------------------------------------------
@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (root only; skipped where mounting is not allowed)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {out.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_with_always_stops_the_server(start_server: Callable[..., ServerProcess],
                                                tiny_disk: Path) -> None:
    node = Node(start_server, tiny_disk, "--appendonly", "yes", "--appendfsync", "always",
                cwd=tiny_disk.parent)
    r = node.up()
    acked = 0
    with pytest.raises(redis.ConnectionError):
        for i in range(1000):
            r.set(f"k{i}", "x" * 4096)
            acked += 1
    assert node.proc.proc.wait(10) == 1  # type: ignore[union-attr]
    assert "Can't write to the append-only file" in node.proc.log()  # type: ignore[union-attr]
    r = node.up()
    assert r.dbsize() >= acked  # every acknowledged write is in the log


def test_full_disk_with_everysec_refuses_writes_until_space_returns(
        start_server: Callable[..., ServerProcess], tiny_disk: Path) -> None:
    filler = tiny_disk / "filler"
    node = Node(start_server, tiny_disk, "--appendonly", "yes", "--appendfsync", "everysec",
                cwd=tiny_disk.parent)
    r = node.up()
    filler.write_bytes(b"\0" * 160 * 1024)
    refused = None
    for i in range(200):
        try:
            r.set(f"k{i}", "x" * 4096)
        except redis.ResponseError as e:
            refused = str(e)
            break
    assert refused is not None and refused.startswith(
        "MISCONF Errors writing to the AOF file: [Errno 28] No space left on device")
    assert r.info("persistence")["aof_last_write_status"] == "err"
    assert r.get("k0") == b"x" * 4096  # reads go on
    filler.unlink()
    assert r.ping()  # the next reply retries the write
    assert r.info("persistence")["aof_last_write_status"] == "ok"
    assert r.set("after", "1")
    before = keyspace(r)
    node.kill(signal.SIGKILL)
    r = node.up()
    assert keyspace(r) == before


def test_mpops_replay_from_the_right_side(node: Node) -> None:
    r = node.up()
    r.rpush("left", "a", "b", "c")  # a key named like the LEFT keyword
    r.zadd("min", {"x": 1, "y": 2, "z": 3})
    assert r.execute_command("BLMPOP", 1, 1, "left", "RIGHT", "COUNT", 2) == [
        b"left", [b"c", b"b"]]
    assert r.execute_command("BZMPOP", 1, 1, "min", "MAX") == [b"min", [[b"z", 3.0]]]
    before = keyspace(r)
    node.kill(signal.SIGKILL)
    r = node.up()
    assert keyspace(r) == before
    assert r.lrange("left", 0, -1) == [b"a"]
