"""maxmemory: memory accounting on and off, eviction, and the OOM gate (redis 7.2 evict.c).

While ``maxmemory`` is 0 (the default) none of this runs: databases keep no sizes
(``Database.mem`` is None) and ``ServerState.memory_active`` is False. Setting a limit
(at start or with CONFIG SET) counts the keyspace once (store/_memory.py) and from then
on the Database write methods keep the count; ``used`` = a baseline (the process's RSS
when the server state was created, before any data: the interpreter, numpy, the command
table) + the accounted dataset. LRU / LFU policies also keep per-key access data,
touched for the keys each command names (so it is kept under an LRU / LFU policy even
without a limit, for OBJECT IDLETIME / FREQ, as redis-server). While either is on
(``memory_active``), dispatch's inlined fast path runs a batch only while used <=
maxmemory at its start (:meth:`MemoryLimit.fast_lookup`; under LRU / LFU with specs
that touch their keys first, :func:`touching_spec`); otherwise every command goes
through ``execute``, where :meth:`MemoryLimit.admit` runs before it, as redis-server's
processCommand calls performEvictions:

* used <= maxmemory: nothing to do (one comparison);
* else evict per ``maxmemory-policy`` until under the limit, within
  ``maxmemory-eviction-tenacity``'s time budget (Redis's: 50 us per step up to 10, then
  +15% a step); past it the command runs and eviction goes on from the event loop
  (evictionTimeProc);
* nothing could be evicted (noeviction, or volatile-* with no key that has a TTL):
  commands flagged ``denyoom`` get ``OOM command not allowed when used memory >
  'maxmemory'.``, as does anything but EXEC / DISCARD / QUIT / RESET inside MULTI (the
  rejection dooms the transaction: EXEC answers EXECABORT), and EXEC of a transaction
  that queued a ``denyoom`` command. Reads and DEL still run.

Selection is Redis's approximation: each round samples ``maxmemory-samples`` keys of
every database (from its keys, or from its keys with a TTL for volatile-*) into a pool
of the 16 best candidates kept across rounds (EVPOOL_SIZE), and evicts the best one
that still exists: LRU by idle time, LFU by the lowest decayed counter, TTL by the
nearest deadline; the random policies take a random key, database after database. A
Python dict cannot pick a random key in O(1), so samples come from a snapshot of the
key list (8 bytes a key) refreshed once enough writes or misses have made it stale:
O(1) amortised per write. The pool's scores are recomputed before each pick (a key
read since it was pooled is not evicted on its old idle time).

An evicted key is removed like a DEL but counts no change (``dirty``), as redis-server:
WATCH sees it, INFO stats ``evicted_keys`` counts it, and the append-only log gets a
DEL so a replay cannot resurrect it. Values are plain refcounted objects, so evicting
a model a run is using, or a tensor a reply is still sending, only drops the key.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import random
import resource
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import ExecAbortError, OomError, ReplyError
from ..store._memory import LFU_INIT_VAL, Accounting, lfu_decay, lfu_minutes
from ._client import InternalClient

if TYPE_CHECKING:
    from ..config import Config
    from ..store import Database
    from ._client import ClientState
    from ._server_state import ServerState
    from ._spec import CommandSpec

__all__ = ["EVPOOL_SIZE", "MemoryLimit", "process_rss", "touching_spec"]

log = logging.getLogger("tensorserve.server")

_monotonic: Final = time.monotonic

EVPOOL_SIZE: Final = 16  # redis-server's eviction pool
# maxmemory-policy -> (samples keys with a TTL only, how candidates are ranked).
_POLICIES: Final[dict[str, tuple[bool, str]]] = {
    "noeviction": (False, ""),
    "allkeys-lru": (False, "lru"),
    "allkeys-lfu": (False, "lfu"),
    "allkeys-random": (False, "random"),
    "volatile-lru": (True, "lru"),
    "volatile-lfu": (True, "lfu"),
    "volatile-random": (True, "random"),
    "volatile-ttl": (True, "ttl"),
}
# Commands that read a key without counting as an access (redis's LOOKUP_NOTOUCH).
_NO_TOUCH: Final = frozenset({
    "object|encoding", "object|freq", "object|idletime", "object|refcount", "type",
    "exists", "ttl", "pttl", "expiretime", "pexpiretime", "memory|usage",
})
# How touch finds a command's keys: none to touch, argv[1] alone, or spec.keys().
_NO_KEYS: Final = 0
_ONE_KEY: Final = 1
_KEY_SPEC: Final = 2


def _touch_plan(spec: CommandSpec) -> int:
    if spec.name in _NO_TOUCH or (spec.first_key <= 0 and spec.get_keys is None):
        return _NO_KEYS
    if spec.get_keys is None and spec.first_key == 1 and spec.last_key == 1:
        return _ONE_KEY
    return _KEY_SPEC


def touching_spec(spec: CommandSpec) -> CommandSpec:
    """``spec`` for dispatch's fast path under an LRU / LFU policy: its handler touches
    the keys first (what :func:`_dispatch.call` does on the general path). Same name,
    flags and statistics; ``spec`` itself when it names no key to touch."""
    from .client import NO_TOUCH  # called once the families are imported (build_table)

    plan = _touch_plan(spec)
    if plan == _NO_KEYS:
        return spec
    handler = spec.handler
    assert handler is not None

    def run(c: ClientState, argv: list[bytes]) -> Any:
        c.server.memory.touch(c, spec, argv)
        return handler(c, argv)

    def run_one_key(c: ClientState, argv: list[bytes]) -> Any:
        # The common case inlined (argv[1] exists: the fast path checked the arity).
        if not c.flags & NO_TOUCH:
            db = c.db
            mem = db.mem
            key = argv[1]
            if mem is not None and key in db.data:
                if mem.lru:
                    mem.access[key] = _monotonic()  # DbMemory.touch's LRU case, inlined
                else:
                    mem.touch(key)
        return handler(c, argv)

    one = plan == _ONE_KEY and spec.name != "touch"
    return dataclasses.replace(spec, handler=run_one_key if one else run, stats=spec.stats)


# What may still be sent inside MULTI while out of memory.
_MULTI_OOM_OK: Final = frozenset({"exec", "discard", "quit", "reset"})
# Databases this small are sampled from a fresh key list (exact, and cheap).
_SMALL: Final = 128

EVICT_OK: Final = 0
EVICT_RUNNING: Final = 1  # over the time budget: goes on from the event loop
EVICT_FAIL: Final = 2  # nothing left to evict


_PAGE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def process_rss() -> int:
    """The resident set size of this process, in bytes (peak RSS where /proc is not)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _time_limit_ns(tenacity: int) -> float:
    """redis-server's evictionTimeLimitUs, in ns (inf at 100)."""
    if tenacity <= 10:
        return 50_000.0 * tenacity
    if tenacity < 100:
        return 500_000.0 * 1.15 ** (tenacity - 10)
    return math.inf


class _Snapshot:
    """A database's key list to sample from, and how stale it has become."""

    __slots__ = ("dirty", "keys", "misses")

    def __init__(self, keys: list[bytes], dirty: int) -> None:
        self.keys = keys
        self.dirty = dirty
        self.misses = 0


class MemoryLimit:
    """One server's memory limit: accounting switch, eviction, the OOM gate."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.baseline = process_rss()  # before any data is loaded
        self.acct: Accounting | None = None
        self.limit = 0
        self.volatile = False
        self.kind = ""
        self.samples = 5
        self.time_limit_ns = 0.0
        # (db, key) -> score, at most EVPOOL_SIZE entries; higher = evict first.
        self.pool: dict[tuple[int, bytes], float] = {}
        self._snapshots: dict[tuple[int, bool], _Snapshot] = {}
        self._next_db = 0
        self._timer: Any = None
        self._cron_hooked = False
        self._tracking = False
        self._lru = False
        self._plans: dict[CommandSpec, int] = {}  # how touch finds a command's keys
        from .client import NO_TOUCH  # not at import: client.py imports what imports us

        self._no_touch = NO_TOUCH

    # -- configuration -----------------------------------------------------------------
    def configure(self, config: Config) -> None:
        """Apply maxmemory and its policy (start, CONFIG SET): accounting and access data
        are switched on (counted once over the keyspace) or off (dropped)."""
        server = self.server
        volatile, kind = _POLICIES[config.maxmemory_policy]
        track = kind if kind in ("lru", "lfu") else None
        sizes = config.maxmemory > 0
        old = self.acct
        old_limit = self.limit
        self.limit = config.maxmemory
        self.volatile, self.kind = volatile, kind
        self.samples = config.maxmemory_samples
        self.time_limit_ns = _time_limit_ns(config.maxmemory_eviction_tenacity)
        ks = server.keyspace
        if not sizes and track is None:
            if old is not None:
                Accounting.detach(ks)
            self.acct = None
        elif old is None or old.sizes != sizes or old.track != track:
            acct = Accounting(sizes, track, config.lfu_log_factor, config.lfu_decay_time)
            # Switching the limit on or off keeps the keys' access data, if any.
            acct.attach(ks, keep_access=old is not None and old.track == track)
            self.acct = acct
        else:
            old.lfu_log_factor = config.lfu_log_factor
            old.lfu_decay_time = config.lfu_decay_time
        if old is None or self.acct is None or old.track != self.acct.track:
            self.pool.clear()
        server.memory_active = self.acct is not None
        self._tracking = track is not None
        self._lru = track == "lru"
        if self.acct is not None and not self._cron_hooked:
            self._cron_hooked = True
            server.cron_jobs.append(self._cron)
        if sizes and self.used() > self.limit:
            if self.limit != old_limit:
                log.warning(
                    "WARNING: the new maxmemory value set via CONFIG SET (%d) is smaller "
                    "than the current memory usage (%d). This will result in key eviction "
                    "and/or the inability to accept new write commands depending on the "
                    "maxmemory-policy.", config.maxmemory, self.used())
            self._schedule()  # redis-server starts evicting at once (startEvictionTimeProc)

    # -- figures -----------------------------------------------------------------------
    @property
    def accounting(self) -> bool:
        """Whether dataset bytes are counted (a limit is set)."""
        return self.acct is not None and self.acct.sizes

    def dataset(self) -> int:
        return self.acct.used if self.acct is not None else 0

    def used(self) -> int:
        """used_memory as eviction sees it: the start-up baseline + the dataset."""
        return self.baseline + (self.acct.used if self.acct is not None else 0)

    def _cron(self) -> None:
        acct = self.acct
        if acct is not None:
            acct.minutes = lfu_minutes()
            acct.check(self.server.keyspace)

    # -- dispatch hooks ----------------------------------------------------------------
    def admit(self, c: ClientState, spec: CommandSpec) -> ReplyError | None:
        """Before a command (redis-server's processCommand): evict while over the limit;
        the OOM error if ``spec`` may not run, else None."""
        limit = self.limit
        acct = self.acct
        if not limit or acct is None or acct.used + self.baseline <= limit:
            return None
        if isinstance(c, InternalClient):
            return None  # the log's replay, a script's calls: their command was admitted
        if self.perform() != EVICT_FAIL:
            return None
        if "denyoom" in spec.flags:
            return OomError()
        name = spec.name
        if c.multi is not None and name not in _MULTI_OOM_OK:
            return OomError()
        if name == "exec" and c.multi and self._queued_denyoom(c.multi):
            # redis-server's rejectCommand for EXEC: execCommandAbort discards the
            # transaction and names the reason.
            from .transactions import unwatch_all

            c.multi = None
            c.dirty_exec = False
            unwatch_all(c)
            return ExecAbortError(f"Transaction discarded because of: {OomError()}")
        return None

    @staticmethod
    def _queued_denyoom(queued: list[list[bytes]]) -> bool:
        from ._dispatch import resolve

        for argv in queued:
            spec = resolve(argv)
            if not isinstance(spec, ReplyError) and "denyoom" in spec.flags:
                return True
        return False

    def touch(self, c: ClientState, spec: CommandSpec, argv: list[bytes]) -> None:
        """Before a command runs: the keys it names count as accessed (LRU / LFU)."""
        if not self._tracking:
            return
        plan = self._plans.get(spec)
        if plan is None:
            plan = self._plans[spec] = _touch_plan(spec)
        if not plan or (c.flags & self._no_touch and spec.name != "touch"):
            return
        db = c.db
        mem = db.mem
        if mem is None:
            return
        data = db.data
        if plan == _ONE_KEY:  # most commands: one key, at argv[1]
            if len(argv) > 1 and argv[1] in data:
                if self._lru:
                    mem.access[argv[1]] = _monotonic()
                else:
                    mem.touch(argv[1])
            return
        for key in spec.keys(argv):
            if key in data:
                mem.touch(key)

    def fast_lookup(self, plain: dict[bytes, CommandSpec], touching: dict[bytes, CommandSpec]
                    ) -> Callable[[bytes], CommandSpec | None] | None:
        """Dispatch's fast-path table for a batch (``_dispatch._fast_lookup``): none while
        over the limit, so every command goes through :meth:`admit`; under it the
        batch runs inlined and may overshoot the limit by what it writes, evicted
        before the next command that takes the general path (the next batch's first)."""
        acct = self.acct
        if self.limit and acct is not None and acct.used + self.baseline > self.limit:
            return None
        return touching.get if self._tracking else plain.get

    # -- eviction ----------------------------------------------------------------------
    def perform(self) -> int:
        """Evict until used <= maxmemory (performEvictions): EVICT_OK, EVICT_RUNNING (the
        time budget ran out; continued from the loop) or EVICT_FAIL."""
        acct = self.acct
        limit = self.limit
        if acct is None or not limit:
            return EVICT_OK
        baseline = self.baseline
        if acct.used + baseline <= limit:
            return EVICT_OK
        if not self.kind:
            return EVICT_FAIL
        start = time.perf_counter_ns()
        budget = self.time_limit_ns
        n = 0
        while acct.used + baseline > limit:
            found = self._pick_random() if self.kind == "random" else self._pick_best()
            if found is None:
                return EVICT_FAIL
            self._evict(*found)
            n += 1
            if not n & 15 and time.perf_counter_ns() - start > budget:
                if acct.used + baseline > limit:
                    self._schedule()
                    return EVICT_RUNNING
        return EVICT_OK

    def _schedule(self) -> None:
        loop = self.server.loop
        if loop is not None and self._timer is None:
            self._timer = loop.call_soon(self._go_on)

    def _go_on(self) -> None:
        self._timer = None
        if self.perform() == EVICT_RUNNING:
            self._schedule()
        aof = self.server.aof
        if aof is not None:
            aof.flush()

    def _evict(self, db: Database, key: bytes) -> None:
        if not db.evict(key):
            return
        server = self.server
        server.stats.evicted_keys += 1
        aof = server.aof
        if aof is not None:
            aof.feed(db.id, [b"DEL", key])

    def _source(self, db: Database) -> dict[bytes, Any]:
        return db.expires if self.volatile else db.data

    def _sample(self, db: Database, n: int) -> list[bytes]:
        """Up to ``n`` random keys of ``db``'s candidates (see the module doc)."""
        src = self._source(db)
        size = len(src)
        if size <= _SMALL:
            keys = list(src)
            return random.sample(keys, min(n, size))
        ident = (db.id, self.volatile)
        snap = self._snapshots.get(ident)
        dirty = db.keyspace.dirty
        # Stale once half its samples missed or as many writes as it has keys went by
        # (``dirty`` restarts at 0 after a save: that counts as stale too).
        if snap is None or snap.misses > len(snap.keys) // 2 or \
                not 0 <= dirty - snap.dirty <= len(snap.keys):
            snap = self._snapshots[ident] = _Snapshot(list(src), dirty)
        out: list[bytes] = []
        keys = snap.keys
        randrange = random.randrange
        m = len(keys)
        for _ in range(4 * n):
            key = keys[randrange(m)]
            if key in src:
                out.append(key)
                if len(out) >= n:
                    break
            else:
                snap.misses += 1
        if not out:  # stale through and through: start over from the live keys
            snap = self._snapshots[ident] = _Snapshot(list(src), dirty)
            out = [snap.keys[randrange(len(snap.keys))] for _ in range(n)]
        return out

    def _pick_random(self) -> tuple[Database, bytes] | None:
        dbs = self.server.keyspace.dbs
        for _ in range(len(dbs)):
            self._next_db = (self._next_db + 1) % len(dbs)
            db = dbs[self._next_db]
            if self._source(db):
                return db, self._sample(db, 1)[0]
        return None

    def _score(self, db: Database, key: bytes, now: float, minutes: int) -> float | None:
        """How good a candidate ``key`` is (higher: evict first); None once it is gone."""
        kind = self.kind
        if kind == "ttl":
            deadline = db.expires.get(key)
            return None if deadline is None else -float(deadline)
        if (db.expires if self.volatile else db.data).get(key) is None:
            return None
        mem = db.mem
        access = mem.access if mem is not None else {}
        if kind == "lru":
            return now - access.get(key, 0.0)
        acct = self.acct
        word = access.get(key, minutes << 8 | LFU_INIT_VAL)
        decay = acct.lfu_decay_time if acct is not None else 1
        return float(255 - lfu_decay(word, decay, minutes))

    def _pick_best(self) -> tuple[Database, bytes] | None:
        dbs = self.server.keyspace.dbs
        pool = self.pool
        now = time.monotonic()
        minutes = lfu_minutes()
        for _ in range(2):
            candidates = 0
            for db in dbs:
                src = self._source(db)
                if not src:
                    continue
                candidates += len(src)
                for key in self._sample(db, self.samples):
                    score = self._score(db, key, now, minutes)
                    if score is not None:
                        self._pool_insert((db.id, key), score)
            if not candidates:
                return None
            # Rescore what is pooled: keys read or deleted since they were sampled.
            for ident in list(pool):
                score = self._score(dbs[ident[0]], ident[1], now, minutes)
                if score is None:
                    del pool[ident]
                else:
                    pool[ident] = score
            if pool:
                best = max(pool, key=pool.__getitem__)
                del pool[best]
                return dbs[best[0]], best[1]
        return None

    def _pool_insert(self, ident: tuple[int, bytes], score: float) -> None:
        pool = self.pool
        if ident in pool or len(pool) < EVPOOL_SIZE:
            pool[ident] = score
            return
        worst = min(pool, key=pool.__getitem__)
        if score > pool[worst]:
            del pool[worst]
            pool[ident] = score

