"""AI.DAGEXECUTE / AI.DAGEXECUTE_RO and the deprecated AI.DAGRUN / AI.DAGRUN_RO.

As RedisAI 1.2 (src/execution/parsing/dag_parser.c, src/execution/DAG/*.c;
../shared/REDISAI.md 1.2 and 2.4). Everything is parsed and looked up on the loop
thread first - LOAD tensors, TENSORSET ops (executed at once), models and scripts -
so any parse error fails the whole command and changes nothing. The compute ops then
run on their devices' queues (runtime/dag.py); the reply has one element per op, and
PERSIST writes happen only when no op failed.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any, Final

from ..errors import BareError, ReplyError, WrongTypeError
from ..protocol import OK, Raw
from ..runtime import Job, ModelRun
from ..runtime.dag import Dag, DagOp, DagStep
from ..store.tensor import Tensor
from ._acl import READ, WRITE
from ._ai import (
    TIMEDOUT,
    count_run,
    get_tensor,
    keyword,
    no_transaction,
    parse_run_timeout,
    watch_clients,
)
from ._client import BLOCKED, ClientState
from ._dispatch import count_error
from ._script_host import LoopScriptHost
from ._spec import command
from .aof import tensorset_argv
from .model import parse_modelexecute, parse_modelrun
from .script import (
    SCRIPTEXECUTE_ARITY,
    SCRIPTRUN_ARITY,
    get_script,
    parse_scriptexecute,
    parse_scriptrun,
)
from .tensor import parse_get_format, parse_tensorset, tensor_cap, tensor_reply

_NA: Final = Raw(b"+NA\r\n")
_SEP: Final = b"|>"
_INPUT_MISSING: Final = "INPUT key cannot be found in DAG"



def _keys_after(argv: list[bytes], pos: int, word: str, what: str) -> tuple[list[bytes], int]:
    """LOAD n k... / PERSIST n k... at argv[pos] (the keyword)."""
    argc = len(argv)
    if argc - pos < 3:  # RedisAI: the keyword, a count and at least one key
        raise ReplyError(f"missing arguments after {word} keyword in DAG command")
    count = argv[pos + 1]
    if not count.isdigit() or int(count) <= 0:
        raise ReplyError(f"invalid or negative value found in number of keys to {word}")
    n = int(count)
    keys = argv[pos + 2:pos + 2 + n]
    if len(keys) != n or _SEP in keys:
        raise ReplyError(f"number of keys to {what} does not match the number of given "
                         "arguments")
    return keys, pos + 2 + n


class _Plan:
    __slots__ = ("dag", "persist", "timeout")

    def __init__(self) -> None:
        self.dag = Dag()
        self.persist: list[bytes] = []
        self.timeout = 0


def _parse(c: ClientState, argv: list[bytes], readonly: bool, deprecated: bool) -> _Plan:
    argc = len(argv)
    name = ("AI.DAGRUN" if deprecated else "AI.DAGEXECUTE") + ("_RO" if readonly else "")
    if deprecated and argc < 4:
        raise ReplyError(f"wrong number of arguments for '{name}' command")
    if not deprecated and argc < 6:
        raise ReplyError(f"missing arguments for '{name}' command")
    plan = _Plan()
    dag = plan.dag
    db = c.db
    load: list[bytes] = []
    any_keyword = False
    seen: set[bytes] = set()
    pos = 1
    while pos < argc and argv[pos] != _SEP:
        word = keyword(argv[pos])
        if word in seen:  # RedisAI takes each keyword once; again, it is unexpected
            word = b""
        seen.add(word)
        if word == b"LOAD":
            keys, pos = _keys_after(argv, pos, "LOAD", "LOAD into DAG")
            load += keys
        elif word == b"PERSIST":
            if readonly:
                raise ReplyError("PERSIST cannot be specified in a read-only DAG")
            keys, pos = _keys_after(argv, pos, "PERSIST", "PERSIST after DAG execution")
            if len(set(keys)) != len(keys):
                raise ReplyError("PERSIST keys must be unique")
            plan.persist += keys
        elif word == b"ROUTING":
            if pos + 1 >= argc or argv[pos + 1] == _SEP:
                raise ReplyError("Missing ROUTING value")
            pos += 2
        elif word == b"TIMEOUT":
            if pos + 1 >= argc:
                raise ReplyError("No value provided for TIMEOUT")
            plan.timeout = parse_run_timeout(argv[pos + 1])
            pos += 2
            continue
        else:
            raise ReplyError("Invalid DAG command. Unexpected argument:  "
                             + argv[pos].decode("utf-8", "replace"))
        any_keyword = True
    if not deprecated and not any_keyword:
        raise ReplyError("AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least "
                         "one out of ROUTING, LOAD, PERSIST keywords")
    for key in load:
        dag.new_slot(key, get_tensor(db, key))
    if argv[-1] == _SEP:  # RedisAI's parser starts an op only at a |> with args after it
        raise ReplyError("Invalid DAG command. Unexpected argument:  |>")
    ops: list[list[bytes]] = []
    for arg in argv[pos:]:
        if arg == _SEP:
            ops.append([])
        else:
            ops[-1].append(arg)
    if not ops:
        raise ReplyError("DAG is empty")
    for op_argv in ops:
        dag.add(_parse_op(c, dag, op_argv, readonly, deprecated))
    for key in plan.persist:
        if key not in dag.names:
            raise ReplyError("PERSIST key cannot be found in DAG")
    return plan


def _inputs(dag: Dag, keys: list[bytes]) -> list[int]:
    slots = []
    for key in keys:
        slot = dag.names.get(key)
        if slot is None:
            raise ReplyError(_INPUT_MISSING)
        slots.append(slot)
    return slots


def _parse_op(c: ClientState, dag: Dag, argv: list[bytes], readonly: bool,
              deprecated: bool) -> DagOp:
    if not argv:  # "|> |>": RedisAI reads the next "|>" as the op's name
        raise BareError("Unsupported command within DAG")
    cmd = argv[0].upper()
    n = len(argv)
    if cmd == b"AI.TENSORSET":
        if n < 4:
            raise BareError("wrong number of arguments for 'AI.TENSORSET' command")
        op = DagOp("set")
        dag.new_slot(argv[1], parse_tensorset(argv, *tensor_cap(c.server.config)))
        return op
    if cmd == b"AI.TENSORGET":
        if not 2 <= n <= 4:
            raise BareError("wrong number of arguments for 'AI.TENSORGET' command")
        op = DagOp("get")
        op.inputs = _inputs(dag, [argv[1]])
        op.fmt = parse_get_format(argv)
        return op
    if cmd in (b"AI.MODELEXECUTE", b"AI.MODELRUN"):
        if (cmd == b"AI.MODELRUN") != deprecated:
            if deprecated:
                raise BareError("AI.MODELEXECUTE cannot be used in a deprecated AI.DAGRUN "
                                "command")
            raise BareError("Deprecated AI.MODELRUN cannot be used in AI.DAGEXECUTE command")
        if n < 2:
            raise ReplyError("model key is empty")
        parse = parse_modelrun if deprecated else parse_modelexecute
        call = parse(c.db, argv, in_dag=True)
        op = DagOp("model")
        op.target = call.model
        op.queue = call.model.device.queue
        op.inputs = _inputs(dag, call.inputs)
        op.outputs = [dag.new_slot(k) for k in call.outputs]
        return op
    if cmd in (b"AI.SCRIPTEXECUTE", b"AI.SCRIPTRUN"):
        if (cmd == b"AI.SCRIPTRUN") != deprecated:
            if deprecated:
                raise BareError("AI.SCRIPTEXECUTE cannot be used in a deprecated AI.DAGRUN "
                                "command")
            raise BareError("Deprecated AI.SCRIPTRUN cannot be used in AI.DAGEXECUTE command")
        if readonly and not deprecated:
            raise ReplyError("AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG")
        if n < 3:  # the parser's arity check (RedisAI 1.2.7 takes any function name)
            raise ReplyError(SCRIPTRUN_ARITY if deprecated else SCRIPTEXECUTE_ARITY)
        script = get_script(c, argv[1])
        scall = parse_scriptrun(argv) if deprecated else parse_scriptexecute(argv, True)
        if scall.timeout:
            raise ReplyError("TIMEOUT not allowed within a DAG command")
        op = DagOp("script")
        op.target = script
        op.queue = script.device.queue
        op.function = scall.function
        op.keys = [k.decode("utf-8", "replace") for k in scall.keys]
        op.args = [a.decode("utf-8", "replace") for a in scall.args]
        op.variadic = scall.variadic
        op.inputs = _inputs(dag, scall.inputs)
        op.outputs = [dag.new_slot(k) for k in scall.outputs]
        if dag.host is None:
            dag.host = LoopScriptHost(c.server, c.db)
        return op
    raise BareError("Unsupported command within DAG")


class _DagRun:
    """The loop-side driver of one DAG: submits steps, counts, answers the client."""

    __slots__ = ("answered", "batched", "client", "counted", "db", "deadline", "plan",
                 "timer")

    def __init__(self, c: ClientState, plan: _Plan) -> None:
        self.client = c
        self.db = c.db
        self.plan = plan
        self.answered = False
        self.counted: set[int] = set()
        self.timer: Any = None
        self.deadline = 0.0
        self.batched: list[ModelRun] = []  # model ops waiting in the batcher or running

    @property
    def cancelled(self) -> bool:
        return self.answered

    def start(self) -> Any:
        dag = self.plan.dag
        if not dag.by_queue:
            return self._reply()
        c = self.client
        server = c.server
        timeout = self.plan.timeout
        if timeout and server.loop is not None:
            self.timer = server.loop.call_later(timeout / 1000.0, self._timed_out)
        self.deadline = time.monotonic() + timeout / 1000.0 if timeout else 0.0
        for q in dag.by_queue:
            server.runtime.check_room(q)  # before anything runs
        watch_clients(server)
        self._submit_ready()
        c.blocked_on = self
        return BLOCKED

    def _submit_ready(self) -> None:
        dag = self.plan.dag
        runtime = self.client.server.runtime
        for q in dag.ready_queues():
            dag.running.add(q)
            op = dag.next_op(q)
            if op.batches:
                job = op.make_job(dag.inputs_of(op), dag.host, partial(self._op_done, op))
                assert isinstance(job, ModelRun)
                job.deadline = self.deadline
                self.batched.append(job)
                runtime.submit_model(job)
            else:
                runtime.submit(q, DagStep(dag, q, self._step_done, self.deadline))

    def _op_done(self, op: DagOp, job: Job) -> None:
        # A model op run through the batcher is back (loop thread).
        assert isinstance(job, ModelRun)
        dag = self.plan.dag
        dag.running.discard(op.queue)
        self.batched.remove(job)
        if job.ran:
            dag.record(op, job)
            dag.cursor[op.queue] += 1
        self._progress(job)

    def _step_done(self, job: Job) -> None:
        assert isinstance(job, DagStep)
        self.plan.dag.running.discard(job.queue)
        self._progress(job)

    def _progress(self, job: Job) -> None:
        dag = self.plan.dag
        self._count()
        if self.answered:
            return
        if not job.ran and not job.cancelled:
            self._answer(TIMEDOUT)  # its deadline passed while it waited
            return
        self._submit_ready()
        if dag.finished():
            reply: Any
            try:
                reply = self._reply()
            except ReplyError as e:
                count_error(self.client.server, e)
                reply = e
            self._answer(reply)

    def _count(self) -> None:
        for i, op in enumerate(self.plan.dag.ops):
            if op.job is not None and i not in self.counted:
                self.counted.add(i)
                count_run(op.job)

    def _timed_out(self) -> None:
        self.timer = None
        if not self.answered:
            self.plan.dag.failed = True  # steps still queued stop at once
            self._answer(TIMEDOUT)

    def _answer(self, reply: Any) -> None:
        self._stop()
        c = self.client
        if c.blocked_on is self:
            c.unblock(reply)

    def cancel(self) -> None:
        """The client left: stop submitting, skip what is still queued."""
        self.plan.dag.failed = True
        self._stop()

    def _stop(self) -> None:
        self.answered = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        for job in self.batched:
            job.cancelled = True  # the batcher hands it back without running it

    def _reply(self) -> list[Any]:
        dag = self.plan.dag
        resp = self.client.resp
        out: list[Any] = []
        for op in dag.ops:
            if op.kind == "set":
                out.append(OK)
            elif op.kind == "get":
                value = dag.slots[op.inputs[0]]
                out.append(_NA if value is None else tensor_reply(value, op.fmt, resp))
            elif op.error is not None:
                out.append(op.error)
            else:
                out.append(OK if op.done else _NA)
        if not dag.failed:
            db = self.db
            for key in self.plan.persist:
                value = dag.slots[dag.names[key]]
                old = db.lookup(key)
                if old is not None and old.__class__ is not Tensor:
                    out.append(WrongTypeError())
                    continue
                db.set(key, value)
                aof = self.client.server.aof
                if aof is not None and value is not None:
                    aof.feed(db.id, tensorset_argv(key, value))
        return out


def _dag(c: ClientState, argv: list[bytes], readonly: bool, deprecated: bool) -> Any:
    no_transaction(c)
    plan = _parse(c, argv, readonly, deprecated)
    return _DagRun(c, plan).start()


def dag_key_access(argv: list[bytes]) -> list[tuple[bytes, int]]:
    """Each key a DAG names, with the access it needs (ACL READ / WRITE bits): LOAD keys
    are read, PERSIST keys written, and each op's model or script key read. One parse
    for COMMAND GETKEYS and the ACL key check."""
    out: list[tuple[bytes, int]] = []
    pos = 1
    while pos < len(argv) and argv[pos] != _SEP:
        word = keyword(argv[pos])
        if word in (b"LOAD", b"PERSIST") and pos + 1 < len(argv) and argv[pos + 1].isdigit():
            n = int(argv[pos + 1])
            flags = READ if word == b"LOAD" else WRITE
            out += [(k, flags) for k in argv[pos + 2:pos + 2 + n]]
            pos += 2 + n
        else:
            pos += 1
    for i, arg in enumerate(argv[:-1]):
        if keyword(arg) in (b"AI.MODELEXECUTE", b"AI.SCRIPTEXECUTE", b"AI.MODELRUN",
                           b"AI.SCRIPTRUN"):
            out.append((argv[i + 1], READ))
    return out


def _dag_keys(argv: list[bytes]) -> list[bytes]:
    """LOAD and PERSIST keys, and the model / script key of each execution op."""
    return [key for key, _ in dag_key_access(argv)]


@command("ai.dagexecute", -1, "write denyoom blocking", group="dag", since="1.2.5",
         complexity="O(ops)", get_keys=_dag_keys,
         summary="Runs a DAG of tensor, model and script ops in one round trip.",
         acl=("@write", "@slow", "@blocking", "@ai", "@ai-run"))
def dagexecute(c: ClientState, argv: list[bytes]) -> Any:
    return _dag(c, argv, readonly=False, deprecated=False)


@command("ai.dagexecute_ro", -1, "readonly blocking", group="dag", since="1.2.5",
         complexity="O(ops)", get_keys=_dag_keys,
         summary="Runs a read-only DAG (no PERSIST, no scripts).",
         acl=("@read", "@slow", "@blocking", "@ai", "@ai-run"))
def dagexecute_ro(c: ClientState, argv: list[bytes]) -> Any:
    return _dag(c, argv, readonly=True, deprecated=False)


@command("ai.dagrun", -1, "write denyoom blocking", group="dag", since="1.0.0",
         complexity="O(ops)", get_keys=_dag_keys,
         summary="Runs a DAG (deprecated: use AI.DAGEXECUTE).",
         acl=("@write", "@slow", "@blocking", "@ai", "@ai-run"))
def dagrun(c: ClientState, argv: list[bytes]) -> Any:
    return _dag(c, argv, readonly=False, deprecated=True)


@command("ai.dagrun_ro", -1, "readonly blocking", group="dag", since="1.0.0",
         complexity="O(ops)", get_keys=_dag_keys,
         summary="Runs a read-only DAG (deprecated: use AI.DAGEXECUTE_RO).",
         acl=("@read", "@slow", "@blocking", "@ai", "@ai-run"))
def dagrun_ro(c: ClientState, argv: list[bytes]) -> Any:
    return _dag(c, argv, readonly=True, deprecated=True)
