"""Keep a torch model's parameters in a Redis hash and rebuild the model from it.

Every tensor of the model's ``state_dict`` becomes three fields of one hash:
``<name>`` holds the raw bytes, ``<name>:dtype`` the numpy dtype and ``<name>:shape``
the shape (comma-separated; empty for a 0-d tensor), e.g.

    HSET example:params:mlp fc1.weight <256 bytes> fc1.weight:dtype float32 \\
                            fc1.weight:shape 16,4 ...

One HGETALL brings a whole model back, HMGET fetches a single layer, and one HSET
replaces a single layer, so a fleet of workers can share weights without a shared
file system. The dtype field matters: BatchNorm's ``num_batches_tracked`` is a 0-d int64.
Nothing is trained here: the example stores a model, rebuilds a second one from the hash,
checks both give the same outputs, then updates one layer in place and checks again.

Run it against a running tensorserve (plain Redis works too: only hash commands):

    python examples/model_params_hash.py --port 6379 [--host HOST] [--password PW]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import redis
import torch
from torch import nn

KEY = "example:params:mlp"


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 16)
        self.norm = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.norm(self.fc1(x))))


def tensor_fields(name: str, tensor: torch.Tensor) -> dict[str, bytes | str]:
    """The three hash fields that hold one tensor."""
    array = tensor.detach().cpu().numpy()
    return {name: array.tobytes(), f"{name}:dtype": array.dtype.name,
            f"{name}:shape": ",".join(str(d) for d in array.shape)}


def to_tensor(blob: bytes, dtype: bytes, shape: bytes) -> torch.Tensor:
    dims = tuple(int(d) for d in shape.decode().split(",") if d)
    array = np.frombuffer(blob, dtype=np.dtype(dtype.decode())).reshape(dims)
    return torch.from_numpy(array.copy())  # copy: frombuffer arrays are read-only


def save_state(r: redis.Redis, key: str, state: dict[str, torch.Tensor]) -> int:
    mapping: dict[str, bytes | str] = {}
    for name, tensor in state.items():
        mapping.update(tensor_fields(name, tensor))
    # MULTI/EXEC: readers see the old parameters or the new ones, never a mix.
    with r.pipeline(transaction=True) as pipe:
        pipe.delete(key)
        pipe.hset(key, mapping=mapping)
        pipe.execute()
    return sum(len(v) for v in mapping.values() if isinstance(v, bytes))


def load_state(r: redis.Redis, key: str) -> dict[str, torch.Tensor]:
    fields = r.hgetall(key)
    if not fields:
        raise KeyError(f"no parameters stored at {key}")
    return {name.decode(): to_tensor(blob, fields[name + b":dtype"], fields[name + b":shape"])
            for name, blob in fields.items() if b":" not in name}


def same_outputs(a: nn.Module, b: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float((a(x) - b(x)).abs().max())


def main() -> int:
    parser = argparse.ArgumentParser(description="Model parameters in a Redis hash.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--password", default=None)
    args = parser.parse_args()
    r = redis.Redis(host=args.host, port=args.port, password=args.password)

    torch.manual_seed(0)
    model = Mlp()
    with torch.no_grad():  # a few training-mode passes give BatchNorm real statistics
        for _ in range(3):
            model(torch.randn(32, 4))
    model.eval()

    size = save_state(r, KEY, model.state_dict())
    print(f"stored {len(model.state_dict())} tensors in hash {KEY} "
          f"({r.hlen(KEY)} fields, {size} bytes of data)")
    for name, tensor in model.state_dict().items():
        print(f"  {name:<26} {str(tensor.dtype).removeprefix('torch.'):<8} {tuple(tensor.shape)}")

    # A second process would do exactly this: a fresh model, weights from the hash.
    torch.manual_seed(1)
    rebuilt = Mlp()
    rebuilt.load_state_dict(load_state(r, KEY))
    rebuilt.eval()
    x = torch.randn(8, 4)
    diff = same_outputs(model, rebuilt, x)
    print(f"rebuilt a model from HGETALL: max output difference {diff}")
    if diff != 0.0:
        print("FAILED: the rebuilt model computes something else")
        return 1

    # Update one layer with a single HSET, then read just that layer with HMGET.
    with torch.no_grad():
        model.fc2.bias.add_(0.5)
    r.hset(KEY, mapping=tensor_fields("fc2.bias", model.fc2.bias))
    blob, dtype, shape = r.hmget(KEY, "fc2.bias", "fc2.bias:dtype", "fc2.bias:shape")
    print(f"updated fc2.bias alone (HSET of 3 fields); HMGET reads it back: "
          f"{to_tensor(blob, dtype, shape).numpy().round(3)}")
    rebuilt.load_state_dict(load_state(r, KEY))
    diff = same_outputs(model, rebuilt, x)
    print(f"reloaded after the update: max output difference {diff}")
    r.delete(KEY)
    if diff != 0.0:
        print("FAILED: the update did not reach the rebuilt model")
        return 1
    print("OK: model parameters round-trip through a Redis hash")
    return 0


if __name__ == "__main__":
    sys.exit(main())
