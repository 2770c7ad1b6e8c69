"""The asyncio transport: listeners, connections, flow control, shutdown.

It knows no command semantics; commands know no sockets.
"""

from ._connection import Connection
from ._loop import HAVE_UVLOOP, loop_name, new_event_loop
from ._server import Server, run

__all__ = ["HAVE_UVLOOP", "Connection", "Server", "loop_name", "new_event_loop", "run"]
