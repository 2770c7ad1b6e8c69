"""Run requests: what the loop thread hands a worker, and what comes back.

A job is built on the loop thread from values read out of the keyspace (immutable
tensors and a model), executed by exactly one worker thread, then handed back to the
loop thread, which alone stores outputs and updates statistics. Fields written by the
worker are read by the loop only after the hand-back (``call_soon_threadsafe`` orders
them), so no lock is needed; ``cancelled`` is a flag the loop may raise at any time
and a worker reads before it starts the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import BareError, ReplyError
from ..store.tensor import Tensor
from .backend import BackendError

if TYPE_CHECKING:
    from ..store.model import Model, RunStats
    from ..store.script import Script
    from .backend import ScriptHost

__all__ = ["WRONG_OUTPUT_COUNT", "Job", "ModelRun", "ScriptRun", "TensorJob"]

log = logging.getLogger("tensorserve.runtime")

WRONG_OUTPUT_COUNT: Final = "Model did not generate the expected number of outputs"
_INTERNAL_ERROR: Final = "internal error"


class Job:
    """One unit of work for a run queue. Subclasses implement :meth:`compute`."""

    __slots__ = ("cancelled", "deadline", "duration_ns", "enqueued_ns", "error", "on_done",
                 "ran", "timer", "wait_ns")

    def __init__(self, on_done: Callable[[Job], None], deadline: float = 0.0) -> None:
        self.on_done = on_done  # called on the loop thread with the finished job
        self.deadline = deadline  # time.monotonic() after which it must not start; 0: none
        self.enqueued_ns = 0
        self.wait_ns = 0
        self.duration_ns = 0
        self.cancelled = False  # the client left or the timeout already answered
        self.ran = False
        self.error: ReplyError | None = None
        self.timer: Any = None  # the loop's TIMEOUT timer, if any

    def execute(self) -> None:
        """Run on a worker thread; never raises (errors land in ``self.error``)."""
        start = time.perf_counter_ns()
        self.wait_ns = start - self.enqueued_ns
        if self.cancelled or (self.deadline and time.monotonic() > self.deadline):
            return  # RedisAI checks TIMEOUT when a run is dequeued, and so do we
        self.ran = True
        try:
            self.compute()
        except BackendError as e:
            self.error = BareError(str(e))
        except ReplyError as e:
            self.error = e
        except Exception:
            log.exception("model run failed")
            self.error = ReplyError(_INTERNAL_ERROR)
        self.duration_ns = time.perf_counter_ns() - start

    def compute(self) -> None:
        raise NotImplementedError


class TensorJob(Job):
    """A job with input tensors and output tensors, counted in ``stats`` (the model's
    or script's) when it is handed back."""

    __slots__ = ("batched", "input_bytes", "inputs", "outputs", "stats")

    def __init__(self, stats: RunStats, inputs: list[Tensor],
                 on_done: Callable[[Job], None], deadline: float = 0.0) -> None:
        super().__init__(on_done, deadline)
        self.stats = stats
        self.inputs = inputs
        self.input_bytes = sum(len(t.blob) for t in inputs)
        self.outputs: list[Tensor] = []
        self.batched = False  # ran as part of a BatchRun (runtime/batching.py)

    @property
    def samples(self) -> int:
        """Rows produced (dim 0 of the first output): what AI.INFO samples counts."""
        return self.outputs[0].batch_size if self.outputs else 0


class ModelRun(TensorJob):
    """AI.MODELEXECUTE / AI.MODELRUN: inputs through one model into output tensors."""

    __slots__ = ("model",)

    def __init__(self, model: Model, inputs: list[Tensor], on_done: Callable[[Job], None],
                 deadline: float = 0.0) -> None:
        super().__init__(model.stats, inputs, on_done, deadline)
        self.model = model

    def compute(self) -> None:
        model = self.model
        arrays = model.handle.run([t.array for t in self.inputs])
        if len(arrays) != len(model.outputs):
            raise ReplyError(WRONG_OUTPUT_COUNT)
        self.outputs = [Tensor.from_array(a) for a in arrays]


class ScriptRun(TensorJob):
    """AI.SCRIPTEXECUTE / AI.SCRIPTRUN: one function of a script over input tensors."""

    __slots__ = ("args", "entry_point", "function", "host", "keys", "n_outputs", "script",
                 "variadic")

    def __init__(self, script: Script, function: str, inputs: list[Tensor], keys: list[str],
                 args: list[str], n_outputs: int, host: ScriptHost,
                 on_done: Callable[[Job], None], variadic: int = -1) -> None:
        super().__init__(script.stats, inputs, on_done)
        self.script = script
        self.function = function
        self.keys = keys
        self.args = args
        self.n_outputs = n_outputs
        self.host = host
        # Entry points get (tensors, keys, args); other functions (AI.SCRIPTSET scripts)
        # take the tensors positionally.
        self.entry_point = function in script.entry_points
        self.variadic = variadic

    def compute(self) -> None:
        arrays = self.script.handle.run(
            self.function, [t.array for t in self.inputs], self.keys, self.args,
            self.n_outputs, self.host, self.entry_point, self.variadic,
        )
        self.outputs = [Tensor.from_array(a) for a in arrays]
