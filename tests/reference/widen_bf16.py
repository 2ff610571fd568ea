#!/usr/bin/env python3
"""widen_bf16.py SRC_DIR OUT_DIR - an f32 twin of a bf16 model.

Every bf16 weight w becomes a float32 whose upper 16 bits are w and whose
lower 16 bits are a fixed pseudo-random value below 0x8000, so rounding the
f32 model to bf16 (round to nearest even) gives back exactly the source
model. Tracing both shows what bf16 rounding does to a forward pass
(`llamadbg diff`). Standard library only; config.json and tokenizer.model
are copied. Written atomically; refuses to overwrite.
"""
import array
import json
import os
import shutil
import struct
import sys


def jitter(n, seed):
    """n values in [0, 0x7fff], from a 32-bit LCG (reproducible)."""
    out = array.array("I", bytes(4 * n))
    x = seed
    for i in range(n):
        x = (1103515245 * x + 12345) & 0xFFFFFFFF
        out[i] = (x >> 16) & 0x7FFF
    return out


def widen(src, dst):
    with open(src, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = f.read()
    meta = header.pop("__metadata__", None)
    out_header, chunks, off = {}, [], 0
    if meta is not None:
        out_header["__metadata__"] = meta
    for k, (name, info) in enumerate(header.items()):
        b, e = info["data_offsets"]
        raw = data[b:e]
        if info["dtype"] == "BF16":
            h = array.array("H", raw)
            if sys.byteorder != "little":
                h.byteswap()
            low = jitter(len(h), 1000 + k)
            w = array.array("I", ((v << 16) | lo for v, lo in zip(h, low)))
            # Round to nearest even gives back h: the low half is below 0x8000.
            assert all((x >> 16) == v for x, v in zip(w, h))
            if sys.byteorder != "little":
                w.byteswap()
            raw = w.tobytes()
            info = dict(info, dtype="F32")
        out_header[name] = dict(info, data_offsets=[off, off + len(raw)])
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(out_header, separators=(",", ":")).encode()
    hj += b" " * (-len(hj) % 8)
    tmp = dst + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for c in chunks:
            f.write(c)
    os.rename(tmp, dst)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: widen_bf16.py SRC_DIR OUT_DIR")
    src, out = sys.argv[1:]
    if os.path.exists(os.path.join(out, "model.safetensors")):
        sys.exit(f"{out}/model.safetensors: already exists")
    os.makedirs(out, exist_ok=True)
    for name in ("config.json", "tokenizer.model"):
        if os.path.exists(os.path.join(src, name)):
            shutil.copyfile(os.path.join(src, name), os.path.join(out, name))
    widen(os.path.join(src, "model.safetensors"), os.path.join(out, "model.safetensors"))


if __name__ == "__main__":
    main()
