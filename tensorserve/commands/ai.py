"""AI.INFO and AI.CONFIG, and the INFO sections that report the AI side.

AI.INFO answers RedisAI's 18-element reply (a map for RESP3 clients). AI.CONFIG keeps
RedisAI's subcommands; backends are Python packages here, so LOADBACKEND imports the
named one and BACKENDSPATH is only remembered (../shared/REDISAI.md, first section).
The INFO sections follow RedisAI's ``ai_*`` names and appear under ``INFO modules``,
``INFO everything`` or their own names, as module sections do in redis-server.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Final

from ..errors import ReplyError
from ..protocol import OK
from ..runtime.backends import KNOWN_BACKENDS, get_backend, loaded_backends
from ..store.model import Model
from ._ai import wrong_arity
from ._client import ClientState
from ._spec import command

if TYPE_CHECKING:
    from ._server_state import ServerState

_NO_RUN_INFO: Final = "cannot find run info for key"
REDISAI_VERSION: Final = "1.2.7"  # the RedisAI release whose behaviour we follow
_RDB_VERSION: Final = 4
_LLAPI_VERSION: Final = 1


@command("ai.info", -1, "readonly", keys=(1, 1, 1), group="model", since="1.0.0",
         complexity="O(1)", summary="Returns a model's or script's run statistics.",
         acl=("@read", "@slow", "@ai"))
def ai_info(c: ClientState, argv: list[bytes]) -> Any:
    argc = len(argv)
    if not 2 <= argc <= 3:
        raise wrong_arity(argv)
    key = argv[1]
    value = c.db.lookup(key)
    stats = getattr(value, "stats", None)
    if stats is None:
        raise ReplyError(_NO_RUN_INFO)
    if argc == 3 and argv[2].upper() == b"RESETSTAT":
        stats.reset()
        return OK
    kind = b"MODEL" if isinstance(value, Model) else b"SCRIPT"
    return {
        b"key": key,
        b"type": kind,
        b"backend": value.backend.encode(),
        b"device": value.device.name.encode(),
        b"tag": value.tag,
        b"duration": stats.duration_ns // 1000,
        b"samples": stats.samples if kind == b"MODEL" else -1,
        b"calls": stats.calls,
        b"errors": stats.errors,
    }


@command("ai.config", -1, "write", group="model", since="1.0.0", complexity="O(1)",
         summary="Sets or reads RedisAI configuration (backends, MODEL_CHUNK_SIZE).",
         acl=("@write", "@admin", "@slow", "@dangerous", "@ai", "@ai-store"))
def ai_config(c: ClientState, argv: list[bytes]) -> Any:
    argc = len(argv)
    if argc < 2:
        raise wrong_arity(argv)
    sub = argv[1].upper()
    server = c.server
    if sub == b"LOADBACKEND":
        if argc < 4:
            raise wrong_arity(argv)
        name = argv[2].upper().decode("latin-1")
        if name not in KNOWN_BACKENDS:
            raise ReplyError("unsupported backend")
        if get_backend(name) is None:
            raise ReplyError("error loading backend")
        return OK
    if sub == b"BACKENDSPATH":
        if argc < 3:
            raise ReplyError("BACKENDSPATH: missing path argument")
        path = argv[2].decode("utf-8", "surrogateescape")
        server.set_config(dataclasses.replace(server.config, backendspath=path))
        return OK
    if sub == b"MODEL_CHUNK_SIZE":
        if argc < 3:
            raise ReplyError("MODEL_CHUNK_SIZE: missing chunk size")
        arg = argv[2]
        if not arg.isdigit() or int(arg) <= 0 or int(arg) >= 1 << 63:
            raise ReplyError("MODEL_CHUNK_SIZE: invalid chunk size")
        server.set_config(dataclasses.replace(server.config, model_chunk_size=int(arg)))
        return OK
    if sub == b"GET":
        if argc < 3:
            raise wrong_arity(argv)
        what = argv[2].upper()
        if what == b"BACKENDSPATH":
            return server.config.backendspath.encode("utf-8", "surrogateescape")
        if what == b"MODEL_CHUNK_SIZE":
            return server.config.model_chunk_size
        return None
    raise ReplyError("unsupported subcommand")


# -- INFO ---------------------------------------------------------------------------------
def _versions(s: ServerState) -> dict[str, Any]:
    # RedisAI's RAI_moduleInfoFunc reports all three (low_level_API_version is
    # REDISAI_LLAPI_VERSION, 1); clients that read INFO modules expect the field.
    return {"RedisAI_version": REDISAI_VERSION, "low_level_API_version": _LLAPI_VERSION,
            "rdb_version": _RDB_VERSION}


def _load_time_configs(s: ServerState) -> dict[str, Any]:
    cfg = s.config
    return {
        "threads_per_queue": cfg.threads_per_queue,
        "inter_op_parallelism": cfg.inter_op_parallelism,
        "intra_op_parallelism": cfg.intra_op_parallelism,
        "model_execution_timeout": cfg.model_execution_timeout,
        "model_chunk_size": cfg.model_chunk_size,
    }


def _backends_info(s: ServerState) -> dict[str, Any]:
    # Only loaded backends, as RedisAI (its tests check a backend appears after first use).
    return {f"{b.info_name}_version": b.version() for b in loaded_backends().values()}


def _queues(s: ServerState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, q in s.runtime.queues.items():
        out[f"queue_{name}_threads"] = len(q.threads)
        out[f"queue_{name}_pending"] = len(q)
        out[f"queue_{name}_calls"] = q.calls
    return out


def _batching(s: ServerState) -> dict[str, Any]:
    """One line per live model stored with BATCHSIZE: what auto-batching achieved."""
    out: dict[str, Any] = {}
    dbs = s.keyspace.dbs
    # Stored ones only: a model deleted or overwritten may live on while runs finish.
    models = sorted((m for m in s.runtime.batching_models
                     if any(db.data.get(m.key) is m for db in dbs)), key=lambda m: m.key)
    for i, m in enumerate(models):
        st = m.stats
        fields: dict[str, Any] = {
            "key": m.key.decode("utf-8", "replace").translate(_INFO_UNSAFE),
            "batchsize": m.batchsize,
            "minbatchsize": m.minbatchsize,
            "minbatchtimeout": m.minbatchtimeout,
            "calls": st.calls,
            "batches": st.batches,
            "batched_runs": st.batched_runs,
            "batched_rows": st.batched_rows,
            "avg_runs_per_batch": f"{st.batched_runs / st.batches:.2f}" if st.batches else 0,
            "avg_rows_per_batch": f"{st.batched_rows / st.batches:.2f}" if st.batches else 0,
            "max_rows_per_batch": st.max_batch_rows,
            "avg_batch_usec": st.batch_ns // 1000 // st.batches if st.batches else 0,
            "avg_queue_wait_usec": st.queue_wait_ns // 1000 // st.calls if st.calls else 0,
        }
        for b, n in enumerate(st.batch_rows_hist):
            if n:
                lo, hi = (1 << b >> 1) + 1, 1 << b
                fields[f"rows_{hi}" if lo >= hi else f"rows_{lo}_{hi}"] = n
        out[f"model{i}"] = ",".join(f"{k}={v}" for k, v in fields.items())
    return out


# INFO's line format: a key must not break its "name=value," field.
_INFO_UNSAFE: Final = str.maketrans({",": "_", "=": "_", "\r": "_", "\n": "_"})


def _cpu(s: ServerState) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, q in s.runtime.queues.items():
        for i, secs in enumerate(q.thread_cpu_seconds()):
            out[f"queue_{name}_bthread_n{i + 1}_used_cpu_total"] = f"{secs:.6f}"
    return out


MODULE_SECTIONS: Final = {
    "ai_versions": _versions,
    "ai_load_time_configs": _load_time_configs,
    "ai_backends_info": _backends_info,
    "ai_queues": _queues,
    "ai_batching": _batching,
    "ai_cpu": _cpu,
}
