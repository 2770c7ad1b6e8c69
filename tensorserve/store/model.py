"""Model values (TYPE ``AI__MODEL``): a loaded backend model plus what AI.MODELGET tells.

The value keeps the blob it was stored from (AI.MODELGET BLOB, persistence) next to the
backend's loaded model, which is opaque here. Values are immutable; only ``stats``
changes, on the loop thread, as runs finish. Overwriting the key stores a new value
with new statistics (RedisAI resets the stats on overwrite too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .. import histogram
from ._keyspace import TYPE_NAMES, Shared

if TYPE_CHECKING:
    from ..runtime.backend import LoadedModel
    from ..runtime.device import Device

__all__ = ["Model", "RunStats"]

_SURPRISES_TO_STOP_INLINE: Final = 3
# An inline run that takes this many times the inline limit is a surprise.
_SURPRISE_FACTOR: Final = 10


@dataclass(slots=True)
class RunStats:
    """AI.INFO counters for one model or script (RedisAI's RAI_RunStats)."""

    duration_ns: int = 0  # total compute time; AI.INFO answers microseconds
    samples: int = 0  # rows (dim 0 of the first output) over all runs
    calls: int = 0
    errors: int = 0
    queue_wait_ns: int = 0  # time runs spent waiting for a worker
    # Recent run time and input size (moving averages; not reset by RESETSTAT): they
    # decide whether a run is cheap enough to do inline on the event loop.
    recent_ns: float = 0.0
    recent_bytes: float = 0.0
    inline_ok: bool = True  # False once inline runs kept taking far longer than predicted
    surprises: int = 0  # consecutive such inline runs
    # Auto-batching (models with BATCHSIZE): engine calls made for batches, the runs
    # and rows they carried, their compute time, and how many batches had how many
    # rows (power-of-two buckets: index i counts batches of 2**(i-1) < rows <= 2**i).
    batches: int = 0
    batched_runs: int = 0
    batched_rows: int = 0
    batch_ns: int = 0
    max_batch_rows: int = 0
    batch_rows_hist: list[int] = field(default_factory=list)
    # Queue wait and compute time per run (tensorserve.histogram: index ns.bit_length()).
    wait_hist: list[int] = field(default_factory=histogram.new)
    run_hist: list[int] = field(default_factory=histogram.new)

    def reset(self) -> None:
        self.duration_ns = self.samples = self.calls = self.errors = self.queue_wait_ns = 0
        self.batches = self.batched_runs = self.batched_rows = self.batch_ns = 0
        self.max_batch_rows = 0
        self.batch_rows_hist = []
        self.wait_hist = histogram.new()
        self.run_hist = histogram.new()

    def record_batch(self, rows: int, runs: int, duration_ns: int) -> None:
        self.batches += 1
        self.batched_runs += runs
        self.batched_rows += rows
        self.batch_ns += duration_ns
        self.max_batch_rows = max(self.max_batch_rows, rows)
        bucket = (rows - 1).bit_length() if rows > 0 else 0
        hist = self.batch_rows_hist
        if len(hist) <= bucket:
            hist.extend([0] * (bucket + 1 - len(hist)))
        hist[bucket] += 1

    def observe(self, duration_ns: int, input_bytes: int) -> None:
        if self.recent_ns == 0.0:
            self.recent_ns, self.recent_bytes = float(duration_ns), float(input_bytes)
            return
        # A moving average that one outlier cannot drag far (a sample counts as at most
        # 4x the current estimate): on a shared machine single runs stall for
        # milliseconds, and the estimate should follow the typical run, not the stalls.
        # A real slow-down still raises it by 1.6x per run.
        sample = min(float(duration_ns), 4.0 * self.recent_ns)
        self.recent_ns += 0.2 * (sample - self.recent_ns)
        self.recent_bytes += 0.2 * (input_bytes - self.recent_bytes)

    def ran_inline(self, duration_ns: int, limit_ns: int) -> None:
        """Record an inline run (a single run or a batch): one that took over ten times
        the inline limit is a surprise. Three in a row mean its cost depends on more
        than input size (values, a loop count): it is never run on the event loop
        again. One alone is how a shared machine stalls."""
        surprised = duration_ns > _SURPRISE_FACTOR * limit_ns
        self.surprises = self.surprises + 1 if surprised else 0
        if self.surprises >= _SURPRISES_TO_STOP_INLINE:
            self.inline_ok = False

    def predict_ns(self, input_bytes: int) -> float:
        """Expected run time for ``input_bytes`` of input; inf until a run was seen.
        Scaled up (never down) with the input size, so a big input to a model seen
        only with small ones is not mistaken for a cheap run."""
        if self.recent_ns == 0.0 or not self.inline_ok:
            return float("inf")
        scale = input_bytes / self.recent_bytes if self.recent_bytes else 1.0
        return self.recent_ns * max(1.0, scale)


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Model(Shared):
    backend: str  # "TORCH" | "ONNX"
    device: Device
    tag: bytes
    batchsize: int
    minbatchsize: int
    minbatchtimeout: int
    blob: bytes
    handle: LoadedModel
    key: bytes = b""  # the key it was stored under (its name in INFO ai_batching)
    stats: RunStats = field(default_factory=RunStats)

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.handle.inputs

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.handle.outputs

    def __repr__(self) -> str:
        return f"Model({self.backend}, {self.device.name})"


TYPE_NAMES[Model] = "AI__MODEL"  # RedisAI's module type name (two underscores)
