"""Invariants of the command table, and dispatch driven in memory (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from tensorserve.commands import BLOCKED, COMMANDS, ClientState, ServerState, run_batch
from tensorserve.commands._dispatch import _FAST, _TABLE
from tensorserve.commands._spec import FLAGS
from tensorserve.config import Config

# Commands that block, close the connection, answer nothing or change what dispatch gates
# on (auth, MULTI, subscriptions, MONITOR, reply mode, protocol): they must never take the
# inlined fast path.
STATEFUL = {
    "auth", "hello", "quit", "reset", "multi", "exec", "discard", "watch",
    "subscribe", "unsubscribe", "psubscribe", "punsubscribe", "ssubscribe", "sunsubscribe",
    "monitor", "shutdown", "client", "blpop", "brpop", "blmove", "brpoplpush", "blmpop",
    "bzpopmin", "bzpopmax", "bzmpop", "debug", "config",
}


def all_specs() -> list[Any]:
    out = []
    for spec in COMMANDS.values():
        out.append(spec)
        out.extend((spec.subcommands or {}).values())
    return out


def test_table_every_spec_is_well_formed() -> None:
    for spec in all_specs():
        assert spec.name == spec.name.lower()
        assert spec.arity != 0, spec.name
        assert spec.flags <= FLAGS, spec.name
        if spec.subcommands is None:
            assert callable(spec.handler), spec.name
        if spec.first_key:
            assert spec.step >= 1, spec.name
            assert spec.last_key < 0 or spec.last_key >= spec.first_key, spec.name


def test_table_containers_have_help() -> None:
    for spec in COMMANDS.values():
        if spec.subcommands is not None:
            assert b"help" in spec.subcommands, f"{spec.name} has no HELP subcommand"


def test_table_stateful_commands_never_take_the_fast_path() -> None:
    for name in STATEFUL:
        spec = COMMANDS.get(name)
        if spec is None:
            continue
        assert not spec.fast_path, name
        assert name.encode() not in _FAST, name


def test_table_lookup_accepts_lower_and_upper_case() -> None:
    for name, spec in COMMANDS.items():
        assert _TABLE[name.encode()] is spec
        assert _TABLE[name.upper().encode()] is spec


def test_table_has_the_commands_redis_benchmark_uses() -> None:
    for name in ("ping", "set", "get", "incr", "lpush", "rpush", "lpop", "rpop", "sadd",
                 "hset", "spop", "zadd", "zpopmin", "lrange", "mset", "config"):
        assert name in COMMANDS, name


class FakeClient(ClientState):
    """A ClientState whose transport hooks record what would have been sent."""

    __slots__ = ("blocked_now", "closed", "sent")

    def __init__(self, server: ServerState) -> None:
        super().__init__(server)
        self.sent: list[Any] = []
        self.closed = False
        self.blocked_now = False

    def send(self, value: Any) -> None:
        self.sent.append(value)

    def close(self) -> None:
        self.closed = True

    def block(self) -> None:
        self.blocked_now = True

    def unblock(self, reply: Any) -> None:
        self.blocked_now = False
        self.sent.append(reply)

    @property
    def address(self) -> str:
        return "127.0.0.1:1"

    @property
    def local_address(self) -> str:
        return "127.0.0.1:6379"


@pytest.fixture
def client() -> FakeClient:
    return FakeClient(ServerState(Config()))


def run(c: FakeClient, *cmds: list[bytes]) -> tuple[int, bytes]:
    out: list[bytes] = []
    done = run_batch(c, list(cmds), out)
    return done, b"".join(out)


def test_dispatch_pipeline_answers_in_order(client: FakeClient) -> None:
    done, wire = run(client, [b"SET", b"k", b"v"], [b"get", b"k"], [b"PING"], [b"NOPE"])
    assert done == 4
    assert wire == (b"+OK\r\n$1\r\nv\r\n+PONG\r\n"
                    b"-ERR unknown command 'NOPE', with args beginning with: \r\n")


def test_dispatch_arity_error_names_the_command(client: FakeClient) -> None:
    _, wire = run(client, [b"GET"], [b"client", b"setname"])
    assert wire == (b"-ERR wrong number of arguments for 'get' command\r\n"
                    b"-ERR wrong number of arguments for 'client|setname' command\r\n")


def test_dispatch_noauth_before_auth() -> None:
    c = FakeClient(ServerState(Config(requirepass="pw")))
    _, wire = run(c, [b"GET", b"k"], [b"AUTH", b"pw"], [b"GET", b"k"])
    assert wire == b"-NOAUTH Authentication required.\r\n+OK\r\n$-1\r\n"


def test_dispatch_counts_commandstats(client: FakeClient) -> None:
    run(client, [b"PING"], [b"PING"], [b"GET"])
    assert COMMANDS["ping"].stats.calls >= 2
    assert COMMANDS["get"].stats.rejected_calls >= 1


def test_dispatch_multi_queues_then_exec_runs(client: FakeClient) -> None:
    _, wire = run(client, [b"MULTI"], [b"SET", b"a", b"1"], [b"INCR", b"a"], [b"EXEC"])
    assert wire == b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:2\r\n"


def test_dispatch_handler_crash_is_an_error_reply(client: FakeClient, monkeypatch) -> None:
    spec = COMMANDS["echo"]

    def boom(c: ClientState, argv: list[bytes]) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(spec, "handler", boom)
    _, wire = run(client, [b"ECHO", b"x"], [b"PING"])
    assert wire == b"-ERR internal error\r\n+PONG\r\n"


def test_dispatch_blocked_command_stops_the_batch(client: FakeClient) -> None:
    done, wire = run(client, [b"PING"], [b"BLPOP", b"q", b"0"], [b"PING"])
    assert done == 2
    assert wire == b"+PONG\r\n"
    assert client.blocked_now
    assert BLOCKED is not None
