"""Typed values and the keyspace; mutated on the event-loop thread only."""

from ._keyspace import TYPE_NAMES, Database, Keyspace, now_ms, type_name
from ._zset import ZSet

__all__ = ["TYPE_NAMES", "Database", "Keyspace", "ZSet", "now_ms", "type_name"]
