"""Persistence: values to bytes (snapshots, DUMP payloads) and snapshot files.

No sockets and no engines here: a :class:`Reviver` from the command layer rebuilds
models and scripts from what was saved.
"""

from ._aof import AofError, AofTail, encode_command, read_aof
from ._codec import (
    DUMP_VERSION,
    CorruptValue,
    Reviver,
    decode_value,
    dump_payload,
    encode_value,
    restore_payload,
)
from ._snapshot import (
    MAGIC,
    SNAPSHOT_VERSION,
    Entry,
    SnapshotError,
    fsync_dir,
    read_snapshot,
    read_snapshot_from,
    write_entries,
    write_snapshot,
)

__all__ = [
    "DUMP_VERSION",
    "MAGIC",
    "SNAPSHOT_VERSION",
    "AofError",
    "AofTail",
    "CorruptValue",
    "Entry",
    "Reviver",
    "SnapshotError",
    "decode_value",
    "dump_payload",
    "encode_command",
    "encode_value",
    "fsync_dir",
    "read_aof",
    "read_snapshot",
    "read_snapshot_from",
    "restore_payload",
    "write_entries",
    "write_snapshot",
]
