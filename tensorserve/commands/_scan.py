"""SCAN-family cursors over snapshots: the guarantee of Redis's SCAN, without its dict.

Redis walks its hash table in reverse-binary bucket order; a Python dict exposes no
buckets. So a scan that does not finish in one call takes a snapshot of the keys (a list
of references: 8 bytes a key) and later calls walk it; the cursor encodes the snapshot id
and position. A key present for the whole scan is returned at least once; keys deleted
meanwhile are skipped at read time; keys added meanwhile may or may not appear - exactly
SCAN's contract. Snapshots are kept in an LRU bounded by the total number of references;
a cursor whose snapshot was evicted restarts on a fresh snapshot at the same position.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Final

from ..errors import NOT_INTEGER, SYNTAX, ReplyError
from ._args import parse_int
from ._glob import compile_glob

__all__ = ["ScanOptions", "parse_cursor", "parse_scan_options", "scan_step"]

_POS_BITS: Final = 32
_MAX_REFS: Final = 32 * 1024 * 1024  # total snapshot entries kept (~256 MB of pointers)
_snapshots: OrderedDict[int, list[Any]] = OrderedDict()
_refs = 0


class ScanOptions:
    __slots__ = ("count", "match", "novalues", "type")

    def __init__(self) -> None:
        self.match: Callable[[bytes], bool] | None = None
        self.count = 10
        self.type: str | None = None
        self.novalues = False


def parse_cursor(arg: bytes) -> int:
    """An unsigned 64-bit cursor; redis-server's text for anything else."""
    if not arg.isdigit() or len(arg) > 20 or int(arg) >= 2**64:
        raise ReplyError("invalid cursor")
    return int(arg)


def parse_scan_options(
    argv: list[bytes], start: int, allow_type: bool = False, allow_novalues: bool = False
) -> ScanOptions:
    """MATCH pattern / COUNT n / TYPE t (SCAN only) / NOVALUES (HSCAN only)."""
    opts = ScanOptions()
    i = start
    while i < len(argv):
        opt = argv[i].lower()
        if opt == b"count" and i + 1 < len(argv):
            opts.count = parse_int(argv[i + 1], NOT_INTEGER)
            if opts.count < 1:
                raise ReplyError(SYNTAX)
            i += 2
        elif opt == b"match" and i + 1 < len(argv):
            pattern = argv[i + 1]
            opts.match = None if pattern == b"*" else compile_glob(pattern)
            i += 2
        elif opt == b"type" and allow_type and i + 1 < len(argv):
            opts.type = argv[i + 1].decode("utf-8", "replace").lower()
            i += 2
        elif opt == b"novalues" and allow_novalues:
            opts.novalues = True
            i += 1
        else:
            raise ReplyError(SYNTAX)
    return opts


def scan_step(
    cursor: int, count: int, snapshot: Callable[[], Iterable[Any]]
) -> tuple[int, list[Any]]:
    """One step: the next cursor (0 when done) and up to about ``count`` items."""
    global _refs
    if cursor == 0:
        items = list(snapshot())
        if len(items) <= count:
            return 0, items
        sid = random.randrange(1, 2**31)
        while sid in _snapshots:
            sid = random.randrange(1, 2**31)
        _store(sid, items)
        pos = 0
    else:
        sid, pos = cursor >> _POS_BITS, cursor & ((1 << _POS_BITS) - 1)
        items_or_none = _snapshots.get(sid)
        if items_or_none is None:
            items = list(snapshot())
            _store(sid, items)
        else:
            items = items_or_none
            _snapshots.move_to_end(sid)
    end = pos + count
    batch = items[pos:end]
    if end >= len(items):
        dropped = _snapshots.pop(sid, None)
        if dropped is not None:
            _refs -= len(dropped)
        return 0, batch
    return (sid << _POS_BITS) | end, batch


def _store(sid: int, items: list[Any]) -> None:
    global _refs
    _snapshots[sid] = items
    _refs += len(items)
    while _refs > _MAX_REFS and len(_snapshots) > 1:
        _, old = _snapshots.popitem(last=False)
        _refs -= len(old)
