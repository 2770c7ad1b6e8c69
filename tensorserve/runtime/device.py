"""Device names: ``CPU``, ``GPU``, ``CPU:n``, ``GPU:n``, as RedisAI accepts them.

A device is stored as the client wrote it (``cpu`` comes back as ``cpu``), but its run
queue is named in upper case, so ``cpu`` and ``CPU`` share one queue (RedisAI's
run_queue_info.c). ``CPU:1`` is a separate queue on the same processor: a way to run
models side by side.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Final

__all__ = ["INVALID_DEVICE", "Device", "parse_device", "visible_devices"]

INVALID_DEVICE: Final = "Invalid DEVICE"
_DEVICE: Final = re.compile(rb"(?i)(CPU|GPU)(?::([0-9]+))?")


@dataclass(frozen=True, slots=True)
class Device:
    name: str  # as given by the client
    kind: str  # "CPU" | "GPU"
    index: int  # the n of GPU:n (0 for plain GPU); CPU:n keeps n only for its queue

    @property
    def queue(self) -> str:
        """The run queue's name: the device string in upper case."""
        return self.name.upper()


def parse_device(arg: bytes) -> Device | None:
    """The device named by ``arg``, or None when RedisAI would say ``Invalid DEVICE``
    (anything but CPU/GPU with an optional ``:digits``, or 10 characters or more)."""
    m = _DEVICE.fullmatch(arg)
    if m is None or len(arg) >= 10:
        return None
    return Device(arg.decode("ascii"), m.group(1).upper().decode(), int(m.group(2) or 0))


def visible_devices() -> str:
    """What the start-up banner reports, found without importing torch (a second and
    hundreds of MB): the CPU count and the NVIDIA GPUs the driver lists."""
    gpus = len(glob.glob("/proc/driver/nvidia/gpus/*"))
    cpus = os.cpu_count() or 1
    return f"CPU ({cpus} cores)" + (f", GPU x{gpus}" if gpus else ", no GPU")
