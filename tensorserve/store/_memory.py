"""Logical memory accounting: what each key costs, kept up to date while a limit is set.

RSS cannot drive eviction: it does not shrink when keys are deleted (the allocator keeps
freed memory for reuse), so a server evicting on RSS would empty itself. Instead, while
``maxmemory`` is set, each database keeps the estimated size of every key
(:class:`DbMemory`), adjusted by the :class:`~tensorserve.store.Database` write methods,
and one total (:class:`Accounting`), so "used memory" is O(1) to read. With no limit
and no LRU / LFU policy (the default) nothing here runs: ``Database.mem`` is None, one
attribute test per write.

Sizes are CPython's, measured (``sys.getsizeof`` and tracemalloc on 3.11, 64-bit):

* a key: its keyspace dict entry (~52 bytes at a typical fill) + the key's ``bytes``
  object (33 + len); 1M ``SET key:%07d val:%06d`` keys measure 141 B/key in RSS
  (bench/README.md), the estimate says 139;
* strings: 33 + len; tensors: the blob (33 + len) + the Tensor, its numpy view and
  shape (~300), STRING tensors also one ``bytes`` object and one pointer per element;
* hashes, lists, sets: the container's own ``sys.getsizeof`` (O(1): the table or the
  blocks) + its length x the average size of up to ``samples`` elements, as Redis's
  MEMORY USAGE samples nested values; sorted sets also count each member's score float,
  its (score, member) tuple and the SortedList slot;
* models: the blob twice (kept for AI.MODELGET / persistence, and the engine's loaded
  copy of the weights) + 64 KiB; scripts: 8 KiB + 16 bytes per source byte (a compiled
  TorchScript unit measured ~10 KB of RSS for a 122-byte function);
* the accounting's own records: 80 bytes a key for its size, 80 more for LRU / LFU data
  (``DbMemory.extra``; MEMORY USAGE includes them while they are kept).

Values shared between keys (COPY of a tensor or model shares the immutable object) are
counted once per key: the estimate errs on the side of evicting early.

LRU / LFU data live here too (``DbMemory.access``), kept only while such a policy is
selected: an LRU clock (``time.monotonic()`` at the last access: finer than Redis's
one-second clock, so keys written in the same second still order) or Redis's LFU word,
``minutes << 8 | counter`` (16-bit minutes of the last decrement, 8-bit logarithmic
counter, decay by ``lfu-decay-time``), with redis-server's LFULogIncr / LFUDecrAndReturn.
"""

from __future__ import annotations

import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from ._zset import ZSet
from .model import Model
from .script import Script
from .tensor import Tensor

if TYPE_CHECKING:
    from ._keyspace import Keyspace

__all__ = [
    "ACCESS_OVERHEAD",
    "LFU_INIT_VAL",
    "SIZE_RECORD",
    "Accounting",
    "DbMemory",
    "entry_size",
    "lfu_decay",
    "value_size",
]

KEY_OVERHEAD: Final = 52 + 33  # keyspace dict entry + the key's bytes header
BYTES_OVERHEAD: Final = 33  # sys.getsizeof(b"")
TENSOR_OVERHEAD: Final = 300  # Tensor + numpy view + shape tuple
STRING_ELEMENT: Final = 8 + 33  # STRING tensors: a pointer and a bytes header per element
ZSET_MEMBER: Final = 33 + 24 + 56 + 8  # member bytes, score float, (score, member), slot
ZSET_OVERHEAD: Final = 48 + 500  # ZSet + SortedList and its index lists
MODEL_OVERHEAD: Final = 64 * 1024
SCRIPT_OVERHEAD: Final = 8 * 1024
SCRIPT_PER_BYTE: Final = 16
# What the accounting itself adds per key: its size record (a dict entry + an int),
# and with LRU / LFU data, another dict entry + a float or an int.
SIZE_RECORD: Final = 52 + 28
ACCESS_OVERHEAD: Final = 52 + 28
DEFAULT_SAMPLES: Final = 5  # Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES
_STRING_ENTRY: Final = KEY_OVERHEAD + BYTES_OVERHEAD  # + len(key) + len(value)

LFU_INIT_VAL: Final = 5  # redis-server's: new keys start here so they are not evicted first

_getsizeof = sys.getsizeof
_monotonic = time.monotonic
_random = random.random


def _sampled(items: Iterable[Any], n: int, samples: int, size: Callable[[Any], int]) -> int:
    """``n`` x the average ``size`` of the first ``samples`` items (all when 0)."""
    if not n:
        return 0
    if samples <= 0 or n <= samples:
        return sum(map(size, items))
    return sum(map(size, islice(items, samples))) * n // samples


def _bytes_size(b: bytes) -> int:
    return BYTES_OVERHEAD + len(b)


def _pair_size(kv: tuple[bytes, bytes]) -> int:
    return 2 * BYTES_OVERHEAD + len(kv[0]) + len(kv[1])


def _member_size(m: bytes) -> int:
    return ZSET_MEMBER + len(m)


def _hash(v: dict[bytes, bytes], samples: int) -> int:
    return _getsizeof(v) + _sampled(iter(v.items()), len(v), samples, _pair_size)


def _list_or_set(v: deque[bytes] | set[bytes], samples: int) -> int:
    return _getsizeof(v) + _sampled(iter(v), len(v), samples, _bytes_size)


def _zset(v: ZSet, samples: int) -> int:
    d = v.dict
    return ZSET_OVERHEAD + _getsizeof(d) + _sampled(iter(d), len(d), samples, _member_size)


def _tensor(v: Tensor, samples: int) -> int:
    size = TENSOR_OVERHEAD + BYTES_OVERHEAD + len(v.blob)
    if v.dtype.kind == "string":  # the elements are bytes objects of their own too
        size += v.array.size * STRING_ELEMENT + len(v.blob)
    return size


def _model(v: Model, samples: int) -> int:
    return MODEL_OVERHEAD + 2 * len(v.blob)


def _script(v: Script, samples: int) -> int:
    return SCRIPT_OVERHEAD + SCRIPT_PER_BYTE * len(v.source)


# Python class of a value -> its estimator (value, samples) -> bytes.
_SIZERS: Final[dict[type, Callable[[Any, int], int]]] = {
    dict: _hash,
    deque: _list_or_set,
    set: _list_or_set,
    ZSet: _zset,
    Tensor: _tensor,
    Model: _model,
    Script: _script,
}


def value_size(value: Any, samples: int = DEFAULT_SAMPLES) -> int:
    """Estimated bytes held by ``value``; containers sample ``samples`` elements (0: all)."""
    if value.__class__ is bytes:
        return BYTES_OVERHEAD + len(value)
    sizer = _SIZERS.get(value.__class__)
    return sizer(value, samples) if sizer is not None else _getsizeof(value)


def entry_size(key: bytes, value: Any, samples: int = DEFAULT_SAMPLES) -> int:
    """What a key costs: its keyspace entry, the key itself and the value (MEMORY USAGE)."""
    if value.__class__ is bytes:  # the common case, without a call
        return _STRING_ENTRY + len(key) + len(value)
    return KEY_OVERHEAD + len(key) + value_size(value, samples)


# -- LFU (redis-server's evict.c) ---------------------------------------------------------
def lfu_minutes() -> int:
    """Minutes since the epoch, modulo 2**16 (LFUGetTimeInMinutes)."""
    return int(time.time() // 60) & 0xFFFF


def lfu_decay(word: int, decay_time: int, now_minutes: int) -> int:
    """The counter of LFU ``word`` after its decay periods (LFUDecrAndReturn)."""
    counter = word & 0xFF
    if not decay_time:
        return counter
    ldt = word >> 8
    elapsed = now_minutes - ldt if now_minutes >= ldt else 0xFFFF - ldt + now_minutes
    periods = elapsed // decay_time
    return counter - periods if periods < counter else 0


class Accounting:
    """The accounted dataset bytes of the whole keyspace and what per-key data to keep.

    ``track``: None, ``"lru"`` or ``"lfu"``; ``sizes``: whether bytes are counted
    (a memory limit is set). Either may be on alone."""

    __slots__ = ("lfu_decay_time", "lfu_log_factor", "minutes", "sizes", "track", "used")

    def __init__(self, sizes: bool, track: str | None, lfu_log_factor: int = 10,
                 lfu_decay_time: int = 1) -> None:
        self.used = 0
        self.sizes = sizes
        self.track = track
        self.lfu_log_factor = lfu_log_factor
        self.lfu_decay_time = lfu_decay_time
        # The LFU clock, refreshed by the server's cron (redis reads server.unixtime,
        # also cached): reading the time per access cost more than the rest of it.
        self.minutes = lfu_minutes()

    def attach(self, keyspace: Keyspace, keep_access: bool = False) -> None:
        """Give every database a :class:`DbMemory` counted over what it holds now
        (O(keys)); ``keep_access``: carry over the LRU / LFU data of the previous one."""
        self.used = 0
        for db in keyspace.dbs:
            old = db.mem
            mem = db.mem = DbMemory(self)
            if keep_access and old is not None:
                mem.access = old.access
            mem.rebuild(db.data)

    @staticmethod
    def detach(keyspace: Keyspace) -> None:
        for db in keyspace.dbs:
            db.mem = None

    def check(self, keyspace: Keyspace) -> None:
        """Recount any database whose key count disagrees with its accounting: the
        loaders (snapshot, append-only log preamble, DEBUG RELOAD) fill ``data``
        directly. O(databases)."""
        for db in keyspace.dbs:
            mem = db.mem
            if mem is not None and len(mem.sizes if mem.counting else mem.access) != len(db.data):
                mem.rebuild(db.data)


class DbMemory:
    """One database's per-key sizes and LRU / LFU data (see the module doc).

    The Database write methods call :meth:`store`, :meth:`update`, :meth:`drop` and
    :meth:`clear`; dispatch calls :meth:`touch` for the keys a command accesses. What
    to keep is copied from the :class:`Accounting` at creation (a change of limit or
    policy makes new ones), so the per-write path reads its own slots only."""

    __slots__ = ("access", "acct", "counting", "extra", "lru", "sizes", "tracking")

    def __init__(self, acct: Accounting) -> None:
        self.acct = acct
        self.counting = acct.sizes
        self.tracking = acct.track is not None
        self.lru = acct.track == "lru"
        # Added to every key's size while counting: what this bookkeeping costs.
        self.extra = SIZE_RECORD + (ACCESS_OVERHEAD if self.tracking else 0)
        self.sizes: dict[bytes, int] = {}
        self.access: dict[bytes, Any] = {}

    def _fresh(self) -> Any:
        if self.lru:
            return _monotonic()
        return self.acct.minutes << 8 | LFU_INIT_VAL

    def rebuild(self, data: dict[bytes, Any]) -> None:
        """Recount every key of ``data`` (the limit or the policy changed, or a loader
        wrote ``data`` directly). Access data of keys that have it is kept."""
        acct = self.acct
        acct.used -= sum(self.sizes.values())
        self.sizes = {}
        if self.counting:
            extra = self.extra
            self.sizes = sizes = {k: entry_size(k, v) + extra for k, v in data.items()}
            acct.used += sum(sizes.values())
        if self.tracking:
            old = self.access
            fresh = self._fresh()
            self.access = {k: old.get(k, fresh) for k in data}
        else:
            self.access = {}

    def store(self, key: bytes, value: Any) -> None:
        """``key`` now holds ``value`` (new, or replacing another value)."""
        if self.counting:
            if value.__class__ is bytes:
                new = _STRING_ENTRY + len(key) + len(value) + self.extra
            else:
                new = entry_size(key, value) + self.extra
            sizes = self.sizes
            self.acct.used += new - sizes.get(key, 0)
            sizes[key] = new
        if self.tracking and key not in self.access:
            self.access[key] = self._fresh()

    def update(self, key: bytes, value: Any) -> None:
        """The container at ``key`` changed in place (``value`` is None if it is gone)."""
        if value is None:
            self.drop(key)
        else:
            self.store(key, value)

    def drop(self, key: bytes) -> None:
        """``key`` was deleted (harmless if it was never counted)."""
        size = self.sizes.pop(key, None)
        if size is not None:
            self.acct.used -= size
        if self.access:
            self.access.pop(key, None)

    def clear(self) -> None:
        self.acct.used -= sum(self.sizes.values())
        self.sizes = {}
        self.access = {}

    def touch(self, key: bytes) -> None:
        """An access to existing ``key``: its LRU clock or LFU counter moves (redis's
        updateLFU: LFUDecrAndReturn then LFULogIncr, inlined: this runs per command)."""
        if self.lru:
            self.access[key] = _monotonic()
            return
        word = self.access.get(key)
        acct = self.acct
        now = acct.minutes
        if word is None:
            counter = LFU_INIT_VAL
        else:
            counter = word & 0xFF
            decay = acct.lfu_decay_time
            if decay:
                ldt = word >> 8
                periods = (now - ldt if now >= ldt else 0xFFFF - ldt + now) // decay
                if periods:
                    counter = counter - periods if periods < counter else 0
        if counter < 255:
            base = counter - LFU_INIT_VAL
            if base <= 0 or _random() < 1.0 / (base * acct.lfu_log_factor + 1):
                counter += 1
        self.access[key] = now << 8 | counter

    def idle_seconds(self, key: bytes) -> int:
        """OBJECT IDLETIME under an LRU policy."""
        last = self.access.get(key) if self.lru else None
        return 0 if last is None else int(_monotonic() - last)

    def frequency(self, key: bytes) -> int:
        """OBJECT FREQ under an LFU policy (the decayed counter, not incremented)."""
        word = self.access.get(key) if self.tracking and not self.lru else None
        if word is None:
            return LFU_INIT_VAL
        return lfu_decay(word, self.acct.lfu_decay_time, lfu_minutes())
