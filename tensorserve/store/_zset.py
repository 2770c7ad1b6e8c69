"""Sorted sets: a member -> score dict plus a SortedList of (score, member).

Both are updated together, so ZADD / ZREM / ZINCRBY are O(log n) and range queries by
rank or score are O(log n + k) (sortedcontainers' SortedList is a B-tree-like list of
lists; bisect on (score, member) pairs gives Redis's ordering: by score, then bytewise
by member).
"""

from __future__ import annotations

from sortedcontainers import SortedList

__all__ = ["ZSet"]


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
