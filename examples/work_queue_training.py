"""A work queue (LPUSH / BRPOP) feeding training batches to a trainer process.

    producer --LPUSH example:queue:batches-->  trainer process (BRPOP, one SGD step each)
    trainer  --LPUSH example:queue:progress--> producer (BRPOP: step and loss)
    trainer  --AI.MODELSTORE example:queue:model-->  tensorserve; the producer runs it

LPUSH + BRPOP make a FIFO queue: each batch goes to exactly one trainer, whenever it is
ready for one (unlike Pub/Sub, nothing is lost while it is busy, and several trainers
could share the queue). Batches are numpy ``.npz`` bytes (dtype and shape included, no
pickle). The task: tell points inside a circle from those outside it. A final ``STOP``
item ends the trainer, which stores the trained network with AI.MODELSTORE; the producer
then scores held-out points with AI.MODELEXECUTE. The check: the loss falls and the
served model is accurate. Only the trainer imports torch.

Run it against a running tensorserve:

    python examples/work_queue_training.py --port 6379 [--host HOST] [--password PW]
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import sys
import time

import numpy as np
import redis

BATCHES = "example:queue:batches"
PROGRESS = "example:queue:progress"
MODEL = "example:queue:model"
STEPS, BATCH, REPORT_EVERY = 240, 64, 30
RADIUS = 1.1774  # sqrt(2 ln 2): half of all standard-normal points fall inside


def make_batch(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.standard_normal((size, 2)).astype(np.float32)
    y = (np.hypot(x[:, 0], x[:, 1]) < RADIUS).astype(np.float32)
    return x, y


def trainer(host: str, port: int, password: str | None) -> None:
    """BRPOP batches and train on each until STOP; report the loss; store the model."""
    import torch
    from torch import nn

    torch.set_num_threads(1)  # a tiny model: more threads only add overhead
    torch.manual_seed(0)
    # A blocking command needs a socket timeout longer than its own wait: with redis-py's
    # default (5 s), a BRPOP still waiting after 5 s ends in TimeoutError.
    r = redis.Redis(host=host, port=port, password=password, socket_timeout=60)
    net = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                        nn.Linear(16, 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.03)
    loss_fn = nn.BCEWithLogitsLoss()
    step, losses = 0, []
    while True:
        item = r.brpop([BATCHES], timeout=30)
        if item is None:
            raise SystemExit("trainer: no batch for 30 s, giving up")
        if item[1] == b"STOP":
            break
        batch = np.load(io.BytesIO(item[1]))
        x, y = torch.from_numpy(batch["x"]), torch.from_numpy(batch["y"])
        loss = loss_fn(net(x).squeeze(1), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step += 1
        losses.append(loss.item())
        if step % REPORT_EVERY == 0:
            mean = sum(losses[-REPORT_EVERY:]) / REPORT_EVERY
            r.lpush(PROGRESS, json.dumps({"step": step, "loss": mean}))

    served = torch.jit.script(nn.Sequential(net, nn.Sigmoid()).eval())  # -> P(inside)
    buf = io.BytesIO()
    torch.jit.save(served, buf)
    r.execute_command("AI.MODELSTORE", MODEL, "TORCH", "CPU", "BLOB", buf.getvalue())
    r.lpush(PROGRESS, json.dumps({"done": True, "steps": step}))


def main() -> int:
    parser = argparse.ArgumentParser(description="Training batches through a work queue.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--password", default=None)
    args = parser.parse_args()
    r = redis.Redis(host=args.host, port=args.port, password=args.password,
                    socket_timeout=60)  # see trainer()
    r.delete(BATCHES, PROGRESS, MODEL)

    # "spawn": a fresh interpreter, as a trainer on another machine would be.
    process = multiprocessing.get_context("spawn").Process(
        target=trainer, args=(args.host, args.port, args.password))
    process.start()

    rng = np.random.default_rng(0)
    for _ in range(STEPS):
        x, y = make_batch(rng, BATCH)
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        r.lpush(BATCHES, buf.getvalue())
    r.lpush(BATCHES, "STOP")
    print(f"queued {STEPS} batches of {BATCH} points on {BATCHES} "
          f"(queue length now {r.llen(BATCHES)})")

    curve, deadline = [], time.monotonic() + 60
    while True:
        item = r.brpop([PROGRESS], timeout=1)
        if item is None:
            if process.is_alive() and time.monotonic() < deadline:
                continue
            print(f"FAILED: the trainer {'hangs' if process.is_alive() else 'died'}")
            process.kill()
            return 1
        report = json.loads(item[1])
        if report.get("done"):
            break
        curve.append(report["loss"])
        print(f"  trainer: step {report['step']:>4}  mean loss {report['loss']:.4f}")
    process.join()
    print(f"trainer finished after {report['steps']} steps and stored {MODEL}")

    x, y = make_batch(np.random.default_rng(1), 1000)  # points the trainer never saw
    r.execute_command("AI.TENSORSET", "example:queue:x", "FLOAT", *x.shape, "BLOB", x.tobytes())
    r.execute_command("AI.MODELEXECUTE", MODEL, "INPUTS", 1, "example:queue:x",
                      "OUTPUTS", 1, "example:queue:p")
    p = np.frombuffer(r.execute_command("AI.TENSORGET", "example:queue:p", "BLOB"), np.float32)
    accuracy = float(((p > 0.5) == (y > 0.5)).mean())
    print(f"AI.MODELEXECUTE on 1000 held-out points: accuracy {accuracy:.1%}")
    r.delete(MODEL, "example:queue:x", "example:queue:p")

    if process.exitcode != 0 or len(curve) < 2 or curve[-1] > 0.5 * curve[0]:
        print(f"FAILED: the loss did not fall enough ({curve})")
        return 1
    if accuracy < 0.9:
        print("FAILED: the trained model is not accurate enough")
        return 1
    print(f"OK: loss fell from {curve[0]:.3f} to {curve[-1]:.3f}; served model is accurate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
