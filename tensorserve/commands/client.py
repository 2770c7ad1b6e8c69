"""CLIENT: ID SETNAME GETNAME SETINFO LIST INFO KILL NO-EVICT NO-TOUCH REPLY UNBLOCK PAUSE ...

The CLIENT LIST / CLIENT INFO line is redis-server 7.2's field for field, because tools
split it on spaces and ``=`` and look fields up by name. Fields we have no equivalent for
(reply buffer sizes, argv memory) keep plausible constants rather than vanishing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from ..errors import NOT_INTEGER, SYNTAX, ReplyError
from ..protocol import OK, Verbatim
from ._args import parse_int
from ._client import NO_REPLY, ClientState
from ._spec import command
from .connection import valid_client_name
from .server import help_reply

if TYPE_CHECKING:
    from ._acl import User

__all__ = ["NO_TOUCH", "UnblockedError", "client_info_line", "client_type"]

# A bit of ClientState.flags: CLIENT NO-TOUCH ON (nothing else reads it yet: no LRU).
NO_TOUCH: Final = 1 << 8

_BAD_NAME: Final = "Client names cannot contain spaces, newlines or special characters."
_TYPES: Final = {b"normal": "normal", b"pubsub": "pubsub", b"master": "master",
                 b"replica": "replica", b"slave": "replica"}
_ACL: Final = ("@slow", "@connection")
_ADMIN_ACL: Final = ("@admin", "@slow", "@dangerous", "@connection")

log = logging.getLogger("tensorserve.commands")


class UnblockedError(ReplyError):
    """What a client blocked in a command gets after CLIENT UNBLOCK id ERROR."""

    code = "UNBLOCKED"

    def __init__(self, message: str = "client unblocked via CLIENT UNBLOCK") -> None:
        super().__init__(message)


def client_type(c: ClientState) -> str:
    return "pubsub" if c.subscriptions else "normal"


def _flags(c: ClientState) -> str:
    # redis-server's order (networking.c, getClientInfoString). MONITOR clients are 'O'.
    f = ""
    if c in c.server.monitors:
        f += "O"
    if c.subscriptions:
        f += "P"
    if c.multi is not None:
        f += "x"
    if c.blocked:
        f += "b"
    if c.dirty_cas:
        f += "d"
    if c.close_after_reply:
        f += "c"
    if c.no_evict:
        f += "e"
    if c.flags & NO_TOUCH:
        f += "T"
    return f or "N"


def _fd(c: ClientState) -> int:
    transport = getattr(c, "transport", None)
    if transport is None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (OSError, ValueError):
        return -1


def client_info_line(c: ClientState, current: ClientState | None = None,
                     current_cmd: str = "") -> str:
    """One CLIENT LIST line (without the trailing newline)."""
    now = time.monotonic()
    qbuf = c.input_buffer_size
    omem = c.output_buffer_size
    # The calling client is running ``current_cmd`` now; redis-server shows that name.
    cmd = current_cmd if c is current and current_cmd else c.last_cmd
    multi = len(c.multi) if c.multi is not None else -1
    return (
        f"id={c.id} addr={c.address} laddr={c.local_address} fd={_fd(c)} "
        f"name={c.name.decode('utf-8', 'replace')} age={int(now - c.created)} "
        f"idle={int(now - c.last_interaction)} flags={_flags(c)} db={c.db.id} "
        f"sub={len(c.channels or ())} psub={len(c.patterns or ())} ssub=0 multi={multi} "
        f"qbuf={qbuf} qbuf-free={max(0, 32768 - qbuf)} argv-mem=0 multi-mem=0 rbs=1024 rbp=0 "
        f"obl=0 oll=0 omem={omem} tot-mem={2048 + qbuf + omem} "
        f"events={'rw' if omem else 'r'} cmd={cmd} user={c.user.name} redir=-1 resp={c.resp} "
        f"lib-name={c.lib_name.decode('utf-8', 'replace')} "
        f"lib-ver={c.lib_ver.decode('utf-8', 'replace')}"
    )


def _listing(clients: Iterable[ClientState], me: ClientState, cmd: str) -> Verbatim:
    return Verbatim("".join(client_info_line(x, me, cmd) + "\n" for x in clients).encode())


@command("client|id", 2, "noscript loading stale", group="connection", since="5.0.0",
         summary="Returns the unique client ID of the connection.", complexity="O(1)",
         acl=_ACL)
def client_id(c: ClientState, argv: list[bytes]) -> Any:
    return c.id


@command("client|setname", 3, "noscript loading stale", group="connection", since="2.6.9",
         summary="Sets the connection name.", complexity="O(1)", acl=_ACL)
def client_setname(c: ClientState, argv: list[bytes]) -> Any:
    if not valid_client_name(argv[2]):
        raise ReplyError(_BAD_NAME)
    c.name = argv[2]
    return OK


@command("client|getname", 2, "noscript loading stale", group="connection", since="2.6.9",
         summary="Returns the name of the connection.", complexity="O(1)", acl=_ACL)
def client_getname(c: ClientState, argv: list[bytes]) -> Any:
    return c.name or None


@command("client|setinfo", 4, "noscript loading stale", group="connection", since="7.2.0",
         summary="Sets information specific to the client or connection.", complexity="O(1)",
         acl=_ACL)
def client_setinfo(c: ClientState, argv: list[bytes]) -> Any:
    attr = argv[2].lower()
    if attr not in (b"lib-name", b"lib-ver"):
        raise ReplyError(f"Unrecognized option '{argv[2].decode('utf-8', 'replace')}'")
    if not valid_client_name(argv[3]):
        raise ReplyError(
            f"{argv[2].decode('utf-8', 'replace')} cannot contain spaces, newlines or "
            "special characters."
        )
    if attr == b"lib-name":
        c.lib_name = argv[3]
    else:
        c.lib_ver = argv[3]
    return OK


@command("client|info", 2, "noscript loading stale", group="connection", since="6.2.0",
         summary="Returns information about the connection.", complexity="O(1)", acl=_ACL)
def client_info(c: ClientState, argv: list[bytes]) -> Any:
    return Verbatim((client_info_line(c, c, "client|info") + "\n").encode())


def _parse_type(arg: bytes) -> str:
    t = _TYPES.get(arg.lower())
    if t is None:
        raise ReplyError(f"Unknown client type '{arg.decode('utf-8', 'replace')}'")
    return t


@command("client|list", -2, "admin noscript loading stale", group="connection",
         since="2.4.0", summary="Lists open connections.",
         complexity="O(N) where N is the number of client connections", acl=_ADMIN_ACL)
def client_list(c: ClientState, argv: list[bytes]) -> Any:
    clients: Iterable[ClientState] = c.server.clients.values()
    if len(argv) == 2:
        return _listing(clients, c, "client|list")
    opt = argv[2].lower()
    if opt == b"type" and len(argv) == 4:
        kind = _parse_type(argv[3])
        return _listing([x for x in clients if client_type(x) == kind], c, "client|list")
    if opt == b"id" and len(argv) >= 4:
        ids: list[int] = []
        for a in argv[3:]:
            try:
                n = parse_int(a)
            except ReplyError:
                raise ReplyError("Invalid client ID") from None
            if n <= 0:
                raise ReplyError("Invalid client ID")
            ids.append(n)
        table = c.server.clients
        return _listing([table[i] for i in dict.fromkeys(ids) if i in table], c, "client|list")
    raise ReplyError(SYNTAX)


@command("client|kill", -3, "admin noscript loading stale", group="connection",
         since="2.4.0", summary="Terminates open connections.",
         complexity="O(N) where N is the number of client connections", acl=_ADMIN_ACL)
def client_kill(c: ClientState, argv: list[bytes]) -> Any:
    clients = list(c.server.clients.values())
    if len(argv) == 3:
        # Old form: CLIENT KILL ip:port -> OK or "No such client".
        addr = argv[2].decode("utf-8", "replace")
        for x in clients:
            if x.address == addr:
                _kill(c, x)
                return OK
        raise ReplyError("No such client")
    if len(argv) % 2 == 1:
        raise ReplyError(SYNTAX)
    ids: int | None = None
    kind: str | None = None
    addr_f: str | None = None
    laddr_f: str | None = None
    user: User | None = None
    maxage: int | None = None
    skipme = True
    for i in range(2, len(argv), 2):
        opt, val = argv[i].lower(), argv[i + 1]
        text = val.decode("utf-8", "replace")
        if opt == b"id":
            try:
                ids = parse_int(val)
            except ReplyError:
                ids = 0
            if ids <= 0:
                raise ReplyError("client-id should be greater than 0")
        elif opt == b"type":
            kind = _parse_type(val)
        elif opt == b"addr":
            addr_f = text
        elif opt == b"laddr":
            laddr_f = text
        elif opt == b"user":
            user = c.server.acl.users.get(val.decode("utf-8", "surrogateescape"))
            if user is None:
                raise ReplyError(f"No such user '{text}'")
        elif opt == b"skipme":
            low = val.lower()
            if low not in (b"yes", b"no"):
                raise ReplyError(SYNTAX)
            skipme = low == b"yes"
        elif opt == b"maxage":
            maxage = parse_int(val, NOT_INTEGER)
        else:
            raise ReplyError(SYNTAX)
    now = time.monotonic()
    killed = 0
    for x in clients:
        if (
            (ids is not None and x.id != ids)
            or (kind is not None and client_type(x) != kind)
            or (addr_f is not None and x.address != addr_f)
            or (laddr_f is not None and x.local_address != laddr_f)
            or (user is not None and x.user is not user)
            or (maxage is not None and now - x.created < maxage)
            or (skipme and x is c)
        ):
            continue
        _kill(c, x)
        killed += 1
    return killed


def _kill(me: ClientState, target: ClientState) -> None:
    if target is me:
        me.close_after_reply = True  # answer first, like redis-server's CLOSE_AFTER_REPLY
    else:
        log.info("client %s killed by CLIENT KILL from %s", target.address, me.address)
        target.close()


def _on_off(arg: bytes) -> bool:
    low = arg.lower()
    if low not in (b"on", b"off"):
        raise ReplyError(SYNTAX)
    return low == b"on"


@command("client|no-evict", 3, "admin noscript loading stale", group="connection",
         since="7.0.0", summary="Sets the client eviction mode of the connection.",
         complexity="O(1)", acl=_ADMIN_ACL)
def client_no_evict(c: ClientState, argv: list[bytes]) -> Any:
    c.no_evict = _on_off(argv[2])
    return OK


@command("client|no-touch", 3, "noscript loading stale", group="connection", since="7.2.0",
         summary="Controls whether commands sent by the client affect the LRU/LFU of "
         "accessed keys.", complexity="O(1)", acl=_ACL)
def client_no_touch(c: ClientState, argv: list[bytes]) -> Any:
    if _on_off(argv[2]):
        c.flags |= NO_TOUCH
    else:
        c.flags &= ~NO_TOUCH
    return OK


@command("client|reply", 3, "noscript loading stale", group="connection", since="3.2.0",
         summary="Instructs the server whether to reply to commands.", complexity="O(1)",
         acl=_ACL)
def client_reply(c: ClientState, argv: list[bytes]) -> Any:
    mode = argv[2].lower()
    if mode == b"on":
        c.reply_mode = 0
        return OK
    if mode == b"off":
        c.reply_mode = 1
        return NO_REPLY
    if mode == b"skip":
        # Skips the NEXT command's reply; this one answers nothing either.
        if c.reply_mode == 0:
            c.reply_mode = 2
        return NO_REPLY
    raise ReplyError(SYNTAX)


@command("client|unblock", -3, "admin noscript loading stale", group="connection",
         since="5.0.0", summary="Unblocks a client blocked by a blocking command from a "
         "different connection.", complexity="O(log N) where N is the number of client "
         "connections", acl=_ADMIN_ACL)
def client_unblock(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) > 4:
        raise ReplyError(SYNTAX)
    target_id = parse_int(argv[2], NOT_INTEGER)
    error = False
    if len(argv) == 4:
        reason = argv[3].lower()
        if reason not in (b"timeout", b"error"):
            raise ReplyError("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
        error = reason == b"error"
    target = c.server.clients.get(target_id)
    if target is None or not target.blocked:
        return 0
    waiting = target.blocked_on
    abort = getattr(waiting, "abort", None)
    if abort is None:
        return 0
    # TIMEOUT: the blocking command answers as on its own timeout (it knows its null).
    abort(UnblockedError() if error else None)
    return 1


@command("client|pause", -3, "admin noscript loading stale", group="connection",
         since="3.0.0", summary="Suspends commands processing.", complexity="O(1)",
         acl=_ADMIN_ACL)
def client_pause(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) > 4:
        raise ReplyError(SYNTAX)
    ms = parse_int(argv[2], "timeout is not an integer or out of range")
    if ms < 0:
        raise ReplyError("timeout is negative")
    pause_all = True
    if len(argv) == 4:
        mode = argv[3].lower()
        if mode not in (b"write", b"all"):
            raise ReplyError("CLIENT PAUSE mode must be WRITE or ALL")
        pause_all = mode == b"all"
    server = c.server
    # Dispatch holds other commands (all, or writes only) until then; see execute().
    server.pause_until = max(server.pause_until, time.monotonic() + ms / 1000)
    server.pause_all = pause_all
    return OK


@command("client|unpause", 2, "admin noscript loading stale", group="connection",
         since="6.2.0", summary="Resumes processing commands from paused clients.",
         complexity="O(N) Where N is the number of paused clients", acl=_ADMIN_ACL)
def client_unpause(c: ClientState, argv: list[bytes]) -> Any:
    c.server.pause_until = 0.0
    for other in list(c.server.clients.values()):
        other.resume_postponed()
    return OK


@command("client|getredir", 2, "noscript loading stale", group="connection", since="6.0.0",
         summary="Returns the client ID to which the connection's tracking notifications "
         "are redirected.", complexity="O(1)", acl=_ACL)
def client_getredir(c: ClientState, argv: list[bytes]) -> Any:
    return -1


@command("client|trackinginfo", 2, "noscript loading stale", group="connection",
         since="6.2.0", summary="Returns information about server-assisted client-side "
         "caching for the connection.", complexity="O(1)", acl=_ACL)
def client_trackinginfo(c: ClientState, argv: list[bytes]) -> Any:
    return {b"flags": [b"off"], b"redirect": -1, b"prefixes": []}


_CLIENT_HELP: Final = help_reply("CLIENT", (
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "    * MAXAGE <maxage>",
    "      Kill connections older than the specified age.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "UNPAUSE",
    "    Stop the current client pause, resuming traffic.",
    "PAUSE <timeout> [WRITE|ALL]",
    "    Suspend all, or just write, clients for <timeout> milliseconds.",
    "REPLY (ON|OFF|SKIP)",
    "    Control the replies sent to the current connection.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "SETINFO <option> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "UNBLOCK <clientid> [TIMEOUT|ERROR]",
    "    Unblock the specified blocked client.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "NO-EVICT (ON|OFF)",
    "    Protect current client connection from eviction.",
    "NO-TOUCH (ON|OFF)",
    "    Will not touch LRU/LFU stats when this mode is on.",
))


@command("client|help", 2, "loading stale", group="connection", since="5.0.0",
         summary="Returns helpful text about the different subcommands.", complexity="O(1)",
         acl=_ACL)
def client_help(c: ClientState, argv: list[bytes]) -> Any:
    return _CLIENT_HELP
