"""ACL users and their rules, as redis-server 7.2's acl.c: applying, describing, categories.

A :class:`User` holds what Redis keeps in a user and its root selector: on/off, nopass,
SHA-256 password hashes, the set of commands it may run (full names such as ``get`` or
``config|set``, Redis's command bitmap), first-arg exceptions (``+select|0``), the ordered
command rules it was given (7.2 describes users with them), key patterns with read/write
flags and channel patterns. Rules are applied with :func:`apply_rule`, which raises
:class:`RuleError` carrying ``ACLSetUserStringError``'s text. Selectors (parenthesised
rule sets) are not supported: they are refused with a clear error.

Users are changed in place (``User.assign``), so every client authenticated as a user
follows a change at once; ``fast_ok`` and ``unrestricted`` are recomputed on each change
and read by dispatch (see commands/_acl_check.py).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Final

from ._glob import glob_match
from ._spec import COMMANDS

if TYPE_CHECKING:
    from ._spec import CommandSpec

__all__ = [
    "CATEGORIES",
    "READ",
    "WRITE",
    "RuleError",
    "User",
    "apply_rule",
    "category_commands",
    "describe",
    "describe_commands",
    "hash_password",
    "lookup_command",
    "merge_selectors",
    "spec_categories",
]

log = logging.getLogger("tensorserve.acl")

# Key pattern permissions (ACL_READ_PERMISSION / ACL_WRITE_PERMISSION).
READ: Final = 1
WRITE: Final = 2
_ALL_PERMS: Final = READ | WRITE

# redis-server's categories in its order (ACL CAT), then tensorserve's own: every AI.*
# command is in @ai; commands that install or remove code (models, scripts, backends)
# are in @ai-store, the ones that run it in @ai-run.
CATEGORIES: Final = (
    "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
    "hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
    "dangerous", "connection", "transaction", "scripting", "ai", "ai-store", "ai-run",
)
_CATEGORY_SET: Final = frozenset(CATEGORIES)

# ACLSetUserStringError's texts, by the errno acl.c sets.
_UNKNOWN: Final = "Unknown command or category name in ACL"
_SYNTAX: Final = "Syntax error"
_KEYS_AFTER_ALL: Final = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does "
    "not have any effect. Try 'resetkeys' to start with an empty list of patterns")
_CHANNELS_AFTER_ALL: Final = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and "
    "does not have any effect. Try 'resetchannels' to start with an empty list of channels")
_NO_SUCH_PASSWORD: Final = "The password you are trying to remove from the user does not exist"
_BAD_HASH: Final = ("The password hash must be exactly 64 characters and contain only "
                    "lowercase hexadecimal characters")
_FIRSTARG_OF_SUB: Final = "Allowing first-arg of a subcommand is not supported"
# Ours: selectors are not implemented (see docs/architecture.md, "ACL").
_SELECTORS: Final = "Selectors are not supported by this server"
_SPACES: Final = frozenset(b" \t\n\v\f\r\x00")
_HEX: Final = frozenset(b"0123456789abcdef")


class RuleError(ValueError):
    """A rule ACL SETUSER / the ACL file cannot apply; ``unknown`` for ENOENT (an unknown
    command or category), which the ACL file reports with the rule itself."""

    def __init__(self, message: str, unknown: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unknown = unknown


def hash_password(password: bytes) -> str:
    """The SHA-256 hex digest Redis stores (and ``#<hash>`` / ACL GETUSER show)."""
    return hashlib.sha256(password).hexdigest()


def has_spaces(value: bytes) -> bool:
    """ACLStringHasSpaces: whitespace or NUL (not allowed in names and patterns)."""
    return not _SPACES.isdisjoint(value)


class User:
    """One ACL user (with its root selector folded in). Mutated on the loop thread only."""

    __slots__ = (
        "allchannels", "allcommands", "allkeys", "allowed", "channels", "enabled",
        "fast_ok", "firstargs", "future", "keys", "name", "nopass", "passwords", "rules",
        "sanitize", "unrestricted",
    )

    def __init__(self, name: str, allchannels: bool = False) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        self.sanitize = ""  # "", "sanitize-payload" or "skip-sanitize-payload"
        self.passwords: list[str] = []
        self.allcommands = False  # SELECTOR_FLAG_ALLCOMMANDS: skip the command check
        self.future = False  # +@all was applied last (Redis's reserved command bit)
        self.allowed: set[str] = set()
        self.firstargs: dict[str, list[str]] = {}
        self.rules: list[str] = []  # "+get", "-@write" ... in the order given (7.2)
        self.allkeys = False
        self.keys: dict[bytes, int] = {}  # pattern -> READ | WRITE, in order
        self.allchannels = allchannels
        self.channels: dict[bytes, None] = {}
        self.fast_ok = False
        self.unrestricted = False
        self.refresh()

    def refresh(self) -> None:
        """Recompute what dispatch reads: ``fast_ok`` (every command and key allowed: the
        inlined fast path may run its commands unchecked, it never runs pub/sub ones) and
        ``unrestricted`` (nothing to check at all)."""
        self.fast_ok = self.allcommands and self.allkeys
        self.unrestricted = self.fast_ok and self.allchannels

    def copy(self) -> User:
        other = User.__new__(User)
        other.name = self.name
        other.assign(self)
        return other

    def assign(self, other: User) -> None:
        """Take ``other``'s flags, passwords and permissions (ACLCopyUser), keeping the
        name and the object: clients authenticated as this user follow at once."""
        self.enabled = other.enabled
        self.nopass = other.nopass
        self.sanitize = other.sanitize
        self.passwords = list(other.passwords)
        self.allcommands = other.allcommands
        self.future = other.future
        self.allowed = set(other.allowed)
        self.firstargs = {k: list(v) for k, v in other.firstargs.items()}
        self.rules = list(other.rules)
        self.allkeys = other.allkeys
        self.keys = dict(other.keys)
        self.allchannels = other.allchannels
        self.channels = dict(other.channels)
        self.refresh()

    def check_password(self, password: bytes) -> bool:
        """Every stored hash is compared (in constant time) whatever matched first."""
        if self.nopass:
            return True
        hashed = hash_password(password)
        ok = False
        for stored in self.passwords:
            ok |= hmac.compare_digest(hashed, stored)
        return ok

    @property
    def open(self) -> bool:
        """Enabled and needing no password: new connections start authenticated as it."""
        return self.enabled and self.nopass

    def key_allowed(self, key: bytes, flags: int) -> bool:
        """ACLSelectorCheckKey: some pattern with at least ``flags`` matches ``key``."""
        if self.allkeys:
            return True
        for pattern, perms in self.keys.items():
            if perms & flags == flags and glob_match(pattern, key):
                return True
        return False

    def channel_allowed(self, channel: bytes, is_pattern: bool) -> bool:
        """A PSUBSCRIBE pattern must equal one of the user's patterns; a channel matches
        them as globs (ACLCheckChannelAgainstList)."""
        if self.allchannels:
            return True
        if is_pattern:
            return channel in self.channels
        return any(glob_match(p, channel) for p in self.channels)

    def may_run(self, spec: CommandSpec, argv: list[bytes]) -> bool:
        """The command part of ACLSelectorCheckCmd (keys and channels are checked apart)."""
        if self.allcommands or spec.no_auth or spec.name in self.allowed:
            return True
        allowed_args = self.firstargs.get(spec.name)
        if not allowed_args or len(argv) < 2:
            return False
        first = argv[1].decode("utf-8", "surrogateescape").lower()
        return any(first == a.lower() for a in allowed_args)


# -- the command table as ACL rules see it ------------------------------------------------
_INDEX: dict[str, list[CommandSpec]] = {}
_ALL_NAMES: set[str] = set()


_SPEC_CATEGORIES: dict[str, frozenset[str]] = {}


def spec_categories(spec: CommandSpec) -> frozenset[str]:
    """A command's categories without the ``@``: COMMAND INFO's (containers: @slow)."""
    cats = _SPEC_CATEGORIES.get(spec.name)
    if cats is None:
        if spec.subcommands is not None:
            cats = frozenset(("slow",))
        else:
            from .introspection import acl_categories  # the derivation COMMAND INFO uses

            cats = frozenset(c.lstrip("@").lower() for c in acl_categories(spec))
        _SPEC_CATEGORIES[spec.name] = cats
    return cats


def _index() -> dict[str, list[CommandSpec]]:
    """Category -> its commands (subcommands included, in table order), built on first
    use: every family has registered its commands by then."""
    if not _INDEX:
        for cat in CATEGORIES:
            _INDEX[cat] = []
        for spec in COMMANDS.values():
            for s in (spec, *(spec.subcommands or {}).values()):
                _ALL_NAMES.add(s.name)
                for cat in spec_categories(s):
                    if cat in _INDEX:
                        _INDEX[cat].append(s)
    return _INDEX


def category_commands(category: str) -> list[CommandSpec] | None:
    """ACL CAT <category>: its commands, or None for an unknown category."""
    return _index().get(category.lower())


def lookup_command(name: str) -> CommandSpec | None:
    """ACLLookupCommand: ``get`` or ``container|sub`` (case-insensitive), else None."""
    parts = name.lower().split("|")
    if len(parts) > 2:
        return None
    spec = COMMANDS.get(parts[0])
    if spec is None or len(parts) == 1:
        return spec
    if spec.subcommands is None:
        return None
    return spec.subcommands.get(parts[1].encode("utf-8", "surrogateescape"))


# -- applying rules -------------------------------------------------------------------------
def apply_rule(u: User, op: bytes, pubsub_all: bool = False) -> None:
    """ACLSetUser: apply one rule to ``u`` (``pubsub_all``: acl-pubsub-default is
    allchannels, which ``reset`` restores). Raises RuleError; ``u`` may then be half
    changed, so callers apply rules to a copy."""
    if not op:
        return  # an empty rule is a no-op
    low = op.lower()
    if low == b"on":
        u.enabled = True
    elif low == b"off":
        u.enabled = False
    elif low == b"skip-sanitize-payload":
        u.sanitize = "skip-sanitize-payload"
    elif low == b"sanitize-payload":
        u.sanitize = "sanitize-payload"
    elif low == b"nopass":
        u.nopass = True
        u.passwords.clear()
    elif low == b"resetpass":
        u.nopass = False
        u.passwords.clear()
    elif op[:1] in (b">", b"#"):
        hashed = hash_password(op[1:]) if op[:1] == b">" else _valid_hash(op[1:])
        if hashed not in u.passwords:
            u.passwords.append(hashed)
        u.nopass = False
    elif op[:1] in (b"<", b"!"):
        hashed = hash_password(op[1:]) if op[:1] == b"<" else _valid_hash(op[1:])
        if hashed not in u.passwords:
            raise RuleError(_NO_SUCH_PASSWORD)
        u.passwords.remove(hashed)
    elif op[:1] == b"(" and op[-1:] == b")":
        raise RuleError(_SELECTORS)
    elif low == b"clearselectors":
        pass  # there are none to clear
    elif low == b"reset":
        for rule in (b"resetpass", b"resetkeys", b"resetchannels", b"off",
                     b"sanitize-payload", b"-@all"):
            apply_rule(u, rule)
        if pubsub_all:
            apply_rule(u, b"allchannels")
    else:
        _selector_rule(u, op, low)
    u.refresh()


def _valid_hash(value: bytes) -> str:
    if len(value) != 64 or not _HEX.issuperset(value):
        raise RuleError(_BAD_HASH)
    return value.decode("ascii")


def _selector_rule(u: User, op: bytes, low: bytes) -> None:
    """ACLSetSelector: keys, channels and commands."""
    if low in (b"allkeys", b"~*"):
        u.allkeys = True
        u.keys.clear()
    elif low == b"resetkeys":
        u.allkeys = False
        u.keys.clear()
    elif low in (b"allchannels", b"&*"):
        u.allchannels = True
        u.channels.clear()
    elif low == b"resetchannels":
        u.allchannels = False
        u.channels.clear()
    elif low in (b"allcommands", b"+@all"):
        _index()
        u.allowed = set(_ALL_NAMES)
        u.allcommands = u.future = True
        u.rules.clear()
        u.firstargs.clear()
    elif low in (b"nocommands", b"-@all"):
        u.allowed = set()
        u.allcommands = u.future = False
        u.rules.clear()
        u.firstargs.clear()
    elif op[:1] in (b"~", b"%"):
        _key_pattern(u, op)
    elif op[:1] == b"&":
        if u.allchannels:
            raise RuleError(_CHANNELS_AFTER_ALL)
        if has_spaces(op[1:]):
            raise RuleError(_SYNTAX)
        u.channels[op[1:]] = None
    elif op[:2] in (b"+@", b"-@"):
        category = low[2:].decode("utf-8", "surrogateescape")
        if category not in _CATEGORY_SET:
            raise RuleError(_UNKNOWN, unknown=True)
        allow = op[:1] == b"+"
        _update_rules(u, "@" + category, allow)
        for spec in _index()[category]:
            _change_perm(u, spec, allow)
    elif op[:1] == b"+":
        _allow_command(u, op[1:].decode("utf-8", "surrogateescape"))
    elif op[:1] == b"-":
        denied = lookup_command(op[1:].decode("utf-8", "surrogateescape"))
        if denied is None:
            raise RuleError(_UNKNOWN, unknown=True)
        _change_perm(u, denied, False)
        _update_rules(u, denied.name, False)
    else:
        raise RuleError(_SYNTAX)


def _key_pattern(u: User, op: bytes) -> None:
    if u.allkeys:
        raise RuleError(_KEYS_AFTER_ALL)
    flags = 0
    offset = 1
    if op[:1] == b"%":
        while offset < len(op):
            ch = op[offset:offset + 1].upper()
            if ch == b"R" and not flags & READ:
                flags |= READ
            elif ch == b"W" and not flags & WRITE:
                flags |= WRITE
            elif ch == b"~" and flags:
                offset += 1
                break
            else:
                raise RuleError(_SYNTAX)
            offset += 1
        if not flags:  # a bare "%": redis-server would store a pattern it cannot describe
            raise RuleError(_SYNTAX)
    else:
        flags = _ALL_PERMS
    pattern = op[offset:]
    if has_spaces(pattern):
        raise RuleError(_SYNTAX)
    u.keys[pattern] = u.keys.get(pattern, 0) | flags


def _allow_command(u: User, name: str) -> None:
    if "|" not in name:
        spec = lookup_command(name)
        if spec is None:
            raise RuleError(_UNKNOWN, unknown=True)
        _change_perm(u, spec, True)
        _update_rules(u, spec.name, True)
        return
    base, _, first = name.rpartition("|")
    spec = lookup_command(base)
    if spec is None:
        raise RuleError(_UNKNOWN, unknown=True)
    if "|" in spec.name:
        raise RuleError(_FIRSTARG_OF_SUB)
    if not first:
        raise RuleError(_SYNTAX)
    if spec.subcommands is not None:
        sub = lookup_command(name)
        if sub is None:
            raise RuleError(_UNKNOWN, unknown=True)
        _change_perm(u, sub, True)
    else:
        log.warning("Deprecation warning: Allowing a first arg of an otherwise blocked "
                    "command is a misuse of ACL and may get disabled in the future "
                    "(offender: +%s)", name)
        allowed = u.firstargs.setdefault(spec.name, [])
        if first.lower() not in (a.lower() for a in allowed):
            allowed.append(first)
    _update_rules(u, name, True)


def _change_perm(u: User, spec: CommandSpec, allow: bool) -> None:
    """ACLChangeSelectorPerm: a container's permission covers its subcommands."""
    names = [spec.name, *(s.name for s in (spec.subcommands or {}).values())]
    u.firstargs.pop(spec.name, None)
    if allow:
        u.allowed.update(names)
    else:
        u.allowed.difference_update(names)
        u.allcommands = False


def _update_rules(u: User, rule: str, allow: bool) -> None:
    """ACLUpdateCommandRules: drop the same rule (and its subcommands' rules), append."""
    rule = rule.lower()
    prefix = rule + "|"
    u.rules = [r for r in u.rules if r[1:] != rule and not r[1:].startswith(prefix)]
    u.rules.append(("+" if allow else "-") + rule)


def merge_selectors(rules: list[bytes]) -> tuple[list[bytes], int]:
    """ACLMergeSelectorArguments: a selector spread over several arguments becomes one
    rule. Returns the rules and -1, or ([], index) of an unmatched ``(``."""
    merged: list[bytes] = []
    start = -1
    current = b""
    for i, op in enumerate(rules):
        if start == -1 and op[:1] == b"(" and op[-1:] != b")":
            start, current = i, op
            continue
        if start != -1:
            current += b" " + op
            if op[-1:] == b")":
                merged.append(current)
                start = -1
            continue
        merged.append(op)
    if start != -1:
        return [], start
    return merged, -1


# -- describing -----------------------------------------------------------------------------
def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _pattern(pattern: bytes, flags: int) -> str:
    prefix = {_ALL_PERMS: "~", READ: "%R~", WRITE: "%W~"}[flags]
    return prefix + _text(pattern)


def describe_keys(u: User) -> str:
    return "~*" if u.allkeys else " ".join(_pattern(p, f) for p, f in u.keys.items())


def describe_channels(u: User) -> str:
    return "&*" if u.allchannels else " ".join("&" + _text(p) for p in u.channels)


def describe_commands(u: User) -> str:
    """ACLDescribeSelectorCommandRules: +@all or -@all, then the rules in order."""
    return " ".join(["+@all" if u.future else "-@all", *u.rules])


def flag_names(u: User) -> list[str]:
    """The user's flags in ACLUserFlags' order."""
    flags = ["on" if u.enabled else "off"]
    if u.nopass:
        flags.append("nopass")
    if u.sanitize == "skip-sanitize-payload":
        flags.append("skip-sanitize-payload")
    elif u.sanitize:
        flags.append("sanitize-payload")
    return flags


def describe(u: User) -> str:
    """ACLDescribeUser: the rules that rebuild ``u`` (ACL LIST, the ACL file)."""
    parts = flag_names(u)
    parts += ["#" + h for h in u.passwords]
    if u.allkeys:
        parts.append("~*")
    else:
        parts += [_pattern(p, f) for p, f in u.keys.items()]
    if u.allchannels:
        parts.append("&*")
    else:
        parts.append("resetchannels")
        parts += ["&" + _text(p) for p in u.channels]
    parts.append(describe_commands(u))
    return " ".join(parts)
