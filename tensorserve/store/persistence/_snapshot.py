"""Snapshot files: the whole keyspace, written safely, read strictly.

Format (version 1), little-endian::

    b"TSSNAPSHOT" u16 version
    record*            u32 length, payload, u32 crc32(payload)
      entry payload    b"E" u32 db, i64 expire_ms (-1: none), u64 key length, key, value
      end payload      b"Z" u64 number of entries

A value is :mod:`._codec`'s encoding. Every record has its own checksum, and the file
must end with the end record whose count matches, so a torn or corrupted file is
refused with the offset of the bad record instead of being half loaded.

Writing (:func:`write_snapshot`) goes to a temporary file in the target's directory,
is flushed and fsynced, atomically renamed over the target, and the directory is
fsynced, so a crash at any point leaves either the old snapshot or the new one.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, Final

from ._codec import CorruptValue, Reviver, decode_value, encode_value

__all__ = ["MAGIC", "SNAPSHOT_VERSION", "Entry", "SnapshotError", "fsync_dir",
           "read_snapshot", "read_snapshot_from", "write_entries", "write_snapshot"]

MAGIC: Final = b"TSSNAPSHOT"
SNAPSHOT_VERSION: Final = 1
_HEADER: Final = struct.Struct("<10sH")
_LEN: Final = struct.Struct("<I")
_ENTRY: Final = struct.Struct("<cIqQ")
_END: Final = struct.Struct("<cQ")
_MAX_RECORD: Final = 2**32 - 1

Entry = tuple[int, bytes, int, Any]  # db, key, expire_ms (-1: none), value


class SnapshotError(Exception):
    """A snapshot that cannot be loaded; the message names the file offset."""


def fsync_dir(path: str) -> None:
    """fsync the directory holding ``path`` (makes a rename durable)."""
    fd = os.open(os.path.dirname(os.path.abspath(path)) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _record(f: BinaryIO, payload: bytes) -> None:
    if len(payload) > _MAX_RECORD:
        raise ValueError("a value over 4 GiB cannot be saved")
    f.write(_LEN.pack(len(payload)))
    f.write(payload)
    f.write(_LEN.pack(zlib.crc32(payload)))


def write_entries(f: BinaryIO, entries: Iterable[Entry],
                  on_progress: Callable[[int], None] | None = None) -> None:
    """The snapshot of ``entries`` (header to end record) into the open file ``f``."""
    f.write(_HEADER.pack(MAGIC, SNAPSHOT_VERSION))
    n = 0
    for db, key, expire, value in entries:
        parts = [_ENTRY.pack(b"E", db, expire, len(key)), key]
        encode_value(value, parts)
        _record(f, b"".join(parts))
        n += 1
        if on_progress is not None:
            on_progress(n)
    _record(f, _END.pack(b"Z", n))


def write_snapshot(path: str, entries: Iterable[Entry],
                   on_progress: Callable[[int], None] | None = None) -> int:
    """Write ``entries`` to ``path`` atomically; returns the file's size in bytes."""
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                       f"temp-{os.getpid()}-{os.path.basename(path)}")
    try:
        with open(tmp, "wb", buffering=1 << 20) as f:
            write_entries(f, entries, on_progress)
            f.flush()
            os.fsync(f.fileno())
            size = f.tell()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(path)
    return size


def read_snapshot(path: str, revive: Reviver) -> Iterator[Entry]:
    """The entries of the snapshot at ``path``, checked record by record."""
    with open(path, "rb") as f:
        yield from read_snapshot_from(f, path, revive)


def read_snapshot_from(f: BinaryIO, path: str, revive: Reviver,
                       to_eof: bool = True) -> Iterator[Entry]:
    """The entries of the snapshot ``f`` is positioned at; with ``to_eof`` nothing may
    follow its end record (an append-only log's preamble is followed by commands)."""
    header = f.read(_HEADER.size)
    if len(header) < _HEADER.size or header[:len(MAGIC)] != MAGIC:
        raise SnapshotError(f"{path} is not a tensorserve snapshot (bad header at "
                            "offset 0)")
    _, version = _HEADER.unpack(header)
    if version != SNAPSHOT_VERSION:
        raise SnapshotError(f"{path} has snapshot version {version}; this server "
                            f"reads version {SNAPSHOT_VERSION}")
    n = 0
    while True:
        offset = f.tell()
        head = f.read(4)
        if len(head) < 4:
            raise SnapshotError(f"{path} is truncated at offset {offset} (no end "
                                "record)")
        (length,) = _LEN.unpack(head)
        payload = f.read(length)
        tail = f.read(4)
        if len(payload) < length or len(tail) < 4:
            raise SnapshotError(f"{path} is truncated at offset {offset}")
        if zlib.crc32(payload) != _LEN.unpack(tail)[0]:
            raise SnapshotError(f"{path}: bad checksum in the record at offset {offset}")
        kind = payload[:1]
        if kind == b"Z":
            if len(payload) != _END.size or _END.unpack(payload)[1] != n:
                raise SnapshotError(f"{path}: bad end record at offset {offset}")
            if to_eof and f.read(1):
                raise SnapshotError(f"{path}: data after the end record at offset "
                                    f"{f.tell() - 1}")
            return
        if kind != b"E" or len(payload) < _ENTRY.size:
            raise SnapshotError(f"{path}: bad record at offset {offset}")
        _, db, expire, klen = _ENTRY.unpack_from(payload)
        start = _ENTRY.size
        key = payload[start:start + klen]
        if len(key) != klen:
            raise SnapshotError(f"{path}: bad record at offset {offset}")
        try:
            value = decode_value(memoryview(payload)[start + klen:], revive, key)
        except CorruptValue as e:
            raise SnapshotError(f"{path}: bad value for key {key!r} at offset "
                                f"{offset}: {e}") from None
        n += 1
        yield db, key, expire, value
