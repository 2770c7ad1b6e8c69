"""Whole-line and whole-read splitting for the request readers (no state, no I/O).

* :func:`split_inline` is redis-server's sdssplitargs: the arguments of an inline command.
* :func:`split_batch` parses a read that is a whole number of canonical multibulk
  commands with one ``bytes.split`` (the pure-Python reader's fast path).
"""

from __future__ import annotations

from itertools import chain
from typing import Final

__all__ = ["split_batch", "split_inline"]


def split_batch(data: bytes) -> list[list[bytes]] | None:
    """Parse a read that is a whole number of canonical multibulk commands, fast.

    The common read - complete ``*N $len arg ...`` frames whose arguments hold no CRLF -
    is cut with one C-level ``split``; each command is then one slice of the tokens. The
    framing is verified in bulk: every command header must be canonical (``*N``) and the
    argument headers, joined, must equal the canonical headers of the arguments' actual
    lengths (built from ``str`` of the length list, also in C). Returns None when the
    read is anything else (inline, partial, CRLF inside an argument, any malformation);
    the caller then uses its exact reader. This is the pure-Python reader's fast path:
    with hiredis installed, hiredis plus its C-level checks is cheaper still (measured in
    instructions under callgrind: ~2,900 against ~8,500 a command), since every Python
    bytecode spent per command costs ~60 instructions here.
    """
    toks = data.split(b"\r\n")
    if toks[-1]:
        return None  # ends inside a command
    end = len(toks) - 1
    batch: list[list[bytes]] = []
    append = batch.append
    heads: list[bytes] = []
    extend = heads.extend
    i = 0
    try:
        while i < end:
            h = toks[i]
            n = int(h[1:])
            if n <= 0 or h != b"*%d" % n:
                return None  # empty/negative counts and odd spellings: the exact reader
            j = i + 1 + 2 * n
            append(toks[i + 2 : j : 2])
            extend(toks[i + 1 : j : 2])
            i = j
    except ValueError:
        return None
    if i != end:
        return None  # a count ran past the end of the read
    lens = list(map(len, chain.from_iterable(batch)))
    if b", ".join(heads) != ("$" + str(lens)[1:-1].replace(", ", ", $")).encode():
        return None
    return batch


_ESCAPES: Final = {
    ord("n"): 10,
    ord("r"): 13,
    ord("t"): 9,
    ord("b"): 8,
    ord("a"): 7,
}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
_SPACE: Final = frozenset(b" \n\r\t\x0b\x0c\x00")


def split_inline(line: bytes) -> list[bytes] | None:
    """redis-server's sdssplitargs: whitespace-separated words with "..." and '...' quoting.

    Returns None for unbalanced quotes (or a closing quote not followed by a space).
    """
    if 34 not in line and 39 not in line:  # no quotes: the common case
        return line.split()
    args: list[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in _SPACE:
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = insq = False
        while True:
            if inq:
                if i >= n:
                    return None
                c = line[i]
                if (
                    c == 92
                    and i + 3 < n
                    and line[i + 1] == 120
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    cur.append(_ESCAPES.get(line[i], line[i]))
                elif c == 34:
                    # A closing quote must be followed by a space or the end.
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in _SPACE:
                        return None
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in _SPACE:
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        args.append(bytes(cur))
