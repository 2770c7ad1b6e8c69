"""The process around the server: ``daemonize`` and ``pidfile``, as redis-server."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

from ..config import Config

__all__ = ["daemonize", "pidfile_path", "private_workdir", "remove_pidfile", "write_pidfile"]

log = logging.getLogger("tensorserve.server")


def daemonize() -> None:
    """redis-server's daemonize(): fork, the parent exits, the child leaves the terminal
    (setsid) and points stdin/stdout/stderr at /dev/null. Called before any thread or
    event loop exists. Logs go to ``logfile`` (nowhere without one, as Redis)."""
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    if fd > 2:
        os.close(fd)


@contextlib.contextmanager
def private_workdir() -> Iterator[str]:
    """Work in a new empty directory only this process may enter (mode 0700), removed
    at exit.

    Backends and scripts run in this process: whatever in them resolves a relative path
    (a model that opens "weights.bin", a library that writes a cache) finds nothing and
    leaves nothing among the data files. Persistence, the ACL file and TLS files are
    found through the absolute ``dir``, so redis-server's meaning of ``dir`` holds.
    The name carries the pid, so the empty directories of killed servers (SIGKILL skips
    the removal) are swept at the next start.
    """
    _sweep_dead_workdirs()
    try:
        path = tempfile.mkdtemp(prefix=f"tensorserve-{os.getpid()}-")
    except OSError as e:
        log.warning("could not create a private working directory (%s): working in %s",
                    e, os.getcwd())
        yield os.getcwd()
        return
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.chdir(previous)
        shutil.rmtree(path, ignore_errors=True)


def _sweep_dead_workdirs() -> None:
    """Remove our empty ``tensorserve-<pid>-*`` directories whose process is gone."""
    tmp = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(tmp) if n.startswith("tensorserve-")]
    except OSError:
        return
    uid = os.getuid()
    for name in names:
        pid = name.split("-")[1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # alive (or not ours to signal): leave it
        except ProcessLookupError:
            pass
        except (PermissionError, OverflowError):
            continue
        path = os.path.join(tmp, name)
        with contextlib.suppress(OSError):
            if os.lstat(path).st_uid == uid:
                os.rmdir(path)  # only if empty: never delete what something left there


def pidfile_path(config: Config) -> str:
    """The pidfile to write: the configured one, or Redis's default when daemonized."""
    if config.pidfile:
        return config.pidfile
    return f"/var/run/tensorserve_{config.port}.pid" if config.daemonize else ""


def write_pidfile(path: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(f"{os.getpid()}\n")
    except OSError as e:  # as redis-server: a warning, not a reason to stop
        log.warning("Failed to write PID file: %s", e)


def remove_pidfile(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)
