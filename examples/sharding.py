"""Hash-partition tensors across several tensorserve instances from the client side.

Each key belongs to one shard, chosen by the client with a consistent-hash ring (as
ketama does): every shard owns 160 points (hashes of "shard-<s>-<i>") on a circle of
2**32 positions, and a key goes to the first point at or after its own hash. Adding a
shard then moves only the keys it takes over (about 1/(N+1) of them), where
``hash(key) % N`` would move most keys. The hash is the first 4 bytes of MD5 (spread,
not security, is what counts here; crc32 spreads similar short names unevenly).

The example stores 300 item embeddings (AI.TENSORSET, one pipeline per shard), shows how
they are spread (checked with SCAN on each shard), reads a sample back, then scores a
query's items where they live: the same model and script are stored on every shard, and
each shard gets one AI.DAGEXECUTE that LOADs its items, stacks them with a script, runs
the model and returns the scores. The client merges the scores and checks them against
the model run locally.

Run it against two or more running tensorserve instances:

    python examples/sharding.py --ports 6379 6380 6381 [--host HOST] [--password PW]
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import io
import sys
from collections import defaultdict

import numpy as np
import redis
import torch
from torch import nn

PREFIX, ITEMS, DIM = "example:shard:", 300, 16
MODEL, SCRIPT = PREFIX + "scorer", PREFIX + "stack"
STACK = """
def stack(tensors: List[Tensor], keys: List[str], args: List[str]):
    return torch.stack(tensors)
"""


def position(text: str) -> int:
    """A position on the ring: 0 .. 2**32 - 1."""
    return int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "big")


class Ring:
    """A consistent-hash ring over shards 0..n-1."""

    def __init__(self, shards: int, points: int = 160) -> None:
        ring = sorted((position(f"shard-{s}-{i}"), s)
                      for s in range(shards) for i in range(points))
        self.hashes = [h for h, _ in ring]
        self.owners = [s for _, s in ring]

    def shard(self, key: str) -> int:
        i = bisect.bisect_left(self.hashes, position(key))
        return self.owners[i % len(self.owners)]  # past the last point: wrap around


def item_key(i: int) -> str:
    return f"{PREFIX}emb:{i}"


def by_shard(ring: Ring, keys: list[str]) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = defaultdict(list)
    for key in keys:
        groups[ring.shard(key)].append(key)
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description="Client-side sharding of tensors.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ports", type=int, nargs="+", default=[6379, 6380, 6381])
    parser.add_argument("--password", default=None)
    args = parser.parse_args()
    # redis-py's default socket timeout is 5 s; a server's first model store may spend
    # longer importing torch.
    shards = [redis.Redis(host=args.host, port=p, password=args.password, socket_timeout=60)
              for p in args.ports]
    ring = Ring(len(shards))

    # The same scorer and script on every shard: compute goes where the data is.
    torch.manual_seed(0)
    scorer = nn.Sequential(nn.Linear(DIM, 8), nn.ReLU(), nn.Linear(8, 1)).eval()
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(scorer), buf)
    for r in shards:
        r.execute_command("AI.MODELSTORE", MODEL, "TORCH", "CPU", "BLOB", buf.getvalue())
        r.execute_command("AI.SCRIPTSTORE", SCRIPT, "CPU", "ENTRY_POINTS", 1, "stack",
                          "SOURCE", STACK)

    embeddings = np.random.default_rng(0).standard_normal((ITEMS, DIM)).astype(np.float32)
    keys = [item_key(i) for i in range(ITEMS)]
    for s, group in by_shard(ring, keys).items():
        with shards[s].pipeline(transaction=False) as pipe:
            for key in group:
                vector = embeddings[int(key.rsplit(":", 1)[1])]
                pipe.execute_command("AI.TENSORSET", key, "FLOAT", DIM, "BLOB", vector.tobytes())
            pipe.execute()
    print(f"stored {ITEMS} embeddings on {len(shards)} shards:")
    counts = []
    for s, r in enumerate(shards):
        counts.append(sum(1 for _ in r.scan_iter(match=PREFIX + "emb:*", count=1000)))
        print(f"  shard {s} (port {args.ports[s]}): {counts[-1]} keys")

    sample = keys[::37]  # read some back, one pipeline per shard
    fetched = {}
    for s, group in by_shard(ring, sample).items():
        with shards[s].pipeline(transaction=False) as pipe:
            for key in group:
                pipe.execute_command("AI.TENSORGET", key, "BLOB")
            fetched.update(zip(group, pipe.execute(), strict=True))
    intact = all(fetched[k] == embeddings[int(k.rsplit(":", 1)[1])].tobytes() for k in sample)
    print(f"read back {len(sample)} embeddings from their shards: "
          f"{'all intact' if intact else 'MISMATCH'}")

    query = sorted(np.random.default_rng(1).choice(ITEMS, 60, replace=False).tolist())
    scores: dict[str, float] = {}
    for s, group in sorted(by_shard(ring, [item_key(i) for i in query]).items()):
        n = len(group)
        reply = shards[s].execute_command(
            "AI.DAGEXECUTE", "LOAD", n, *group,
            "|>", "AI.SCRIPTEXECUTE", SCRIPT, "stack", "INPUTS", n, *group,
            "OUTPUTS", 1, "batch",
            "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 1, "batch", "OUTPUTS", 1, "scores",
            "|>", "AI.TENSORGET", "scores", "BLOB")
        scores.update(zip(group, np.frombuffer(reply[-1], np.float32).tolist(), strict=True))
        print(f"  shard {s}: scored {n} of the query's items in one AI.DAGEXECUTE")
    top = sorted(scores, key=scores.__getitem__, reverse=True)[:3]
    print("top 3 items: " + ", ".join(f"{k.rsplit(':', 1)[1]} ({scores[k]:.3f})" for k in top))
    with torch.no_grad():
        expected = scorer(torch.from_numpy(embeddings[query])).squeeze(1).numpy()
    got = np.array([scores[item_key(i)] for i in query], np.float32)
    scored_right = np.allclose(got, expected, atol=1e-5)

    bigger = Ring(len(shards) + 1)
    moved = sum(ring.shard(k) != bigger.shard(k) for k in keys) / ITEMS
    modulo = sum(position(k) % len(shards) != position(k) % (len(shards) + 1)
                 for k in keys) / ITEMS
    print(f"adding shard {len(shards)} would move {moved:.0%} of the keys "
          f"(hash % N would move {modulo:.0%})")

    for r in shards:
        r.delete(MODEL, SCRIPT, *keys)
    if sum(counts) != ITEMS or min(counts) == 0 or not intact:
        print("FAILED: the embeddings are not all where the ring put them")
        return 1
    if not scored_right:
        print("FAILED: scores computed on the shards differ from the local model's")
        return 1
    print(f"OK: {ITEMS} embeddings on {len(shards)} shards, scored where they live")
    return 0


if __name__ == "__main__":
    sys.exit(main())
