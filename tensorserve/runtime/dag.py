"""DAG execution: a plan of tensor ops over versioned slots, run one device at a time.

The command layer parses AI.DAGEXECUTE into a :class:`Dag` on the loop thread: every
output (a TENSORSET, a model or script output) gets a new slot, so a name written twice
has two versions and each op reads the version current at its position (RedisAI's
dag.c). LOAD and TENSORSET values are filled in at parse time; TENSORGETs are read at
reply time. Only model and script ops run on workers.

Compute ops are grouped by device queue. A :class:`DagStep` job runs, in order, the ops
of one queue whose inputs are ready, and stops at the first that waits for another
device (or at an error). A model op whose model batches (BATCHSIZE) is not run by a
step: the loop hands it to the batcher as a run of its own, so it can share a batch
with other clients' runs of that model. Coordination stays on the loop thread: when a step is handed
back, the DAG submits a step for every idle queue whose next op has become ready. So
independent ops on different devices run in parallel, a worker never waits for another
worker (no deadlock between DAGs sharing queues), and no lock is needed: a slot is
written by exactly one op, and a queue has at most one step in flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from ..errors import ReplyError
from ..store.tensor import Tensor
from .jobs import Job, ModelRun, ScriptRun, TensorJob

if TYPE_CHECKING:
    from ..store.model import Model
    from ..store.script import Script
    from .backend import ScriptHost

__all__ = ["Dag", "DagOp", "DagStep"]


class DagOp:
    """One op of a DAG. ``kind``: "set", "get", "model" or "script"."""

    __slots__ = ("args", "fmt", "function", "inputs", "job", "keys", "kind", "outputs",
                 "queue", "target", "variadic")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.queue = ""  # device queue of a model / script op
        self.inputs: list[int] = []  # slot indices
        self.outputs: list[int] = []
        self.target: Model | Script | None = None
        self.function = ""
        self.keys: list[str] = []
        self.args: list[str] = []
        self.variadic = -1
        self.fmt = 0  # TENSORGET format flags
        self.job: TensorJob | None = None  # the run, once it happened

    @property
    def computes(self) -> bool:
        return self.kind in ("model", "script")

    @property
    def batches(self) -> bool:
        """A model op of a model stored with BATCHSIZE (run through the batcher)."""
        return self.kind == "model" and getattr(self.target, "batchsize", 0) > 0

    @property
    def done(self) -> bool:
        return self.job is not None

    @property
    def error(self) -> ReplyError | None:
        return self.job.error if self.job is not None else None

    def make_job(self, inputs: list[Tensor], host: ScriptHost | None,
                 on_done: Callable[[Job], None] | None = None) -> TensorJob:
        """The same run AI.MODELEXECUTE / AI.SCRIPTEXECUTE would queue. Without
        ``on_done`` it is executed in place by the DAG's step, so it is never handed
        back on its own."""
        target: Any = self.target
        done = on_done or _not_handed_back
        if self.kind == "model":
            return ModelRun(target, inputs, done)
        assert host is not None  # set when the DAG's first script op was parsed
        return ScriptRun(target, self.function, inputs, self.keys, self.args,
                         len(self.outputs), host, done, self.variadic)


def _not_handed_back(job: Job) -> None:
    raise AssertionError("a DAG op's run is reported through its DagStep")


class Dag:
    """A parsed DAG: slots, ops, and per-queue progress (loop thread, but for the
    slots and op results a running step writes)."""

    def __init__(self) -> None:
        self.slots: list[Tensor | None] = []
        self.names: dict[bytes, int] = {}  # name -> its latest slot
        self.ops: list[DagOp] = []
        self.by_queue: dict[str, list[DagOp]] = {}
        self.cursor: dict[str, int] = {}
        self.running: set[str] = set()
        self.failed = False
        self.host: ScriptHost | None = None

    # -- building (loop thread) --------------------------------------------------------
    def new_slot(self, name: bytes, value: Tensor | None = None) -> int:
        self.slots.append(value)
        self.names[name] = len(self.slots) - 1
        return len(self.slots) - 1

    def add(self, op: DagOp) -> None:
        self.ops.append(op)
        if op.computes:
            self.by_queue.setdefault(op.queue, []).append(op)
            self.cursor.setdefault(op.queue, 0)

    # -- progress (loop thread) --------------------------------------------------------
    def finished(self) -> bool:
        if self.running:
            return False
        if self.failed:
            return True
        return all(self.cursor[q] == len(ops) for q, ops in self.by_queue.items())

    def next_op(self, queue: str) -> DagOp:
        return self.by_queue[queue][self.cursor[queue]]

    def inputs_of(self, op: DagOp) -> list[Tensor]:
        # Only called once every input slot is filled.
        return cast("list[Tensor]", [self.slots[s] for s in op.inputs])

    def ready_queues(self) -> list[str]:
        """Idle queues whose next op has all its inputs."""
        if self.failed:
            return []
        out = []
        for q, ops in self.by_queue.items():
            i = self.cursor[q]
            if q not in self.running and i < len(ops):
                if all(self.slots[s] is not None for s in ops[i].inputs):
                    out.append(q)
        return out

    # -- running one op (a step's worker thread) -----------------------------------------
    def run_op(self, op: DagOp, enqueued_ns: int) -> None:
        # Every input slot is filled: the step checked before calling.
        job = op.make_job(self.inputs_of(op), self.host)
        job.enqueued_ns = enqueued_ns
        job.execute()
        self.record(op, job)

    def record(self, op: DagOp, job: TensorJob) -> None:
        """Store a finished op's outputs (or note its failure)."""
        if job.error is not None:
            self.failed = True
        else:
            for s, t in zip(op.outputs, job.outputs, strict=True):
                self.slots[s] = t
        op.job = job  # last: the loop reads ``done`` only after the step is handed back


class DagStep(Job):
    """Run the ready ops of one queue of a DAG, in order."""

    __slots__ = ("dag", "queue")

    def __init__(self, dag: Dag, queue: str, on_done: Callable[[Job], None],
                 deadline: float = 0.0) -> None:
        super().__init__(on_done, deadline)
        self.dag = dag
        self.queue = queue

    def compute(self) -> None:
        dag = self.dag
        ops = dag.by_queue[self.queue]
        i = dag.cursor[self.queue]
        enqueued_ns = self.enqueued_ns  # the first op waited as long as the step did
        while i < len(ops) and not dag.failed and not self.cancelled:
            op = ops[i]
            if op.batches or any(dag.slots[s] is None for s in op.inputs):
                # It waits for another device, or it is for the batcher: the loop
                # goes on with this queue when the step is handed back.
                break
            dag.run_op(op, enqueued_ns)
            enqueued_ns = time.perf_counter_ns()
            i += 1
        dag.cursor[self.queue] = i
