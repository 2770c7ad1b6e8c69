"""Logging: redis-server's levels and line format, or JSON lines, under fixed names.

Every message comes from one of these loggers, so operators can filter on the name:

=========================  ==========================================================
``tensorserve.server``     start-up banner, listeners, connections refused or dropped
``tensorserve.commands``   command failures (with tracebacks), CLIENT KILL
``tensorserve.acl``        the ACL file, clients dropped when their user changes
``tensorserve.runtime``    backends loaded, model runs and workers
``tensorserve.persistence`` snapshots
``tensorserve.aof``        the append-only log
``tensorserve.metrics``    the Prometheus endpoint
=========================  ==========================================================

Levels are Redis's (``--loglevel debug|verbose|notice|warning|nothing``); ``verbose``
sits between Python's DEBUG and INFO, ``notice`` is INFO. A text line reads like
redis-server's (``pid:M 23 Nov 2026 05:01:02.345 * message``); ``--log-format json``
writes one object a line with ``ts``, ``level``, ``logger``, ``pid`` and ``msg`` (and
``exc`` with a traceback), for log shippers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Final

__all__ = ["LEVELS", "VERBOSE", "JsonFormatter", "TextFormatter", "setup"]

VERBOSE: Final = 15
logging.addLevelName(VERBOSE, "VERBOSE")

LEVELS: Final = {
    "debug": logging.DEBUG,
    "verbose": VERBOSE,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "nothing": logging.CRITICAL + 10,
}


def _redis_level(levelno: int) -> str:
    if levelno >= logging.WARNING:
        return "warning"
    if levelno >= logging.INFO:
        return "notice"
    if levelno >= VERBOSE:
        return "verbose"
    return "debug"


# redis-server's level marks: . debug, - verbose, * notice, # warning.
_MARKS: Final = {"debug": ".", "verbose": "-", "notice": "*", "warning": "#"}


class TextFormatter(logging.Formatter):
    """``pid:M 23 Nov 2026 05:01:02.345 * message``, as redis-server writes."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%d %b %Y %H:%M:%S", time.localtime(record.created))
        line = (f"{record.process}:M {stamp}.{int(record.msecs):03d} "
                f"{_MARKS[_redis_level(record.levelno)]} {record.getMessage()}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": _redis_level(record.levelno),
            "logger": record.name,
            "pid": record.process,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup(level: str, logfile: str = "", fmt: str = "text") -> None:
    """Send the ``tensorserve`` loggers to ``logfile`` (stderr when empty)."""
    handler: logging.Handler = (
        logging.FileHandler(logfile) if logfile else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("tensorserve")
    root.handlers[:] = [handler]
    root.setLevel(LEVELS.get(level, logging.INFO))
    root.propagate = False
