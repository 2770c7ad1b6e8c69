"""Auto-batching: runs of one model that arrive together become one engine call.

A model stored with BATCHSIZE > 0 gets its runs (AI.MODELEXECUTE, AI.MODELRUN, DAG
model ops) grouped here instead of queued one by one. Runs are *compatible* when they
target the same model object and their inputs agree in count, dtype and every dimension
but the first; each compatible set waits in a :class:`_Group` on the loop thread.

When a group is dispatched (see :meth:`Batcher.flush`), its oldest run and, in order,
every later one whose rows (dim 0) still fit in BATCHSIZE are handed over as ONE
:class:`BatchRun`: one worker wake-up, one engine call and one hand-back to the loop
for the whole batch. The concatenation along dim 0 and the split of the outputs back to
each run happen in :meth:`BatchRun.compute`, the same for every backend.

The policy is Triton's dynamic batcher, driven by the event loop:

- Runs that arrived in one loop iteration are collected first: a flush is scheduled with
  ``call_soon``, so it happens after the loop has read every client that was ready.
- A group is dispatched while the device queue has a free worker; while every worker is
  busy it keeps collecting, until it holds BATCHSIZE rows or a worker hands results
  back, whichever comes first. So an idle server adds no delay, a busy one batches more,
  and other runs keeping the queue busy cannot starve a group.
- MINBATCHSIZE holds a group back until it has that many rows, or until its oldest run
  has waited MINBATCHTIMEOUT ms (``--minbatch-timeout-default`` when the model has
  none: RedisAI would wait forever).
- A batch predicted to be cheap runs on the event loop when its device is idle, exactly
  as single runs do (``--inline-run-max-us``). A run arriving at an idle device with
  nothing collected does not wait for the flush at all (:meth:`Batcher.may_run_now`):
  at concurrency 1 a batching model answers as fast as an unbatched one.

Differences from RedisAI (docs/architecture.md): a batch never grows past BATCHSIZE
rows (RedisAI's can, by the last request's size); a run of BATCHSIZE rows or more runs
alone; MINBATCHSIZE never waits forever.

Everything here runs on the loop thread, except :meth:`BatchRun.execute` (a worker, or
the loop for an inline batch).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ..errors import ReplyError
from ..store.tensor import Tensor
from .jobs import WRONG_OUTPUT_COUNT, Job, ModelRun

if TYPE_CHECKING:
    from ..store.model import Model
    from .queues import RunQueue, Runtime

__all__ = ["WRONG_BATCH_SIZE", "BatchRun", "Batcher", "batch_key"]

log = logging.getLogger("tensorserve.runtime")

WRONG_BATCH_SIZE: Final = "Model did not generate the expected batch size"

Signature = tuple[tuple[str, tuple[int, ...]], ...]


def batch_key(job: ModelRun) -> Signature | None:
    """What a run must share with others to be batched with them: every input's dtype
    and dimensions after the first. None when the run is not batched: its model has no
    BATCHSIZE, its inputs disagree on dim 0 (RedisAI runs those alone too), or it has
    BATCHSIZE rows or more (it fills a batch by itself)."""
    model = job.model
    if model.batchsize <= 0 or not job.inputs:
        return None
    rows = job.inputs[0].shape[0] if job.inputs[0].shape else 0
    if rows <= 0 or rows >= model.batchsize:
        return None
    sig = []
    for t in job.inputs:
        if not t.shape or t.shape[0] != rows or t.dtype.kind == "string":
            return None
        sig.append((t.dtype.name, t.shape[1:]))
    return tuple(sig)


def _rows(job: ModelRun) -> int:
    return job.inputs[0].shape[0]


class BatchRun(Job):
    """Several compatible runs of one model as one engine call."""

    __slots__ = ("input_bytes", "live", "members", "model", "requests", "rows")

    def __init__(self, model: Model, members: list[ModelRun],
                 on_done: Callable[[Job], None]) -> None:
        super().__init__(on_done)
        self.model = model
        self.members = members
        self.live: list[ModelRun] = []  # the members that ran (not expired or cancelled)
        self.input_bytes = sum(m.input_bytes for m in members)
        self.rows = 0  # rows and runs that actually ran (expired ones are left out)
        self.requests = 0

    def execute(self) -> None:
        start = time.perf_counter_ns()
        now = time.monotonic()
        live = []
        for m in self.members:
            m.wait_ns = start - m.enqueued_ns
            # Each run's own TIMEOUT and disconnect, checked as it is dequeued.
            if m.cancelled or (m.deadline and now > m.deadline):
                continue
            m.ran = True
            live.append(m)
        if not live:
            return
        self.wait_ns = start - self.enqueued_ns
        self.ran = True
        self.requests = len(live)
        self.rows = sum(_rows(m) for m in live)
        self.live = live
        super().execute()  # compute() below; errors land in self.error
        for m in live:
            # RedisAI adds the batch's time to each run's statistics.
            m.duration_ns = self.duration_ns
            m.error = self.error

    def compute(self) -> None:
        live = self.live
        model = self.model
        if len(live) == 1:  # nothing to concatenate or split: the run as it is
            live[0].compute()
            return
        n_inputs = len(live[0].inputs)
        batch = [np.concatenate([m.inputs[i].array for m in live]) for i in range(n_inputs)]
        arrays = model.handle.run(batch)
        if len(arrays) != len(model.outputs):
            raise ReplyError(WRONG_OUTPUT_COUNT)
        for a in arrays:
            if a.ndim == 0 or a.shape[0] != self.rows:
                raise ReplyError(WRONG_BATCH_SIZE)
        start = 0
        for m in live:
            end = start + _rows(m)
            m.outputs = [Tensor.from_array(a[start:end]) for a in arrays]
            start = end


def _fit(jobs: deque[ModelRun], limit: int) -> tuple[list[ModelRun], deque[ModelRun], int]:
    """The next batch: the oldest run, and after it, in order, every run whose rows
    still fit in ``limit`` (one too big to fit now waits for a later batch). Returns
    the batch, the runs left, and the batch's rows."""
    members: list[ModelRun] = []
    rest: deque[ModelRun] = deque()
    rows = 0
    it = iter(jobs)
    for job in it:
        n = _rows(job)
        if rows + n <= limit or not members:
            members.append(job)
            rows += n
            if rows >= limit:
                break  # full: the rest keep their order without being looked at
        else:
            rest.append(job)
    rest.extend(it)
    return members, rest, rows


class _Group:
    """Compatible runs of one model waiting to be batched, oldest first."""

    __slots__ = ("jobs", "model", "rows", "timer")

    def __init__(self, model: Model) -> None:
        self.model = model
        self.jobs: deque[ModelRun] = deque()
        self.rows = 0
        self.timer: Any = None  # the MINBATCHTIMEOUT wake-up, while one is armed


class Batcher:
    """The waiting groups of every device queue (loop thread only)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        # Set from the server flags by Runtime.configure.
        self.inline_limit_ns = 0  # --inline-run-max-us
        self.minbatch_wait_ms = 100  # --minbatch-timeout-default
        self._groups: dict[str, dict[tuple[Model, Signature], _Group]] = {}
        self._waiting: dict[str, int] = {}  # queue -> runs waiting in its groups
        self._dirty: set[str] = set()
        self._scheduled = False
        # Queues that ran a batchable run inline in this loop iteration (see run_now).
        self._ran_now: set[str] = set()

    def waiting(self, queue: str) -> int:
        """Runs of ``queue`` collected and not yet dispatched (for its length cap)."""
        return self._waiting.get(queue, 0)

    def may_run_now(self, job: ModelRun, q: RunQueue) -> bool:
        """Whether ``job`` may skip collection: its queue has nothing in flight and
        nothing collected, its model has no MINBATCHSIZE, and no run went inline on
        that queue earlier in this loop iteration (runs arriving after it in the same
        iteration are collected as usual). The caller then runs it inline when it is
        cheap (:meth:`ran_now`), or hands it to a worker at once (:meth:`submit_now`):
        on an idle server a batching model answers as fast as an unbatched one."""
        return (not job.model.minbatchsize and not q.outstanding
                and q.name not in self._ran_now and not self._groups.get(q.name))

    def ran_now(self, job: ModelRun) -> None:
        """``job`` ran inline after :meth:`may_run_now`: count it as a batch of its own
        and collect the rest of this iteration's runs for its queue."""
        if job.ran:
            job.model.stats.record_batch(_rows(job), 1, job.duration_ns)
        if not self._ran_now:
            loop = self._runtime.loop()
            if loop is not None:
                loop.call_soon(self._ran_now.clear)
        self._ran_now.add(job.model.device.queue)

    def submit_now(self, job: ModelRun, q: RunQueue) -> None:
        """Queue ``job`` as a batch of its own after :meth:`may_run_now`; runs arriving
        while it is on the worker are collected."""
        job.enqueued_ns = time.perf_counter_ns()
        job.batched = True
        q.submit(BatchRun(job.model, [job], self._batch_done))

    def add(self, job: ModelRun, key: Signature) -> None:
        """Collect ``job`` (``key`` from :func:`batch_key`); it is dispatched at the end
        of this loop iteration at the earliest."""
        model = job.model
        queue = model.device.queue
        groups = self._groups.setdefault(queue, {})
        group = groups.get((model, key))
        if group is None:
            group = groups[(model, key)] = _Group(model)
        job.enqueued_ns = time.perf_counter_ns()
        job.batched = True
        group.jobs.append(job)
        group.rows += _rows(job)
        self._waiting[queue] = self._waiting.get(queue, 0) + 1
        self._dirty.add(queue)
        if not self._scheduled:
            loop = self._runtime.loop()
            if loop is None:  # no event loop (a server being torn down): run it now
                self.flush(queue)
                return
            self._scheduled = True
            loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        for queue in dirty:
            self.flush(queue)

    def worker_free(self, queue: str) -> None:
        """A worker of ``queue`` handed results back: what collected meanwhile goes."""
        self.flush(queue, released=True)

    def flush(self, queue: str, released: bool = False) -> None:
        """Dispatch what is ready on ``queue``: after an iteration's arrivals, when a
        worker hands results back (``released``), and when a MINBATCHTIMEOUT expires."""
        groups = self._groups.get(queue)
        if not groups:
            return
        q = self._runtime.queue(queue)
        for gk, group in list(groups.items()):
            self._drain(q, group, released)
            if not group.jobs and groups.get(gk) is group:
                del groups[gk]
                if group.timer is not None:
                    group.timer.cancel()
                    group.timer = None

    def _drain(self, q: RunQueue, group: _Group, released: bool) -> None:
        model = group.model
        # While every worker is busy a group keeps collecting, but only until the next
        # hand-back: a queue kept busy by other runs must not starve it.
        hold = not released and q.outstanding >= len(q.threads)
        while group.jobs:
            self._prune(q.name, group)
            if not group.jobs:
                return
            members, rest, rows = _fit(group.jobs, model.batchsize)
            if rows < model.minbatchsize:
                now_ns = time.perf_counter_ns()
                wait_ms = model.minbatchtimeout or self.minbatch_wait_ms
                due_ns = group.jobs[0].enqueued_ns + wait_ms * 1_000_000
                if now_ns < due_ns:
                    self._arm(q.name, group, due_ns - now_ns)
                    return
            if hold and rows < model.batchsize:
                return  # every worker is busy: collect more; the next hand-back flushes
            group.jobs = rest
            group.rows -= rows
            self._waiting[q.name] -= len(members)
            self._dispatch(q, BatchRun(model, members, self._batch_done))

    def _prune(self, queue: str, group: _Group) -> None:
        """Hand back runs already answered (TIMEOUT, a client gone) or past their
        deadline: they are not run, and their rows do not count."""
        now = time.monotonic()
        if not any(j.cancelled or (j.deadline and now > j.deadline) for j in group.jobs):
            return
        keep: deque[ModelRun] = deque()
        for job in group.jobs:
            if job.cancelled or (job.deadline and now > job.deadline):
                group.rows -= _rows(job)
                self._waiting[queue] -= 1
                _deliver_one(job)  # not ran: its callback answers TIMEDOUT or nothing
            else:
                keep.append(job)
        group.jobs = keep

    def _dispatch(self, q: RunQueue, run: BatchRun) -> None:
        stats = run.model.stats
        limit = self.inline_limit_ns
        if limit and q.outstanding == 0 and stats.predict_ns(run.input_bytes) <= limit:
            # The device is idle and the batch is cheap: a hand-off to a worker and
            # back would cost more than the run (as for single runs).
            run.enqueued_ns = time.perf_counter_ns()
            run.execute()
            stats.ran_inline(run.duration_ns, limit)
            self._batch_done(run)
        else:
            q.submit(run)

    def _arm(self, queue: str, group: _Group, delay_ns: int) -> None:
        if group.timer is not None:
            return
        loop = self._runtime.loop()
        if loop is None:
            return

        def due() -> None:
            group.timer = None
            self.flush(queue)

        group.timer = loop.call_later(delay_ns / 1e9, due)

    @staticmethod
    def _batch_done(job: Job) -> None:
        # On the loop thread: the batch's statistics, then each run's own callback.
        assert isinstance(job, BatchRun)
        if job.ran:
            stats = job.model.stats
            stats.record_batch(job.rows, job.requests, job.duration_ns)
            if job.error is None:
                stats.observe(job.duration_ns, job.input_bytes)
        for m in job.members:
            _deliver_one(m)


def _deliver_one(job: Job) -> None:
    try:
        job.on_done(job)
    except Exception:
        log.exception("delivering a batched run's result failed")
