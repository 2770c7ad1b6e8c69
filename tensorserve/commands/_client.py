"""Per-client state that commands read and change; it knows nothing about sockets.

``server.connection.Connection`` subclasses :class:`ClientState` and supplies the four
transport hooks (``send``, ``close``, ``unblock``, ``address``). Keeping both in one
object keeps an idle connection small (one Python object besides the transport).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ..store import Database
    from ._acl import User
    from ._server_state import ServerState

__all__ = ["BLOCKED", "NO_REPLY", "PAUSED", "ClientState", "InternalClient"]


class _Blocked:
    __slots__ = ()

    def __repr__(self) -> str:
        return "BLOCKED"


# A handler returns BLOCKED when its reply comes later (a blocking pop): the connection
# stops executing this client's queued commands until ``unblock(reply)`` is called.
BLOCKED: Final = _Blocked()


class _NoReply:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_REPLY"


# A handler returns NO_REPLY when the command answers nothing (CLIENT REPLY OFF / SKIP).
NO_REPLY: Final = _NoReply()


class _Paused:
    __slots__ = ()

    def __repr__(self) -> str:
        return "PAUSED"


# Dispatch returns PAUSED for a command held by CLIENT PAUSE: it has not run, and the
# connection retries it (and what follows) when the pause ends.
PAUSED: Final = _Paused()


class ClientState:
    """What commands know about a client."""

    __slots__ = (
        "authenticated",
        "blocked_argv",
        "blocked_on",
        "channels",
        "close_after_reply",
        "created",
        "db",
        "dirty_cas",
        "dirty_exec",
        "flags",
        "id",
        "in_exec",
        "last_cmd",
        "last_interaction",
        "lib_name",
        "lib_ver",
        "multi",
        "name",
        "no_evict",
        "patterns",
        "reply_mode",
        "resp",
        "server",
        "shards",
        "unwatch",
        "user",
        "watched",
    )

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.id = server.next_client_id()
        self.db: Database = server.keyspace.dbs[0]
        self.resp = 2
        # Redis's clientSetDefaultAuth: the default user, authenticated already when it
        # is on and needs no password.
        self.user: User = server.acl.default
        self.authenticated = self.user.open
        self.name = b""
        self.lib_name = b""
        self.lib_ver = b""
        self.created = self.last_interaction = time.monotonic()
        self.multi: list[list[bytes]] | None = None  # queued commands inside MULTI
        self.dirty_exec = False  # a queued command was rejected: EXEC gives EXECABORT
        self.dirty_cas = False  # a WATCHed key changed: EXEC returns null
        self.in_exec = False
        self.watched: set[tuple[int, bytes]] | None = None
        self.unwatch: Callable[[], None] | None = None
        self.channels: set[bytes] | None = None
        self.patterns: set[bytes] | None = None
        self.shards: set[bytes] | None = None  # sharded channels (SSUBSCRIBE)
        self.reply_mode = 0  # 0 on, 1 off, 2 skip next
        self.close_after_reply = False
        self.blocked_argv: list[bytes] | None = None  # the blocked command (AOF)
        self.blocked_on: Any = None  # what a blocked client waits for (for CLIENT LIST/UNBLOCK)
        self.no_evict = False
        self.last_cmd = "NULL"
        self.flags = 0

    # -- transport hooks, provided by server.connection ---------------------------------
    def send(self, value: Any) -> None:
        """Encode ``value`` for this client's protocol and write it now (pushes, unblocks)."""
        raise NotImplementedError

    def close(self) -> None:
        """Close the connection (after flushing what was already written)."""
        raise NotImplementedError

    def block(self) -> None:
        """The command just run returned BLOCKED: hold later commands until unblock()."""
        raise NotImplementedError

    def postpone(self, delay: float) -> None:
        """CLIENT PAUSE holds this client's next command: retry it after ``delay`` s."""
        raise NotImplementedError

    def resume_postponed(self) -> None:
        """CLIENT UNPAUSE: retry a held command now (no-op when none is held)."""

    def unblock(self, reply: Any) -> None:
        """Deliver the reply of a command that returned BLOCKED and resume the client."""
        raise NotImplementedError

    def set_authenticated(self, value: bool) -> None:
        """Mark the client (un)authenticated; the connection also relaxes its input limits."""
        self.authenticated = value

    def input_limits_changed(self) -> None:
        """CONFIG SET changed proto-max-bulk-len or client-query-buffer-limit: the
        connection applies them to the rest of its input, as redis-server does."""

    @property
    def blocked(self) -> bool:
        return False

    @property
    def output_paused(self) -> bool:
        """True while the transport's write buffer is over its high-water mark."""
        return False

    @property
    def address(self) -> str:
        """``ip:port`` of the peer."""
        raise NotImplementedError

    @property
    def local_address(self) -> str:
        raise NotImplementedError

    @property
    def is_local(self) -> bool:
        """Connected over loopback or a unix socket (redis-server's islocalClient):
        what the ``local`` setting of enable-debug-command and friends allows."""
        return False

    @property
    def subscriptions(self) -> int:
        return len(self.channels or ()) + len(self.patterns or ()) + len(self.shards or ())

    @property
    def output_buffer_size(self) -> int:
        return 0

    @property
    def input_buffer_size(self) -> int:
        return 0


class InternalClient(ClientState):
    """A client with no connection (a script's ``redis.execute``, the append-only log's
    replay): it never blocks and nobody reads its replies. ``label`` is its address."""

    __slots__ = ()
    label = "internal"

    def __init__(self, server: ServerState) -> None:
        super().__init__(server)
        # No ACL checks (redis-server's fake clients have no user): the log's replay
        # must apply every logged write whatever the users say. Scripts' clients take
        # their caller's user instead.
        self.user = server.acl.internal
        self.authenticated = True

    def send(self, value: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def block(self) -> None:
        pass

    def unblock(self, reply: Any) -> None:
        pass

    @property
    def address(self) -> str:
        return self.label

    @property
    def local_address(self) -> str:
        return self.label
