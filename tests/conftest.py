"""Shared fixtures: real tensorserve processes and real redis-py clients.

* ``server``: a session-wide tensorserve, run twice over the suite: ``fast`` (hiredis
  reader, uvloop) and ``pure`` (the pure-Python reader on asyncio's own loop), so both
  halves of every optional speed-up are exercised.
* ``r``: a redis-py 8 client of that server, in four variants: RESP3 (its default,
  ``HELLO 3``) and RESP2, each with the hiredis parser and the pure-Python one. The
  database is flushed before each test.
* ``start_server``: a factory for tests that need their own flags (passwords, limits).
* ``raw``: a factory of raw-socket clients for protocol-level tests.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis._parsers import _HiredisParser, _RESP2Parser, _RESP3Parser

from .helpers import RawClient, ServerProcess, raw_connector

# DEBUG and CONFIG SET dir / dbfilename are off by default (as Redis 7); the shared
# servers allow them from loopback, where the tests are.
_LOCAL_ADMIN = ["--enable-debug-command", "local", "--enable-protected-configs", "local"]
SERVER_VARIANTS: dict[str, list[str]] = {
    "fast": ["--reader", "auto", "--event-loop", "auto", *_LOCAL_ADMIN],
    "pure": ["--reader", "python", "--event-loop", "asyncio", *_LOCAL_ADMIN],
}

CLIENT_VARIANTS: dict[str, dict[str, Any]] = {
    "resp3-hiredis": {"protocol": 3, "parser_class": _HiredisParser},
    "resp3-python": {"protocol": 3, "parser_class": _RESP3Parser},
    "resp2-hiredis": {"protocol": 2, "parser_class": _HiredisParser},
    "resp2-python": {"protocol": 2, "parser_class": _RESP2Parser},
}


@pytest.fixture(scope="session", params=list(SERVER_VARIANTS))
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp(f"server-{request.param}")
    proc = ServerProcess(SERVER_VARIANTS[request.param], cwd=str(tmp))
    yield proc
    code = proc.stop()
    log = proc.log()
    assert "Traceback" not in log, f"server logged an exception:\n{log}"
    assert code == 0, f"server exited with {code}:\n{log}"


def make_client(port: int, variant: str, **kwargs: Any) -> redis.Redis:
    opts = CLIENT_VARIANTS[variant]
    pool = redis.ConnectionPool(
        host="127.0.0.1",
        port=port,
        protocol=opts["protocol"],
        parser_class=opts["parser_class"],
        socket_timeout=10,
        **kwargs,
    )
    return redis.Redis(connection_pool=pool)


@pytest.fixture(params=list(CLIENT_VARIANTS))
def client_variant(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def r(server: ServerProcess, client_variant: str) -> Iterator[redis.Redis]:
    client = make_client(server.port, client_variant)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def resp(client_variant: str) -> int:
    """The RESP version of the ``r`` client (replies differ in shape between them)."""
    return int(CLIENT_VARIANTS[client_variant]["protocol"])


@pytest.fixture
def raw(server: ServerProcess) -> Iterator[Callable[[], RawClient]]:
    with raw_connector(server.port) as connect:
        yield connect


@pytest.fixture
def start_server(tmp_path: Any) -> Iterator[Callable[..., ServerProcess]]:
    procs: list[ServerProcess] = []

    def start(*args: str, **kwargs: Any) -> ServerProcess:
        kwargs.setdefault("cwd", str(tmp_path))
        p = ServerProcess(list(args), **kwargs)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.stop()


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed in CI: scripts/test.sh must install it")
        pytest.skip(f"{name} is not installed (scripts/test.sh installs it)")
    return path
