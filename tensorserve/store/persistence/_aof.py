"""The append-only log's bytes: commands in RESP, optionally after a snapshot preamble.

A log is an optional snapshot (``_snapshot``'s format, as written by a rewrite) followed
by RESP arrays of bulk strings, one per applied write. :func:`read_aof` yields the
preamble's entries and then each command with its file offset. The parser is strict:
anything but a well-formed array of bulk strings is garbage, reported with its offset.
A command cut off by the end of the file (a crash mid-write) ends the log: its offset is
returned as where the valid part ends, so the caller can truncate the file there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO, Final

from ._codec import Reviver
from ._snapshot import MAGIC, Entry, SnapshotError, read_snapshot_from

__all__ = ["AofError", "AofTail", "encode_command", "read_aof"]

_MAX_ARGS: Final = 1 << 20
_MAX_BULK: Final = 1 << 40


class AofError(Exception):
    """Garbage in the log (not at its end); the message names the offset, and
    ``offset`` is where the command holding it starts (what ``check-aof --fix`` keeps)."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset


class AofTail(Exception):
    """The last command is incomplete: the valid log ends at ``offset``."""

    def __init__(self, offset: int) -> None:
        super().__init__(offset)
        self.offset = offset


def encode_command(argv: list[bytes]) -> bytes:
    parts = [b"*%d\r\n" % len(argv)]
    for a in argv:
        parts.append(b"$%d\r\n" % len(a))
        parts.append(a)
        parts.append(b"\r\n")
    return b"".join(parts)


def _line(f: BinaryIO, start: int) -> bytes:
    line = f.readline(64)
    if not line.endswith(b"\r\n"):
        if len(line) < 64 and not line.endswith(b"\n"):
            raise AofTail(start)  # readline stopped at the end of the file
        raise AofError(f"bad line at offset {f.tell() - len(line)}")
    return line[:-2]


def _int(line: bytes, prefix: bytes, offset: int, limit: int) -> int:
    if not line.startswith(prefix) or not line[1:].isdigit():
        raise AofError(f"expected '{prefix.decode()}<count>' at offset {offset}")
    n = int(line[1:])
    if n > limit:
        raise AofError(f"count {n} out of range at offset {offset}")
    return n


def read_aof(f: BinaryIO, path: str, revive: Reviver
             ) -> Iterator[tuple[int, list[bytes] | Entry]]:
    """(offset, argv) per command, after (offset, Entry) per preamble entry. Raises
    AofTail at an incomplete last command and AofError at garbage."""
    head = f.read(len(MAGIC))
    f.seek(0)
    if head == MAGIC:
        try:
            for entry in read_snapshot_from(f, path, revive, to_eof=False):
                yield 0, entry
        except SnapshotError as e:
            raise AofError(f"bad snapshot preamble: {e}", 0) from None
    while True:
        start = f.tell()
        first = f.read(1)
        if not first:
            return
        if first != b"*":
            raise AofError(f"{path}: expected '*' at offset {start}, got {first!r}", start)
        f.seek(start)
        try:
            n = _int(_line(f, start), b"*", start, _MAX_ARGS)
            argv = []
            for _ in range(n):
                pos = f.tell()
                size = _int(_line(f, start), b"$", pos, _MAX_BULK)
                data = f.read(size + 2)
                if len(data) < size + 2:
                    raise AofTail(start)
                if data[-2:] != b"\r\n":
                    raise AofError(f"bulk not followed by CRLF at offset {pos}")
                argv.append(data[:-2])
        except AofError as e:
            raise AofError(f"{path}: {e}", start) from None
        if not argv:
            raise AofError(f"{path}: empty command at offset {start}", start)
        yield start, argv
