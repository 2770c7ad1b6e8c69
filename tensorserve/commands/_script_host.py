"""What a running TorchScript script calls back into: ``redis.execute`` and
``redisAI.model_execute`` (RedisAI's torch_redis.cpp), as a runtime ScriptHost.

Commands always run on the event-loop thread, the only one that touches the keyspace:
a script running on a worker posts the command to the loop and waits for its reply (the
loop is free meanwhile: the worker released the GIL). A script run inline on the loop
thread calls straight through. The command runs as an internal client on the calling
client's database, through dispatch (arity, statistics, MONITOR); commands that would
block or that make no sense inside a script are refused, as Redis refuses them in Lua.
Replies are handed to the script as RedisAI converts them: nil -> None, strings -> str,
integers -> int, arrays -> lists; an error reply raises
``Redis command returned an error: <error>``.
"""

from __future__ import annotations

import concurrent.futures
import threading
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from ..errors import BareError, ReplyError
from ..protocol import encode
from ._acl import spec_categories
from ._acl_check import denied
from ._ai import get_model
from ._client import BLOCKED, NO_REPLY, PAUSED, InternalClient
from ._dispatch import execute, resolve
from ._spec import COMMANDS

if TYPE_CHECKING:
    from ..store import Database
    from ._client import ClientState
    from ._server_state import ServerState

__all__ = ["LoopScriptHost"]

_NOT_FROM_SCRIPT: Final = "This Redis command is not allowed from script"
_ENOENT: Final = "No such file or directory"
_EINVAL: Final = "Invalid argument"
# Flags of commands a script may not run: they block, change the connection, or wait.
_REFUSED_FLAGS: Final = frozenset(("blocking", "noscript", "pubsub", "no_auth", "multi_ok",
                                   "no_multi", "admin"))


class _ScriptClient(InternalClient):
    """The internal client a script's commands run as (RESP2, never blocks), with the
    user of the client that ran the script (``caller``: ACL LOG reports that client)."""

    __slots__ = ("caller",)
    label = "script"
    caller: ClientState | None


class LoopScriptHost:
    """A ScriptHost for one run: commands go to ``db`` of ``server``, with the ACL rights
    of the client running the script's command (made while that command runs)."""

    __slots__ = ("caller", "db", "server", "user")

    def __init__(self, server: ServerState, db: Database) -> None:
        self.server = server
        self.db = db
        # Dispatch sets current_client before running AI.SCRIPTEXECUTE / a DAG.
        self.caller = server.current_client
        self.user = self.caller.user if self.caller is not None else server.acl.default

    def execute(self, command: str, args: list[str]) -> Any:
        argv = [command.encode("utf-8", "surrogateescape")]
        argv += [a.encode("utf-8", "surrogateescape") for a in args]
        reply = self._on_loop(self._execute, argv)
        if isinstance(reply, ReplyError):
            raise RuntimeError(
                "Redis command returned an error: " + reply.wire().decode("utf-8", "replace")
            )
        return reply

    def model_execute(self, key: str, inputs: list[np.ndarray],
                      n_outputs: int) -> list[np.ndarray]:
        model = self._on_loop(self._model, key.encode("utf-8", "surrogateescape"))
        if isinstance(model, ReplyError):
            raise RuntimeError(model.wire().decode("utf-8", "replace"))
        if len(inputs) != len(model.inputs):
            raise RuntimeError(
                "Number of keys given as INPUTS here does not match model definition")
        outputs = model.handle.run(inputs)
        if n_outputs != len(outputs):
            raise RuntimeError(
                "Number of keys given as OUTPUTS here does not match model definition")
        return outputs

    # -- on the loop thread ----------------------------------------------------------------
    def _on_loop(self, fn: Any, arg: Any) -> Any:
        loop = self.server.loop
        if loop is None or self.server.loop_thread == threading.get_ident():
            return fn(arg)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(arg))
            except BaseException as e:  # delivered to the waiting worker
                future.set_exception(e)

        loop.call_soon_threadsafe(run)
        return future.result()

    def _client(self) -> _ScriptClient:
        client = _ScriptClient(self.server)
        client.db = self.db
        client.caller = self.caller
        client.user = self.user  # the caller's ACL rights: dispatch checks them
        client.authenticated = True
        return client

    def _model(self, key: bytes) -> Any:
        if not self.user.unrestricted:
            # As if the caller ran AI.MODELEXECUTE on the model (@ai-run, read access).
            err = denied(self._client(), COMMANDS["ai.modelexecute"],
                         [b"AI.MODELEXECUTE", key], "lua")
            if err is not None:
                return err
        try:
            return get_model(self.db, key)
        except ReplyError as e:
            return e

    def _execute(self, argv: list[bytes]) -> Any:
        spec = resolve(argv)
        if isinstance(spec, ReplyError):
            # RedisModule_Call gives no reply for an unknown command (errno ENOENT) or a
            # wrong argument count (EINVAL), and RedisAI raises strerror(errno) for it
            # (torch_redis.cpp); its tests expect "... returned an error: Invalid argument".
            if COMMANDS.get(argv[0].decode("latin-1").lower()) is None:
                return BareError(_ENOENT)
            if spec.message.startswith("wrong number of arguments"):
                return BareError(_EINVAL)
            return spec
        if (spec.flags & _REFUSED_FLAGS or spec.name.startswith("ai.")
                or "admin" in spec_categories(spec)):
            # Whatever the caller's rights: no admin command (CONFIG, ACL, SHUTDOWN ...).
            return ReplyError(_NOT_FROM_SCRIPT)
        reply = execute(self._client(), argv)
        if reply is BLOCKED or reply is PAUSED or reply is NO_REPLY:
            return ReplyError(_NOT_FROM_SCRIPT)
        if isinstance(reply, ReplyError):
            return reply
        out: list[bytes] = []
        encode(reply, out, 2)
        value, _ = _parse(b"".join(out), 0)
        return value


def _parse(data: bytes, pos: int) -> tuple[Any, int]:
    """One RESP2 reply from ``data`` at ``pos`` as RedisAI hands it to a script."""
    kind = data[pos:pos + 1]
    end = data.index(b"\r\n", pos)
    line = data[pos + 1:end]
    pos = end + 2
    if kind == b"+":
        return line.decode("utf-8", "replace"), pos
    if kind == b"-":
        return BareError(line.decode("utf-8", "replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"$":
        n = int(line)
        if n < 0:
            return None, pos
        return data[pos:pos + n].decode("utf-8", "replace"), pos + n + 2
    if kind == b"*":
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n):
            item, pos = _parse(data, pos)
            items.append(item)
        return items, pos
    raise ValueError(f"unexpected RESP2 reply type {kind!r}")
