#!/usr/bin/python3
"""A small GGUF reader for the tests: parses a whole file into metadata and
tensors (dequantized to float32 with gguf_quants), checking every length
against the file. Independent of gguf_write.py's packing code.

    gguf_read.py FILE.gguf            print metadata and tensor infos
    gguf_read.py --twin FILE.gguf DIR write DIR/config.json + model.safetensors
                                      (F32, the dequantized weights in HF
                                      layout) + tokenizer.json if given with
                                      --tokenizer, for tests/reference/reference.py
"""
import json
import os
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import gguf_quants as gq  # noqa: E402

_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class GGUFError(Exception):
    pass


class Reader:
    def __init__(self, blob):
        self.b = blob
        self.p = 0

    def take(self, n):
        if n > len(self.b) - self.p:
            raise GGUFError("needs %d bytes at offset %d, file has %d" % (n, self.p, len(self.b)))
        s = self.b[self.p:self.p + n]
        self.p += n
        return s

    def u(self, fmt):
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self):
        return self.take(self.u("Q")).decode("utf-8")

    def value(self, t, depth=0):
        if t in _FMT:
            return self.u(_FMT[t])
        if t == 8:
            return self.string()
        if t == 9:
            if depth > 8:
                raise GGUFError("arrays nested deeper than 8")
            et, n = self.u("I"), self.u("Q")
            if et in _FMT:
                sz = struct.calcsize(_FMT[et])
                return list(struct.unpack("<%d%s" % (n, _FMT[et]), self.take(n * sz)))
            return [self.value(et, depth + 1) for _ in range(n)]
        raise GGUFError("unknown value type %d" % t)


def parse(blob):
    """-> (version, metadata dict, [(name, type, ne, offset)], data start)."""
    r = Reader(blob)
    if r.take(4) != b"GGUF":
        raise GGUFError("not GGUF")
    version = r.u("I")
    if version not in (2, 3):
        raise GGUFError("version %d" % version)
    nt, nkv = r.u("Q"), r.u("Q")
    meta = {}
    for _ in range(nkv):
        k = r.string()
        meta[k] = r.value(r.u("I"))
    infos = []
    for _ in range(nt):
        name = r.string()
        nd = r.u("I")
        ne = [r.u("Q") for _ in range(nd)]
        infos.append((name, r.u("I"), ne, r.u("Q")))
    align = meta.get("general.alignment", 32)
    start = r.p + (-r.p % align)
    return version, meta, infos, start


def load(path):
    with open(path, "rb") as f:
        blob = f.read()
    version, meta, infos, start = parse(blob)
    tensors = {}
    for name, t, ne, off in infos:
        n = int(np.prod(ne))
        nb = gq.nbytes(t, n)
        raw = blob[start + off:start + off + nb]
        if len(raw) != nb:
            raise GGUFError("%s: data past the end" % name)
        tensors[name] = (t, gq.dequantize(t, raw, n).reshape(list(reversed(ne))), raw)
    return version, meta, tensors


def twin(path, out_dir, tokenizer=None):
    """The dequantized model as an F32 Hugging Face directory."""
    import shutil
    import st_io
    from gguf_write import meta_to_hf_rows
    _, m, t = load(path)
    p = "llama."
    L = m[p + "block_count"]
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
           "hidden_size": m[p + "embedding_length"], "intermediate_size": m[p + "feed_forward_length"],
           "num_hidden_layers": L, "num_attention_heads": m[p + "attention.head_count"],
           "num_key_value_heads": m[p + "attention.head_count_kv"],
           "head_dim": m[p + "attention.key_length"], "vocab_size": m[p + "vocab_size"],
           "rms_norm_eps": float(np.float32(m[p + "attention.layer_norm_rms_epsilon"])),
           "rope_theta": float(np.float32(m[p + "rope.freq_base"])),
           "max_position_embeddings": m[p + "context_length"],
           "tie_word_embeddings": "output.weight" not in t, "torch_dtype": "float32",
           "hidden_act": "silu"}
    for k in ("bos_token_id", "eos_token_id"):
        if "tokenizer.ggml." + k in m:
            cfg[k] = m["tokenizer.ggml." + k]
    if m.get(p + "rope.scaling.type") == "llama3":
        # The generator's models use llama.cpp's defaults for the bands.
        cfg["rope_scaling"] = {"rope_type": "llama3", "factor": m[p + "rope.scaling.factor"],
                               "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                               "original_max_position_embeddings":
                                   m[p + "rope.scaling.original_context_length"]}
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    names = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj",
             "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
             "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
             "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    out = [("model.embed_tokens.weight", t["token_embd.weight"][1]),
           ("model.norm.weight", t["output_norm.weight"][1])]
    if "output.weight" in t:
        out.append(("lm_head.weight", t["output.weight"][1]))
    for i in range(L):
        for g, h in names.items():
            a = t["blk.%d.%s.weight" % (i, g)][1]
            if g in ("attn_q", "attn_k"):
                a = meta_to_hf_rows(a, H if g == "attn_q" else KV)
            out.append(("model.layers.%d.%s.weight" % (i, h), a))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    st_io.write(os.path.join(out_dir, "model.safetensors"),
                sorted((n, "F32", np.ascontiguousarray(a, np.float32)) for n, a in out))
    if tokenizer:
        shutil.copy(tokenizer, os.path.join(out_dir, "tokenizer.json"))


def main():
    a = sys.argv[1:]
    try:
        if a and a[0] == "--twin":
            tok = None
            if "--tokenizer" in a:
                i = a.index("--tokenizer")
                tok = a[i + 1]
                del a[i:i + 2]
            twin(a[1], a[2], tok)
            return 0
        version, meta, tensors = load(a[0])
    except (GGUFError, OSError, IndexError) as e:
        print("gguf_read: %s" % e, file=sys.stderr)
        return 1
    print("version %d" % version)
    for k, v in meta.items():
        s = repr(v)
        print("%s = %s" % (k, s if len(s) < 80 else s[:77] + "..."))
    for name, (t, arr, raw) in tensors.items():
        print("%-28s %-5s %-14s %d bytes" % (name, gq.TYPES[t][0], list(arr.shape), len(raw)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
