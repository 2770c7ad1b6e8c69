"""``tensorserve ping [--host H] [--port P]``: the container's HEALTHCHECK.

Sends PING and exits 0 when the server answers it: ``+PONG``, or ``-NOAUTH`` (alive,
but a password is set and was not given; set ``REDISCLI_AUTH`` to send ``AUTH`` first,
as redis-cli does). Exits 1 on anything else, a refused connection or 3 s of silence.
Needs nothing beyond the standard library, so the image needs no redis-cli.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _arg(args: list[str], name: str, default: str) -> str:
    if name in args:
        i = args.index(name)
        if i + 1 < len(args):
            return args[i + 1]
    return default


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    host = _arg(args, "--host", "127.0.0.1")
    port = int(_arg(args, "--port", "6379"))
    password = os.environ.get("REDISCLI_AUTH", "")
    request = b"PING\r\n"
    if password:
        pw = password.encode()
        request = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%b\r\n" % (len(pw), pw) + request
    try:
        with socket.create_connection((host, port), timeout=3.0) as s:
            s.sendall(request)
            data = b""
            want = 2 if password else 1
            while data.count(b"\r\n") < want:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
    except OSError as e:
        print(f"tensorserve ping: {host}:{port}: {e}", file=sys.stderr)
        return 1
    last = data.split(b"\r\n")[want - 1] if data.count(b"\r\n") >= want else data
    ok = last == b"+PONG" or last.startswith(b"-NOAUTH")
    print(last.decode("utf-8", "replace"))
    return 0 if ok else 1
