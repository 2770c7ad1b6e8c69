"""bench/run_all.py: the whole suite's JSON, PNG charts and report.

Two cheap checks (well under 30 s together): the charts and the report rendered from the
benches' committed full-run JSON (``--render-only``, no server), and a ``--smoke`` run of
the two benches that need no models (resp_bench, persist_bench) end to end. Skipped
where matplotlib is not installed (it is in the ``test`` extra, so CI runs them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import require_binary
from ..helpers import ROOT

pytest.importorskip("matplotlib")

RUN_ALL = ROOT / "bench" / "run_all.py"
BENCHES = ("resp", "memory", "persist", "model", "batch")
CHARTS = ("model_throughput.png", "latency_percentiles.png", "batching_gains.png",
          "resp_ratios.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_all(*args: str | Path, env: dict[str, str] | None = None,
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(RUN_ALL), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def assert_png(path: Path) -> None:
    assert path.exists(), f"{path.name} was not drawn"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC), path
    assert len(data) > 10_000, f"{path.name} is nearly empty ({len(data)} B)"


def test_render_only_from_bench_json(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_all("--render-only", "--from", ROOT / "bench" / "results", "--out", out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    suite = json.loads((out / "suite.json").read_text())
    assert {"meta", "benches", "headline", "charts", "results"} <= set(suite)
    assert set(suite["results"]) >= set(BENCHES)
    assert all(suite["benches"][name]["status"] == "loaded" for name in BENCHES)
    assert {"cpus", "python", "date_utc"} <= set(suite["meta"]["machine"])
    assert suite["meta"]["versions"]["matplotlib"]
    h = suite["headline"]
    assert {"resp_ratio_by_config", "model_latency_c1", "model_peak_throughput", "batching",
            "memory", "persist"} <= set(h)
    assert {"P1", "P16", "P64"} <= set(h["resp_ratio_by_config"])
    assert all(0 < r["median"] < 10 for r in h["resp_ratio_by_config"].values())
    assert all(b["speedup"] > 0 for b in h["batching"].values())
    assert sorted(suite["charts"]) == sorted(f"charts/{c}" for c in CHARTS)

    for chart in CHARTS:
        assert_png(out / "charts" / chart)
    report = (out / "report.md").read_text()
    for chart in CHARTS:
        assert f"](charts/{chart})" in report
    assert "| RESP | throughput tensorserve / redis-server, P16" in report
    assert "## Machine" in report


def test_smoke_run_writes_json_charts_and_report(tmp_path: Path) -> None:
    require_binary("redis-server")
    require_binary("redis-benchmark")
    out = tmp_path / "out"
    proc = run_all("--smoke", "--only", "resp,persist", "--out", out)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]

    suite = json.loads((out / "suite.json").read_text())
    assert suite["meta"]["profile"] == "smoke"
    assert suite["meta"]["wall_s"] > 0
    assert set(suite["benches"]) == {"resp", "persist"}
    for name, rec in suite["benches"].items():
        assert rec["status"] == "ok", rec
        assert rec["rc"] == 0
        assert (out / rec["json"]).exists(), name
    assert suite["results"]["resp"]["summary"], "resp_bench wrote no summary"
    assert set(suite["headline"]["resp_ratio_by_config"]) == {"P1", "P16"}
    assert suite["headline"]["persist"]["save_gib_per_s"] > 0
    # Only the RESP chart has its data in this run; the model charts are left out.
    assert suite["charts"] == ["charts/resp_ratios.png"]
    assert_png(out / "charts" / "resp_ratios.png")
    assert not (out / "charts" / "model_throughput.png").exists()
    report = (out / "report.md").read_text()
    assert "](charts/resp_ratios.png)" in report
    assert "| persist | ok |" in report


def test_a_failing_bench_is_recorded_and_the_report_still_written(tmp_path: Path) -> None:
    # No redis-server / redis-benchmark on PATH: resp_bench exits at once.
    out = tmp_path / "out"
    env = {**os.environ, "PATH": str(tmp_path / "nothing-here")}
    proc = run_all("--smoke", "--only", "resp", "--out", out, env=env)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    suite = json.loads((out / "suite.json").read_text())
    rec = suite["benches"]["resp"]
    assert rec["status"] == "failed"
    assert rec["rc"] != 0
    assert "not installed" in rec["error"]
    assert suite["results"] == {}
    assert suite["charts"] == []
    assert "| resp | failed |" in (out / "report.md").read_text()
    # The tensorserve it had started before finding no redis-server is stopped too.
    assert not _servers_started_by_this_test()


def _servers_started_by_this_test() -> list[int]:
    """tensorserve processes still running that this test started (found by the
    PYTEST_CURRENT_TEST they inherited)."""
    me = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if b"tensorserve" in cmdline and me and me.encode() in environ:
            found.append(int(entry.name))
    return found
