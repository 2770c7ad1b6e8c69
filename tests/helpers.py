"""Test helpers: start real tensorserve processes, talk raw RESP to them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hiredis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A tensorserve subprocess on a free port; ``stop()`` ends it.

    ``config_file`` goes first on the command line (redis-server's order);
    ``nofile`` = (soft, hard) sets the child's open-file limit before it starts.
    """

    def __init__(self, args: Sequence[str] = (), port: int | None = None, cwd: str | None = None,
                 env: dict[str, str] | None = None,
                 ready: Callable[[], object] | None = None, config_file: str | None = None,
                 nofile: tuple[int, int] | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.args = list(args)
        cmd = [sys.executable, "-m", "tensorserve", *([config_file] if config_file else []),
               "--port", str(self.port), "--save", "", *self.args]
        if "--loglevel" not in self.args:
            cmd += ["--loglevel", "warning"]
        self.log_path = Path(cwd or "/tmp") / f"tensorserve-{self.port}.log"
        self._log = open(self.log_path, "w")
        full_env = {**os.environ, **(env or {})}
        full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=cwd, env=full_env,
                                     preexec_fn=None if nofile is None else _nofile(nofile))
        self._ready = ready  # how to tell it is up when the plain port is off
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"tensorserve exited early:\n{self.log()}")
            if self._ready is not None:
                try:
                    if self._ready():
                        return
                except Exception:
                    pass
                time.sleep(0.05)
                continue
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    data = s.recv(100)
                    if data.startswith((b"+PONG", b"-NOAUTH", b"-DENIED")):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"tensorserve did not start on port {self.port}:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


class RedisServerProcess:
    """A real redis-server on a free port, persistence off: the reference to compare with."""

    def __init__(self, binary: str, cwd: str, args: Sequence[str] = (),
                 nofile: tuple[int, int] | None = None) -> None:
        self.port = free_port()
        self.host = "127.0.0.1"
        self.log_path = Path(cwd) / f"redis-server-{self.port}.log"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", cwd, "--logfile", str(self.log_path), *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd,
            preexec_fn=None if nofile is None else _nofile(nofile))
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"redis-server did not start:\n{self.log()}") from None
                time.sleep(0.05)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def _nofile(limits: tuple[int, int]) -> Callable[[], None]:
    def set_limit() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_NOFILE, limits)

    return set_limit


class RawClient:
    """A socket that sends raw bytes and reads whole RESP replies (via hiredis)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = hiredis.Reader(replyError=Exception)
        self._pending: list[Any] = []

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, *args: bytes | str | int) -> Any:
        self.send(encode_command(*args))
        return self.read()

    def read(self) -> Any:
        """The next reply; an error reply comes back as an Exception instance."""
        while True:
            reply = self.reader.gets()
            if reply is not False:
                return reply
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed by server")
            self.reader.feed(data)

    def read_until_closed(self, timeout: float = 5.0) -> bytes:
        """Everything the server sends until it closes the connection."""
        self.sock.settimeout(timeout)
        chunks = []
        while True:
            data = self.sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)

    def is_closed(self, timeout: float = 2.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def encode_command(*args: bytes | str | int) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%b\r\n" % (len(b), b))
    return b"".join(parts)


@contextmanager
def raw_connector(port: int) -> Iterator[Callable[[], RawClient]]:
    """A factory of RawClients to ``port``; all of them are closed on exit."""
    clients: list[RawClient] = []

    def connect() -> RawClient:
        c = RawClient(port)
        clients.append(c)
        return c

    try:
        yield connect
    finally:
        for c in clients:
            c.close()
