"""INFO: redis-server 7's sections, field names and text format (RESP2 bulk, RESP3 verbatim)."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable

import pytest
import redis

from ..helpers import RawClient, ServerProcess, encode_command

DEFAULT_SECTIONS = ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication",
                    "CPU", "Modules", "Errorstats", "Cluster", "Keyspace", "Tensorserve"]


def _headers(text: str) -> list[str]:
    return [line[2:] for line in text.split("\r\n") if line.startswith("# ")]


def _raw_reply(port: int, *commands: tuple[str, ...]) -> bytes:
    """The exact bytes of the replies to ``commands`` (read until the socket goes quiet)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(encode_command(*c) for c in commands))
        s.settimeout(0.3)
        chunks = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except TimeoutError:
            pass
        return b"".join(chunks)


def test_info_default_sections_in_redis_order(raw: Callable[[], RawClient]) -> None:
    text = raw().command("INFO").decode()
    assert _headers(text) == DEFAULT_SECTIONS
    assert text.startswith("# Server\r\nredis_version:7.2.4\r\n")
    assert text.endswith("\r\n")
    assert "\n\n" not in text.replace("\r\n", "\n").replace("\n\n# ", "")


def test_info_sections_follow_redis_order_not_argument_order(raw: Callable[[], RawClient]
                                                             ) -> None:
    text = raw().command("INFO", "keyspace", "CPU").decode()
    assert _headers(text) == ["CPU", "Keyspace"]
    # Sections are separated by one empty line.
    assert "\r\n\r\n# Keyspace\r\n" in text


def test_info_unknown_section_is_empty(raw: Callable[[], RawClient]) -> None:
    assert raw().command("INFO", "nosuchsection") == b""


def test_info_single_section_exact_framing(server: ServerProcess) -> None:
    reply = _raw_reply(server.port, ("INFO", "cluster"))
    assert reply == b"$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"


def test_info_resp3_is_verbatim_string(server: ServerProcess) -> None:
    reply = _raw_reply(server.port, ("HELLO", "3"), ("INFO", "cluster"))
    assert reply.endswith(b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n")


def test_info_server_fields(r: redis.Redis, server: ServerProcess) -> None:
    info = r.info("server")
    assert info["redis_version"] == "7.2.4"
    assert info["redis_mode"] == "standalone"
    assert info["tcp_port"] == server.port
    assert info["process_id"] == server.proc.pid
    assert re.fullmatch(r"[0-9a-f]{40}", info["run_id"])
    assert info["arch_bits"] == 64
    assert info["uptime_in_days"] == 0
    assert info["hz"] == 10
    for field in ("os", "uptime_in_seconds", "executable", "config_file"):
        assert field in info


def test_info_clients_and_memory_fields(r: redis.Redis) -> None:
    info = r.info()
    assert info["connected_clients"] >= 1
    assert info["blocked_clients"] == 0
    assert info["maxclients"] == 10000
    assert info["used_memory"] > 1_000_000
    assert re.fullmatch(r"\d+\.\d\dM", info["used_memory_human"])
    assert info["used_memory_peak"] >= info["used_memory"] or info["used_memory_peak"] > 0
    assert info["maxmemory"] == 0
    assert info["maxmemory_policy"] == "noeviction"
    assert isinstance(info["mem_fragmentation_ratio"], float)


def test_info_persistence_and_replication_fields(r: redis.Redis) -> None:
    info = r.info("everything")
    assert info["loading"] == 0
    assert info["rdb_bgsave_in_progress"] == 0
    assert info["rdb_last_bgsave_status"] == "ok"
    assert info["aof_enabled"] == 0
    assert info["aof_rewrite_in_progress"] == 0
    assert isinstance(info["rdb_last_save_time"], int)
    assert info["role"] == "master"
    assert info["connected_slaves"] == 0
    assert re.fullmatch(r"[0-9a-f]{40}", info["master_replid"])
    assert info["master_repl_offset"] == 0
    assert isinstance(info["used_cpu_sys"], float)
    assert isinstance(info["used_cpu_user"], float)


def test_info_rdb_changes_since_last_save_counts_writes(r: redis.Redis) -> None:
    before = r.info("persistence")["rdb_changes_since_last_save"]
    r.set("k", "v")
    r.set("k", "w")
    assert r.info("persistence")["rdb_changes_since_last_save"] >= before + 2


def test_info_stats_fields(r: redis.Redis) -> None:
    r.set("hit", "1")
    r.get("hit")
    r.get("miss")
    info = r.info("stats")
    for field in ("total_connections_received", "instantaneous_ops_per_sec",
                  "total_net_input_bytes", "total_net_output_bytes", "rejected_connections",
                  "expired_keys", "evicted_keys", "keyspace_hits", "keyspace_misses",
                  "pubsub_channels", "pubsub_patterns", "total_error_replies"):
        assert isinstance(info[field], int), field
    assert info["total_net_input_bytes"] > 0


def test_info_total_commands_processed_counts_calls(r: redis.Redis) -> None:
    before = r.info("stats")["total_commands_processed"]
    for _ in range(5):
        r.ping()
    # The five PINGs plus the first INFO.
    assert r.info("stats")["total_commands_processed"] >= before + 6


def test_info_commandstats_format(r: redis.Redis, raw: Callable[[], RawClient]) -> None:
    r.config_resetstat()
    r.set("a", "1")
    r.get("a")
    r.get("a")
    r.client_id()
    text = raw().command("INFO", "commandstats").decode()
    assert _headers(text) == ["Commandstats"]
    assert re.search(r"\r\ncmdstat_get:calls=2,usec=\d+,usec_per_call=\d+\.\d\d,"
                     r"rejected_calls=0,failed_calls=0\r\n", text)
    assert "\r\ncmdstat_client|id:calls=1," in text
    parsed = r.info("commandstats")
    assert parsed["cmdstat_set"]["calls"] == 1


def test_info_commandstats_counts_failed_and_rejected(r: redis.Redis) -> None:
    r.config_resetstat()
    r.set("s", "x")
    try:
        r.lpush("s", "a")  # WRONGTYPE: a failed call
    except redis.ResponseError:
        pass
    try:
        r.execute_command("GET")  # arity: a rejected call
    except redis.ResponseError:
        pass
    stats = r.info("commandstats")
    assert stats["cmdstat_lpush"]["failed_calls"] == 1
    assert stats["cmdstat_get"]["rejected_calls"] == 1
    assert r.info("stats")["total_error_replies"] == 2


def test_info_commandstats_not_in_default(raw: Callable[[], RawClient]) -> None:
    c = raw()
    assert "Commandstats" not in _headers(c.command("INFO", "default").decode())
    assert "Commandstats" in _headers(c.command("INFO", "all").decode())
    assert "Commandstats" in _headers(c.command("INFO", "everything").decode())


def test_info_keyspace_lists_only_nonempty_dbs(r: redis.Redis) -> None:
    assert r.info("keyspace") == {}
    r.set("a", "1")
    r.set("b", "2", ex=100)
    r.execute_command("SELECT", 3)
    r.set("c", "3")
    info = r.info("keyspace")
    assert set(info) == {"db0", "db3"}
    assert info["db0"]["keys"] == 2
    assert info["db0"]["expires"] == 1
    assert 0 < info["db0"]["avg_ttl"] <= 100_000
    assert info["db3"] == {"keys": 1, "expires": 0, "avg_ttl": 0}


def test_info_tensorserve_section(r: redis.Redis, server: ServerProcess) -> None:
    info = r.info("tensorserve")
    assert info["tensorserve_version"]
    fast = "--reader" in server.args and server.args[server.args.index("--reader") + 1] == "auto"
    assert info["event_loop"] == ("uvloop" if fast else "asyncio")
    assert info["reader"] == ("hiredis" if fast else "python")


def test_info_section_names_case_insensitive(raw: Callable[[], RawClient]) -> None:
    assert _headers(raw().command("INFO", "SERVER").decode()) == ["Server"]


def test_info_commandstats_usec_is_microseconds(r: redis.Redis) -> None:
    r.config_resetstat()
    r.execute_command("DEBUG", "SLEEP", "0.02")
    stat = r.info("commandstats")["cmdstat_debug"]
    assert stat["calls"] == 1
    assert 20_000 <= stat["usec"] < 2_000_000
    assert stat["usec_per_call"] == pytest.approx(stat["usec"], abs=1)
