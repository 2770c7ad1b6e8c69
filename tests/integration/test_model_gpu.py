"""Models on GPU devices (GPU, GPU:0): stored, run, and equal to the CPU results.

Runs only where torch sees CUDA; ONNX on GPU also needs onnxruntime's
CUDAExecutionProvider (onnxruntime-gpu). Elsewhere every test skips with the reason;
test_model.py checks the refusal on machines without CUDA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
import redis

from .. import models
from ..conftest import make_client
from ..helpers import RawClient, ServerProcess
from .test_model import assert_close, meta_of, modelstore, tensorget, tensorset

pytestmark = pytest.mark.skipif(not models.cuda_device_count(),
                                reason="no CUDA device visible to torch")

NETS: dict[str, tuple[Callable[[], bytes], Callable[[], bytes], Callable[..., np.ndarray]]] = {
    "mlp": (models.mlp_torch, models.mlp_onnx, models.mlp_input),
    "conv": (models.conv_torch, models.conv_onnx, models.conv_input),
}


@pytest.fixture
def c(server: ServerProcess) -> Iterator[redis.Redis]:
    client = make_client(server.port, "resp3-hiredis")
    client.flushall()
    yield client
    client.close()


def _run(c: redis.Redis, key: str, x_key: str, out: str) -> np.ndarray:
    reply = c.execute_command("AI.MODELEXECUTE", key, "INPUTS", 1, x_key, "OUTPUTS", 1, out)
    assert reply in (b"OK", "OK", True)
    return tensorget(c, out)


@pytest.mark.parametrize("device", ["GPU", "GPU:0", "gpu:0"])
@pytest.mark.parametrize("net", list(NETS))
def test_torch_model_on_gpu_matches_cpu(c: redis.Redis, device: str, net: str) -> None:
    torch_blob, _, make_input = NETS[net]
    modelstore(c, "cpu", "TORCH", torch_blob())
    modelstore(c, "gpu", "TORCH", torch_blob(), device=device)
    assert meta_of(c, "gpu")[b"device"] == device.encode()
    for batch in (1, 5):
        x = make_input(batch, seed=batch)
        tensorset(c, "x", x)
        on_gpu = _run(c, "gpu", "x", "y_gpu")
        assert_close(on_gpu, _run(c, "cpu", "x", "y_cpu"))
        assert_close(on_gpu, models.reference(net, x)[0])


@pytest.mark.skipif(not models.onnx_cuda_available(), reason="onnxruntime has no CUDAExecutionProvider "
                    "(onnxruntime-gpu is not installed)")
@pytest.mark.parametrize("net", list(NETS))
def test_onnx_model_on_gpu_matches_cpu(c: redis.Redis, net: str) -> None:
    _, onnx_blob, make_input = NETS[net]
    modelstore(c, "cpu", "ONNX", onnx_blob())
    modelstore(c, "gpu", "ONNX", onnx_blob(), device="GPU:0")
    for batch in (1, 5):
        x = make_input(batch, seed=batch)
        tensorset(c, "x", x)
        assert_close(_run(c, "gpu", "x", "y_gpu"), _run(c, "cpu", "x", "y_cpu"))


def test_gpu_queue_created_and_reported(c: redis.Redis, server: ServerProcess) -> None:
    modelstore(c, "gpu", "TORCH", models.mlp_torch(), device="GPU:0")
    tensorset(c, "x", models.mlp_input(2))
    _run(c, "gpu", "x", "y")
    rc = RawClient(server.port)
    try:
        text = rc.command("INFO", "ai_queues").decode()
    finally:
        rc.close()
    assert "queue_GPU:0_threads:" in text, text


def test_gpu_index_out_of_range_refused(c: redis.Redis) -> None:
    count = models.cuda_device_count()
    with pytest.raises(redis.ResponseError) as e:
        c.execute_command("AI.MODELSTORE", "g", "TORCH", f"GPU:{count}", "BLOB",
                          models.mlp_torch())
    assert str(e.value) == (
        f"GPU device GPU:{count} requested but only {count} CUDA device(s) exist")
    assert c.exists("g") == 0
