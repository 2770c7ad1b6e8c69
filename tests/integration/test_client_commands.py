"""CLIENT subcommands: replies, the CLIENT LIST line format and redis-server 7's errors."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest
import redis

from ..helpers import RawClient

# Field names of a redis-server 7.2 CLIENT LIST line, in order.
FIELDS = ["id", "addr", "laddr", "fd", "name", "age", "idle", "flags", "db", "sub", "psub",
          "ssub", "multi", "qbuf", "qbuf-free", "argv-mem", "multi-mem", "rbs", "rbp", "obl",
          "oll", "omem", "tot-mem", "events", "cmd", "user", "redir", "resp", "lib-name",
          "lib-ver"]


def _error(r: redis.Redis, *args: str | int) -> str:
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command(*args)
    return str(e.value)


def _parse(line: str) -> dict[str, str]:
    return dict(field.split("=", 1) for field in line.split(" "))


def _listing(c: RawClient, *args: str) -> dict[int, dict[str, str]]:
    text = c.command("CLIENT", "LIST", *args).decode()
    assert text == "" or text.endswith("\n")
    return {int(f["id"]): f for f in (_parse(line) for line in text.splitlines())}


def test_client_id_is_unique_integer(r: redis.Redis, raw: Callable[[], RawClient]) -> None:
    a, b = raw().command("CLIENT", "ID"), raw().command("CLIENT", "ID")
    assert isinstance(a, int) and isinstance(b, int) and b > a > 0
    assert isinstance(r.client_id(), int)


def test_client_setname_getname(r: redis.Redis) -> None:
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    name = r.client_getname()
    assert (name.decode() if isinstance(name, bytes) else name) == "worker-1"
    assert r.client_setname("") is True
    assert r.client_getname() is None


def test_client_setname_rejects_spaces(r: redis.Redis) -> None:
    for bad in ("a b", "a\nb", "caf\xe9"):
        assert _error(r, "CLIENT", "SETNAME", bad) == (
            "Client names cannot contain spaces, newlines or special characters.")


def test_client_list_line_format(raw: Callable[[], RawClient]) -> None:
    c = raw()
    my_id = c.command("CLIENT", "ID")
    text = c.command("CLIENT", "LIST").decode()
    line = next(x for x in text.splitlines() if x.startswith(f"id={my_id} "))
    fields = _parse(line)
    assert list(fields) == FIELDS
    assert re.fullmatch(r"127\.0\.0\.1:\d+", fields["addr"])
    assert re.fullmatch(r"127\.0\.0\.1:\d+", fields["laddr"])
    assert fields["flags"] == "N"
    assert fields["cmd"] == "client|list"
    assert fields["user"] == "default"
    assert fields["multi"] == "-1"
    assert fields["resp"] == "2"
    assert fields["name"] == "" and fields["lib-name"] == ""
    assert int(fields["fd"]) > 0


def test_client_info_is_own_line(r: redis.Redis, raw: Callable[[], RawClient]) -> None:
    c = raw()
    my_id = c.command("CLIENT", "ID")
    text = c.command("CLIENT", "INFO").decode()
    assert text.endswith("\n") and text.count("\n") == 1
    fields = _parse(text.strip())
    assert fields["id"] == str(my_id)
    assert fields["cmd"] == "client|info"
    # redis-py parses it in both protocols (RESP3 sends a verbatim string).
    assert r.client_info()["id"] == r.client_id()


def test_client_info_resp3_verbatim(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.command("HELLO", "3")
    c.send(b"*2\r\n$6\r\nCLIENT\r\n$4\r\nINFO\r\n")
    data = c.sock.recv(65536)
    assert data.startswith(b"=") and b"\r\ntxt:id=" in data
    assert b" resp=3 " in data


def test_client_setinfo_shows_in_list(r: redis.Redis, raw: Callable[[], RawClient]) -> None:
    c = raw()
    assert c.command("CLIENT", "SETINFO", "LIB-NAME", "mylib") == b"OK"
    assert c.command("CLIENT", "SETINFO", "lib-ver", "1.2.3") == b"OK"
    fields = _parse(c.command("CLIENT", "INFO").decode().strip())
    assert fields["lib-name"] == "mylib" and fields["lib-ver"] == "1.2.3"
    assert _error(r, "CLIENT", "SETINFO", "lib-foo", "x") == "Unrecognized option 'lib-foo'"
    assert _error(r, "CLIENT", "SETINFO", "lib-name", "a b") == (
        "lib-name cannot contain spaces, newlines or special characters.")


def test_client_list_type_filter(raw: Callable[[], RawClient]) -> None:
    c, sub = raw(), raw()
    sub_id = sub.command("CLIENT", "ID")
    sub.command("SUBSCRIBE", "news")
    pubsub = _listing(c, "TYPE", "pubsub")
    assert sub_id in pubsub
    assert pubsub[sub_id]["flags"] == "P" and pubsub[sub_id]["sub"] == "1"
    assert sub_id not in _listing(c, "TYPE", "normal")
    assert _listing(c, "TYPE", "master") == {}
    assert str(c.command("CLIENT", "LIST", "TYPE", "foo")) == "ERR Unknown client type 'foo'"


def test_client_list_id_filter(raw: Callable[[], RawClient]) -> None:
    c, other = raw(), raw()
    my_id, other_id = c.command("CLIENT", "ID"), other.command("CLIENT", "ID")
    assert set(_listing(c, "ID", str(other_id), str(my_id), "99999")) == {my_id, other_id}
    assert _listing(c, "ID", "99999") == {}
    assert str(c.command("CLIENT", "LIST", "ID", "abc")) == "ERR Invalid client ID"
    assert str(c.command("CLIENT", "LIST", "foo")) == "ERR syntax error"


def test_client_list_flags(raw: Callable[[], RawClient]) -> None:
    c, busy = raw(), raw()
    busy_id = busy.command("CLIENT", "ID")
    busy.command("MULTI")
    busy.command("PING")
    assert busy.command("CLIENT", "NO-EVICT", "on") == b"QUEUED"
    fields = _listing(c, "ID", str(busy_id))[busy_id]
    assert fields["flags"] == "x" and fields["multi"] == "2"  # commands queued
    busy.command("EXEC")
    busy.command("CLIENT", "NO-TOUCH", "ON")
    assert _listing(c, "ID", str(busy_id))[busy_id]["flags"] == "eT"


def test_client_list_monitor_flag(raw: Callable[[], RawClient]) -> None:
    c, mon = raw(), raw()
    mon_id = mon.command("CLIENT", "ID")
    assert mon.command("MONITOR") == b"OK"
    fields = _listing(c, "ID", str(mon_id))[mon_id]
    assert fields["flags"] == "O" and fields["cmd"] == "monitor"


def test_client_kill_by_address(raw: Callable[[], RawClient]) -> None:
    c, victim = raw(), raw()
    victim_id = victim.command("CLIENT", "ID")
    addr = _listing(c, "ID", str(victim_id))[victim_id]["addr"]
    assert c.command("CLIENT", "KILL", addr) == b"OK"
    assert victim.is_closed()
    assert str(c.command("CLIENT", "KILL", addr)) == "ERR No such client"


def test_client_kill_filters(raw: Callable[[], RawClient]) -> None:
    c, v1, v2 = raw(), raw(), raw()
    v1_id = v1.command("CLIENT", "ID")
    v2.command("CLIENT", "ID")
    assert c.command("CLIENT", "KILL", "ID", str(v1_id)) == 1
    assert v1.is_closed()
    assert c.command("CLIENT", "KILL", "ID", "999999") == 0
    v2_addr = v2.sock.getsockname()
    assert c.command("CLIENT", "KILL", "ADDR", f"{v2_addr[0]}:{v2_addr[1]}",
                     "SKIPME", "yes") == 1
    assert v2.is_closed()
    assert c.command("PING") == b"PONG"


def test_client_kill_skipme_no_kills_self_after_reply(raw: Callable[[], RawClient]) -> None:
    c = raw()
    my_id = c.command("CLIENT", "ID")
    assert c.command("CLIENT", "KILL", "ID", str(my_id), "SKIPME", "no") == 1
    assert c.is_closed()


def test_client_kill_user_and_maxage(raw: Callable[[], RawClient]) -> None:
    c = raw()
    assert c.command("CLIENT", "KILL", "USER", "default", "MAXAGE", "100000") == 0
    assert c.command("CLIENT", "KILL", "LADDR", "1.2.3.4:5") == 0


def test_client_kill_errors(r: redis.Redis) -> None:
    assert _error(r, "CLIENT", "KILL", "ID", "abc") == "client-id should be greater than 0"
    assert _error(r, "CLIENT", "KILL", "ID", "0") == "client-id should be greater than 0"
    assert _error(r, "CLIENT", "KILL", "foo", "bar") == "syntax error"
    assert _error(r, "CLIENT", "KILL", "TYPE", "foo") == "Unknown client type 'foo'"
    assert _error(r, "CLIENT", "KILL", "SKIPME", "maybe") == "syntax error"
    assert _error(r, "CLIENT", "KILL", "USER", "foo") == "No such user 'foo'"
    assert _error(r, "CLIENT", "KILL", "TYPE") == "No such client"
    assert _error(r, "CLIENT", "KILL", "ID", "1", "TYPE") == "syntax error"


def test_client_reply_off_on(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.send(b"CLIENT REPLY OFF\r\nPING\r\nSET a 1\r\nCLIENT REPLY ON\r\nECHO back\r\n")
    assert c.read() == b"OK"  # only CLIENT REPLY ON answers
    assert c.read() == b"back"


def test_client_reply_skip(raw: Callable[[], RawClient]) -> None:
    c = raw()
    c.send(b"CLIENT REPLY SKIP\r\nECHO skipped\r\nECHO shown\r\n")
    assert c.read() == b"shown"


def test_client_reply_errors(r: redis.Redis) -> None:
    assert _error(r, "CLIENT", "REPLY", "foo") == "syntax error"
    assert r.execute_command("CLIENT", "REPLY", "ON") in (b"OK", "OK", True)


def test_client_no_evict_no_touch_errors(r: redis.Redis) -> None:
    assert _error(r, "CLIENT", "NO-EVICT", "maybe") == "syntax error"
    assert _error(r, "CLIENT", "NO-TOUCH", "maybe") == "syntax error"
    assert r.execute_command("CLIENT", "NO-EVICT", "off") in (b"OK", "OK", True)


def test_client_unblock_timeout_and_error(raw: Callable[[], RawClient]) -> None:
    c, waiting = raw(), raw()
    wid = waiting.command("CLIENT", "ID")
    waiting.send(b"*3\r\n$5\r\nBLPOP\r\n$8\r\nunblockq\r\n$1\r\n0\r\n")
    _wait_blocked(c, wid)
    assert _listing(c, "ID", str(wid))[wid]["flags"] == "b"
    assert c.command("CLIENT", "UNBLOCK", str(wid)) == 1
    assert waiting.read() is None  # BLPOP's own timeout reply
    waiting.send(b"*3\r\n$5\r\nBLPOP\r\n$8\r\nunblockq\r\n$1\r\n0\r\n")
    _wait_blocked(c, wid)
    assert c.command("CLIENT", "UNBLOCK", str(wid), "ERROR") == 1
    assert str(waiting.read()) == "UNBLOCKED client unblocked via CLIENT UNBLOCK"
    assert c.command("CLIENT", "UNBLOCK", str(wid)) == 0  # not blocked any more
    assert waiting.command("PING") == b"PONG"


def _wait_blocked(c: RawClient, client_id: int) -> None:
    deadline = time.monotonic() + 5
    while "b" not in _listing(c, "ID", str(client_id))[client_id]["flags"]:
        assert time.monotonic() < deadline, "client never blocked"
        time.sleep(0.01)


def test_client_unblock_errors(r: redis.Redis) -> None:
    assert _error(r, "CLIENT", "UNBLOCK", "1", "foo") == (
        "CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
    assert _error(r, "CLIENT", "UNBLOCK", "abc") == "value is not an integer or out of range"
    assert r.execute_command("CLIENT", "UNBLOCK", "999999") == 0


def test_client_pause_unpause(r: redis.Redis) -> None:
    assert r.execute_command("CLIENT", "PAUSE", "10", "WRITE") in (b"OK", "OK", True)
    assert r.execute_command("CLIENT", "UNPAUSE") in (b"OK", "OK", True)
    assert _error(r, "CLIENT", "PAUSE", "abc") == "timeout is not an integer or out of range"
    assert _error(r, "CLIENT", "PAUSE", "10", "foo") == "CLIENT PAUSE mode must be WRITE or ALL"


def test_client_pause_write_holds_writes_not_reads(raw: Callable[[], RawClient]) -> None:
    admin, other = raw(), raw()
    assert admin.command("CLIENT", "PAUSE", "300", "WRITE") == b"OK"
    t0 = time.monotonic()
    assert other.command("GET", "k") is None  # reads go on
    assert time.monotonic() - t0 < 0.2
    assert other.command("SET", "k", "v") == b"OK"  # held until the pause ends
    assert time.monotonic() - t0 >= 0.25
    assert other.command("GET", "k") == b"v"


def test_client_unpause_releases_held_commands(raw: Callable[[], RawClient]) -> None:
    admin, other = raw(), raw()
    assert admin.command("CLIENT", "PAUSE", "5000", "ALL") == b"OK"
    t0 = time.monotonic()
    other.send(b"*1\r\n$4\r\nPING\r\n")
    time.sleep(0.1)
    assert admin.command("CLIENT", "UNPAUSE") == b"OK"
    assert other.read() == b"PONG"
    assert time.monotonic() - t0 < 2


def test_client_trackinginfo_and_getredir(r: redis.Redis) -> None:
    assert r.execute_command("CLIENT", "GETREDIR") == -1
    info = r.execute_command("CLIENT", "TRACKINGINFO")
    if isinstance(info, list):
        info = dict(zip(info[::2], info[1::2], strict=True))
    assert info[b"flags"] == [b"off"] and info[b"redirect"] == -1


def test_client_help_and_unknown_subcommand(r: redis.Redis) -> None:
    lines = [x.decode() if isinstance(x, bytes) else x
             for x in r.execute_command("CLIENT", "HELP")]
    assert lines[0] == "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert lines[-2:] == ["HELP", "    Prints this help."]
    assert _error(r, "CLIENT", "FOO") == "unknown subcommand 'FOO'. Try CLIENT HELP."
    assert _error(r, "CLIENT", "SETNAME") == (
        "wrong number of arguments for 'client|setname' command")
