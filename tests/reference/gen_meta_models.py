#!/usr/bin/python3
"""Write tiny random LLaMA 3 models in Meta's own layout, their Hugging Face
twins and float64 golden tensors, for tests/test_meta.c.

For each model of MODELS, tests/data/meta/<name>/ gets the SAME weights
three times:

    one/params.json + consolidated.00.pth         Meta layout, one shard
    two/original/params.json                      Meta layout, model-parallel
        + consolidated.00.pth, consolidated.01.pth  in 2 shards, inside original/
                                                  (where HF repos keep Meta's files)
    hf/config.json + model.safetensors            HF layout: q/k rows permuted
    hf/golden.safetensors                         reference.py run on hf/

The .pth files are written by torch.save itself (the zip format, pickle
protocol 2), so the C reader meets exactly what PyTorch produces. The 2
shards are cut as Meta's fairscale layers cut them: wq wk wv w1 w3 output
tok_embeddings along dim 0, wo w2 along dim 1, norms replicated. In the
one-shard file the two RMSNorm gains of each layer are views into one
shared storage (offsets 0 and dim), as torch.save writes views.

CLASSIFIER is an HF LlamaForSequenceClassification checkpoint (score.weight,
id2label, no lm_head) with its golden file, in tests/data/meta/<its name>/.

Needs Debian's python3-torch and python3-numpy; no network. Deterministic.
Usage: /usr/bin/python3 tests/reference/gen_meta_models.py
"""
import json
import os
import shutil
import sys
import zlib

import numpy as np
import torch

sys.dont_write_bytecode = True  # keep the tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402
import st_io  # noqa: E402
from gen_models import hf_permute, rope_bands  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_ROOT = os.path.normpath(os.path.join(HERE, "..", "data", "meta"))

META_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}

# Meta's params.json fields; vocab -1 = "take it from tok_embeddings".
# ffn_dim follows Meta's rule from dim, multiple_of and ffn_dim_multiplier.
MODELS = [
    # int(8*32/3) = 85, int(0.7*85) = 59, rounded up to 16: 64.
    dict(name="f32_scaled", dtype="F32", dim=32, n_layers=2, n_heads=4, n_kv_heads=2, vocab=264,
         params_vocab=264, multiple_of=16, ffn_dim_multiplier=0.7, ffn=64, norm_eps=1e-5,
         rope_theta=500000.0, use_scaled_rope=True, tied=False, max_seq_len=None,
         prompt=[8, 100, 7, 250, 31, 199, 64, 3]),
    # int(8*32/3) = 85, rounded up to 8: 88. Tied: no output.weight.
    dict(name="bf16_plain", dtype="BF16", dim=32, n_layers=2, n_heads=4, n_kv_heads=4, vocab=270,
         params_vocab=-1, multiple_of=8, ffn_dim_multiplier=None, ffn=88, norm_eps=1e-6,
         rope_theta=10000.0, use_scaled_rope=False, tied=True, max_seq_len=64,
         prompt=[14, 200, 33, 5, 140, 77, 269]),
]

CLASSIFIER = dict(name="cls_f32", dtype="F32", dim=32, n_layers=2, n_heads=4, n_kv_heads=2,
                  vocab=264, ffn=64, norm_eps=1e-5, rope_theta=500000.0,
                  labels=["negative", "neutral", "positive"],
                  prompt=[8, 100, 7, 250, 31, 199, 64, 3, 12])

N_GENERATE = 3


def meta_specials(vocab):
    """Meta's tokenizer.py: the 256 specials follow the n_ranks ordinary tokens."""
    n = vocab - 256
    return n, [n + 1, n + 9]  # bos, [<|end_of_text|>, <|eot_id|>]


def ffn_rule(dim, multiple_of, mult):
    """Meta's FeedForward width (llama/model.py)."""
    hidden = int(2 * (4 * dim) / 3)
    if mult is not None:
        hidden = int(mult * hidden)
    return multiple_of * ((hidden + multiple_of - 1) // multiple_of)


def random_weights(m):
    """Meta names, Meta's (interleaved RoPE) row order, float32; values
    already representable in the storage dtype, so every copy is exact."""
    rng = np.random.default_rng(0x3E7A0000 + zlib.crc32(m["name"].encode("ascii")))
    D, H, KV, F, V = m["dim"], m["n_heads"], m["n_kv_heads"], m["ffn"], m["vocab"]
    hd = D // H

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def gain(n):
        return (1.0 + 0.15 * rng.standard_normal(n)).astype(np.float32)

    W = {"tok_embeddings.weight": normal((V, D), 0.5)}
    for i in range(m["n_layers"]):
        p = "layers.%d." % i
        W[p + "attention_norm.weight"] = gain(D)
        W[p + "attention.wq.weight"] = normal((H * hd, D), 0.25)
        W[p + "attention.wk.weight"] = normal((KV * hd, D), 0.25)
        W[p + "attention.wv.weight"] = normal((KV * hd, D), 0.15)
        W[p + "attention.wo.weight"] = normal((D, H * hd), 0.1)
        W[p + "ffn_norm.weight"] = gain(D)
        W[p + "feed_forward.w1.weight"] = normal((F, D), 0.12)
        W[p + "feed_forward.w3.weight"] = normal((F, D), 0.12)
        W[p + "feed_forward.w2.weight"] = normal((D, F), 0.1)
    W["norm.weight"] = gain(D)
    if not m.get("tied"):
        W["output.weight"] = normal((V, D), 0.15)
    if m["dtype"] == "BF16":  # round once, so every layout holds the same bf16 values
        W = {k: st_io.bf16_bits_to_f64(st_io.f32_to_bf16_bits(w)).astype(np.float32) for k, w in W.items()}
    return W


def torch_tensor(w, dtype):
    t = torch.from_numpy(np.ascontiguousarray(w))
    return t.to(torch.bfloat16) if dtype == "BF16" else t  # exact: w holds bf16 values


HF_NAMES = [("tok_embeddings.weight", "model.embed_tokens.weight"),
            ("norm.weight", "model.norm.weight"),
            ("output.weight", "lm_head.weight")]
HF_LAYER = [("attention_norm", "input_layernorm"), ("attention.wq", "self_attn.q_proj"),
            ("attention.wk", "self_attn.k_proj"), ("attention.wv", "self_attn.v_proj"),
            ("attention.wo", "self_attn.o_proj"), ("ffn_norm", "post_attention_layernorm"),
            ("feed_forward.w1", "mlp.gate_proj"), ("feed_forward.w3", "mlp.up_proj"),
            ("feed_forward.w2", "mlp.down_proj")]


def hf_name(name):
    for meta, hf in HF_NAMES:
        if name == meta:
            return hf
    _, i, rest = name.split(".", 2)
    for meta, hf in HF_LAYER:
        if rest == meta + ".weight":
            return "model.layers.%s.%s.weight" % (i, hf)
    raise KeyError(name)


def write_hf(d, m, W, config):
    """HF twin: HF names, q/k rows permuted for rotate_half, safetensors."""
    os.makedirs(d, exist_ok=True)
    hd = m["dim"] // m["n_heads"]
    out = {}
    for name, w in W.items():
        if name.endswith("attention.wq.weight"):
            w = hf_permute(w, m["n_heads"], hd)
        elif name.endswith("attention.wk.weight"):
            w = hf_permute(w, m["n_kv_heads"], hd)
        out[hf_name(name) if not name.startswith("score") else name] = np.ascontiguousarray(w)
    enc = []
    for name in sorted(out):  # safetensors stores tensors sorted by name
        w = out[name]
        enc.append((name, m["dtype"], st_io.f32_to_bf16_bits(w) if m["dtype"] == "BF16" else w))
    st_io.write(os.path.join(d, "model.safetensors"), enc, {"format": "pt"})
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def hf_config(m, bos, eos, scaling, max_pos, extra=None):
    c = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": m["dim"], "intermediate_size": m["ffn"], "num_hidden_layers": m["n_layers"],
        "num_attention_heads": m["n_heads"], "num_key_value_heads": m["n_kv_heads"],
        "vocab_size": m["vocab"], "rms_norm_eps": m["norm_eps"], "rope_theta": m["rope_theta"],
        "rope_scaling": scaling, "max_position_embeddings": max_pos,
        "tie_word_embeddings": bool(m.get("tied")), "bos_token_id": bos, "eos_token_id": eos,
        "torch_dtype": {"F32": "float32", "BF16": "bfloat16"}[m["dtype"]],
    }
    c.update(extra or {})
    return c


def params_json(m):
    p = {"dim": m["dim"], "n_layers": m["n_layers"], "n_heads": m["n_heads"],
         "n_kv_heads": m["n_kv_heads"], "vocab_size": m["params_vocab"],
         "multiple_of": m["multiple_of"]}
    if m["ffn_dim_multiplier"] is not None:
        p["ffn_dim_multiplier"] = m["ffn_dim_multiplier"]
    p.update({"norm_eps": m["norm_eps"], "rope_theta": m["rope_theta"],
              "use_scaled_rope": m["use_scaled_rope"]})
    if m["max_seq_len"] is not None:
        p["max_seq_len"] = m["max_seq_len"]
    return p


# Meta's fairscale cuts: which dim each weight is split along (None = replicated).
def cut_dim(name):
    if name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
        return 1
    if name.endswith("norm.weight"):
        return None
    return 0  # wq wk wv w1 w3 output, and tok_embeddings (VocabParallelEmbedding)


def write_meta(d, m, W, n_shards):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "params.json"), "w") as f:
        json.dump(params_json(m), f)
        f.write("\n")
    for s in range(n_shards):
        sd = {}
        if n_shards == 1:
            for name, w in W.items():
                sd[name] = torch_tensor(w, m["dtype"])
            # Both gains of a layer as views of one storage: offsets 0 and dim.
            for i in range(m["n_layers"]):
                a, b = "layers.%d.attention_norm.weight" % i, "layers.%d.ffn_norm.weight" % i
                both = torch_tensor(np.stack([W[a], W[b]]), m["dtype"])
                sd[a], sd[b] = both[0], both[1]
        else:
            for name, w in W.items():
                k = cut_dim(name)
                if k is None:
                    part = w
                else:
                    n = w.shape[k] // n_shards
                    part = w[s * n:(s + 1) * n] if k == 0 else w[:, s * n:(s + 1) * n]
                sd[name] = torch_tensor(part, m["dtype"]).clone()
        torch.save(sd, os.path.join(d, "consolidated.%02d.pth" % s))


def write_model(m):
    root = os.path.join(OUT_ROOT, m["name"])
    shutil.rmtree(root, ignore_errors=True)
    assert m["ffn"] == ffn_rule(m["dim"], m["multiple_of"], m["ffn_dim_multiplier"]), m["name"]
    bos, eos = meta_specials(m["vocab"])
    assert m["prompt"][0] == bos and all(0 <= t < m["vocab"] for t in m["prompt"])
    scaling = META_SCALING if m["use_scaled_rope"] else None
    if scaling:
        bands = rope_bands(m["dim"] // m["n_heads"], m["rope_theta"], scaling)
        assert {"high", "mid", "low"} <= set(bands), (m["name"], bands)
    max_pos = m["max_seq_len"] or (131072 if m["use_scaled_rope"] else 8192)
    W = random_weights(m)
    write_meta(os.path.join(root, "one"), m, W, 1)
    write_meta(os.path.join(root, "two", "original"), m, W, 2)
    hf = os.path.join(root, "hf")
    write_hf(hf, m, W, hf_config(m, bos, eos, scaling, max_pos))
    return reference.run_model(m, d=hf, n_generate=N_GENERATE)


def write_classifier(m):
    d = os.path.join(OUT_ROOT, m["name"])
    shutil.rmtree(d, ignore_errors=True)
    W = random_weights(dict(m, tied=True))  # no output.weight: the score head replaces it
    rng = np.random.default_rng(0x5C0E)
    W["score.weight"] = (rng.standard_normal((len(m["labels"]), m["dim"])) * 0.3).astype(np.float32)
    labels = {str(i): name for i, name in enumerate(m["labels"])}
    extra = {"architectures": ["LlamaForSequenceClassification"], "num_labels": len(labels),
             "id2label": labels, "label2id": {v: int(k) for k, v in labels.items()},
             "tie_word_embeddings": False, "pad_token_id": None}
    bos, eos = meta_specials(m["vocab"])
    write_hf(d, m, W, hf_config(m, bos, eos, None, 8192, extra))
    return reference.run_model(m, d=d)


def main():
    for m in MODELS:
        r = write_model(m)
        print("%-11s generated=%s margins=%s; %d golden tensors" % (
            m["name"], r["generated"], ["%.3f" % x for x in r["margins"]], r["n"]))
    r = write_classifier(CLASSIFIER)
    print("%-11s %d golden tensors (score, no generation)" % (CLASSIFIER["name"], r["n"]))
    total = 0
    for dirpath, _, files in os.walk(OUT_ROOT):
        total += sum(os.path.getsize(os.path.join(dirpath, f)) for f in files)
    print("tests/data/meta: %d bytes" % total)
    assert total < 1500000, "keep the committed test data under 1.5 MB"


if __name__ == "__main__":
    main()
