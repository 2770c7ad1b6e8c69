"""ONNX: ONNX / ONNX-ML models run by onnxruntime, from bytes in memory.

Outputs that are not tensors (ONNX-ML maps and sequences, such as a classifier's
ZipMap) are dropped, as RedisAI drops them. A GPU device uses the CUDA execution
provider, which onnxruntime-gpu brings; the plain onnxruntime package has none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import onnxruntime as ort

from ..backend import BackendError, BackendOptions
from ..device import Device

# "[ONNXRuntimeError] : 2 : INVALID_ARGUMENT : Got invalid ..." -> what OrtGetErrorMessage
# returns (and RedisAI replies): "Got invalid ...".
_PREFIX: Final = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")

ort.set_default_logger_severity(3)  # errors only: failures are replied, not logged


def _message(e: BaseException) -> str:
    return _PREFIX.sub("", str(e).strip()) or type(e).__name__


class OnnxModel:
    __slots__ = ("inputs", "outputs", "session", "string_inputs")

    def __init__(self, session: Any) -> None:
        self.session = session
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
        try:
            return list(self.session.run(list(self.outputs), feed))
        except Exception as e:
            raise BackendError(_message(e)) from None


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
        return OnnxModel(session)

    def load_script(self, source: str, device: Device, options: BackendOptions) -> Any:
        raise BackendError("ONNX has no scripts")


def create() -> OnnxBackend:
    return OnnxBackend()
