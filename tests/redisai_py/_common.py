"""Shared by the redisai-py scenarios: the client, and checks that fail with a clear message.

The scenarios run under ``.venv-redisai`` (redisai 1.3.0 on redis-py 4, RESP2), never in
the main venv: tests/integration/test_redisai_py.py creates that venv and starts them as
``python tests/redisai_py/scenario_<name>.py --port N ...``. A scenario exits 0 when every
check passed; the first failed ``assert`` ends it with its message and a traceback.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from typing import Any

import redis
from redis.connection import HiredisParser, PythonParser
from redisai import Client

if not __debug__:
    sys.exit("the checks are asserts: run the scenarios without -O")

PARSERS: dict[str, Any] = {"hiredis": HiredisParser, "python": PythonParser}


def arguments(doc: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--port", type=int, required=True, help="tensorserve's port")
    return parser


def connect(port: int, parser: str | None = None) -> Client:
    """redisai-py's Client, as its users make it; ``parser`` picks redis-py 4's reply
    parser (the default is hiredis, which redisai 1.3.0 installs)."""
    if parser is None:
        return Client(host="127.0.0.1", port=port, socket_timeout=60)
    pool = redis.ConnectionPool(host="127.0.0.1", port=port, socket_timeout=60,
                                parser_class=PARSERS[parser])
    return Client(connection_pool=pool)


def expect_error(text: str | None, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
    """Call ``fn``; it must raise redis-py's ResponseError, whose text (redis-py strips a
    leading ``ERR ``) must be ``text`` (any text when None). Returns the text."""
    call = f"{fn.__name__}{args}{kwargs or ''}"
    try:
        reply = fn(*args, **kwargs)
    except redis.ResponseError as e:
        got = str(e)
        assert text is None or got == text, (
            f"{call}: expected ResponseError({text!r}), got ResponseError({got!r})"
        )
        assert got, f"{call}: ResponseError with an empty text"
        return got
    raise AssertionError(f"{call}: expected ResponseError({text!r}), got the reply {reply!r}")


def expect_warning(category: type[Warning], fn: Callable[..., Any], *args: Any,
                   **kwargs: Any) -> Any:
    """Call ``fn``, which must warn with ``category``; returns its result."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args, **kwargs)
    got = [w.category.__name__ for w in caught]
    assert any(issubclass(w.category, category) for w in caught), (
        f"{fn.__name__}{args}: expected a {category.__name__}, got {got}"
    )
    return result


def check(what: str, got: Any, expected: Any) -> None:
    """``got == expected``, or fail naming ``what`` and both values."""
    assert got == expected, f"{what}: expected {expected!r}, got {got!r}"
