"""Unit tests of the maxmemory accounting (store/_memory.py): the estimator, and the
incremental count kept by the Database write methods against a recount from scratch."""

from __future__ import annotations

import sys
from collections import deque
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorserve.store import Keyspace, ZSet, now_ms
from tensorserve.store._memory import (
    ACCESS_OVERHEAD,
    BYTES_OVERHEAD,
    KEY_OVERHEAD,
    LFU_INIT_VAL,
    SIZE_RECORD,
    Accounting,
    entry_size,
    lfu_decay,
    value_size,
)
from tensorserve.store.dtypes import DTYPES
from tensorserve.store.tensor import Tensor


def _recount(ks: Keyspace, extra: int = SIZE_RECORD) -> int:
    return sum(entry_size(k, v) + extra for db in ks.dbs for k, v in db.data.items())


def test_string_entry_is_key_plus_value_plus_overheads() -> None:
    assert entry_size(b"key", b"value") == KEY_OVERHEAD + 3 + BYTES_OVERHEAD + 5
    assert value_size(b"x" * 1000) == sys.getsizeof(b"x" * 1000)


def test_containers_sample_their_elements() -> None:
    small = deque([b"a"] * 10)
    big = deque([b"a" * 100] * 5 + [b"b"] * 995)
    # Sampling the first 5 (all 100 bytes) extrapolates to 1000 such elements.
    assert value_size(big) == sys.getsizeof(big) + 1000 * (BYTES_OVERHEAD + 100)
    # All of them with samples=0 (MEMORY USAGE ... SAMPLES 0).
    assert value_size(big, 0) == sys.getsizeof(big) + 5 * 133 + 995 * 34
    assert value_size(small) == sys.getsizeof(small) + 10 * 34
    h = {b"f%d" % i: b"v" * 10 for i in range(100)}
    assert value_size(h) > sys.getsizeof(h) + 100 * (2 * BYTES_OVERHEAD + 10)
    z = ZSet()
    for i in range(100):
        z.add(b"m%d" % i, float(i))
    assert value_size(z) > sys.getsizeof(z.dict) + 100 * (BYTES_OVERHEAD + 24 + 56)


def test_tensor_size_follows_its_data() -> None:
    t = Tensor.from_blob(DTYPES["FLOAT"], (256, 256), np.zeros(65536, np.float32).tobytes())
    assert 65536 * 4 < value_size(t) < 65536 * 4 + 1000
    s = Tensor.from_blob(DTYPES["STRING"], (3,), b"ab\0cd\0ef\0")
    assert value_size(s) > 3 * (BYTES_OVERHEAD + 8)


def test_lfu_counter_decays_per_period() -> None:
    word = 100 << 8 | 20
    assert lfu_decay(word, 1, 100) == 20
    assert lfu_decay(word, 1, 103) == 17
    assert lfu_decay(word, 2, 103) == 19
    assert lfu_decay(word, 0, 200) == 20  # decay off
    assert lfu_decay(word, 1, 500) == 0
    assert lfu_decay(0xFFFF << 8 | 9, 1, 2) == 7  # the 16-bit clock wraps (as LFUTimeElapsed)


def test_attach_counts_what_is_there_and_detach_stops() -> None:
    ks = Keyspace(2)
    ks.dbs[0].set(b"a", b"1")
    ks.dbs[1].set(b"b", deque([b"x", b"y"]))
    acct = Accounting(True, None)
    acct.attach(ks)
    assert acct.used == _recount(ks)
    Accounting.detach(ks)
    ks.dbs[0].set(b"c", b"2")
    assert acct.used == _recount(ks) - entry_size(b"c", b"2") - SIZE_RECORD


def test_check_recounts_a_database_filled_directly() -> None:
    ks = Keyspace(1)
    acct = Accounting(True, "lru")
    acct.attach(ks)
    ks.dbs[0].data[b"loaded"] = b"by a loader"  # as the snapshot loader does
    acct.check(ks)
    assert acct.used == _recount(ks, SIZE_RECORD + ACCESS_OVERHEAD)
    assert b"loaded" in ks.dbs[0].mem.access  # type: ignore[union-attr]


def test_lfu_touch_counts_and_new_keys_start_at_init() -> None:
    ks = Keyspace(1)
    Accounting(False, "lfu").attach(ks)
    db = ks.dbs[0]
    db.set(b"k", b"v")
    mem = db.mem
    assert mem is not None
    assert mem.frequency(b"k") == LFU_INIT_VAL
    mem.touch(b"k")
    assert mem.frequency(b"k") == LFU_INIT_VAL + 1
    db.set(b"k", b"overwritten")  # an overwrite keeps the counter (redis 7's dbSetValue)
    assert mem.frequency(b"k") == LFU_INIT_VAL + 1
    db.delete(b"k")
    assert b"k" not in mem.access


_KEYS = st.sampled_from([b"k%d" % i for i in range(6)])
_OPS = st.lists(
    st.tuples(st.sampled_from(["set", "mset", "setex", "delete", "evict", "rpush", "lpop",
                               "hset", "hdel", "sadd", "zadd", "rename", "move", "flush",
                               "expire_now", "getlookup"]),
              _KEYS, _KEYS, st.binary(max_size=40)),
    max_size=60,
)


def _apply(ks: Keyspace, op: str, k1: bytes, k2: bytes, v: bytes) -> None:
    db = ks.dbs[0]
    if op == "set":
        db.set(k1, v)
    elif op == "mset":
        db.set_pairs([b"MSET", k1, v, k2, v + v])
    elif op == "setex":
        db.set_with_expire(k1, v, now_ms() + 60_000)
    elif op == "delete":
        db.delete(k1)
    elif op == "evict":
        db.evict(k1)
    elif op in ("rpush", "lpop", "hset", "hdel", "sadd", "zadd"):
        cls: Any = {"rpush": deque, "lpop": deque, "hset": dict, "hdel": dict,
                    "sadd": set, "zadd": ZSet}[op]
        value = db.lookup(k1)
        if value is not None and value.__class__ is not cls:
            return
        if value is None:
            if op in ("lpop", "hdel"):
                return
            value = cls()
            db.data[k1] = value  # as ZADD does: inserted, then modified() signals it
        if op == "rpush":
            value.append(v)
        elif op == "lpop":
            value.popleft()
        elif op == "hset":
            value[k2] = v
        elif op == "hdel":
            value.pop(k2, None)
        elif op == "sadd":
            value.add(v)
        else:
            value.add(v, float(len(v)))
        db.changed(k1, value)
    elif op == "rename":
        value, deadline = db.take(k1)
        if value is not None:
            db.delete(k2)
            db.add(k2, value, deadline)
    elif op == "move":
        value, deadline = db.take(k1)
        if value is not None:
            ks.dbs[1].delete(k1)
            ks.dbs[1].add(k1, value, deadline)
    elif op == "flush":
        db.flush()
    elif op == "expire_now":
        if db.lookup(k1) is not None:
            db.set_expire(k1, now_ms() - 1)
    else:
        db.lookup(k1)


@settings(max_examples=200, deadline=None)
@given(_OPS, st.sampled_from([None, "lru", "lfu"]))
def test_incremental_count_equals_a_recount(ops: list[tuple[str, bytes, bytes, bytes]],
                                            track: str | None) -> None:
    ks = Keyspace(2)
    acct = Accounting(True, track)
    acct.attach(ks)
    extra = SIZE_RECORD + (ACCESS_OVERHEAD if track else 0)
    for op in ops:
        _apply(ks, *op)
        assert acct.used == _recount(ks, extra)
        for db in ks.dbs:
            assert db.mem is not None
            assert set(db.mem.sizes) == set(db.data)
            if track:
                assert set(db.mem.access) == set(db.data)
