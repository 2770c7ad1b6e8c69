"""The ACL users table, authentication, the ACL log and the ACL file (redis-server 7.2).

One :class:`Acl` per server (``ServerState.acl``). The ``default`` user is one object for
the server's life (its rules are copied into it, as acl.c's ACLCopyUser), and so is every
other user while it exists: ACL SETUSER and ACL LOAD change users in place, so clients
authenticated as a user follow the change at once. A deleted user's clients are
disconnected (ACLFreeUserAndKillClients); a pub/sub client whose channels a change
revokes is disconnected too (ACLKillPubsubClientsIfNeeded).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ._acl import RuleError, User, apply_rule, describe, has_spaces, merge_selectors

if TYPE_CHECKING:
    from ._client import ClientState
    from ._server_state import ServerState

__all__ = ["Acl", "AclFileError", "LogEntry"]

log = logging.getLogger("tensorserve.acl")

# Entries this close in time (ms) for the same thing are one entry with a count.
_GROUPING_MS: Final = 60000
_LOAD_FAILED: Final = ("WARNING: ACL errors detected, no change to the previously active "
                       "ACL rules was performed")


class AclFileError(Exception):
    """The ACL file could not be loaded at start (the server does not start)."""


@dataclass(slots=True)
class LogEntry:
    """One ACL LOG entry (acl.c's ACLLogEntry)."""

    count: int
    reason: str  # command | key | channel | auth
    context: str  # toplevel | multi | lua
    object: bytes
    username: str
    ctime: int  # ms, last update
    cinfo: str
    entry_id: int
    created: int  # ms

    def reply(self, now_ms: int) -> dict[bytes, Any]:
        return {
            b"count": self.count,
            b"reason": self.reason.encode(),
            b"context": self.context.encode(),
            b"object": self.object,
            b"username": self.username.encode("utf-8", "surrogateescape"),
            b"age-seconds": (now_ms - self.ctime) / 1000,
            b"client-info": self.cinfo.encode("utf-8", "surrogateescape"),
            b"entry-id": self.entry_id,
            b"timestamp-created": self.created,
            b"timestamp-last-updated": self.ctime,
        }


def _name(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class Acl:
    """Users by name, the default user, the ACL log."""

    def __init__(self, server: ServerState) -> None:
        self.server = server
        self.default = self._fresh_default()
        self.users: dict[str, User] = {"default": self.default}
        # Internal clients' user (the log's replay): every right, in no table.
        self.internal = self._fresh_default()
        self.log: deque[LogEntry] = deque()
        self.log_next_id = 0
        if server.config.requirepass:
            self.set_default_password(server.config.requirepass)

    # -- users ------------------------------------------------------------------------------
    @property
    def pubsub_all(self) -> bool:
        return self.server.config.acl_pubsub_default == "allchannels"

    def new_user(self, name: str) -> User:
        return User(name, allchannels=self.pubsub_all)

    def _fresh_default(self) -> User:
        """ACLCreateDefaultUser: everything allowed, on, no password."""
        u = User("default")
        for rule in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
            apply_rule(u, rule)
        return u

    def sorted_users(self) -> list[User]:
        """Users in Redis's order (a radix tree: byte order of the names)."""
        return [self.users[n] for n in sorted(self.users, key=lambda n: n.encode(
            "utf-8", "surrogateescape"))]

    def setuser(self, current: ClientState | None, name: str, rules: list[bytes]) -> str | None:
        """ACLStringSetUser: apply every rule to a copy, then to the user (created if
        new) at once; the error text, or None. Nothing changes on an error."""
        merged, bad = merge_selectors(rules)
        if bad >= 0:
            return ("Unmatched parenthesis in acl selector starting at "
                    f"'{_name(rules[bad])}'.")
        user = self.users.get(name)
        temp = user.copy() if user is not None else self.new_user(name)
        for op in merged:
            try:
                apply_rule(temp, op, self.pubsub_all)
            except RuleError as e:
                return f"Error in ACL SETUSER modifier '{_name(op)}': {e.message}"
        if user is None:
            self.users[name] = temp
            return None
        self._kill_pubsub_if_needed(temp, user, current)
        user.assign(temp)
        if user is self.default:
            self.default_changed()
        return None

    def deluser(self, current: ClientState | None, names: list[str]) -> int:
        deleted = 0
        for name in names:
            user = self.users.pop(name, None)
            if user is not None:
                self._kill_clients(user, current)
                deleted += 1
        return deleted

    def set_default_password(self, password: str) -> None:
        """requirepass: the default user's only password (ACLUpdateDefaultUserPassword);
        empty makes it nopass."""
        apply_rule(self.default, b"resetpass")
        if password:
            apply_rule(self.default, b">" + password.encode("utf-8", "surrogateescape"))
        else:
            apply_rule(self.default, b"nopass")
        self.default_changed()

    def default_changed(self) -> None:
        """Once the default user is on and nopass, a client that has not authenticated
        yet (its user is default) needs no AUTH (redis-server's authRequired)."""
        if self.default.open:
            for c in self.server.clients.values():
                if not c.authenticated:
                    c.set_authenticated(True)

    def authenticate(self, c: ClientState, username: bytes, password: bytes,
                     argv0: bytes) -> bool:
        """AUTH / HELLO AUTH: on success ``c`` runs as the user; a failure is logged."""
        name = _name(username)
        user = self.users.get(name)
        if user is not None and user.enabled and user.check_password(password):
            c.user = user
            c.set_authenticated(True)
            return True
        context = "multi" if c.multi is not None else "toplevel"
        self.add_log(c, "auth", context, argv0, name, argv0.decode("latin-1").lower())
        return False

    # -- following changes ------------------------------------------------------------------
    def _disconnect(self, c: ClientState, current: ClientState | None, why: str) -> None:
        log.info("client %s disconnected: %s", c.address, why)
        if c is current:
            c.close_after_reply = True  # answer first, as CLIENT_CLOSE_AFTER_COMMAND
        else:
            c.close()

    def _kill_clients(self, user: User, current: ClientState | None) -> None:
        """ACLFreeUserAndKillClients: back to an unauthenticated default, then closed."""
        for c in list(self.server.clients.values()):
            if c.user is user:
                c.user = self.default
                c.set_authenticated(False)
                self._disconnect(c, current, f"its ACL user '{user.name}' was deleted")

    def _kill_pubsub_if_needed(self, new: User, original: User,
                               current: ClientState | None) -> None:
        """Disconnect ``original``'s subscribers whose channels ``new`` no longer allows."""
        server = self.server
        if not (server.channels or server.patterns or server.shard_channels):
            return
        if new.allchannels:
            return
        if not original.allchannels and all(p in new.channels for p in original.channels):
            return
        for c in list(server.clients.values()):
            if c.user is not original or not c.subscriptions:
                continue
            if any(p not in new.channels for p in c.patterns or ()) or any(
                not new.channel_allowed(ch, False)
                for ch in (*(c.channels or ()), *(c.shards or ()))
            ):
                self._disconnect(c, current, f"ACL user '{original.name}' lost access to "
                                 "channels it is subscribed to")

    # -- the ACL log ------------------------------------------------------------------------
    def add_log(self, c: ClientState, reason: str, context: str, obj: bytes,
                username: str | None = None, cmd: str = "") -> None:
        """addACLLogEntry: a new entry, or a recent similar one counted again."""
        from .client import client_info_line  # client.py imports dispatch

        stats = self.server.stats  # INFO's acl_access_denied_<reason>: every denial
        name_ = f"acl_access_denied_{'cmd' if reason == 'command' else reason}"
        setattr(stats, name_, getattr(stats, name_) + 1)
        now = int(time.time() * 1000)
        real = getattr(c, "caller", None)  # a script's commands: the client that ran it
        cinfo = client_info_line(c, c, cmd) if real is None else client_info_line(real)
        name = c.user.name if username is None else username
        for i, entry in enumerate(self.log):
            if i >= 10:
                break
            if (entry.reason == reason and entry.context == context
                    and abs(entry.ctime - now) <= _GROUPING_MS
                    and entry.object == obj and entry.username == name):
                del self.log[i]
                self.log.appendleft(entry)
                entry.cinfo = cinfo
                entry.ctime = now
                entry.count += 1
                return
        self.log.appendleft(LogEntry(1, reason, context, obj, name, now, cinfo,
                                     self.log_next_id, now))
        self.log_next_id += 1
        limit = max(self.server.config.acllog_max_len, 0)
        while len(self.log) > limit:
            self.log.pop()

    # -- the ACL file -----------------------------------------------------------------------
    def load_at_start(self) -> None:
        """ACLLoadUsersAtStartup: with an aclfile, load it or refuse to start."""
        if self.server.config.aclfile:
            errors = self.load_file(None)
            if errors is not None:
                raise AclFileError(f"Aborting startup because of ACL errors: {errors}")

    def load_file(self, current: ClientState | None) -> str | None:
        """ACL LOAD (ACLLoadFromFile): every line is checked first; any error leaves the
        users as they were and returns the errors, one line as redis-server words them."""
        fname = self.server.config.aclfile
        try:
            # Relative to dir, as redis-server (which works there; we join: see
            # server/_process.private_workdir).
            with open(os.path.join(self.server.config.dir, fname), "rb") as f:
                data = f.read()
        except OSError as e:
            return f"Error loading ACLs, opening file '{fname}': {e.strerror}"
        errors: list[str] = []
        users: dict[str, User] = {}
        for lineno, raw in enumerate(data.split(b"\n"), 1):
            line = raw.strip(b" \t\r\n")
            if not line:
                continue
            argv = line.split(b" ")
            if argv[0] != b"user" or len(argv) < 2:
                errors.append(f"{fname}:{lineno} should start with user keyword followed "
                              "by the username. ")
                continue
            if has_spaces(argv[1]):
                errors.append(f"'{fname}:{lineno}: username '{_name(argv[1])}' contains "
                              "invalid characters. ")
                continue
            name = _name(argv[1])
            if name in users:
                errors.append(f"WARNING: Duplicate user '{name}' found on line {lineno}. ")
                continue
            user = users[name] = self.new_user(name)
            rules, bad = merge_selectors(argv[2:])
            if bad >= 0:
                errors.append(f"{fname}:{lineno}: Unmatched parenthesis in selector "
                              "definition.")
            syntax_error = False
            for op in rules:
                op = op.strip(b"\t\r\n")
                try:
                    apply_rule(user, op, self.pubsub_all)
                except RuleError as e:
                    if e.unknown:
                        errors.append(f"{fname}:{lineno}: Error in applying operation "
                                      f"'{_name(op)}': {e.message}. ")
                    elif not syntax_error:
                        errors.append(f"{fname}:{lineno}: {e.message}. ")
                        syntax_error = True
        if errors:
            return "".join(errors) + _LOAD_FAILED
        self._install(users, current)
        return None

    def _install(self, users: dict[str, User], current: ClientState | None) -> None:
        """Make ``users`` the table: existing users change in place, users that are gone
        lose their clients (Redis 7.2 disconnects no one else)."""
        new_default = users.pop("default", None) or self._fresh_default()
        table = {"default": self.default}
        self._kill_pubsub_if_needed(new_default, self.default, current)
        self.default.assign(new_default)
        for name, new in users.items():
            old = self.users.get(name)
            if old is not None:
                self._kill_pubsub_if_needed(new, old, current)
                old.assign(new)
                table[name] = old
            else:
                table[name] = new
        for name, old in self.users.items():
            if name not in table:
                self._kill_clients(old, current)
        self.users = table
        self.default_changed()

    def save_file(self) -> bool:
        """ACL SAVE (ACLSaveToFile): a temporary file, fsynced, renamed over the file."""
        fname = os.path.join(self.server.config.dir, self.server.config.aclfile)
        text = "".join(f"user {u.name} {describe(u)}\n" for u in self.sorted_users())
        tmp = f"{fname}.tmp-{os.getpid()}-{int(time.time() * 1000)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, text.encode("utf-8", "surrogateescape"))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, fname)
            dirfd = os.open(os.path.dirname(os.path.abspath(fname)), os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
        except OSError as e:
            log.warning("Writing ACL file for ACL SAVE: %s", e.strerror)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            return False
        return True
