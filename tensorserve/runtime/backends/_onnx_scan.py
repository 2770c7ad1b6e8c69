"""Find tensors with external data in a serialized ONNX model, without the onnx package.

An ONNX initializer may keep its bytes in another file (``data_location: EXTERNAL``,
``external_data`` with a path). onnxruntime would open that path, relative to the working
directory when the model comes from memory, so a client could make the server read its
files. RedisAI refuses such models at store time, with the same text as here.

This walks the protobuf wire format along the schema (onnx.proto), visiting every
TensorProto wherever one can appear: graph initializers and sparse initializers, node
attributes (a tensor, tensors, sparse tensors, subgraphs such as Loop and If bodies),
functions and training graphs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

__all__ = ["EXTERNAL_DATA", "has_external_data"]

EXTERNAL_DATA: Final = "Initializer tensors with external data is not allowed."

_MAX_DEPTH: Final = 64

# message -> {field number: child message kind} (only fields that can lead to a tensor)
_MODEL: Final = {7: "graph", 20: "training", 25: "function"}
_TRAINING: Final = {1: "graph", 3: "graph"}  # initialization, algorithm
_FUNCTION: Final = {7: "node"}
_GRAPH: Final = {1: "node", 5: "tensor", 15: "sparse"}
_NODE: Final = {5: "attribute"}
_ATTRIBUTE: Final = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse",
                     23: "sparse"}
_SPARSE: Final = {1: "tensor", 2: "tensor"}
_SCHEMA: Final = {"model": _MODEL, "training": _TRAINING, "function": _FUNCTION,
                  "graph": _GRAPH, "node": _NODE, "attribute": _ATTRIBUTE,
                  "sparse": _SPARSE}
_TENSOR_EXTERNAL_DATA: Final = 13
_TENSOR_DATA_LOCATION: Final = 14


class _Malformed(Exception):
    pass


def _varint(data: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield field, wire, value
        elif wire == 1:
            pos += 8
        elif wire == 2:
            n, pos = _varint(data, pos)
            if pos + n > len(data):
                raise _Malformed
            yield field, wire, data[pos:pos + n]
            pos += n
        elif wire == 5:
            pos += 4
        else:
            raise _Malformed
        if pos > len(data):
            raise _Malformed


def _external(data: memoryview, kind: str, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        raise _Malformed
    if kind == "tensor":
        for field, wire, value in _fields(data):
            if field == _TENSOR_DATA_LOCATION and wire == 0 and value == 1:
                return True
            if field == _TENSOR_EXTERNAL_DATA and wire == 2:
                return True
        return False
    children = _SCHEMA[kind]
    for field, wire, value in _fields(data):
        child = children.get(field)
        if child is not None and wire == 2 and isinstance(value, memoryview):
            if _external(value, child, depth + 1):
                return True
    return False


def has_external_data(blob: bytes) -> bool:
    """Whether any tensor of the ONNX model ``blob`` keeps its data outside it. A blob
    that is not a well-formed protobuf answers False: onnxruntime reports that."""
    try:
        return _external(memoryview(blob), "model", 0)
    except _Malformed:
        return False
