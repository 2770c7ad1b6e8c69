"""The README's 5-minute tour runs as written: every block, in order, against one real
server (only the port is changed), with redis-cli, redis-py and redisai-py."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..helpers import ROOT, ServerProcess
from .test_redisai_py import _clean_env, redisai_python  # noqa: F401 (a fixture)

README = ROOT / "README.md"


def _block(marker: str) -> str:
    m = re.search(rf"<!-- tour:{marker} -->\s*```(?:sh|python)\n(.+?)\n```",
                  README.read_text(), re.S)
    assert m, f"README has no tour:{marker} block"
    return m.group(1)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    s = ServerProcess([])
    yield s
    s.stop()


def _python(python: str | Path, code: str, port: int, folder: Path,
            env: dict[str, str] | None = None) -> str:
    """Run ``code`` as a file (TorchScript reads a module's source from its file)."""
    path = folder / "tour.py"
    path.write_text(code.replace("port=6379", f"port={port}"))
    proc = subprocess.run([str(python), str(path)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(shutil.which("redis-cli") is None, reason="needs redis-cli")
def test_tour_runs_in_order(server: ServerProcess, redisai_python: Path,  # noqa: F811
                            tmp_path: Path) -> None:
    outputs = []
    for line in _block("cli").splitlines():
        argv = shlex.split(line.replace("-p 6379", f"-p {server.port}"))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout.strip())
    assert outputs[:3] == ["OK", "hello", "OK"]
    assert outputs[3].split("\n") == ["dtype", "FLOAT", "shape", "2", "2", "values",
                                      "1", "2", "3", "4"]

    out = _python(sys.executable, _block("redis-py"), server.port, tmp_path)
    assert out.splitlines() == ["(b'jobs', b'train:42')", "[0. 2. 4. 6.]"]

    out = _python(redisai_python, _block("redisai-py"), server.port, tmp_path,
                  env=_clean_env())
    lines = out.splitlines()
    assert lines[0] == "[[1. 2.]"
    assert "[[0.2 0.4]" in out and "[0.6 0.8]]" in out
    assert lines[-1] == "2"  # one run from the redis-py block, one from the DAG
