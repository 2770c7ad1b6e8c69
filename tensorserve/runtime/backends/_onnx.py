"""ONNX: ONNX / ONNX-ML models run by onnxruntime, from bytes in memory.

Outputs that are not tensors (ONNX-ML maps and sequences, such as a classifier's
ZipMap) are dropped, as RedisAI drops them. A GPU device uses the CUDA execution
provider, which onnxruntime-gpu brings; the plain onnxruntime package has none.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import onnxruntime as ort

from ..backend import BackendError, BackendOptions
from ..device import Device
from ._onnx_scan import EXTERNAL_DATA, has_external_data

# "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid ..." -> what OrtGetErrorMessage
# returns (and RedisAI replies): "Got invalid ...".
_PREFIX: Final = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")

_TERMINATED: Final = "Exiting due to terminate flag being set to true."

ort.set_default_logger_severity(4)  # fatal only: failures are replied, not logged  # errors only: failures are replied, not logged


def _message(e: BaseException) -> str:
    return _PREFIX.sub("", str(e).strip()) or type(e).__name__


class _Watchdog:
    """Stops runs that pass their deadline by setting onnxruntime's terminate flag on
    their RunOptions (RedisAI's MODEL_EXECUTION_TIMEOUT kill switch). One thread for
    every ONNX model, started with the first run that has a deadline."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[Any, float]] = {}  # id(options) -> (options, deadline)
        self._thread: threading.Thread | None = None

    def watch(self, options: Any, seconds: float) -> None:
        with self._lock:
            self._runs[id(options)] = (options, time.monotonic() + seconds)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="ts-onnx-watchdog",
                                                daemon=True)
                self._thread.start()

    def done(self, options: Any) -> None:
        with self._lock:
            self._runs.pop(id(options), None)

    def _loop(self) -> None:
        while True:
            time.sleep(0.05)
            now = time.monotonic()
            with self._lock:
                late = [o for o, deadline in self._runs.values() if deadline <= now]
            for options in late:
                options.terminate = True


_WATCHDOG: Final = _Watchdog()


class OnnxModel:
    __slots__ = ("inputs", "outputs", "session", "string_inputs", "timeout_s")

    def __init__(self, session: Any, timeout_ms: int = 0) -> None:
        self.session = session
        self.timeout_s = timeout_ms / 1000.0
        ins = session.get_inputs()
        self.inputs = tuple(i.name for i in ins)
        self.string_inputs = tuple(i.type == "tensor(string)" for i in ins)
        self.outputs = tuple(o.name for o in session.get_outputs()
                             if o.type.startswith("tensor("))

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        feed = {}
        for name, is_str, a in zip(self.inputs, self.string_inputs, inputs, strict=True):
            if a.dtype == object and is_str:
                a = np.vectorize(lambda b: b.decode("utf-8", "replace"), otypes=[object])(a)
            feed[name] = a
        if not self.timeout_s:
            try:
                return list(self.session.run(list(self.outputs), feed))
            except Exception as e:
                raise BackendError(_message(e)) from None
        options = ort.RunOptions()
        _WATCHDOG.watch(options, self.timeout_s)
        try:
            return list(self.session.run(list(self.outputs), feed, options))
        except Exception as e:
            if options.terminate:  # stopped by the watchdog: onnxruntime's own words,
                # without the node context a Loop or If wraps them in (RedisAI's text)
                raise BackendError(_TERMINATED) from None
            raise BackendError(_message(e)) from None
        finally:
            _WATCHDOG.done(options)


class OnnxBackend:
    name = "ONNX"
    info_name = "onnxruntime"

    def version(self) -> str:
        return str(ort.__version__)

    def load_model(self, blob: bytes, device: Device, options: BackendOptions) -> OnnxModel:
        so = ort.SessionOptions()
        # onnxruntime's pool threads spin between runs by default: on a server that
        # burns the cores the event loop and other models need (measured: 140-200 us
        # of CPU per 20 us run on 2 cores). They sleep instead.
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        if options.intra_op_threads > 0:
            so.intra_op_num_threads = options.intra_op_threads
        if options.inter_op_threads > 0:
            so.inter_op_num_threads = options.inter_op_threads
        if has_external_data(blob):
            raise BackendError(EXTERNAL_DATA)
        providers: list[Any]
        if device.kind == "GPU":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError(
                    f"GPU device {device.name} requested but onnxruntime has no "
                    "CUDAExecutionProvider (install onnxruntime-gpu)"
                )
            providers = [("CUDAExecutionProvider", {"device_id": device.index})]
        else:
            providers = ["CPUExecutionProvider"]
        try:
            session = ort.InferenceSession(blob, sess_options=so, providers=providers)
        except Exception as e:
            raise BackendError(_message(e)) from None
        return OnnxModel(session, options.execution_timeout_ms)

    def load_script(self, source: str, device: Device, options: BackendOptions) -> Any:
        raise BackendError("ONNX has no scripts")


def create() -> OnnxBackend:
    return OnnxBackend()
