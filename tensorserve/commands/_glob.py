"""Redis glob patterns (stringmatchlen): ``*``, ``?``, ``[abc]``, ``[^a-z]``, ``\\x``.

Python's fnmatch differs (``[!a]``, no backslash escapes), so patterns are translated to
compiled regular expressions here, cached, and matched against raw bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

__all__ = ["compile_glob", "glob_match"]


@lru_cache(maxsize=1024)
def compile_glob(pattern: bytes) -> Callable[[bytes], bool]:
    """A predicate for ``pattern``; ``*`` alone short-circuits to always-true."""
    if pattern == b"*":
        return lambda _: True
    out = bytearray()
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == 42:  # *
            out += b".*"
        elif c == 63:  # ?
            out += b"."
        elif c == 91:  # [
            i += 1
            negate = i < n and pattern[i] == 94  # ^
            if negate:
                i += 1
            cls = bytearray()
            while i < n and pattern[i] != 93:  # ]
                if pattern[i] == 92 and i + 1 < n:  # \x inside a class
                    i += 1
                    cls += re.escape(bytes([pattern[i]]))
                elif i + 2 < n and pattern[i + 1] == 45 and pattern[i + 2] != 93:  # a-z
                    lo, hi = sorted((pattern[i], pattern[i + 2]))
                    cls += re.escape(bytes([lo])) + b"-" + re.escape(bytes([hi]))
                    i += 2
                else:
                    cls += re.escape(bytes([pattern[i]]))
                i += 1
            # An unterminated class matches like redis: what was read so far.
            if not cls:
                out += b"(?!)" if not negate else b"."
            else:
                out += b"[" + (b"^" if negate else b"") + bytes(cls) + b"]"
        elif c == 92 and i + 1 < n:  # \x: literal x
            i += 1
            out += re.escape(bytes([pattern[i]]))
        else:
            out += re.escape(bytes([c]))
        i += 1
    rx = re.compile(bytes(out), re.DOTALL)
    fullmatch = rx.fullmatch
    return lambda s: fullmatch(s) is not None


def glob_match(pattern: bytes, value: bytes, nocase: bool = False) -> bool:
    if nocase:
        return compile_glob(pattern.lower())(value.lower())
    return compile_glob(pattern)(value)
