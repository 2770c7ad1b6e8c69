"""ACL: SETUSER GETUSER DELUSER USERS LIST WHOAMI CAT LOG GENPASS DRYRUN LOAD SAVE HELP.

Replies and error texts are redis-server 7.2's (acl.c's aclCommand). The users, rules,
log and file live in commands/_acl.py and _acl_registry.py; the checks dispatch runs in
commands/_acl_check.py.
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

from ..errors import NOT_INTEGER, ReplyError
from ..protocol import OK, Raw, encode
from ._acl import (
    CATEGORIES,
    category_commands,
    describe,
    describe_channels,
    describe_commands,
    describe_keys,
    flag_names,
    has_spaces,
)
from ._acl_check import check, denial_text
from ._args import parse_int
from ._client import ClientState
from ._spec import command, lookup
from .server import help_reply

__all__: list[str] = []

_ADMIN: Final = "admin noscript loading stale"
_ADMIN_ACL: Final = ("@admin", "@slow", "@dangerous")
_PLAIN: Final = "noscript loading stale"
_NO_FILE: Final = (
    "This Redis instance is not configured to use an ACL file. You may want to specify "
    "users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have "
    "a Redis configuration file set) in order to store users in the Redis configuration.")
_GENPASS_MAX_BITS: Final = 4096


def _g(**kw: Any) -> dict[str, Any]:
    return {"group": "server", "since": "6.0.0", **kw}


def _text(arg: bytes) -> str:
    return arg.decode("utf-8", "surrogateescape")


def _syntax(argv: list[bytes]) -> ReplyError:
    """addReplySubcommandSyntaxError."""
    return ReplyError(f"unknown subcommand or wrong number of arguments for "
                      f"'{_text(argv[1])[:128]}'. Try {_text(argv[0]).upper()} HELP.")


def _set_of(items: list[str], resp: int) -> Raw:
    """An ordered RESP3 set (``~``; an array in RESP2): a Python set would lose the order."""
    out = [(b"~%d\r\n" if resp == 3 else b"*%d\r\n") % len(items)]
    for item in items:
        encode(item.encode("utf-8", "surrogateescape"), out, resp)
    return Raw(b"".join(out))


@command("acl|setuser", -3, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Creates and modifies an ACL user and its rules.",
              complexity="O(N). Where N is the number of rules provided."))
def acl_setuser(c: ClientState, argv: list[bytes]) -> Any:
    if has_spaces(argv[2]):
        raise ReplyError("Usernames can't contain spaces or null characters")
    error = c.server.acl.setuser(c, _text(argv[2]), argv[3:])
    if error is not None:
        raise ReplyError(error)
    return OK


@command("acl|getuser", 3, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Lists the ACL rules of a user.",
              complexity="O(N). Where N is the number of password, command and pattern "
                         "rules that the user has."))
def acl_getuser(c: ClientState, argv: list[bytes]) -> Any:
    u = c.server.acl.users.get(_text(argv[2]))
    if u is None:
        return None
    return {
        b"flags": _set_of(flag_names(u), c.resp),
        b"passwords": [p.encode() for p in u.passwords],
        b"commands": describe_commands(u).encode("utf-8", "surrogateescape"),
        b"keys": describe_keys(u).encode("utf-8", "surrogateescape"),
        b"channels": describe_channels(u).encode("utf-8", "surrogateescape"),
        b"selectors": [],
    }


@command("acl|deluser", -3, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Deletes ACL users, and terminates their connections.",
              complexity="O(1) amortized time considering the typical user."))
def acl_deluser(c: ClientState, argv: list[bytes]) -> Any:
    names = [_text(a) for a in argv[2:]]
    if "default" in names:
        raise ReplyError("The 'default' user cannot be removed")
    return c.server.acl.deluser(c, names)


@command("acl|users", 2, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Lists all ACL users.", complexity="O(N). Where N is the number of "
                                                         "configured users."))
def acl_users(c: ClientState, argv: list[bytes]) -> Any:
    return [u.name.encode("utf-8", "surrogateescape") for u in c.server.acl.sorted_users()]


@command("acl|list", 2, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Dumps the effective rules in ACL file format.",
              complexity="O(N). Where N is the number of configured users."))
def acl_list(c: ClientState, argv: list[bytes]) -> Any:
    return [f"user {u.name} {describe(u)}".encode("utf-8", "surrogateescape")
            for u in c.server.acl.sorted_users()]


@command("acl|whoami", 2, _PLAIN, acl=("@slow",),
         **_g(summary="Returns the authenticated username of the current connection.",
              complexity="O(1)"))
def acl_whoami(c: ClientState, argv: list[bytes]) -> Any:
    return c.user.name.encode("utf-8", "surrogateescape")


@command("acl|cat", -2, _PLAIN, acl=("@slow",),
         **_g(summary="Lists the ACL categories, or the commands inside a category.",
              complexity="O(1) since the categories and commands are a fixed set."))
def acl_cat(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) == 2:
        return [cat.encode() for cat in CATEGORIES]
    if len(argv) > 3:
        raise _syntax(argv)
    specs = category_commands(_text(argv[2]))
    if specs is None:
        raise ReplyError(f"Unknown category '{_text(argv[2])[:128]}'")
    return [s.name.encode() for s in specs]


@command("acl|genpass", -2, _PLAIN, acl=("@slow",),
         **_g(summary="Generates a pseudorandom, secure password that can be used to "
                      "identify ACL users.", complexity="O(1)"))
def acl_genpass(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise _syntax(argv)
    bits = parse_int(argv[2], NOT_INTEGER) if len(argv) == 3 else 256
    if not 0 < bits <= _GENPASS_MAX_BITS:
        raise ReplyError("ACL GENPASS argument must be the number of bits for the output "
                         f"password, a positive number up to {_GENPASS_MAX_BITS}")
    chars = (bits + 3) // 4
    return os.urandom((chars + 1) // 2).hex()[:chars].encode()


@command("acl|log", -2, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Lists recent security events generated due to commands rejected "
                      "by ACL rules.", complexity="O(N) with N being the number of "
                                                  "entries shown."))
def acl_log(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) > 3:
        raise _syntax(argv)
    acl = c.server.acl
    count = 10
    if len(argv) == 3:
        if argv[2].lower() == b"reset":
            acl.log.clear()
            return OK
        count = max(parse_int(argv[2], NOT_INTEGER), 0)
    now = int(time.time() * 1000)
    return [entry.reply(now) for entry in list(acl.log)[:count]]


@command("acl|dryrun", -4, _ADMIN, acl=_ADMIN_ACL,
         **_g(since="7.0.0", summary="Simulates the execution of a command by a user, "
                                     "without executing the command.", complexity="O(1)."))
def acl_dryrun(c: ClientState, argv: list[bytes]) -> Any:
    user = c.server.acl.users.get(_text(argv[2]))
    if user is None:
        raise ReplyError(f"User '{_text(argv[2])}' not found")
    cmd = argv[3:]
    spec = lookup(cmd[0])
    if spec is not None and spec.subcommands is not None and len(cmd) >= 2:
        spec = spec.subcommands.get(cmd[1].lower())
    if spec is None:
        raise ReplyError(f"Command '{_text(cmd[0])}' not found")
    ar = spec.arity
    if (ar > 0 and ar != len(cmd)) or len(cmd) < -ar:
        raise ReplyError(f"wrong number of arguments for '{spec.name}' command")
    result = check(user, spec, cmd)
    if result is not None:
        return denial_text(result[0], user, spec, result[1], verbose=True).encode(
            "utf-8", "surrogateescape")
    return OK


@command("acl|load", 2, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Reloads the rules from the configured ACL file.",
              complexity="O(N). Where N is the number of configured users."))
def acl_load(c: ClientState, argv: list[bytes]) -> Any:
    acl = c.server.acl
    if not c.server.config.aclfile:
        raise ReplyError(_NO_FILE)
    errors = acl.load_file(c)
    if errors is not None:
        raise ReplyError(errors)
    return OK


@command("acl|save", 2, _ADMIN, acl=_ADMIN_ACL,
         **_g(summary="Saves the effective ACL rules in the configured ACL file.",
              complexity="O(N). Where N is the number of configured users."))
def acl_save(c: ClientState, argv: list[bytes]) -> Any:
    if not c.server.config.aclfile:
        raise ReplyError(_NO_FILE)
    if not c.server.acl.save_file():
        raise ReplyError("There was an error trying to save the ACLs. Please check the "
                         "server logs for more information")
    return OK


_HELP: Final = help_reply("ACL", (
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the "
    "command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
))


@command("acl|help", 2, "loading stale", acl=("@slow",),
         **_g(summary="Returns helpful text about the different subcommands.",
              complexity="O(1)"))
def acl_help(c: ClientState, argv: list[bytes]) -> Any:
    return _HELP
