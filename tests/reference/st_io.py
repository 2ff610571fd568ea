#!/usr/bin/python3
"""Minimal safetensors reader/writer (numpy only), for the offline reference tools.

Format: u64 little-endian N, N bytes of JSON header (padded with spaces so
that 8 + N is a multiple of 8), then the data buffer. Header entries are
{"dtype", "shape", "data_offsets": [begin, end)} relative to byte 8 + N.
"""
import json
import struct

import numpy as np

# dtype name -> (numpy storage dtype, bytes per element)
_STORE = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
}


def f32_to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns (uint16), round to nearest even."""
    bits = np.ascontiguousarray(a, dtype="<f4").view("<u4").astype(np.uint64)
    assert not np.isnan(np.asarray(a, dtype=np.float32)).any()
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded.astype("<u2")


def bf16_bits_to_f64(u):
    return (np.asarray(u, dtype=np.uint32) << 16).astype("<u4").view("<f4").astype(np.float64)


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype_name, array) in the order they are stored.
    For BF16 the array must already hold the uint16 bit patterns."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    chunks = []
    off = 0
    for name, dt, arr in tensors:
        store = _STORE[dt]
        a = np.ascontiguousarray(arr)
        assert a.dtype == store or (dt == "BF16" and a.dtype == np.uint16), (name, dt, a.dtype)
        raw = a.astype(store, copy=False).tobytes(order="C")
        header[name] = {"dtype": dt, "shape": [int(s) for s in a.shape],
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    pad = (-(8 + len(hjson))) % 8
    hjson += b" " * pad
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for c in chunks:
            f.write(c)
    return off


def read(path, widen=True):
    """Returns (dict name -> array, metadata dict, ordered names).
    With widen, floating tensors come back as float64 (exact widening)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    assert 8 + n <= len(blob), path
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    data = blob[8 + n:]
    spans = []
    out = {}
    for name, info in header.items():
        dt = info["dtype"]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        store = _STORE[dt]
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        assert e - b == count * store.itemsize, (path, name)
        spans.append((b, e))
        a = np.frombuffer(data, dtype=store, count=count, offset=b).reshape(shape)
        if widen:
            if dt == "BF16":
                a = bf16_bits_to_f64(a)
            elif dt in ("F16", "F32", "F64"):
                a = a.astype(np.float64)
            else:
                a = a.copy()
        out[name] = a
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, (path, "hole or overlap at", b)
        pos = e
    assert pos == len(data), (path, "trailing bytes")
    return out, meta, list(header.keys())
