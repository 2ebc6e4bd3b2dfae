"""A minimal protobuf walk over an ONNX model's bytes (no ``onnx`` package at run time): does any tensor point to
external data? A model read from a compressed file's metadata must be self-contained -- a tensor with
``data_location = EXTERNAL`` would make onnxruntime read a file named by the (untrusted) model, outside the blob."""
from __future__ import annotations

# field numbers of onnx.proto3 (ModelProto / GraphProto / NodeProto / AttributeProto / TensorProto / ...)
_MODEL = {7: "graph", 25: "function"}
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}
_NODE = {5: "attribute"}
_FUNCTION = {7: "node"}
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_SPARSE = {1: "tensor", 2: "tensor"}
_KINDS = {"graph": _GRAPH, "node": _NODE, "function": _FUNCTION, "attribute": _ATTRIBUTE, "sparse": _SPARSE}
_TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION, _EXTERNAL = 13, 14, 1


class NotProtobuf(ValueError):
    pass


def _varint(buf, i):
    shift = value = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise NotProtobuf("truncated varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _fields(buf):
    """(field number, wire type, value: int or memoryview) of one message."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = None, i + 8
        elif wire == 5:
            value, i = None, i + 4
        elif wire == 2:
            size, i = _varint(buf, i)
            value, i = buf[i:i + size], i + size
        else:
            raise NotProtobuf(f"wire type {wire}")
        if i > n:
            raise NotProtobuf("truncated field")
        yield field, wire, value


def external_tensor(model_bytes: bytes) -> str | None:
    """A description of the first tensor stored outside the model (external data), or None."""
    stack = [(memoryview(model_bytes), _MODEL)]
    while stack:
        buf, kind = stack.pop()
        for field, wire, value in _fields(buf):
            if kind == "tensor":
                if field == _TENSOR_EXTERNAL_DATA or (field == _TENSOR_DATA_LOCATION and value == _EXTERNAL):
                    return "a tensor with external data"
                continue
            sub = kind.get(field) if isinstance(kind, dict) else None
            if sub is not None and wire == 2:
                stack.append((value, "tensor" if sub == "tensor" else _KINDS[sub]))
    return None


_MODEL_METADATA_PROPS, _ENTRY_KEY, _ENTRY_VALUE = 14, 1, 2


def metadata_props(model_bytes: bytes) -> dict[str, str]:
    """ModelProto.metadata_props as a dict (what onnxruntime's custom_metadata_map gives), without a session."""
    props = {}
    for field, wire, value in _fields(memoryview(model_bytes)):
        if field == _MODEL_METADATA_PROPS and wire == 2:
            entry = {f: bytes(v).decode("utf-8", "replace") for f, w, v in _fields(value) if w == 2}
            props[entry.get(_ENTRY_KEY, "")] = entry.get(_ENTRY_VALUE, "")
    return props


__all__ = ["external_tensor", "metadata_props", "NotProtobuf"]
