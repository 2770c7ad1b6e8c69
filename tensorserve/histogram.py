"""Power-of-two histograms: the cheapest histogram to keep on the per-command path.

Bucket ``i`` of a duration histogram counts durations ``d`` (in nanoseconds) with
``d.bit_length() == i``, that is ``2**(i-1) <= d < 2**i``: one ``int.bit_length`` and one
list increment per observation, no search. The metrics endpoint exports them with fixed
``le`` bounds (the same on every instance, so histograms aggregate across instances), and
INFO latencystats reads percentiles from them, to within a factor of two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

__all__ = ["BUCKETS", "NS_BOUNDS", "ROW_BOUNDS", "cumulative", "new", "percentile_ns"]

# Enough buckets for any duration below 2**63 ns, so the hot path needs no bounds check.
BUCKETS: Final = 64

# The exported upper bounds, in bucket indexes: 2**10 ns (~1 us) to 2**34 ns (~17 s),
# every second power of two (13 buckets, plus +Inf).
NS_BOUNDS: Final = tuple(range(10, 35, 2))
# Rows per batch (a batch histogram's bucket i counts 2**(i-1) < rows <= 2**i): 1 .. 65536.
ROW_BOUNDS: Final = tuple(range(0, 17))


def new() -> list[int]:
    return [0] * BUCKETS


def cumulative(hist: Sequence[int], bounds: Sequence[int]) -> list[tuple[int, int]]:
    """``(bucket index, observations in buckets <= index)`` for each bound, then
    ``(-1, total)`` for +Inf."""
    out = []
    acc = 0
    i = 0
    n = len(hist)
    for b in bounds:
        while i <= b and i < n:
            acc += hist[i]
            i += 1
        out.append((b, acc))
    out.append((-1, acc + sum(hist[i:])))
    return out


def percentile_ns(hist: Sequence[int], q: float) -> int:
    """The upper bound (ns) of the bucket holding the ``q``-th percentile; 0 when empty."""
    total = sum(hist)
    if not total:
        return 0
    rank = q / 100.0 * total
    acc = 0
    for i, count in enumerate(hist):
        acc += count
        if count and acc >= rank:
            return 1 << i
    return 1 << (len(hist) - 1)
