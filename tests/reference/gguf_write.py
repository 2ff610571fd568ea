#!/usr/bin/python3
"""Write GGUF files (versions 2 and 3), and convert a Hugging Face LLaMA
directory to one, quantizing the matrices.

The container (little-endian):

    "GGUF", u32 version, u64 tensor count, u64 metadata count
    metadata: string key, u32 value type, value
    tensor infos: string name, u32 n_dims, u64 dims[n_dims] (innermost
        first), u32 ggml type, u64 offset into the data section
    padding to general.alignment (default 32), then the data section;
    every tensor's offset is a multiple of the alignment.

A string is u64 length + UTF-8 bytes (no terminator). Value types: 0 u8,
1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string, 9 array (u32
element type, u64 count, elements; arrays may hold arrays), 10 u64, 11 i64,
12 f64. Version 2 and 3 have the same layout (3 only allows big-endian
files, which this writer never makes).

Conversion (as llama.cpp's convert_hf_to_gguf.py does for LlamaForCausalLM):

    gguf_write.py [--force] [--version 2|3] [--type T] HF_DIR OUT.gguf

HF_DIR holds config.json, model.safetensors (F32, F16 or BF16) and
optionally tokenizer.json or a tiktoken tokenizer.model (Llama 3's, with the
256 specials after the last rank). Names become llama.cpp's (token_embd,
blk.N.attn_q, ..., output_norm, output; no output when tied); q and k rows go
back from Hugging Face's rotate-half order to Meta's interleaved pairs (see
tests/bench/hf_to_gguf.py, whose config reading and llama3 factors are used
here); llama3 rope_scaling becomes the rope_freqs.weight tensor. 1-D
tensors stay F32; matrices become type T (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, or Q4_K_M: Q4_K with Q6_K for
output and half of the attn_v/ffn_down matrices). A matrix whose rows are
not a whole number of the type's blocks falls back as llama.cpp's does
(K types to Q5_0/Q5_1/Q8_0, 32-blocks to F16).

The file is written to OUT.tmp and renamed; OUT is never overwritten
without --force.
"""
import argparse
import json
import os
import struct
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "bench"))
import numpy as np  # noqa: E402

import gguf_quants as gq  # noqa: E402
import st_io  # noqa: E402
from hf_to_gguf import ConvertError, LAYER_TENSORS, llama3_rope_factors, read_config  # noqa: E402

# Metadata value types.
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
_SCALAR = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i",
           F32: "<f", BOOL: "<?", U64: "<Q", I64: "<q", F64: "<d"}


class Array:
    """A metadata array: element type and items (items of an ARR array are
    Array values themselves)."""

    def __init__(self, etype, items):
        self.etype = etype
        self.items = list(items)


def pack_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def pack_value(vtype, v):
    if vtype == STR:
        return pack_string(v)
    if vtype == ARR:
        head = struct.pack("<IQ", v.etype, len(v.items))
        if v.etype in _SCALAR:
            return head + struct.pack("<%d%s" % (len(v.items), _SCALAR[v.etype][1]), *v.items)
        return head + b"".join(pack_value(v.etype, x) for x in v.items)
    return struct.pack(_SCALAR[vtype], v)


def pad(n, align):
    return b"\0" * (-n % align)


def build(kvs, tensors, version=3, alignment=32):
    """kvs: [(key, vtype, value)]; tensors: [(name, ggml_type, ne, raw)] with
    ne innermost first. Returns the whole file as bytes."""
    parts = [b"GGUF", struct.pack("<IQQ", version, len(tensors), len(kvs))]
    for key, vtype, v in kvs:
        parts += [pack_string(key), struct.pack("<I", vtype), pack_value(vtype, v)]
    offset = 0
    data = []
    for name, gtype, ne, raw in tensors:
        parts += [pack_string(name), struct.pack("<I", len(ne)),
                  struct.pack("<%dQ" % len(ne), *ne), struct.pack("<IQ", gtype, offset)]
        data += [raw, pad(len(raw), alignment)]
        offset += len(raw) + len(data[-1])
    head = b"".join(parts)
    return head + pad(len(head), alignment) + b"".join(data)


def write_atomic(path, blob, force=False):
    if os.path.exists(path) and not force:
        raise ConvertError("%s: exists; pass --force to overwrite it" % path)
    tmp = path + ".tmp"
    try:
        with open(path + ".tmp", "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


# ---- Hugging Face -> GGUF -------------------------------------------------

FALLBACK = {gq.Q2_K: gq.Q5_0, gq.Q3_K: gq.Q5_0, gq.Q4_K: gq.Q5_0, gq.Q5_K: gq.Q5_1,
            gq.Q6_K: gq.Q8_0}
FILE_TYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9,
             "Q2_K": 10, "Q3_K": 12, "Q4_K": 14, "Q4_K_M": 15, "Q5_K": 17, "Q6_K": 18,
             "BF16": 32}


def hf_to_meta_rows(w, n_heads):
    """Per head, rows j*half + i (HF rotate-half) -> rows 2i + j (Meta pairs)."""
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, 2, hd // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def meta_to_hf_rows(w, n_heads):
    rows, cols = w.shape
    hd = rows // n_heads
    return w.reshape(n_heads, hd // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def choose_type(name, ne0, mtype, layer, n_layers):
    """ggml type of a matrix for the requested file type."""
    if mtype == "Q4_K_M":
        t = gq.Q4_K
        if name == "output.weight":
            t = gq.Q6_K
        elif (name.endswith("attn_v.weight") or name.endswith("ffn_down.weight")) and \
                (layer < (n_layers + 7) // 8 or layer >= 7 * n_layers // 8 or layer % 3 == 2):
            t = gq.Q6_K   # llama.cpp's "more bits" layers: first/last eighth, every third
    else:
        t = gq.BY_NAME[mtype]
    bs = gq.TYPES[t][1]
    if ne0 % bs:
        t = FALLBACK.get(t, gq.F16)
        if ne0 % gq.TYPES[t][1]:
            t = gq.F16
    return t


def tokenizer_kvs(path, cfg):
    with open(path, encoding="utf-8") as f:
        tok = json.load(f)
    model = tok["model"]
    if model.get("type") != "BPE":
        raise ConvertError("%s: model type %s, only BPE is converted" % (path, model.get("type")))
    vocab = dict(model["vocab"])
    special = {}
    for a in tok.get("added_tokens", []):
        vocab[a["content"]] = a["id"]
        special[a["id"]] = a.get("special", False)
    n = max(vocab.values()) + 1
    tokens = ["[PAD%d]" % i for i in range(n)]
    types = [5] * n  # unused
    for s, i in vocab.items():
        tokens[i] = s
        types[i] = (3 if special[i] else 4) if i in special else 1
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    eos = cfg.get("eos_token_id")
    eos = eos[0] if isinstance(eos, list) else eos
    kvs = [("tokenizer.ggml.model", STR, "gpt2"),
           ("tokenizer.ggml.pre", STR, "llama-bpe"),
           ("tokenizer.ggml.tokens", ARR, Array(STR, tokens)),
           ("tokenizer.ggml.token_type", ARR, Array(I32, types)),
           ("tokenizer.ggml.merges", ARR, Array(STR, merges))]
    if cfg.get("bos_token_id") is not None:
        kvs.append(("tokenizer.ggml.bos_token_id", U32, int(cfg["bos_token_id"])))
    if eos is not None:
        kvs.append(("tokenizer.ggml.eos_token_id", U32, int(eos)))
    return kvs, n


# Llama 3's special tokens after the last BPE rank (a tiktoken
# tokenizer.model implies them): eleven named, the rest reserved.
LLAMA3_SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                   "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                   "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                   "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]


def _byte_chars():
    """GPT-2's printable stand-in for each byte, as tokenizer.json spells tokens:
    printable Latin-1 bytes as themselves, the others from U+0100 on."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, extra = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + extra)
            extra += 1
    return out


def tiktoken_kvs(path, cfg, n_vocab):
    """A tiktoken tokenizer.model (base64 bytes, rank per line) as gpt2
    metadata: the token strings in GPT-2's byte spelling, and the merges
    recovered from the ranks (each multi-byte token is the one merge that BPE
    with lower ranks ends on)."""
    import base64
    ranks = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            if line.strip():
                b64, r = line.split()
                ranks[base64.b64decode(b64)] = int(r)
    bc = _byte_chars()
    spell = {b: "".join(bc[x] for x in b) for b in ranks}
    by_rank = sorted(ranks, key=ranks.get)
    merges = []
    for tok in by_rank:
        if len(tok) < 2:
            continue
        parts = [bytes([x]) for x in tok]
        while len(parts) > 2:
            best = None
            for i in range(len(parts) - 1):
                r = ranks.get(parts[i] + parts[i + 1])
                if r is not None and r < ranks[tok] and (best is None or r < best[0]):
                    best = (r, i)
            if best is None:
                break
            i = best[1]
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        if len(parts) == 2:
            merges.append(spell[parts[0]] + " " + spell[parts[1]])
    n = len(by_rank)
    tokens = [spell[b] for b in by_rank]
    for i in range(n_vocab - n):
        tokens.append(LLAMA3_SPECIALS[i] if i < len(LLAMA3_SPECIALS)
                      else "<|reserved_special_token_%d|>" % (i - len(LLAMA3_SPECIALS) + 3))
    types = [1] * n + [3] * (n_vocab - n)
    eos = cfg.get("eos_token_id", n + 1)
    eos = eos[0] if isinstance(eos, list) else eos
    return [("tokenizer.ggml.model", STR, "gpt2"),
            ("tokenizer.ggml.pre", STR, "llama-bpe"),
            ("tokenizer.ggml.tokens", ARR, Array(STR, tokens)),
            ("tokenizer.ggml.token_type", ARR, Array(I32, types)),
            ("tokenizer.ggml.merges", ARR, Array(STR, merges)),
            ("tokenizer.ggml.bos_token_id", U32, int(cfg.get("bos_token_id", n))),
            ("tokenizer.ggml.eos_token_id", U32, int(eos))]


def convert(model_dir, mtype="F32", version=3, alignment=32, extra_kvs=()):
    """Returns the GGUF bytes of an HF directory."""
    kvs, tensors = convert_parts(model_dir, mtype, alignment, extra_kvs)
    return build(kvs, tensors, version, alignment)


def convert_parts(model_dir, mtype="F32", alignment=32, extra_kvs=()):
    """The metadata [(key, vtype, value)] and tensors [(name, type, ne, raw)]
    of an HF directory's GGUF."""
    c = read_config(model_dir)
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        cfg = json.load(f)
    w, _, _ = st_io.read(os.path.join(model_dir, "model.safetensors"))
    w = {k: v.astype(np.float32) for k, v in w.items()}

    def tensor(gguf_name, a, layer=0):
        if a.ndim == 1:
            t = gq.F32
        else:
            t = choose_type(gguf_name, a.shape[-1], mtype, layer, c["n_layers"])
        return (gguf_name, t, list(reversed(a.shape)), gq.quantize(t, a))

    out = [tensor("token_embd.weight", w["model.embed_tokens.weight"]),
           tensor("output_norm.weight", w["model.norm.weight"])]
    if not c["tied"]:
        out.append(tensor("output.weight", w["lm_head.weight"]))
    if c["rope_scaling"]:
        out.append(tensor("rope_freqs.weight", np.array(llama3_rope_factors(c), np.float32)))
    for layer in range(c["n_layers"]):
        for hf, gguf, _, how, heads in LAYER_TENSORS:
            a = w["model.layers.%d.%s" % (layer, hf)]
            if how == "rope":
                a = hf_to_meta_rows(a, c[heads])
            out.append(tensor("blk.%d.%s" % (layer, gguf), a, layer))

    p = "llama."
    kvs = [("general.architecture", STR, "llama"),
           ("general.name", STR, os.path.basename(os.path.normpath(model_dir))),
           ("general.file_type", U32, FILE_TYPE[mtype]),
           ("general.quantization_version", U32, 2),
           ("general.alignment", U32, alignment),
           (p + "vocab_size", U32, c["vocab"]),
           (p + "context_length", U32, c["max_pos"]),
           (p + "embedding_length", U32, c["dim"]),
           (p + "feed_forward_length", U32, c["ffn"]),
           (p + "block_count", U32, c["n_layers"]),
           (p + "attention.head_count", U32, c["n_heads"]),
           (p + "attention.head_count_kv", U32, c["n_kv_heads"]),
           (p + "attention.key_length", U32, c["head_dim"]),
           (p + "attention.value_length", U32, c["head_dim"]),
           (p + "rope.dimension_count", U32, c["head_dim"]),
           (p + "rope.freq_base", F32, c["theta"]),
           (p + "attention.layer_norm_rms_epsilon", F32, c["eps"])]
    rs = c["rope_scaling"]
    if rs:
        # What the factors in rope_freqs.weight were computed from.
        kvs += [(p + "rope.scaling.type", STR, "llama3"),
                (p + "rope.scaling.factor", F32, float(rs.get("factor", 8.0))),
                (p + "rope.scaling.original_context_length", U32,
                 int(rs.get("original_max_position_embeddings", 8192)))]
    tj = os.path.join(model_dir, "tokenizer.json")
    if os.path.exists(tj):
        tk, n = tokenizer_kvs(tj, cfg)
        if n > c["vocab"]:
            raise ConvertError("%s: %d tokens, config.json vocab_size %d" % (tj, n, c["vocab"]))
        kvs += tk
    elif os.path.exists(os.path.join(model_dir, "tokenizer.model")):
        kvs += tiktoken_kvs(os.path.join(model_dir, "tokenizer.model"), cfg, c["vocab"])
    else:
        kvs.append(("tokenizer.ggml.model", STR, "none"))
    kvs += list(extra_kvs)
    return kvs, out


def main():
    p = argparse.ArgumentParser(description="Convert a Hugging Face LLaMA directory to GGUF.")
    p.add_argument("model_dir", metavar="HF_DIR")
    p.add_argument("out", metavar="OUT.gguf")
    p.add_argument("--force", action="store_true", help="overwrite OUT.gguf if it exists")
    p.add_argument("--version", type=int, choices=(2, 3), default=3)
    p.add_argument("--type", default="F32", type=str.upper,
                   choices=sorted(FILE_TYPE), help="matrix type (default F32)")
    a = p.parse_args()
    try:
        if os.path.exists(a.out) and not a.force:
            raise ConvertError("%s: exists; pass --force to overwrite it" % a.out)
        blob = convert(a.model_dir, a.type, a.version)
        write_atomic(a.out, blob, a.force)
    except ConvertError as e:
        print("gguf_write: %s" % e, file=sys.stderr)
        return 1
    except (OSError, KeyError) as e:
        print("gguf_write: %s: %s" % (a.model_dir, e), file=sys.stderr)
        return 1
    print("gguf_write: wrote %s (%s, v%d, %d bytes)" % (a.out, a.type, a.version, len(blob)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
