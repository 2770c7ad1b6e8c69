"""AI.MODELSTORE / MODELSET / MODELGET / MODELDEL / MODELEXECUTE / MODELRUN / _MODELSCAN.

As RedisAI 1.2 answers them (src/redisai.c, src/execution/parsing/model_commands_parser.c,
src/execution/parsing/deprecated.c; ../shared/REDISAI.md 1.2/1.3). Like every module
command they are registered with arity -1 and check their argument counts themselves,
so the arity error echoes the name as typed.

Storing compiles the blob synchronously (RedisAI does too); running is asynchronous:
the handler looks everything up, queues the run on the model's device and returns
BLOCKED (see _ai.py).
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import BareError, ReplyError, WrongTypeError
from ..protocol import OK
from ..runtime import INVALID_DEVICE, BackendError, Device, parse_device
from ..runtime.backends import KNOWN_BACKENDS, get_backend
from ..store import Database
from ..store.model import Model
from ._ai import (
    get_model,
    get_tensor,
    keyword,
    no_transaction,
    parse_run_timeout,
    submit_model_run,
    tagged_keys,
    wrong_arity,
)
from ._args import parse_int
from ._client import ClientState
from ._server_state import ServerState
from ._spec import command

_UNSUPPORTED_BACKEND: Final = "unsupported backend"
_MISSING_BLOB: Final = "Insufficient arguments, missing model BLOB"
_EXPECTED_BLOB: Final = "Invalid argument, expected BLOB"
_NO_INPUTS_HERE: Final = "INPUTS argument should not be specified for this backend"
_COULD_NOT_LOAD: Final = "Could not load backend"
_INPUTS_MISMATCH: Final = "Number of keys given as INPUTS here does not match model definition"
_OUTPUTS_MISMATCH: Final = "Number of keys given as OUTPUTS here does not match model definition"
_OPTION_WORDS: Final = frozenset(
    (b"INPUTS", b"OUTPUTS", b"TAG", b"BATCHSIZE", b"MINBATCHSIZE", b"MINBATCHTIMEOUT", b"BLOB")
)



def _unsigned(arg: bytes, what: str) -> int:
    """AC_GetUnsignedLongLong: digits only, fits 64 bits."""
    if not arg.isdigit() or len(arg) > 20 or int(arg) >= 1 << 64:
        raise ReplyError(f"Invalid argument for {what}")
    return int(arg)


class _StoreArgs:
    """What AI.MODELSTORE / AI.MODELSET parse before the blob."""

    __slots__ = ("backend", "batchsize", "device", "minbatchsize", "minbatchtimeout", "pos",
                 "tag")

    def __init__(self, argv: list[bytes], deprecated: bool = False) -> None:
        backend = keyword(argv[2]).decode("latin-1")
        if backend not in KNOWN_BACKENDS:
            raise ReplyError(_UNSUPPORTED_BACKEND)
        self.backend = backend
        if keyword(argv[3]) in _OPTION_WORDS:
            raise ReplyError(INVALID_DEVICE)
        device = parse_device(argv[3])
        if device is None:
            raise ReplyError(INVALID_DEVICE)
        self.device = device
        argc = len(argv)
        pos = 4
        self.tag = b""
        if pos < argc and keyword(argv[pos]) == b"TAG":
            if pos + 1 >= argc:
                raise ReplyError(_MISSING_BLOB)
            self.tag = argv[pos + 1]
            pos += 2
        self.batchsize = self.minbatchsize = self.minbatchtimeout = 0
        if pos < argc and keyword(argv[pos]) == b"BATCHSIZE":
            if deprecated and backend == "TFLITE":  # MODELSET refuses the word itself
                raise ReplyError("Auto-batching not supported by the TFLITE backend")
            self.batchsize = _unsigned(argv[pos + 1] if pos + 1 < argc else b"", "BATCHSIZE")
            pos += 2
        # RedisAI's two parsers differ: MODELSTORE reads the value first and refuses
        # only a non-zero one (its AOF rewrite emits "BATCHSIZE 0 MINBATCHSIZE 0
        # MINBATCHTIMEOUT 0" for every model, REDISAI.md 2.6); MODELSET (deprecated.c)
        # refuses the word itself, and says "without BATCHSIZE" first.
        if pos < argc and keyword(argv[pos]) == b"MINBATCHSIZE":
            if deprecated and not self.batchsize:
                raise ReplyError("MINBATCHSIZE specified without BATCHSIZE")
            self.minbatchsize = _unsigned(argv[pos + 1] if pos + 1 < argc else b"",
                                          "MINBATCHSIZE")
            if self.minbatchsize and not self.batchsize:
                raise ReplyError("MINBATCHSIZE specified without BATCHSIZE")
            pos += 2
        if pos < argc and keyword(argv[pos]) == b"MINBATCHTIMEOUT":
            if deprecated and not self.batchsize:
                raise ReplyError("MINBATCHTIMEOUT specified without BATCHSIZE")
            if deprecated and not self.minbatchsize:
                raise ReplyError("MINBATCHTIMEOUT specified without MINBATCHSIZE")
            self.minbatchtimeout = _unsigned(argv[pos + 1] if pos + 1 < argc else b"",
                                             "MINBATCHTIMEOUT")
            if self.minbatchtimeout and not self.minbatchsize:
                raise ReplyError("MINBATCHTIMEOUT specified without MINBATCHSIZE")
            pos += 2
        self.pos = pos


def _skip_tf_names(argv: list[bytes], pos: int) -> int:
    """Step over TF's counted INPUTS/OUTPUTS lists (TF models cannot load here, but their
    arguments still parse with RedisAI's errors before that is said)."""
    argc = len(argv)
    for word in (b"INPUTS", b"OUTPUTS"):
        if pos >= argc or keyword(argv[pos]) != word:
            raise ReplyError(f"{word.decode()} not specified for TF")
        pos += 1
        what = "input_count" if word == b"INPUTS" else "output_count"
        # A count of 0 is refused too (RedisAI: "|| ninputs == 0").
        if pos >= argc or not argv[pos].isdigit() or int(argv[pos]) == 0:
            raise ReplyError(f"Invalid argument for {what}")
        n = int(argv[pos])
        pos += 1
        if n > argc - pos:
            raise ReplyError(
                f"number of model {word.decode().lower()} does not match the number "
                "of given arguments"
            )
        pos += n
    return pos


def _store(c: ClientState, argv: list[bytes], args: _StoreArgs, pos: int) -> Any:
    """Compile the blob at argv[pos:] and store the model (after parsing succeeded)."""
    argc = len(argv)
    if pos >= argc:
        raise ReplyError(_MISSING_BLOB)
    chunks = argv[pos:]
    blob = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    key = argv[1]
    model = build_model(c.server, key, args.backend, args.device, args.tag, args.batchsize,
                        args.minbatchsize, args.minbatchtimeout, blob)
    db = c.db
    old = db.lookup(key)
    if old is not None and old.__class__ is not Model:
        raise WrongTypeError()  # after compiling, as RedisAI
    db.set(key, model)
    return OK


def build_model(server: ServerState, key: bytes, backend_name: str, device: Device,
                tag: bytes, batchsize: int, minbatchsize: int, minbatchtimeout: int,
                blob: bytes) -> Model:
    """Compile ``blob`` into a Model value (AI.MODELSTORE, and loading a snapshot)."""
    backend = get_backend(backend_name)
    if backend is None:
        raise ReplyError(_COULD_NOT_LOAD)
    runtime = server.runtime
    try:
        handle = backend.load_model(blob, device, runtime.options)
    except BackendError as e:
        raise BareError(str(e)) from None
    model = Model(backend_name, device, tag, batchsize, minbatchsize, minbatchtimeout,
                  blob, handle, key)
    runtime.queue(device.queue)  # RedisAI creates the queue at store time
    runtime.run_values.add(model)
    if batchsize:
        runtime.batching_models.add(model)
    return model


@command("ai.modelstore", -1, "write denyoom", keys=(1, 1, 1), group="model", since="1.2.5",
         complexity="O(1)", summary="Stores a model (TORCH or ONNX) under a key.",
         acl=("@write", "@slow", "@ai", "@ai-store"))
def modelstore(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) < 6:
        raise wrong_arity(argv)
    args = _StoreArgs(argv)
    pos = args.pos
    argc = len(argv)
    if pos >= argc:
        raise ReplyError(_MISSING_BLOB)
    if args.backend == "TF":
        pos = _skip_tf_names(argv, pos)
    elif keyword(argv[pos]) != b"BLOB":
        if keyword(argv[pos]) == b"INPUTS":
            raise ReplyError(_NO_INPUTS_HERE)
        raise ReplyError(_EXPECTED_BLOB)
    if pos >= argc or keyword(argv[pos]) != b"BLOB":
        raise ReplyError(_EXPECTED_BLOB)
    return _store(c, argv, args, pos + 1)


@command("ai.modelset", -1, "write denyoom", keys=(1, 1, 1), group="model", since="1.0.0",
         complexity="O(1)", summary="Stores a model (deprecated: use AI.MODELSTORE).",
         acl=("@write", "@slow", "@ai", "@ai-store"))
def modelset(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) < 4:
        raise wrong_arity(argv)
    args = _StoreArgs(argv, deprecated=True)
    pos = args.pos
    argc = len(argv)
    if pos >= argc:
        raise ReplyError(_MISSING_BLOB)
    # As RedisAI's ModelSetCommand: what comes before BLOB is TF's INPUTS/OUTPUTS and
    # is skipped for the other backends (redisai-py's modelset sends TAG after
    # BATCHSIZE, where RedisAI does not look for it, and that must still store).
    blob_at = next((i for i in range(pos, argc) if keyword(argv[i]) == b"BLOB"), argc)
    if args.backend == "TF":
        if blob_at == pos:
            raise ReplyError("Insufficient arguments, INPUTS and OUTPUTS not specified")
        if keyword(argv[pos]) != b"INPUTS":
            raise ReplyError("INPUTS not specified")
        if not any(keyword(a) == b"OUTPUTS" for a in argv[pos + 1:blob_at]):
            raise ReplyError("OUTPUTS not specified")
    if blob_at + 1 >= argc:
        raise ReplyError(_MISSING_BLOB)
    return _store(c, argv, args, blob_at + 1)


def _blob_reply(blob: bytes, chunk: int) -> Any:
    """A bulk string under MODEL_CHUNK_SIZE, else an array of chunks (len // chunk + 1 of
    them, so an exact multiple ends with an empty chunk, as RedisAI sends it)."""
    if len(blob) < chunk:
        return blob
    view = memoryview(blob)
    return [bytes(view[i * chunk:(i + 1) * chunk]) for i in range(len(blob) // chunk + 1)]


@command("ai.modelget", -1, "readonly", keys=(1, 1, 1), group="model", since="1.0.0",
         complexity="O(1)", summary="Returns a model's metadata and blob.",
         acl=("@read", "@slow", "@ai"))
def modelget(c: ClientState, argv: list[bytes]) -> Any:
    argc = len(argv)
    if not 2 <= argc <= 4:
        raise wrong_arity(argv)
    model = get_model(c.db, argv[1])
    words = {keyword(a) for a in argv[2:]}
    meta, blob = b"META" in words, b"BLOB" in words  # anything else is ignored
    if not meta and not blob:
        meta = blob = True
    chunk = c.server.config.model_chunk_size
    if not meta:
        return _blob_reply(model.blob, chunk)
    reply: dict[bytes, Any] = {
        b"backend": model.backend.encode(),
        b"device": model.device.name.encode(),
        b"tag": model.tag,
        b"batchsize": model.batchsize,
        b"minbatchsize": model.minbatchsize,
        b"inputs": [n.encode() for n in model.inputs],
        b"outputs": [n.encode() for n in model.outputs],
        b"minbatchtimeout": model.minbatchtimeout,
    }
    if blob:
        reply[b"blob"] = _blob_reply(model.blob, chunk)
    return reply


@command("ai.modeldel", -1, "write", keys=(1, 1, 1), group="model", since="1.0.0",
         complexity="O(1)", summary="Deletes a model.",
         acl=("@write", "@slow", "@ai", "@ai-store"))
def modeldel(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) != 2:
        raise wrong_arity(argv)
    get_model(c.db, argv[1])
    c.db.delete(argv[1])
    return OK


def _execute_keys(argv: list[bytes]) -> list[bytes]:
    """COMMAND GETKEYS for AI.MODELEXECUTE: the model, its inputs and outputs."""
    keys = [argv[1]]
    try:
        n = int(argv[3])
        keys += argv[4:4 + n]
        m = int(argv[5 + n])
        keys += argv[6 + n:6 + n + m]
    except (IndexError, ValueError):
        pass
    return keys


class ModelCall:
    """A parsed AI.MODELEXECUTE / AI.MODELRUN (also an op inside a DAG)."""

    __slots__ = ("inputs", "model", "outputs", "timeout")

    def __init__(self, model: Model, inputs: list[bytes], outputs: list[bytes],
                 timeout: int) -> None:
        self.model = model
        self.inputs = inputs
        self.outputs = outputs
        self.timeout = timeout


def parse_modelexecute(db: Database, argv: list[bytes], in_dag: bool = False) -> ModelCall:
    """``key INPUTS n in... OUTPUTS m out... [TIMEOUT ms]``, checked in RedisAI's order
    (model_commands_parser.c); the model is looked up first."""
    argc = len(argv)
    model = get_model(db, argv[1])
    if argc < 3 or keyword(argv[2]) != b"INPUTS":
        raise ReplyError("INPUTS not specified")
    n_in = _count(argv[3] if argc > 3 else b"", "input_count",
                  "Input count must be a positive integer")
    if n_in != len(model.inputs):
        raise BareError(_INPUTS_MISMATCH)
    pos = 4
    in_keys = argv[pos:pos + n_in]
    if len(in_keys) != n_in:
        raise ReplyError("number of input keys to AI.MODELEXECUTE command does not match "
                         "the number of given arguments")
    pos += n_in
    if pos >= argc or keyword(argv[pos]) != b"OUTPUTS":
        raise ReplyError("OUTPUTS not specified")
    pos += 1
    n_out = _count(argv[pos] if pos < argc else b"", "output_count",
                   "Output count must be a positive integer")
    if n_out != len(model.outputs):
        raise BareError(_OUTPUTS_MISMATCH)
    pos += 1
    out_keys = argv[pos:pos + n_out]
    if len(out_keys) != n_out:
        raise ReplyError("number of output keys to AI.MODELEXECUTE command does not match "
                         "the number of given arguments")
    pos += n_out
    timeout = 0
    if pos < argc:
        word = argv[pos]
        if keyword(word) != b"TIMEOUT":
            raise BareError("Invalid argument: " + word.decode("utf-8", "replace"))
        if in_dag:
            raise ReplyError("TIMEOUT not allowed within a DAG command")
        if pos + 1 >= argc:
            raise ReplyError("No value provided for TIMEOUT")
        timeout = parse_run_timeout(argv[pos + 1])
        if pos + 2 < argc:
            raise BareError("Invalid argument: " + argv[pos + 2].decode("utf-8", "replace"))
    return ModelCall(model, in_keys, out_keys, timeout)


@command("ai.modelexecute", -1, "write denyoom blocking", keys=(1, 1, 1), group="model",
         since="1.2.5", complexity="O(1)", get_keys=_execute_keys,
         summary="Runs a model on input tensors, storing the output tensors.",
         acl=("@write", "@slow", "@blocking", "@ai", "@ai-run"))
def modelexecute(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) < 8:
        raise wrong_arity(argv)
    no_transaction(c)
    return _run(c, parse_modelexecute(c.db, argv))


def _run(c: ClientState, call: ModelCall) -> Any:
    inputs = [get_tensor(c.db, k) for k in call.inputs]
    return submit_model_run(c, call.model, inputs, call.outputs, call.timeout)


def _count(arg: bytes, what: str, not_positive: str) -> int:
    """RedisAI's MODELEXECUTE counts: not an integer (or missing) is "Invalid argument
    for input_count/output_count", an integer <= 0 is the "positive integer" text."""
    n = parse_int(arg, f"Invalid argument for {what}")
    if n <= 0:
        raise ReplyError(not_positive)
    return n


def _run_keys(argv: list[bytes]) -> list[bytes]:
    return [argv[1]] + [a for a in argv[2:] if keyword(a) not in (b"INPUTS", b"OUTPUTS")]


@command("ai.modelrun", -1, "write denyoom blocking", keys=(1, 1, 1), group="model",
         since="1.0.0", complexity="O(1)", get_keys=_run_keys,
         summary="Runs a model (deprecated: use AI.MODELEXECUTE).",
         acl=("@write", "@slow", "@blocking", "@ai", "@ai-run"))
def modelrun(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) < 6:
        raise wrong_arity(argv)
    no_transaction(c)
    return _run(c, parse_modelrun(c.db, argv))


def parse_modelrun(db: Database, argv: list[bytes], in_dag: bool = False) -> ModelCall:
    """Deprecated ``key [TIMEOUT t] INPUTS in... OUTPUTS out...`` (deprecated.c)."""
    argc = len(argv)
    model = get_model(db, argv[1])
    pos = 2
    timeout = 0
    if pos < argc and keyword(argv[pos]) == b"TIMEOUT":
        if in_dag:
            raise ReplyError("TIMEOUT not allowed within a DAG command")
        timeout = parse_run_timeout(argv[pos + 1] if pos + 1 < argc else b"")
        pos += 2
    if pos >= argc or keyword(argv[pos]) != b"INPUTS":
        raise ReplyError("INPUTS not specified")
    in_keys: list[bytes] = []
    out_keys: list[bytes] = []
    target = in_keys
    for arg in argv[pos + 1:]:
        if target is in_keys and keyword(arg) == b"OUTPUTS":
            target = out_keys
            continue
        target.append(arg)
    # No "OUTPUTS not specified" here: RedisAI's MODELRUN parser only compares counts
    # (deprecated.c), so a missing OUTPUTS is reported as a count mismatch.
    if len(in_keys) != len(model.inputs):
        raise BareError(_INPUTS_MISMATCH)
    if len(out_keys) != len(model.outputs):
        raise BareError(_OUTPUTS_MISMATCH)
    return ModelCall(model, in_keys, out_keys, timeout)


@command("ai._modelscan", -1, "readonly", group="model", since="1.0.0", complexity="O(N)",
         summary="Lists stored models and their tags (experimental).",
         acl=("@read", "@slow", "@ai"))
def modelscan(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) != 1:
        raise wrong_arity(argv)
    return tagged_keys(c.db, Model)

