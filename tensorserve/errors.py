"""Reply errors: the error code belongs to the class, the texts are constants.

Texts copy redis-server's wording exactly, because clients and their tests match on
them. Handlers raise these; ``commands.dispatch`` turns them into error replies at one
boundary, and anything else becomes ``ERR internal error`` (logged with its traceback).
"""

from __future__ import annotations

__all__ = [
    "BareError",
    "BusyKeyError",
    "ExecAbortError",
    "MisconfError",
    "NoAuthError",
    "NoPermError",
    "NoProtoError",
    "OomError",
    "ReplyError",
    "WrongPassError",
    "WrongTypeError",
    "arity_error",
    "unknown_command",
    "unknown_subcommand",
]


class ReplyError(Exception):
    """An error reply. ``code`` is the first word on the wire (``ERR``, ``WRONGTYPE`` ...)."""

    code = "ERR"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def wire(self) -> bytes:
        """The reply line without the leading '-' and trailing CRLF; CR/LF become spaces."""
        text = f"{self.code} {self.message}" if self.message else self.code
        text = text.replace("\r", " ").replace("\n", " ")
        try:
            return text.encode("utf-8", "surrogateescape")  # client bytes go back as sent
        except UnicodeEncodeError:
            return text.encode("utf-8", "replace")

    def __str__(self) -> str:
        return f"{self.code} {self.message}"


class BareError(ReplyError):
    """An error sent exactly as its text, with no ``ERR`` in front.

    RedisAI replies some messages bare (``Number of keys given as INPUTS here does not
    match model definition``) and passes backend messages through as they are; the
    first word then plays the error code, as it does for redis-server.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.code = message.split(" ", 1)[0] or "ERR"

    def wire(self) -> bytes:
        text = self.message or "ERR"
        return text.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")

    def __str__(self) -> str:
        return self.message


class WrongTypeError(ReplyError):
    code = "WRONGTYPE"

    def __init__(self, message: str = "Operation against a key holding the wrong kind of value"):
        super().__init__(message)


class NoAuthError(ReplyError):
    code = "NOAUTH"

    def __init__(self, message: str = "Authentication required.") -> None:
        super().__init__(message)


class WrongPassError(ReplyError):
    code = "WRONGPASS"

    def __init__(
        self, message: str = "invalid username-password pair or user is disabled."
    ) -> None:
        super().__init__(message)


class NoPermError(ReplyError):
    code = "NOPERM"


class ExecAbortError(ReplyError):
    code = "EXECABORT"

    def __init__(
        self, message: str = "Transaction discarded because of previous errors."
    ) -> None:
        super().__init__(message)


class BusyKeyError(ReplyError):
    code = "BUSYKEY"

    def __init__(self, message: str = "Target key name already exists.") -> None:
        super().__init__(message)


class MisconfError(ReplyError):
    code = "MISCONF"

    def __init__(self, message: str = (
            "Redis is configured to save RDB snapshots, but it's currently unable to persist "
            "to disk. Commands that may modify the data set are disabled, because this "
            "instance is configured to report errors during writes if RDB snapshotting fails "
            "(stop-writes-on-bgsave-error option). Please check the Redis logs for details "
            "about the RDB error.")) -> None:
        # redis-server's text, word for word: clients and tools match on it.
        super().__init__(message)


class OomError(ReplyError):
    code = "OOM"

    def __init__(self, message: str = "command not allowed when used memory > 'maxmemory'."
                 ) -> None:
        super().__init__(message)  # redis-server's shared.oomerr, word for word


class NoProtoError(ReplyError):
    code = "NOPROTO"

    def __init__(self, message: str = "unsupported protocol version") -> None:
        super().__init__(message)


class DeniedError(ReplyError):
    code = "DENIED"


# Frequently raised texts, kept in one place.
NOT_INTEGER = "value is not an integer or out of range"
NOT_FLOAT = "value is not a valid float"
SYNTAX = "syntax error"
NO_SUCH_KEY = "no such key"
INDEX_OUT_OF_RANGE = "index out of range"
OVERFLOW = "increment or decrement would overflow"
INVALID_EXPIRE = "invalid expire time in '%s' command"
DB_INDEX_OUT_OF_RANGE = "DB index is out of range"
NOT_FLOAT_NAN = "increment would produce NaN or Infinity"
TIMEOUT_NOT_FLOAT = "timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "timeout is negative"


def unknown_command(name: bytes, args: list[bytes]) -> ReplyError:
    """``ERR unknown command 'foo', with args beginning with: 'a' 'b' ``.

    Like redis-server: each argument quoted and followed by a space, the list cut once it
    reaches 128 bytes; the bytes go back as sent, each cut at a NUL (``%.128s``).
    """
    shown = b""
    for a in args:
        if len(shown) >= 128:
            break
        shown += b"'" + a.split(b"\0", 1)[0][: 128 - len(shown)] + b"' "
    cmd = name.split(b"\0", 1)[0][:128]
    text = b"unknown command '%b', with args beginning with: %b" % (cmd, shown)
    return ReplyError(text.decode("utf-8", "surrogateescape"))


def unknown_subcommand(sub: bytes, command: str) -> ReplyError:
    s = sub[:128].decode("utf-8", "replace")
    return ReplyError(
        f"unknown subcommand '{s}'. Try {command.upper()} HELP."
    )


def arity_error(name: str) -> ReplyError:
    """``ERR wrong number of arguments for 'get' command`` (name as in the command table)."""
    return ReplyError(f"wrong number of arguments for '{name}' command")
