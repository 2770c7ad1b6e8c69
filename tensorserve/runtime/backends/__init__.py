"""Backend registry: RedisAI's backend names -> the module that implements each.

Backends are imported the first time a model needs them (or on AI.CONFIG LOADBACKEND),
never at start-up: importing torch costs a second and hundreds of MB, and a server that
only serves ONNX models (or only plain Redis values) should not pay for it.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import threading
from typing import Final

from ..backend import Backend

__all__ = [
    "BACKEND_NAMES",
    "KNOWN_BACKENDS",
    "available_backends",
    "get_backend",
    "loaded_backends",
]

log = logging.getLogger("tensorserve.runtime")

# Every name RedisAI accepts; the ones with a module are the ones tensorserve runs.
KNOWN_BACKENDS: Final = ("TF", "TFLITE", "TORCH", "ONNX")
_MODULES: Final[dict[str, str]] = {
    "TORCH": "tensorserve.runtime.backends._torch",
    "ONNX": "tensorserve.runtime.backends._onnx",
}
BACKEND_NAMES: Final = tuple(_MODULES)
# The package each backend imports (for the start-up banner, which must not import it).
_PACKAGES: Final = {"TORCH": "torch", "ONNX": "onnxruntime"}

_loaded: dict[str, Backend] = {}
_lock = threading.Lock()


def get_backend(name: str) -> Backend | None:
    """The backend called ``name`` (upper case), importing it on first use; None when
    tensorserve has no such backend or its package cannot be imported (logged)."""
    backend = _loaded.get(name)
    if backend is not None:
        return backend
    module_name = _MODULES.get(name)
    if module_name is None:
        log.warning("backend %s is not available in tensorserve", name)
        return None
    with _lock:
        backend = _loaded.get(name)
        if backend is None:
            try:
                module = importlib.import_module(module_name)
                backend = module.create()
            except Exception as e:  # ImportError, or a broken install
                log.warning("could not load backend %s: %s", name, e)
                return None
            log.info("loaded backend %s (%s %s)", name, backend.info_name, backend.version())
            _loaded[name] = backend
    return backend


def loaded_backends() -> dict[str, Backend]:
    """Backends imported so far, in load order."""
    return dict(_loaded)


def available_backends() -> dict[str, str]:
    """Backend name -> installed package version, read from package metadata (nothing
    is imported)."""
    out = {}
    for name, package in _PACKAGES.items():
        try:
            out[name] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out
