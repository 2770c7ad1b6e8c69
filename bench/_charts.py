"""Charts and headline figures for the whole suite (bench/run_all.py), from the benches' JSON.

Every function takes ``results``: bench name -> the dict that bench wrote to its JSON
(``resp``, ``memory``, ``conn``, ``persist``, ``model``, ``batch``); a bench that is missing or
failed is simply absent, and the charts and rows that need it are left out.

matplotlib is imported inside :func:`render` (Agg backend: files only, no display), so
that the rest of the suite works without it.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

Results = dict[str, dict[str, Any]]

# Chart file name -> (title used in the report, the bench it needs).
CHARTS: dict[str, tuple[str, str]] = {
    "model_throughput.png": ("Model serving: throughput vs concurrency", "model"),
    "latency_percentiles.png": ("Model serving: latency percentiles (p50 / p99)", "model"),
    "batching_gains.png": ("Auto-batching: batched vs unbatched", "batch"),
    "resp_ratios.png": ("RESP throughput: tensorserve / redis-server", "resp"),
}

RESP_CONFIG_ORDER = ("P1", "P16", "P64", "100KB")


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


# ------------------------------------------------------------------------ headline


def resp_by_config(resp: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """config -> median / min / max of the per-test paired ratios, and the test count."""
    out: dict[str, dict[str, Any]] = {}
    for s in resp.get("summary", []):
        if s.get("ratio") is None:
            continue
        out.setdefault(s["config"], {"ratios": []})["ratios"].append(s["ratio"])
    for row in out.values():
        r = row.pop("ratios")
        row.update(median=statistics.median(r), min=min(r), max=max(r), tests=len(r))
    return dict(sorted(out.items(), key=lambda kv: _config_rank(kv[0])))


def _config_rank(name: str) -> int:
    return RESP_CONFIG_ORDER.index(name) if name in RESP_CONFIG_ORDER else len(RESP_CONFIG_ORDER)


def model_peaks(model: dict[str, Any], server: str = "default") -> dict[str, dict[str, Any]]:
    """model -> the highest throughput of ``server`` over the concurrencies, and where."""
    out: dict[str, dict[str, Any]] = {}
    for t in model.get("throughput", []):
        if t.get("server") != server or t.get("model") == "GET" or not t.get("per_s"):
            continue
        best = out.get(t["model"])
        if best is None or t["per_s"] > best["per_s"]:
            out[t["model"]] = {"per_s": t["per_s"], "concurrency": t["concurrency"]}
    return out


def headline(results: Results) -> dict[str, Any]:
    """The figures the report's table shows, as plain numbers (also stored in suite.json)."""
    h: dict[str, Any] = {}
    if "resp" in results:
        h["resp_ratio_by_config"] = resp_by_config(results["resp"])
    if "model" in results:
        m = results["model"]
        lat = {}
        for row in m.get("latency", []):
            if row.get("variant") != "default":
                continue
            lat[row["model"]] = {
                "ts_p50_us": row.get("ts_p50_us"), "ts_p99_us": row.get("ts_p99_us"),
                "raw_p50_us": row.get("raw_p50_us"), "added_us": row.get("added_us"),
                "added_vs_redis_get": row.get("ratio"),
                "redis_get_p50_us": row.get("redis_get_p50_us"),
            }
        h["model_latency_c1"] = lat
        h["model_peak_throughput"] = model_peaks(m)
        gets = {t["server"]: t["per_s"] for t in m.get("throughput", [])
                if t.get("model") == "GET" and t.get("per_s")
                and t["concurrency"] == max(m.get("meta", {}).get("concurrency", [0]) or [0])}
        if gets:
            h["get_ceiling_at_max_concurrency"] = gets
    if "batch" in results:
        h["batching"] = {
            t["model"]: {
                "speedup": t.get("speedup"),
                "speedup_batchsize": t.get("speedup_best_batchsize"),
                "p99_ratio_c1": t.get("p99_ratio"),
                "of_raw": t.get("of_raw"),
            }
            for t in results["batch"].get("targets", [])
        }
        concs = results["batch"].get("meta", {}).get("concurrency") or []
        h["batching_concurrency"] = max(concs) if concs else None
    if "memory" in results:
        mem = results["memory"]
        conns = {r["server"]: r["bytes_per_connection"] for r in mem.get("idle_connections", [])}
        keys = {r["server"]: r for r in mem.get("keys", [])}
        h["memory"] = {"bytes_per_idle_connection": conns}
        if "tensorserve" in keys and "redis" in keys:
            ts, rd = keys["tensorserve"], keys["redis"]
            h["memory"].update(keys=ts["keys"], bytes_per_key={
                "tensorserve": ts["bytes_per_key"], "redis": rd["bytes_per_key"]},
                bytes_per_key_ratio=ts["bytes_per_key"] / rd["bytes_per_key"]
                if rd["bytes_per_key"] else None)
    if "conn" in results:
        h["idle_connections"] = {
            str(row["connections"]): {
                "bytes_per_connection": {k: row.get(k, {}).get("bytes_per_connection")
                                         for k in ("tensorserve", "redis")},
                "bytes_ratio": row.get("bytes_ratio"),
                "ping_p99_us": {k: row.get(k, {}).get("ping_p99_us")
                                for k in ("tensorserve", "redis")},
            }
            for row in results["conn"].get("summary", []) if "connections" in row
        }
    if "persist" in results:
        p = results["persist"]
        gib = p.get("data_bytes", 0) / 2**30
        h["persist"] = {
            "gib": gib,
            "save_gib_per_s": gib / p["save_s"] if p.get("save_s") else None,
            "bgsave_s": p.get("bgsave_s"),
            "ping_during_bgsave_p99_ms": p.get("ping_during_bgsave_ms", {}).get("p99"),
            "restart_s": p.get("restart_s"),
            "aof_set_ratio": {k: v.get("SET_ratio") for k, v in p.get("aof", {}).items()},
        }
    return h


def _f(v: float | None, spec: str, suffix: str = "") -> str:
    return "-" if v is None else format(v, spec) + suffix


def headline_rows(h: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(area, measure, value) rows for the report's markdown table."""
    rows: list[tuple[str, str, str]] = []
    for cfg, r in h.get("resp_ratio_by_config", {}).items():
        rows.append(("RESP", f"throughput tensorserve / redis-server, {cfg} "
                     f"(median of {r['tests']} tests)",
                     f"{r['median']:.2f}x ({r['min']:.2f} - {r['max']:.2f})"))
    peaks = h.get("model_peak_throughput", {})
    for name, lat in h.get("model_latency_c1", {}).items():
        peak = peaks.get(name)
        rows.append(("Models", f"{name}: c=1 round trip p50 / p99; added over raw engine "
                     "(x redis GET p50)",
                     f"{_f(lat['ts_p50_us'], '.0f')} / {_f(lat['ts_p99_us'], '.0f')} us; "
                     f"{_f(lat['added_us'], '.0f')} us ({_f(lat['added_vs_redis_get'], '.2f')}x)"))
        if peak:
            rows.append(("Models", f"{name}: peak throughput",
                         f"{peak['per_s']:,.0f} inferences/s at c={peak['concurrency']}"))
    gets = h.get("get_ceiling_at_max_concurrency")
    if gets:
        rows.append(("Models", "GET ceiling of the same clients, tensorserve / redis-server",
                     " / ".join(f"{gets[k]:,.0f}" for k in ("default", "redis") if k in gets)
                     + " requests/s"))
    c = h.get("batching_concurrency")
    for name, b in h.get("batching", {}).items():
        rows.append(("Batching", f"{name}: batched / unbatched throughput at c={c}; "
                     "c=1 p99 ratio",
                     f"{_f(b['speedup'], '.2f', 'x')} (BATCHSIZE {b['speedup_batchsize']}); "
                     f"{_f(b['p99_ratio_c1'], '.2f', 'x')}"))
    mem = h.get("memory")
    if mem:
        conns = mem.get("bytes_per_idle_connection", {})
        rows.append(("Memory", "bytes per idle connection, tensorserve / redis-server",
                     " / ".join(f"{conns[k]:,.0f}" for k in ("tensorserve", "redis")
                                if k in conns)))
        if mem.get("bytes_per_key_ratio") is not None:
            bpk = mem["bytes_per_key"]
            rows.append(("Memory", f"bytes per small key ({mem['keys']:,} keys), "
                         "tensorserve / redis-server",
                         f"{bpk['tensorserve']:.0f} / {bpk['redis']:.0f} "
                         f"({mem['bytes_per_key_ratio']:.2f}x)"))
    for n, c in h.get("idle_connections", {}).items():
        b, p99 = c["bytes_per_connection"], c["ping_p99_us"]
        rows.append(("Connections", f"{int(n):,} idle connections: bytes each, tensorserve / "
                     "redis-server; PING p99 meanwhile",
                     f"{_f(b['tensorserve'], ',.0f')} / {_f(b['redis'], ',.0f')} "
                     f"({_f(c['bytes_ratio'], '.2f', 'x')}); "
                     f"{_f(p99['tensorserve'], ',.0f')} / {_f(p99['redis'], ',.0f')} us"))
    p = h.get("persist")
    if p:
        rows.append(("Persistence", f"SAVE of {p['gib']:.2f} GiB; PING p99 during BGSAVE",
                     f"{_f(p['save_gib_per_s'], '.2f')} GiB/s; "
                     f"{_f(p['ping_during_bgsave_p99_ms'], '.2f')} ms"))
        aof = p.get("aof_set_ratio", {})
        if aof:
            rows.append(("Persistence", "SET throughput with the log, x no log "
                         "(appendfsync no / everysec / always)",
                         " / ".join(_f(aof.get(f"appendfsync {k}"), ".2f", "x")
                                    for k in ("no", "everysec", "always"))))
    return rows


# -------------------------------------------------------------------------- charts


def render(results: Results, charts_dir: Path) -> list[str]:
    """Write the charts whose data is there; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts_dir.mkdir(parents=True, exist_ok=True)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 100, "font.size": 9,
                         "axes.grid": True, "grid.alpha": 0.3})
    made: list[str] = []
    makers = {
        "model_throughput.png": _model_throughput,
        "latency_percentiles.png": _latency_percentiles,
        "batching_gains.png": _batching_gains,
        "resp_ratios.png": _resp_ratios,
    }
    for name, (_title, bench) in CHARTS.items():
        data = results.get(bench)
        fig = makers[name](plt, data) if data else None
        if fig is None:
            (charts_dir / name).unlink(missing_ok=True)  # not last run's chart as this one's
            continue
        fig.savefig(charts_dir / name, bbox_inches="tight")
        plt.close(fig)
        made.append(name)
    return made


def _stamp(fig: Any, data: dict[str, Any]) -> None:
    """Date, CPUs and checkout in small grey type under everything else in the figure."""
    meta = data.get("meta", {})
    machine = meta.get("machine", meta)
    renderer = fig.canvas.get_renderer()
    bottom = fig.get_tightbbox(renderer).y0 / fig.get_figheight()  # rotated labels included
    fig.text(0.99, min(0.0, bottom), f"{machine.get('date_utc', '')}, "
             f"{machine.get('cpus', '?')} CPUs, checkout {machine.get('checkout', '?')}",
             ha="right", va="top", fontsize=7, color="grey")


def _plain_numbers(ax: Any) -> None:
    """Log-scale y ticks as 3,000 / 0.5 rather than 3x10^3 / 5x10^-1; minor ones at 2, 3, 5."""
    from matplotlib.ticker import FuncFormatter

    def label(v: float, _pos: int | None = None) -> str:
        return f"{v:,.0f}" if v >= 10 else f"{v:g}"

    def minor(v: float, _pos: int | None = None) -> str:
        lead = round(v / 10 ** math.floor(math.log10(v))) if v > 0 else 0
        return label(v) if lead in (2, 3, 5) else ""  # 7,000 8,000 9,000 would collide

    ax.yaxis.set_major_formatter(FuncFormatter(label))
    ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def _model_throughput(plt: Any, model: dict[str, Any]) -> Any:
    series: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for t in model.get("throughput", []):
        if t.get("per_s"):
            series.setdefault((t["model"], t["server"]), []).append(
                (t["concurrency"], t["per_s"]))
    models = [m for m in dict.fromkeys(k[0] for k in series) if m != "GET"]
    if not models:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = plt.get_cmap("tab10")
    for i, name in enumerate(models):
        for server, style in (("default", "-"), ("inline0", ":")):
            pts = sorted(series.get((name, server), []))
            if pts:
                label = name if server == "default" else f"{name} (every run on a worker)"
                ax.plot(*zip(*pts, strict=True), style, marker="o", ms=3, color=colors(i),
                        label=label, lw=1.6 if server == "default" else 1.0)
    for server, style, label in (("default", "--", "GET, tensorserve"),
                                 ("redis", "-.", "GET, redis-server")):
        pts = sorted(series.get(("GET", server), []))
        if pts:
            ax.plot(*zip(*pts, strict=True), style, color="black" if server == "redis"
                    else "grey", lw=1, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    _plain_numbers(ax)
    concs = sorted({c for pts in series.values() for c, _ in pts})
    ax.set_xticks(concs, [str(c) for c in concs])
    ax.set_xlabel("concurrent clients (one request in flight each)")
    ax.set_ylabel("requests/s (TENSORSET + MODELEXECUTE + TENSORGET)")
    ax.set_title("Model serving: throughput vs concurrency")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _stamp(fig, model)
    return fig


def _latency_percentiles(plt: Any, model: dict[str, Any]) -> Any:
    lat = [r for r in model.get("latency", []) if r.get("variant") == "default"]
    tput = [t for t in model.get("throughput", [])
            if t.get("server") == "default" and t.get("model") != "GET" and t.get("p50_us")]
    if not lat and not tput:
        return None
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    if lat:
        names = [r["model"] for r in lat]
        x = range(len(names))
        w = 0.27
        a1.bar([i - w for i in x], [r["raw_p50_us"] for r in lat], w, label="raw engine p50",
               color="tab:green")
        a1.bar(list(x), [r["ts_p50_us"] for r in lat], w, label="tensorserve p50",
               color="tab:blue")
        a1.bar([i + w for i in x], [r["ts_p99_us"] for r in lat], w, label="tensorserve p99",
               color="tab:orange")
        get = _median([r["redis_get_p50_us"] for r in lat if r.get("redis_get_p50_us")])
        if get:
            a1.axhline(get, color="black", ls="--", lw=1,
                       label=f"redis-server GET p50 ({get:.0f} us)")
        a1.set_xticks(list(x), names)
        a1.set_yscale("log")  # p99 on a busy machine can be 10x p50; keep both readable
        a1.set_ylim(top=max(r["ts_p99_us"] for r in lat) * 6)  # room for the legend
        _plain_numbers(a1)
        a1.set_ylabel("microseconds")
        a1.set_title("Concurrency 1: one pipelined round trip")
        a1.legend(fontsize=7)
    else:
        a1.set_visible(False)
    if tput:
        colors = plt.get_cmap("tab10")
        for i, name in enumerate(dict.fromkeys(t["model"] for t in tput)):
            pts = sorted((t["concurrency"], t["p50_us"] / 1e3, t["p99_us"] / 1e3)
                         for t in tput if t["model"] == name)
            c, p50, p99 = zip(*pts, strict=True)
            a2.plot(c, p50, "-", marker="o", ms=3, color=colors(i), label=f"{name} p50")
            a2.plot(c, p99, ":", marker="^", ms=3, color=colors(i), label=f"{name} p99")
        concs = sorted({t["concurrency"] for t in tput})
        a2.set_xscale("log", base=2)
        a2.set_yscale("log")
        _plain_numbers(a2)
        a2.set_xticks(concs, [str(c) for c in concs])
        a2.set_xlabel("concurrent clients")
        a2.set_ylabel("milliseconds")
        a2.set_title("Under load: p50 (solid) and p99 (dotted)")
        a2.legend(fontsize=6, ncol=2)
    else:
        a2.set_visible(False)
    fig.suptitle("Model serving latency (AI.TENSORSET + AI.MODELEXECUTE + AI.TENSORGET)")
    _stamp(fig, model)
    return fig


def _batching_gains(plt: Any, batch: dict[str, Any]) -> Any:
    rows = [s for s in batch.get("summary", []) if s.get("rps")]
    models = list(dict.fromkeys(s["model"] for s in rows))
    if not models:
        return None
    sizes = sorted({s["batchsize"] for s in rows})
    concs = sorted({s["concurrency"] for s in rows})
    fig, axes = plt.subplots(2, len(models), figsize=(3.2 * len(models) + 1, 6),
                             squeeze=False)
    colors = {0: "tab:grey", 16: "tab:blue", 32: "tab:orange"}
    w = 0.8 / max(len(sizes), 1)
    for j, name in enumerate(models):
        mine = {(s["batchsize"], s["concurrency"]): s for s in rows if s["model"] == name}
        top, bottom = axes[0][j], axes[1][j]
        for k, b in enumerate(sizes):
            xs = [i + (k - (len(sizes) - 1) / 2) * w for i in range(len(concs))]
            cells = [mine.get((b, c)) for c in concs]
            label = "unbatched" if b == 0 else f"BATCHSIZE {b}"
            color = colors.get(b)
            bars = top.bar(xs, [s["rps"] if s else 0 for s in cells], w, label=label,
                           color=color)
            if b:
                for bar, s in zip(bars, cells, strict=True):
                    if s and s.get("vs_unbatched"):
                        top.annotate(f"{s['vs_unbatched']:.1f}x",
                                     (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                                     ha="center", va="bottom", fontsize=7, rotation=90)
            bottom.bar(xs, [s["p99_ms"] if s and s.get("p99_ms") else 0 for s in cells], w,
                       label=label, color=color)
        for ax in (top, bottom):
            ax.set_xticks(range(len(concs)), [str(c) for c in concs])
        top.set_ylim(0, top.get_ylim()[1] * 1.15)  # room for the labels
        top.set_title(name)
        bottom.set_xlabel("concurrent clients")
        if j == 0:
            top.set_ylabel("requests/s")
            bottom.set_ylabel("p99 latency, ms")
            top.legend(fontsize=7)
    fig.suptitle("Auto-batching: throughput (x unbatched) and p99 by BATCHSIZE")
    _stamp(fig, batch)
    return fig


def _resp_ratios(plt: Any, resp: dict[str, Any]) -> Any:
    rows = [s for s in resp.get("summary", []) if s.get("ratio") is not None]
    if not rows:
        return None
    configs = sorted(dict.fromkeys(s["config"] for s in rows), key=_config_rank)
    tests = list(dict.fromkeys(s["test"] for s in rows))
    cell = {(s["config"], s["test"]): s["ratio"] for s in rows}
    fig, ax = plt.subplots(figsize=(max(8.0, 0.62 * len(tests) + 2), 4.5))
    w = 0.8 / len(configs)
    colors = plt.get_cmap("tab10")
    for k, cfg in enumerate(configs):
        xs, ys = [], []
        for i, t in enumerate(tests):
            if (cfg, t) in cell:
                xs.append(i + (k - (len(configs) - 1) / 2) * w)
                ys.append(cell[(cfg, t)])
        med = statistics.median(ys)
        ax.bar(xs, ys, w, color=colors(k), label=f"{cfg} (median {med:.2f})")
    ax.axhline(1.0, color="black", lw=1, ls="--", label="parity with redis-server")
    ax.set_xticks(range(len(tests)), tests, rotation=45, ha="right")
    ax.set_ylabel("requests/s, tensorserve / redis-server")
    ax.set_ylim(0, max(1.25, max(cell.values()) * 1.2))  # room for the legend
    meta = resp.get("meta", {})
    ax.set_title("RESP commands under redis-benchmark -c 50 (P = pipeline depth; "
                 f"{meta.get('reps', '?')} rep(s), paired ratios)")
    ax.legend(fontsize=7, ncol=len(configs) + 1, loc="upper right")
    _stamp(fig, resp)
    return fig
