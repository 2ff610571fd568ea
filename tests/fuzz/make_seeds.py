#!/usr/bin/env python3
"""Write the fuzzers' seed corpora, tests/fuzz/corpus/NAME/, from the
project's own fixtures and a few small files made here.

    python3 tests/fuzz/make_seeds.py build/llamadbg

Seeds are small (a fuzzer mutates them; the larger a seed, the slower each
run): config and params files, the tiny tokenizers, lessons, short texts,
little safetensors and torch.save files written below, pickles of the kind
torch.save writes, and traces of the smallest test model. Deterministic;
no network; needs only the standard library and the built binary.
"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def out(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def copy(harness, name, path):
    with open(os.path.join(ROOT, path), "rb") as f:
        out(harness, name, f.read())


# safetensors: u64 header length, JSON header, data.
def safetensors(tensors, meta=None):
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta is not None:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


def seeds_safetensors():
    f32 = struct.pack("<6f", 1, -2, 3.5, 0, float("inf"), -1e-3)
    bf16 = struct.pack("<4H", 0x3F80, 0xC000, 0x7FC0, 0x0000)
    out("safetensors", "f32", safetensors([("a", "F32", [2, 3], f32)]))
    out("safetensors", "mixed", safetensors([("w.weight", "BF16", [2, 2], bf16),
                                             ("x", "F16", [2], b"\x00\x3c\x00\xc0"),
                                             ("ids", "I32", [1], b"\x07\x00\x00\x00")],
                                            {"format": "pt", "note": "seed"}))
    out("safetensors", "scalar-empty", safetensors([("s", "F32", [], b"\x00\x00\x80\x3f"),
                                                    ("e", "F32", [0, 4], b"")]))
    out("safetensors", "empty", safetensors([], {}))


def seeds_json_files():
    for i, p in enumerate(sorted(glob.glob(os.path.join(ROOT, "tests/data/**/config.json"), recursive=True))
                          + [os.path.join(ROOT, "data/demo/config.json")]):
        copy("config", "config-%02d.json" % i, os.path.relpath(p, ROOT))
    for i, p in enumerate(sorted(glob.glob(os.path.join(ROOT, "tests/data/**/params.json"), recursive=True))):
        copy("params", "params-%02d.json" % i, os.path.relpath(p, ROOT))
    copy("tokenizer_json", "tiny-hf.json", "tests/data/tok/tiny-hf/tokenizer.json")
    out("tokenizer_json", "minimal.json", json.dumps({
        "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3},
                  "merges": ["a b"]},
        "added_tokens": [{"id": 4, "content": "<|begin_of_text|>", "special": True}],
        "pre_tokenizer": {"type": "ByteLevel"}}).encode())
    for i, p in enumerate(sorted(glob.glob(os.path.join(ROOT, "tests/data/tok/**/tokenizer.model"),
                                           recursive=True))):
        copy("tiktoken", "tiny-%02d.model" % i, os.path.relpath(p, ROOT))
    out("tiktoken", "three.model", b"YQ== 0\nYg== 1\nYWI= 2\n")


def seeds_lessons():
    for p in sorted(glob.glob(os.path.join(ROOT, "lessons/*.txt"))):
        copy("lesson", os.path.basename(p), os.path.relpath(p, ROOT))


def seeds_encode():
    texts = ["the answer to the ultimate question of life, the universe, and everything is ",
             "Hello, world!  42\n\n\tend", "don't I'm we'll", "12345678901234567890",
             "<|begin_of_text|>hi<|eot_id|>", "\u00e9t\u00e9 \u4e2d\u6587 \U0001F600 emoji",
             "   leading and trailing   ", "a\r\nb\rc"]
    for i, t in enumerate(texts):
        out("encode", "text-%02d" % i, bytes([i % 4]) + t.encode())
    out("encode", "bad-utf8", b"\x00\xff\xfe\xc0\xaf \xed\xa0\x80 x\x80")
    cases = os.path.join(ROOT, "tests/data/tok/llama3_cases.json")
    if os.path.exists(cases):
        with open(cases) as f:
            data = json.load(f)
        items = data if isinstance(data, list) else data.get("cases", [])
        for i, c in enumerate(items[:24]):
            t = c.get("text") if isinstance(c, dict) else None
            if isinstance(t, str):
                out("encode", "case-%02d" % i, b"\x00" + t.encode("utf-8", "surrogatepass"))


# Pickles as torch.save writes a state dict (protocol 2), storages "0".."3"
# of 4096 bytes as fuzz_pickle.c provides them.
def pk_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def pk_int(v):
    return b"K" + bytes([v]) if 0 <= v < 256 else b"J" + struct.pack("<i", v)


def pk_tuple(items):
    return b"(" + b"".join(items) + b"t"


def pk_tensor(key, storage_cls, numel, offset, shape, stride):
    pid = pk_tuple([pk_str("storage"), b"ctorch\n" + storage_cls + b"\n", pk_str(key), pk_str("cpu"),
                    pk_int(numel)])
    args = pk_tuple([pid + b"Q", pk_int(offset), pk_tuple([pk_int(s) for s in shape]),
                     pk_tuple([pk_int(s) for s in stride]), b"\x89",
                     b"ccollections\nOrderedDict\n)R"])
    return b"ctorch._utils\n_rebuild_tensor_v2\n" + args + b"R"


def state_dict(entries):
    body = b"".join(pk_str(k) + v for k, v in entries)
    return b"\x80\x02ccollections\nOrderedDict\n)R(" + body + b"u."


def pickles():
    return {
        "f32": state_dict([("tok_embeddings.weight", pk_tensor("0", b"FloatStorage", 1024, 0, [32, 32], [32, 1]))]),
        "bf16-two": state_dict([
            ("layers.0.attention.wq.weight", pk_tensor("1", b"BFloat16Storage", 2048, 0, [64, 32], [32, 1])),
            ("norm.weight", pk_tensor("2", b"HalfStorage", 2048, 16, [16], [1]))]),
        "memo": b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01h\x01X\x01\x00\x00\x00bq\x02]q\x03(K\x01K\x02eu.",
        "plain": b"\x80\x02}q\x00.",
    }


def zip_stored(files):
    """A zip with stored records, data aligned to 64 bytes as torch.save does."""
    body, central = b"", b""
    for name, data in files:
        n = name.encode()
        pad = -(len(body) + 30 + len(n)) % 64
        crc = zlib.crc32(data)
        off = len(body)
        body += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data),
                            len(n), pad) + n + b"\0" * pad + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data),
                               len(data), len(n), 0, 0, 0, 0, 0, off) + n
    eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(files), len(files), len(central), len(body), 0)
    return body + central + eocd


def seeds_pth():
    for name, pkl in pickles().items():
        out("pickle", name, pkl)
    storages = [("archive/data/%d" % i, bytes(range(256)) * 16) for i in range(4)]
    dup = state_dict([("norm.weight", pk_tensor("0", b"FloatStorage", 1024, 0, [16], [1])),
                      ("norm.weight", pk_tensor("1", b"FloatStorage", 1024, 0, [16], [1]))])
    out("pth", "hostile-duplicate-key.pth",
        zip_stored([("archive/data.pkl", dup), ("archive/byteorder", b"little")] + [
            ("archive/data/%d" % i, bytes(4096)) for i in range(2)]))
    for name, pkl in pickles().items():
        out("pth", name + ".pth", zip_stored([("archive/data.pkl", pkl), ("archive/byteorder", b"little")]
                                             + storages))


def split_safetensors(raw):
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join_safetensors(header, data):
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)  # the data stays aligned
    return struct.pack("<Q", len(h)) + h + data


def hostile_traces(raw):
    """Traces that lie, each (hostile-*) refused by the reader with one
    line, checked so by tests/test_limits.sh through `llamadbg ls`."""
    def edit(fn):
        header, data = split_safetensors(raw)
        data = fn(header, data) or data
        return join_safetensors(header, data)

    def first(header):
        return next(k for k in header if k != "__metadata__")

    def meta(key, value):
        return lambda h, d: h["__metadata__"].__setitem__(key, value)

    def shape_lies(h, d):
        h[first(h)]["shape"][0] += 1

    def past_end(h, d):
        t = h[first(h)]
        t["data_offsets"] = [t["data_offsets"][0], len(d) + 64]

    def truncated(h, d):
        return d[: len(d) // 2]

    def points_drop(h, d):
        pts = json.loads(h["__metadata__"]["points"])
        h["__metadata__"]["points"] = json.dumps(pts[1:])

    def int_dtype(h, d):
        h[first(h)]["dtype"] = "I64"

    return {
        "hostile-shape-lies": edit(shape_lies),
        "hostile-offsets-past-end": edit(past_end),
        "hostile-truncated-data": edit(truncated),
        "hostile-dtype-i64": edit(int_dtype),
        "hostile-format": edit(meta("format", "llamadbg-trace-99")),
        "hostile-config-not-json": edit(meta("config", "{\"hidden_size\": ")),
        "hostile-config-number": edit(meta("config", "42")),
        "hostile-tokens-not-list": edit(meta("tokens", "{\"a\": 1}")),
        "hostile-tokens-strings": edit(meta("tokens", "[\"x\", \"y\"]")),
        "hostile-generated-huge": edit(meta("generated", "[99999999999999999999]")),
        "partial-points": edit(points_drop),  # accepted: axes from the catalogue
        "hostile-points-not-list": edit(meta("points", "7")),
    }


def lens_traces(raw):
    """Logit lens points that are not what a lens is: the reader takes them
    (an F32 or I32 point of any shape), the viewer must not trust them."""
    def edit(fn):
        header, data = split_safetensors(raw)
        fn(header)
        return join_safetensors(header, data)

    def ids_f32(h):
        h["layers.0.lens_ids"]["dtype"] = "F32"

    def probs_shape(h):
        t = h["layers.0.lens_mid_probs"]
        t["shape"] = [t["shape"][0] * t["shape"][1]]

    return {"lens-ids-f32": edit(ids_f32), "lens-probs-flat": edit(probs_shape)}


def seeds_traces(binary):
    model = "tests/data/models/bf16_mqa"  # relative: the trace stores the path as given
    with tempfile.TemporaryDirectory() as tmp:
        runs = [("layer0", ["--only", "embed", "--only", "layers.0.*"]),
                ("decode", ["-n", "2", "--only", "logits", "--only", "step.*.logits", "--only", "layers.0.probs"]),
                ("all", []),
                ("lens", ["--lens=3", "--lens-mid", "-n", "2", "--only", "tokens", "--only", "*lens*"])]
        for name, extra in runs:
            path = os.path.join(tmp, name + ".safetensors")
            subprocess.run([binary, "trace", "-m", model, "-t", "126,5,9,17", "-o", path] + extra,
                           check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
            with open(path, "rb") as f:
                out("trace", name, f.read())
        with open(os.path.join(tmp, "decode.safetensors"), "rb") as f:
            for name, data in hostile_traces(f.read()).items():
                out("trace", name, data)
        with open(os.path.join(tmp, "lens.safetensors"), "rb") as f:
            for name, data in lens_traces(f.read()).items():
                out("trace", name, data)


def seeds_model():
    """fuzz_model.c: byte 0 says which file of the test model the rest is."""
    d = os.path.join(ROOT, "tests/data/models/bf16_mqa")
    for which, name in enumerate(["config.json", "model.safetensors"]):
        with open(os.path.join(d, name), "rb") as f:
            out("model", name, bytes([which]) + f.read())


def seeds_gguf():
    """fuzz_gguf.c: the small GGUF fixtures (a Q8_0 model with every
    value type, one with a tokenizer, a 32-block and a K-type model) and
    the hostile variants."""
    for name in ["ok-small", "tiny-q8_0", "tiny-q4_0", "tiny-q2_k"]:
        copy("gguf", name, "tests/data/gguf/%s.gguf" % name)
    for p in sorted(glob.glob(os.path.join(ROOT, "tests/data/gguf/bad-*.gguf"))):
        if os.path.getsize(p) <= 16384:
            copy("gguf", os.path.basename(p)[:-5], os.path.relpath(p, ROOT))


# .npy: magic, version, header length, a dict padded to 64 bytes, the data.
def npy(descr, shape, raw, major=1, order="False"):
    dims = "".join("%d, " % d for d in shape).rstrip(" ")
    if len(shape) > 1:
        dims = dims.rstrip(",")
    d = ("{'descr': '%s', 'fortran_order': %s, 'shape': (%s), }" % (descr, order, dims)).encode()
    pre = 10 if major == 1 else 12
    hlen = (pre + len(d) + 1 + 63) // 64 * 64 - pre
    size = struct.pack("<H", hlen) if major == 1 else struct.pack("<I", hlen)
    return b"\x93NUMPY" + bytes([major, 0]) + size + d + b" " * (hlen - len(d) - 1) + b"\n" + raw


def seeds_npy():
    out("npy", "f4-2x8", npy("<f4", [2, 8], struct.pack("<16f", *range(16))))
    out("npy", "f4-row4", npy("<f4", [4], struct.pack("<4f", 0.5, 0.25, 0.25, 0), major=2))
    out("npy", "f2-3x4", npy("<f2", [3, 4], b"\x00\x3c" * 12, major=3))
    out("npy", "i4-scalar", npy("<i4", [], struct.pack("<i", 7)))
    out("npy", "f4-4x2x4", npy("<f4", [4, 2, 4], struct.pack("<32f", *range(32))))
    out("npy", "f4-fortran-1x4", npy("<f4", [1, 4], struct.pack("<4f", 1, 2, 3, 4), order="True"))
    out("npy", "f4-2x2x2x2", npy("<f4", [2, 2, 2, 2], struct.pack("<16f", *range(16))))


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_seeds.py LLAMADBG_BINARY")
    shutil.rmtree(CORPUS, ignore_errors=True)
    seeds_safetensors()
    seeds_json_files()
    seeds_lessons()
    seeds_encode()
    seeds_pth()
    seeds_traces(os.path.abspath(sys.argv[1]))
    seeds_model()
    seeds_npy()
    seeds_gguf()
    for d in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, d))
        size = sum(os.path.getsize(os.path.join(CORPUS, d, f)) for f in files)
        print("%-16s %3d seeds %8d bytes" % (d, len(files), size))


if __name__ == "__main__":
    main()
