"""The server works in an empty private directory; the data stays in ``dir``.

Backends and scripts run inside the server process, so anything in them that resolves a
relative path must find nothing there: the process's working directory is a new empty
directory of its own (mode 0700), removed at exit. ``dir`` keeps redis-server's meaning -
snapshots, the append-only log and the ACL file are read and written there, CONFIG GET
dir shows it as an absolute path (redis-server's getcwd()), CONFIG SET dir moves where
the next files go - but it is reached by absolute path, never by being in it.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from ..conftest import require_binary
from ..helpers import RedisServerProcess, ServerProcess


def _cwd(srv: ServerProcess) -> str:
    return os.readlink(f"/proc/{srv.proc.pid}/cwd")


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    """(where the server is started, with a file in it; the data directory)."""
    launch, data = tmp_path / "launch", tmp_path / "data"
    launch.mkdir()
    data.mkdir()
    (launch / "secret.txt").write_text("not for models")
    (data / "other.txt").write_text("not for models either")
    return launch, data


def test_server_works_in_an_empty_private_directory(dirs: tuple[Path, Path]) -> None:
    launch, data = dirs
    srv = ServerProcess(["--dir", str(data)], cwd=str(launch))
    try:
        cwd = _cwd(srv)
        assert cwd not in (str(launch), str(data))
        assert os.listdir(cwd) == []
        st = os.stat(cwd)
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.getuid()
        r = redis.Redis(port=srv.port)
        assert r.config_get("dir") == {"dir": str(data)}
        r.set("k", "v")
        assert r.save()
        assert os.listdir(cwd) == []
    finally:
        assert srv.stop() == 0
    assert not os.path.exists(cwd)  # removed at exit
    assert (data / "dump.tsdb").exists()


def test_empty_workdirs_of_killed_servers_are_swept(dirs: tuple[Path, Path]) -> None:
    import subprocess
    import tempfile

    launch, data = dirs
    dead = subprocess.Popen(["true"])
    dead.wait()
    tmp = Path(tempfile.gettempdir())
    empty = tmp / f"tensorserve-{dead.pid}-swept"
    kept = tmp / f"tensorserve-{dead.pid}-kept"
    empty.mkdir()
    kept.mkdir()
    (kept / "left.txt").write_text("a file: not removed")
    try:
        srv = ServerProcess(["--dir", str(data)], cwd=str(launch))
        assert os.path.basename(_cwd(srv)).startswith(f"tensorserve-{srv.proc.pid}-")
        srv.stop()
        assert not empty.exists() and kept.exists()
    finally:
        (kept / "left.txt").unlink()
        kept.rmdir()
        if empty.exists():
            empty.rmdir()


def test_snapshots_and_log_go_to_dir_and_follow_config_set_dir(
        dirs: tuple[Path, Path]) -> None:
    launch, data = dirs
    srv = ServerProcess(["--dir", str(data), "--appendonly", "yes",
                         "--enable-protected-configs", "yes"], cwd=str(launch))
    try:
        r = redis.Redis(port=srv.port)
        r.set("k", "v")
        assert r.save()
        assert r.bgsave()
        while r.info("persistence")["rdb_bgsave_in_progress"]:
            time.sleep(0.05)
        assert r.bgrewriteaof()
        while r.info("persistence")["aof_rewrite_in_progress"]:
            time.sleep(0.05)
        assert {"dump.tsdb", "appendonly.aof"} <= set(os.listdir(data))
        assert set(os.listdir(launch)) == {"secret.txt", f"tensorserve-{srv.port}.log"}
        assert os.listdir(_cwd(srv)) == []
        # Relative to the current dir, as redis-server's chdir().
        (data / "moved").mkdir()
        assert r.config_set("dir", "moved")
        assert r.config_get("dir") == {"dir": str(data / "moved")}
        assert r.save()
        assert os.listdir(data / "moved") == ["dump.tsdb"]
        assert r.config_set("dir", str(data))
    finally:
        assert srv.stop() == 0
    # Restarted on the same dir (from anywhere), the data is back, from the log.
    again = ServerProcess(["--dir", str(data), "--appendonly", "yes"], cwd="/")
    try:
        assert redis.Redis(port=again.port).get("k") == b"v"
    finally:
        again.stop()


def test_default_dir_is_where_the_server_was_started(dirs: tuple[Path, Path]) -> None:
    launch, _ = dirs
    srv = ServerProcess([], cwd=str(launch))
    try:
        r = redis.Redis(port=srv.port)
        assert r.config_get("dir") == {"dir": str(launch)}
        assert r.save()
        assert (launch / "dump.tsdb").exists()
        assert os.listdir(_cwd(srv)) == []
    finally:
        srv.stop()


def test_relative_acl_file_is_in_dir(dirs: tuple[Path, Path]) -> None:
    launch, data = dirs
    (data / "users.acl").write_text("user default on nopass ~* &* +@all\n")
    srv = ServerProcess(["--dir", str(data), "--aclfile", "users.acl"], cwd=str(launch))
    try:
        r = redis.Redis(port=srv.port)
        r.execute_command("ACL", "SETUSER", "alice", "on", ">pw", "+get")
        assert r.execute_command("ACL", "SAVE") == b"OK"
        assert "user alice" in (data / "users.acl").read_text()
        assert r.execute_command("ACL", "LOAD") == b"OK"
        assert os.listdir(_cwd(srv)) == []
    finally:
        srv.stop()


@pytest.fixture
def theirs(tmp_path: Path) -> Iterator[Callable[[Path], RedisServerProcess]]:
    binary = require_binary("redis-server")
    procs: list[RedisServerProcess] = []

    def start(d: Path) -> RedisServerProcess:
        # Redis 7 refuses CONFIG SET dir unless protected configs are enabled.
        procs.append(RedisServerProcess(binary, str(d), ["--enable-protected-configs", "yes"]))
        return procs[-1]

    yield start
    for p in procs:
        p.stop()


def test_config_set_dir_as_redis_server(dirs: tuple[Path, Path],
                                        theirs: Callable[[Path], RedisServerProcess]) -> None:
    launch, data = dirs
    (data / "a").mkdir()
    (data / "a" / "b").mkdir()
    ours = ServerProcess(["--dir", str(data), "--enable-protected-configs", "yes"],
                         cwd=str(launch))
    try:
        replies = []
        for port in (ours.port, theirs(data).port):
            r = redis.Redis(port=port)
            got = [r.config_get("dir")["dir"]]
            for value in ("a", "b", "..", "/nonexistent", str(data / "other.txt"), ""):
                try:
                    r.config_set("dir", value)
                    got.append(r.config_get("dir")["dir"])
                except redis.ResponseError as e:
                    got.append(str(e))
            replies.append(got)
        assert replies[0] == replies[1]
        assert replies[0][:4] == [str(data), str(data / "a"), str(data / "a" / "b"),
                                  str(data / "a")]
    finally:
        ours.stop()
