"""TORCH: TorchScript archives (torch.jit.save / torch.jit.trace / torch.jit.script).

The archive is loaded from memory with ``torch.jit.load`` onto the model's device.
Inputs are the arguments of ``forward`` after ``self`` (RedisAI's MODELGET reports
their names); the number of outputs comes from its declared return type, a tuple
counting its elements, anything else one (RedisAI's torch_c.cpp does the same).
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import torch

from ..backend import BackendError, BackendOptions
from ..device import Device

_threads_set = False
_threads_lock = threading.Lock()


def _apply_threads(options: BackendOptions) -> None:
    # torch's thread pools are process-wide: set them once, before the first model runs.
    global _threads_set
    with _threads_lock:
        if _threads_set:
            return
        _threads_set = True
        if options.intra_op_threads > 0:
            torch.set_num_threads(options.intra_op_threads)
        if options.inter_op_threads > 0:
            try:
                torch.set_num_interop_threads(options.inter_op_threads)
            except RuntimeError:  # already started: keep torch's choice
                pass


def _torch_device(device: Device) -> torch.device:
    if device.kind == "CPU":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BackendError(f"GPU device {device.name} requested but CUDA is not available")
    count = torch.cuda.device_count()
    if device.index >= count:
        raise BackendError(
            f"GPU device {device.name} requested but only {count} CUDA device(s) exist"
        )
    return torch.device("cuda", device.index)


# "RuntimeError: " prefixes (doubled when one of our Python ops raised) before a reason.
_ERROR_PREFIX: Final = re.compile(r"^(?:(?:RuntimeError|builtins\.\w+): )+")


def one_line(e: BaseException) -> str:
    """The reason in a torch exception, on one line."""
    text = str(e).strip() or type(e).__name__
    if "Traceback of TorchScript" in text:
        # A TorchScript traceback: the reason is its last line; an exception raised by
        # one of our Python ops (scripts' redis.execute) is followed by "At: ...".
        text = text.split("\n\nAt:\n", 1)[0]
        return _ERROR_PREFIX.sub("", text.rsplit("\n", 1)[-1].strip())
    # torch appends C++ context after the first blank line; the first part is the reason.
    return " ".join(text.split("\n\n", 1)[0].split())


class TorchModel:
    __slots__ = ("device", "inputs", "module", "outputs")

    def __init__(self, module: Any, device: torch.device) -> None:
        self.module = module
        self.device = device
        try:
            schema = module.forward.schema
        except AttributeError:
            raise BackendError("TorchScript module has no forward method") from None
        args = schema.arguments[1:]  # drop self
        self.inputs = tuple(a.name for a in args)
        n_out = 1
        if len(schema.returns) == 1:
            ret = schema.returns[0].type
            if isinstance(ret, torch.TupleType):
                n_out = len(ret.elements())
        self.outputs = ("",) * n_out  # TorchScript outputs have no names

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        try:
            with torch.inference_mode():
                args = [to_torch(a, self.device, _NO_STRINGS) for a in inputs]
                flat = flatten(self.module(*args))
                if flat is None:
                    raise BackendError("Model returned non-tensor values")
                return [to_numpy(t) for t in flat]
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(one_line(e)) from None


_NO_STRINGS: Final = "STRING tensors are not supported by the TORCH backend"


def to_torch(a: np.ndarray, device: torch.device, no_strings: str) -> torch.Tensor:
    """A torch copy of a stored tensor's array, on ``device``. A copy: the stored bytes
    are immutable, and a model or script may write to its inputs in place."""
    if a.dtype == object:
        raise BackendError(no_strings)
    t = torch.from_numpy(np.array(a, copy=True))
    return t if device.type == "cpu" else t.to(device, non_blocking=True)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """An output as a contiguous array in host memory."""
    return t.detach().to("cpu").contiguous().numpy()


def flatten(value: Any) -> list[torch.Tensor] | None:
    """The tensors of a Tensor / tuple / list return value, in order; None when it
    holds anything else."""
    out: list[torch.Tensor] = []

    def walk(v: Any) -> bool:
        if isinstance(v, torch.Tensor):
            out.append(v)
            return True
        return isinstance(v, (tuple, list)) and all(walk(x) for x in v)

    return out if walk(value) else None


class TorchBackend:
    name = "TORCH"
    info_name = "Torch"

    def version(self) -> str:
        return str(torch.__version__).split("+", 1)[0]

    def load_model(self, blob: bytes, device: Device, options: BackendOptions) -> TorchModel:
        _apply_threads(options)
        dev = _torch_device(device)
        try:
            module = torch.jit.load(io.BytesIO(blob), map_location=dev)
        except Exception as e:
            raise BackendError(one_line(e)) from None
        module.eval()
        return TorchModel(module, dev)

    def load_script(self, source: str, device: Device, options: BackendOptions) -> Any:
        from ._torch_script import compile_script  # registers the redis ops on first use

        _apply_threads(options)
        return compile_script(source, _torch_device(device))


def create() -> TorchBackend:
    return TorchBackend()
