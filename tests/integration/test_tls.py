"""TLS as redis-server has it: a tls-port listener next to (or instead of) the plain
port, client certificates required by default (tls-auth-clients yes / optional / no),
checked with redis-py and redis-cli --tls."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from ..conftest import require_binary
from ..helpers import ServerProcess, free_port


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, signed by it."""
    openssl = require_binary("openssl")
    d = tmp_path_factory.mktemp("tls")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{name}.crt")
    yield d


def _tls_server(start: Callable[..., ServerProcess], certs: Path, *extra: str
                ) -> tuple[ServerProcess, int]:
    tls_port = free_port()
    srv = start("--tls-port", str(tls_port), "--tls-cert-file", str(certs / "server.crt"),
                "--tls-key-file", str(certs / "server.key"),
                "--tls-ca-cert-file", str(certs / "ca.crt"), *extra)
    return srv, tls_port


def _client(port: int, certs: Path, cert: bool = True) -> redis.Redis:
    kwargs = {"ssl_certfile": str(certs / "client.crt"),
              "ssl_keyfile": str(certs / "client.key")} if cert else {}
    return redis.Redis(host="127.0.0.1", port=port, ssl=True,
                       ssl_ca_certs=str(certs / "ca.crt"), socket_timeout=10, **kwargs)


def test_tls_with_client_certificate(start_server: Callable[..., ServerProcess],
                                     certs: Path) -> None:
    srv, tls_port = _tls_server(start_server, certs)
    r = _client(tls_port, certs)
    assert r.ping()
    assert r.set("k", "over tls") and r.get("k") == b"over tls"
    # The plain port serves the same data.
    assert redis.Redis(port=srv.port).get("k") == b"over tls"
    big = b"x" * 1_000_000
    assert r.set("big", big) and r.get("big") == big
    r.close()


def test_tls_auth_clients_yes_refuses_a_client_without_certificate(
        start_server: Callable[..., ServerProcess], certs: Path) -> None:
    _, tls_port = _tls_server(start_server, certs)
    r = _client(tls_port, certs, cert=False)
    with pytest.raises(redis.ConnectionError):
        r.ping()
    # A client that does not speak TLS at all gets nothing served either.
    with socket.create_connection(("127.0.0.1", tls_port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        try:
            data = s.recv(100)
        except (ConnectionResetError, TimeoutError):
            data = b""
        assert b"PONG" not in data


@pytest.mark.parametrize("mode", ["no", "optional"])
def test_tls_auth_clients_no_and_optional(start_server: Callable[..., ServerProcess],
                                          certs: Path, mode: str) -> None:
    _, tls_port = _tls_server(start_server, certs, "--tls-auth-clients", mode)
    assert _client(tls_port, certs, cert=False).ping()
    assert _client(tls_port, certs, cert=True).ping()


def test_tls_only_with_port_0(start_server: Callable[..., ServerProcess], certs: Path) -> None:
    tls_port = free_port()
    plain = free_port()
    srv = start_server("--port", "0", "--tls-port", str(tls_port),
                       "--tls-cert-file", str(certs / "server.crt"),
                       "--tls-key-file", str(certs / "server.key"),
                       "--tls-ca-cert-file", str(certs / "ca.crt"), port=plain,
                       ready=lambda: _client(tls_port, certs).ping())
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", plain), timeout=2)
    assert _client(tls_port, certs).ping()
    assert srv.alive()


def test_redis_cli_over_tls(start_server: Callable[..., ServerProcess], certs: Path) -> None:
    cli = require_binary("redis-cli")
    _, tls_port = _tls_server(start_server, certs)
    out = subprocess.run(
        [cli, "--tls", "--cacert", str(certs / "ca.crt"), "--cert", str(certs / "client.crt"),
         "--key", str(certs / "client.key"), "-h", "127.0.0.1", "-p", str(tls_port),
         "SET", "cli", "tls"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "OK", out.stderr
    out = subprocess.run(
        [cli, "--tls", "--cacert", str(certs / "ca.crt"), "--cert", str(certs / "client.crt"),
         "--key", str(certs / "client.key"), "-h", "127.0.0.1", "-p", str(tls_port),
         "GET", "cli"], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "tls"


def test_tls_misconfiguration_refuses_to_start(start_server: Callable[..., ServerProcess],
                                              certs: Path) -> None:
    with pytest.raises(RuntimeError) as e:
        start_server("--tls-port", str(free_port()), "--tls-cert-file",
                     str(certs / "missing.crt"), "--tls-key-file", str(certs / "server.key"),
                     "--tls-ca-cert-file", str(certs / "ca.crt"))
    assert "No such file" in str(e.value)
    with pytest.raises(RuntimeError) as e:
        start_server("--tls-port", str(free_port()), "--tls-cert-file",
                     str(certs / "server.crt"), "--tls-key-file", str(certs / "server.key"))
    assert "tls-auth-clients needs tls-ca-cert-file" in str(e.value)
