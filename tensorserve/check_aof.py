"""``tensorserve check-aof [--fix] FILE``: check an append-only log, and repair it.

Like redis-check-aof: reads the log with the server's own parser (the snapshot
preamble's records are checked, its models are not compiled). A log whose last command
is incomplete, or that has garbage, is reported with the offset; ``--fix`` truncates it
there, keeping every complete command before it (what a server loading it would keep
for a torn tail; for garbage in the middle, what follows it is lost, and the count of
bytes dropped is printed first).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from .store.persistence import AofError, AofTail, read_aof

__all__ = ["main"]

_USAGE = "Usage: tensorserve check-aof [--fix] <file.aof>"


class _NoCompile:
    """A Reviver that checks a preamble's models and scripts without loading engines."""

    def model(self, key: bytes, backend: str, device: str, tag: bytes, batchsize: int,
              minbatchsize: int, minbatchtimeout: int, blob: bytes) -> Any:
        return None

    def script(self, key: bytes, device: str, tag: bytes, entry_points: list[str],
               source: bytes) -> Any:
        return None


def check(path: str) -> tuple[int, int, str]:
    """(commands, valid_end, problem): problem is "" for a good log."""
    n = 0
    with open(path, "rb") as f:
        try:
            for _, item in read_aof(f, path, _NoCompile()):
                if isinstance(item, list):
                    n += 1
            return n, f.tell(), ""
        except AofTail as t:
            return n, t.offset, f"the last command, at offset {t.offset}, is incomplete"
        except AofError as e:
            return n, e.offset, str(e)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    fix = "--fix" in args
    files = [a for a in args if a != "--fix"]
    if len(files) != 1 or any(a.startswith("-") for a in files):
        print(_USAGE, file=sys.stderr)
        return 1
    path = files[0]
    try:
        size = os.path.getsize(path)
        n, end, problem = check(path)
    except OSError as e:
        print(f"Cannot open file {path}: {e}", file=sys.stderr)
        return 1
    if not problem:
        print(f"AOF {path} is valid ({n} commands, {size} bytes)")
        return 0
    print(f"AOF {path}: {problem}")
    if not fix:
        print(f"AOF {path} is not valid. Use the --fix option to try fixing it "
              f"(it would keep the first {end} of {size} bytes).")
        return 1
    os.truncate(path, end)
    print(f"Successfully truncated AOF {path} to {end} bytes ({size - end} bytes dropped, "
          f"{n} commands kept)")
    return 0
