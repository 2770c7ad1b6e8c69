"""Generic key commands: DEL EXISTS TYPE KEYS SCAN RENAME EXPIRE ... DBSIZE FLUSHDB FLUSHALL."""

from __future__ import annotations

from typing import Any

from ..errors import SYNTAX, ReplyError
from ..protocol import OK
from ._client import ClientState
from ._spec import command


def _flush_mode(argv: list[bytes]) -> None:
    # ASYNC / SYNC are accepted: freeing is immediate either way (no lazyfree thread).
    if len(argv) > 2 or (len(argv) == 2 and argv[1].lower() not in (b"async", b"sync")):
        raise ReplyError(SYNTAX)


@command("flushdb", -1, "write", group="server", summary="Removes all keys from the current database.")
def flushdb(c: ClientState, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    c.db.flush()
    return OK


@command("flushall", -1, "write", group="server", summary="Removes all keys from all databases.")
def flushall(c: ClientState, argv: list[bytes]) -> Any:
    _flush_mode(argv)
    for db in c.server.keyspace.dbs:
        db.flush()
    return OK


@command("dbsize", 1, "readonly fast", group="server", summary="Returns the number of keys in the database.")
def dbsize(c: ClientState, argv: list[bytes]) -> Any:
    return len(c.db.data)
