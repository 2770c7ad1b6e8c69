"""Script values (TYPE ``AI_SCRIPT``): TorchScript source, its compiled form, and what
AI.SCRIPTGET reports. Immutable but for ``stats`` (loop thread only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._keyspace import TYPE_NAMES, Shared
from .model import RunStats

if TYPE_CHECKING:
    from ..runtime.backend import LoadedScript
    from ..runtime.device import Device

__all__ = ["Script"]


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class Script(Shared):
    device: Device
    tag: bytes
    entry_points: tuple[str, ...]  # empty for scripts stored with AI.SCRIPTSET
    source: bytes
    handle: LoadedScript
    key: bytes = b""  # the key it was stored under (its name in the metrics)
    stats: RunStats = field(default_factory=RunStats)
    backend: str = "TORCH"  # what AI.INFO reports for scripts

    def __repr__(self) -> str:
        return f"Script({self.device.name}, {list(self.entry_points)})"


TYPE_NAMES[Script] = "AI_SCRIPT"
