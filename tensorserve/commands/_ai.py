"""Helpers the AI.* command families share: RedisAI's arity texts, typed lookups,
TIMEOUT parsing, and handing a run to a device queue and its result back to a client.

An execution command parses and looks everything up synchronously, then returns
BLOCKED: the client's later commands stay queued (in order) while the run is on a
worker, and :func:`_finish` answers it on the loop thread, where the outputs are
stored. That is RedisAI's RedisModule_BlockClient / unblock-and-reply, with the same
TIMEOUT rule (a run that has not started by its deadline answers ``TIMEDOUT``), except
that the reply is sent at the deadline even while the queue is still busy.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from ..errors import ReplyError, WrongTypeError
from ..protocol import OK, Raw
from ..runtime import Job, ModelRun, TensorJob
from ..runtime.batching import Signature, batch_key
from ..store.model import Model
from ..store.script import Script
from ..store.tensor import Tensor
from ._client import BLOCKED
from ._dispatch import count_error
from .aof import tensorset_argv

if TYPE_CHECKING:
    from ..store import Database
    from ._client import ClientState
    from ._server_state import ServerState

__all__ = [
    "MODEL_EMPTY",
    "TENSOR_EMPTY",
    "TIMEDOUT",
    "block",
    "count_run",
    "get_model",
    "get_tensor",
    "get_typed",
    "keyword",
    "no_transaction",
    "parse_run_timeout",
    "submit_model_run",
    "submit_run",
    "tagged_keys",
    "watch_clients",
    "wrong_arity",
]

TIMEDOUT: Final = Raw(b"+TIMEDOUT\r\n")  # a status reply, not an error (RedisAI)
MODEL_EMPTY: Final = "model key is empty"
TENSOR_EMPTY: Final = "tensor key is empty or in a different shard"
_IN_TRANSACTION: Final = "Cannot run RedisAI command within a transaction or a LUA script"
_BAD_TIMEOUT: Final = "Invalid value for TIMEOUT"

T = TypeVar("T")
_SET_UP: Final[weakref.WeakSet[ServerState]] = weakref.WeakSet()


def wrong_arity(argv: list[bytes]) -> ReplyError:
    """RedisModule_WrongArity: the command name as the client typed it."""
    name = argv[0].decode("utf-8", "replace")
    return ReplyError(f"wrong number of arguments for '{name}' command")


def no_transaction(c: ClientState) -> None:
    """Execution commands block, which MULTI/EXEC cannot: RedisAI refuses them there."""
    if c.in_exec:
        raise ReplyError(_IN_TRANSACTION)


def keyword(arg: bytes) -> bytes:
    """``arg`` upper-cased for matching option words (long arguments never match one)."""
    return arg.upper() if len(arg) <= 20 else b""


def get_typed(db: Database, key: bytes, cls: type[T], missing: str) -> T:
    """The value at ``key``: ``ERR <missing>`` when absent, WRONGTYPE unless a ``cls``."""
    value = db.lookup(key)
    if value is None:
        raise ReplyError(missing)
    if value.__class__ is not cls:
        raise WrongTypeError()
    return value


def tagged_keys(db: Database, cls: type[Model] | type[Script]) -> list[list[bytes]]:
    """AI._MODELSCAN / AI._SCRIPTSCAN: [key, tag] of every ``cls`` value, in this
    database's insertion order (REDISAI.md: a deliberate difference)."""
    return [[key, value.tag] for key, value in list(db.data.items())
            if value.__class__ is cls]


def get_model(db: Database, key: bytes) -> Model:
    return get_typed(db, key, Model, MODEL_EMPTY)


def get_tensor(db: Database, key: bytes) -> Tensor:
    return get_typed(db, key, Tensor, TENSOR_EMPTY)


def parse_run_timeout(arg: bytes) -> int:
    """TIMEOUT in milliseconds: a positive integer (RedisAI's ParseTimeout)."""
    try:
        ms = int(arg)
    except ValueError:
        raise ReplyError(_BAD_TIMEOUT) from None
    if ms <= 0 or not arg.strip().isdigit():
        raise ReplyError(_BAD_TIMEOUT)
    return ms


def submit_model_run(c: ClientState, model: Model, inputs: list[Tensor],
                     outputs: list[bytes], timeout_ms: int) -> Any:
    """Run ``model`` for client ``c`` (see :func:`submit_run`); through the batcher
    when the model batches and the inputs can join a batch."""
    job = ModelRun(model, inputs, _no_callback)
    return submit_run(c, job, model.device.queue, outputs, timeout_ms, batch_key(job))


def submit_run(c: ClientState, job: TensorJob, queue_name: str, outputs: list[bytes],
               timeout_ms: int, batch: Signature | None = None) -> Any:
    """Run ``job`` for client ``c``, storing its outputs at ``outputs``: inline when it
    is known to be cheap and its device is idle, otherwise on the device's queue, or
    collected into a batch when ``batch`` (its batch key) is given. A queued client is
    blocked and answered when the job is handed back."""
    db = c.db

    def done(finished: Job) -> None:
        try:
            reply = _complete(c, db, outputs, finished)
        except ReplyError as e:
            count_error(c.server, e)
            reply = e
        if reply is not None:
            c.unblock(reply)

    job.on_done = done
    server = c.server
    runtime = server.runtime
    queue = runtime.queue(queue_name)
    limit_ns = server.config.inline_run_max_us * 1000
    batcher = runtime.batcher
    # A batchable run goes straight on when its queue is idle with nothing collected
    # (the batcher says): "run what is ready now", with no added delay.
    now = batch is None or batcher.may_run_now(cast(ModelRun, job), queue)
    if (now and limit_ns and queue.idle
            and job.stats.predict_ns(job.input_bytes) <= limit_ns):
        job.enqueued_ns = time.perf_counter_ns()
        job.execute()
        job.stats.ran_inline(job.duration_ns, limit_ns)
        if batch is not None:
            batcher.ran_now(cast(ModelRun, job))
        return _complete(c, db, outputs, job)
    runtime.check_room(queue_name)
    block(c, job, timeout_ms)
    if batch is None:
        queue.submit(job)
    elif now:
        batcher.submit_now(cast(ModelRun, job), queue)
    else:
        batcher.add(cast(ModelRun, job), batch)
    return BLOCKED


def _no_callback(job: Job) -> None:
    raise AssertionError("on_done is set by submit_run")


def block(c: ClientState, job: Job, timeout_ms: int) -> None:
    """Block client ``c`` on ``job`` (about to be queued) and start its TIMEOUT."""
    server = c.server
    watch_clients(server)
    if timeout_ms:
        job.deadline = time.monotonic() + timeout_ms / 1000.0
        if server.loop is not None:
            job.timer = server.loop.call_later(timeout_ms / 1000.0, _timed_out, c, job)
    c.blocked_on = job


def watch_clients(server: ServerState) -> None:
    """Cancel a client's pending run when it disconnects (installed once per server)."""
    if server not in _SET_UP:
        _SET_UP.add(server)
        server.on_client_gone.append(_client_gone)


def _timed_out(c: ClientState, job: Job) -> None:
    # The deadline passed before the worker answered. A run that has not started
    # answers TIMEDOUT now (the worker will skip it). One that started in time is left
    # to finish and answer its own result: RedisAI checks TIMEOUT only when a job is
    # dequeued, so a run under way is neither killed nor turned into TIMEDOUT
    # (REDISAI.md 1.2, AI.MODELEXECUTE). ``ran`` is set by the worker before it
    # computes; if it is set just after this check, the client was told TIMEDOUT and
    # _complete stores nothing, which is consistent too.
    job.timer = None
    if job.cancelled or job.ran:
        return
    job.cancelled = True
    if c.blocked_on is job:
        c.unblock(TIMEDOUT)


def _client_gone(c: ClientState) -> None:
    job = c.blocked_on
    cancel = getattr(job, "cancel", None)
    if cancel is not None:  # a DAG
        cancel()
    elif isinstance(job, Job):
        job.cancelled = True
        if job.timer is not None:
            job.timer.cancel()
            job.timer = None


def count_run(job: TensorJob) -> None:
    """Add a finished run to its model's or script's AI.INFO statistics."""
    stats = job.stats
    if not job.ran:
        return
    stats.calls += 1
    stats.queue_wait_ns += job.wait_ns
    stats.wait_hist[job.wait_ns.bit_length()] += 1
    if job.error is not None:
        stats.errors += 1
    else:
        stats.duration_ns += job.duration_ns
        stats.run_hist[job.duration_ns.bit_length()] += 1
        stats.samples += job.samples
        if not job.batched:  # a batch is observed once, as a whole (runtime/batching)
            stats.observe(job.duration_ns, job.input_bytes)


def _complete(c: ClientState, db: Database, out_keys: list[bytes], job: Job) -> Any:
    """On the loop thread: count the run, store its outputs and return the reply (None
    when the client was answered already or is gone); raises the run's error."""
    assert isinstance(job, TensorJob)
    if job.timer is not None:
        job.timer.cancel()
        job.timer = None
    count_run(job)
    if job.cancelled:
        return None  # answered already (TIMEDOUT) or the client is gone
    if not job.ran:
        return TIMEDOUT
    if job.error is not None:
        raise job.error
    # RedisAI opens each output key as a tensor (RAI_TensorOpenKey): a key holding any
    # other type answers WRONGTYPE instead of being overwritten (MODELEXECUTE m ...
    # OUTPUTS 1 m must not destroy the model). All are checked before any is written.
    for key in out_keys:
        old = db.lookup(key)
        if old is not None and old.__class__ is not Tensor:
            raise WrongTypeError()
    aof = c.server.aof
    for key, tensor in zip(out_keys, job.outputs, strict=True):
        db.set(key, tensor)
        if aof is not None:  # the run's result, not the run, is what a replay applies
            aof.feed(db.id, tensorset_argv(key, tensor))
    return OK


