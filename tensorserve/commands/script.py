"""AI.SCRIPTSTORE / SCRIPTSET / SCRIPTGET / SCRIPTDEL / SCRIPTEXECUTE / SCRIPTRUN /
_SCRIPTSCAN, as RedisAI 1.2 answers them (src/redisai.c,
src/execution/parsing/script_commands_parser.c, deprecated.c; ../shared/REDISAI.md).

Scripts are TorchScript source compiled by the TORCH backend. Running one is like
running a model (queued on the script's device, or inline when cheap; see _ai.py),
except that the script may call back into the keyspace (_script_host.py).
"""

from __future__ import annotations

from typing import Any, Final

from ..errors import BareError, ReplyError, WrongTypeError
from ..protocol import OK
from ..runtime import BackendError, ScriptRun, parse_device
from ..runtime.backends import get_backend
from ..store.script import Script
from ..store.tensor import Tensor
from ._ai import (
    get_tensor,
    get_typed,
    keyword,
    no_transaction,
    parse_run_timeout,
    submit_run,
    tagged_keys,
    wrong_arity,
)
from ._client import ClientState
from ._script_host import LoopScriptHost
from ._server_state import ServerState
from ._spec import command

SCRIPT_EMPTY: Final = "script key is empty"
_MISSING_ENTRY_POINTS: Final = "Insufficient arguments, missing script entry points"
_MISSING_SOURCE: Final = "Insufficient arguments, missing script SOURCE"
_UNSUPPORTED_DEVICE: Final = "unsupported device"
SCRIPTEXECUTE_ARITY: Final = "wrong number of arguments for 'AI.SCRIPTEXECUTE' command"
SCRIPTRUN_ARITY: Final = "wrong number of arguments for 'AI.SCRIPTRUN' command"
_SCOPES: Final = (b"KEYS", b"INPUTS", b"ARGS", b"OUTPUTS")
# The count error names per scope (RedisAI reuses the "keys" text for ARGS).
_COUNT_NAME: Final = {b"KEYS": "keys", b"INPUTS": "inputs", b"ARGS": "keys",
                      b"OUTPUTS": "outputs"}
_MISMATCH_NAME: Final = {b"KEYS": "keys", b"INPUTS": "inputs", b"ARGS": "args",
                         b"OUTPUTS": "outputs"}



def get_script(c: ClientState, key: bytes) -> Script:
    return get_typed(c.db, key, Script, SCRIPT_EMPTY)


def _compile(c: ClientState, key: bytes, device_arg: bytes, tag: bytes,
             entry_points: list[bytes], source: bytes) -> Any:
    names = [e.decode("utf-8", "replace") for e in entry_points]
    script = build_script(c.server, key, device_arg, tag, names, source)
    db = c.db
    old = db.lookup(key)
    if old is not None and old.__class__ is not Script:
        raise WrongTypeError()
    db.set(key, script)
    return OK


def build_script(server: ServerState, key: bytes, device_arg: bytes, tag: bytes,
                 names: list[str], source: bytes) -> Script:
    """Compile ``source`` into a Script value (AI.SCRIPTSTORE / SCRIPTSET, and loading a
    snapshot), checking each entry point."""
    device = parse_device(device_arg)
    if device is None:
        # Not MODELSTORE's "Invalid DEVICE": RedisAI's parser takes any device for a
        # script and the TORCH backend refuses it (RAI_ScriptCreateTorch, torch.c).
        raise ReplyError(_UNSUPPORTED_DEVICE)
    backend = get_backend("TORCH")
    if backend is None:
        raise ReplyError("Could not load backend")
    try:
        handle = backend.load_script(source.decode("utf-8", "replace"), device,
                                     server.runtime.options)
        for name in names:
            handle.check_entry_point(name)
    except BackendError as e:
        raise BareError(str(e)) from None
    server.runtime.queue(device.queue)
    script = Script(device, tag, tuple(names), source, handle, key)
    server.runtime.run_values.add(script)
    return script


def _tag(argv: list[bytes]) -> tuple[bytes, int]:
    """The optional ``TAG tag`` after ``key device`` (the callers' arity checks leave
    room for it), and where the arguments go on."""
    if keyword(argv[3]) == b"TAG":
        return argv[4], 5
    return b"", 3


@command("ai.scriptstore", -1, "write denyoom", keys=(1, 1, 1), group="script",
         since="1.2.5", complexity="O(1)",
         summary="Stores a TorchScript script and its entry points under a key.",
         acl=("@write", "@slow", "@ai", "@ai-store"))
def scriptstore(c: ClientState, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc < 8:
        raise wrong_arity(argv)
    tag, pos = _tag(argv)
    if keyword(argv[pos]) != b"ENTRY_POINTS":
        raise ReplyError(_MISSING_ENTRY_POINTS)
    pos += 1
    if pos >= argc or not argv[pos].isdigit():
        raise ReplyError("Non numeric entry points number provided to AI.SCRIPTSTORE command")
    n = int(argv[pos])
    pos += 1
    entry_points = argv[pos:pos + n]
    pos += n
    if len(entry_points) != n or pos >= argc or keyword(argv[pos]) != b"SOURCE":
        raise ReplyError(_MISSING_SOURCE)
    if pos + 1 >= argc:
        raise ReplyError(_MISSING_SOURCE)
    return _compile(c, argv[1], argv[2], tag, entry_points, argv[pos + 1])


@command("ai.scriptset", -1, "write denyoom", keys=(1, 1, 1), group="script",
         since="1.0.0", complexity="O(1)",
         summary="Stores a TorchScript script (deprecated: use AI.SCRIPTSTORE).",
         acl=("@write", "@slow", "@ai", "@ai-store"))
def scriptset(c: ClientState, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc not in (5, 7):
        raise wrong_arity(argv)
    tag, pos = _tag(argv)
    if pos + 1 >= argc or keyword(argv[pos]) != b"SOURCE":
        raise ReplyError(_MISSING_SOURCE)
    return _compile(c, argv[1], argv[2], tag, [], argv[pos + 1])


@command("ai.scriptget", -1, "readonly", keys=(1, 1, 1), group="script", since="1.0.0",
         complexity="O(1)", summary="Returns a script's metadata and source.",
         acl=("@read", "@slow", "@ai"))
def scriptget(c: ClientState, argv: list[bytes]) -> Any:
    if not 2 <= len(argv) <= 4:
        raise wrong_arity(argv)
    script = get_script(c, argv[1])
    words = {keyword(a) for a in argv[2:]}
    meta, source = b"META" in words, b"SOURCE" in words
    if source and not meta:
        return script.source
    reply: dict[bytes, Any] = {
        b"device": script.device.name.encode(),
        b"tag": script.tag,
        b"Entry Points": [e.encode() for e in script.entry_points],
    }
    if source or not meta:
        reply[b"source"] = script.source
    return reply


@command("ai.scriptdel", -1, "write", keys=(1, 1, 1), group="script", since="1.0.0",
         complexity="O(1)", summary="Deletes a script.",
         acl=("@write", "@slow", "@ai", "@ai-store"))
def scriptdel(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) != 2:
        raise wrong_arity(argv)
    get_script(c, argv[1])
    c.db.delete(argv[1])
    return OK


class ScriptCall:
    """A parsed AI.SCRIPTEXECUTE (also an op inside a DAG): names, not values yet."""

    __slots__ = ("args", "function", "inputs", "keys", "outputs", "timeout", "variadic")

    def __init__(self) -> None:
        self.function = ""
        self.keys: list[bytes] = []
        self.inputs: list[bytes] = []
        self.args: list[bytes] = []
        self.outputs: list[bytes] = []
        self.timeout = 0
        self.variadic = -1


def parse_scriptexecute(argv: list[bytes], in_dag: bool = False) -> ScriptCall:
    """AI.SCRIPTEXECUTE key fn [KEYS n ..] [INPUTS n ..] [ARGS n ..] [OUTPUTS n ..]
    [TIMEOUT ms]: after the function the scopes come in any order, once each."""
    argc = len(argv)
    if argc < 3:
        raise ReplyError("function name not specified")
    call = ScriptCall()
    call.function = argv[2].decode("utf-8", "replace")
    pos = 3
    if not in_dag and (pos >= argc or keyword(argv[pos]) not in (b"KEYS", b"INPUTS")):
        raise ReplyError("KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE "
                         "command")
    seen: set[bytes] = set()
    targets = {b"KEYS": call.keys, b"INPUTS": call.inputs, b"ARGS": call.args,
               b"OUTPUTS": call.outputs}
    while pos < argc:
        word = keyword(argv[pos])
        if word in _SCOPES:
            if word in seen:
                raise ReplyError(f"Already Encountered {word.decode()} scope in "
                                 "AI.SCRIPTEXECUTE command")
            seen.add(word)
            # RedisAI's ValidateKeysArgs wants a count and at least one key after KEYS.
            if word == b"KEYS" and argc - pos < 3:
                raise ReplyError("Missing arguments after KEYS keyword")
            pos += 1
            if pos >= argc:
                raise ReplyError("Invalid arguments provided to AI.SCRIPTEXECUTE")
            count_arg = argv[pos]
            if not count_arg.isdigit() or (word == b"KEYS" and int(count_arg) == 0):
                if word == b"KEYS":
                    raise ReplyError("Invalid or negative value found in number of KEYS")
                raise ReplyError(f"Invalid argument for {_COUNT_NAME[word]} count in "
                                 "AI.SCRIPTEXECUTE")
            n = int(count_arg)
            pos += 1
            if n > argc - pos:
                if word == b"KEYS":
                    raise ReplyError("Number of pre declared KEYS to be used in the command "
                                     "does not match the number of given arguments")
                raise ReplyError(f"number of {_MISMATCH_NAME[word]} to AI.SCRIPTEXECUTE "
                                 "command does not match the number of given arguments")
            targets[word].extend(argv[pos:pos + n])
            pos += n
        elif word == b"TIMEOUT":
            if in_dag:
                raise ReplyError("TIMEOUT not allowed within a DAG command")
            if pos + 1 >= argc:
                raise ReplyError("No value provided for TIMEOUT in AI.SCRIPTEXECUTE")
            call.timeout = parse_run_timeout(argv[pos + 1])
            pos += 2
            if pos < argc:  # RedisAI stops at TIMEOUT, then finds arguments left over
                raise ReplyError("Encountered problem parsing AI.SCRIPTEXECUTE")
        else:
            raise ReplyError("Invalid AI.SCRIPTEXECUTE command. Unexpected argument: "
                             + argv[pos].decode("utf-8", "replace"))
    return call


def parse_scriptrun(argv: list[bytes]) -> ScriptCall:
    """Deprecated AI.SCRIPTRUN key fn [TIMEOUT t] INPUTS a [$ b c ...] OUTPUTS o ...,
    as RedisAI's _ScriptRunCommand_ParseArgs (deprecated.c): TIMEOUT may come anywhere
    after the function, once; INPUTS cannot follow OUTPUTS; a keyword twice in a row
    is an error."""
    call = ScriptCall()
    call.function = argv[2].decode("utf-8", "replace")
    argc = len(argv)
    section: list[bytes] | None = None
    inputs_done = timeout_set = False
    pos = 3
    while pos < argc:
        word = keyword(argv[pos])
        if word == b"TIMEOUT":
            if timeout_set:
                raise ReplyError("Already encountered an TIMEOUT section in SCRIPTRUN")
            if pos + 1 >= argc:
                raise ReplyError("No value provided for TIMEOUT")
            call.timeout = parse_run_timeout(argv[pos + 1])
            timeout_set = True
            pos += 2
            continue
        if word == b"INPUTS":
            if inputs_done:
                raise ReplyError("Already encountered an INPUTS section in SCRIPTRUN")
            if section is call.inputs:
                raise ReplyError("Already encountered an INPUTS keyword in SCRIPTRUN")
            section = call.inputs
        elif word == b"OUTPUTS":
            if section is call.outputs:
                raise ReplyError("Already encountered an OUTPUTS keyword in SCRIPTRUN")
            section = call.outputs
            inputs_done = True
        elif argv[pos] == b"$":
            if section is not call.inputs:
                raise ReplyError("Encountered a variable size list of tensors outside of "
                                 "input section")
            if call.variadic >= 0:
                raise ReplyError("Already encountered a variable size list of tensors")
            call.variadic = len(call.inputs)
        elif section is None:
            raise ReplyError("Unrecongnized parameter to SCRIPTRUN")
        else:
            section.append(argv[pos])
        pos += 1
    return call


def _run(c: ClientState, script: Script, call: ScriptCall) -> Any:
    db = c.db
    inputs: list[Tensor] = [get_tensor(db, k) for k in call.inputs]
    decode = [k.decode("utf-8", "replace") for k in call.keys]
    args = [a.decode("utf-8", "replace") for a in call.args]
    host = LoopScriptHost(c.server, db)
    job = ScriptRun(script, call.function, inputs, decode, args, len(call.outputs), host,
                    lambda job: None, call.variadic)
    return submit_run(c, job, script.device.queue, call.outputs, call.timeout)


def _execute_keys(argv: list[bytes]) -> list[bytes]:
    keys = [argv[1]]
    try:
        call = parse_scriptexecute(argv)
    except ReplyError:
        return keys
    return keys + call.keys + call.inputs + call.outputs


@command("ai.scriptexecute", -1, "write denyoom blocking", keys=(1, 1, 1), group="script",
         since="1.2.5", complexity="O(1)", get_keys=_execute_keys,
         summary="Runs a script's entry point on tensors, keys and arguments.",
         acl=("@write", "@slow", "@blocking", "@ai", "@ai-run"))
def scriptexecute(c: ClientState, argv: list[bytes]) -> Any:
    # RedisAI_ExecuteCommand refuses MULTI first; then its parser's own arity text
    # names the command in capitals, not as typed (script_commands_parser.c).
    no_transaction(c)
    if len(argv) < 3:
        raise ReplyError(SCRIPTEXECUTE_ARITY)
    script = get_script(c, argv[1])
    call = parse_scriptexecute(argv)
    return _run(c, script, call)


@command("ai.scriptrun", -1, "write denyoom blocking", keys=(1, 1, 1), group="script",
         since="1.0.0", complexity="O(1)",
         summary="Runs a script function (deprecated: use AI.SCRIPTEXECUTE).",
         acl=("@write", "@slow", "@blocking", "@ai", "@ai-run"))
def scriptrun(c: ClientState, argv: list[bytes]) -> Any:
    no_transaction(c)
    if len(argv) < 3:  # deprecated.c; "AI.SCRIPTRUN s fn" runs fn with nothing
        raise ReplyError(SCRIPTRUN_ARITY)
    script = get_script(c, argv[1])
    call = parse_scriptrun(argv)
    return _run(c, script, call)


@command("ai._scriptscan", -1, "readonly", group="script", since="1.0.0", complexity="O(N)",
         summary="Lists stored scripts and their tags (experimental).",
         acl=("@read", "@slow", "@ai"))
def scriptscan(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) != 1:
        raise wrong_arity(argv)
    return tagged_keys(c.db, Script)
