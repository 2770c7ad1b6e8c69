"""Event-loop choice: uvloop when installed (and asked for), else asyncio's own."""

from __future__ import annotations

import asyncio
import importlib.util

__all__ = ["HAVE_UVLOOP", "loop_name", "new_event_loop"]

HAVE_UVLOOP = importlib.util.find_spec("uvloop") is not None


def new_event_loop(choice: str = "auto") -> asyncio.AbstractEventLoop:
    """``auto`` | ``uvloop`` | ``asyncio``; ``uvloop`` without the package is an error."""
    if choice == "uvloop" or (choice == "auto" and HAVE_UVLOOP):
        import uvloop  # only imported here: the fallback must work without it

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
