"""Connection commands: PING ECHO QUIT RESET HELLO AUTH SELECT."""

from __future__ import annotations

from typing import Any, Final

from .. import __version__
from ..errors import (
    DB_INDEX_OUT_OF_RANGE,
    NOT_INTEGER,
    NoAuthError,
    NoProtoError,
    ReplyError,
    WrongPassError,
)
from ..protocol import OK, Raw
from ._args import parse_int
from ._client import ClientState
from ._spec import command

# The Redis version we speak for (clients gate features on it) and our own.
REDIS_VERSION: Final = "7.2.4"

_PONG: Final = Raw(b"+PONG\r\n")
_RESET: Final = Raw(b"+RESET\r\n")


@command("ping", -1, "fast subscribe_ok", group="connection", summary="Returns the server's liveliness response.")
def ping(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) > 2:
        raise ReplyError("wrong number of arguments for 'ping' command")
    if c.resp == 2 and (c.channels or c.patterns):
        # RESP2 subscribe mode answers PING as a message-shaped array.
        return [b"pong", argv[1] if len(argv) == 2 else b""]
    if len(argv) == 2:
        return argv[1]
    return _PONG


@command("echo", 2, "fast", group="connection", summary="Returns the given string.")
def echo(c: ClientState, argv: list[bytes]) -> Any:
    return argv[1]


@command("quit", -1, "no_auth fast subscribe_ok multi_ok allow_busy", group="connection",
         summary="Closes the connection.")
def quit_(c: ClientState, argv: list[bytes]) -> Any:
    c.close_after_reply = True
    return OK


@command("auth", -2, "no_auth fast subscribe_ok allow_busy", group="connection",
         summary="Authenticates the connection.")
def auth(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise ReplyError("syntax error")
    if len(argv) == 2:
        if c.server.acl.default.nopass:
            raise ReplyError(
                "AUTH <password> called without any password configured for the default "
                "user. Are you sure your configuration is correct?"
            )
        username, password = b"default", argv[1]
    else:
        username, password = argv[1], argv[2]
    # ACL users (commands/_acl_registry.py): a failure is logged in ACL LOG.
    if not c.server.acl.authenticate(c, username, password, argv[0]):
        raise WrongPassError()
    return OK


@command("hello", -1, "no_auth fast subscribe_ok allow_busy", group="connection",
         summary="Handshakes with the server.", since="6.0.0")
def hello(c: ClientState, argv: list[bytes]) -> Any:
    proto = c.resp
    i = 1
    if len(argv) > 1:
        try:
            proto = parse_int(argv[1])
        except ReplyError:
            raise ReplyError("Protocol version is not an integer or out of range") from None
        i = 2
        if proto not in (2, 3):
            raise NoProtoError()
    name: bytes | None = None
    credentials: tuple[bytes, bytes] | None = None
    while i < len(argv):
        opt = argv[i].lower()
        left = len(argv) - i - 1
        if opt == b"auth" and left >= 2:
            credentials = (argv[i + 1], argv[i + 2])
            i += 3
        elif opt == b"setname" and left >= 1:
            name = argv[i + 1]
            i += 2
        else:
            raise ReplyError(f"Syntax error in HELLO option '{argv[i].decode('utf-8', 'replace')}'")
    # As redis-server: every option is parsed first, then AUTH, then the name.
    if credentials is not None and not c.server.acl.authenticate(c, *credentials, argv[0]):
        raise WrongPassError()
    if not c.authenticated:
        raise NoAuthError("HELLO must be called with the client already authenticated, "
                          "otherwise the HELLO <proto> AUTH <user> <pass> option can be used "
                          "to authenticate the client and select the RESP protocol version "
                          "at the same time")
    if name is not None:
        if not valid_client_name(name):
            raise ReplyError("Client names cannot contain spaces, newlines or special characters.")
        c.name = name
    c.resp = proto
    return {
        b"server": b"redis",
        b"version": REDIS_VERSION.encode(),
        b"proto": proto,
        b"id": c.id,
        b"mode": b"standalone",
        b"role": b"master",
        b"modules": [],
        b"tensorserve_version": __version__.encode(),
    }


def valid_client_name(name: bytes) -> bool:
    """Redis: printable ASCII (33..126) only, no spaces."""
    return all(33 <= b <= 126 for b in name)


@command("select", 2, "loading stale fast", group="connection",
         summary="Changes the selected database.")
def select(c: ClientState, argv: list[bytes]) -> Any:
    index = parse_int(argv[1], NOT_INTEGER)
    dbs = c.server.keyspace.dbs
    if not 0 <= index < len(dbs):
        raise ReplyError(DB_INDEX_OUT_OF_RANGE)
    c.db = dbs[index]
    return OK


@command("reset", 1, "no_auth fast subscribe_ok multi_ok allow_busy", group="connection",
         summary="Resets the connection.", since="6.2.0")
def reset(c: ClientState, argv: list[bytes]) -> Any:
    for hook in c.server.on_client_reset:
        hook(c)
    c.multi = None
    c.dirty_exec = c.dirty_cas = False
    c.db = c.server.keyspace.dbs[0]
    c.resp = 2
    c.name = b""
    c.reply_mode = 0
    c.no_evict = False
    c.user = c.server.acl.default  # clientSetDefaultAuth
    c.set_authenticated(c.user.open)
    return _RESET
