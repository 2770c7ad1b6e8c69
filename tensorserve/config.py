"""Server configuration: one frozen dataclass and one table of parameters.

``Config`` is immutable; CONFIG SET builds a new one with :func:`dataclasses.replace`
and the server swaps it in, so hot paths read ``server.config.x`` with no locking and
nothing changes under a running command. :data:`PARAMS` maps each redis.conf name to a
field, a parser and a formatter; the command-line flags, the config file and CONFIG
GET/SET are all driven by it. Defaults equal redis-server 7's where one exists.
"""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = ["PARAMS", "Config", "ConfigError", "Param", "parse_config_file", "parse_memory"]


class ConfigError(ValueError):
    """A bad configuration value; the text is what CONFIG SET / start-up report."""


@dataclass(frozen=True, slots=True)
class Config:
    port: int = 6379
    bind: tuple[str, ...] = ("127.0.0.1",)
    # TLS, as redis-server: a second listener on tls-port (0: none); clients must show
    # a certificate signed by tls-ca-cert-file unless tls-auth-clients is no / optional.
    tls_port: int = 0
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ca_cert_file: str = ""
    tls_auth_clients: str = "yes"
    requirepass: str = ""
    # ACL (commands/_acl*.py): users come from aclfile when one is set (ACL LOAD /
    # ACL SAVE use it); new users get no channels unless acl-pubsub-default is
    # allchannels (Redis 7's default).
    aclfile: str = ""
    acllog_max_len: int = 128
    acl_pubsub_default: str = "resetchannels"
    dir: str = "."
    loglevel: str = "notice"
    logfile: str = ""
    maxclients: int = 10000
    databases: int = 16
    protected_mode: bool = True
    timeout: int = 0
    tcp_keepalive: int = 300
    tcp_backlog: int = 511
    proto_max_bulk_len: int = 512 * 1024 * 1024
    # The largest tensor AI.TENSORSET may create (its data, in bytes), whether sent as a
    # BLOB, as VALUES or as a shape alone; the lower of this and proto-max-bulk-len.
    tensor_max_bytes: int = 512 * 1024 * 1024
    client_query_buffer_limit: int = 1024 * 1024 * 1024
    # class -> (hard, soft, soft seconds); redis-server's defaults.
    client_output_buffer_limit: tuple[tuple[str, int, int, int], ...] = (
        ("normal", 0, 0, 0),
        ("replica", 256 * 1024 * 1024, 64 * 1024 * 1024, 60),
        ("pubsub", 32 * 1024 * 1024, 8 * 1024 * 1024, 60),
    )
    slowlog_log_slower_than: int = 10000
    slowlog_max_len: int = 128
    hz: int = 10
    save: str = "3600 1 300 100 60 10000"
    stop_writes_on_bgsave_error: bool = True
    appendonly: bool = False
    appendfsync: str = "everysec"
    # Not dump.rdb: the file is tensorserve's own format, and a Redis dump.rdb left in
    # --dir must not be mistaken for one (or overwritten).
    dbfilename: str = "dump.tsdb"
    appendfilename: str = "appendonly.aof"
    maxmemory: int = 0  # bytes; 0: no limit (and no memory accounting at all)
    maxmemory_policy: str = "noeviction"
    maxmemory_samples: int = 5  # keys sampled per eviction round
    maxmemory_eviction_tenacity: int = 10  # eviction time budget per command (Redis's)
    lfu_log_factor: int = 10
    lfu_decay_time: int = 1  # minutes per counter decrement
    notify_keyspace_events: str = ""
    hash_max_listpack_entries: int = 128
    hash_max_listpack_value: int = 64
    list_max_listpack_size: int = -2
    set_max_intset_entries: int = 512
    set_max_listpack_entries: int = 128
    set_max_listpack_value: int = 64
    zset_max_listpack_entries: int = 128
    zset_max_listpack_value: int = 64
    lua_time_limit: int = 5000
    daemonize: bool = False
    pidfile: str = ""
    # RedisAI's module options (src/config/config.c), as server flags.
    threads_per_queue: int = 1  # worker threads per device run queue
    # 1, not the backend's default (a thread per core): on a server parallelism comes
    # from concurrent runs and queues, and a per-core pool per engine oversubscribes the
    # cores the loop and other runs need (bench/README.md: cnn-torch 823 -> 2,178
    # inferences/s on 2 cores). 0 asks for the backend's default.
    intra_op_parallelism: int = 1
    inter_op_parallelism: int = 0
    model_chunk_size: int = 511 * 1024 * 1024  # AI.MODELGET splits bigger blobs
    # ONNX runs longer than this are stopped (RedisAI's MODEL_EXECUTION_TIMEOUT, ms,
    # at least 1000). TorchScript offers no way to stop a run: see the README.
    model_execution_timeout: int = 5000
    backendspath: str = ""  # accepted and remembered (backends are Python packages)
    # A run predicted to take at most this long (from the model's recent runs) is done
    # on the event loop when its device queue is idle: a hand-off to a worker and back
    # costs more than that (bench/README.md). 0 sends every run to a worker.
    inline_run_max_us: int = 250
    # Auto-batching: how long a batch held back by MINBATCHSIZE waits for more rows when
    # its model has no MINBATCHTIMEOUT (RedisAI waits forever; a quiet client should not).
    minbatch_timeout_default: int = 100  # ms
    # Runs waiting for one device's workers (queued, running or being batched); past
    # it, new runs are refused at once. 0: no cap.
    queue_max_len: int = 10000
    # Redis 7's hardening: CONFIG SET of dir / dbfilename (the classic way to make a
    # server write a file anywhere) and the DEBUG command are refused unless these are
    # yes, or local for clients on loopback / a unix socket.
    enable_protected_configs: str = "no"
    enable_debug_command: str = "no"
    # tensorserve's own knobs (no redis-server equivalent).
    # The Prometheus endpoint (GET /metrics) on this port at the bind addresses; 0: off.
    metrics_port: int = 0
    log_format: str = "text"  # text (redis-server's lines) | json (one object a line)
    reader: str = "auto"  # auto | hiredis | python
    event_loop: str = "auto"  # auto | uvloop | asyncio


def parse_memory(text: str) -> int:
    """redis.conf memory units: 1k = 1000, 1kb = 1024, 1m, 1mb, 1g, 1gb (case-insensitive)."""
    m = re.fullmatch(r"(-?\d+)\s*(k|kb|m|mb|g|gb|b)?", text.strip().lower())
    if not m:
        raise ConfigError("argument must be a memory value")
    unit = {
        None: 1,
        "b": 1,
        "k": 1000,
        "kb": 1024,
        "m": 1000**2,
        "mb": 1024**2,
        "g": 1000**3,
        "gb": 1024**3,
    }[m.group(2)]
    return int(m.group(1)) * unit


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ConfigError("argument couldn't be parsed into an integer") from None
        if not lo <= value <= hi:
            raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
        return value

    return parse


def _bool(text: str) -> bool:
    t = text.lower()
    if t in ("yes", "1", "true"):
        return True
    if t in ("no", "0", "false"):
        return False
    raise ConfigError("argument must be 'yes' or 'no'")


def _no_notifications(text: str) -> str:
    """Keyspace notifications are not sent: refusing the setting beats a client that
    subscribes to ``__keyevent@*`` and waits forever for events that never come."""
    if text.strip():
        raise ConfigError("keyspace notifications are not supported by tensorserve")
    return ""


def _enum(*choices: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        t = text.lower()
        if t not in choices:
            raise ConfigError("argument(s) must be one of the following: " + ", ".join(choices))
        return t

    return parse


def _mem(text: str) -> int:
    return parse_memory(text)


def _mem_range(lo: int, hi: int) -> Callable[[str], int]:
    """A memory value within redis-server's bounds for the parameter."""

    def parse(text: str) -> int:
        value = _mem_unsigned(text)
        if not lo <= value <= hi:
            raise ConfigError(f"argument must be between {lo} and {hi} inclusive")
        return value

    return parse


def _mem_unsigned(text: str) -> int:
    value = parse_memory(text)
    if value < 0:  # redis-server's memtoull refuses a sign
        raise ConfigError("argument must be a memory value")
    return value


def _bind(text: str) -> tuple[str, ...]:
    addrs = tuple(text.split())
    if not addrs:
        raise ConfigError("Too many bind addresses specified.")
    return addrs


def _save(text: str) -> str:
    parts = text.split()
    if len(parts) % 2:
        raise ConfigError("Invalid save parameters")
    for p in parts:
        if not p.isdigit():
            raise ConfigError("Invalid save parameters")
    return " ".join(parts)


def _dir(current: str, text: str) -> str:
    """The data directory as an absolute, physical path (redis-server chdir()s there and
    CONFIG GET dir shows getcwd()); a relative one is taken from the current one. The
    process never works in it (server/_process.private_workdir): paths are joined."""
    path = os.path.realpath(os.path.join(current, text)) if text else ""
    if not path or not os.path.exists(path):
        raise ConfigError(os.strerror(errno.ENOENT))
    if not os.path.isdir(path):
        raise ConfigError(os.strerror(errno.ENOTDIR))
    if not os.access(path, os.X_OK):
        raise ConfigError(os.strerror(errno.EACCES))
    return path


def _filename(text: str) -> str:
    # redis-server's check: the snapshot lives in --dir, under a plain name.
    if not text or "/" in text or text in (".", ".."):
        raise ConfigError("dbfilename can't be a path, just a filename")
    return text


_CLIENT_CLASSES: Final = {"normal": "normal", "replica": "replica", "slave": "replica",
                          "pubsub": "pubsub"}


def _cobl_parse(current: tuple[tuple[str, int, int, int], ...]) -> Callable[[str], Any]:
    def parse(text: str) -> tuple[tuple[str, int, int, int], ...]:
        parts = text.split()
        if not parts or len(parts) % 4:
            raise ConfigError("Wrong number of arguments in buffer limit configuration.")
        limits = {c: (h, s, t) for c, h, s, t in current}
        for i in range(0, len(parts), 4):
            cls = _CLIENT_CLASSES.get(parts[i].lower())
            if cls is None:
                raise ConfigError("Invalid client class specified in buffer limit configuration.")
            try:
                hard, soft = parse_memory(parts[i + 1]), parse_memory(parts[i + 2])
                secs = int(parts[i + 3])
            except (ConfigError, ValueError):
                raise ConfigError(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                ) from None
            if hard < 0 or soft < 0 or secs < 0:
                raise ConfigError(
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                )
            limits[cls] = (hard, soft, secs)
        return tuple((c, *limits[c]) for c in ("normal", "replica", "pubsub"))

    return parse


def _cobl_format(value: tuple[tuple[str, int, int, int], ...]) -> str:
    names = {"replica": "slave"}
    return " ".join(f"{names.get(c, c)} {h} {s} {t}" for c, h, s, t in value)


def _yesno(value: bool) -> str:
    return "yes" if value else "no"


@dataclass(frozen=True, slots=True)
class Param:
    name: str  # redis.conf name
    field: str  # Config attribute
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str
    mutable: bool = True  # CONFIG SET allowed
    aliases: tuple[str, ...] = ()


def _p(name: str, parse: Callable[[str], Any], fmt: Callable[[Any], str] = str,
       mutable: bool = True, aliases: tuple[str, ...] = ()) -> Param:
    return Param(name, name.replace("-", "_"), parse, fmt, mutable, aliases)


PARAMS: Final[dict[str, Param]] = {
    p.name: p
    for p in (
        _p("port", _int(0, 65535), mutable=False),
        _p("bind", _bind, " ".join, mutable=False),
        _p("tls-port", _int(0, 65535), mutable=False),
        _p("tls-cert-file", str, mutable=False),
        _p("tls-key-file", str, mutable=False),
        _p("tls-ca-cert-file", str, mutable=False),
        _p("tls-auth-clients", _enum("yes", "no", "optional"), mutable=False),
        _p("requirepass", str),
        _p("aclfile", str, mutable=False),
        _p("acllog-max-len", _int(0, 2**63 - 1)),
        _p("acl-pubsub-default", _enum("allchannels", "resetchannels")),
        _p("dir", str),
        _p("loglevel", _enum("debug", "verbose", "notice", "warning", "nothing")),
        _p("logfile", str, mutable=False),
        _p("maxclients", _int(1, 2**32 - 1)),  # the open-file limit bounds it (fdlimit.py)
        _p("databases", _int(1, 1_000_000), mutable=False),
        _p("protected-mode", _bool, _yesno),
        _p("timeout", _int(0, 2**31 - 1)),
        _p("tcp-keepalive", _int(0, 2**31 - 1)),
        _p("tcp-backlog", _int(0, 2**31 - 1), mutable=False),
        _p("proto-max-bulk-len", _mem_range(1024 * 1024, 2**63 - 1)),
        _p("tensor-max-bytes", _mem),
        _p("client-query-buffer-limit", _mem_range(1024 * 1024, 2**63 - 1)),
        _p("client-output-buffer-limit", str, _cobl_format),  # parsed against current value
        _p("slowlog-log-slower-than", _int(-1, 2**63 - 1)),
        _p("slowlog-max-len", _int(0, 2**63 - 1)),
        _p("hz", _int(1, 500)),
        _p("save", _save),
        _p("stop-writes-on-bgsave-error", _bool, _yesno),
        _p("appendonly", _bool, _yesno),
        _p("appendfsync", _enum("always", "everysec", "no")),
        _p("dbfilename", _filename),
        _p("appendfilename", str, mutable=False),
        _p("maxmemory", _mem_unsigned),
        _p(
            "maxmemory-policy",
            # redis-server's order: it is the order of its CONFIG SET error text.
            _enum("volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
                  "allkeys-lru", "allkeys-lfu", "allkeys-random", "noeviction"),
        ),
        _p("maxmemory-samples", _int(1, 64)),
        _p("maxmemory-eviction-tenacity", _int(0, 100)),
        _p("lfu-log-factor", _int(0, 2**31 - 1)),
        _p("lfu-decay-time", _int(0, 2**31 - 1)),
        _p("notify-keyspace-events", _no_notifications),
        _p("hash-max-listpack-entries", _int(0, 2**63 - 1), aliases=("hash-max-ziplist-entries",)),
        _p("hash-max-listpack-value", _int(0, 2**63 - 1), aliases=("hash-max-ziplist-value",)),
        _p("list-max-listpack-size", _int(-5, 2**31 - 1), aliases=("list-max-ziplist-size",)),
        _p("set-max-intset-entries", _int(0, 2**63 - 1)),
        _p("set-max-listpack-entries", _int(0, 2**63 - 1)),
        _p("set-max-listpack-value", _int(0, 2**63 - 1)),
        _p("zset-max-listpack-entries", _int(0, 2**63 - 1), aliases=("zset-max-ziplist-entries",)),
        _p("zset-max-listpack-value", _int(0, 2**63 - 1), aliases=("zset-max-ziplist-value",)),
        _p("lua-time-limit", _int(0, 2**63 - 1), aliases=("busy-reply-threshold",)),
        _p("daemonize", _bool, _yesno, mutable=False),
        _p("pidfile", str, mutable=False),
        _p("threads-per-queue", _int(1, 1024), mutable=False, aliases=("threads_per_queue",)),
        _p("intra-op-parallelism", _int(0, 1024), mutable=False, aliases=("intra_op_parallelism",)),
        _p("inter-op-parallelism", _int(0, 1024), mutable=False, aliases=("inter_op_parallelism",)),
        _p("model-chunk-size", _int(1, 2**63 - 1), aliases=("model_chunk_size",)),
        _p("model-execution-timeout", _int(1000, 2**31 - 1), mutable=False,
           aliases=("model_execution_timeout",)),
        _p("backendspath", str),
        _p("inline-run-max-us", _int(0, 10**9)),
        _p("minbatch-timeout-default", _int(1, 10**9)),
        _p("queue-max-len", _int(0, 2**63 - 1)),
        _p("enable-protected-configs", _enum("no", "yes", "local"), mutable=False),
        _p("enable-debug-command", _enum("no", "yes", "local"), mutable=False),
        _p("metrics-port", _int(0, 65535), mutable=False),
        _p("log-format", _enum("text", "json"), mutable=False),
        _p("reader", _enum("auto", "hiredis", "python"), mutable=False),
        _p("event-loop", _enum("auto", "uvloop", "asyncio"), mutable=False),
    )
}
_ALIASES: Final = {a: p for p in PARAMS.values() for a in p.aliases}


def find_param(name: str) -> Param | None:
    key = name.lower()
    return PARAMS.get(key) or _ALIASES.get(key)


def parse_value(config: Config, param: Param, text: str) -> Any:
    if param.name == "client-output-buffer-limit":
        return _cobl_parse(config.client_output_buffer_limit)(text)
    if param.name == "dir":
        return _dir(config.dir, text)
    return param.parse(text)


def with_values(config: Config, items: Iterable[tuple[str, str]]) -> Config:
    """A new Config with redis.conf-style ``name value`` pairs applied (all or nothing)."""
    changes: dict[str, Any] = {}
    current = config
    for name, text in items:
        param = find_param(name)
        if param is None:
            raise ConfigError(f"Unknown option or number of arguments for CONFIG SET - '{name}'")
        value = parse_value(current, param, text)
        changes[param.field] = value
        current = dataclasses.replace(current, **{param.field: value})
    return dataclasses.replace(config, **changes)


def get_matching(config: Config, patterns: Iterable[str]) -> dict[str, str]:
    """CONFIG GET: every parameter (and alias) whose name matches one of the glob patterns."""
    out: dict[str, str] = {}
    for pattern in patterns:
        pat = pattern.lower()
        for param in PARAMS.values():
            for name in (param.name, *param.aliases):
                if fnmatch.fnmatchcase(name, pat):
                    out[name] = param.format(getattr(config, param.field))
    return out


_CONF_LINE: Final = re.compile(r"""("(?:[^"\\]|\\.)*"|'[^']*'|\S+)""")


def parse_config_file(path: str) -> list[tuple[str, str]]:
    """redis.conf-style ``name value...`` lines; ``#`` comments and blank lines skipped."""
    items: list[tuple[str, str]] = []
    with open(os.path.expanduser(path), encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            words = [w[1:-1] if w[:1] in "\"'" and len(w) > 1 else w
                     for w in _CONF_LINE.findall(line)]
            if len(words) < 2 and words[0].lower() not in ("save",):
                raise ConfigError(f"{path}:{lineno}: missing value for '{words[0]}'")
            items.append((words[0], " ".join(words[1:])))
    return items
