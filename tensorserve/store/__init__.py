"""Typed values and the keyspace; mutated on the event-loop thread only."""

from . import tensor  # noqa: F401  (registers AI_TENSOR in TYPE_NAMES)
from ._keyspace import TYPE_NAMES, Database, Keyspace, now_ms, type_name
from ._zset import ZSet

__all__ = ["TYPE_NAMES", "Database", "Keyspace", "ZSet", "now_ms", "type_name"]
