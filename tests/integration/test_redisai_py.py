"""The unmodified redisai-py client (1.3.0) against tensorserve: tensors, models, scripts
and DAGs.

redisai 1.3.0 needs redis-py 4 (``redis>=4.1.4,<5``), which cannot live beside the main
venv's redis-py 8, so it gets its own venv, ``.venv-redisai`` at the repository root
(created on first use; CI creates it every run). The checks themselves are plain Python
scenarios in tests/redisai_py/, run by that venv's python against the session's server;
this file builds what needs torch (model files, expected outputs) in the main venv,
hands them over as files and requires the scenario to exit 0.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from ..helpers import ROOT, ServerProcess
from ..models import (
    mlp_input,
    mlp_onnx,
    mlp_torch,
    reference,
    slow_torch,
    two_io_torch,
)

VENV = ROOT / ".venv-redisai"
# What redisai 1.3.0 needs at import time: redis-py 4 and numpy; its own requirements
# (hiredis, Deprecated, six, pytest) come with it. ml2rt is only for its test suite.
# `import redisai` also imports pkg_resources (setuptools), which venv adds on Python
# 3.11 only and newer setuptools drop, hence the pin.
REQUIREMENTS = ("redisai==1.3.0", "redis>=4.1.4,<5", "numpy", "setuptools<81")
PROBE = (
    "import importlib.metadata as m, redis, redisai; "
    "assert m.version('redisai') == '1.3.0', m.version('redisai'); "
    "assert redis.__version__.startswith('4.'), redis.__version__"
)
SCENARIOS = ROOT / "tests" / "redisai_py"
TESTDATA = ROOT.parent / "shared" / "testdata"
TESTDATA_FILES = ("pt-minimal.pt", "boston.onnx", "findsquare.onnx", "one.raw")


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _probe(python: Path) -> subprocess.CompletedProcess[str] | None:
    if not python.exists():
        return None
    return subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True,
                          timeout=120, env=_clean_env())


def _clean_env() -> dict[str, str]:
    """The environment without the main venv's import paths."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture(scope="session")
def redisai_python() -> Path:
    """The python of .venv-redisai, created (or re-created, when it cannot import
    redisai 1.3.0 on redis-py 4) with this interpreter's venv and that venv's pip. A
    failure fails the tests with pip's output: CI must prove compatibility, not skip it."""
    python = _venv_python()
    probe = _probe(python)
    if probe is not None and probe.returncode == 0:
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(VENV)],
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *REQUIREMENTS],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                              env=_clean_env())
        if proc.returncode != 0:
            pytest.fail(f"creating {VENV} failed: {' '.join(cmd)} exited {proc.returncode}\n"
                        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}", pytrace=False)
    probe = _probe(python)
    if probe is None or probe.returncode != 0:
        out = "" if probe is None else f"{probe.stdout}\n{probe.stderr}"
        pytest.fail(f"{VENV} was created but cannot import redisai 1.3.0 on redis-py 4:\n{out}",
                    pytrace=False)
    return python


def run_scenario(python: Path, name: str, server: ServerProcess, *args: str | Path) -> str:
    """Run tests/redisai_py/scenario_<name>.py against ``server``; it must exit 0."""
    cmd = [str(python), str(SCENARIOS / f"scenario_{name}.py"), "--port", str(server.port),
           *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_clean_env(),
                          cwd=str(SCENARIOS))
    assert proc.returncode == 0, (
        f"scenario {name} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n"
        f"--- stderr\n{proc.stderr}\n--- server log\n{server.log()[-4000:]}"
    )
    return proc.stdout


def _onnx_run(blob: bytes, *inputs: np.ndarray) -> list[np.ndarray]:
    """A model's outputs computed in process with onnxruntime (what the server must match)."""
    import onnxruntime as ort

    session = ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return [np.asarray(o) for o in session.run(None, dict(zip(names, inputs, strict=True)))]


def _write(folder: Path, **arrays: np.ndarray) -> Path:
    folder.mkdir(exist_ok=True)
    for name, arr in arrays.items():
        np.save(folder / f"{name}.npy", arr)
    return folder


def _testdata() -> Path:
    """../shared/testdata with checked contents, or skip when it is absent."""
    if not TESTDATA.is_dir():
        pytest.skip(f"{TESTDATA} is absent (RedisAI-era test files)")
    sums = dict(reversed(line.split()) for line in
                (TESTDATA / "SHA256SUMS").read_text().splitlines() if line.strip())
    for name in TESTDATA_FILES:
        digest = hashlib.sha256((TESTDATA / name).read_bytes()).hexdigest()
        assert digest == sums[name], f"{name}: checksum differs from SHA256SUMS"
    return TESTDATA


@pytest.fixture
def ai_config_restored(server: ServerProcess) -> Iterator[None]:
    """Puts AI.CONFIG back as it was even when a scenario dies half-way (the server is
    shared with the rest of the session)."""
    r = redis.Redis(host=server.host, port=server.port, protocol=2)
    saved = {name: r.execute_command("AI.CONFIG", "GET", name)
             for name in ("MODEL_CHUNK_SIZE", "BACKENDSPATH")}
    yield
    for name, value in saved.items():
        r.execute_command("AI.CONFIG", name, value)
    r.close()


# -- tests -------------------------------------------------------------------------------
def test_redisai_py_venv_has_pinned_client(redisai_python: Path) -> None:
    """The compatibility claim is for redisai 1.3.0 on redis-py 4, nothing newer."""
    proc = subprocess.run(
        [str(redisai_python), "-c",
         "import redis, redisai; print(redisai.__version__, redis.__version__)"],
        capture_output=True, text=True, timeout=120, env=_clean_env())
    assert proc.returncode == 0, proc.stderr
    client, redis_py = proc.stdout.split()
    assert client == "1.3.0"
    assert redis_py.split(".")[0] == "4"


def test_tensors_redisai_py_round_trip_every_dtype(redisai_python: Path,
                                                   server: ServerProcess) -> None:
    """tensorset/tensorget (numpy and lists; numpy, values, meta) for all ten dtypes, and
    the ResponseError texts redisai-py users see for tensors."""
    assert "tensors: ok" in run_scenario(redisai_python, "tensors", server)


def test_models_redisai_py_store_get_execute(redisai_python: Path, server: ServerProcess,
                                             tmp_path: Path) -> None:
    """modelstore/modelget/modelscan/modelexecute/modelrun/modelset/modeldel/infoget on
    TORCH and ONNX models built here, against outputs computed in process."""
    x2, x5 = mlp_input(2), mlp_input(5, seed=1)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 1.5, dtype=np.float32)
    onnx_blob = mlp_onnx()
    (total, prod) = reference("two_io", a, b)
    data = _write(
        tmp_path / "data", x2=x2, x5=x5, mlp_torch_y2=reference("mlp", x2)[0],
        mlp_onnx_y2=_onnx_run(onnx_blob, x2)[0], mlp_onnx_y5=_onnx_run(onnx_blob, x5)[0],
        a=a, b=b, sum=total, prod=prod,
    )
    files = {"mlp-torch": mlp_torch(), "mlp-onnx": onnx_blob, "two-io-torch": two_io_torch(),
             "slow-torch": slow_torch()}
    args: list[str | Path] = ["--data", data]
    for name, blob in files.items():
        path = tmp_path / f"{name}.bin"
        path.write_bytes(blob)
        args += [f"--{name}", path]
    assert "models: ok" in run_scenario(redisai_python, "models", server, *args)


@pytest.mark.usefixtures("ai_config_restored")
def test_config_redisai_py_chunk_size_and_backends(redisai_python: Path, server: ServerProcess,
                                                   tmp_path: Path) -> None:
    """config() reads MODEL_CHUNK_SIZE as an integer and modelstore() slices blobs by it;
    modelget returns RedisAI's chunk list; loadbackend accepts any path."""
    model = tmp_path / "mlp.pt"
    model.write_bytes(mlp_torch())
    assert model.stat().st_size > 1352  # bigger than redisai-py's own chunking example
    assert "config: ok" in run_scenario(redisai_python, "config", server, "--torch-model", model)


@pytest.mark.usefixtures("ai_config_restored")
def test_testdata_redisai_py_runs_redisai_era_files(redisai_python: Path,
                                                    server: ServerProcess,
                                                    tmp_path: Path) -> None:
    """The files redisai-py's own tests send (pt-minimal, boston, findsquare, one.raw)
    store, run and round-trip as they did on RedisAI."""
    testdata = _testdata()
    boston = (testdata / "boston.onnx").read_bytes()
    findsquare = (testdata / "findsquare.onnx").read_bytes()
    boston_y = _onnx_run(boston, np.ones((1, 13), dtype=np.float32))[0]
    assert int(boston_y.item()) == 24  # redisai-py's test_run_onnxml_model expectation
    findsquare_y = _onnx_run(findsquare, np.array([2.0], dtype=np.float32))[0]
    assert np.allclose(findsquare_y, [4.0])  # findsquare does compute the square
    assert np.allclose(_onnx_run(findsquare, np.array([3.0], dtype=np.float32))[0], [9.0])

    import torch

    pt = torch.jit.load(io.BytesIO((testdata / "pt-minimal.pt").read_bytes()))
    ab = torch.tensor([[2.0, 3.0], [2.0, 3.0]])
    assert pt(ab, ab).tolist() == [[4.0, 6.0], [4.0, 6.0]]  # forward(a, b) -> a + b
    data = _write(tmp_path / "data", boston_y=boston_y, findsquare_y=findsquare_y)
    assert "testdata: ok" in run_scenario(redisai_python, "testdata", server,
                                          "--testdata", testdata, "--data", data)


def _model_files(folder: Path) -> list[str | Path]:
    """--mlp-torch / --two-io-torch arguments: the model blobs as files."""
    args: list[str | Path] = []
    for name, blob in (("mlp-torch", mlp_torch()), ("two-io-torch", two_io_torch())):
        path = folder / f"{name}.bin"
        path.write_bytes(blob)
        args += [f"--{name}", path]
    return args


def _two_io_data() -> dict[str, np.ndarray]:
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 1.5, dtype=np.float32)
    (total, prod) = reference("two_io", a, b)
    x2 = mlp_input(2)
    return {"x2": x2, "mlp_y2": reference("mlp", x2)[0], "a": a, "b": b, "sum": total,
            "prod": prod}


def test_scripts_redisai_py_store_execute_and_extensions(redisai_python: Path,
                                                         server: ServerProcess,
                                                         tmp_path: Path) -> None:
    """scriptstore/scriptget/scriptscan/scriptexecute/scriptset/scriptrun/scriptdel/infoget,
    scripts calling redis.execute (SET/GET/HSET/RPUSH/DEL, checked in the keyspace
    afterwards), redis.asList and redisAI.model_execute on models stored through
    redisai-py, and the error texts redisai-py users see."""
    data = _write(tmp_path / "data", **_two_io_data())
    assert "scripts: ok" in run_scenario(redisai_python, "scripts", server,
                                         "--data", data, *_model_files(tmp_path))


def test_dag_redisai_py_builder_pipeline_and_errors(redisai_python: Path,
                                                    server: ServerProcess,
                                                    tmp_path: Path) -> None:
    """client.dag(load, persist, routing, timeout, readonly) and its builder, the deprecated
    DAGRUN fallback, post-processed replies, a script -> model -> script pipeline against
    in-process results, and failed ops as elements followed by NA."""
    import torch

    raw = mlp_input(4, seed=3)
    # The scenario's `pre` with args "2.0" "0.25", the MLP, then `post` (softmax, argmax).
    pre = (torch.from_numpy(raw) * 2.0 + 0.25).numpy()
    logits = torch.from_numpy(reference("mlp", pre)[0])
    label = torch.argmax(logits, 1).numpy()
    assert len(set(label.tolist())) > 1  # the argmax output tells rows apart
    data = _write(tmp_path / "data", **_two_io_data(), raw=raw,
                  probs=torch.softmax(logits, 1).numpy(), label=label)
    assert "dag: ok" in run_scenario(redisai_python, "dag", server, "--data", data,
                                     *_model_files(tmp_path))
