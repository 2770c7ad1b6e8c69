"""Model execution: backends, devices, run queues and their worker threads.

The only package that imports torch or onnxruntime (in ``backends/``, lazily).
"""

from .backend import (
    Backend,
    BackendError,
    BackendOptions,
    LoadedModel,
    LoadedScript,
    ScriptHost,
)
from .device import INVALID_DEVICE, Device, parse_device
from .jobs import Job, ModelRun, ScriptRun, TensorJob
from .queues import RunQueue, Runtime

__all__ = [
    "INVALID_DEVICE",
    "Backend",
    "BackendError",
    "BackendOptions",
    "Device",
    "Job",
    "LoadedModel",
    "LoadedScript",
    "ModelRun",
    "RunQueue",
    "Runtime",
    "ScriptHost",
    "ScriptRun",
    "TensorJob",
    "parse_device",
]
