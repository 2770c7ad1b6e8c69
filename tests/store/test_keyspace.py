"""Unit tests of Database: lazy and active expiry, take/add, change hooks."""

from __future__ import annotations

from collections import deque

import pytest

from tensorserve.errors import WrongTypeError
from tensorserve.store import Database, Keyspace, now_ms, type_name


@pytest.fixture
def db() -> Database:
    return Keyspace(2).dbs[0]


def test_lookup_deletes_expired_key(db: Database) -> None:
    db.set_with_expire(b"k", b"v", now_ms() - 1)
    assert db.lookup(b"k") is None
    assert b"k" not in db.data
    assert b"k" not in db.expires
    assert db.keyspace.expired_keys == 1


def test_lookup_keeps_live_key(db: Database) -> None:
    db.set_with_expire(b"k", b"v", now_ms() + 60_000)
    assert db.lookup(b"k") == b"v"
    assert db.expire_at(b"k") is not None


def test_get_typed_wrongtype(db: Database) -> None:
    db.set(b"l", deque([b"a"]))
    with pytest.raises(WrongTypeError):
        db.get_typed(b"l", bytes)
    assert db.get_typed(b"missing", bytes) is None


def test_set_drops_ttl_unless_kept(db: Database) -> None:
    db.set_with_expire(b"k", b"v", now_ms() + 60_000)
    db.set(b"k", b"w", keep_ttl=True)
    assert b"k" in db.expires
    db.set(b"k", b"x")
    assert b"k" not in db.expires


def test_take_and_add_carry_deadline(db: Database) -> None:
    deadline = now_ms() + 60_000
    db.set_with_expire(b"a", b"v", deadline)
    value, got = db.take(b"a")
    assert (value, got) == (b"v", deadline)
    assert b"a" not in db.data and b"a" not in db.expires
    other = db.keyspace.dbs[1]
    other.add(b"a", value, got)
    assert other.expire_at(b"a") == deadline
    assert db.take(b"a") == (None, None)


def test_add_wakes_blocked_clients_for_containers(db: Database) -> None:
    seen: list[tuple[int, bytes]] = []
    db.keyspace.on_modified.append(lambda i, k: seen.append((i, k)))
    db.add(b"s", b"string")
    db.add(b"l", deque([b"x"]))
    assert seen == [(0, b"l")]


def test_watch_callbacks_run_on_changes(db: Database) -> None:
    fired: list[int] = []
    db.keyspace.watched[(0, b"k")] = {lambda: fired.append(1)}
    db.set(b"k", b"v")
    db.set_expire(b"k", now_ms() + 1000)
    db.persist(b"k")
    db.take(b"k")
    assert len(fired) == 4


def test_active_expire_walks_all_volatile_keys(db: Database) -> None:
    past = now_ms() - 1
    for i in range(100):
        db.set_with_expire(b"dead%d" % i, b"v", past)
        db.set_with_expire(b"live%d" % i, b"v", past + 3_600_000)
    removed = 0
    for _ in range(10):  # 10 calls x 20 keys: one full pass over 200 volatile keys
        removed += db.active_expire(20)
    assert removed == 100
    assert len(db.data) == 100
    assert all(k.startswith(b"live") for k in db.data)


def test_active_expire_survives_deletes_between_calls(db: Database) -> None:
    past = now_ms() - 1
    for i in range(50):
        db.set_with_expire(b"k%d" % i, b"v", past)
    db.active_expire(10)
    db.flush()
    assert db.active_expire(10) == 0
    db.set_with_expire(b"x", b"v", past)
    assert db.active_expire(10) == 1


def test_delete_expired_key_returns_false(db: Database) -> None:
    db.set_with_expire(b"k", b"v", now_ms() - 1)
    assert db.delete(b"k") is False
    assert not db.data


def test_random_key_and_type_name(db: Database) -> None:
    assert db.random_key() is None
    db.set(b"a", b"1")
    assert db.random_key() == b"a"
    assert type_name(b"x") == "string"
    assert type_name(deque()) == "list"
    assert type_name(object()) == "none"
