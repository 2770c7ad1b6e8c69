"""redisai-py 1.3.0 configuration: config() and loadbackend(), and MODEL_CHUNK_SIZE slicing.

redisai-py sends these as one string ("AI.CONFIG GET MODEL_CHUNK_SIZE"), split on spaces by
redis-py, and modelstore() first asks for MODEL_CHUNK_SIZE (it needs an integer reply) and
sends the blob in chunks of that size. Changed settings are put back before exiting.

Usage: scenario_config.py --port N --torch-model F [--torch-model F ...] [--chunk N]
"""

from __future__ import annotations

from pathlib import Path

from _common import arguments, check, connect, expect_error
from redisai import Client

DEFAULT_CHUNK = 511 * 1024 * 1024


def check_config(c: Client) -> None:
    chunk = c.config("MODEL_CHUNK_SIZE")
    assert isinstance(chunk, int), f"config('MODEL_CHUNK_SIZE'): not an int: {chunk!r}"
    check("config('MODEL_CHUNK_SIZE')", chunk, DEFAULT_CHUNK)
    check("config('non-existing')", c.config("non-existing"), None)
    expect_error("unsupported subcommand", c.config, "non-existing", "val")
    expect_error("MODEL_CHUNK_SIZE: invalid chunk size", c.config, "MODEL_CHUNK_SIZE",
                 "not-a-number")
    expect_error("MODEL_CHUNK_SIZE: invalid chunk size", c.config, "MODEL_CHUNK_SIZE", 0)

    original = c.config("BACKENDSPATH")
    assert isinstance(original, str), f"config('BACKENDSPATH'): not a str: {original!r}"
    try:
        check("config('BACKENDSPATH', path)", c.config("BACKENDSPATH", "my/backends/path"),
              "OK")
        check("config('BACKENDSPATH')", c.config("BACKENDSPATH"), "my/backends/path")
    finally:
        c.execute_command("AI.CONFIG", "BACKENDSPATH", original)

    check("loadbackend TORCH", c.loadbackend("TORCH", "anything"), "OK")
    check("loadbackend ONNX", c.loadbackend("ONNX",
                                            "redisai_onnxruntime/redisai_onnxruntime.so"), "OK")
    expect_error("unsupported backend", c.loadbackend, "NOPE", "anything")


def check_chunks(c: Client, blobs: list[bytes], chunk: int) -> None:
    check(f"config('MODEL_CHUNK_SIZE', {chunk})", c.config("MODEL_CHUNK_SIZE", chunk), "OK")
    check("config('MODEL_CHUNK_SIZE') after set", c.config("MODEL_CHUNK_SIZE"), chunk)
    for i, blob in enumerate(blobs):
        assert len(blob) > chunk, f"model {i}: {len(blob)} bytes is not over the chunk size"
        key = f"chunked{i}"
        # redisai-py slices the blob by the chunk size it just read: BLOB c1 c2 ...
        check(f"modelstore {key} ({len(blob)} bytes)", c.modelstore(key, "TORCH", "cpu", blob),
              "OK")
        got = c.modelget(key)["blob"]
        # RedisAI sends len // chunk + 1 chunks (an exact multiple ends with an empty one).
        assert isinstance(got, list), f"modelget {key}: blob is not a list of chunks: {got!r}"
        check(f"modelget {key} chunk count", len(got), len(blob) // chunk + 1)
        check(f"modelget {key} chunk sizes", [len(p) for p in got[:-1]], [chunk] * (len(got) - 1))
        check(f"modelget {key} joined chunks", b"".join(got), blob)


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--torch-model", type=Path, action="append", required=True)
    parser.add_argument("--chunk", type=int, default=450)
    args = parser.parse_args()
    blobs = [p.read_bytes() for p in args.torch_model]
    c = connect(args.port)
    c.flushall()
    check_config(c)
    try:
        check_chunks(c, blobs, args.chunk)
    finally:
        c.config("MODEL_CHUNK_SIZE", DEFAULT_CHUNK)
    for i, blob in enumerate(blobs):
        check(f"modelget chunked{i} at the default chunk size", c.modelget(f"chunked{i}")["blob"],
              blob)
    c.flushall()
    print("config: ok")


if __name__ == "__main__":
    main()
