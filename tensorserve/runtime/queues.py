"""Per-device run queues served by worker threads.

One FIFO queue per device name in upper case (RedisAI's run_queue_info.c), each served
by THREADS_PER_QUEUE threads, started with the queue. A worker wakes up, takes its
share of what is queued (all of it when it is the only thread), runs each job with the
GIL released inside the engine, then hands the whole set back to the event loop with
ONE ``call_soon_threadsafe``: a hand-off per request costs 35-70 us on these machines
(../shared/DESIGN.md), so the cost is paid per wake-up, not per run.

Workers own no shared state: jobs come in through the queue (guarded by its condition
variable) and go out through the loop's callback queue. Runs of models stored with
BATCHSIZE are collected by the :class:`~.batching.Batcher` first and reach a queue as
one :class:`~.batching.BatchRun` per batch.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import ReplyError
from .backend import BackendOptions
from .batching import Batcher, batch_key
from .jobs import Job, ModelRun

if TYPE_CHECKING:
    from ..store.model import Model
    from ..store.script import Script

__all__ = ["RunQueue", "Runtime"]

log = logging.getLogger("tensorserve.runtime")


class RunQueue:
    """A device's FIFO of jobs and the threads that serve it."""

    def __init__(self, name: str, threads: int,
                 loop_of: Callable[[], asyncio.AbstractEventLoop | None]) -> None:
        self.name = name
        self._loop_of = loop_of
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._stopping = False
        self.calls = 0  # jobs taken by workers (read on the loop thread for INFO)
        self.active = 0  # jobs taken and not finished yet
        # Jobs submitted and not handed back yet (loop thread only, so exact there).
        self.outstanding = 0
        # Called on the loop thread after a hand-back: a worker is free (the batcher
        # dispatches what it collected meanwhile).
        self.on_free: Callable[[str], None] | None = None
        self.threads: list[threading.Thread] = []
        for i in range(threads):
            t = threading.Thread(target=self._work, name=f"ts-{name}-{i}", daemon=True)
            self.threads.append(t)
            t.start()

    def __len__(self) -> int:
        return len(self._jobs)

    @property
    def idle(self) -> bool:
        """Nothing queued or running (read without the lock: a stale answer only
        means one run takes the other path)."""
        return not self._jobs and not self.active

    def submit(self, job: Job) -> None:
        """Queue ``job`` (loop thread)."""
        job.enqueued_ns = time.perf_counter_ns()
        self.outstanding += 1
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def thread_cpu_seconds(self) -> list[float]:
        """CPU time used by each worker thread so far (INFO ai_cpu)."""
        out = []
        for t in self.threads:
            try:
                clock = time.pthread_getcpuclockid(t.ident or 0)
                out.append(time.clock_gettime(clock))
            except (OSError, AttributeError, OverflowError):
                out.append(0.0)
        return out

    def _work(self) -> None:
        cond = self._cond
        jobs_q = self._jobs
        n_threads = len(self.threads) or 1
        while True:
            with cond:
                while not jobs_q and not self._stopping:
                    cond.wait()
                if self._stopping:
                    return
                # An even share per thread, so one wake-up does not starve the others.
                take = max(1, -(-len(jobs_q) // n_threads))
                jobs = [jobs_q.popleft() for _ in range(min(take, len(jobs_q)))]
                self.calls += len(jobs)
                self.active += len(jobs)
            for job in jobs:
                job.execute()
            with cond:
                self.active -= len(jobs)
            loop = self._loop_of()
            if loop is None:
                continue
            try:
                loop.call_soon_threadsafe(self._deliver, jobs)
            except RuntimeError:  # the loop is closed: the server is going away
                return


    def _deliver(self, jobs: list[Job]) -> None:
        # On the loop thread: one callback for everything a worker finished. The
        # batcher goes first: the worker starts on the next batch while the loop
        # answers this one's clients, instead of waiting for it.
        self.outstanding -= len(jobs)
        if self.on_free is not None:
            try:
                self.on_free(self.name)
            except Exception:
                log.exception("dispatching collected runs failed")
        for job in jobs:
            try:
                job.on_done(job)
            except Exception:
                log.exception("delivering a model run's result failed")


class Runtime:
    """The server's run queues, batcher and backend options (one per server)."""

    def __init__(self, threads_per_queue: int, options: BackendOptions,
                 loop_of: Callable[[], asyncio.AbstractEventLoop | None]) -> None:
        self.threads_per_queue = threads_per_queue
        self.options = options
        self.loop = loop_of
        self.queue_max_len = 0  # 0: no cap
        self.queues: dict[str, RunQueue] = {}
        self.batcher = Batcher(self)
        # Models stored with BATCHSIZE, while they live (INFO ai_batching lists them).
        self.batching_models: weakref.WeakSet[Model] = weakref.WeakSet()
        # Every stored model and script, while it lives (the metrics endpoint lists
        # them without walking the keyspace).
        self.run_values: weakref.WeakSet[Model | Script] = weakref.WeakSet()

    def configure(self, inline_run_max_us: int, minbatch_timeout_default_ms: int,
                  queue_max_len: int) -> None:
        """Apply the server flags (at start and on CONFIG SET)."""
        self.batcher.inline_limit_ns = inline_run_max_us * 1000
        self.batcher.minbatch_wait_ms = minbatch_timeout_default_ms
        self.queue_max_len = queue_max_len

    def queue(self, name: str) -> RunQueue:
        """The run queue called ``name`` (a device in upper case), started on first use."""
        q = self.queues.get(name)
        if q is None:
            q = self.queues[name] = RunQueue(name, self.threads_per_queue, self.loop)
            q.on_free = self.batcher.worker_free
        return q

    def pending(self, name: str) -> int:
        """Runs waiting for ``name``'s workers: queued, running or being batched."""
        q = self.queues.get(name)
        return (q.outstanding if q is not None else 0) + self.batcher.waiting(name)

    def check_room(self, name: str) -> None:
        """Refuse a new run when ``name``'s queue is at ``queue-max-len`` (a flood gets
        an error at once instead of growing memory without bound)."""
        cap = self.queue_max_len
        if cap and self.pending(name) >= cap:
            raise ReplyError(f"run queue of device {name} is full ({cap} runs waiting, "
                             "queue-max-len)")

    def submit(self, queue: str, job: Job) -> None:
        self.queue(queue).submit(job)

    def submit_model(self, job: ModelRun) -> None:
        """Queue a model run, through the batcher when its model batches."""
        key = batch_key(job)
        if key is not None:
            self.batcher.add(job, key)
        else:
            self.submit(job.model.device.queue, job)

    def stop(self) -> None:
        for q in self.queues.values():
            q.stop()
