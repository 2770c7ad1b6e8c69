"""Without hiredis and uvloop installed the server runs on its pure-Python fallbacks."""

from __future__ import annotations

from pathlib import Path

import redis

from ..helpers import RawClient, ServerProcess

_BLOCK = """
import sys
# Simulate a machine without the optional speed-ups: importing them fails.
sys.modules["hiredis"] = None
sys.modules["uvloop"] = None
"""


def test_server_without_hiredis_and_uvloop_serves_clients(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(_BLOCK)
    proc = ServerProcess(["--reader", "auto", "--event-loop", "auto", "--loglevel", "notice"],
                         cwd=str(tmp_path),
                         env={"PYTHONPATH": str(tmp_path)})
    try:
        r = redis.Redis(port=proc.port, protocol=3)
        assert r.ping() is True
        pipe = r.pipeline(transaction=False)
        for i in range(200):
            pipe.set(f"k{i}", i)
        pipe.get("k199")
        assert pipe.execute()[-1] == b"199"
        c = RawClient(proc.port)
        c.send(b"PING\r\n*1\r\n$4\r\nPING\r\n")
        assert c.read() == b"PONG"
        assert c.read() == b"PONG"
        c.close()
        r.close()
    finally:
        assert proc.stop() == 0
    log = proc.log()
    assert "Traceback" not in log, log
    assert "(asyncio event loop, python reader)" in log, log
