"""runtime/batching in process: batch keys, the concatenate / run / split of a BatchRun
on a real TorchScript model, and the statistics a batch records."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tensorserve.runtime import BackendOptions, ModelRun, parse_device
from tensorserve.runtime.backends import get_backend
from tensorserve.runtime.batching import WRONG_BATCH_SIZE, BatchRun, batch_key
from tensorserve.store.model import Model, RunStats
from tensorserve.store.tensor import Tensor

from .. import models

pytest.importorskip("torch")


def _model(blob: bytes, batchsize: int = 8) -> Model:
    device = parse_device(b"CPU")
    assert device is not None
    backend = get_backend("TORCH")
    assert backend is not None
    handle = backend.load_model(blob, device, BackendOptions(1, 0))
    return Model("TORCH", device, b"", batchsize, 0, 0, blob, handle, b"m")


def _run(model: Model, *arrays: np.ndarray) -> ModelRun:
    job = ModelRun(model, [Tensor.from_array(a) for a in arrays], lambda j: None)
    job.enqueued_ns = time.perf_counter_ns()
    return job


def test_batch_key_by_dtype_and_trailing_dims() -> None:
    m = _model(models.two_io_torch(), batchsize=4)
    f3 = np.zeros((1, 3), np.float32)
    key = batch_key(_run(m, f3, f3))
    assert key == (("FLOAT", (3,)), ("FLOAT", (3,)))
    assert batch_key(_run(m, np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))) == key
    assert batch_key(_run(m, f3, np.zeros((1, 3), np.float64))) != key
    # Not batched: inputs disagreeing on dim 0, BATCHSIZE rows or more, no rows at all.
    assert batch_key(_run(m, np.zeros((2, 3), np.float32), f3)) is None
    assert batch_key(_run(m, np.zeros((4, 3), np.float32), np.zeros((4, 3), np.float32))) is None
    assert batch_key(_run(m, np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32))) is None
    assert batch_key(_run(_model(models.two_io_torch(), batchsize=0), f3, f3)) is None


def test_batch_run_splits_rows_back_in_order() -> None:
    m = _model(models.mlp_torch())
    xs = [models.mlp_input(n, seed=n) for n in (1, 3, 2)]
    jobs = [_run(m, x) for x in xs]
    batch = BatchRun(m, jobs, lambda j: None)
    batch.enqueued_ns = time.perf_counter_ns()
    batch.execute()
    assert batch.error is None and (batch.rows, batch.requests) == (6, 3)
    for job, x in zip(jobs, xs, strict=True):
        assert job.ran and job.error is None and job.duration_ns == batch.duration_ns
        np.testing.assert_allclose(job.outputs[0].array, models.reference("mlp", x)[0],
                                   rtol=1e-4, atol=1e-5)


def test_batch_run_skips_cancelled_and_expired_runs() -> None:
    m = _model(models.mlp_torch())
    jobs = [_run(m, models.mlp_input(1, seed=i)) for i in range(3)]
    jobs[0].cancelled = True
    jobs[2].deadline = time.monotonic() - 1
    batch = BatchRun(m, jobs, lambda j: None)
    batch.enqueued_ns = time.perf_counter_ns()
    batch.execute()
    assert [j.ran for j in jobs] == [False, True, False]
    assert (batch.rows, batch.requests) == (1, 1) and jobs[1].outputs


def test_batch_run_wrong_dim0_fails_every_run() -> None:
    m = _model(models.row_sum_torch())
    jobs = [_run(m, models.mlp_input(1, seed=i)) for i in range(2)]
    batch = BatchRun(m, jobs, lambda j: None)
    batch.enqueued_ns = time.perf_counter_ns()
    batch.execute()
    for job in jobs:
        assert job.error is not None and str(job.error) == f"ERR {WRONG_BATCH_SIZE}"
        assert job.outputs == []


def test_record_batch_histogram_and_reset() -> None:
    stats = RunStats()
    for rows in (1, 2, 3, 4, 5, 16, 17):
        stats.record_batch(rows, 1, 1000)
    # Buckets: 1, 2, 3-4, 5-8, 9-16, 17-32.
    assert stats.batch_rows_hist == [1, 1, 2, 1, 1, 1]
    assert (stats.batches, stats.batched_rows, stats.max_batch_rows) == (7, 48, 17)
    stats.reset()
    assert (stats.batches, stats.batch_rows_hist, stats.max_batch_rows) == (0, [], 0)
