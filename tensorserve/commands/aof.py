"""The append-only log: every applied write, in RESP, so a restart replays them.

What is logged is what the write *did*, in a form that replays to the same state:

- most write commands as they were sent (they are deterministic);
- relative expiry as an absolute deadline (EXPIRE/SETEX/SET EX/GETEX/RESTORE ... become
  SET + PEXPIREAT, PEXPIREAT, PERSIST or DEL), so a replay later does not extend TTLs;
- SPOP as the SREM of what it popped; blocking pops (at once or when served later) as
  the non-blocking pop of what they took;
- model, script and DAG runs as AI.TENSORSET of the tensors they stored (the run is
  not replayed);
- a key deleted because it expired as DEL (so a replay before that deadline cannot
  resurrect it under a later write);
- writes inside EXEC between MULTI and EXEC (a transaction cut off by a crash is
  dropped on load, as redis-server does).

``appendfsync``: ``always`` writes and fsyncs the log before any reply leaves the server
(one write + fsync per batch of replies, hooked where a connection writes: Connection
._write calls :meth:`Aof.flush`); a failed write or fsync stops the server rather than
acknowledge an unsaved write. ``everysec`` writes at the same point and a thread
fsyncs once a second; ``no`` leaves fsync to the kernel. Under those two a failed write
keeps the data queued and refuses writes with MISCONF until it succeeds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from ..errors import MisconfError, ReplyError
from ..protocol import Raw
from ..store import now_ms
from ..store.persistence import (
    AofTail,
    encode_command,
    fsync_dir,
    read_aof,
    write_entries,
    write_snapshot,
)
from ..store.tensor import Tensor
from ._client import ClientState, InternalClient
from ._spec import command

if TYPE_CHECKING:
    from ._server_state import ServerState
    from ._spec import CommandSpec

__all__ = ["Aof", "tensorset_argv"]

log = logging.getLogger("tensorserve.aof")

# Commands whose effect is logged by their own code (runs log their output tensors),
# or not at all (AI.CONFIG changes no data).
_SELF_LOGGED: Final = frozenset({
    "ai.modelexecute", "ai.modelrun", "ai.scriptexecute", "ai.scriptrun",
    "ai.dagexecute", "ai.dagrun", "ai.config",
})
_STATE_TTL: Final = frozenset({"set", "setex", "psetex", "restore"})
_TTL_ONLY: Final = frozenset({"expire", "pexpire", "getex"})


def tensorset_argv(key: bytes, t: Tensor) -> list[bytes]:
    """AI.TENSORSET that recreates ``t`` at ``key``."""
    return [b"AI.TENSORSET", key, t.dtype.name.encode(),
            *[b"%d" % d for d in t.shape], b"BLOB", t.blob]


class _ReplayClient(InternalClient):
    """The client a log is replayed as."""

    __slots__ = ()
    label = "aof"


class Aof:
    """One server's log (loop thread, but for the everysec fsync thread)."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.fd = -1
        self.buf: list[bytes] = []
        self.db = -1  # the database the log's last SELECT chose
        self.in_multi = False
        self.error = ""  # the last failed write (everysec / no): writes get MISCONF
        self.unsynced = False  # written but not fsynced (everysec)
        self.last_fsync = time.monotonic()
        self.size = 0
        self.base_size = 0  # size after the last rewrite (INFO aof_base_size)
        self.rewrite_buf: list[bytes] | None = None  # fed while a rewrite runs
        self.rewriting: threading.Thread | None = None
        self.rewrite_started = 0.0
        self.rewrites = 0
        self.last_rewrite_ok = True
        self.last_rewrite_seconds = -1
        self.rewrite_scheduled = False
        self.closed = False
        # appendfsync always: replies held until this iteration's write + fsync.
        self.parked: list[tuple[Any, list[bytes]]] = []
        self._parked_ids: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str:
        return os.path.join(self.server.config.dir, self.server.config.appendfilename)

    # -- start and stop --------------------------------------------------------------------
    def create(self) -> None:
        """At start with no log file: write one whose base is the keyspace as loaded (a
        snapshot, or nothing), so a later restart from the log alone loses nothing. A
        log may be a snapshot alone: the commands that follow are appended to it."""
        from .persistence import Persistence

        persistence = self.server.persistence
        assert isinstance(persistence, Persistence)
        write_snapshot(self.path, persistence.entries())
        self.open()

    def open(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self.fd).st_size
        if self._thread is None:  # fsyncs only what everysec left unsynced
            self._thread = threading.Thread(target=self._fsync_loop, name="ts-aof-fsync",
                                            daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.closed = True
        if self.parked:
            self._release()
        if self.fd >= 0:
            self.flush()
            try:
                os.fsync(self.fd)
            except OSError as e:
                log.warning("fsync of the append-only file at shutdown failed: %s", e)
            os.close(self.fd)
            self.fd = -1

    def load(self) -> int:
        """Replay the log into the keyspace; the number of commands applied. A command
        cut off at the end is dropped (the file is truncated there, with a log line);
        garbage anywhere else raises AofError: the server must not start."""
        path = self.path
        if not os.path.exists(path):
            return 0
        from ._dispatch import execute  # dispatch imports this module's hooks
        from .persistence import Persistence

        persistence = self.server.persistence
        assert isinstance(persistence, Persistence)
        client = _ReplayClient(self.server)
        client.authenticated = True
        dbs = self.server.keyspace.dbs
        n = 0
        start = time.monotonic()
        multi_at = -1  # offset of an open MULTI: dropped if the log ends inside it
        valid_end = -1
        with open(path, "rb") as f:
            try:
                for offset, item in read_aof(f, path, persistence.revive):
                    if isinstance(item, tuple):  # a preamble entry
                        db, key, expire, value = item
                        if not 0 <= expire <= now_ms():
                            dbs[db].data[key] = value
                            if expire >= 0:
                                dbs[db].expires[key] = expire
                        continue
                    word = item[0].upper()
                    if word == b"MULTI":
                        multi_at = offset
                    elif word == b"EXEC":
                        multi_at = -1
                    reply = execute(client, item)
                    if isinstance(reply, ReplyError) and word not in (b"MULTI", b"EXEC"):
                        log.warning("append-only log: %r at offset %d answered %s",
                                    item[0], offset, reply)
                    n += 1
                valid_end = f.tell()
            except AofTail as tail:
                valid_end = tail.offset
        if multi_at >= 0:  # a transaction the crash cut off: not applied, and dropped
            log.warning("append-only log ends inside MULTI at offset %d: dropping it",
                        multi_at)
            if client.multi is not None:
                client.multi = None
            valid_end = min(valid_end, multi_at)
        if valid_end < os.path.getsize(path):
            log.warning("append-only log %s is truncated: its last command, from offset %d, "
                        "is incomplete and was dropped (aof-load-truncated yes)",
                        path, valid_end)
            os.truncate(path, valid_end)
        self.server.keyspace.dirty = 0
        log.info("DB loaded from append only file: %d commands in %.3f seconds", n,
                 time.monotonic() - start)
        return n

    # -- feeding ---------------------------------------------------------------------------
    def feed(self, db: int, argv: list[bytes]) -> None:
        if db != self.db:
            select = encode_command([b"SELECT", b"%d" % db])
            self.buf.append(select)
            if self.rewrite_buf is not None:
                self.rewrite_buf.append(select)
            self.db = db
        data = encode_command(argv)
        self.buf.append(data)
        if self.rewrite_buf is not None:
            self.rewrite_buf.append(data)

    def feed_command(self, c: ClientState, spec: CommandSpec, argv: list[bytes],
                     reply: Any) -> None:
        """After ``spec`` changed data for ``c``: log what it did (see module doc)."""
        name = spec.name
        if name in _SELF_LOGGED:
            return
        db = c.db
        if c.in_exec and not self.in_multi:
            self.feed(db.id, [b"MULTI"])
            self.in_multi = True
        if name in _STATE_TTL or name in _TTL_ONLY:
            key = argv[1]
            value = db.data.get(key)
            if value is None:
                self.feed(db.id, [b"DEL", key])
                return
            if name in _STATE_TTL:
                if name == "restore":
                    from ..store.persistence import dump_payload
                    from .persistence import frozen_copy

                    self.feed(db.id, [b"RESTORE", key, b"0", dump_payload(frozen_copy(value)),
                                      b"REPLACE"])
                else:
                    self.feed(db.id, [b"SET", key, value])
            deadline = db.expires.get(key)
            if deadline is not None:
                self.feed(db.id, [b"PEXPIREAT", key, b"%d" % deadline])
            elif name in _TTL_ONLY:
                self.feed(db.id, [b"PERSIST", key])
            return
        popped = self.pop_argv(name, argv, reply)
        if popped is not None:
            if popped:
                self.feed(db.id, popped)
            return
        self.feed(db.id, argv)

    @staticmethod
    def pop_argv(name: str, argv: list[bytes], reply: Any) -> list[bytes] | None:
        """The deterministic form of a pop (SPOP, blocking pops) from its reply; None
        when ``name`` is not one of those ([] when it popped nothing)."""
        if name == "spop":
            members = [reply] if isinstance(reply, bytes) else list(reply or ())
            return [b"SREM", argv[1], *members] if members else []
        if name in ("blpop", "brpop"):
            if not reply:
                return []
            return [b"LPOP" if name == "blpop" else b"RPOP", reply[0]]
        if name == "brpoplpush":
            return [b"RPOPLPUSH", argv[1], argv[2]] if reply is not None else []
        if name == "blmove":
            return [b"LMOVE", *argv[1:5]] if reply is not None else []
        if name in ("blmpop", "bzmpop"):
            if not reply:
                return []
            key, items = reply[0], reply[1]
            where = _mpop_side(argv)
            if name == "blmpop":
                return [b"LPOP" if where == b"LEFT" else b"RPOP", key, b"%d" % len(items)]
            return [b"ZPOPMIN" if where == b"MIN" else b"ZPOPMAX", key, b"%d" % len(items)]
        if name in ("bzpopmin", "bzpopmax"):
            if not reply:
                return []
            return [b"ZPOPMIN" if name == "bzpopmin" else b"ZPOPMAX", reply[0]]
        return None

    def exec_done(self, c: ClientState) -> None:
        if self.in_multi:
            self.feed(c.db.id, [b"EXEC"])
            self.in_multi = False

    def feed_served(self, c: ClientState, argv: list[bytes] | None, reply: Any) -> None:
        """A blocked pop served later: log the pop it made."""
        if not argv:
            return
        popped = self.pop_argv(argv[0].decode("latin-1").lower(), argv, reply)
        if popped:
            self.feed(c.db.id, popped)

    def feed_expired(self, db: int, key: bytes) -> None:
        self.feed(db, [b"DEL", key])

    # -- writing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write what was fed (and fsync under ``always``): before any reply goes out."""
        if not self.buf or self.fd < 0:
            return
        data = b"".join(self.buf)
        policy = self.server.config.appendfsync
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
            if policy == "always":
                os.fsync(self.fd)
        except OSError as e:
            if policy == "always":
                # Never acknowledge a write that is not on disk (redis-server exits too).
                log.critical("Can't write to the append-only file with appendfsync always "
                             "(%s): exiting.", e)
                os._exit(1)
            # What did not reach the file is written by the next flush, right after
            # what did (O_APPEND): the log stays one contiguous stream.
            self.buf = [bytes(view)] if view else []
            self.size += len(data) - len(view)
            if not self.error:
                log.warning("Error writing to the append-only file: %s", e)
            self.error = str(e)
            self.server.refresh_disk_error()
            return
        self.buf.clear()
        self.size += len(data)
        if self.error:
            log.warning("append-only file written again: writes accepted again")
            self.error = ""
            self.server.refresh_disk_error()
        if policy == "everysec":
            self.unsynced = True

    def park(self, conn: Any, out: list[bytes]) -> bool:
        """Under ``always``, hold ``conn``'s replies until :meth:`_release` (end of this
        loop iteration) has written and fsynced the log; False to write them now."""
        if self.server.config.appendfsync != "always" or self.server.loop is None:
            return False
        if not self.buf and id(conn) not in self._parked_ids:
            return False
        if not self.parked:
            self.server.loop.call_soon(self._release)
        self.parked.append((conn, out))
        self._parked_ids.add(id(conn))
        return True

    def holds(self, conn: Any) -> bool:
        return id(conn) in self._parked_ids

    def _release(self) -> None:
        self.flush()  # exits the process if the log cannot be written
        parked, self.parked = self.parked, []
        self._parked_ids.clear()
        for conn, out in parked:
            conn.write_now(out)
            conn.released()

    def _fsync_loop(self) -> None:
        while not self._stop.wait(1.0):
            if self.unsynced and self.fd >= 0:
                self.unsynced = False
                try:
                    os.fsync(self.fd)
                    self.last_fsync = time.monotonic()
                except OSError as e:
                    log.warning("fsync of the append-only file failed: %s", e)
                    self.unsynced = True

    # -- rewriting -------------------------------------------------------------------------
    def rewrite(self) -> None:
        """BGREWRITEAOF: a new log whose base is a snapshot of the keyspace now (the same
        consistent copy BGSAVE takes, written by a thread) followed by the writes fed
        meanwhile; it replaces the old log when complete."""
        if self.rewriting is not None:
            raise ReplyError("Background append only file rewriting already in progress")
        from .persistence import Persistence

        persistence = self.server.persistence
        assert isinstance(persistence, Persistence)
        entries = persistence.entries()
        self.flush()  # everything before the copy is in the old log
        # The new log's tail starts in a known database.
        self.rewrite_buf = ([encode_command([b"SELECT", b"%d" % self.db])]
                            if self.db >= 0 else [])
        loop = self.server.loop
        path = self.path
        tmp = os.path.join(os.path.dirname(path), f"temp-rewriteaof-bg-{os.getpid()}.aof")
        self.rewrite_started = time.monotonic()

        def work() -> None:
            error: BaseException | None = None
            try:
                with open(tmp, "wb", buffering=1 << 20) as f:
                    write_entries(f, entries)
                    f.flush()
                    os.fsync(f.fileno())
            except Exception as e:
                error = e
            if loop is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._rewrite_done, tmp, error)
                    return
            self._rewrite_done(tmp, error)

        self.rewriting = threading.Thread(target=work, name="ts-aof-rewrite", daemon=True)
        log.info("Background append only file rewriting started")
        self.rewriting.start()

    def _rewrite_done(self, tmp: str, error: BaseException | None) -> None:
        # Loop thread: append what was fed meanwhile, then swap the files.
        self.rewriting = None
        tail, self.rewrite_buf = self.rewrite_buf or [], None
        self.last_rewrite_seconds = int(time.monotonic() - self.rewrite_started)
        if self.closed:  # appendonly was turned off meanwhile
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        first = self.fd < 0  # turned on at run time: the base is the first log
        if error is None:
            try:
                self.flush()
                with open(tmp, "ab") as f:
                    for chunk in tail:
                        f.write(chunk)
                    f.flush()
                    os.fsync(f.fileno())
                    size = f.tell()
                os.replace(tmp, self.path)
                fsync_dir(self.path)
                old, self.fd = self.fd, -1
                self.open()
                if old >= 0:
                    os.close(old)
                if first:
                    self.buf.clear()  # the same commands as the tail just written
                self.base_size = self.size = size
            except OSError as e:
                error = e
        if error is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self.last_rewrite_ok = False
            log.warning("Background append only file rewriting error: %s", error)
        else:
            self.last_rewrite_ok = True
            self.rewrites += 1
            log.info("Background AOF rewrite finished successfully")
        if self.rewrite_scheduled:
            self.rewrite_scheduled = False
            self.rewrite()

    def misconf(self) -> ReplyError | None:
        if self.error:
            return MisconfError(f"Errors writing to the AOF file: {self.error}")
        return None


def _mpop_side(argv: list[bytes]) -> bytes:
    """LEFT / RIGHT / MIN / MAX of ``B(L|Z)MPOP timeout numkeys key... <side> ...`` (it
    ran, so the arguments are well formed; a key may itself be called "left")."""
    return argv[3 + int(argv[2])].upper()


def _aof_of(c: ClientState) -> Aof:
    aof = c.server.aof
    if aof is None:
        raise ReplyError("Background append only file rewriting is not possible: "
                         "appendonly is no")
    return aof


@command("bgrewriteaof", 1, "admin noscript no_multi", group="server", since="1.0.0",
         summary="Asynchronously rewrites the append-only file to disk.", complexity="O(1)",
         acl=("@admin", "@slow", "@dangerous"))
def bgrewriteaof(c: ClientState, argv: list[bytes]) -> Any:
    aof = _aof_of(c)
    p = c.server.persistence
    if aof.rewriting is not None:
        raise ReplyError("Background append only file rewriting already in progress")
    if p is not None and p.in_progress:
        aof.rewrite_scheduled = True
        return _SCHEDULED
    aof.rewrite()
    return _STARTED


_STARTED: Final = Raw(b"+Background append only file rewriting started\r\n")
_SCHEDULED: Final = Raw(b"+Background append only file rewriting scheduled\r\n")


def switch(server: ServerState, on: bool) -> None:
    """CONFIG SET appendonly: on starts a log whose base is written in the background
    (writes meanwhile are kept and appended to it); off flushes and closes the log."""
    if on == (server.aof is not None):
        return
    if on:
        aof = Aof(server)
        server.aof = aof
        server.keyspace.on_expired = aof.feed_expired
        aof.rewrite()
        return
    old = server.aof
    assert old is not None
    server.aof = None
    server.keyspace.on_expired = None
    old.close()
    server.refresh_disk_error()
