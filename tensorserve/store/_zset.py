"""Sorted sets: a member -> score dict plus a SortedList of (score, member).

Both are updated together, so ZADD / ZREM / ZINCRBY are O(log n) and range queries by
rank or score are O(log n + k) (sortedcontainers' SortedList is a B-tree-like list of
lists; bisect on (score, member) pairs gives Redis's ordering: by score, then bytewise
by member).

Range bounds are computed as half-open index ranges ``[lo, hi)`` into the SortedList, so
every command (ZRANGE, ZCOUNT, ZREMRANGEBY*, ZRANGESTORE ...) shares one slicing path.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator
from operator import itemgetter
from typing import Final

from sortedcontainers import SortedList

__all__ = ["LEX_EXCLUSIVE", "LEX_INCLUSIVE", "LEX_MAX", "LEX_MIN", "LexBound", "ZSet"]

# Kinds of lex range items: "-", "+", "[value", "(value".
LEX_MIN: Final = 0
LEX_MAX: Final = 1
LEX_INCLUSIVE: Final = 2
LEX_EXCLUSIVE: Final = 3
LexBound = tuple[int, bytes]

_member = itemgetter(1)
_INF: Final = math.inf


class ZSet:
    """A Redis sorted set."""

    __slots__ = ("dict", "sl")

    def __init__(self) -> None:
        self.dict: dict[bytes, float] = {}
        self.sl: SortedList = SortedList()

    def __len__(self) -> int:
        return len(self.dict)

    def __bool__(self) -> bool:
        return bool(self.dict)

    def __repr__(self) -> str:
        return f"ZSet({list(self.sl)!r})"

    # -- single members ----------------------------------------------------------------
    def add(self, member: bytes, score: float) -> bool:
        """Set ``member``'s score; True if the member is new."""
        old = self.dict.get(member)
        if old is not None:
            if old == score:
                return False
            self.sl.remove((old, member))
            self.dict[member] = score
            self.sl.add((score, member))
            return False
        self.dict[member] = score
        self.sl.add((score, member))
        return True

    def remove(self, member: bytes) -> bool:
        old = self.dict.pop(member, None)
        if old is None:
            return False
        self.sl.remove((old, member))
        return True

    def score(self, member: bytes) -> float | None:
        return self.dict.get(member)

    def rank(self, member: bytes) -> int | None:
        """0-based rank in ascending order, or None when absent."""
        score = self.dict.get(member)
        if score is None:
            return None
        return int(self.sl.bisect_left((score, member)))

    # -- ranges as [lo, hi) index pairs ----------------------------------------------------
    def score_bounds(
        self, low: float, low_ex: bool, high: float, high_ex: bool
    ) -> tuple[int, int]:
        """Indices of the members with ``low <(=) score <(=) high``.

        ``(x,)`` sorts before every ``(x, member)``, so bisecting on a 1-tuple finds the
        first member of a score; exclusive / inclusive ends step to the next double.
        """
        sl = self.sl
        n = len(sl)
        if low_ex:
            lo = n if low == _INF else sl.bisect_left((math.nextafter(low, _INF),))
        else:
            lo = sl.bisect_left((low,))
        if high_ex:
            hi = sl.bisect_left((high,))
        else:
            hi = n if high == _INF else sl.bisect_left((math.nextafter(high, _INF),))
        return lo, max(lo, hi)

    def lex_bounds(self, low: LexBound, high: LexBound) -> tuple[int, int]:
        """Indices of the members inside a lex range.

        Like redis-server this assumes all scores are equal (the result is unspecified
        otherwise); the bisect compares members only, as zslFirstInLexRange does.
        """
        sl = self.sl
        n = len(sl)
        kind, value = low
        if kind == LEX_MIN:
            lo = 0
        elif kind == LEX_MAX:
            lo = n
        elif kind == LEX_INCLUSIVE:
            lo = bisect.bisect_left(sl, value, key=_member)
        else:
            lo = bisect.bisect_right(sl, value, key=_member)
        kind, value = high
        if kind == LEX_MAX:
            hi = n
        elif kind == LEX_MIN:
            hi = 0
        elif kind == LEX_INCLUSIVE:
            hi = bisect.bisect_right(sl, value, key=_member)
        else:
            hi = bisect.bisect_left(sl, value, key=_member)
        return lo, max(lo, hi)

    def items(self, lo: int, hi: int, reverse: bool = False) -> Iterator[tuple[float, bytes]]:
        """(score, member) pairs at indices ``[lo, hi)``, ascending or descending."""
        return self.sl.islice(lo, hi, reverse)

    # -- removal -------------------------------------------------------------------------
    def pop(self, count: int, highest: bool = False) -> list[tuple[float, bytes]]:
        """Remove and return up to ``count`` lowest (or highest) entries, in pop order."""
        sl = self.sl
        n = len(sl)
        if count >= n:
            popped = list(reversed(sl)) if highest else list(sl)
            sl.clear()
            self.dict.clear()
            return popped
        if count == 1:
            # ZPOPMIN without a count is the benchmarked case: one pop, no slicing.
            item = sl.pop(-1 if highest else 0)
            del self.dict[item[1]]
            return [item]
        if highest:
            popped = list(sl.islice(n - count, n, reverse=True))
            del sl[n - count :]
        else:
            popped = list(sl.islice(0, count))
            del sl[:count]
        d = self.dict
        for _, member in popped:
            del d[member]
        return popped

    def remove_range(self, lo: int, hi: int) -> int:
        """Remove the entries at indices ``[lo, hi)``; the number removed."""
        if hi <= lo:
            return 0
        sl = self.sl
        d = self.dict
        for _, member in sl.islice(lo, hi):
            del d[member]
        del sl[lo:hi]
        return hi - lo
