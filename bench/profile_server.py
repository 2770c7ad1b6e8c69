"""Profile tensorserve's hot path with py-spy while redis-benchmark drives it.

Starts tensorserve under ``py-spy record`` (so no ptrace permission on a running process
is needed), runs ``redis-benchmark -P 16 -c 50 -t set,get`` (by default) against it, and
prints the hottest functions by own time (leaf samples) and by total time (samples with
the function anywhere on the stack). The raw collapsed stacks are kept for flame graphs.

    pip install py-spy
    python bench/profile_server.py                       # -P 16 -t set,get -n 2000000
    python bench/profile_server.py --bench "-P 64 -t get" --top 30
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, ROOT, command, free_port, need

_LINE = re.compile(r":\d+\)$")


def parse_collapsed(path: Path, by_line: bool = False
                    ) -> tuple[collections.Counter[str], collections.Counter[str], int]:
    """Own and total samples per function (or per line), start-up imports left out."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit() or "importlib._bootstrap" in stack:
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        if not by_line:
            frames = [_LINE.sub(")", f) for f in frames]
        own[frames[-1]] += n
        for f in set(frames):
            total[f] += n
    return own, total, samples


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default="-P 16 -c 50 -t set,get -n 2000000",
                    help="redis-benchmark arguments")
    ap.add_argument("--ts-args", default="", help="extra tensorserve flags")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--by-line", action="store_true", help="one entry per source line")
    ap.add_argument("--out", type=Path, default=RESULTS / "profile")
    args = ap.parse_args(argv)

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not os.path.exists(py_spy):
        sys.exit("py-spy is not installed: pip install py-spy")
    args.out.mkdir(parents=True, exist_ok=True)
    raw = args.out / "collapsed.txt"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    spy = subprocess.Popen(
        [py_spy, "record", "--format", "raw", "--rate", str(args.rate), "--output", str(raw),
         "--", sys.executable, "-m", "tensorserve", "--port", str(port), "--save", "",
         "--loglevel", "warning", *args.ts_args.split()],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if command(port, "PING") == b"+PONG\r\n":
                    break
            except OSError:
                if time.monotonic() > deadline or spy.poll() is not None:
                    sys.exit("tensorserve did not start under py-spy")
                time.sleep(0.1)
        bench = [need("redis-benchmark"), "-p", str(port), "-q", *shlex.split(args.bench)]
        out = subprocess.run(bench, capture_output=True, timeout=600, check=False)
        text = out.stdout.decode(errors="replace").replace("\r", "\n")
        print("\n".join(line for line in text.splitlines() if "requests per second" in line))
    finally:
        # SIGINT to py-spy ends the recording, writes the profile and stops the server.
        spy.send_signal(2)
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
    own, total, samples = parse_collapsed(raw, args.by_line)
    if not samples:
        sys.exit(f"no samples recorded: {spy.stderr.read().decode() if spy.stderr else ''}")
    print(f"\n{samples} samples while busy (py-spy leaves idle time out)\n")
    print(f"Top {args.top} by own time:")
    for f, n in own.most_common(args.top):
        print(f"  {n / samples:6.1%}  {f}")
    print(f"\nTop {args.top} by total time:")
    for f, n in total.most_common(args.top):
        print(f"  {n / samples:6.1%}  {f}")
    print(f"\ncollapsed stacks: {raw} (flamegraph.pl or speedscope can read them)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
