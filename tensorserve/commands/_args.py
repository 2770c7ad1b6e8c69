"""Argument parsing helpers shared by every command family (texts as in redis-server)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from ..errors import NOT_FLOAT, NOT_INTEGER, SYNTAX, ReplyError

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "numkeys_keys",
    "parse_float",
    "parse_int",
    "parse_mpop",
    "parse_score",
    "parse_timeout",
    "syntax_error",
]

INT64_MAX: Final = 2**63 - 1
INT64_MIN: Final = -(2**63)


def parse_int(arg: bytes, message: str = NOT_INTEGER) -> int:
    """A signed 64-bit integer in redis-server's strict form, else ``ERR <message>``."""
    if arg.isdigit():
        if (arg[0] == 48 and len(arg) > 1) or len(arg) > 19:
            raise ReplyError(message)
        value = int(arg)
    elif len(arg) > 1 and arg[0] == 45 and arg[1:].isdigit() and arg[1] != 48:
        value = int(arg)
    else:
        raise ReplyError(message)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ReplyError(message)
    return value


def parse_float(arg: bytes, message: str = NOT_FLOAT) -> float:
    """A finite or infinite double (no NaN), as strtold accepts it, else ``ERR <message>``."""
    try:
        text = arg.decode("ascii")
    except UnicodeDecodeError:
        raise ReplyError(message) from None
    if not text or text != text.strip() or "_" in text:
        raise ReplyError(message)
    try:
        value = float(text)
    except ValueError:
        raise ReplyError(message) from None
    if math.isnan(value):
        raise ReplyError(message)
    return value


def parse_score(arg: bytes, message: str = NOT_FLOAT) -> float:
    """A sorted-set score: like parse_float, plus ``+inf`` / ``-inf`` spellings."""
    low = arg.lower()
    if low in (b"+inf", b"inf", b"infinity", b"+infinity"):
        return math.inf
    if low in (b"-inf", b"-infinity"):
        return -math.inf
    return parse_float(arg, message)


def parse_timeout(arg: bytes) -> float:
    """Blocking-command timeout in seconds (float allowed, >= 0)."""
    try:
        value = parse_float(arg, "timeout is not a float or out of range")
    except ReplyError:
        raise
    if value < 0:
        raise ReplyError("timeout is negative")
    if math.isinf(value):
        raise ReplyError("timeout is not a float or out of range")
    return value


def syntax_error() -> ReplyError:
    return ReplyError(SYNTAX)


_NUMKEYS_GT0: Final = "numkeys should be greater than 0"
_COUNT_GT0: Final = "count should be greater than 0"


def parse_mpop(
    argv: list[bytes], at: int, ends: Mapping[bytes, bool]
) -> tuple[list[bytes], bool, int]:
    """LMPOP / ZMPOP arguments from argv[at]: ``numkeys key... <end> [COUNT n]``.

    ``ends`` maps the lower-case end names (LEFT/RIGHT, MIN/MAX) to a bool. Returns
    (keys, end, count); the texts are redis-server's.
    """
    numkeys = parse_int(argv[at], _NUMKEYS_GT0)
    if numkeys < 1:
        raise ReplyError(_NUMKEYS_GT0)
    where = at + numkeys + 1
    if where >= len(argv):
        raise ReplyError(SYNTAX)
    end = ends.get(argv[where].lower())
    if end is None:
        raise ReplyError(SYNTAX)
    count = -1
    j = where + 1
    n = len(argv)
    while j < n:
        if count == -1 and argv[j].lower() == b"count" and j + 1 < n:
            count = parse_int(argv[j + 1], _COUNT_GT0)
            if count < 1:
                raise ReplyError(_COUNT_GT0)
            j += 2
        else:
            raise ReplyError(SYNTAX)
    return argv[at + 1 : where], end, max(count, 1)


def numkeys_keys(at: int) -> Callable[[list[bytes]], list[bytes]]:
    """COMMAND GETKEYS for numkeys-style commands (numkeys at ``argv[at]``)."""

    def keys(argv: list[bytes]) -> list[bytes]:
        try:
            n = int(argv[at])
        except (ValueError, IndexError):
            return []
        return argv[at + 1 : at + 1 + n] if n > 0 else []

    return keys
