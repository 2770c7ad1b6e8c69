"""The whole benchmark suite in one command: every bench, then JSON, PNG charts and a report.

Runs resp_bench, memory_bench, conn_bench (where it exists), persist_bench, model_bench
and batch_bench one after the other (never two at once: they would compete for the same cores), each as its own
process with the settings of the chosen profile, and each writing its usual JSON and
markdown into ``OUT/suite/``. Then it collects those JSON files into ``OUT/suite.json``
(with the machine, the versions, each bench's command, exit status and wall time, and the
headline figures), draws the charts into ``OUT/charts/`` (matplotlib, Agg backend) and
writes ``OUT/report.md``, which embeds them. ``OUT`` is bench/results by default; the
benches' own full-run results there (``results/resp.json`` ...) are left alone.

Profiles:

- ``quick`` (the default): sized to finish in well under 10 minutes on 2 cores (5-7
  minutes on the shared 2-vCPU development VM); fewer repetitions and shorter measurements
  than each bench's own default, every chart still filled.
- ``full``: each bench with its own defaults (about 30 minutes by their own estimates;
  persist_bench writes 1 GiB).
- ``smoke``: a few seconds per bench, to check that the pipeline works (tests).

A bench that fails or runs past its time limit is recorded as such and the suite goes
on; the exit status is 1 if any bench failed, 2 if the charts could not be drawn.

    python bench/run_all.py                        # quick profile, ~5-7 min on 2 cores
    python bench/run_all.py --full
    python bench/run_all.py --only resp,model      # a subset (the rest of the report is empty)
    python bench/run_all.py --render-only          # charts and report again from OUT/suite/
    python bench/run_all.py --render-only --from bench/results --out /tmp/x  # from any JSONs
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _charts
from _common import RESULTS, ROOT, machine_notes

BENCH_DIR = Path(__file__).resolve().parent

# Bench name -> its script; run in this order. conn_bench is newer than the suite: it
# joins when it is there.
SCRIPTS: dict[str, str] = {
    name: script for name, script in {
        "resp": "resp_bench.py",
        "memory": "memory_bench.py",
        "conn": "conn_bench.py",
        "persist": "persist_bench.py",
        "model": "model_bench.py",
        "batch": "batch_bench.py",
    }.items() if (BENCH_DIR / script).exists()
}

# profile -> bench -> (arguments, time limit in seconds). Timings in the comments are
# from the 2-vCPU development VM with other work on it.
PROFILES: dict[str, dict[str, tuple[list[str], float]]] = {
    "smoke": {
        "resp": (["--configs", "P1,P16", "--tests", "ping_mbulk,set,get", "-n", "2000",
                  "--reps", "1"], 120),
        "memory": (["--connections", "50", "--keys", "5000"], 120),
        "conn": (["--counts", "200", "--reps", "1", "--pings", "200"], 120),
        "persist": (["--gb", "0.02", "--tensor-mb", "1", "--reps", "1", "--requests", "2000"],
                    120),
        "model": (["--quick", "--models", "mlp-onnx", "--samples", "50", "--seconds", "0.2",
                   "--concurrency", "1,4"], 180),
        "batch": (["--quick", "--models", "mlp-onnx", "--seconds", "0.3", "--raw-seconds",
                   "0.05", "--concurrency", "1,8"], 180),
    },
    "quick": {
        # 4 configs x 16 tests, -n / 10, 3 interleaved repetitions: ~30 s.
        "resp": (["--quick", "--reps", "3"], 240),
        # 2000 idle connections, 250,000 keys: ~15 s.
        "memory": (["--connections", "2000", "--keys", "250000"], 180),
        # 1,000 and 10,000 idle connections, one repetition: ~20 s.
        "conn": (["--counts", "1000,10000", "--reps", "1"], 180),
        # 256 MiB of tensors; the log: 3 repetitions of 20,000 requests: ~45 s.
        "persist": (["--gb", "0.25", "--reps", "3", "--requests", "20000"], 240),
        # 4 models, 3 x 400 latency samples, 6 concurrencies x 2 x 0.5 s: ~2 min.
        "model": (["--quick", "--reps", "3", "--samples", "400", "--tput-reps", "2",
                   "--seconds", "0.5", "--concurrency", "1,2,4,8,16,32"], 360),
        # 4 models x 3 keys x 3 concurrencies, 3 repetitions of ~0.8 s: ~2 min.
        "batch": (["--models", "mlp-torch,mlp-onnx,mlpwide-torch,mlpwide-onnx", "--reps", "3",
                   "--seconds", "0.8", "--raw-seconds", "0.15", "--concurrency", "1,8,32"],
                  360),
    },
    "full": {name: ([], 2400.0) for name in SCRIPTS},
}

CHART_NOTES: dict[str, str] = {
    "model_throughput.png": "Inferences per second (the pipelined TENSORSET + MODELEXECUTE "
    "+ TENSORGET triple) against the number of concurrent clients, per model, with the GET "
    "ceiling of the same client processes on tensorserve and redis-server for scale.",
    "latency_percentiles.png": "Left: one round trip at concurrency 1, p50 and p99, next to "
    "the raw engine's forward pass and redis-server's GET; right: p50 and p99 as "
    "concurrency grows.",
    "batching_gains.png": "requests/s (top, labelled with the gain over unbatched at the "
    "same concurrency) and p99 latency (bottom) for BATCHSIZE 0, 16 and 32 of the same "
    "model on one server, under redis-benchmark.",
    "resp_ratios.png": "tensorserve's requests/s divided by redis-server's for each "
    "redis-benchmark test and pipeline depth, paired within a repetition (1.0 = parity).",
}


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _binary_version(binary: str) -> str | None:
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True,
                             timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"(?:v=|\s)(\d+\.\d+\.\d+)", out)
    return m.group(1) if m else out.strip() or None


def versions() -> dict[str, str | None]:
    m = re.search(r'__version__ = "([^"]+)"',
                  (ROOT / "tensorserve" / "__init__.py").read_text())
    out: dict[str, str | None] = {"tensorserve": m.group(1) if m else None,
                                  "redis-server": _binary_version("redis-server"),
                                  "redis-benchmark": _binary_version("redis-benchmark")}
    for dist in ("numpy", "torch", "onnxruntime", "hiredis", "uvloop", "redis", "matplotlib"):
        out[dist] = _version(dist)
    return out


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End a bench that ran out of time, and the servers and clients it started."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_bench(name: str, args: list[str], limit: float, out: Path, logs: Path,
              ) -> dict[str, Any]:
    """One bench as its own process (own session, so a time-out ends its servers too)."""
    suite = out / "suite"
    suite.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    for ext in ("json", "md"):
        (suite / f"{name}.{ext}").unlink(missing_ok=True)  # no stale result taken as new
    cmd = [sys.executable, str(BENCH_DIR / SCRIPTS[name]), *args, "--out", str(suite)]
    log_path = logs / f"{name}.log"
    rec: dict[str, Any] = {
        "command": ["bench/" + SCRIPTS[name], *args, "--out", _rel(suite, out)],
        "time_limit_s": limit,
        "log": str(log_path),
    }
    print(f"[run_all] {name}: {' '.join(rec['command'])} (log: {log_path})", flush=True)
    rec["loadavg_start"] = list(os.getloadavg())  # other work on the machine: noise
    t0 = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)
        try:
            rc: int | None = proc.wait(limit)
        except subprocess.TimeoutExpired:
            _stop_group(proc)
            rc = None
    rec["wall_s"] = round(time.monotonic() - t0, 1)
    rec["rc"] = rc
    produced = suite / f"{name}.json"
    if rc is None:
        rec["status"] = "timeout"
    elif rc != 0 or not produced.exists():
        rec["status"] = "failed"
    else:
        rec["status"] = "ok"
        rec["json"] = _rel(produced, out)
        rec["md"] = _rel(suite / f"{name}.md", out)
    if rec["status"] != "ok":
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
        rec["error"] = "\n".join(tail)
        print(f"[run_all] {name}: {rec['status'].upper()} after {rec['wall_s']:.0f} s:\n  "
              + "\n  ".join(tail), file=sys.stderr, flush=True)
    else:
        print(f"[run_all] {name}: ok in {rec['wall_s']:.0f} s", flush=True)
    return rec


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def load_results(source: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    results = {}
    for name in names:
        path = source / f"{name}.json"
        if path.exists():
            results[name] = json.loads(path.read_text())
    return results


def _fmt_s(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m} min {s:02d} s" if m else f"{s} s"


def _bench_date(data: dict[str, Any] | None) -> str:
    meta = (data or {}).get("meta", {})
    return str(meta.get("machine", meta).get("date_utc", "-"))


def report(suite: dict[str, Any], rows: list[tuple[str, str, str]]) -> str:
    meta = suite["meta"]
    mach = meta["machine"]
    ver = meta["versions"]
    benches = suite["benches"]
    if meta.get("rendered_from"):
        intro = (f"Rendered on {mach['date_utc']} from the results in `{meta['rendered_from']}` "
                 "(each bench's own date below).")
    else:
        intro = (f"Run of {mach['date_utc']}, profile `{meta['profile']}`"
                 + (f", {_fmt_s(meta['wall_s'])} wall time in all" if meta.get("wall_s")
                    else "") + f" (`{meta['command']}`).")
    lines = [
        "# tensorserve benchmark suite",
        "",
        intro,
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPUs | {mach['cpus']} ({mach['cpu_model']}), shared with other work; nothing "
        "pinned |",
        f"| OS | Linux {mach['kernel']} |",
        f"| Python | {mach['python']} |",
        f"| tensorserve | {ver.get('tensorserve')} at checkout {mach['checkout']}, default "
        "flags |",
        f"| redis-server / redis-benchmark | {ver.get('redis-server')} / "
        f"{ver.get('redis-benchmark')} (on the same cores) |",
        "| libraries | " + ", ".join(f"{k} {v}" for k, v in ver.items()
                                     if v and k not in ("tensorserve", "redis-server",
                                                        "redis-benchmark")) + " |",
    ]
    if meta.get("loadavg_start"):
        lines.append("| load average (1 min) | "
                     f"{meta['loadavg_start'][0]:.1f} at the start, "
                     f"{meta.get('loadavg_end', [float('nan')])[0]:.1f} at the end |")
    lines += [
        "",
        "Every server runs on the same cores as its load generator, and the machine is "
        "shared, so absolute figures move from run to run by tens of percent; the ratios, "
        "paired within one run, are what to compare.",
        "",
        "## Headline figures",
        "",
        "| area | measure | value |",
        "|---|---|---|",
        *[f"| {a} | {m} | {v} |" for a, m, v in rows],
        "",
    ]
    if not rows:
        lines.insert(-1, "(no bench results)")
    charts = suite.get("charts", [])
    if suite.get("chart_error"):
        lines += ["## Charts", "", suite["chart_error"], ""]
    elif charts:
        lines += ["## Charts", ""]
        for name in charts:
            title = _charts.CHARTS[name][0]
            lines += [f"### {title}", "", f"![{title}](charts/{name})", "",
                      CHART_NOTES.get(name, ""), ""]
    lines += ["## Benches", "", "| bench | status | date | wall time | load average at its "
              "start | command | results |", "|---|---|---|---:|---:|---|---|"]
    for name, rec in benches.items():
        res = rec.get("md") or rec.get("json")
        res = f"[{res}]({res})" if res and rec["status"] in ("ok", "loaded") else "-"
        wall = _fmt_s(rec["wall_s"]) if rec.get("wall_s") is not None else "-"
        cmd = " ".join(rec.get("command", [])) or "-"
        data = suite["results"].get(name) or {}
        load = rec.get("loadavg_start") or data.get("meta", {}).get("loadavg_start")
        lines.append(f"| {name} | {rec['status']} | {_bench_date(data)} | {wall} | "
                     f"{f'{load[0]:.1f}' if load else '-'} | `{cmd}` | {res} |")
    lines += ["", "Each bench's own markdown (linked above) has the full tables and its "
              "method; bench/README.md describes them.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    prof = ap.add_mutually_exclusive_group()
    prof.add_argument("--profile", choices=list(PROFILES), default="quick")
    prof.add_argument("--quick", dest="profile", action="store_const", const="quick",
                      help="the default: < 10 minutes on 2 cores")
    prof.add_argument("--full", dest="profile", action="store_const", const="full",
                      help="every bench with its own full settings (~30 minutes)")
    prof.add_argument("--smoke", dest="profile", action="store_const", const="smoke",
                      help="seconds per bench: checks the pipeline, not the server")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SCRIPTS)}")
    ap.add_argument("--skip", default="", help="comma-separated benches to leave out")
    ap.add_argument("--out", type=Path, default=RESULTS,
                    help="where suite.json, report.md, charts/ and suite/ go "
                    "(default bench/results)")
    ap.add_argument("--render-only", action="store_true",
                    help="run nothing: charts, suite.json and report from existing JSON")
    ap.add_argument("--from", dest="source", type=Path, default=None,
                    help="with --render-only: the directory holding <bench>.json "
                    "(default OUT/suite)")
    args = ap.parse_args(argv)

    def names(spec: str) -> list[str]:
        got = [n.strip() for n in spec.split(",") if n.strip()]
        bad = set(got) - set(SCRIPTS)
        if bad:
            ap.error(f"unknown benches {sorted(bad)}; known: {', '.join(SCRIPTS)}")
        return got

    only, skip = names(args.only), names(args.skip)
    selected = [n for n in SCRIPTS if (not only or n in only) and n not in skip]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    profile = PROFILES[args.profile]
    started = time.monotonic()

    benches: dict[str, dict[str, Any]] = {}
    meta: dict[str, Any] = {
        "profile": args.profile,
        "command": " ".join(["bench/run_all.py", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine_notes(),
        "versions": versions(),
        "loadavg_start": list(os.getloadavg()),
    }
    if args.render_only:
        source = args.source or out / "suite"
        previous = out / "suite.json"
        if args.source is None and previous.exists():
            old = json.loads(previous.read_text())
            meta = old.get("meta", meta)  # the run's own machine, date and wall time
            benches = {k: v for k, v in old.get("benches", {}).items() if k in selected}
        else:
            meta["rendered_from"] = str(source)
        results = load_results(source, selected)
        for name in selected:
            benches.setdefault(name, {"status": "loaded" if name in results else "missing",
                                      "json": _rel(source / f"{name}.json", out)})
    else:
        logs = out / "tmp" / "suite-logs"
        for name in selected:
            bench_args, limit = profile[name]
            benches[name] = run_bench(name, bench_args, limit, out, logs)
        results = load_results(out / "suite", [n for n in selected
                                               if benches[n]["status"] == "ok"])
        meta["wall_s"] = round(time.monotonic() - started, 1)
        meta["loadavg_end"] = list(os.getloadavg())

    h = _charts.headline(results)
    charts: list[str] = []
    chart_error = None
    try:
        charts = _charts.render(results, out / "charts")
    except ImportError as e:
        chart_error = f"no charts: {e} (pip install matplotlib, or .[bench])"
        print(f"[run_all] {chart_error}", file=sys.stderr)
    suite: dict[str, Any] = {
        "meta": meta,
        "benches": benches,
        "headline": h,
        "charts": [f"charts/{c}" for c in charts],
        "chart_error": chart_error,
        "results": results,
    }
    (out / "suite.json").write_text(json.dumps(suite, indent=1) + "\n")
    md = report({**suite, "charts": charts}, _charts.headline_rows(h))
    (out / "report.md").write_text(md)
    print(md)
    wall = time.monotonic() - started
    print(f"[run_all] wrote {out / 'suite.json'}, {out / 'report.md'} and "
          f"{len(charts)} chart(s) in {out / 'charts'}; {_fmt_s(wall)}", flush=True)
    if any(b["status"] in ("failed", "timeout") for b in benches.values()):
        return 1
    return 2 if chart_error else 0


if __name__ == "__main__":
    sys.exit(main())
