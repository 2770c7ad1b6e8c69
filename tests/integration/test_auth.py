"""AUTH, HELLO AUTH and requirepass: redis-server 7's texts before and after authentication.

Servers with a password are started once per module (starting one costs ~1 s) and used
with plain clients, not the 8-way parametrized ``r`` fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..helpers import RawClient, ServerProcess, raw_connector

NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(["--requirepass", "pw"], cwd=str(tmp_path_factory.mktemp("auth")))
    yield srv
    code = srv.stop()
    assert code == 0, srv.log()


@pytest.fixture
def conn(secured: ServerProcess) -> Iterator[Callable[[], RawClient]]:
    with raw_connector(secured.port) as connect:
        yield connect


def test_auth_required_before_commands(conn: Callable[[], RawClient]) -> None:
    c = conn()
    assert str(c.command("PING")) == NOAUTH
    assert str(c.command("GET", "k")) == NOAUTH
    assert str(c.command("CONFIG", "GET", "requirepass")) == NOAUTH


def test_auth_unknown_command_before_auth_is_unknown(conn: Callable[[], RawClient]) -> None:
    # redis-server checks the command table before authentication.
    assert str(conn().command("NOSUCH")) == (
        "ERR unknown command 'NOSUCH', with args beginning with: ")


def test_auth_wrong_password(conn: Callable[[], RawClient]) -> None:
    c = conn()
    assert str(c.command("AUTH", "nope")) == WRONGPASS
    assert str(c.command("AUTH", "default", "nope")) == WRONGPASS
    assert str(c.command("AUTH", "someone", "pw")) == WRONGPASS
    assert str(c.command("PING")) == NOAUTH


def test_auth_password_then_commands(conn: Callable[[], RawClient]) -> None:
    c = conn()
    assert c.command("AUTH", "pw") == b"OK"
    assert c.command("PING") == b"PONG"
    c2 = conn()
    assert c2.command("AUTH", "default", "pw") == b"OK"
    assert c2.command("CLIENT", "INFO").decode().split(" user=")[1].startswith("default ")


def test_auth_syntax_error(conn: Callable[[], RawClient]) -> None:
    assert str(conn().command("AUTH", "a", "b", "c")) == "ERR syntax error"


def test_auth_hello_3_with_auth(conn: Callable[[], RawClient]) -> None:
    c = conn()
    reply = c.command("HELLO", "3", "AUTH", "default", "pw", "SETNAME", "me")
    assert reply[b"proto"] == 3
    assert reply[b"server"] == b"redis"
    assert c.command("CLIENT", "GETNAME") == b"me"
    assert c.command("PING") == b"PONG"


def test_auth_hello_wrong_password(conn: Callable[[], RawClient]) -> None:
    assert str(conn().command("HELLO", "3", "AUTH", "default", "bad")) == WRONGPASS


def test_auth_hello_without_auth_is_refused(conn: Callable[[], RawClient]) -> None:
    reply = conn().command("HELLO", "3")
    assert str(reply).startswith("NOAUTH HELLO must be called with the client already "
                                 "authenticated")


@pytest.mark.parametrize("protocol", [2, 3])
def test_auth_redis_py_with_password(secured: ServerProcess, protocol: int) -> None:
    r = redis.Redis(port=secured.port, password="pw", protocol=protocol)
    try:
        assert r.ping() is True
        assert r.set("k", "v") is True
        assert r.get("k") == b"v"
    finally:
        r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_auth_redis_py_without_password_fails(secured: ServerProcess, protocol: int) -> None:
    # No retries: redis-py 8 retries failed connects with back-off by default.
    r = redis.Redis(port=secured.port, protocol=protocol, retry=Retry(NoBackoff(), 0))
    try:
        with pytest.raises(redis.AuthenticationError):
            r.get("k")
    finally:
        r.close()


def test_auth_reset_forgets_authentication(conn: Callable[[], RawClient]) -> None:
    c = conn()
    assert c.command("AUTH", "pw") == b"OK"
    assert c.command("RESET") == b"RESET"
    assert str(c.command("PING")) == NOAUTH


def test_auth_config_set_requirepass_at_runtime(start_server: Callable[..., ServerProcess]
                                                ) -> None:
    srv = start_server()
    admin = RawClient(srv.port)
    try:
        assert admin.command("CONFIG", "SET", "requirepass", "s3cret") == b"OK"
        assert admin.command("PING") == b"PONG"  # already connected: stays authenticated
        late = RawClient(srv.port)
        assert str(late.command("PING")) == NOAUTH
        assert late.command("AUTH", "s3cret") == b"OK"
        waiting = RawClient(srv.port)
        assert str(waiting.command("PING")) == NOAUTH
        # Clearing the password lets everyone in, including clients not yet authenticated.
        assert admin.command("CONFIG", "SET", "requirepass", "") == b"OK"
        assert waiting.command("PING") == b"PONG"
        late.close()
        waiting.close()
    finally:
        admin.close()


def test_auth_without_configured_password(raw: Callable[[], RawClient]) -> None:
    c = raw()
    assert str(c.command("AUTH", "pw")) == (
        "ERR AUTH <password> called without any password configured for the default user. "
        "Are you sure your configuration is correct?")
    assert str(c.command("AUTH", "someone", "pw")) == WRONGPASS


def test_auth_default_user_without_password_accepts_any(raw: Callable[[], RawClient]) -> None:
    assert raw().command("AUTH", "default", "anything") == b"OK"


def test_auth_protected_mode_default(raw: Callable[[], RawClient]) -> None:
    # Protected mode refuses non-loopback clients; from loopback we can check the setting.
    c = raw()
    assert c.command("CONFIG", "GET", "protected-mode") == [b"protected-mode", b"yes"]
    assert c.command("CONFIG", "GET", "requirepass") == [b"requirepass", b""]
