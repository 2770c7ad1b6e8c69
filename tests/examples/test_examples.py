"""Run every program in examples/ as a user would: a subprocess against real servers.

The servers require a password, so every example's ``--password`` is exercised too. Each
example checks its own results and exits non-zero when a check fails; here we also check
its key output line and that it leaves no keys behind.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from ..helpers import ROOT, ServerProcess

EXAMPLES = ROOT / "examples"
PASSWORD = "examples-pw"


def _start(tmp: str) -> ServerProcess:
    return ServerProcess(["--requirepass", PASSWORD], cwd=tmp)


def _client(proc: ServerProcess) -> redis.Redis:
    # Loading torch can take a while on a loaded machine: a generous timeout.
    return redis.Redis(host=proc.host, port=proc.port, password=PASSWORD, socket_timeout=120)


def _load_torch(proc: ServerProcess) -> None:
    """Import torch in the server now rather than inside the first example's model store."""
    client = _client(proc)
    try:
        assert client.execute_command("AI.CONFIG", "LOADBACKEND", "TORCH", "x") in (b"OK", "OK")
    finally:
        client.close()


def _stop(proc: ServerProcess) -> None:
    code = proc.stop()
    log = proc.log()
    assert "Traceback" not in log, f"server logged an exception:\n{log}"
    assert code == 0, f"server exited with {code}:\n{log}"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = _start(str(tmp_path_factory.mktemp("examples")))
    _load_torch(proc)
    yield proc
    _stop(proc)


@pytest.fixture
def ts(shared_server: ServerProcess) -> ServerProcess:
    """The module's server, emptied: an example that failed leaves nothing for the next."""
    client = _client(shared_server)
    try:
        client.flushall()
    finally:
        client.close()
    return shared_server


def run_example(name: str, *args: str | int) -> str:
    cmd = [sys.executable, str(EXAMPLES / name), "--password", PASSWORD, *map(str, args)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (
        f"{name} exited with {done.returncode}\n--- stdout\n{done.stdout}\n"
        f"--- stderr\n{done.stderr}")
    return done.stdout


def assert_no_keys_left(*procs: ServerProcess) -> None:
    for proc in procs:
        client = _client(proc)
        try:
            assert client.dbsize() == 0, client.keys()
        finally:
            client.close()


def test_model_params_hash(ts: ServerProcess) -> None:
    out = run_example("model_params_hash.py", "--port", ts.port)
    assert "stored 9 tensors in hash example:params:mlp (27 fields" in out
    assert "OK: model parameters round-trip through a Redis hash" in out
    assert_no_keys_left(ts)


def test_cache_ttl(ts: ServerProcess) -> None:
    out = run_example("cache_ttl.py", "--port", ts.port, "--ttl", "0.5")
    assert re.search(r"same text again:\s+embedding hit\s+topic hit\s+model runs 0", out), out
    assert "OK: hits skip the model, entries expire after their TTL" in out
    assert_no_keys_left(ts)


def test_pubsub_inference(ts: ServerProcess) -> None:
    out = run_example("pubsub_inference.py", "--port", ts.port)
    assert "collected 40 predictions" in out
    assert "OK: all 40 predictions match the model run locally" in out
    assert_no_keys_left(ts)


def test_work_queue_training(ts: ServerProcess) -> None:
    out = run_example("work_queue_training.py", "--port", ts.port)
    assert "trainer finished after 240 steps" in out
    assert re.search(r"OK: loss fell from [0-9.]+ to [0-9.]+; served model is accurate", out)
    assert_no_keys_left(ts)


def test_chatbot(ts: ServerProcess) -> None:
    out = run_example("chatbot.py", "--port", ts.port)
    assert "  bot> It has strings, hashes, lists, sets and sorted sets, with expiry." in out
    assert "OK: 9 messages, one AI.DAGEXECUTE each, context kept per user" in out
    assert_no_keys_left(ts)


def test_sharding(ts: ServerProcess, tmp_path: Path) -> None:
    extra: list[ServerProcess] = []
    try:
        extra += [_start(str(tmp_path)) for _ in range(2)]
        with ThreadPoolExecutor(2) as pool:  # torch loads in both at once: half the wait
            list(pool.map(_load_torch, extra))
        out = run_example("sharding.py", "--ports", ts.port, *(p.port for p in extra))
        counts = [int(n) for n in re.findall(r"shard \d \(port \d+\): (\d+) keys", out)]
        assert len(counts) == 3 and sum(counts) == 300 and min(counts) > 50, out
        assert "OK: 300 embeddings on 3 shards, scored where they live" in out
        assert_no_keys_left(ts, *extra)
    finally:
        for proc in extra:
            _stop(proc)


def test_every_example_is_documented_and_tested() -> None:
    """Each example says how to run it, is listed in examples/README.md and has a test."""
    readme = (EXAMPLES / "README.md").read_text()
    tests = (ROOT / "tests" / "examples" / "test_examples.py").read_text()
    examples = sorted(p.name for p in EXAMPLES.glob("*.py"))
    assert len(examples) >= 6, examples
    for name in examples:
        source = (EXAMPLES / name).read_text()
        assert source.startswith('"""'), f"{name} has no docstring"
        assert re.search(rf"python examples/{re.escape(name)} --ports? ", source), name
        assert f"[{name}]({name})" in readme, f"{name} is not listed in examples/README.md"
        assert f'run_example("{name}"' in tests, f"{name} has no test"
    main_readme = (ROOT / "README.md").read_text()
    assert "examples/README.md" in main_readme
