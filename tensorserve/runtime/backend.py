"""The one narrow interface between tensorserve and an inference engine.

A backend turns a model blob into a :class:`LoadedModel` and reports its version;
a loaded model runs a list of numpy arrays into a list of numpy arrays. Nothing else
crosses the boundary: no torch or onnxruntime object leaves a backend module, and
only modules under ``runtime/backends`` import those packages.

``run`` is called on a worker thread (never the event loop); engines release the GIL
while they compute. A loaded model must allow ``run`` from several threads at once
(THREADS_PER_QUEUE > 1): TorchScript modules and onnxruntime sessions do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .device import Device

__all__ = ["Backend", "BackendError", "BackendOptions", "LoadedModel", "LoadedScript", "ScriptHost"]


class BackendError(Exception):
    """The engine refused a model or a run; the text is the engine's own reason."""


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """Load-time options (RedisAI's INTRA_OP_PARALLELISM / INTER_OP_PARALLELISM /
    MODEL_EXECUTION_TIMEOUT)."""

    intra_op_threads: int = 0  # 0: the engine's default
    inter_op_threads: int = 0
    # A run longer than this is stopped where the engine allows it (ONNX: onnxruntime's
    # terminate flag); 0: never.
    execution_timeout_ms: int = 0


class LoadedModel(Protocol):
    inputs: tuple[str, ...]  # names, in the order MODELEXECUTE INPUTS are given
    outputs: tuple[str, ...]

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Outputs for ``inputs`` (read-only arrays); raises BackendError."""
        ...


class Backend(Protocol):
    name: str  # RedisAI's backend name: "TORCH", "ONNX"
    info_name: str  # INFO field prefix, as RedisAI: "Torch", "onnxruntime"

    def version(self) -> str: ...

    def load_model(self, blob: bytes, device: Device, options: BackendOptions) -> LoadedModel:
        """Compile ``blob`` for ``device``; raises BackendError with the engine's reason."""
        ...

    def load_script(self, source: str, device: Device, options: BackendOptions
                    ) -> LoadedScript:
        """Compile script ``source`` (backends without scripts raise BackendError)."""
        ...


class ScriptHost(Protocol):
    """What a running script may call back into (RedisAI's redis / redisAI ops). The
    runtime implements it per run; a backend only calls it from the run's thread."""

    def execute(self, command: str, args: list[str]) -> Any:
        """Run a command against the keyspace: RESP2-shaped Python values (None, str,
        int, lists); an error reply raises RuntimeError with RedisAI's text."""
        ...

    def model_execute(self, key: str, inputs: list[np.ndarray],
                      n_outputs: int) -> list[np.ndarray]:
        """Run the model stored at ``key`` on ``inputs`` in the calling thread."""
        ...


class LoadedScript(Protocol):
    def has_function(self, name: str) -> bool: ...

    def check_entry_point(self, name: str) -> None:
        """Raise BackendError (RedisAI's texts) unless ``name`` exists and takes
        (List[Tensor], List[str], List[str])."""
        ...

    def run(self, function: str, tensors: Sequence[np.ndarray], keys: list[str],
            args: list[str], n_outputs: int, host: ScriptHost, entry_point: bool,
            variadic: int = -1) -> list[np.ndarray]: ...
