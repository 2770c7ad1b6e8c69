"""Cache an expensive model result with a time to live (TTL).

Computing an embedding means running a model; asking twice for the same text should not.
This example stores a small TorchScript "text encoder" with AI.MODELSTORE and keeps two
caches next to it, both forgotten by the server after ``--ttl`` seconds:

* the embedding itself, as a tensor: one AI.DAGEXECUTE runs the model and PERSISTs its
  output under ``example:cache:emb:<sha1 of the text>``, PEXPIRE gives it a TTL. Being a
  tensor, a cached embedding can feed other models on the server without leaving it.
* a derived answer (the nearest of a few topics), as a plain string: SET ... PX.

It shows a miss (the model runs for the text and for each topic's description), a hit
(AI.INFO's ``calls`` proves the model did not run), the remaining TTL, then waits for the
TTL to pass and shows the misses again.

Run it against a running tensorserve:

    python examples/cache_ttl.py --port 6379 [--host HOST] [--password PW] [--ttl 1.0]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
import zlib

import numpy as np
import redis
import torch
from torch import nn

MODEL = "example:cache:encoder"
PREFIX = "example:cache:"
FEATURES = 512
TOPICS = {"databases": "redis keys values persistence",
          "deep learning": "neural network model training tensors",
          "cooking": "recipe pasta tomato oven"}


class Encoder(nn.Module):
    """Hashed character trigram counts -> a unit-length 32-d embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(FEATURES, 32)

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(torch.tanh(self.proj(counts)), dim=1)


def featurize(text: str) -> np.ndarray:
    """The model's input, FLOAT [1, FEATURES]: character trigrams hashed into buckets."""
    counts = np.zeros((1, FEATURES), np.float32)
    padded = f"  {text.lower()} "
    for i in range(len(padded) - 2):
        counts[0, zlib.crc32(padded[i:i + 3].encode()) % FEATURES] += 1.0
    return counts


def model_calls(r: redis.Redis) -> int:
    info = r.execute_command("AI.INFO", MODEL)
    if isinstance(info, list):  # RESP2: a flat [name, value, ...] list
        info = dict(zip(info[::2], info[1::2], strict=True))
    return int(info[b"calls"])


def embedding(r: redis.Redis, text: str, ttl_ms: int) -> tuple[np.ndarray, str]:
    key = PREFIX + "emb:" + hashlib.sha1(text.encode()).hexdigest()
    try:
        return np.frombuffer(r.execute_command("AI.TENSORGET", key, "BLOB"), np.float32), "hit"
    except redis.ResponseError as e:
        if "empty" not in str(e):  # "tensor key is empty": not cached (or expired)
            raise
    counts = featurize(text)
    with r.pipeline(transaction=False) as pipe:  # one round trip: run, keep, set the TTL
        pipe.execute_command(
            "AI.DAGEXECUTE", "PERSIST", 1, key,
            "|>", "AI.TENSORSET", "counts", "FLOAT", *counts.shape, "BLOB", counts.tobytes(),
            "|>", "AI.MODELEXECUTE", MODEL, "INPUTS", 1, "counts", "OUTPUTS", 1, key,
            "|>", "AI.TENSORGET", key, "BLOB")
        pipe.pexpire(key, ttl_ms)
        dag_reply, _ = pipe.execute()
    return np.frombuffer(dag_reply[-1], np.float32), "miss"


def nearest_topic(r: redis.Redis, text: str, ttl_ms: int) -> tuple[dict, str]:
    key = PREFIX + "topic:" + hashlib.sha1(text.encode()).hexdigest()
    cached = r.get(key)
    if cached is not None:
        return json.loads(cached), "hit"
    query, _ = embedding(r, text, ttl_ms)
    scores = {t: float(query @ embedding(r, words, ttl_ms)[0]) for t, words in TOPICS.items()}
    best = max(scores, key=scores.__getitem__)
    answer = {"topic": best, "score": round(scores[best], 3)}
    r.set(key, json.dumps(answer), px=ttl_ms)
    return answer, "miss"


def forget_everything(r: redis.Redis) -> None:
    keys = list(r.scan_iter(match=PREFIX + "*"))
    if keys:
        r.delete(*keys)


def main() -> int:
    parser = argparse.ArgumentParser(description="Cache model results with a TTL.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--password", default=None)
    parser.add_argument("--ttl", type=float, default=1.0, help="cache TTL in seconds")
    args = parser.parse_args()
    # redis-py's default socket timeout is 5 s; the server's first model store may spend
    # longer importing torch.
    r = redis.Redis(host=args.host, port=args.port, password=args.password,
                    socket_timeout=60)
    ttl_ms = int(args.ttl * 1000)

    forget_everything(r)  # a clean start, should an earlier run have been interrupted
    torch.manual_seed(0)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Encoder().eval()), buf)
    r.execute_command("AI.MODELSTORE", MODEL, "TORCH", "CPU", "BLOB", buf.getvalue())
    text = "how do I train a neural network on tensors"

    def ask(label: str) -> tuple[str, str, int]:
        calls = model_calls(r)
        start = time.perf_counter()
        vector, emb_state = embedding(r, text, ttl_ms)
        answer, topic_state = nearest_topic(r, text, ttl_ms)
        ms = (time.perf_counter() - start) * 1000
        ran = model_calls(r) - calls
        print(f"{label:<17} embedding {emb_state:<4}  topic {topic_state:<4}  "
              f"model runs {ran}  {ms:6.1f} ms  -> {answer}  |v|={np.linalg.norm(vector):.3f}")
        return emb_state, topic_state, ran

    first = ask("first request:")
    second = ask("same text again:")
    key = PREFIX + "emb:" + hashlib.sha1(text.encode()).hexdigest()
    print(f"cached embedding {key[:40]}... expires in {r.pttl(key)} ms")
    time.sleep(args.ttl + 0.2)
    print(f"after {args.ttl + 0.2:.1f} s: EXISTS -> {r.exists(key)}")
    third = ask("after expiry:")

    if first[:2] != ("miss", "miss") or first[2] < 1:
        print("FAILED: the first request should have run the model")
        return 1
    if second != ("hit", "hit", 0):
        print("FAILED: the second request should have been served from the cache")
        return 1
    if third[:2] != ("miss", "miss") or third[2] < 1:
        print("FAILED: the cache entries should have expired")
        return 1
    forget_everything(r)
    print("OK: hits skip the model, entries expire after their TTL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
