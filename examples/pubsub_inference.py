"""Stream records through Pub/Sub to a consumer that runs a model and publishes results.

    producer --PUBLISH example:pubsub:features-->  consumer (a thread here; any process)
    consumer: AI.TENSORSET + AI.MODELEXECUTE + AI.TENSORGET on tensorserve
    consumer --PUBLISH example:pubsub:predictions-->  producer

Records are JSON ``{"id": n, "x": [4 floats]}``; predictions are
``{"id": n, "label": k, "p": [3 probabilities]}``. The consumer drains whatever records
are waiting and scores them as one batch (one tensor, one model run). The producer checks
every prediction against the same model run locally with torch.

Pub/Sub is fire-and-forget: a message published while nobody listens is lost, and every
subscriber gets every message. So the producer subscribes to the results before it
publishes, waits until the consumer is subscribed (PUBSUB NUMSUB), and matches results to
records by id. To share work between several consumers, use a list instead (see
work_queue_training.py).

Run it against a running tensorserve:

    python examples/pubsub_inference.py --port 6379 [--host HOST] [--password PW]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import threading
import time

import numpy as np
import redis
import torch
from torch import nn

MODEL = "example:pubsub:classifier"
FEATURES = "example:pubsub:features"
PREDICTIONS = "example:pubsub:predictions"
RECORDS = 40


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3),
                         nn.Softmax(dim=1)).eval()


def consumer(r: redis.Redis, name: str) -> None:
    """Score the records on FEATURES until a {"stop": true} message arrives."""
    inputs, outputs = f"example:pubsub:{name}:x", f"example:pubsub:{name}:p"
    batches = []
    with r.pubsub(ignore_subscribe_messages=True) as sub:
        sub.subscribe(FEATURES)
        stopping = False
        while not stopping:
            message = sub.get_message(timeout=1.0)
            records = []
            while message is not None:  # everything already waiting joins this batch
                record = json.loads(message["data"])
                if record.get("stop"):
                    stopping = True
                    break
                records.append(record)
                message = sub.get_message(timeout=0.0)
            if not records:
                continue
            x = np.array([rec["x"] for rec in records], dtype=np.float32)
            r.execute_command("AI.TENSORSET", inputs, "FLOAT", *x.shape, "BLOB", x.tobytes())
            r.execute_command("AI.MODELEXECUTE", MODEL, "INPUTS", 1, inputs,
                              "OUTPUTS", 1, outputs)
            blob = r.execute_command("AI.TENSORGET", outputs, "BLOB")
            probs = np.frombuffer(blob, np.float32).reshape(len(records), 3)
            with r.pipeline(transaction=False) as pipe:
                for rec, p in zip(records, probs, strict=True):
                    pipe.publish(PREDICTIONS, json.dumps(
                        {"id": rec["id"], "label": int(p.argmax()), "p": p.tolist()}))
                pipe.execute()
            batches.append(len(records))
    r.delete(inputs, outputs)
    print(f"[{name}] scored {sum(batches)} records in {len(batches)} model runs "
          f"(batch sizes {batches})")


def main() -> int:
    parser = argparse.ArgumentParser(description="Model inference over Pub/Sub.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--password", default=None)
    args = parser.parse_args()
    # redis-py's default socket timeout is 5 s; the server's first model store may spend
    # longer importing torch.
    r = redis.Redis(host=args.host, port=args.port, password=args.password,
                    socket_timeout=60)

    model = make_model()
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(model), buf)
    r.execute_command("AI.MODELSTORE", MODEL, "TORCH", "CPU", "BLOB", buf.getvalue())
    print(f"stored {MODEL} ({len(buf.getvalue())} bytes of TorchScript)")

    results = r.pubsub(ignore_subscribe_messages=True)
    results.subscribe(PREDICTIONS)  # before publishing anything: no result gets lost
    worker_client = redis.Redis(host=args.host, port=args.port, password=args.password,
                                socket_timeout=60)
    worker = threading.Thread(target=consumer, args=(worker_client, "consumer-1"))
    worker.start()
    deadline = time.monotonic() + 10
    while r.pubsub_numsub(FEATURES)[0][1] < 1:  # wait for the consumer to listen
        if time.monotonic() > deadline:
            print("FAILED: the consumer never subscribed")
            return 1
        time.sleep(0.01)

    x = np.random.default_rng(0).standard_normal((RECORDS, 4)).astype(np.float32)
    start = time.perf_counter()
    for i, row in enumerate(x):
        r.publish(FEATURES, json.dumps({"id": i, "x": row.tolist()}))
    print(f"published {RECORDS} records on {FEATURES}")

    predictions: dict[int, dict] = {}
    deadline = time.monotonic() + 10
    while len(predictions) < RECORDS and time.monotonic() < deadline:
        message = results.get_message(timeout=1.0)
        if message is not None:
            prediction = json.loads(message["data"])
            predictions[prediction["id"]] = prediction
    elapsed = (time.perf_counter() - start) * 1000
    r.publish(FEATURES, json.dumps({"stop": True}))
    worker.join()
    results.close()
    worker_client.close()
    r.delete(MODEL)

    print(f"collected {len(predictions)} predictions from {PREDICTIONS} in {elapsed:.0f} ms")
    for i in range(3):
        p = predictions.get(i, {})
        print(f"  record {i}: label {p.get('label')}  p={np.round(p.get('p', []), 3)}")
    if len(predictions) != RECORDS:
        print(f"FAILED: {RECORDS - len(predictions)} predictions never arrived")
        return 1
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    got = np.array([predictions[i]["p"] for i in range(RECORDS)], dtype=np.float32)
    if not np.allclose(got, expected, atol=1e-5):
        print("FAILED: the server's predictions differ from the local model's")
        return 1
    print(f"OK: all {RECORDS} predictions match the model run locally")
    return 0


if __name__ == "__main__":
    sys.exit(main())
