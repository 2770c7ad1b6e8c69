"""Command semantics: the command table, dispatch and one module per family.

Importing this package registers every family's commands (each module's @command
decorators) and builds the dispatch table.
"""

# Importing a family module registers its commands.
from . import (  # noqa: F401
    acl,
    ai,
    aof,
    client,
    connection,
    dag,
    hashes,
    introspection,
    keyspace,
    list_blocking,
    lists,
    model,
    persistence,
    pubsub,
    script,
    server,
    sets,
    strings,
    tensor,
    transactions,
    zset_pops,
    zset_sets,
    zsets,
)
from ._client import BLOCKED, NO_REPLY, ClientState
from ._dispatch import build_table, call, execute, reject, resolve, run_batch
from ._server_state import ServerState, SlowlogEntry, Stats
from ._spec import COMMANDS, CommandSpec, command

build_table()

__all__ = [
    "BLOCKED",
    "COMMANDS",
    "NO_REPLY",
    "ClientState",
    "CommandSpec",
    "ServerState",
    "SlowlogEntry",
    "Stats",
    "build_table",
    "call",
    "command",
    "execute",
    "reject",
    "resolve",
    "run_batch",
]
