"""Operability: the Prometheus endpoint, INFO latencystats, logging and the health check,
against a real server process."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from ..helpers import ROOT, RawClient, ServerProcess, free_port
from ..models import mlp_input, mlp_torch


@pytest.fixture(scope="module")
def metered() -> Iterator[ServerProcess]:
    port = free_port()
    server = ServerProcess(["--metrics-port", str(port)])
    server.metrics_port = port  # type: ignore[attr-defined]
    yield server
    server.stop()


def _scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """metric sample name -> {sorted labels: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def _value(m: dict, name: str, **labels: str) -> float:
    return m[name][tuple(sorted(labels.items()))]


def test_metrics_move_after_a_workload(metered: ServerProcess) -> None:
    port = metered.metrics_port  # type: ignore[attr-defined]
    r = redis.Redis(port=metered.port)
    before = _scrape(port)
    calls_before = before.get("tensorserve_command_calls_total", {}).get(
        (("command", "set"),), 0.0)
    for i in range(50):
        r.set(f"k{i}", i)
    for i in range(20):
        r.get(f"k{i}")
    with pytest.raises(redis.ResponseError):
        r.execute_command("INCR", "k0", "extra")  # arity: rejected
    r.set("s", "x")
    with pytest.raises(redis.ResponseError):
        r.execute_command("INCR", "s")  # fails in the handler
    # A batching model, run by several clients at once, and a failing run.
    r.execute_command("AI.MODELSTORE", "mlp", "TORCH", "CPU", "BATCHSIZE", 8,
                      "BLOB", mlp_torch())

    def client(n: int) -> None:
        c = redis.Redis(port=metered.port)
        x = mlp_input(1, seed=n)
        for _ in range(10):
            c.execute_command("AI.TENSORSET", f"x{n}", "FLOAT", *x.shape, "BLOB", x.tobytes())
            c.execute_command("AI.MODELEXECUTE", "mlp", "INPUTS", 1, f"x{n}",
                              "OUTPUTS", 1, f"y{n}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    r.execute_command("AI.TENSORSET", "bad", "FLOAT", 1, 3, "VALUES", 1, 2, 3)
    with pytest.raises(redis.ResponseError):
        r.execute_command("AI.MODELEXECUTE", "mlp", "INPUTS", 1, "bad", "OUTPUTS", 1, "o")

    m = _scrape(port)
    assert _value(m, "tensorserve_command_calls_total", command="set") == calls_before + 51
    assert _value(m, "tensorserve_command_calls_total", command="get") >= 20
    assert _value(m, "tensorserve_command_rejected_calls_total", command="incr") >= 1
    assert _value(m, "tensorserve_command_failed_calls_total", command="incr") >= 1
    # The histogram counts every call and its buckets are cumulative.
    count = _value(m, "tensorserve_command_duration_seconds_count", command="set")
    assert count == _value(m, "tensorserve_command_calls_total", command="set")
    assert _value(m, "tensorserve_command_duration_seconds_bucket", command="set",
                  le="+Inf") == count
    assert _value(m, "tensorserve_command_duration_seconds_sum", command="set") > 0
    assert _value(m, "tensorserve_error_replies_total", code="ERR") >= 2
    model = {"key": "mlp", "kind": "model", "backend": "TORCH", "device": "CPU"}
    assert _value(m, "tensorserve_model_runs_total", **model) == 41
    assert _value(m, "tensorserve_model_run_errors_total", **model) == 1
    assert _value(m, "tensorserve_model_samples_total", **model) == 40
    assert _value(m, "tensorserve_model_compute_seconds_count", **model) == 40
    assert _value(m, "tensorserve_model_queue_wait_seconds_count", **model) == 41
    assert _value(m, "tensorserve_model_batch_rows_bucket", **model, le="+Inf") >= 1
    assert _value(m, "tensorserve_model_batch_rows_sum", **model) >= 40
    assert _value(m, "tensorserve_run_queue_pending", device="CPU") == 0
    assert _value(m, "tensorserve_keys", db="0") >= 50
    assert _value(m, "tensorserve_connected_clients") >= 1
    assert _value(m, "tensorserve_memory_used_bytes") > 0
    assert _value(m, "tensorserve_rdb_changes_since_last_save") > 0
    assert _value(m, "tensorserve_rdb_last_save_ok") == 1
    assert _value(m, "tensorserve_aof_enabled") == 0
    assert _value(m, "process_resident_memory_bytes") > 0
    # INFO is the RESP-side view of the same figures.
    info = r.info("commandstats")
    assert info["cmdstat_set"]["calls"] == count


def test_metrics_http_edges(metered: ServerProcess) -> None:
    port = metered.metrics_port  # type: ignore[attr-defined]
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nothing", timeout=5)
    assert e.value.code == 404
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=5)
    assert e.value.code == 405
    # Keep-alive: two scrapes on one connection; junk gets a 400 and a close.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        for _ in range(2):
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(65536)
            headers, _, body = head.partition(b"\r\n\r\n")
            assert headers.startswith(b"HTTP/1.1 200 OK")
            length = int(headers.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += s.recv(65536)
            assert b"tensorserve_build_info" in body
        s.sendall(b"junk\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    # The RESP port keeps answering throughout.
    assert redis.Redis(port=metered.port).ping()


def test_metrics_off_by_default() -> None:
    server = ServerProcess([])
    try:
        info = redis.Redis(port=server.port).config_get("metrics-port")
        assert info == {"metrics-port": "0"}
    finally:
        server.stop()


def test_info_latencystats(metered: ServerProcess) -> None:
    r = RawClient(metered.port)
    r.command("SET", "a", 1)
    raw = r.command("INFO", "latencystats").decode()
    assert raw.startswith("# Latencystats\r\n")
    line = next(x for x in raw.splitlines() if x.startswith("latency_percentiles_usec_set:"))
    p = dict(kv.split("=") for kv in line.split(":", 1)[1].split(","))
    assert set(p) == {"p50", "p99", "p99.9"}
    assert 0 < float(p["p50"]) <= float(p["p99"]) <= float(p["p99.9"])
    default = r.command("INFO").decode().lower()
    assert "latencystats" not in default


def test_json_logs_banner_and_dropped_clients(tmp_path: Path) -> None:
    server = ServerProcess(["--log-format", "json", "--loglevel", "verbose", "--timeout", "1",
                            "--maxclients", "3"], cwd=str(tmp_path))
    try:
        r = redis.Redis(port=server.port)
        killer = redis.Redis(port=server.port)
        assert r.ping() and killer.ping()  # connected: with the victim, 3 = maxclients
        victim = socket.create_connection(("127.0.0.1", server.port))
        victim.sendall(b"CLIENT SETNAME victim\r\n")
        assert victim.recv(100) == b"+OK\r\n"
        refused = socket.create_connection(("127.0.0.1", server.port))
        assert refused.recv(100) == b"-ERR max number of clients reached\r\n"
        killer.execute_command("CLIENT", "KILL", "SKIPME", "yes", "ID",
                               next(c["id"] for c in killer.client_list()
                                    if c["name"] == "victim"))
        idle = socket.create_connection(("127.0.0.1", server.port))
        r.close()
        killer.close()
        time.sleep(2.5)  # the idle client passes timeout 1 and is closed by the cron
        assert idle.recv(10) == b""
        r2 = redis.Redis(port=server.port)
        r2.config_set("loglevel", "warning")
        r2.close()
    finally:
        server.stop()
    entries = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert all(set(e) >= {"ts", "level", "logger", "pid", "msg"} for e in entries)
    banner = next(e for e in entries if "ready to accept connections" in e["msg"])
    assert banner["logger"] == "tensorserve.server" and banner["level"] == "notice"
    for part in ("0.1.0", f"port {server.port}", "backends: TORCH", "ONNX", "devices: CPU",
                 "persistence: snapshot"):
        assert part in banner["msg"], part
    msgs = [e["msg"] for e in entries]
    assert sum("max number of clients reached" in m for m in msgs) == 1
    assert sum("killed by CLIENT KILL" in m for m in msgs) == 1
    assert sum("closing idle client" in m for m in msgs) >= 1
    idle_entry = next(e for e in entries if "closing idle client" in e["msg"])
    assert idle_entry["level"] == "verbose"


def test_text_log_lines_read_like_redis(tmp_path: Path) -> None:
    server = ServerProcess(["--loglevel", "notice"], cwd=str(tmp_path))
    server.stop()
    lines = [x for x in server.log().splitlines() if "ready to accept" in x]
    assert lines
    pid, rest = lines[0].split(":M ", 1)
    assert pid.isdigit() and " * tensorserve " in rest


def _ping(port: int, password: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("REDISCLI_AUTH", None)
    if password is not None:
        env["REDISCLI_AUTH"] = password
    return subprocess.run([sys.executable, "-m", "tensorserve", "ping", "--port", str(port)],
                          capture_output=True, text=True, env=env, timeout=30)


def test_health_check_command() -> None:
    """The Dockerfile's HEALTHCHECK: `tensorserve ping`."""
    server = ServerProcess(["--requirepass", "pw"])
    try:
        alive = _ping(server.port)
        assert alive.returncode == 0 and alive.stdout.startswith("-NOAUTH")
        authed = _ping(server.port, "pw")
        assert authed.returncode == 0 and authed.stdout.strip() == "+PONG"
    finally:
        server.stop()
    dead = _ping(server.port)
    assert dead.returncode == 1 and "tensorserve ping" in dead.stderr


def test_model_and_script_stats_after_reload(tmp_path: Path) -> None:
    """Metrics name models and scripts by key, also after they come back from a
    snapshot (the key is restored with them)."""
    port = free_port()
    args = ["--metrics-port", str(port), "--dir", str(tmp_path)]
    server = ServerProcess(args, cwd=str(tmp_path))
    r = redis.Redis(port=server.port)
    r.execute_command("AI.MODELSTORE", "m1", "TORCH", "CPU", "BLOB", mlp_torch())
    r.execute_command("AI.SCRIPTSTORE", "s1", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE",
                      "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
                      "    return tensors[0] + 1\n")
    r.save()
    server.stop()
    server = ServerProcess(args, cwd=str(tmp_path))
    try:
        r = redis.Redis(port=server.port)
        x = np.ones((1, 4), dtype=np.float32)
        r.execute_command("AI.TENSORSET", "x", "FLOAT", 1, 4, "BLOB", x.tobytes())
        r.execute_command("AI.SCRIPTEXECUTE", "s1", "f", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
        m = _scrape(port)
        script = {"key": "s1", "kind": "script", "backend": "TORCH", "device": "CPU"}
        assert _value(m, "tensorserve_model_runs_total", **script) == 1
        assert _value(m, "tensorserve_model_runs_total", key="m1", kind="model",
                      backend="TORCH", device="CPU") == 0
    finally:
        server.stop()


def test_pidfile_relative_to_dir_and_removed_at_exit(tmp_path: Path) -> None:
    server = ServerProcess(["--dir", str(tmp_path), "--pidfile", "ts.pid"])
    pidfile = tmp_path / "ts.pid"
    try:
        assert pidfile.read_text().strip() == str(server.proc.pid)
    finally:
        server.stop()
    assert not pidfile.exists()


def test_daemonize(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    launcher = subprocess.run(
        [sys.executable, "-m", "tensorserve", "--port", str(port), "--save", "",
         "--daemonize", "yes", "--dir", str(tmp_path), "--pidfile", "d.pid",
         "--logfile", str(tmp_path / "d.log")],
        env=env, timeout=30, capture_output=True, text=True)
    assert launcher.returncode == 0, launcher.stderr
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port).ping():
                break
        except redis.ConnectionError:
            time.sleep(0.1)
    r = redis.Redis(port=port)
    pid = int((tmp_path / "d.pid").read_text())
    try:
        assert r.ping()
        assert os.getsid(pid) == pid  # its own session: detached from the terminal
        assert "ready to accept connections" in (tmp_path / "d.log").read_text()
    finally:
        with contextlib.suppress(redis.ConnectionError):
            r.shutdown(nosave=True)
    deadline = time.monotonic() + 10
    while (tmp_path / "d.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (tmp_path / "d.pid").exists()


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_tcp_keepalive_reaches_accepted_sockets() -> None:
    server = ServerProcess(["--tcp-keepalive", "120"])

    def keepalive_timers() -> list[str]:
        """The server side's keepalive timers (ss shows one only while no data is in
        flight, so look a few times)."""
        found: list[str] = []
        for _ in range(40):
            out = subprocess.run(["ss", "-tno", "state", "established",
                                  f"( sport = :{server.port} )"],
                                 capture_output=True, text=True).stdout
            found = [x for x in out.splitlines() if "keepalive" in x]
            if found:
                return found
            time.sleep(0.05)
        return found

    try:
        r = redis.Redis(port=server.port)
        r.ping()
        timers = keepalive_timers()
        assert len(timers) == 1 and ("keepalive,1min" in timers[0]
                                     or "keepalive,2min" in timers[0]), timers
        r.config_set("tcp-keepalive", 0)
        r2 = redis.Redis(port=server.port)
        r2.client_setname("fresh")
        time.sleep(0.3)
        assert len(keepalive_timers()) == 1  # the old connection keeps it, not the new one
    finally:
        server.stop()
