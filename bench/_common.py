"""Shared bench helpers: start redis-server and tensorserve, read /proc, small RESP client."""

from __future__ import annotations

import atexit
import datetime as _dt
import json
import os
import platform
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        sys.exit(f"{binary} is not installed (apt-get install redis-server redis-tools)")
    return path


class Server:
    """A server subprocess on a free port, persistence off; ``kind`` is redis or tensorserve."""

    def __init__(self, kind: str, extra: list[str] | None = None) -> None:
        self.kind = kind
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix=f"bench-{kind}-")
        extra = list(extra or [])
        if kind == "redis":
            cmd = [need("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning",
                   *extra]
            env = dict(os.environ)
        else:
            cmd = [sys.executable, "-m", "tensorserve", "--port", str(self.port), "--save", "",
                   "--loglevel", "warning", *extra]
            env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep
                   + os.environ.get("PYTHONPATH", "")}
        self.cmd = cmd
        self.log_path = Path(self.dir) / "server.log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, env=env)
        _LIVE.append(self)
        self._wait_ready()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited early:\n{self.log()}")
            try:
                if command(self.port, b"PING") == b"+PONG\r\n":
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not start:\n{self.log()}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")[-4000:]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def version(self) -> str:
        if self.kind == "tensorserve":
            # INFO's redis_version is the Redis version it answers as, not its own.
            m = re.search(r'__version__ = "([^"]+)"',
                          (ROOT / "tensorserve" / "__init__.py").read_text())
            return m.group(1) if m else "?"
        reply = command(self.port, b"INFO", b"server").decode(errors="replace")
        for line in reply.splitlines():
            if line.startswith("redis_version:"):
                return line.split(":", 1)[1].strip()
        return "?"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        if self in _LIVE:
            _LIVE.remove(self)


# Servers started and not stopped yet: a bench that exits early (a missing binary, an
# error, Ctrl-C) must not leave them running.
_LIVE: list[Server] = []


@atexit.register
def _stop_live_servers() -> None:
    for server in list(_LIVE):
        server.stop()


def cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def sched_seconds(pid: int) -> float:
    """Time on CPU of every thread of the process, in ns resolution (task/*/schedstat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            pass  # a thread that just ended
    return total / 1e9


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def encode(*args: bytes | str) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a.encode() if isinstance(a, str) else a
        parts.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(parts)


def command(port: int, *args: bytes | str, timeout: float = 10.0) -> bytes:
    """One command on a fresh connection; the raw reply (read until it looks whole)."""
    import hiredis

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(encode(*args))
        reader = hiredis.Reader()
        data = b""
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                return data
            data += chunk
            reader.feed(chunk)
            if reader.gets() is not False:
                return data


def send_all_count(sock: socket.socket, payload: bytes, replies: int) -> None:
    """Send a pipeline and read until ``replies`` simple one-line replies arrived."""
    sock.sendall(payload)
    seen = 0
    while seen < replies:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        if chunk.startswith(b"-") or b"\r\n-" in chunk:
            raise RuntimeError(f"error reply: {chunk[:200]!r}")
        seen += chunk.count(b"\r\n")


def machine_notes() -> dict[str, Any]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    return {
        "checkout": commit,
        "date_utc": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
    }


def write_results(out: Path, name: str, data: dict[str, Any], md: str) -> None:
    """``out/name.json`` and ``out/name.md``, then the markdown on stdout."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    (out / f"{name}.md").write_text(md)
    print(md)


def raise_nofile(wanted: int) -> int:
    """Raise this process's soft open-file limit (the servers it starts inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    new = max(soft, wanted) if hard == resource.RLIM_INFINITY else min(max(soft, wanted), hard)
    if new != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    return new


def settle(server: Server, seconds: float = 0.5) -> int:
    """RSS (kB) once it stopped moving (or after a few samples)."""
    last = server.rss_kb()
    for _ in range(10):
        time.sleep(seconds / 5)
        now = server.rss_kb()
        if abs(now - last) < 16:
            return now
        last = now
    return last
