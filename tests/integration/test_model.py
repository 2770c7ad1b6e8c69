"""AI.MODELSTORE / MODELSET / MODELGET / MODELDEL / MODELEXECUTE / MODELRUN / _MODELSCAN,
AI.INFO and AI.CONFIG against RedisAI 1.2's replies and exact error texts.

Expectations come from ../shared/REDISAI.md (1.2, 1.3, 2.2, 2.7) and RedisAI's sources
where that page is silent. Reply shapes are checked through every redis-py variant
(``r``: RESP2/RESP3 x hiredis/Python parser); the rest uses one plain client (``c``),
and error texts are read off the wire whole (``raw``), ``ERR`` prefix included or not.
Both server builds run everything. Model blobs come from tests/models.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from .. import models
from ..conftest import make_client
from ..helpers import ROOT, RawClient, ServerProcess, encode_command

WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
DEFAULT_CHUNK = 511 * 1024 * 1024
TESTDATA = ROOT.parent / "shared" / "testdata"

# numpy dtype -> RedisAI type name, and back.
TYPE_OF = {np.dtype(np.float32): "FLOAT", np.dtype(np.float64): "DOUBLE",
           np.dtype(np.int32): "INT32", np.dtype(np.int64): "INT64",
           np.dtype(np.int8): "INT8", np.dtype(np.int16): "INT16",
           np.dtype(np.uint8): "UINT8", np.dtype(np.uint16): "UINT16",
           np.dtype(np.bool_): "BOOL"}
DTYPE_OF = {name.encode(): dt for dt, name in TYPE_OF.items()}

BLOBS: dict[tuple[str, str], Callable[[], bytes]] = {
    ("TORCH", "mlp"): models.mlp_torch,
    ("TORCH", "conv"): models.conv_torch,
    ("ONNX", "mlp"): models.mlp_onnx,
    ("ONNX", "conv"): models.conv_onnx,
}
INPUTS: dict[str, Callable[..., np.ndarray]] = {"mlp": models.mlp_input,
                                                "conv": models.conv_input}


# -- helpers ---------------------------------------------------------------------------
def _ok(reply: Any) -> bool:
    return reply in (b"OK", "OK", True)


def _pairs(reply: Any, resp: int) -> list[tuple[Any, Any]]:
    """A META-style reply as (name, value) pairs in wire order: RedisAI's flat array for
    RESP2 clients, a map for RESP3 ones."""
    if resp == 3:
        assert isinstance(reply, dict), reply
        return list(reply.items())
    assert isinstance(reply, list), reply
    return list(zip(reply[::2], reply[1::2], strict=True))


def _as_dict(reply: Any) -> dict[bytes, Any]:
    return reply if isinstance(reply, dict) else dict(zip(reply[::2], reply[1::2], strict=True))


def _err(client: redis.Redis, *args: Any) -> str:
    """redis-py's text of the error reply (it strips a leading ``ERR ``)."""
    with pytest.raises(redis.ResponseError) as e:
        client.execute_command(*args)
    return str(e.value)


def tensorset(client: redis.Redis, key: str, arr: np.ndarray) -> None:
    assert _ok(client.execute_command("AI.TENSORSET", key, TYPE_OF[arr.dtype], *arr.shape,
                                      "BLOB", arr.tobytes()))


def tensorget(client: redis.Redis, key: str) -> np.ndarray:
    meta = _as_dict(client.execute_command("AI.TENSORGET", key, "META", "BLOB"))
    return np.frombuffer(meta[b"blob"], DTYPE_OF[meta[b"dtype"]]).reshape(meta[b"shape"])


def modelstore(client: redis.Redis, key: str, backend: str, blob: bytes, *options: Any,
               device: str = "CPU") -> None:
    assert _ok(client.execute_command("AI.MODELSTORE", key, backend, device, *options,
                                      "BLOB", blob))


def meta_of(client: redis.Redis, key: str) -> dict[bytes, Any]:
    return _as_dict(client.execute_command("AI.MODELGET", key, "META"))


def info_of(client: redis.Redis, key: str) -> dict[bytes, Any]:
    return _as_dict(client.execute_command("AI.INFO", key))


def info_text(raw_client: RawClient, section: str) -> str:
    reply = raw_client.command("INFO", section)
    assert isinstance(reply, bytes), reply
    return reply.decode()


def info_fields(text: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (got, want)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.fixture
def c(server: ServerProcess) -> Iterator[redis.Redis]:
    """One plain client (redis-py's default: RESP3, hiredis) where the reply shape does
    not depend on the protocol."""
    client = make_client(server.port, "resp3-hiredis")
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def chunk_size(server: ServerProcess) -> Iterator[Callable[[int], None]]:
    """Set AI.CONFIG MODEL_CHUNK_SIZE for one test; the server's value is restored after
    (the server is shared by the whole session)."""
    client = make_client(server.port, "resp3-hiredis")
    before = client.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE")

    def set_size(n: int) -> None:
        assert _ok(client.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", n))

    yield set_size
    set_size(before)
    client.close()


# -- MODELSTORE / MODELGET reply shapes (every client) --------------------------------------
def _expected_meta(tag: bytes = b"", batch: int = 0, minbatch: int = 0, timeout: int = 0,
                   backend: bytes = b"TORCH", device: bytes = b"CPU",
                   inputs: tuple[bytes, ...] = (b"x",), outputs: tuple[bytes, ...] = (b"",)
                   ) -> list[tuple[bytes, Any]]:
    return [(b"backend", backend), (b"device", device), (b"tag", tag), (b"batchsize", batch),
            (b"minbatchsize", minbatch), (b"inputs", list(inputs)),
            (b"outputs", list(outputs)), (b"minbatchtimeout", timeout)]


def test_modelget_meta_reply_in_redisai_order(r: redis.Redis, resp: int) -> None:
    blob = models.mlp_torch()
    assert _ok(r.execute_command("AI.MODELSTORE", "m", "TORCH", "cpu", "TAG", "v1",
                                 "BATCHSIZE", 4, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 100,
                                 "BLOB", blob))
    meta = _expected_meta(b"v1", 4, 2, 100, device=b"cpu")  # the device as given
    reply = r.execute_command("AI.MODELGET", "m", "META")
    assert _pairs(reply, resp) == meta
    if resp == 2:  # RedisAI's 16-element flat array, exactly
        assert len(reply) == 16
        assert reply[:4] == [b"backend", b"TORCH", b"device", b"cpu"]
    with_blob = [*meta, (b"blob", blob)]
    for tokens in ((), ("META", "BLOB"), ("BLOB", "META"), ("meta", "blob")):
        reply = r.execute_command("AI.MODELGET", "m", *tokens)
        assert _pairs(reply, resp) == with_blob, tokens
        if resp == 2:
            assert len(reply) == 18
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == blob
    assert r.execute_command("AI.MODELGET", "m", "blob") == blob


def test_modelget_unknown_tokens_ignored(r: redis.Redis, resp: int) -> None:
    blob = models.mlp_onnx()
    modelstore(r, "m", "ONNX", blob)
    meta = _expected_meta(backend=b"ONNX", outputs=(b"y",))
    assert _pairs(r.execute_command("AI.MODELGET", "m", "META", "FOO"), resp) == meta
    assert _pairs(r.execute_command("AI.MODELGET", "m", "FOO"), resp) == [*meta,
                                                                          (b"blob", blob)]
    assert _pairs(r.execute_command("AI.MODELGET", "m", "FOO", "BAR"), resp) == [
        *meta, (b"blob", blob)]
    assert r.execute_command("AI.MODELGET", "m", "FOO", "BLOB") == blob


def test_modelget_blob_chunked_by_model_chunk_size(r: redis.Redis, resp: int,
                                                   chunk_size: Callable[[int], None]) -> None:
    blob = models.mlp_onnx()
    modelstore(r, "m", "ONNX", blob)
    n = len(blob)
    chunk_size(100)
    chunks = r.execute_command("AI.MODELGET", "m", "BLOB")
    assert isinstance(chunks, list)
    assert [len(x) for x in chunks] == [100] * (n // 100) + [n % 100]
    assert b"".join(chunks) == blob
    assert _as_dict(r.execute_command("AI.MODELGET", "m", "META", "BLOB"))[b"blob"] == chunks
    # An exact multiple ends with an empty chunk (len // chunk + 1 chunks, as RedisAI).
    chunk_size(n)
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == [blob, b""]
    # Under the chunk size: one bulk string.
    chunk_size(n + 1)
    assert r.execute_command("AI.MODELGET", "m", "BLOB") == blob
    # The model itself is unchanged: it still runs.
    tensorset(r, "x", models.mlp_input(2))
    assert _ok(r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))


def test_modelget_chunks_pt_minimal_like_redisai_py(c: redis.Redis,
                                                    chunk_size: Callable[[int], None]) -> None:
    # redisai-py's test: a 1352-byte model and chunk size 450 give 4 chunks.
    path = TESTDATA / "pt-minimal.pt"
    if not path.exists():
        pytest.skip(f"{TESTDATA} is absent (RedisAI-era test data)")
    blob = path.read_bytes()
    assert len(blob) == 1352
    modelstore(c, "m", "TORCH", blob)
    chunk_size(450)
    chunks = c.execute_command("AI.MODELGET", "m", "BLOB")
    assert [len(x) for x in chunks] == [450, 450, 450, 2]


# -- MODELEXECUTE / MODELRUN results -----------------------------------------------------
@pytest.mark.parametrize("backend,net", list(BLOBS), ids=[f"{b}-{n}" for b, n in BLOBS])
@pytest.mark.parametrize("batch", [1, 5])
def test_modelexecute_outputs_match_in_process(c: redis.Redis, backend: str, net: str,
                                               batch: int) -> None:
    modelstore(c, "m", backend, BLOBS[backend, net]())
    x = INPUTS[net](batch, seed=batch)
    tensorset(c, "x", x)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x",
                                 "OUTPUTS", 1, "y", "TIMEOUT", 5000))
    assert_close(tensorget(c, "y"), models.reference(net, x)[0])
    assert _as_dict(c.execute_command("AI.TENSORGET", "y", "META")) == {
        b"dtype": b"FLOAT", b"shape": [batch, 3 if net == "mlp" else 2]}


def test_modelexecute_every_client(r: redis.Redis, resp: int) -> None:
    modelstore(r, "m", "TORCH", models.mlp_torch())
    x = models.mlp_input(3)
    tensorset(r, "x", x)
    assert _ok(r.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    assert_close(tensorget(r, "y"), models.reference("mlp", x)[0])
    assert _ok(r.execute_command("AI.MODELSET", "m2", "ONNX", "CPU", "BLOB",
                                 models.mlp_onnx()))
    assert _ok(r.execute_command("AI.MODELRUN", "m2", "INPUTS", "x", "OUTPUTS", "y2"))
    assert_close(tensorget(r, "y2"), tensorget(r, "y"))
    # Errors reach every client as errors; the bare ones without redis-py's stripping.
    assert _err(r, "AI.MODELEXECUTE", "nokey", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == (
        "model key is empty")
    assert _err(r, "AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "y") == (
        "Number of keys given as INPUTS here does not match model definition")
    assert _err(r, "AI.MODELEXECUTE", "x", "INPUTS", 1, "x", "OUTPUTS", 1, "y") == WRONGTYPE


def test_modelexecute_two_inputs_two_outputs(c: redis.Redis) -> None:
    modelstore(c, "m", "TORCH", models.two_io_torch())
    meta = meta_of(c, "m")
    assert meta[b"inputs"] == [b"a", b"b"]
    assert meta[b"outputs"] == [b"", b""]  # TorchScript outputs have no names
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2.0, dtype=np.float32)
    tensorset(c, "a", a)
    tensorset(c, "b", b)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b",
                                 "OUTPUTS", 2, "sum", "prod"))
    assert_close(tensorget(c, "sum"), a + b)
    assert_close(tensorget(c, "prod"), a * b)
    assert _ok(c.execute_command("AI.MODELRUN", "m", "TIMEOUT", 1000, "INPUTS", "b", "a",
                                 "OUTPUTS", "s2", "p2"))
    assert_close(tensorget(c, "s2"), a + b)
    # Outputs counted by the model's declared tuple: one output key is refused.
    assert _err(c, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "z") == (
        "Number of keys given as OUTPUTS here does not match model definition")


def test_modelexecute_onnx_ml_non_tensor_outputs_dropped(c: redis.Redis) -> None:
    # As RedisAI: ONNX-ML outputs that are not tensors (a classifier's ZipMap) are dropped.
    modelstore(c, "clf", "ONNX", models.zipmap_onnx())
    assert meta_of(c, "clf")[b"outputs"] == [b"probabilities"]
    x = np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32)
    tensorset(c, "x", x)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "clf", "INPUTS", 1, "x",
                                 "OUTPUTS", 1, "p"))
    assert_close(tensorget(c, "p"), x * 2)
    assert _err(c, "AI.MODELEXECUTE", "clf", "INPUTS", 1, "x", "OUTPUTS", 2, "p", "z") == (
        "Number of keys given as OUTPUTS here does not match model definition")


def test_modelexecute_int64_model_inputs(c: redis.Redis) -> None:
    # The slow model takes FLOAT x and INT64 n: mixed input types pass through.
    modelstore(c, "slow", "TORCH", models.slow_torch())
    x = models.slow_input(2)
    tensorset(c, "x", x)
    tensorset(c, "n", models.slow_count(3))
    assert _ok(c.execute_command("AI.MODELEXECUTE", "slow", "INPUTS", 2, "x", "n",
                                 "OUTPUTS", 1, "y"))
    assert_close(tensorget(c, "y"), models.reference("slow", x, models.slow_count(3))[0])


def test_modelexecute_overwrites_outputs_and_reads_current_inputs(c: redis.Redis) -> None:
    modelstore(c, "m", "ONNX", models.mlp_onnx())
    tensorset(c, "y", np.zeros(1, dtype=np.int64))  # any value: overwritten
    for seed in (1, 2):
        x = models.mlp_input(2, seed=seed)
        tensorset(c, "x", x)
        assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x",
                                     "OUTPUTS", 1, "y"))
        assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])
    # The same key as input and output.
    x = models.mlp_input(1, seed=3)
    tensorset(c, "x", x)
    modelstore(c, "m2", "TORCH", models.two_io_torch())
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m2", "INPUTS", 2, "x", "x",
                                 "OUTPUTS", 2, "x", "z"))
    assert_close(tensorget(c, "x"), x + x)
    assert_close(tensorget(c, "z"), x * x)


# -- MODELSTORE / MODELSET variants ----------------------------------------------------------
def test_modelstore_blob_chunks_concatenated(c: redis.Redis) -> None:
    blob = models.conv_torch()
    parts = [blob[:1000], blob[1000:1001], blob[1001:4000], blob[4000:]]
    assert _ok(c.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", *parts))
    assert c.execute_command("AI.MODELGET", "m", "BLOB") == blob
    x = models.conv_input(2)
    tensorset(c, "x", x)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    assert_close(tensorget(c, "y"), models.reference("conv", x)[0])


@pytest.mark.parametrize("device", ["CPU", "cpu", "Cpu", "CPU:1", "cpu:1", "CPU:0"])
def test_modelstore_device_kept_as_given(c: redis.Redis, device: str) -> None:
    modelstore(c, "m", "ONNX", models.mlp_onnx(), device=device)
    assert meta_of(c, "m")[b"device"] == device.encode()
    assert info_of(c, "m")[b"device"] == device.encode()
    x = models.mlp_input(2)
    tensorset(c, "x", x)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])


def test_modelstore_options_any_case_and_zero_batching(c: redis.Redis) -> None:
    blob = models.mlp_torch()
    assert _ok(c.execute_command("ai.modelstore", "m", "torch", "cpu", "tag", "t",
                                 "batchsize", 3, "minbatchsize", 1, "blob", blob))
    assert meta_of(c, "m")[b"backend"] == b"TORCH"
    assert (meta_of(c, "m")[b"batchsize"], meta_of(c, "m")[b"minbatchsize"]) == (3, 1)
    # What RedisAI's AOF rewrite emits for a model without batching: all zeros.
    assert _ok(c.execute_command("AI.MODELSTORE", "m0", "TORCH", "CPU", "TAG", "",
                                 "BATCHSIZE", 0, "MINBATCHSIZE", 0, "MINBATCHTIMEOUT", 0,
                                 "BLOB", blob))
    assert _expected_meta() == list(meta_of(c, "m0").items())
    # A binary tag comes back byte for byte.
    modelstore(c, "mb", "TORCH", blob, "TAG", b"\x00\xff tag")
    assert meta_of(c, "mb")[b"tag"] == b"\x00\xff tag"


def test_modelstore_overwrite_replaces_model_and_resets_stats(c: redis.Redis) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch(), "TAG", "v1")
    tensorset(c, "x", models.mlp_input(2))
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    assert info_of(c, "m")[b"calls"] == 1
    modelstore(c, "m", "ONNX", models.mlp_onnx(), "TAG", "v2")
    meta = meta_of(c, "m")
    assert (meta[b"backend"], meta[b"tag"], meta[b"outputs"]) == (b"ONNX", b"v2", [b"y"])
    info = info_of(c, "m")
    assert (info[b"calls"], info[b"samples"], info[b"tag"]) == (0, 0, b"v2")


def test_modelset_deprecated_form(c: redis.Redis) -> None:
    blob = models.mlp_torch()
    assert _ok(c.execute_command("AI.MODELSET", "m", "TORCH", "cpu", "TAG", "v1",
                                 "BATCHSIZE", 2, "MINBATCHSIZE", 1, "MINBATCHTIMEOUT", 10,
                                 "BLOB", blob))
    assert list(meta_of(c, "m").items()) == _expected_meta(b"v1", 2, 1, 10, device=b"cpu")
    # redisai-py's modelset sends TAG after BATCHSIZE, where RedisAI does not look for
    # it: RedisAI skips everything before BLOB for non-TF backends, so it stores.
    assert _ok(c.execute_command("AI.MODELSET", "m2", "ONNX", "CPU", "BATCHSIZE", 2,
                                 "TAG", "late", "BLOB", models.mlp_onnx()[:500],
                                 models.mlp_onnx()[500:]))
    meta = meta_of(c, "m2")
    assert (meta[b"backend"], meta[b"batchsize"], meta[b"tag"]) == (b"ONNX", 2, b"")
    assert c.execute_command("AI.MODELGET", "m2", "BLOB") == models.mlp_onnx()
    # INPUTS/OUTPUTS names are TF's; RedisAI's MODELSET ignores them for TORCH and ONNX.
    assert _ok(c.execute_command("AI.MODELSET", "m3", "TORCH", "CPU", "INPUTS", "a",
                                 "OUTPUTS", "b", "BLOB", blob))
    assert meta_of(c, "m3")[b"inputs"] == [b"x"]
    x = models.mlp_input(2)
    tensorset(c, "x", x)
    for key in ("m", "m2", "m3"):
        assert _ok(c.execute_command("AI.MODELRUN", key, "INPUTS", "x", "OUTPUTS", "y"))
        assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])


# -- MODELDEL, _MODELSCAN, keyspace commands -----------------------------------------------
def test_modeldel_deletes(r: redis.Redis) -> None:
    modelstore(r, "m", "TORCH", models.mlp_torch())
    assert _ok(r.execute_command("AI.MODELDEL", "m"))
    assert r.exists("m") == 0
    assert _err(r, "AI.MODELDEL", "m") == "model key is empty"
    assert _err(r, "AI.INFO", "m") == "cannot find run info for key"
    assert r.execute_command("AI._MODELSCAN") == []


def test_modelscan_lists_models_in_insertion_order(r: redis.Redis) -> None:
    assert r.execute_command("AI._MODELSCAN") == []
    modelstore(r, "zeta", "TORCH", models.mlp_torch(), "TAG", "tz")
    tensorset(r, "a_tensor", models.mlp_input(1))
    r.set("a_string", "v")
    modelstore(r, "alpha", "ONNX", models.mlp_onnx())
    modelstore(r, "mid", "TORCH", models.two_io_torch(), "TAG", "tm")
    assert r.execute_command("AI._MODELSCAN") == [
        [b"zeta", b"tz"], [b"alpha", b""], [b"mid", b"tm"]]
    r.delete("zeta")
    modelstore(r, "zeta", "TORCH", models.mlp_torch(), "TAG", "again")
    assert r.execute_command("AI._MODELSCAN") == [
        [b"alpha", b""], [b"mid", b"tm"], [b"zeta", b"again"]]


def test_model_type_and_keyspace_commands(c: redis.Redis) -> None:
    blob = models.mlp_torch()
    modelstore(c, "m", "TORCH", blob, "TAG", "t")
    assert c.type("m") == b"AI__MODEL"
    assert c.exists("m") == 1
    assert c.execute_command("AI.MODELGET", "m", "BLOB") == blob
    assert c.rename("m", "m2")
    assert c.exists("m") == 0
    x = models.mlp_input(2)
    tensorset(c, "x", x)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m2", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    assert_close(tensorget(c, "y"), models.reference("mlp", x)[0])
    assert meta_of(c, "m2")[b"tag"] == b"t"
    assert c.expire("m2", 100)
    assert 0 < c.ttl("m2") <= 100
    assert c.persist("m2")
    assert c.pexpire("m2", 30)
    time.sleep(0.1)
    assert c.exists("m2") == 0
    assert _err(c, "AI.MODELGET", "m2") == "model key is empty"
    modelstore(c, "m3", "ONNX", models.mlp_onnx())
    assert c.delete("m3") == 1
    modelstore(c, "m4", "ONNX", models.mlp_onnx())
    assert c.keys("m*") == [b"m4"]
    assert c.flushall()
    assert c.exists("m4") == 0
    assert c.execute_command("AI._MODELSCAN") == []
    assert _err(c, "AI.INFO", "m4") == "cannot find run info for key"


# -- AI.INFO -------------------------------------------------------------------------------
def test_ai_info_reply_shape(r: redis.Redis, resp: int) -> None:
    modelstore(r, "m", "TORCH", models.mlp_torch(), "TAG", "v1", device="cpu")
    reply = r.execute_command("AI.INFO", "m")
    assert _pairs(reply, resp) == [
        (b"key", b"m"), (b"type", b"MODEL"), (b"backend", b"TORCH"), (b"device", b"cpu"),
        (b"tag", b"v1"), (b"duration", 0), (b"samples", 0), (b"calls", 0), (b"errors", 0)]
    if resp == 2:
        assert len(reply) == 18
    assert _ok(r.execute_command("AI.INFO", "m", "RESETSTAT"))


def test_ai_info_counts_calls_samples_errors(c: redis.Redis) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch())
    tensorset(c, "x5", models.mlp_input(5))
    tensorset(c, "x1", models.mlp_input(1))
    tensorset(c, "bad", np.zeros((2, 7), dtype=np.float32))
    for key in ("x5", "x1"):
        assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, key,
                                     "OUTPUTS", 1, "y"))
    info = info_of(c, "m")
    assert (info[b"calls"], info[b"samples"], info[b"errors"]) == (2, 6, 0)
    assert isinstance(info[b"duration"], int) and info[b"duration"] > 0
    with pytest.raises(redis.ResponseError):
        c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "bad", "OUTPUTS", 1, "y")
    info = info_of(c, "m")
    assert (info[b"calls"], info[b"samples"], info[b"errors"]) == (3, 6, 1)
    # A refused command (parse error) is not a run.
    with pytest.raises(redis.ResponseError):
        c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "missing", "OUTPUTS", 1, "y")
    assert info_of(c, "m")[b"calls"] == 3
    assert _ok(c.execute_command("AI.INFO", "m", "resetstat"))
    info = info_of(c, "m")
    assert (info[b"duration"], info[b"calls"], info[b"samples"], info[b"errors"]) == (
        0, 0, 0, 0)
    # An unknown third token is not RESETSTAT: RedisAI answers the info.
    assert _as_dict(c.execute_command("AI.INFO", "m", "FOO"))[b"key"] == b"m"


def test_ai_info_without_run_info(c: redis.Redis) -> None:
    tensorset(c, "t", models.mlp_input(1))
    c.set("s", "v")
    for key in ("nokey", "t", "s"):
        assert _err(c, "AI.INFO", key) == "cannot find run info for key"
        assert _err(c, "AI.INFO", key, "RESETSTAT") == "cannot find run info for key"


# -- AI.CONFIG -----------------------------------------------------------------------------
def test_ai_config_get_replies(r: redis.Redis, chunk_size: Callable[[int], None]) -> None:
    size = r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE")
    assert size == DEFAULT_CHUNK and isinstance(size, int)
    assert r.execute_command("AI.CONFIG", "get", "model_chunk_size") == DEFAULT_CHUNK
    chunk_size(1234)
    assert r.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE") == 1234
    assert isinstance(r.execute_command("AI.CONFIG", "GET", "BACKENDSPATH"), bytes)
    assert r.execute_command("AI.CONFIG", "GET", "non-existing") is None
    assert r.execute_command("AI.CONFIG", "GET", "THREADS_PER_QUEUE") is None


def test_ai_config_backendspath_remembered(c: redis.Redis) -> None:
    before = c.execute_command("AI.CONFIG", "GET", "BACKENDSPATH")
    try:
        assert _ok(c.execute_command("AI.CONFIG", "BACKENDSPATH", "/opt/redisai/backends"))
        assert c.execute_command("AI.CONFIG", "GET", "BACKENDSPATH") == (
            b"/opt/redisai/backends")
    finally:
        c.execute_command("AI.CONFIG", "BACKENDSPATH", before or b"")


def test_ai_config_loadbackend(c: redis.Redis) -> None:
    # Backends are Python packages: the path is accepted and not used.
    assert _ok(c.execute_command("AI.CONFIG", "LOADBACKEND", "TORCH",
                                 "redisai_torch/redisai_torch.so"))
    assert _ok(c.execute_command("AI.CONFIG", "loadbackend", "onnx", "/no/such/file.so"))
    assert _err(c, "AI.CONFIG", "LOADBACKEND", "TF", "redisai_tensorflow.so") == (
        "error loading backend")
    assert _err(c, "AI.CONFIG", "LOADBACKEND", "TFLITE", "x.so") == "error loading backend"
    assert _err(c, "AI.CONFIG", "LOADBACKEND", "PYTORCH", "x.so") == "unsupported backend"


# -- INFO modules --------------------------------------------------------------------------
def test_info_modules_sections(c: redis.Redis, raw: Callable[[], RawClient]) -> None:
    modelstore(c, "m", "TORCH", models.mlp_torch())
    modelstore(c, "o", "ONNX", models.mlp_onnx())
    text = info_text(raw(), "modules")
    headers = [line for line in text.splitlines() if line.startswith("#")]
    assert headers[0] == "# Modules"
    for section in ("ai_versions", "ai_load_time_configs", "ai_backends_info", "ai_queues"):
        assert f"# {section}" in headers
    assert headers.index("# ai_versions") < headers.index("# ai_load_time_configs") < (
        headers.index("# ai_backends_info"))
    fields = info_fields(text)
    assert fields["RedisAI_version"] == "1.2.7"
    assert fields["low_level_API_version"] == "1"
    assert fields["rdb_version"] == "4"
    assert fields["threads_per_queue"] == "1"
    assert fields["intra_op_parallelism"] == "1"
    assert fields["inter_op_parallelism"] == "0"
    for name, version in models.engine_versions().items():
        assert fields[name] == version
    assert fields["queue_CPU_threads"] == "1"
    # RedisAI's test helper splits INFO on '#': no value may contain one.
    assert text.count("#") == len(headers)
    # A section by its own name, and with "everything".
    assert "RedisAI_version:1.2.7" in info_text(raw(), "ai_versions")
    assert "# ai_backends_info" in info_text(raw(), "everything")


def test_info_backends_appear_after_first_use(start_server: Callable[..., ServerProcess]
                                              ) -> None:
    # A fresh process: backends load lazily (RedisAI's tests assert exactly this).
    srv = start_server()
    client = make_client(srv.port, "resp2-python")
    try:
        fields = info_fields(_raw_info(srv.port, "modules"))
        assert "Torch_version" not in fields and "onnxruntime_version" not in fields
        modelstore(client, "m", "ONNX", models.mlp_onnx())
        fields = info_fields(_raw_info(srv.port, "modules"))
        assert "onnxruntime_version" in fields and "Torch_version" not in fields
        assert _ok(client.execute_command("AI.CONFIG", "LOADBACKEND", "TORCH", "x.so"))
        assert "Torch_version" in info_fields(_raw_info(srv.port, "modules"))
    finally:
        client.close()


def _raw_info(port: int, section: str) -> str:
    rc = RawClient(port)
    try:
        return info_text(rc, section)
    finally:
        rc.close()


# -- errors: exact wire texts ------------------------------------------------------------
B = b"not a model"


def _arity(name: str) -> str:
    return f"ERR wrong number of arguments for '{name}' command"


ERRORS: list[tuple[tuple[Any, ...], str]] = [
    # arity: RedisModule_WrongArity echoes the name as typed
    (("ai.modelstore", "m", "TORCH", "CPU", "BLOB"), _arity("ai.modelstore")),
    (("AI.ModelSet", "m", "TORCH"), _arity("AI.ModelSet")),
    (("AI.MODELGET",), _arity("AI.MODELGET")),
    (("ai.modelget", "m", "META", "BLOB", "X"), _arity("ai.modelget")),
    (("AI.MODELDEL",), _arity("AI.MODELDEL")),
    (("AI.MODELDEL", "m", "x"), _arity("AI.MODELDEL")),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1), _arity("AI.MODELEXECUTE")),
    (("Ai.ModelExecute", "m"), _arity("Ai.ModelExecute")),
    (("ai.modelrun", "m", "INPUTS", "x", "OUTPUTS"), _arity("ai.modelrun")),
    (("AI._MODELSCAN", "x"), _arity("AI._MODELSCAN")),
    (("AI.INFO",), _arity("AI.INFO")),
    (("ai.info", "m", "RESETSTAT", "x"), _arity("ai.info")),
    (("AI.CONFIG",), _arity("AI.CONFIG")),
    (("AI.CONFIG", "GET"), _arity("AI.CONFIG")),
    (("ai.config", "LOADBACKEND", "TORCH"), _arity("ai.config")),
    # MODELSTORE
    (("AI.MODELSTORE", "m", "PYTORCH", "CPU", "BLOB", B), "ERR unsupported backend"),
    (("AI.MODELSTORE", "m", "TORCH", "XPU", "BLOB", B), "ERR Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU1", "BLOB", B), "ERR Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "TORCH", "GPU:0:1", "BLOB", B), "ERR Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU:12345678", "BLOB", B), "ERR Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "TORCH", "TAG", "t", "BLOB", B), "ERR Invalid DEVICE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", "many", "BLOB", B),
     "ERR Invalid argument for BATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", -1, "BLOB", B),
     "ERR Invalid argument for BATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "MINBATCHSIZE", 2, "BLOB", B),
     "ERR MINBATCHSIZE specified without BATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", "bad", "BLOB", B),
     "ERR Invalid argument for MINBATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "MINBATCHSIZE", "bad", "BLOB", B),
     "ERR Invalid argument for MINBATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHTIMEOUT", 1000,
      "BLOB", B), "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", 2,
      "MINBATCHTIMEOUT", "bad", "BLOB", B), "ERR Invalid argument for MINBATCHTIMEOUT"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c",
      "BLOB", B), "ERR INPUTS argument should not be specified for this backend"),
    (("AI.MODELSTORE", "m", "ONNX", "CPU", "TAG", "t", "INPUTS", 1, "a", "BLOB", B),
     "ERR INPUTS argument should not be specified for this backend"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 2),
     "ERR Insufficient arguments, missing model BLOB"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 2, "BLOB"),
     "ERR Insufficient arguments, missing model BLOB"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "BATCHSIZE", 2, "NOT_BLOB"),
     "ERR Invalid argument, expected BLOB"),
    (("AI.MODELSTORE", "m", "TORCH", "CPU", "TAG", "t", "OUTPUTS", 1, "BLOB", B),
     "ERR Invalid argument, expected BLOB"),
    # TF: its arguments parse with RedisAI's errors, then the backend is not there
    (("AI.MODELSTORE", "m", "TF", "CPU", "BLOB", B), "ERR INPUTS not specified for TF"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", "x", "a", "BLOB", B),
     "ERR Invalid argument for input_count"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 0, "OUTPUTS", 1, "b", "BLOB", B),
     "ERR Invalid argument for input_count"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 5, "a", "b"),
     "ERR number of model inputs does not match the number of given arguments"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "BLOB", B),
     "ERR OUTPUTS not specified for TF"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", "x", "BLOB"),
     "ERR Invalid argument for output_count"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 3, "b"),
     "ERR number of model outputs does not match the number of given arguments"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 1, "b", "BLOBS", B),
     "ERR Invalid argument, expected BLOB"),
    (("AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul",
      "BLOB", B), "ERR Could not load backend"),
    (("AI.MODELSTORE", "m", "TFLITE", "CPU", "BLOB", B), "ERR Could not load backend"),
    (("AI.MODELSTORE", "m", "tflite", "CPU", "TAG", "t", "BATCHSIZE", 4, "BLOB", B),
     "ERR Could not load backend"),
    # MODELSET (deprecated.c)
    (("AI.MODELSET", "m", "FOO", "CPU", "BLOB", B), "ERR unsupported backend"),
    (("AI.MODELSET", "m", "TORCH", "BLOB", "BLOB", B), "ERR Invalid DEVICE"),
    (("AI.MODELSET", "m", "TORCH", "CPU", "TAG", "t"),
     "ERR Insufficient arguments, missing model BLOB"),
    (("AI.MODELSET", "m", "TORCH", "CPU", "TAG", "t", "BLOB"),
     "ERR Insufficient arguments, missing model BLOB"),
    (("AI.MODELSET", "m", "TORCH", "CPU", "NOT_BLOB", B),
     "ERR Insufficient arguments, missing model BLOB"),
    (("AI.MODELSET", "m", "TORCH", "CPU", "MINBATCHSIZE", 2, "BLOB", B),
     "ERR MINBATCHSIZE specified without BATCHSIZE"),
    (("AI.MODELSET", "m", "TORCH", "CPU", "MINBATCHTIMEOUT", 2, "BLOB", B),
     "ERR MINBATCHTIMEOUT specified without BATCHSIZE"),
    (("AI.MODELSET", "m", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHTIMEOUT", 2, "BLOB", B),
     "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"),
    (("AI.MODELSET", "m", "TFLITE", "CPU", "BATCHSIZE", 2, "BLOB", B),
     "ERR Auto-batching not supported by the TFLITE backend"),
    (("AI.MODELSET", "m", "TFLITE", "CPU", "BLOB", B), "ERR Could not load backend"),
    (("AI.MODELSET", "m", "TF", "CPU", "BLOB", B),
     "ERR Insufficient arguments, INPUTS and OUTPUTS not specified"),
    (("AI.MODELSET", "m", "TF", "CPU", "TAG", "t", "INPUTZ", "a", "BLOB", B),
     "ERR INPUTS not specified"),
    (("AI.MODELSET", "m", "TF", "CPU", "INPUTS", "a", "BLOB", B), "ERR OUTPUTS not specified"),
    (("AI.MODELSET", "m", "TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", "mul", "BLOB", B),
     "ERR Could not load backend"),
    # MODELGET / MODELDEL
    (("AI.MODELGET", "nokey"), "ERR model key is empty"),
    (("AI.MODELGET", "nokey", "META"), "ERR model key is empty"),
    (("AI.MODELGET", "x", "META"), WRONGTYPE),
    (("AI.MODELGET", "s"), WRONGTYPE),
    (("AI.MODELDEL", "nokey"), "ERR model key is empty"),
    (("AI.MODELDEL", "x"), WRONGTYPE),
    (("AI.MODELDEL", "s"), WRONGTYPE),
    # MODELEXECUTE, in RedisAI's parse order
    (("AI.MODELEXECUTE", "nokey", "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
     "ERR model key is empty"),
    (("AI.MODELEXECUTE", "x", "INPUTS", 1, "x", "OUTPUTS", 1, "y"), WRONGTYPE),
    (("AI.MODELEXECUTE", "s", "INPUTS", 1, "x", "OUTPUTS", 1, "y"), WRONGTYPE),
    (("AI.MODELEXECUTE", "m", "INPUT", 1, "x", "OUTPUTS", 1, "y"), "ERR INPUTS not specified"),
    (("AI.MODELEXECUTE", "m", "INPUTS", "one", "x", "OUTPUTS", 1, "y"),
     "ERR Invalid argument for input_count"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 0, "x", "OUTPUTS", 1, "y"),
     "ERR Input count must be a positive integer"),
    (("AI.MODELEXECUTE", "m", "INPUTS", -1, "x", "OUTPUTS", 1, "y"),
     "ERR Input count must be a positive integer"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "y"),
     "Number of keys given as INPUTS here does not match model definition"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUT", 1, "y"), "ERR OUTPUTS not specified"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "x", "OUTPUTS", 1),
     "ERR OUTPUTS not specified"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", "one", "y"),
     "ERR Invalid argument for output_count"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 0, "y"),
     "ERR Output count must be a positive integer"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 2, "y", "z"),
     "Number of keys given as OUTPUTS here does not match model definition"),
    (("AI.MODELEXECUTE", "two", "INPUTS", 2, "x", "x", "OUTPUTS", 2, "y"),
     "ERR number of output keys to AI.MODELEXECUTE command does not match the number of "
     "given arguments"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT"),
     "ERR No value provided for TIMEOUT"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", 0),
     "ERR Invalid value for TIMEOUT"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", -5),
     "ERR Invalid value for TIMEOUT"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", "soon"),
     "ERR Invalid value for TIMEOUT"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "JUNK"),
     "Invalid argument: JUNK"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", 100, "more"),
     "Invalid argument: more"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "nox", "OUTPUTS", 1, "y"),
     "ERR tensor key is empty or in a different shard"),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "m", "OUTPUTS", 1, "y"), WRONGTYPE),
    (("AI.MODELEXECUTE", "m", "INPUTS", 1, "s", "OUTPUTS", 1, "y"), WRONGTYPE),
    # MODELRUN (deprecated.c: counts only)
    (("AI.MODELRUN", "nokey", "INPUTS", "x", "OUTPUTS", "y"), "ERR model key is empty"),
    (("AI.MODELRUN", "x", "INPUTS", "x", "OUTPUTS", "y"), WRONGTYPE),
    (("AI.MODELRUN", "m", "INPUTZ", "x", "OUTPUTS", "y"), "ERR INPUTS not specified"),
    (("AI.MODELRUN", "m", "TIMEOUT", 0, "INPUTS", "x", "OUTPUTS", "y"),
     "ERR Invalid value for TIMEOUT"),
    (("AI.MODELRUN", "m", "INPUTS", "x", "x", "OUTPUTS", "y"),
     "Number of keys given as INPUTS here does not match model definition"),
    (("AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "y", "z"),
     "Number of keys given as OUTPUTS here does not match model definition"),
    (("AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTZ", "y"),
     "Number of keys given as INPUTS here does not match model definition"),
    (("AI.MODELRUN", "m", "INPUTS", "nox", "OUTPUTS", "y"),
     "ERR tensor key is empty or in a different shard"),
    # AI.INFO / AI.CONFIG
    (("AI.INFO", "nokey"), "ERR cannot find run info for key"),
    (("AI.INFO", "x"), "ERR cannot find run info for key"),
    (("AI.CONFIG", "FOO"), "ERR unsupported subcommand"),
    (("AI.CONFIG", "THREADS_PER_QUEUE", 4), "ERR unsupported subcommand"),
    (("AI.CONFIG", "BACKENDSPATH"), "ERR BACKENDSPATH: missing path argument"),
    (("AI.CONFIG", "MODEL_CHUNK_SIZE"), "ERR MODEL_CHUNK_SIZE: missing chunk size"),
    (("AI.CONFIG", "MODEL_CHUNK_SIZE", 0), "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (("AI.CONFIG", "MODEL_CHUNK_SIZE", -5), "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (("AI.CONFIG", "MODEL_CHUNK_SIZE", "big"), "ERR MODEL_CHUNK_SIZE: invalid chunk size"),
    (("AI.CONFIG", "LOADBACKEND", "FOO", "x.so"), "ERR unsupported backend"),
    (("AI.CONFIG", "LOADBACKEND", "TF", "x.so"), "ERR error loading backend"),
]


@pytest.fixture
def loaded(c: redis.Redis) -> redis.Redis:
    """Keys the error table refers to: models m (TORCH MLP, tagged), two (2 in, 2 out),
    tensor x (an MLP input), tensor y (an output slot with a known value), string s."""
    modelstore(c, "m", "TORCH", models.mlp_torch(), "TAG", "v1")
    modelstore(c, "two", "TORCH", models.two_io_torch())
    tensorset(c, "x", models.mlp_input(2))
    tensorset(c, "y", np.array([42], dtype=np.int64))
    c.set("s", "v")
    return c


def _unchanged(c: redis.Redis) -> None:
    """Nothing an error reply touched: the values the table starts from are intact."""
    assert meta_of(c, "m")[b"tag"] == b"v1"
    assert c.execute_command("AI.MODELGET", "m", "BLOB") == models.mlp_torch()
    assert_close(tensorget(c, "y"), np.array([42], dtype=np.int64))
    assert_close(tensorget(c, "x"), models.mlp_input(2))
    assert c.get("s") == b"v"
    assert c.exists("z", "nox", "nokey") == 0
    assert c.type("two") == b"AI__MODEL"


@pytest.mark.parametrize("args,message", ERRORS,
                         ids=[" ".join(map(str, a[:8])) for a, _ in ERRORS])
def test_model_error_texts(loaded: redis.Redis, raw: Callable[[], RawClient],
                           args: tuple[Any, ...], message: str) -> None:
    reply = raw().command(*args)
    assert isinstance(reply, Exception), reply
    assert str(reply) == message
    _unchanged(loaded)


def test_model_bare_errors_on_the_wire(loaded: redis.Redis,
                                       raw: Callable[[], RawClient]) -> None:
    # Read the socket itself: no "ERR " in front of RedisAI's bare messages.
    rc = raw()
    for args, line in [
        (("AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "y"),
         b"-Number of keys given as INPUTS here does not match model definition\r\n"),
        (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 2, "y", "z"),
         b"-Number of keys given as OUTPUTS here does not match model definition\r\n"),
        (("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "BAD"),
         b"-Invalid argument: BAD\r\n"),
        (("AI.MODELGET", "nokey"), b"-ERR model key is empty\r\n"),
    ]:
        rc.send(encode_command(*args))
        assert rc.sock.recv(4096) == line
    _unchanged(loaded)


def test_model_wrongtype_store_over_other_types(loaded: redis.Redis) -> None:
    c = loaded
    for key in ("x", "s"):
        assert _err(c, "AI.MODELSTORE", key, "TORCH", "CPU", "BLOB", models.mlp_torch()) == (
            WRONGTYPE)
        assert _err(c, "AI.MODELSET", key, "ONNX", "CPU", "BLOB", models.mlp_onnx()) == (
            WRONGTYPE)
    # The type is checked after compiling (RedisAI): a bad blob says what is wrong with it.
    assert _err(c, "AI.MODELSTORE", "x", "ONNX", "CPU", "BLOB", b"x" * 5000) == (
        "No graph was found in the protobuf.")
    _unchanged(c)
    # A tensor command on a model key.
    assert _err(c, "AI.TENSORGET", "m", "META") == WRONGTYPE
    assert _err(c, "AI.TENSORSET", "m", "FLOAT", 1) == WRONGTYPE
    assert _err(c, "GET", "m") == WRONGTYPE
    _unchanged(c)


def test_modelexecute_output_onto_other_types_wrongtype(loaded: redis.Redis) -> None:
    # RedisAI opens outputs as tensor keys: another type is WRONGTYPE, not overwritten.
    c = loaded
    c.rpush("list", "a")
    for out in ("s", "list", "m", "two"):
        assert _err(c, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, out) == (
            WRONGTYPE)
        assert _err(c, "AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", out) == WRONGTYPE
    assert c.lrange("list", 0, -1) == [b"a"]
    # No output is written when one of them cannot be.
    assert _err(c, "AI.MODELEXECUTE", "two", "INPUTS", 2, "x", "x", "OUTPUTS", 2, "fresh",
                "s") == WRONGTYPE
    assert c.exists("fresh") == 0
    _unchanged(c)
    # A tensor output key is overwritten, whatever its type and shape were.
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    assert_close(tensorget(c, "y"), models.reference("mlp", models.mlp_input(2))[0])


def test_modelexecute_output_write_touches_watched_key(loaded: redis.Redis,
                                                       server: ServerProcess) -> None:
    other = make_client(server.port, "resp2-python")
    with loaded.pipeline() as pipe:
        pipe.watch("out")
        assert _ok(other.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x",
                                         "OUTPUTS", 1, "out"))
        pipe.multi()
        pipe.get("s")
        with pytest.raises(redis.WatchError):
            pipe.execute()
    other.close()


# -- corrupt blobs, bad inputs: one-line engine errors, nothing changed -----------------------
def test_modelstore_corrupt_torch_blob(loaded: redis.Redis, raw: Callable[[], RawClient]
                                       ) -> None:
    blob = models.mlp_torch()
    for bad in (blob[: len(blob) // 2], b"garbage", b"PK\x03\x04" + bytes(100)):
        reply = raw().command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", bad)
        assert isinstance(reply, Exception), reply
        text = str(reply)
        assert text and "\n" not in text and "\r" not in text
        assert not text.startswith("ERR internal error")
    reply = raw().command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", blob[: len(blob) // 2])
    assert str(reply).startswith("PytorchStreamReader failed reading zip archive"), reply
    reply = raw().command("AI.MODELSTORE", "new", "TORCH", "CPU", "BLOB", b"garbage")
    assert isinstance(reply, Exception)
    assert loaded.exists("new") == 0
    _unchanged(loaded)
    x = models.mlp_input(2)
    assert _ok(loaded.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x",
                                      "OUTPUTS", 1, "z"))
    assert_close(tensorget(loaded, "z"), models.reference("mlp", x)[0])


def test_modelstore_corrupt_onnx_blob(loaded: redis.Redis, raw: Callable[[], RawClient]
                                      ) -> None:
    c = loaded
    modelstore(c, "o", "ONNX", models.mlp_onnx(), "TAG", "good")
    # The engine's own message, as RedisAI's tests expect it (REDISAI.md 1.3).
    assert str(raw().command("AI.MODELSTORE", "o", "ONNX", "CPU", "BLOB", b"x" * 5000)) == (
        "No graph was found in the protobuf.")
    for bad in (b"garbage", models.mlp_onnx()[:300], models.mlp_torch()):
        reply = raw().command("AI.MODELSTORE", "o", "ONNX", "CPU", "TAG", "bad", "BLOB", bad)
        assert isinstance(reply, Exception), reply
        assert str(reply) and "\n" not in str(reply)
        assert not str(reply).startswith("ERR internal error")
    assert meta_of(c, "o")[b"tag"] == b"good"
    assert c.execute_command("AI.MODELGET", "o", "BLOB") == models.mlp_onnx()
    assert _ok(c.execute_command("AI.MODELEXECUTE", "o", "INPUTS", 1, "x", "OUTPUTS", 1, "out"))
    _unchanged(c)


@pytest.mark.parametrize("backend", ["TORCH", "ONNX"])
def test_modelexecute_wrong_input_dtype_and_shape(loaded: redis.Redis, backend: str) -> None:
    c = loaded
    modelstore(c, "net", backend, BLOBS[backend, "mlp"]())
    tensorset(c, "ints", np.ones((2, 4), dtype=np.int32))
    tensorset(c, "wide", np.ones((2, 7), dtype=np.float32))
    tensorset(c, "doubles", np.ones((2, 4), dtype=np.float64))
    tensorset(c, "flat", np.ones(4, dtype=np.float32))  # a wrong rank (TORCH takes it)
    tensorset(c, "out", np.array([7], dtype=np.int64))  # an output key holding a value
    bad_inputs = ["ints", "wide", "doubles"] + (["flat"] if backend == "ONNX" else [])
    errors = []
    for bad in bad_inputs:
        text = _err(c, "AI.MODELEXECUTE", "net", "INPUTS", 1, bad, "OUTPUTS", 1, "out")
        assert text and "\n" not in text and not text.startswith("internal error"), text
        errors.append(text)
        assert_close(tensorget(c, "out"), np.array([7], dtype=np.int64))  # not overwritten
        assert c.ping()
    if backend == "ONNX":  # onnxruntime's own words, its status prefix removed
        assert errors[0].startswith("Unexpected input data type"), errors[0]
        assert errors[1].startswith("Got invalid dimensions for input: x"), errors[1]
    info = info_of(c, "net")
    n = len(bad_inputs)
    assert (info[b"calls"], info[b"errors"], info[b"samples"]) == (n, n, 0)
    # The server still runs models afterwards.
    assert _ok(c.execute_command("AI.MODELEXECUTE", "net", "INPUTS", 1, "x", "OUTPUTS", 1, "out"))
    assert_close(tensorget(c, "out"), models.reference("mlp", models.mlp_input(2))[0])
    _unchanged(c)


def test_modelexecute_string_tensor_input_refused(loaded: redis.Redis) -> None:
    c = loaded
    assert _ok(c.execute_command("AI.TENSORSET", "str", "STRING", 2, 4, "VALUES",
                                 *["a"] * 8))
    text = _err(c, "AI.MODELEXECUTE", "m", "INPUTS", 1, "str", "OUTPUTS", 1, "z")
    assert text and not text.startswith("internal error")
    assert c.exists("z") == 0
    _unchanged(c)


# -- transactions ---------------------------------------------------------------------------
def test_model_execution_refused_inside_multi(loaded: redis.Redis) -> None:
    c = loaded
    pipe = c.pipeline(transaction=True)
    pipe.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "z")
    pipe.execute_command("AI.MODELRUN", "m", "INPUTS", "x", "OUTPUTS", "z")
    pipe.execute_command("AI.MODELSTORE", "m2", "ONNX", "CPU", "BLOB", models.mlp_onnx())
    pipe.execute_command("AI.MODELGET", "m", "META")
    pipe.execute_command("AI.INFO", "m")
    replies = pipe.execute(raise_on_error=False)
    for reply in replies[:2]:
        assert isinstance(reply, redis.ResponseError)
        assert str(reply) == "Cannot run RedisAI command within a transaction or a LUA script"
    assert _ok(replies[2])  # plain model commands do run inside MULTI
    assert _as_dict(replies[3])[b"tag"] == b"v1"
    assert _as_dict(replies[4])[b"calls"] == 0
    assert c.exists("z") == 0
    assert c.type("m2") == b"AI__MODEL"
    _unchanged(c)


# -- GPU devices on a machine without CUDA ------------------------------------------------------
def test_modelstore_gpu_without_cuda_refused(loaded: redis.Redis) -> None:
    c = loaded
    if models.cuda_device_count():
        pytest.skip("CUDA is available here (tests/integration/test_model_gpu.py covers it)")
    for device in ("GPU", "GPU:0", "gpu:1"):
        assert _err(c, "AI.MODELSTORE", "m", "TORCH", device, "BLOB", models.mlp_torch()) == (
            f"GPU device {device} requested but CUDA is not available")
        assert _err(c, "AI.MODELSTORE", "g", "TORCH", device, "BLOB", models.mlp_torch()) == (
            f"GPU device {device} requested but CUDA is not available")
    if not models.onnx_cuda_available():
        assert _err(c, "AI.MODELSTORE", "g", "ONNX", "GPU:0", "BLOB", models.mlp_onnx()) == (
            "GPU device GPU:0 requested but onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu)")
    assert c.exists("g") == 0
    _unchanged(c)


# -- RedisAI-era files (../shared/testdata) -------------------------------------------------
def _testdata(name: str) -> bytes:
    path: Path = TESTDATA / name
    if not path.exists():
        pytest.skip(f"{TESTDATA} is absent (RedisAI-era test data from redisai-py)")
    return path.read_bytes()


def test_testdata_pt_minimal(c: redis.Redis) -> None:
    blob = _testdata("pt-minimal.pt")
    modelstore(c, "m", "TORCH", blob, "TAG", "asdf")
    meta = meta_of(c, "m")
    assert meta[b"inputs"] == [b"a", b"b"] and meta[b"outputs"] == [b""]
    tensorset(c, "a", np.array([2, 3], dtype=np.float32))
    tensorset(c, "b", np.array([3, 5], dtype=np.float32))
    assert _ok(c.execute_command("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b",
                                 "OUTPUTS", 1, "c"))
    assert_close(tensorget(c, "c"), np.array([5, 8], dtype=np.float32))
    assert c.execute_command("AI.TENSORGET", "c", "VALUES") == [5.0, 8.0]
    assert _ok(c.execute_command("AI.MODELSET", "m2", "TORCH", "CPU", "BLOB", blob))
    assert _ok(c.execute_command("AI.MODELRUN", "m2", "INPUTS", "a", "b", "OUTPUTS", "c2"))
    assert tensorget(c, "c2").tolist() == [5.0, 8.0]


def test_testdata_boston_onnx(c: redis.Redis) -> None:
    blob = _testdata("boston.onnx")
    modelstore(c, "boston", "ONNX", blob)
    meta = meta_of(c, "boston")
    assert meta[b"inputs"] == [b"float_input"] and meta[b"outputs"] == [b"variable"]
    x = np.random.default_rng(7).uniform(0, 10, (1, 13)).astype(np.float32)
    tensorset(c, "x", x)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "boston", "INPUTS", 1, "x",
                                 "OUTPUTS", 1, "y"))
    want = models.onnx_reference(blob, {"float_input": x})[0]
    assert_close(tensorget(c, "y"), want)
    assert tensorget(c, "y").shape == (1, 1)


def test_testdata_findsquare_onnx(c: redis.Redis) -> None:
    blob = _testdata("findsquare.onnx")
    modelstore(c, "sq", "ONNX", blob)
    meta = meta_of(c, "sq")
    assert meta[b"inputs"] == [b"0"] and meta[b"outputs"] == [b"1"]
    x = np.array([4.0], dtype=np.float32)
    tensorset(c, "x", x)
    assert _ok(c.execute_command("AI.MODELEXECUTE", "sq", "INPUTS", 1, "x", "OUTPUTS", 1, "y"))
    want = models.onnx_reference(blob, {"0": x})[0]
    assert_close(tensorget(c, "y"), want)


def test_testdata_one_raw_tensor_round_trip(c: redis.Redis) -> None:
    data = _testdata("one.raw")
    assert len(data) == 3136
    assert _ok(c.execute_command("AI.TENSORSET", "one", "FLOAT", 1, 28, 28, "BLOB", data))
    assert c.execute_command("AI.TENSORGET", "one", "BLOB") == data
    meta = _as_dict(c.execute_command("AI.TENSORGET", "one", "META"))
    assert meta == {b"dtype": b"FLOAT", b"shape": [1, 28, 28]}
    values = np.frombuffer(data, np.float32)
    assert tensorget(c, "one").reshape(-1).tolist() == values.tolist()
