"""Model blobs for the model tests, built once per session (torch imports stay here).

* ``mlp_torch()`` / ``mlp_onnx()``: a small MLP (torch.jit.script; ONNX export), FLOAT
  ``x[b, 4]`` -> ``y[b, 3]``.
* ``conv_torch()`` / ``conv_onnx()``: a small conv net (torch.jit.trace; ONNX export),
  FLOAT ``x[b, 1, 8, 8]`` -> ``y[b, 2]``.
* ``two_io_torch()``: ``forward(a, b) -> (a + b, a * b)``: two inputs, two outputs.
* ``slow_torch()``: ``forward(x, n)``: ``n`` (INT64 [1]) rounds of ``x @ w`` with
  ``x = slow_input()`` [64, 256], so one model runs ~1 ms or seconds (the runtime
  tests time a round on the server under test and pick ``n`` from that).
* ``reference(name, *inputs)``: the model's outputs computed in process (``onnx_reference``
  for an ONNX blob); ``engine_versions()``, ``cuda_device_count()``: facts about the engines.
* ``IMAGE_SCRIPT``: TorchScript entry points around the conv net, ``normalize`` (UINT8
  ``img[b, 8, 8]`` and ARGS mean, std -> FLOAT ``x[b, 1, 8, 8]``) and ``argmax`` (FLOAT
  ``y[b, 2]`` -> INT64 ``[b]``); ``image_input(batch)`` makes such images and
  ``image_reference(img, mean, std)`` runs script -> conv net -> script in process.

The ONNX exports keep dim 0 dynamic (``dynamic_axes``), so batch sizes 1 and 5 both run.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import numpy as np

__all__ = [
    "IMAGE_SCRIPT",
    "conv_input",
    "conv_onnx",
    "conv_torch",
    "cuda_device_count",
    "endless_onnx",
    "engine_versions",
    "image_input",
    "image_reference",
    "mlp_input",
    "mlp_onnx",
    "mlp_torch",
    "onnx_cuda_available",
    "onnx_reference",
    "reference",
    "row_sum_torch",
    "slow_count",
    "slow_input",
    "slow_torch",
    "two_io_torch",
    "zipmap_onnx",
]


def mlp_input(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 4)).astype(np.float32)


def conv_input(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 1, 8, 8)).astype(np.float32)


@cache
def _modules() -> dict[str, Any]:
    import torch
    from torch import nn

    torch.manual_seed(1234)

    class Mlp(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(4, 16)
            self.fc2 = nn.Linear(16, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc2(torch.relu(self.fc1(x)))

    class Conv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.fc = nn.Linear(4 * 4 * 4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.max_pool2d(torch.relu(self.conv(x)), 2)
            return self.fc(y.flatten(1))

    class TwoIO(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
            return a + b, a * b

    class Slow(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # A permutation matrix: every round is a full matmul, yet values neither
            # grow nor decay into denormals (which would slow late rounds down), and
            # with no elementwise op there is nothing for the TorchScript fuser to
            # compile between runs (its compiles made run times erratic).
            self.w = nn.Parameter(torch.eye(256).roll(1, 0), requires_grad=False)

        def forward(self, x: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
            y = x
            for _ in range(int(n[0])):
                y = torch.mm(y, self.w)
            return y

    class RowSum(nn.Module):
        # One row whatever the batch: breaks auto-batching's dim-0 contract.
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.sum(0, keepdim=True)

    return {"mlp": Mlp().eval(), "conv": Conv().eval(), "two_io": TwoIO().eval(),
            "slow": Slow().eval(), "row_sum": RowSum().eval()}


@contextmanager
def _quiet() -> Iterator[None]:
    """torch deprecates TorchScript and its TorchScript-based ONNX exporter, the very
    formats RedisAI clients send: building the blobs should not fill the test report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _save(module: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    with _quiet():
        torch.jit.save(module, buf)
    return buf.getvalue()


def _script(name: str) -> bytes:
    import torch

    with _quiet():
        return _save(torch.jit.script(_modules()[name]))


@cache
def mlp_torch() -> bytes:
    """torch.jit.script of the MLP."""
    return _script("mlp")


@cache
def conv_torch() -> bytes:
    """torch.jit.trace of the conv net."""
    import torch

    with torch.no_grad(), _quiet():
        traced = torch.jit.trace(_modules()["conv"], torch.from_numpy(conv_input(2)))
    return _save(traced)


@cache
def two_io_torch() -> bytes:
    return _script("two_io")


@cache
def slow_torch() -> bytes:
    return _script("slow")


@cache
def row_sum_torch() -> bytes:
    """Sums its input's rows into one: a model that does not keep dim 0."""
    return _script("row_sum")


def _onnx(name: str, example: np.ndarray) -> bytes:
    import torch

    buf = io.BytesIO()
    with _quiet():
        torch.onnx.export(_modules()[name], (torch.from_numpy(example),), buf, dynamo=False,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    return buf.getvalue()


@cache
def mlp_onnx() -> bytes:
    return _onnx("mlp", mlp_input(2))


@cache
def conv_onnx() -> bytes:
    return _onnx("conv", conv_input(2))


def slow_input(rows: int = 64) -> np.ndarray:
    """The slow model's ``x``: FLOAT [rows, 256]."""
    return np.full((rows, 256), 0.1, dtype=np.float32)


def slow_count(rounds: int) -> np.ndarray:
    """The slow model's ``n``: INT64 [1]."""
    return np.array([rounds], dtype=np.int64)


def reference(name: str, *inputs: np.ndarray) -> list[np.ndarray]:
    """The in-process outputs of model ``name`` ("mlp", "conv", "two_io", "slow")."""
    import torch

    module: Callable[..., Any] = _modules()[name]
    with torch.inference_mode():
        out = module(*(torch.from_numpy(np.array(a)) for a in inputs))
    if isinstance(out, torch.Tensor):
        out = (out,)
    return [t.numpy() for t in out]


def onnx_reference(blob: bytes, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """An ONNX model's outputs computed in process by onnxruntime."""
    import onnxruntime

    return list(onnxruntime.InferenceSession(blob).run(None, feed))


def engine_versions() -> dict[str, str]:
    """What INFO ai_backends_info should say: RedisAI's field names, our engines."""
    import onnxruntime
    import torch

    return {"Torch_version": str(torch.__version__).split("+", 1)[0],
            "onnxruntime_version": str(onnxruntime.__version__)}


def cuda_device_count() -> int:
    """CUDA devices torch sees here (0 without CUDA)."""
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def onnx_cuda_available() -> bool:
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@cache
def zipmap_onnx() -> bytes:
    """An ONNX-ML model like a scikit-learn classifier's export: ``x`` FLOAT [N, 2] ->
    ``probabilities`` (a tensor, x * 2) and ``zipped`` (ZipMap: a sequence of maps, not
    a tensor). RedisAI drops non-tensor outputs, so the model has one output."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])
    probabilities = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT,
                                                  ["N", 2])
    zipped = helper.make_value_info(
        "zipped", helper.make_sequence_type_proto(
            helper.make_map_type_proto(TensorProto.INT64,
                                       helper.make_tensor_type_proto(TensorProto.FLOAT, []))))
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "two"], ["probabilities"]),
         helper.make_node("ZipMap", ["x"], ["zipped"], domain="ai.onnx.ml",
                          classlabels_int64s=[0, 1])],
        "zipmap", [x], [probabilities, zipped], initializer=[two])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13),
                                                    helper.make_opsetid("ai.onnx.ml", 1)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


IMAGE_SCRIPT = """
def normalize(tensors: List[Tensor], keys: List[str], args: List[str]):
    mean = float(args[0])
    std = float(args[1])
    img = tensors[0].to(torch.float32) / 255.0
    return ((img - mean) / std).unsqueeze(1)


def argmax(tensors: List[Tensor], keys: List[str], args: List[str]):
    return torch.argmax(tensors[0], dim=1)
"""


def image_input(batch: int, seed: int = 0) -> np.ndarray:
    """Grey-scale images for the conv net: UINT8 [batch, 8, 8]."""
    return np.random.default_rng(seed).integers(0, 256, (batch, 8, 8), dtype=np.uint8)


def image_reference(img: np.ndarray, mean: float, std: float) -> list[np.ndarray]:
    """``IMAGE_SCRIPT``'s normalize, the conv net, then its argmax, all in process (the
    script compiled here with torch itself): [normalized, logits, classes]."""
    import torch

    with _quiet():
        unit = torch.jit.CompilationUnit(IMAGE_SCRIPT)
    args = [str(mean), str(std)]
    with torch.inference_mode():
        x = unit.normalize([torch.from_numpy(np.array(img))], [], args)
    logits = reference("conv", x.numpy())[0]
    with torch.inference_mode():
        classes = unit.argmax([torch.from_numpy(logits)], [], [])
    return [x.numpy(), logits, classes.numpy()]


@cache
def endless_onnx() -> bytes:
    """An ONNX model whose Loop adds 1 to its input 10**15 times: it never ends on its
    own (for the execution time limit)."""
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["x_in", "one"], ["x_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [None])],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["trips", "cond", "x"], ["y"], body=body)],
        "endless",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
        initializer=[helper.make_tensor("trips", TensorProto.INT64, [], [10**15]),
                     helper.make_tensor("cond", TensorProto.BOOL, [], [True])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()
