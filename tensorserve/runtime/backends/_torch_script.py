"""TorchScript scripts (AI.SCRIPTSTORE): source compiled into a CompilationUnit.

As in RedisAI (src/backends/libtorch_c/torch_c.cpp and torch_extensions/torch_redis.cpp),
the source may call back into the server: ``redis.execute(cmd, args)``,
``redis.asList(value)`` and ``redisAI.model_execute(key, tensors, n_outputs)``. They are
torch custom ops (namespaces ``redis`` and ``redisAI``) implemented in Python, made
visible to the source under those names by the resolver given to ``define``. The ops
call the :class:`ScriptHost` of the run in progress on the calling thread, which the
runtime provides (it runs commands on the event loop thread and waits for them).

The ops are declared CONSERVATIVE so TorchScript treats them as having side effects:
with the default (schema-derived) alias analysis it constant-folds a call with constant
arguments and drops one whose result is unused - a SET would run once, or never.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import torch

from ..backend import BackendError, ScriptHost
from ._torch import flatten, one_line, to_numpy, to_torch

_NO_STRINGS: Final = "STRING tensors are not supported by TorchScript"
_ENTRY_ARGS: Final = ["List[Tensor]", "List[str]", "List[str]"]
_local = threading.local()


def _host() -> ScriptHost:
    host = getattr(_local, "host", None)
    if host is None:
        raise RuntimeError("redis callbacks are only available inside AI.SCRIPTEXECUTE")
    return host


def _as_ivalue(value: Any) -> Any:
    # TorchScript's Any cannot hold a heterogeneous Python list; a tuple it can.
    if isinstance(value, list):
        return tuple(_as_ivalue(v) for v in value)
    return value


def _execute(cmd: str, args: list[str]) -> Any:
    return _as_ivalue(_host().execute(cmd, list(args)))


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _model_execute(key: str, inputs: list[torch.Tensor], n_outputs: int) -> list[torch.Tensor]:
    arrays = [to_numpy(t) for t in inputs]
    outputs = _host().model_execute(key, arrays, n_outputs)
    return [torch.from_numpy(np.array(a, copy=True)) for a in outputs]


_redis = torch.library.Library("redis", "DEF")
_redis.define("execute(str cmd, str[] args) -> Any", alias_analysis="CONSERVATIVE")
_redis.define("asList(Any x) -> Any[]", alias_analysis="CONSERVATIVE")
_redis.impl("execute", _execute, "CompositeExplicitAutograd")
_redis.impl("asList", _as_list, "CompositeExplicitAutograd")
_redisai = torch.library.Library("redisAI", "DEF")
_redisai.define("model_execute(str key, Tensor[] inputs, int n_outputs) -> Tensor[]",
                alias_analysis="CONSERVATIVE")
_redisai.impl("model_execute", _model_execute, "CompositeExplicitAutograd")

# The names a script's source can use, as RedisAI's RedisResolver (torch_c.cpp): torch
# (the aten builtins), redis and redisAI. A resolver given to ``define`` replaces the
# default one, so ``torch`` must be listed too or ``torch.tensor(...)`` does not compile.
_NAMES: Final = {"torch": torch, "redis": torch.ops.redis, "redisAI": torch.ops.redisAI}


def _resolve(name: str) -> Any:
    return _NAMES.get(name)


class TorchScript:
    """A compiled script: its functions by name, run on one device."""

    __slots__ = ("device", "unit")

    def __init__(self, unit: Any, device: torch.device) -> None:
        self.unit = unit
        self.device = device

    def has_function(self, name: str) -> bool:
        return self.unit.find_function(name) is not None

    def check_entry_point(self, name: str) -> None:
        """RedisAI's store-time check of an ENTRY_POINTS function's signature."""
        fn = self.unit.find_function(name)
        if fn is None:
            raise BackendError(f"Function {name} does not exist in the given script.")
        args = [str(a.type) for a in fn.schema.arguments]
        if len(args) != 3:
            raise BackendError(
                f"Wrong number of inputs in function {name}. Expected 3 but was {len(args)}"
            )
        if args != _ENTRY_ARGS:
            raise BackendError(
                f"Wrong inputs type in function {name}. Expected signature similar to: "
                f"def {name}(tensors: List[Tensor], keys: List[str], args: List[str])"
            )

    def run(self, function: str, tensors: Sequence[np.ndarray], keys: list[str],
            args: list[str], n_outputs: int, host: ScriptHost, entry_point: bool,
            variadic: int = -1) -> list[np.ndarray]:
        """Call ``function``. An entry point gets (tensors, keys, args); otherwise (a
        script stored with the deprecated AI.SCRIPTSET) the tensors are passed
        positionally, those from index ``variadic`` on as one List[Tensor]."""
        fn = self.unit.find_function(function)
        if fn is None:
            raise BackendError(f"Function does not exist: {function}")
        _local.host = host
        try:
            with torch.inference_mode():
                ts = [to_torch(a, self.device, _NO_STRINGS) for a in tensors]
                if entry_point:
                    result = fn(ts, keys, args)
                else:
                    params = fn.schema.arguments
                    call: list[Any] = ts if variadic < 0 else [*ts[:variadic], ts[variadic:]]
                    if len(call) != len(params):
                        raise BackendError(
                            f"Wrong number of inputs provided to function: {function}")
                    result = fn(*call)
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(one_line(e)) from None
        finally:
            _local.host = None
        if n_outputs == 0:
            return []
        flat = flatten(result)
        if flat is None:
            raise BackendError(f"Function returned non-tensor values{function}")
        if len(flat) != n_outputs:
            raise BackendError(f"Function returned unexpected number of outputs - {function}")
        return [to_numpy(t) for t in flat]


def compile_script(source: str, device: torch.device) -> TorchScript:
    """Compile ``source``; a syntax or type error comes back as one line."""
    try:
        unit = torch.jit.CompilationUnit()
        unit.define(source, rcb=_resolve)
    except Exception as e:
        raise BackendError(one_line(e)) from None
    return TorchScript(unit, device)
