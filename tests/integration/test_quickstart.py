"""The README's quick-start server command works in a clean copy of the repository,
and the Dockerfile uses the same install and start commands."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ..helpers import ROOT, RawClient, free_port

README = ROOT / "README.md"
DOCKERFILE = ROOT / "Dockerfile"


def _block(marker: str) -> str:
    text = README.read_text()
    m = re.search(rf"<!-- {marker} -->\s*```sh\n(.+?)\n```", text, re.S)
    assert m, f"README has no {marker} block"
    return m.group(1).strip()


def test_readme_server_command_matches_dockerfile() -> None:
    cmd = _block("quickstart:server")
    install, start = cmd.rsplit(" && ", 1)
    docker = DOCKERFILE.read_text()
    assert f"RUN {install}" in docker
    exe = start.split()[0]
    # The build stage installs in /app; the final stage keeps the venv at that path.
    assert "WORKDIR /app\n" in docker
    assert f'ENTRYPOINT ["/app/{exe.removeprefix("./")}"' in docker


def test_dockerfile_is_small_non_root_and_health_checked() -> None:
    """What the image promises (no Docker daemon here to build it): a multi-stage build
    whose final stage copies only the venv, runs as a non-root user, and checks its
    health with `tensorserve ping` (tested against a real server in test_operability)."""
    docker = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+)", docker, re.M)
    assert len(stages) == 2, stages
    final = docker[docker.rindex("\nFROM "):]
    assert "COPY --from=build /app/.venv /app/.venv" in final
    assert "COPY tensorserve" not in final and "pip install" not in final
    user = re.search(r"^USER (\S+)", final, re.M)
    assert user and user.group(1) not in ("root", "0")
    assert re.search(r'^HEALTHCHECK .*\n?.*CMD \["/app/.venv/bin/tensorserve", "ping"', final,
                     re.M)
    assert 'VOLUME ["/data"]' in final and '"--dir", "/data"' in final


def test_readme_tests_command_is_what_ci_runs() -> None:
    assert _block("quickstart:tests") == "bash scripts/test.sh"
    assert "exec bash scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_readme_server_command_installs_and_starts(tmp_path: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    for name in files:
        src = ROOT / name
        if src.is_file():
            dst = tmp_path / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    install, start = _block("quickstart:server").rsplit(" && ", 1)
    # Use this interpreter for python3 (the one the suite runs on: 3.11).
    install = install.replace("python3 ", f"{sys.executable} ", 1)
    subprocess.run(install, shell=True, cwd=tmp_path, check=True, timeout=600,
                   capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*start.split(), "--port", str(port), "--save", ""],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        import time

        deadline = time.monotonic() + 20
        while True:
            try:
                c = RawClient(port)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert c.command("PING") == b"PONG"
        assert c.command("SET", "k", "v") == b"OK"
        assert c.command("GET", "k") == b"v"
        c.close()
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_readme_configuration_table_lists_every_parameter() -> None:
    """The README's configuration reference names every flag / config key."""
    from tensorserve.config import PARAMS

    text = README.read_text()
    missing = [name for name in PARAMS if f"`--{name}`" not in text]
    assert not missing, f"README's configuration table lacks {missing}"
