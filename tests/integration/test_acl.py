"""ACL: users, passwords, command / category / key / channel rules, ACL LOG, the ACL file,
AUTH and HELLO AUTH, what follows a change, MULTI, scripts and CLIENT KILL USER.

Texts are redis-server 7.2's (acl.c, multi.c, server.c). One server with an ACL file is
started for the module (starting one costs ~1 s); every test makes its own users and the
``admin`` fixture deletes them afterwards. Error texts are read whole off the wire
(RawClient); redis-py (RESP2 and RESP3) and redis-cli log in as ACL users. Where
redis-server 7.0 (installed here) already answers as 7.2 does, replies are compared
side by side.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import models
from ..conftest import require_binary
from ..helpers import RawClient, RedisServerProcess, ServerProcess, free_port, raw_connector

WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
NOKEY = "NOPERM No permissions to access a key"
NOCHANNEL = "NOPERM No permissions to access a channel"
SCRIPT = '''
def set_key(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], args[0])


def get_key(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("GET", keys[0])


def admin(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("LASTSAVE", keys[1:])


def run_model(tensors: List[Tensor], keys: List[str], args: List[str]):
    return redisAI.model_execute(keys[0], tensors, 1)
'''
ENTRY_POINTS = ("set_key", "get_key", "admin", "run_model")


def cmd_denied(user: str, name: str) -> str:
    return f"NOPERM User {user} has no permissions to run the '{name}' command"


def sha(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def err(reply: Any) -> str:
    """The text of an error reply read by RawClient (which returns it as an exception)."""
    assert isinstance(reply, Exception), reply
    return str(reply)


def as_dict(reply: Any) -> dict[bytes, Any]:
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))


@pytest.fixture(scope="module")
def acl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("acl")


@pytest.fixture(scope="module")
def srv(acl_dir: Path) -> Iterator[ServerProcess]:
    (acl_dir / "users.acl").write_text("")
    proc = ServerProcess(["--aclfile", "users.acl"], cwd=str(acl_dir))
    yield proc
    code = proc.stop()
    assert "Traceback" not in proc.log(), proc.log()
    assert code == 0, proc.log()


@pytest.fixture
def conn(srv: ServerProcess) -> Iterator[Callable[[], RawClient]]:
    with raw_connector(srv.port) as connect:
        yield connect


@pytest.fixture
def admin(conn: Callable[[], RawClient], acl_dir: Path) -> Iterator[RawClient]:
    """A client of the default user; afterwards every other user is deleted and the
    log, keys, ACL file and acllog-max-len are back to their start."""
    c = conn()
    yield c
    c = conn()
    for name in c.command("ACL", "USERS"):
        if name != b"default":
            c.command("ACL", "DELUSER", name)
    c.command("ACL", "LOG", "RESET")
    c.command("CONFIG", "SET", "acllog-max-len", "128")
    c.command("FLUSHALL")
    (acl_dir / "users.acl").write_text("")


def login(conn: Callable[[], RawClient], user: str, password: str = "pw") -> RawClient:
    c = conn()
    assert c.command("AUTH", user, password) == b"OK"
    return c


def setuser(admin: RawClient, name: str, *rules: str) -> None:
    assert admin.command("ACL", "SETUSER", name, *rules) == b"OK"


# -- users and passwords ----------------------------------------------------------------
def test_acl_new_user_described_as_redis_7_2(admin: RawClient) -> None:
    setuser(admin, "alice")
    assert admin.command("ACL", "LIST") == [
        b"user alice off resetchannels -@all",
        b"user default on nopass ~* &* +@all",
    ]
    setuser(admin, "bob", "on", ">p1", "~k*", "%R~r*", "%W~w*", "&ch*", "-@all", "+@read",
            "-@dangerous", "+select|0", "+config|get", "-config|get")
    line = admin.command("ACL", "LIST")[1].decode()
    # 7.2 keeps command rules in the order given (a rule again replaces the older one).
    assert line == (f"user bob on #{sha('p1')} ~k* %R~r* %W~w* resetchannels &ch* "
                    "-@all +@read -@dangerous +select|0 -config|get")
    assert admin.command("ACL", "USERS") == [b"alice", b"bob", b"default"]
    assert admin.command("ACL", "GETUSER", "bob") == [
        b"flags", [b"on"], b"passwords", [sha("p1").encode()],
        b"commands", b"-@all +@read -@dangerous +select|0 -config|get",
        b"keys", b"~k* %R~r* %W~w*", b"channels", b"&ch*", b"selectors", []]
    assert admin.command("ACL", "GETUSER", "nosuch") is None
    setuser(admin, "carl", "reset")
    assert as_dict(admin.command("ACL", "GETUSER", "carl"))[b"flags"] == [
        b"off", b"sanitize-payload"]
    setuser(admin, "dave", "allcommands", "allkeys", "allchannels", "on", "nopass")
    assert admin.command("ACL", "LIST")[3] == b"user dave on nopass ~* &* +@all"


@pytest.mark.parametrize("protocol", [2, 3])
def test_acl_getuser_redis_py(admin: RawClient, srv: ServerProcess, protocol: int) -> None:
    setuser(admin, "alice", "on", "nopass", "~a*", "+get", "+set")
    r = redis.Redis(port=srv.port, protocol=protocol)
    try:
        assert r.acl_getuser("alice") == {
            "flags": ["on", "nopass"], "passwords": [], "commands": ["+get", "+set"],
            "categories": ["-@all"], "keys": ["~a*"], "channels": [], "selectors": [],
            "enabled": True}
        assert r.acl_getuser("nosuch") is None
    finally:
        r.close()


def test_acl_passwords_and_auth(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">p1", ">p2", "+@all", "~*")
    c = conn()
    assert err(c.command("AUTH", "alice", "nope")) == WRONGPASS
    assert c.command("AUTH", "alice", "p1") == b"OK"
    assert c.command("ACL", "WHOAMI") == b"alice"
    assert c.command("AUTH", "alice", "p2") == b"OK"
    setuser(admin, "alice", "<p1", f"!{sha('p2')}", f"#{sha('p3')}")
    assert err(conn().command("AUTH", "alice", "p1")) == WRONGPASS
    assert conn().command("AUTH", "alice", "p3") == b"OK"
    assert err(admin.command("ACL", "SETUSER", "alice", "<p1")) == (
        "ERR Error in ACL SETUSER modifier '<p1': The password you are trying to remove "
        "from the user does not exist")
    assert err(admin.command("ACL", "SETUSER", "alice", "#abc")) == (
        "ERR Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 "
        "characters and contain only lowercase hexadecimal characters")
    # A failed SETUSER changes nothing, not even the rules before the bad one.
    assert err(admin.command("ACL", "SETUSER", "alice", "resetpass", "xyz")) == (
        "ERR Error in ACL SETUSER modifier 'xyz': Syntax error")
    assert conn().command("AUTH", "alice", "p3") == b"OK"
    setuser(admin, "alice", "nopass")
    assert conn().command("AUTH", "alice", "anything") == b"OK"
    setuser(admin, "alice", "resetpass")
    assert err(conn().command("AUTH", "alice", "anything")) == WRONGPASS
    setuser(admin, "alice", ">p1", "off")
    assert err(conn().command("AUTH", "alice", "p1")) == WRONGPASS
    assert err(conn().command("AUTH", "nosuch", "p1")) == WRONGPASS
    assert err(admin.command("ACL", "SETUSER", "a b")) == (
        "ERR Usernames can't contain spaces or null characters")


def test_acl_hello_auth(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">pw", "+@all", "~*")
    c = conn()
    reply = c.command("HELLO", "3", "AUTH", "alice", "pw", "SETNAME", "me")
    assert reply[b"proto"] == 3
    assert c.command("ACL", "WHOAMI") == b"alice"
    assert c.command("CLIENT", "GETNAME") == b"me"
    c2 = conn()
    assert err(c2.command("HELLO", "3", "AUTH", "alice", "bad")) == WRONGPASS
    assert c2.command("ACL", "WHOAMI") == b"default"
    # Options are all parsed before AUTH: a bad one authenticates no one.
    assert err(c2.command("HELLO", "2", "AUTH", "alice", "pw", "BAD")) == (
        "ERR Syntax error in HELLO option 'BAD'")
    assert c2.command("ACL", "WHOAMI") == b"default"


@pytest.mark.parametrize("protocol", [2, 3])
def test_acl_redis_py_login(admin: RawClient, srv: ServerProcess, protocol: int) -> None:
    setuser(admin, "alice", "on", ">pw", "+@all", "-flushall", "~app:*", "&*")
    r = redis.Redis(port=srv.port, username="alice", password="pw", protocol=protocol)
    bad = redis.Redis(port=srv.port, username="alice", password="nope", protocol=protocol,
                      retry=Retry(NoBackoff(), 0))
    try:
        assert r.set("app:1", "v") is True
        assert r.get("app:1") == b"v"
        with pytest.raises(redis.exceptions.NoPermissionError) as e:
            r.get("other")
        assert str(e.value) == "No permissions to access a key"
        with pytest.raises(redis.exceptions.NoPermissionError) as e:
            r.flushall()
        assert str(e.value) == "User alice has no permissions to run the 'flushall' command"
        assert r.acl_whoami() == "alice" or r.acl_whoami() == b"alice"
        with pytest.raises(redis.AuthenticationError):
            bad.ping()
    finally:
        r.close()
        bad.close()


def test_acl_redis_cli_user_pass(admin: RawClient, srv: ServerProcess) -> None:
    cli = require_binary("redis-cli")
    setuser(admin, "alice", "on", ">s3cret", "+get", "+set", "~k*")

    def run(*args: str) -> str:
        out = subprocess.run([cli, "-p", str(srv.port), "--user", "alice", "--pass",
                              "s3cret", "--no-auth-warning", *args],
                             capture_output=True, text=True, timeout=30)
        return (out.stdout + out.stderr).strip()

    assert run("SET", "k1", "v") == "OK"
    assert run("GET", "k1") == "v"
    assert run("GET", "other") == NOKEY
    assert run("DEL", "k1") == cmd_denied("alice", "del")
    assert run("-3", "GET", "k1") == "v"
    out = subprocess.run([cli, "-p", str(srv.port), "--user", "alice", "--pass", "bad",
                          "--no-auth-warning", "PING"], capture_output=True, text=True,
                         timeout=30)
    assert "WRONGPASS" in out.stdout + out.stderr


def test_acl_requirepass_is_the_default_password(start_server: Callable[..., ServerProcess]
                                                 ) -> None:
    srv = start_server("--requirepass", "pw")
    c = RawClient(srv.port)
    try:
        assert err(c.command("PING")) == "NOAUTH Authentication required."
        assert c.command("AUTH", "default", "pw") == b"OK"
        assert as_dict(c.command("ACL", "GETUSER", "default"))[b"passwords"] == [
            sha("pw").encode()]
        assert c.command("CONFIG", "SET", "requirepass", "new") == b"OK"
        assert c.command("ACL", "LIST") == [f"user default on #{sha('new')} ~* &* +@all".encode()]
        assert RawClient(srv.port).command("AUTH", "new") == b"OK"
        # ACL SETUSER default nopass opens the door to clients not yet authenticated.
        waiting = RawClient(srv.port)
        assert err(waiting.command("PING")) == "NOAUTH Authentication required."
        assert c.command("ACL", "SETUSER", "default", "nopass") == b"OK"
        assert waiting.command("PING") == b"PONG"
        assert err(RawClient(srv.port).command("AUTH", "x")) == (
            "ERR AUTH <password> called without any password configured for the default "
            "user. Are you sure your configuration is correct?")
    finally:
        c.close()


# -- command and category rules -------------------------------------------------------------
def test_acl_every_command_has_categories() -> None:
    """Table invariants (no server): @fast xor @slow, @write / @read / @admin @dangerous
    from the flags (redis-server's setImplicitACLCategories), @ai on every AI.* command."""
    from tensorserve.commands import COMMANDS
    from tensorserve.commands._acl import CATEGORIES, spec_categories

    specs = [s for spec in COMMANDS.values()
             for s in (spec, *(spec.subcommands or {}).values())]
    for spec in specs:
        cats = spec_categories(spec)
        assert cats <= set(CATEGORIES), spec.name
        assert ("fast" in cats) != ("slow" in cats), spec.name
        if "write" in spec.flags and spec.subcommands is None:
            assert "write" in cats, spec.name
        if "readonly" in spec.flags and spec.subcommands is None:
            assert "read" in cats, spec.name
        if "admin" in spec.flags and spec.subcommands is None:
            assert {"admin", "dangerous"} <= cats, spec.name
        if spec.name.startswith("ai."):
            assert "ai" in cats, spec.name
            assert not {"ai-store", "ai-run"} <= cats, spec.name


def test_acl_command_rules(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">pw", "~*", "+get", "+config|get", "+select|0",
            "+client")
    c = login(conn, "alice")
    assert c.command("GET", "k") is None
    assert err(c.command("SET", "k", "v")) == cmd_denied("alice", "set")
    assert c.command("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"0"]
    assert err(c.command("CONFIG", "SET", "maxmemory", "0")) == cmd_denied("alice", "config|set")
    assert c.command("SELECT", "0") == b"OK"
    assert err(c.command("SELECT", "1")) == cmd_denied("alice", "select")
    assert c.command("CLIENT", "ID") > 0  # +client allows every subcommand
    setuser(admin, "alice", "-client|id")
    assert err(c.command("CLIENT", "ID")) == cmd_denied("alice", "client|id")
    assert c.command("CLIENT", "GETNAME") is None
    # Unknown command, arity and NOAUTH come first, as in redis-server.
    assert err(c.command("NOSUCH")).startswith("ERR unknown command 'NOSUCH'")
    assert err(c.command("SET", "k")) == "ERR wrong number of arguments for 'set' command"
    # AUTH, HELLO, QUIT and RESET run whatever the rules.
    assert c.command("AUTH", "alice", "pw") == b"OK"
    assert err(admin.command("ACL", "SETUSER", "alice", "+nosuch")) == (
        "ERR Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL")
    assert err(admin.command("ACL", "SETUSER", "alice", "+@nosuch")) == (
        "ERR Error in ACL SETUSER modifier '+@nosuch': Unknown command or category name in ACL")
    assert err(admin.command("ACL", "SETUSER", "alice", "+config|get|x")) == (
        "ERR Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a "
        "subcommand is not supported")
    assert err(admin.command("ACL", "SETUSER", "alice", "+get|")) == (
        "ERR Error in ACL SETUSER modifier '+get|': Syntax error")
    assert err(admin.command("ACL", "SETUSER", "alice", "~*", "~x")) == (
        "ERR Error in ACL SETUSER modifier '~x': Adding a pattern after the * pattern (or "
        "the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to "
        "start with an empty list of patterns")


def test_acl_categories(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    cats = admin.command("ACL", "CAT")
    assert cats[:21] == [c.encode() for c in (
        "keyspace read write set sortedset list hash string bitmap hyperloglog geo stream "
        "pubsub admin fast slow blocking dangerous connection transaction scripting").split()]
    assert cats[21:] == [b"ai", b"ai-store", b"ai-run"]
    read = admin.command("ACL", "CAT", "read")
    assert b"get" in read and b"set" not in read and b"ai.tensorget" in read
    assert b"config|set" in admin.command("ACL", "CAT", "ADMIN")
    assert set(admin.command("ACL", "CAT", "ai-store")) == {
        b"ai.modelstore", b"ai.modelset", b"ai.modeldel", b"ai.scriptstore",
        b"ai.scriptset", b"ai.scriptdel", b"ai.config"}
    assert set(admin.command("ACL", "CAT", "ai-run")) == {
        b"ai.modelexecute", b"ai.modelrun", b"ai.scriptexecute", b"ai.scriptrun",
        b"ai.dagexecute", b"ai.dagexecute_ro", b"ai.dagrun", b"ai.dagrun_ro"}
    assert err(admin.command("ACL", "CAT", "nosuch")) == "ERR Unknown category 'nosuch'"
    setuser(admin, "alice", "on", ">pw", "~*", "&*", "+@all", "-@dangerous", "-@write",
            "+set")
    c = login(conn, "alice")
    assert c.command("SET", "k", "v") == b"OK"
    assert c.command("GET", "k") == b"v"
    assert err(c.command("DEL", "k")) == cmd_denied("alice", "del")
    assert err(c.command("FLUSHALL")) == cmd_denied("alice", "flushall")
    assert err(c.command("KEYS", "*")) == cmd_denied("alice", "keys")
    assert err(c.command("CONFIG", "GET", "x")) == cmd_denied("alice", "config|get")
    assert c.command("SCAN", "0")[0] == b"0"


def test_acl_dryrun(admin: RawClient) -> None:
    setuser(admin, "alice", "on", "+get", "~k*", "&ch")
    assert admin.command("ACL", "DRYRUN", "alice", "GET", "k1") == b"OK"
    assert admin.command("ACL", "DRYRUN", "alice", "SET", "k1", "v") == (
        b"User alice has no permissions to run the 'set' command")
    assert admin.command("ACL", "DRYRUN", "alice", "GET", "x") == (
        b"User alice has no permissions to access the 'x' key")
    setuser(admin, "alice", "+publish")
    assert admin.command("ACL", "DRYRUN", "alice", "PUBLISH", "other", "m") == (
        b"User alice has no permissions to access the 'other' channel")
    assert err(admin.command("ACL", "DRYRUN", "nosuch", "GET", "k")) == (
        "ERR User 'nosuch' not found")
    assert err(admin.command("ACL", "DRYRUN", "alice", "NOSUCH", "k")) == (
        "ERR Command 'NOSUCH' not found")
    assert err(admin.command("ACL", "DRYRUN", "alice", "GET")) == (
        "ERR wrong number of arguments for 'get' command")


def test_acl_misc_subcommands(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    assert len(admin.command("ACL", "GENPASS")) == 64
    assert len(admin.command("ACL", "GENPASS", "5")) == 2
    assert err(admin.command("ACL", "GENPASS", "0")) == (
        "ERR ACL GENPASS argument must be the number of bits for the output password, a "
        "positive number up to 4096")
    assert err(admin.command("ACL", "GENPASS", "x")) == (
        "ERR value is not an integer or out of range")
    assert admin.command("ACL", "WHOAMI") == b"default"
    assert err(admin.command("ACL", "DELUSER", "default")) == (
        "ERR The 'default' user cannot be removed")
    setuser(admin, "alice")
    assert admin.command("ACL", "DELUSER", "alice", "nosuch") == 1
    assert admin.command("ACL", "HELP")[0] == (
        b"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    assert err(admin.command("ACL", "CAT", "a", "b")) == (
        "ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.")
    assert err(admin.command("ACL", "NOSUCH")) == (
        "ERR unknown subcommand 'NOSUCH'. Try ACL HELP.")
    assert err(admin.command("ACL", "SETUSER", "x", "(~a +get)")) == (
        "ERR Error in ACL SETUSER modifier '(~a +get)': Selectors are not supported by "
        "this server")
    assert err(admin.command("ACL", "SETUSER", "x", "(~a", "+get")) == (
        "ERR Unmatched parenthesis in acl selector starting at '(~a'.")
    # acl commands need @admin (except WHOAMI, CAT, GENPASS, HELP).
    setuser(admin, "alice", "on", ">pw", "+@all", "-@admin")
    c = login(conn, "alice")
    assert c.command("ACL", "WHOAMI") == b"alice"
    assert err(c.command("ACL", "LIST")) == cmd_denied("alice", "acl|list")


# -- keys -----------------------------------------------------------------------------------
def test_acl_key_patterns(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">pw", "+@all", "~k*", "%R~r*", "%W~w*")
    admin.command("SET", "r1", "v")
    c = login(conn, "alice")
    assert c.command("SET", "k1", "v") == b"OK"
    assert c.command("GET", "k1") == b"v"
    assert err(c.command("GET", "x")) == NOKEY
    assert c.command("GET", "r1") == b"v"
    assert err(c.command("SET", "r1", "v")) == NOKEY  # read-only pattern
    assert c.command("SET", "w1", "v") == b"OK"  # SET without GET only writes
    assert err(c.command("SET", "w1", "v", "GET")) == NOKEY
    assert err(c.command("GET", "w1")) == NOKEY  # write-only pattern
    assert err(c.command("INCR", "w2")) == NOKEY  # reads and writes
    assert c.command("LPUSH", "wl", "a") == 1  # insert: write only
    assert err(c.command("LPOP", "wl")) == NOKEY  # access + delete
    assert c.command("COPY", "r1", "w3") == 1  # source read, destination written
    assert err(c.command("COPY", "w3", "r2")) == NOKEY
    assert err(c.command("MSET", "k2", "v", "x", "v")) == NOKEY
    assert c.command("MSET", "k2", "v", "w4", "v") == b"OK"
    assert c.command("EXISTS", "w1", "r1") == 2  # naming a key needs any pattern
    assert err(c.command("EXISTS", "x")) == NOKEY
    assert c.command("DEL", "w1") == 1
    # KEYS and SCAN are not key-restricted (as in redis-server).
    assert b"x" not in c.command("KEYS", "*")
    setuser(admin, "alice", "resetkeys", "~other")
    assert err(c.command("GET", "k1")) == NOKEY  # the change applies at once
    setuser(admin, "alice", "allkeys")
    assert c.command("GET", "k1") == b"v"


def test_acl_pipeline_restricted_user(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    """A restricted user's pipelined commands are all checked (the inlined fast path
    is closed to it); a user with every command and key keeps it."""
    setuser(admin, "alice", "on", ">pw", "+@all", "~k*")
    c = login(conn, "alice")
    c.send(b"*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n*2\r\n$3\r\nGET\r\n$1\r\nx\r\n"
           b"*3\r\n$3\r\nSET\r\n$2\r\nk2\r\n$1\r\nv\r\n*2\r\n$4\r\nINCR\r\n$1\r\ny\r\n")
    assert c.read() is None
    assert err(c.read()) == NOKEY
    assert c.read() == b"OK"
    assert err(c.read()) == NOKEY
    setuser(admin, "bob", "on", ">pw", "+@all", "~*")  # no channels: still fast
    b = login(conn, "bob")
    b.send(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n*2\r\n$4\r\nINCR\r\n$1\r\nx\r\n")
    assert b.read() == b"OK"
    assert b.read() == 2
    assert err(b.command("PUBLISH", "ch", "m")) == NOCHANNEL


def test_acl_ai_store_and_run_are_separate(admin: RawClient, conn: Callable[[], RawClient]
                                          ) -> None:
    blob = models.mlp_torch()
    assert admin.command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", blob) == b"OK"
    setuser(admin, "runner", "on", ">pw", "~*", "-@all", "+@ai", "-@ai-store")
    c = login(conn, "runner")
    x = models.mlp_input(2)
    assert c.command("AI.TENSORSET", "x", "FLOAT", 2, 4, "BLOB", x.tobytes()) == b"OK"
    assert c.command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == b"OK"
    assert c.command("AI.TENSORGET", "y", "META")[1] == b"FLOAT"
    assert err(c.command("AI.MODELSTORE", "m2", "TORCH", "CPU", "BLOB", blob)) == (
        cmd_denied("runner", "ai.modelstore"))
    assert err(c.command("AI.MODELDEL", "m")) == cmd_denied("runner", "ai.modeldel")
    assert err(c.command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "set_key",
                         "SOURCE", SCRIPT)) == cmd_denied("runner", "ai.scriptstore")
    assert err(c.command("AI.CONFIG", "BACKENDSPATH", "/tmp")) == (
        cmd_denied("runner", "ai.config"))
    assert err(c.command("GET", "x")) == cmd_denied("runner", "get")
    # And the reverse: a deployer may store but not run.
    setuser(admin, "deployer", "on", ">pw", "~*", "+@ai-store")
    d = login(conn, "deployer")
    assert d.command("AI.MODELSTORE", "m2", "TORCH", "CPU", "BLOB", blob) == b"OK"
    assert err(d.command("AI.MODELEXECUTE", "m2", "INPUTS", 1, "x", "OUTPUTS", 1, "y")) == (
        cmd_denied("deployer", "ai.modelexecute"))


def test_acl_ai_keys(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    """Models and input tensors are read, outputs and PERSIST keys written, LOAD keys read
    (DAGs included)."""
    assert admin.command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB",
                         models.mlp_torch()) == b"OK"
    x = models.mlp_input(1).tobytes()
    assert admin.command("AI.TENSORSET", "in:x", "FLOAT", 1, 4, "BLOB", x) == b"OK"
    assert admin.command("AI.TENSORSET", "secret", "FLOAT", 1, 4, "BLOB", x) == b"OK"
    setuser(admin, "alice", "on", ">pw", "+@ai", "%R~m", "%R~in:*", "%W~out:*")
    c = login(conn, "alice")
    assert c.command("AI.MODELEXECUTE", "m", "INPUTS", 1, "in:x", "OUTPUTS", 1,
                     "out:y") == b"OK"
    assert err(c.command("AI.MODELEXECUTE", "m", "INPUTS", 1, "secret", "OUTPUTS", 1,
                         "out:y")) == NOKEY
    assert err(c.command("AI.MODELEXECUTE", "m", "INPUTS", 1, "in:x", "OUTPUTS", 1,
                         "in:y")) == NOKEY
    assert err(c.command("AI.TENSORGET", "out:y", "META")) == NOKEY
    assert err(c.command("AI.MODELRUN", "m", "INPUTS", "secret", "OUTPUTS", "out:z")) == NOKEY
    dag = ("|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "out:b")
    assert c.command("AI.DAGEXECUTE", "LOAD", 1, "in:x", "PERSIST", 1, "out:b",
                     "|>", "AI.TENSORSET", "a", "FLOAT", 1, 4, "BLOB", x, *dag) == [
        b"OK", b"OK"]
    assert err(c.command("AI.DAGEXECUTE", "LOAD", 1, "secret", "|>", "AI.TENSORGET",
                         "secret", "META")) == NOKEY
    assert err(c.command("AI.DAGEXECUTE", "PERSIST", 1, "in:z", "|>", "AI.TENSORSET",
                         "in:z", "FLOAT", 1, 1, "VALUES", 1)) == NOKEY
    assert admin.command("AI.TENSORGET", "out:b", "META")[1] == b"FLOAT"


# -- channels -------------------------------------------------------------------------------
def test_acl_channels(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">pw", "+@all", "~*", "&news.*")
    c = login(conn, "alice")
    assert c.command("PUBLISH", "news.1", "m") == 0
    assert err(c.command("PUBLISH", "sport", "m")) == NOCHANNEL
    assert err(c.command("SUBSCRIBE", "news.1", "sport")) == NOCHANNEL
    # A PSUBSCRIBE pattern must be one of the user's patterns, literally.
    assert err(c.command("PSUBSCRIBE", "news.1*")) == NOCHANNEL
    assert err(c.command("SSUBSCRIBE", "sport")) == NOCHANNEL
    assert c.command("PSUBSCRIBE", "news.*") == [b"psubscribe", b"news.*", 1]
    # New users get no channels (acl-pubsub-default resetchannels, Redis 7's default).
    setuser(admin, "bob", "on", ">pw", "+@all", "~*")
    assert err(login(conn, "bob").command("PUBLISH", "news.1", "m")) == NOCHANNEL


def test_acl_revoked_channel_disconnects_subscriber(admin: RawClient,
                                                    conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">pw", "+@all", "~*", "&a", "&b")
    sub = login(conn, "alice")
    assert sub.command("SUBSCRIBE", "a") == [b"subscribe", b"a", 1]
    other = login(conn, "alice")
    setuser(admin, "alice", "&c")  # a superset: nobody is dropped
    assert other.command("PING") == b"PONG"
    assert not sub.is_closed(0.3)
    setuser(admin, "alice", "resetchannels", "&b")  # 'a' revoked
    assert sub.is_closed()
    assert other.command("PING") == b"PONG"  # not subscribed: stays


# -- following changes ----------------------------------------------------------------------
def test_acl_deleted_user_is_disconnected(admin: RawClient, conn: Callable[[], RawClient]
                                          ) -> None:
    setuser(admin, "alice", "on", ">pw", "+@all", "~*")
    setuser(admin, "bob", "on", ">pw", "+@all", "~*")
    a1, a2, b = login(conn, "alice"), login(conn, "alice"), login(conn, "bob")
    # Changed rules apply to connected clients at once.
    setuser(admin, "alice", "-get")
    assert err(a1.command("GET", "k")) == cmd_denied("alice", "get")
    assert admin.command("ACL", "DELUSER", "alice") == 1
    assert a1.is_closed() and a2.is_closed()
    assert b.command("PING") == b"PONG"
    # A user deleting itself gets its reply first.
    assert b.command("ACL", "DELUSER", "bob") == 1
    assert b.is_closed()


def test_acl_client_list_and_kill_user(admin: RawClient, conn: Callable[[], RawClient]
                                       ) -> None:
    setuser(admin, "alice", "on", ">pw", "+@all", "~*")
    a = login(conn, "alice")
    info = a.command("CLIENT", "INFO").decode()
    assert " user=alice " in info
    listing = admin.command("CLIENT", "LIST").decode()
    assert " user=alice " in listing and " user=default " in listing
    assert err(admin.command("CLIENT", "KILL", "USER", "nosuch")) == (
        "ERR No such user 'nosuch'")
    assert admin.command("CLIENT", "KILL", "USER", "alice") == 1
    assert a.is_closed()
    assert admin.command("PING") == b"PONG"


def test_acl_multi(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">pw", "~*", "+multi", "+exec", "+get", "+set")
    c = login(conn, "alice")
    assert c.command("MULTI") == b"OK"
    assert err(c.command("DEL", "k")) == cmd_denied("alice", "del")
    assert c.command("GET", "k") == b"QUEUED"
    assert err(c.command("EXEC")) == (
        "EXECABORT Transaction discarded because of previous errors.")
    # Rules that change between MULTI and EXEC are checked again at EXEC.
    assert c.command("MULTI") == b"OK"
    assert c.command("SET", "k", "v") == b"QUEUED"
    assert c.command("GET", "k") == b"QUEUED"
    setuser(admin, "alice", "-get")
    reply = c.command("EXEC")
    assert reply[0] == b"OK"
    assert err(reply[1]) == (
        "NOPERM ACLs rules changed between the moment the transaction was accumulated and "
        "the EXEC call. This command is no longer allowed for the following reason: no "
        "permission to execute the command or subcommand")
    contexts = [as_dict(e)[b"context"] for e in admin.command("ACL", "LOG")]
    assert contexts == [b"multi", b"multi"]


def test_acl_log(admin: RawClient, conn: Callable[[], RawClient]) -> None:
    setuser(admin, "alice", "on", ">pw", "+get", "~k*")
    c = login(conn, "alice")
    for _ in range(3):
        c.command("SET", "k", "v")
    c.command("GET", "x")
    assert err(conn().command("AUTH", "alice", "bad")) == WRONGPASS
    entries = [as_dict(e) for e in admin.command("ACL", "LOG")]
    assert [(e[b"reason"], e[b"object"], e[b"username"], e[b"count"]) for e in entries] == [
        (b"auth", b"AUTH", b"alice", 1),
        (b"key", b"x", b"alice", 1),
        (b"command", b"set", b"alice", 3),
    ]
    e = entries[2]
    assert e[b"context"] == b"toplevel"
    assert list(e) == [b"count", b"reason", b"context", b"object", b"username",
                       b"age-seconds", b"client-info", b"entry-id", b"timestamp-created",
                       b"timestamp-last-updated"]
    assert b" user=alice " in e[b"client-info"] and b" cmd=set " in e[b"client-info"]
    assert float(e[b"age-seconds"]) >= 0
    first = entries[2][b"entry-id"]  # ids go on across ACL LOG RESET, as in redis-server
    assert [x[b"entry-id"] for x in entries] == [first + 2, first + 1, first]
    assert e[b"timestamp-last-updated"] >= e[b"timestamp-created"] > time.time() * 1000 - 60000
    assert len(admin.command("ACL", "LOG", "1")) == 1
    assert admin.command("ACL", "LOG", "-1") == []
    assert err(admin.command("ACL", "LOG", "x")) == "ERR value is not an integer or out of range"
    assert admin.command("CONFIG", "SET", "acllog-max-len", "1") == b"OK"
    c.command("GET", "y")
    assert len(admin.command("ACL", "LOG")) == 1
    assert admin.command("ACL", "LOG", "RESET") == b"OK"
    assert admin.command("ACL", "LOG") == []


@pytest.mark.parametrize("protocol", [2, 3])
def test_acl_log_redis_py(admin: RawClient, srv: ServerProcess, protocol: int) -> None:
    setuser(admin, "alice", "on", ">pw", "+get")
    r = redis.Redis(port=srv.port, protocol=protocol)
    u = redis.Redis(port=srv.port, username="alice", password="pw", protocol=protocol)
    try:
        with pytest.raises(redis.exceptions.NoPermissionError):
            u.set("k", "v")
        # redis-py's CLIENT SETINFO on connect is denied (and logged) too.
        (entry,) = [e for e in r.acl_log() if e["object"] == "set"]
        assert entry["reason"] == "command" and entry["username"] == "alice"
        assert isinstance(entry["age-seconds"], float)
    finally:
        r.close()
        u.close()


# -- scripts ----------------------------------------------------------------------------------
def test_acl_script_runs_with_callers_rights(admin: RawClient, conn: Callable[[], RawClient]
                                             ) -> None:
    assert admin.command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", len(ENTRY_POINTS),
                         *ENTRY_POINTS, "SOURCE", SCRIPT) == b"OK"
    assert admin.command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB",
                         models.mlp_torch()) == b"OK"
    x = models.mlp_input(1).tobytes()
    assert admin.command("AI.TENSORSET", "x", "FLOAT", 1, 4, "BLOB", x) == b"OK"
    setuser(admin, "alice", "on", ">pw", "~*", "+@ai", "+get")
    c = login(conn, "alice")
    prefix = "Redis command returned an error: "
    assert err(c.command("AI.SCRIPTEXECUTE", "s", "set_key", "KEYS", 1, "k", "ARGS", 1,
                         "v")) == prefix + cmd_denied("alice", "set")
    assert admin.command("GET", "k") is None
    assert c.command("AI.SCRIPTEXECUTE", "s", "get_key", "KEYS", 1, "k") == b"OK"
    (entry,) = [as_dict(e) for e in admin.command("ACL", "LOG")]
    assert (entry[b"context"], entry[b"object"]) == (b"lua", b"set")
    assert b" user=alice " in entry[b"client-info"]
    # Admin commands never run from a script, whoever calls it.
    for client in (c, admin):
        assert err(client.command("AI.SCRIPTEXECUTE", "s", "admin", "KEYS", 1, "k")) == (
            prefix + "ERR This Redis command is not allowed from script")
    # A model the script runs needs @ai-run and read access to its key.
    setuser(admin, "alice", "-@ai-run", "+ai.scriptexecute")
    assert err(c.command("AI.SCRIPTEXECUTE", "s", "run_model", "KEYS", 1, "m", "INPUTS", 1,
                         "x", "OUTPUTS", 1, "y")) == cmd_denied("alice", "ai.modelexecute")
    assert admin.command("AI.SCRIPTEXECUTE", "s", "run_model", "KEYS", 1, "m", "INPUTS", 1,
                         "x", "OUTPUTS", 1, "y") == b"OK"


# -- the ACL file -----------------------------------------------------------------------------
def test_acl_save_and_load(admin: RawClient, conn: Callable[[], RawClient], acl_dir: Path
                           ) -> None:
    setuser(admin, "alice", "on", ">pw", "~k*", "+@read")
    assert admin.command("ACL", "SAVE") == b"OK"
    assert (acl_dir / "users.acl").read_text() == (
        f"user alice on #{sha('pw')} ~k* resetchannels -@all +@read\n"
        "user default on nopass ~* &* +@all\n")
    a = login(conn, "alice")
    (acl_dir / "users.acl").write_text(
        f"user alice on #{sha('pw')} ~k* resetchannels -@all +@read +set\n"
        "user bob on nopass ~* &* +@all\n"
        "user default on nopass ~* &* +@all\n")
    assert admin.command("ACL", "LOAD") == b"OK"
    assert admin.command("ACL", "USERS") == [b"alice", b"bob", b"default"]
    assert a.command("SET", "k1", "v") == b"OK"  # alice's connection follows the change
    b = login(conn, "bob", "x")
    (acl_dir / "users.acl").write_text("user alice on nopass ~* +@all\n")
    assert admin.command("ACL", "LOAD") == b"OK"
    assert b.is_closed()  # bob is gone
    assert a.command("GET", "k1") == b"v"
    assert admin.command("ACL", "LIST") == [b"user alice on nopass ~* resetchannels +@all",
                                           b"user default on nopass ~* &* +@all"]


def test_acl_load_bad_file_changes_nothing(admin: RawClient, acl_dir: Path) -> None:
    setuser(admin, "alice", "on", "nopass")
    (acl_dir / "users.acl").write_text(
        "user bob on nopass ~* +@all\n"
        "\n"
        "user carl on >x badrule\n"
        "# a comment\n"
        "user dave +nosuch\n"
        "user bob off\n")
    assert err(admin.command("ACL", "LOAD")) == (
        "ERR users.acl:3: Syntax error. users.acl:4 should start with user keyword followed "
        "by the username. users.acl:5: Error in applying operation '+nosuch': Unknown "
        "command or category name in ACL. WARNING: Duplicate user 'bob' found on line 6. "
        "WARNING: ACL errors detected, no change to the previously active ACL rules was "
        "performed")
    assert admin.command("ACL", "USERS") == [b"alice", b"default"]


def test_acl_file_needed_for_load_and_save(raw: Callable[[], RawClient]) -> None:
    text = ("ERR This Redis instance is not configured to use an ACL file. You may want to "
            "specify users via the ACL SETUSER command and then issue a CONFIG REWRITE "
            "(assuming you have a Redis configuration file set) in order to store users in "
            "the Redis configuration.")
    c = raw()
    assert err(c.command("ACL", "LOAD")) == text
    assert err(c.command("ACL", "SAVE")) == text


def test_acl_file_at_start(start_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    (tmp_path / "ok.acl").write_text("user default on >pw ~* &* +@all\n"
                                     "user alice on >a ~a:* +@read\n")
    srv = start_server("--aclfile", "ok.acl")
    c = RawClient(srv.port)
    try:
        assert err(c.command("GET", "k")) == "NOAUTH Authentication required."
        assert c.command("AUTH", "alice", "a") == b"OK"
        assert err(c.command("GET", "k")) == NOKEY
        assert c.command("AUTH", "pw") == b"OK"
        assert c.command("CONFIG", "GET", "aclfile") == [b"aclfile", b"ok.acl"]
    finally:
        c.close()
    (tmp_path / "bad.acl").write_text("user alice on ~a:* +nosuch\n")
    with pytest.raises(RuntimeError) as e:
        start_server("--aclfile", "bad.acl")
    assert ("bad.acl:1: Error in applying operation '+nosuch': Unknown command or category "
            "name in ACL") in str(e.value)


def test_acl_log_replay_ignores_users(start_server: Callable[..., ServerProcess],
                                      tmp_path: Path) -> None:
    """The append-only log is replayed whatever the users may do (a default user with no
    commands here): replay is not a client."""
    (tmp_path / "users.acl").write_text("user default on nopass ~* &* -@all\n"
                                        "user alice on >a ~* &* +@all\n")
    args = ("--aclfile", "users.acl", "--appendonly", "yes")
    port = free_port()

    def ready() -> bool:  # PING is not allowed to the default user here
        probe = RawClient(port)
        try:
            return bool(probe.command("AUTH", "alice", "a") == b"OK")
        finally:
            probe.close()

    srv = start_server(*args, port=port, ready=ready)
    c = RawClient(srv.port)
    assert err(c.command("SET", "k", "v")) == cmd_denied("default", "set")
    assert c.command("AUTH", "alice", "a") == b"OK"
    assert c.command("SET", "k", "v") == b"OK"
    c.close()
    assert srv.stop() == 0
    srv = start_server(*args, port=port, ready=ready)
    c = RawClient(srv.port)
    try:
        assert c.command("AUTH", "alice", "a") == b"OK"
        assert c.command("GET", "k") == b"v"
    finally:
        c.close()


# -- side by side with redis-server --------------------------------------------------------
@pytest.fixture(scope="module")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    server = RedisServerProcess(require_binary("redis-server"),
                                str(tmp_path_factory.mktemp("redis")))
    try:
        yield server.port
    finally:
        server.stop()


# Replies that are the same in redis-server 7.0 (installed here) and 7.2.
COMPARED: list[tuple[str, ...]] = [
    ("ACL", "SETUSER", "u1", "xyz"),
    ("ACL", "SETUSER", "u1", "%~a"),
    ("ACL", "SETUSER", "u1", "%RR~a"),
    ("ACL", "SETUSER", "u1", "+@nosuch"),
    ("ACL", "SETUSER", "u1", "-get|x"),
    ("ACL", "SETUSER", "u1", "!0000"),
    ("ACL", "SETUSER", "u1", "&*", "&a"),
    ("ACL", "SETUSER", "u1", "on", ">x", "%R~r*", "%W~w*", "~k*", "&ch", "-@all", "+get"),
    ("ACL", "GETUSER", "u1"),
    ("ACL", "GETUSER", "nosuch"),
    ("ACL", "SETUSER", "u2", "reset", "%R", "nopass", "on", "allkeys"),
    ("ACL", "GETUSER", "u2"),
    ("ACL", "SETUSER", "u2", "off", "on"),
    ("ACL", "USERS"),
    ("ACL", "CAT", "nosuch"),
    ("ACL", "DELUSER", "default"),
    ("ACL", "DELUSER", "u2", "u3"),
    ("ACL", "DRYRUN", "nosuch", "GET", "a"),
    ("AUTH", "u1", "bad"),
    ("AUTH", "nosuch", "x"),
    ("CLIENT", "KILL", "USER", "nosuch"),
    ("ACL", "GENPASS", "-1"),
    ("ACL", "LOG", "x"),
]


def test_acl_replies_match_redis_server(admin: RawClient, redis_port: int) -> None:
    """(7.0 words NOPERM denials differently from 7.2, so those are checked above with
    acl.c 7.2's getAclErrorMessage texts.)"""
    theirs = RawClient(redis_port)
    try:
        for args in COMPARED:
            mine, ref = admin.command(*args), theirs.command(*args)
            if isinstance(ref, Exception):
                assert str(mine) == str(ref), args
            else:
                assert mine == ref, args
    finally:
        theirs.command("ACL", "DELUSER", "u1", "u2")
        theirs.close()


def test_info_counts_denials_by_reason(tmp_path: Path) -> None:
    """Redis 7.2's INFO stats acl_access_denied_{auth,cmd,key,channel}."""
    server = ServerProcess([])
    try:
        r = RawClient(server.port)
        r.command("ACL", "SETUSER", "eve", "on", ">pw", "~allowed:*", "&news", "+get",
                  "+publish", "+auth")
        u = RawClient(server.port)
        assert isinstance(u.command("AUTH", "eve", "wrong"), Exception)
        assert u.command("AUTH", "eve", "pw") == b"OK"
        assert isinstance(u.command("SET", "allowed:1", "x"), Exception)  # command
        assert isinstance(u.command("GET", "secret"), Exception)  # key
        assert isinstance(u.command("GET", "other"), Exception)  # key
        assert isinstance(u.command("PUBLISH", "sports", "x"), Exception)  # channel
        info = r.command("INFO", "stats").decode()
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        assert (fields["acl_access_denied_auth"], fields["acl_access_denied_cmd"],
                fields["acl_access_denied_key"], fields["acl_access_denied_channel"]) == (
                    "1", "1", "2", "1")
        assert r.command("CONFIG", "RESETSTAT") == b"OK"
        info = r.command("INFO", "stats").decode()
        assert "acl_access_denied_key:0" in info
    finally:
        server.stop()
