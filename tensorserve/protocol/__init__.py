"""The RESP wire protocol, sans-IO: request readers and reply encoding."""

from ._reader import (
    HAVE_HIREDIS,
    HiredisReader,
    ProtocolError,
    PythonReader,
    QueryBufferLimitError,
    RequestReader,
    make_reader,
    reader_name,
)
from ._split import split_batch, split_inline
from ._writer import (
    NULL_ARRAY,
    OK,
    QUEUED,
    Push,
    Raw,
    Replies,
    Verbatim,
    encode,
    encode_bytes,
    encoder_for,
    format_double,
)

__all__ = [
    "HAVE_HIREDIS",
    "NULL_ARRAY",
    "OK",
    "QUEUED",
    "HiredisReader",
    "ProtocolError",
    "Push",
    "PythonReader",
    "QueryBufferLimitError",
    "Raw",
    "Replies",
    "RequestReader",
    "Verbatim",
    "encode",
    "encode_bytes",
    "encoder_for",
    "format_double",
    "make_reader",
    "reader_name",
    "split_batch",
    "split_inline",
]
