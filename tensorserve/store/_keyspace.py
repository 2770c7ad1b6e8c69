"""The keyspace: numbered databases of typed values, with expiry and change hooks.

Values are held in their plainest Python form so a million small keys stay small:

=========  ====================================  ===================
Redis type Python value                          ``TYPE`` reply
=========  ====================================  ===================
string     ``bytes``                             string
hash       ``dict[bytes, bytes]``                hash
list       ``collections.deque[bytes]``          list
set        ``set[bytes]``                        set
zset       :class:`~tensorserve.store.ZSet`      zset
=========  ====================================  ===================

Later value types (tensors, models, scripts) register themselves in :data:`TYPE_NAMES`.
Only the event-loop thread reads or mutates a Database.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ..errors import WrongTypeError
from ._zset import ZSet

if TYPE_CHECKING:
    from ._memory import DbMemory

__all__ = ["TYPE_NAMES", "Database", "Keyspace", "Shared", "now_ms", "type_name"]

T = TypeVar("T")

class Shared:
    """Base of immutable values (tensors, models, scripts): COPY and copy.deepcopy
    share the object instead of duplicating it. A model's or script's statistics are
    then counted in one place for both keys."""

    __slots__ = ()

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return self


# Python class of a value -> the name TYPE answers. Other modules add their types here.
TYPE_NAMES: Final[dict[type, str]] = {
    bytes: "string",
    dict: "hash",
    deque: "list",
    set: "set",
    ZSet: "zset",
}


def type_name(value: object) -> str:
    return TYPE_NAMES.get(type(value), "none")


def now_ms() -> int:
    return int(time.time() * 1000)


class Database:
    """One numbered database: ``data`` holds the values, ``expires`` absolute ms deadlines."""

    __slots__ = ("_expire_pos", "_expire_walk", "data", "expires", "id", "keyspace", "mem")

    def __init__(self, keyspace: Keyspace, index: int) -> None:
        self.id = index
        self.keyspace = keyspace
        self.data: dict[bytes, Any] = {}
        self.expires: dict[bytes, int] = {}
        # Per-key sizes and LRU / LFU data while maxmemory or such a policy is set
        # (store/_memory.py); None otherwise: the write methods' only cost is that test.
        self.mem: DbMemory | None = None
        # active_expire's round-robin walk over a snapshot of the volatile keys.
        self._expire_walk: list[bytes] | None = None
        self._expire_pos = 0

    def __len__(self) -> int:
        return len(self.data)

    # -- reading ---------------------------------------------------------------------
    def lookup(self, key: bytes) -> Any:
        """The live value at ``key`` or None; an expired key is deleted on the way."""
        expires = self.expires
        if expires:
            deadline = expires.get(key)
            if deadline is not None and deadline <= now_ms():
                self._expire(key)
                return None
        return self.data.get(key)

    def get_typed(self, key: bytes, cls: type[T]) -> T | None:
        """The value at ``key`` if it is a ``cls``; None when missing; WRONGTYPE otherwise."""
        value = self.lookup(key)
        if value is None:
            return None
        if value.__class__ is not cls:
            raise WrongTypeError()
        return value

    def exists(self, key: bytes) -> bool:
        return self.lookup(key) is not None

    def expire_at(self, key: bytes) -> int | None:
        """The absolute deadline (ms since the epoch) of ``key``, or None without one."""
        return self.expires.get(key) if self.expires else None

    def ttl_ms(self, key: bytes) -> int | None:
        """Milliseconds to live, or None when the key has no expiry (caller checks existence)."""
        deadline = self.expires.get(key)
        if deadline is None:
            return None
        return max(0, deadline - now_ms())

    # -- writing ---------------------------------------------------------------------
    def set(self, key: bytes, value: Any, keep_ttl: bool = False) -> None:
        """Store ``value`` (replacing any type). Drops the TTL unless ``keep_ttl``."""
        self.data[key] = value
        if not keep_ttl and self.expires:
            self.expires.pop(key, None)
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        ks.dirty += 1
        if self.mem is not None:
            self.mem.store(key, value)

    def set_pairs(self, argv: list[bytes], start: int = 1) -> None:
        """MSET: store ``argv[start], argv[start+1], ...`` as key/value pairs, dropping TTLs.

        One call instead of one :meth:`set` per pair: the method calls were a third of
        MSET's cost."""
        data = self.data
        expires = self.expires
        n = len(argv)
        for i in range(start, n - 1, 2):
            data[argv[i]] = argv[i + 1]
        if expires:
            for i in range(start, n - 1, 2):
                expires.pop(argv[i], None)
        ks = self.keyspace
        if ks.watched:
            for i in range(start, n - 1, 2):
                ks.touch(self.id, argv[i])
        ks.dirty += (n - start) // 2
        if self.mem is not None:
            for i in range(start, n - 1, 2):
                self.mem.store(argv[i], argv[i + 1])

    def delete(self, key: bytes) -> bool:
        """Remove ``key``; True if it existed (and had not expired)."""
        if self.expires and key in self.expires:
            if self.expires[key] <= now_ms():
                self._expire(key)
                return False
            del self.expires[key]
        if self.data.pop(key, None) is None:
            return False
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        ks.dirty += 1
        if self.mem is not None:
            self.mem.drop(key)
        return True

    def evict(self, key: bytes) -> bool:
        """Remove ``key`` to free memory (maxmemory): as :meth:`delete`, but ``dirty``
        does not move (redis-server's performEvictions counts no change either)."""
        value = self.data.pop(key, None)
        if self.expires:
            self.expires.pop(key, None)
        if value is None:
            return False
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        if self.mem is not None:
            self.mem.drop(key)
        return True

    def take(self, key: bytes) -> tuple[Any, int | None]:
        """Remove ``key`` and return its live value and deadline ((None, None) if missing).

        RENAME and MOVE carry both to the new place with :meth:`add`."""
        value = self.lookup(key)
        if value is None:
            return None, None
        del self.data[key]
        deadline = self.expires.pop(key, None) if self.expires else None
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        ks.dirty += 1
        if self.mem is not None:
            self.mem.drop(key)
        return value, deadline

    def modified(self, key: bytes) -> None:
        """Call after changing a container value in place (LPUSH, HSET, ZADD ...)."""
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        if ks.on_modified:
            ks.notify_modified(self.id, key)
        ks.dirty += 1
        if self.mem is not None:
            self.mem.update(key, self.data.get(key))

    def changed(self, key: bytes, value: Any) -> None:
        """After changing container ``value`` in place: signal it (see ``modified``) and,
        as Redis does, delete the key when the container became empty."""
        self.modified(key)
        if not value:
            self.remove_if_empty(key, value)

    def remove_if_empty(self, key: bytes, value: Any) -> None:
        """Redis deletes containers that become empty."""
        if not value:
            self.data.pop(key, None)
            if self.expires:
                self.expires.pop(key, None)
            if self.mem is not None:
                self.mem.drop(key)

    def set_with_expire(self, key: bytes, value: Any, deadline_ms: int) -> None:
        """Store ``value`` with an absolute deadline (SET EX / SETEX): one change, not two."""
        self.data[key] = value
        self.expires[key] = deadline_ms
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        ks.dirty += 1
        if self.mem is not None:
            self.mem.store(key, value)

    def add(self, key: bytes, value: Any, deadline_ms: int | None = None) -> None:
        """Store ``value`` at a key known to be free (RENAME, COPY, MOVE targets).

        Like redis's dbAdd it also wakes clients blocked on the key (a list renamed onto
        a key someone BLPOPs)."""
        self.data[key] = value
        if deadline_ms is not None:
            self.expires[key] = deadline_ms
        elif self.expires:
            self.expires.pop(key, None)
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        if ks.on_modified and value.__class__ is not bytes:
            ks.notify_modified(self.id, key)
        ks.dirty += 1
        if self.mem is not None:
            self.mem.store(key, value)

    def set_expire(self, key: bytes, deadline_ms: int) -> None:
        self.expires[key] = deadline_ms
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        ks.dirty += 1

    def persist(self, key: bytes) -> bool:
        if self.expires.pop(key, None) is None:
            return False
        ks = self.keyspace
        if ks.watched:
            ks.touch(self.id, key)
        ks.dirty += 1
        return True

    def flush(self) -> None:
        ks = self.keyspace
        if ks.watched:
            for key in list(self.data):
                ks.touch(self.id, key)
        ks.dirty += len(self.data)
        self.data = {}
        self.expires = {}
        self._expire_walk = None
        if self.mem is not None:
            self.mem.clear()

    def _expire(self, key: bytes) -> None:
        self.data.pop(key, None)
        del self.expires[key]
        if self.mem is not None:
            self.mem.drop(key)
        ks = self.keyspace
        ks.expired_keys += 1
        if ks.watched:
            ks.touch(self.id, key)
        if ks.on_expired is not None:
            ks.on_expired(self.id, key)

    # -- iteration -------------------------------------------------------------------
    def random_key(self) -> bytes | None:
        for _ in range(100):
            if not self.data:
                return None
            key = random.choice(list(self.data)) if len(self.data) < 64 else self._sample()
            if self.lookup(key) is not None:
                return key
        return None

    def _sample(self) -> bytes:
        # dict has no O(1) random access; skipping a random prefix of the key iterator is
        # O(n) in the worst case but keeps memory flat. islice skips in C (~10x faster
        # than a Python loop: ~3 ms for 1M keys). RANDOMKEY is not a hot command.
        return next(islice(self.data, random.randrange(len(self.data)), None))

    def active_expire(self, budget: int = 20) -> int:
        """Test up to ``budget`` volatile keys, deleting the expired; returns how many died.

        redis samples its expires dict at random; a Python dict cannot be sampled without
        copying it (O(n) per call: 1M volatile keys made every cron tick cost ~20 ms). So
        the keys are walked round-robin over a snapshot (8 bytes a key) taken once per full
        pass: O(1) amortised per key tested, and every key is tested once per pass."""
        expires = self.expires
        if not expires:
            self._expire_walk = None
            return 0
        walk = self._expire_walk
        pos = self._expire_pos
        if walk is None or pos >= len(walk):
            walk = self._expire_walk = list(expires)
            pos = 0
        end = min(pos + budget, len(walk))
        now = now_ms()
        removed = 0
        for i in range(pos, end):
            key = walk[i]
            deadline = expires.get(key)
            if deadline is not None and deadline <= now:
                self._expire(key)
                removed += 1
        self._expire_pos = end
        if end >= len(walk):
            self._expire_walk = None  # drop the references before the next pass
        return removed


class Keyspace:
    """All databases plus the hooks commands need: WATCH invalidation and key-ready events."""

    __slots__ = (
        "dbs",
        "dirty",
        "expired_keys",
        "on_expired",
        "on_modified",
        "watched",
    )

    def __init__(self, databases: int = 16) -> None:
        self.dbs = [Database(self, i) for i in range(databases)]
        # (db, key) -> callbacks run when the key changes (WATCH). Empty dict = no cost.
        self.watched: dict[tuple[int, bytes], set[Callable[[], None]]] = {}
        # Called with (db, key) after in-place container changes (blocked list pops).
        self.on_modified: list[Callable[[int, bytes], None]] = []
        self.dirty = 0  # changes since the last save (rdb_changes_since_last_save)
        # Called with (db, key) when a key is deleted for having expired (the AOF's DEL).
        self.on_expired: Callable[[int, bytes], None] | None = None
        self.expired_keys = 0

    def touch(self, db: int, key: bytes) -> None:
        callbacks = self.watched.get((db, key))
        if callbacks:
            for cb in list(callbacks):
                cb()

    def notify_modified(self, db: int, key: bytes) -> None:
        for cb in self.on_modified:
            cb(db, key)

    def touch_all(self) -> None:
        for callbacks in list(self.watched.values()):
            for cb in list(callbacks):
                cb()

    def __iter__(self) -> Iterator[Database]:
        return iter(self.dbs)
