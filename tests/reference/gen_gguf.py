#!/usr/bin/python3
"""Regenerate tests/data/gguf/: tiny random LLaMA models in every weight
type, known block vectors for each dequantizer, and hostile files.
Deterministic (fixed seeds, no timestamps): running it again gives the same
bytes. Usage: /usr/bin/python3 tests/reference/gen_gguf.py [OUT_DIR]

With --demo instead: data/demo/model-q4_k_m.gguf, the demo model quantized
(Q4_K_M rules; see demo_q4_k_m), tokenizer from its tiktoken file.
"""
import json
import os
import shutil
import struct
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402

import gguf_quants as gq  # noqa: E402
import gguf_read  # noqa: E402
import gguf_write as gw  # noqa: E402
import st_io  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
TOKENIZER = os.path.join(ROOT, "tests", "data", "tok", "tiny-hf", "tokenizer.json")
VOCAB = 533  # tiny-hf: 277 BPE tokens + 256 added (ids 277..532)

LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
# Rows of 32 values for the 32-blocks; the K types need rows of 256 (hidden
# 256); o_proj and down_proj rows (32 values) then fall back as in llama.cpp.
SMALL = dict(dim=32, ffn=64, heads=2, kv=1, hd=16, layers=2)
WIDE = dict(dim=256, ffn=32, heads=2, kv=1, hd=16, layers=1)
# name -> (matrix type, shape, tied, GGUF version, tokenizer). Models
# without the tokenizer have 64 tokens and tokenizer.ggml.model "none".
MODELS = [
    ("f32", "F32", SMALL, True, 3, True), ("f16", "F16", SMALL, True, 3, False),
    ("bf16", "BF16", SMALL, False, 3, False), ("q8_0", "Q8_0", SMALL, True, 3, True),
    ("q4_0", "Q4_0", SMALL, False, 3, False), ("q4_1", "Q4_1", SMALL, True, 2, False),
    ("q5_0", "Q5_0", SMALL, False, 3, False), ("q5_1", "Q5_1", SMALL, True, 3, False),
    ("q2_k", "Q2_K", WIDE, True, 3, False), ("q3_k", "Q3_K", WIDE, False, 3, False),
    ("q4_k", "Q4_K", WIDE, True, 3, False), ("q5_k", "Q5_K", WIDE, False, 2, False),
    ("q6_k", "Q6_K", WIDE, True, 3, False), ("q4_k_m", "Q4_K_M", WIDE, False, 3, False),
]


def hf_model(out_dir, s, tied, seed, vocab=VOCAB, tokenizer=True):
    """A random F32 model in Hugging Face layout (config.json, model.safetensors,
    tokenizer.json)."""
    rng = np.random.default_rng(seed)
    D, F, H, KV, hd, L = s["dim"], s["ffn"], s["heads"], s["kv"], s["hd"], s["layers"]
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
           "hidden_size": D, "intermediate_size": F, "num_hidden_layers": L,
           "num_attention_heads": H, "num_key_value_heads": KV, "head_dim": hd,
           "vocab_size": vocab, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
           "rope_scaling": LLAMA3, "max_position_embeddings": 131072,
           "tie_word_embeddings": tied, "bos_token_id": 277 if tokenizer else 1,
           "eos_token_id": 278 if tokenizer else 2, "torch_dtype": "float32"}

    def mat(r, c):
        return (rng.standard_normal((r, c)) / np.sqrt(c)).astype(np.float32)

    def norm(n):
        return (1 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    t = [("model.embed_tokens.weight", rng.standard_normal((vocab, D)).astype(np.float32)),
         ("model.norm.weight", norm(D))]
    if not tied:
        t.append(("lm_head.weight", mat(vocab, D)))
    for i in range(L):
        p = "model.layers.%d." % i
        t += [(p + "input_layernorm.weight", norm(D)),
              (p + "self_attn.q_proj.weight", mat(H * hd, D)),
              (p + "self_attn.k_proj.weight", mat(KV * hd, D)),
              (p + "self_attn.v_proj.weight", mat(KV * hd, D)),
              (p + "self_attn.o_proj.weight", mat(D, H * hd)),
              (p + "post_attention_layernorm.weight", norm(D)),
              (p + "mlp.gate_proj.weight", mat(F, D)),
              (p + "mlp.up_proj.weight", mat(F, D)),
              (p + "mlp.down_proj.weight", mat(D, F))]
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    st_io.write(os.path.join(out_dir, "model.safetensors"), sorted((n, "F32", a) for n, a in t))
    if tokenizer:
        shutil.copy(TOKENIZER, os.path.join(out_dir, "tokenizer.json"))


# One key of every metadata value type (ok-small.gguf), arrays nested too.
EVERY_TYPE = [
    ("test.u8", gw.U8, 200), ("test.i8", gw.I8, -100), ("test.u16", gw.U16, 60000),
    ("test.i16", gw.I16, -30000), ("test.u32", gw.U32, 4000000000),
    ("test.i32", gw.I32, -2000000000), ("test.f32", gw.F32, 0.25), ("test.bool", gw.BOOL, True),
    ("test.string", gw.STR, "h\u00e9llo"), ("test.u64", gw.U64, 1 << 63),
    ("test.i64", gw.I64, -(1 << 62)), ("test.f64", gw.F64, -1.5e300),
    ("test.array_f32", gw.ARR, gw.Array(gw.F32, [1.0, -2.0, 0.5])),
    ("test.array_empty", gw.ARR, gw.Array(gw.U8, [])),
    ("test.array_str", gw.ARR, gw.Array(gw.STR, ["a", "", "bc"])),
    ("test.array_nested", gw.ARR, gw.Array(gw.ARR, [gw.Array(gw.I16, [1, -2]),
                                                    gw.Array(gw.STR, ["x"]),
                                                    gw.Array(gw.ARR, [gw.Array(gw.BOOL, [False])])])),
]


def put(path, blob):
    with open(path + ".tmp", "wb") as f:
        f.write(blob)
    os.replace(path + ".tmp", path)


def blocks(out):
    """blocks-<type>.bin: three blocks quantized from seeded values (the
    first is all zeros but one value, so scales near the f16 edge occur);
    blocks-<type>.f32: the values they stand for, little-endian float32."""
    for t, (name, bs, _) in sorted(gq.TYPES.items()):
        if bs == 1:
            continue
        rng = np.random.default_rng(100 + t)
        x = rng.standard_normal(3 * bs).astype(np.float32) * np.float32(0.7)
        x[:bs] = 0
        x[bs // 3] = -1e-3
        x[2 * bs:] += np.float32(1.5)  # an all-positive block: minimum offsets
        raw = gq.quantize(t, x.reshape(1, -1))
        y = gq.dequantize(t, raw, x.size)
        put(os.path.join(out, "blocks-%s.bin" % name.lower()), raw)
        put(os.path.join(out, "blocks-%s.f32" % name.lower()), y.astype("<f4").tobytes())


def hostile(out, tmp):
    """Broken files, each built from a small valid model with one fault."""
    base_dir = os.path.join(tmp, "base")
    hf_model(base_dir, dict(dim=32, ffn=32, heads=2, kv=1, hd=16, layers=1), True, 7,
             vocab=16, tokenizer=False)
    good = gw.convert(base_dir, "Q8_0", extra_kvs=EVERY_TYPE)
    start = gguf_read.parse(good)[3]
    put(os.path.join(out, "ok-small.gguf"), good)
    kvs, tensors = gw.convert_parts(base_dir, "Q8_0", extra_kvs=EVERY_TYPE)
    tensors = [list(t) for t in tensors]
    def emit(name, blob):
        put(os.path.join(out, "bad-%s.gguf" % name), blob)

    emit("truncated-header", good[:start // 2])
    emit("data-past-end", good[:len(good) - 100])
    emit("magic", b"GGUG" + good[4:])
    emit("version-1", good[:4] + struct.pack("<I", 1) + good[8:])
    emit("tensor-count-2p60", good[:8] + struct.pack("<Q", 1 << 60) + good[16:])
    emit("kv-count-2p60", good[:16] + struct.pack("<Q", 1 << 60) + good[24:])
    # The first key's length: one byte more than the file holds.
    emit("string-past-end", good[:24] + struct.pack("<Q", len(good)) + good[32:])
    # An unaligned offset: the second tensor's info moved by 1 byte.
    t2 = [list(x) for x in tensors]
    name1 = t2[1][0]
    blob = bytearray(good)
    key = gw.pack_string(name1)
    at = blob.index(key) + len(key)
    nd = struct.unpack_from("<I", blob, at)[0]
    ofs_at = at + 4 + 8 * nd + 4
    struct.pack_into("<Q", blob, ofs_at, struct.unpack_from("<Q", blob, ofs_at)[0] + 1)
    emit("unaligned-offset", bytes(blob))
    # Dims whose product overflows 64 bits.
    t2 = [list(x) for x in tensors]
    t2[0][2] = [1 << 33, 1 << 33]
    emit("dims-overflow", gw.build(kvs, t2))
    t2 = [list(x) for x in tensors]
    t2[1][0] = t2[0][0]
    emit("duplicate-tensor", gw.build(kvs, t2))
    t2 = [list(x) for x in tensors]
    t2[0][1] = 99
    emit("unknown-type", gw.build(kvs, t2))
    emit("missing-block-count", gw.build([kv for kv in kvs if kv[0] != "llama.block_count"],
                                         tensors))
    # An array nested 10000 deep (each level one element), then the rest.
    deep = struct.pack("<I", gw.ARR) + struct.pack("<IQ", gw.ARR, 1) * 9999 + \
        struct.pack("<IQ", gw.U32, 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs) + 1) + \
        gw.pack_string("test.nested") + deep
    body = gw.build(kvs, tensors)[24:]
    emit("nested-10000", head + body)


DEMO = os.path.join(ROOT, "data", "demo")


def demo_q4_k_m():
    """The bundled demo model as llama.cpp's Q4_K_M would store it. Its rows
    (128 and 384 values) are not whole 256-blocks, so every matrix takes the
    fallback: Q5_0 for Q4_K, Q8_0 for Q6_K (output, some attn_v/ffn_down)."""
    return gw.convert(DEMO, "Q4_K_M")


def main():
    args = sys.argv[1:]
    if args and args[0] == "--demo":
        put(os.path.join(DEMO, "model-q4_k_m.gguf"), demo_q4_k_m())
        return
    main_into(args[0] if args else os.path.join(ROOT, "tests", "data", "gguf"))


def main_into(out):
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, mtype, shape, tied, version, tok) in enumerate(MODELS):
            src = os.path.join(out, "tiny-f32-hf") if name == "f32" else os.path.join(tmp, name)
            hf_model(src, shape, tied, 1000 + i, VOCAB if tok else 64, tok)
            put(os.path.join(out, "tiny-%s.gguf" % name), gw.convert(src, mtype, version))
        blocks(out)
        hostile(out, tmp)
        goldens(out, tmp)


def goldens(out, tmp):
    """golden/<type>.safetensors: the float64 reference (reference.py) on
    each model's dequantized weights, prompt 1,17,42,5 plus 3 greedy steps
    (what gguf_golden.py writes; tests/test_gguf.c compares every point)."""
    import gguf_read
    import reference
    os.makedirs(os.path.join(out, "golden"), exist_ok=True)
    for name, *_ in MODELS:
        path = os.path.join(out, "tiny-%s.gguf" % name)
        d = os.path.join(tmp, "golden-" + name)
        gguf_read.twin(path, d)
        reference.run_model({"name": os.path.basename(path), "prompt": [1, 17, 42, 5]}, d=d)
        shutil.copyfile(os.path.join(d, "golden.safetensors"), os.path.join(out, "golden", name + ".safetensors"))


if __name__ == "__main__":
    main()
