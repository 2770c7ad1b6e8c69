"""AI.TENSORSET and AI.TENSORGET, as RedisAI 1.2 answers them.

Sources: RedisAI's src/redisai.c (the command functions),
src/execution/parsing/tensor_commands_parsing.c (argument parsing) and
src/redis_ai_objects/tensor.c (construction and replies); ../shared/REDISAI.md 1.2/1.3.

Both are registered with arity -1, as Redis registers every module command, and check
their argument count themselves: RedisModule_WrongArity echoes argv[0] as the client
typed it (``wrong number of arguments for 'AI.TENSORSET' command``), which redisai's own
tests match on, where dispatch's check would name the table entry in lower case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ..errors import ReplyError, WrongTypeError
from ..protocol import OK
from ..store.dtypes import lookup as lookup_dtype
from ..store.tensor import Tensor, too_large
from ._ai import wrong_arity
from ._args import parse_int
from ._client import ClientState
from ._spec import command

if TYPE_CHECKING:
    from ..config import Config

_INVALID_TYPE: Final = "invalid data type"
_BAD_DIM: Final = "invalid or negative value found in tensor shape"
_BLOB_ARITY: Final = (
    "a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"
)
_VALUES_COUNT: Final = "wrong number of values was given in 'AI.TENSORSET' command"
_EMPTY_KEY: Final = "tensor key is empty or in a different shard"
_BAD_FORMAT: Final = "unsupported data format"
_BLOB_AND_VALUES: Final = "both BLOB and VALUES specified"

# AI.TENSORGET format flags (RedisAI's TENSOR_META / TENSOR_BLOB / TENSOR_VALUES).
_META: Final = 1
_BLOB: Final = 2
_VALUES: Final = 4
_FORMATS: Final = {b"META": _META, b"BLOB": _BLOB, b"VALUES": _VALUES}



@command("ai.tensorset", -1, "write denyoom", keys=(1, 1, 1), group="tensor",
         since="1.0.0", complexity="O(1)",
         summary="Stores a tensor as the value of a key.",
         acl=("@write", "@slow", "@ai"))
def tensorset(c: ClientState, argv: list[bytes]) -> Any:
    if len(argv) < 4:
        raise wrong_arity(argv)
    db = c.db
    key = argv[1]
    old = db.lookup(key)
    if old is not None and old.__class__ is not Tensor:
        raise WrongTypeError()  # before any argument is parsed, as RedisAI
    db.set(key, parse_tensorset(argv, *tensor_cap(c.server.config)))
    return OK


def tensor_cap(config: Config) -> tuple[int, str]:
    """The size limit on a new tensor's data, and the name of the flag that sets it."""
    if config.tensor_max_bytes < config.proto_max_bulk_len:
        return config.tensor_max_bytes, "tensor-max-bytes"
    return config.proto_max_bulk_len, "proto-max-bulk-len"


def parse_tensorset(argv: list[bytes], cap: int, limit: str = "proto-max-bulk-len") -> Tensor:
    """The tensor ``key type dim... [BLOB b | VALUES v...]`` describes (argc >= 4); its
    data may not pass ``cap`` bytes (the ``limit`` flag)."""
    argc = len(argv)
    dtype = lookup_dtype(argv[2])
    if dtype is None:
        raise ReplyError(_INVALID_TYPE)
    dims: list[int] = []
    n = 1
    pos = 3
    fmt = 0
    while pos < argc:
        arg = argv[pos]
        word = arg.upper() if len(arg) in (4, 6) else b""
        if word == b"BLOB":
            if argc - 1 - pos != 1:
                raise ReplyError(_BLOB_ARITY)
            fmt = _BLOB
            pos += 1
            break
        if word == b"VALUES":
            if argc - 1 - pos != n:
                raise ReplyError(_VALUES_COUNT)
            fmt = _VALUES
            pos += 1
            break
        dim = parse_int(arg, _BAD_DIM)
        if dim <= 0:
            raise ReplyError(_BAD_DIM)
        dims.append(dim)
        n *= dim
        pos += 1
    shape = tuple(dims)
    if fmt == _BLOB:
        # The blob exists already (bounded by proto-max-bulk-len); from_blob checks
        # that it matches the shape.
        if len(argv[pos]) > cap:
            raise too_large(len(argv[pos]), cap, limit)
        return Tensor.from_blob(dtype, shape, argv[pos])
    if n * dtype.itemsize > cap:  # before anything is allocated
        raise too_large(n * dtype.itemsize, cap, limit)
    if fmt == _VALUES:
        return Tensor.from_values(dtype, shape, argv[pos:], cap)
    return Tensor.zeros(dtype, shape, cap)


@command("ai.tensorget", -1, "readonly", keys=(1, 1, 1), group="tensor",
         since="1.0.0", complexity="O(1) (O(N) with VALUES)",
         summary="Returns a tensor's metadata, blob or values.",
         acl=("@read", "@slow", "@ai"))
def tensorget(c: ClientState, argv: list[bytes]) -> Any:
    if not 2 <= len(argv) <= 4:
        raise wrong_arity(argv)
    tensor = c.db.lookup(argv[1])
    if tensor is None:
        raise ReplyError(_EMPTY_KEY)
    if tensor.__class__ is not Tensor:
        raise WrongTypeError()
    return tensor_reply(tensor, parse_get_format(argv), c.resp)


def parse_get_format(argv: list[bytes]) -> int:
    """AI.TENSORGET's format flags (no flags: META and BLOB)."""
    if len(argv) == 2:
        return _META | _BLOB
    fmt = 0
    for arg in argv[2:]:
        flag = _FORMATS.get(arg.upper())
        if flag is None:
            raise ReplyError(_BAD_FORMAT)
        fmt |= flag
    if fmt & _BLOB and fmt & _VALUES:
        raise ReplyError(_BLOB_AND_VALUES)
    return fmt


def tensor_reply(tensor: Tensor, fmt: int, resp: int) -> Any:
    if not fmt & _META:
        # The blob is returned as the stored bytes object: the writer sends a large one
        # as its own chunk, never copied into a formatted reply.
        return tensor.blob if fmt & _BLOB else tensor.values(resp)
    # A dict is RedisAI's flat array (dtype, T, shape, [...], ...) for RESP2 clients and
    # a map for RESP3 ones (REDISAI.md: natural RESP3 types).
    reply: dict[bytes, Any] = {
        b"dtype": tensor.dtype.name.encode(),
        b"shape": list(tensor.shape),
    }
    if fmt & _BLOB:
        reply[b"blob"] = tensor.blob
    elif fmt & _VALUES:
        reply[b"values"] = tensor.values(resp)
    return reply
