"""Snapshots and DUMP / RESTORE: SAVE, BGSAVE, LASTSAVE's clock, the ``save`` rules,
saving at shutdown, loading at start, DEBUG RELOAD.

The file format and value encoding live in ``store/persistence``; this module decides
when to save and what a consistent copy is.

**BGSAVE never forks.** A forked child of a process with torch / onnxruntime threads
may deadlock on locks those threads held, so the snapshot is taken in two steps: on the
loop thread, a consistent copy of the keyspace (the dicts, and a copy of every mutable
container: hashes, lists, sets, sorted sets; strings, tensors, models and scripts are
immutable and shared), which costs C-speed copies only; then a thread encodes and
writes that copy while the loop goes on serving. SAVE does both on the loop.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from ..errors import BusyKeyError, ReplyError
from ..protocol import OK, Raw
from ..runtime import parse_device
from ..store import ZSet, now_ms
from ..store.model import Model
from ..store.persistence import (
    CorruptValue,
    Entry,
    SnapshotError,
    dump_payload,
    read_snapshot,
    restore_payload,
    write_snapshot,
)
from ..store.script import Script
from ._args import parse_int
from ._spec import command
from .model import build_model
from .script import build_script

if TYPE_CHECKING:
    from ._client import ClientState
    from ._server_state import ServerState

__all__ = ["Persistence", "debug_reload", "frozen_copy"]

log = logging.getLogger("tensorserve.persistence")

_BG_STARTED: Final = Raw(b"+Background saving started\r\n")
_BG_SCHEDULED: Final = Raw(b"+Background saving scheduled\r\n")
_BG_IN_PROGRESS: Final = "Background save already in progress"
_BAD_PAYLOAD: Final = "DUMP payload version or checksum are wrong"
_BAD_DATA: Final = "Bad data format"
_BGSAVE_RETRY_S: Final = 5  # after a failed BGSAVE, the save rules wait this long (Redis)


class _Reviver:
    """Rebuilds models and scripts from a snapshot or a DUMP payload, through the same
    compile path AI.MODELSTORE / AI.SCRIPTSTORE use."""

    def __init__(self, server: ServerState) -> None:
        self.server = server

    def model(self, key: bytes, backend: str, device: str, tag: bytes, batchsize: int,
              minbatchsize: int, minbatchtimeout: int, blob: bytes) -> Model:
        dev = parse_device(device.encode())
        if dev is None:
            raise CorruptValue(f"bad device {device!r}")
        return build_model(self.server, key, backend, dev, tag, batchsize, minbatchsize,
                           minbatchtimeout, blob)

    def script(self, key: bytes, device: str, tag: bytes, entry_points: list[str],
               source: bytes) -> Script:
        return build_script(self.server, key, device.encode(), tag, entry_points, source)


def frozen_copy(value: Any) -> Any:
    """A copy of a mutable container that later commands cannot change; immutable
    values (bytes, tensors, models, scripts) as they are."""
    cls = value.__class__
    if cls is dict:
        return dict(value)
    if cls is deque:
        return list(value)
    if cls is set:
        return frozenset(value)
    if cls is ZSet:
        return tuple(value.dict.items())
    return value


class Persistence:
    """One server's snapshot state (loop thread, except the BGSAVE writer thread)."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.revive = _Reviver(server)
        self._lock = threading.Lock()  # one writer of the file at a time
        self.bg_thread: threading.Thread | None = None
        self.bg_started = 0.0  # time.monotonic() of the running BGSAVE
        self.bg_scheduled = False
        self.last_status_ok = True
        self.last_bg_seconds = -1
        self.last_failed_at = 0.0
        self.saves = 0
        self.last_size = 0
        self.keys_total = 0
        self.keys_done = 0
        server.cron_jobs.append(self._cron)

    @property
    def path(self) -> str:
        # config.dir is absolute (cli.py); the process's own working directory is an
        # empty private one (server/_process.py), never where the data is.
        return os.path.join(self.server.config.dir, self.server.config.dbfilename)

    @property
    def in_progress(self) -> bool:
        return self.bg_thread is not None

    # -- what is saved -------------------------------------------------------------------
    def entries(self) -> list[Entry]:
        """A consistent copy of every live key (loop thread)."""
        now = now_ms()
        out: list[Entry] = []
        for db in self.server.keyspace.dbs:
            expires = db.expires
            for key, value in db.data.items():
                deadline = expires.get(key, -1) if expires else -1
                if 0 <= deadline <= now:
                    continue  # expired, not yet collected: not saved (as Redis)
                out.append((db.id, key, deadline, frozen_copy(value)))
        return out

    def _write(self, entries: list[Entry]) -> None:
        self.keys_total, self.keys_done = len(entries), 0

        def progress(n: int) -> None:
            self.keys_done = n

        with self._lock:
            self.last_size = write_snapshot(self.path, entries, progress)

    def _saved(self, dirty_at_start: int) -> None:
        server = self.server
        server.keyspace.dirty -= dirty_at_start
        server.last_save = int(time.time())
        self._status(True)
        self.saves += 1

    def _status(self, ok: bool) -> None:
        self.last_status_ok = ok
        self.server.refresh_disk_error()
        if not ok:
            self.last_failed_at = time.monotonic()

    # -- SAVE / BGSAVE -------------------------------------------------------------------
    def save(self) -> None:
        """Save now, on the loop thread; raises OSError when the file cannot be written."""
        dirty = self.server.keyspace.dirty
        try:
            self._write(self.entries())
        except Exception:
            self._status(False)
            raise
        self._saved(dirty)
        log.info("DB saved on disk")

    def bgsave(self) -> None:
        """Copy the keyspace now and write it from a thread."""
        if self.bg_thread is not None:
            raise ReplyError(_BG_IN_PROGRESS)
        server = self.server
        entries = self.entries()
        dirty = server.keyspace.dirty
        loop = server.loop
        self.bg_started = time.monotonic()

        def work() -> None:
            error: BaseException | None = None
            try:
                self._write(entries)
            except Exception as e:
                error = e
            if loop is not None:
                try:
                    loop.call_soon_threadsafe(self._bg_done, error, dirty)
                    return
                except RuntimeError:  # the loop is closed
                    pass
            self._bg_done(error, dirty)

        self.bg_thread = threading.Thread(target=work, name="ts-bgsave", daemon=True)
        log.info("Background saving started")
        self.bg_thread.start()

    def _bg_done(self, error: BaseException | None, dirty: int) -> None:
        self.bg_thread = None
        self.last_bg_seconds = int(time.monotonic() - self.bg_started)
        if error is None:
            self._saved(dirty)
            log.info("Background saving terminated with success")
        else:
            self._status(False)
            log.warning("Background saving error: %s", error)
        if self.bg_scheduled:
            self.bg_scheduled = False
            self.bgsave()
        aof = self.server.aof
        if aof is not None and aof.rewrite_scheduled and aof.rewriting is None:
            aof.rewrite_scheduled = False
            aof.rewrite()

    def wait(self) -> None:
        """Block until a running BGSAVE has written its file (shutdown, DEBUG RELOAD)."""
        t = self.bg_thread
        if t is not None:
            t.join()
            self._lock.acquire()
            self._lock.release()

    def _cron(self) -> None:
        """The ``save <seconds> <changes>`` rules (serverCron's rdbSaveParams check)."""
        if self.bg_thread is not None:
            return
        rules = self.server.config.save.split()
        if not rules:
            return
        dirty = self.server.keyspace.dirty
        elapsed = time.time() - self.server.last_save
        if (not self.last_status_ok
                and time.monotonic() - self.last_failed_at < _BGSAVE_RETRY_S):
            return
        for seconds, changes in zip(rules[::2], rules[1::2], strict=True):
            if dirty >= int(changes) and elapsed >= int(seconds):
                log.info("%s changes in %s seconds. Saving...", changes, seconds)
                self.bgsave()
                return

    # -- start and stop ------------------------------------------------------------------
    def load(self) -> int:
        """Load the snapshot file, if there is one, into the empty keyspace; the number
        of keys loaded. Raises SnapshotError (the server must not start) on a bad file."""
        path = self.path
        if not os.path.exists(path):
            return 0
        start = time.monotonic()
        dbs = self.server.keyspace.dbs
        now = now_ms()
        n = 0
        for db_index, key, expire, value in read_snapshot(path, self.revive):
            if db_index >= len(dbs):
                raise SnapshotError(f"{path}: key {key!r} is in database {db_index}, and "
                                    f"this server has {len(dbs)} (--databases)")
            if 0 <= expire <= now:
                continue  # expired while the server was down
            db = dbs[db_index]
            db.data[key] = value
            if expire >= 0:
                db.expires[key] = expire
            n += 1
        self.server.last_save = int(os.path.getmtime(path))
        log.info("DB loaded from disk: %d keys in %.3f seconds", n, time.monotonic() - start)
        return n

    def save_for_shutdown(self) -> bool:
        """SHUTDOWN / SIGTERM with saving: wait for a BGSAVE, then save; False (and a
        log line) when the file could not be written: the server must not exit then."""
        self.wait()
        try:
            self.save()
        except Exception as e:
            log.warning("Error trying to save the DB, can't exit: %s", e)
            return False
        return True


def _persistence(c: ClientState) -> Persistence:
    p = c.server.persistence
    assert p is not None, "the server installs Persistence at start"
    return p


# -- commands ------------------------------------------------------------------------------
@command("save", 1, "admin noscript no_multi", group="server",
         since="1.0.0", summary="Synchronously saves the database(s) to disk.",
         complexity="O(N) where N is the total number of keys in all databases",
         acl=("@admin", "@slow", "@dangerous"))
def save(c: ClientState, argv: list[bytes]) -> Any:
    p = _persistence(c)
    if p.in_progress:
        raise ReplyError(_BG_IN_PROGRESS)
    try:
        p.save()
    except Exception as e:
        log.warning("SAVE failed: %s", e)
        raise ReplyError(f"Failed to save the DB: {e}") from None
    return OK


@command("bgsave", -1, "admin noscript", group="server", since="1.0.0",
         summary="Asynchronously saves the database(s) to disk.",
         complexity="O(N) where N is the total number of keys in all databases",
         acl=("@admin", "@slow", "@dangerous"))
def bgsave(c: ClientState, argv: list[bytes]) -> Any:
    schedule = False
    if len(argv) > 1:
        if len(argv) == 2 and argv[1].lower() == b"schedule":
            schedule = True
        else:
            raise ReplyError("syntax error")
    p = _persistence(c)
    if p.in_progress:
        if schedule:
            p.bg_scheduled = True
            return _BG_SCHEDULED
        raise ReplyError(_BG_IN_PROGRESS)
    p.bgsave()
    return _BG_STARTED


def debug_reload(c: ClientState, argv: list[bytes]) -> Any:
    """DEBUG RELOAD: save, empty the keyspace, load the file back (Redis's test hook)."""
    p = _persistence(c)
    p.wait()
    try:
        p.save()
    except Exception as e:
        raise ReplyError(f"Error trying to save the DB: {e}") from None
    ks = c.server.keyspace
    for db in ks.dbs:
        db.flush()
    ks.touch_all()
    try:
        p.load()
    except SnapshotError as e:
        raise ReplyError(f"Error trying to load the RDB dump: {e}") from None
    ks.dirty = 0
    return OK


@command("dump", 2, "readonly", keys=(1, 1, 1), group="generic", since="2.6.0",
         summary="Returns a serialized representation of the value stored at a key.",
         complexity="O(1) to access the key and additional O(N*M) to serialize it",
         acl=("@keyspace", "@read", "@slow"))
def dump(c: ClientState, argv: list[bytes]) -> Any:
    value = c.db.lookup(argv[1])
    if value is None:
        return None
    return dump_payload(frozen_copy(value))


@command("restore", -4, "write denyoom", keys=(1, 1, 1), group="generic", since="2.6.0",
         summary="Creates a key from the serialized representation of a value.",
         complexity="O(1) to create the new key and additional O(N*M) to reconstruct it",
         acl=("@keyspace", "@write", "@slow", "@dangerous"))
def restore(c: ClientState, argv: list[bytes]) -> Any:
    key, payload = argv[1], argv[3]
    replace = absttl = False
    pos = 4
    while pos < len(argv):
        opt = argv[pos].lower()
        if opt == b"replace":
            replace = True
        elif opt == b"absttl":
            absttl = True
        elif opt in (b"idletime", b"freq") and pos + 1 < len(argv):
            # Accepted and checked as Redis does; tensorserve keeps no LRU/LFU data.
            name = "IDLETIME" if opt == b"idletime" else "FREQ"
            v = parse_int(argv[pos + 1])
            if v < 0 or (opt == b"freq" and v > 255):
                raise ReplyError(f"Invalid {name} value, must be >= 0"
                                 if opt == b"idletime" or v < 0
                                 else "Invalid FREQ value, must be >= 0 and <= 255")
            pos += 1
        else:
            raise ReplyError("syntax error")
        pos += 1
    ttl = parse_int(argv[2])
    if ttl < 0:
        raise ReplyError("Invalid TTL value, must be >= 0")
    db = c.db
    if not replace and db.lookup(key) is not None:
        raise BusyKeyError()
    try:
        value = restore_payload(payload, _persistence(c).revive, key)
    except CorruptValue as e:
        raise ReplyError(_BAD_PAYLOAD if str(e) == "version or checksum"
                         else _BAD_DATA) from None
    deadline = (ttl if absttl else now_ms() + ttl) if ttl else 0
    if deadline and deadline <= now_ms():
        db.delete(key)  # already expired: as Redis, the key is not created
        return OK
    db.set(key, value)
    if deadline:
        db.set_expire(key, deadline)
    return OK
