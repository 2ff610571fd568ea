#!/usr/bin/python3
"""Write the tiny random LLaMA 3 models used by the golden-tensor tests.

Each model goes to tests/data/models/<name>/ in Hugging Face layout:
config.json + model.safetensors (or shards + model.safetensors.index.json).
Weights are drawn in Meta's layout and the q_proj/k_proj rows are then
permuted inside each head exactly like HF's convert_llama_weights_to_hf.py,
so that the C engine's un-permutation at load is exercised.

Deterministic: same bytes on every run (fixed seeds, no timestamps).
Usage: /usr/bin/python3 tests/reference/gen_models.py
"""
import json
import math
import os
import sys
import zlib

import numpy as np

sys.dont_write_bytecode = True  # keep the tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_ROOT = os.path.normpath(os.path.join(HERE, "..", "data", "models"))

LLAMA3_SCALING = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
}

N_GENERATE = 3

# name, storage dtype, sizes, options, prompt (first id = bos).
MODELS = [
    dict(name="f32_gqa", dtype="F32", dim=64, n_heads=4, n_kv_heads=2, head_dim=16,
         ffn=160, n_layers=2, vocab=256, tied=False, scaling=LLAMA3_SCALING,
         theta=500000.0, head_dim_in_config=False, bos=254, eos=255, eps=1e-5,
         max_pos=131072, shards=1,
         prompt=[254, 17, 201, 88, 3, 142, 64, 230, 9]),
    dict(name="bf16_mha", dtype="BF16", dim=48, n_heads=4, n_kv_heads=4, head_dim=12,
         ffn=128, n_layers=2, vocab=200, tied=True, scaling=None,
         theta=10000.0, head_dim_in_config=True, bos=198, eos=[199, 197], eps=1e-5,
         max_pos=8192, shards=1,
         prompt=[198, 5, 77, 150, 23, 111, 42, 190]),
    dict(name="f16_sharded", dtype="F16", dim=64, n_heads=8, n_kv_heads=2, head_dim=8,
         ffn=96, n_layers=3, vocab=300, tied=False, scaling=LLAMA3_SCALING,
         theta=500000.0, head_dim_in_config=True, bos=298, eos=299, eps=1e-5,
         max_pos=131072, shards=2,
         prompt=[298, 12, 250, 31, 7, 199, 64, 283, 120, 45, 2]),
    dict(name="bf16_mqa", dtype="BF16", dim=32, n_heads=4, n_kv_heads=1, head_dim=8,
         ffn=64, n_layers=1, vocab=128, tied=False, scaling=None,
         theta=500000.0, head_dim_in_config=False, bos=126, eos=[127], eps=1e-6,
         max_pos=8192, shards=1,
         prompt=[126, 40, 3, 99, 61, 18, 77]),
]

TORCH_DTYPE = {"F32": "float32", "BF16": "bfloat16", "F16": "float16"}


def model_seed(name):
    return 0x11A3A000 + zlib.crc32(name.encode("ascii"))


def hf_permute(w, n_heads, hd):
    """Meta -> HF row order inside each head: [0,2,4,...,hd-2, 1,3,...,hd-1]."""
    d = w.shape[1]
    return w.reshape(n_heads, hd // 2, 2, d).transpose(0, 2, 1, 3).reshape(n_heads * hd, d)


def meta_weights(m):
    """Random weights in Meta's layout, HF names, float32."""
    rng = np.random.default_rng(model_seed(m["name"]))
    D, H, KV, hd, F, V = m["dim"], m["n_heads"], m["n_kv_heads"], m["head_dim"], m["ffn"], m["vocab"]

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def gain(n):
        return (1.0 + 0.15 * rng.standard_normal(n)).astype(np.float32)

    W = {}
    W["model.embed_tokens.weight"] = normal((V, D), 0.5)
    for i in range(m["n_layers"]):
        p = "model.layers.%d." % i
        W[p + "input_layernorm.weight"] = gain(D)
        W[p + "self_attn.q_proj.weight"] = normal((H * hd, D), 0.25)
        W[p + "self_attn.k_proj.weight"] = normal((KV * hd, D), 0.25)
        W[p + "self_attn.v_proj.weight"] = normal((KV * hd, D), 0.15)
        W[p + "self_attn.o_proj.weight"] = normal((D, H * hd), 0.1)
        W[p + "post_attention_layernorm.weight"] = gain(D)
        W[p + "mlp.gate_proj.weight"] = normal((F, D), 0.12)
        W[p + "mlp.up_proj.weight"] = normal((F, D), 0.12)
        W[p + "mlp.down_proj.weight"] = normal((D, F), 0.1)
    W["model.norm.weight"] = gain(D)
    if not m["tied"]:
        W["lm_head.weight"] = normal((V, D), 0.15)
    return W


def to_hf(W, m):
    out = {}
    for name, w in W.items():
        if name.endswith("self_attn.q_proj.weight"):
            w = hf_permute(w, m["n_heads"], m["head_dim"])
        elif name.endswith("self_attn.k_proj.weight"):
            w = hf_permute(w, m["n_kv_heads"], m["head_dim"])
        out[name] = np.ascontiguousarray(w)
    return out


def encode(w, dtype):
    if dtype == "F32":
        return w.astype("<f4")
    if dtype == "F16":
        return w.astype("<f2")
    if dtype == "BF16":
        return st_io.f32_to_bf16_bits(w)
    raise ValueError(dtype)


def config_json(m):
    c = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "hidden_size": m["dim"],
        "intermediate_size": m["ffn"],
        "num_hidden_layers": m["n_layers"],
        "num_attention_heads": m["n_heads"],
        "num_key_value_heads": m["n_kv_heads"],
    }
    if m["head_dim_in_config"]:
        c["head_dim"] = m["head_dim"]
    else:
        assert m["dim"] // m["n_heads"] == m["head_dim"]
    c.update({
        "vocab_size": m["vocab"],
        "rms_norm_eps": m["eps"],
        "rope_theta": m["theta"],
        "rope_scaling": m["scaling"],
        "max_position_embeddings": m["max_pos"],
        "tie_word_embeddings": m["tied"],
        "bos_token_id": m["bos"],
        "eos_token_id": m["eos"],
        "torch_dtype": TORCH_DTYPE[m["dtype"]],
    })
    return c


def rope_bands(hd, theta, sc):
    """Which llama3-scaling band each inv_freq falls in: 'high', 'mid', 'low'."""
    lo = sc["original_max_position_embeddings"] / sc["low_freq_factor"]
    hi = sc["original_max_position_embeddings"] / sc["high_freq_factor"]
    bands = []
    for j in range(hd // 2):
        wl = 2 * math.pi / math.pow(theta, -(2.0 * j) / hd)
        bands.append("high" if wl < hi else ("low" if wl > lo else "mid"))
    return bands


def write_model(m):
    d = os.path.join(OUT_ROOT, m["name"])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("model") and (f.endswith(".safetensors") or f.endswith(".json")):
            os.remove(os.path.join(d, f))
    assert m["prompt"][0] == m["bos"] and all(0 <= t < m["vocab"] for t in m["prompt"])
    assert 7 <= len(m["prompt"]) <= 11
    if m["scaling"] is not None:
        bands = rope_bands(m["head_dim"], m["theta"], m["scaling"])
        assert {"high", "mid", "low"} <= set(bands), (m["name"], bands)
        print("%s: llama3 rope bands per pair: %s" % (m["name"], " ".join(bands)))

    hf = to_hf(meta_weights(m), m)
    names = sorted(hf)  # safetensors stores tensors sorted by name
    enc = [(n, m["dtype"], encode(hf[n], m["dtype"])) for n in names]

    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_json(m), f, indent=2)
        f.write("\n")

    if m["shards"] == 1:
        st_io.write(os.path.join(d, "model.safetensors"), enc, {"format": "pt"})
        return
    total = sum(a.nbytes for _, _, a in enc)
    n = m["shards"]
    groups = [[] for _ in range(n)]
    acc = 0
    for item in enc:
        k = min(n - 1, acc * n // total)
        groups[k].append(item)
        acc += item[2].nbytes
    weight_map = {}
    for k, g in enumerate(groups):
        fname = "model-%05d-of-%05d.safetensors" % (k + 1, n)
        st_io.write(os.path.join(d, fname), g, {"format": "pt"})
        for name, _, _ in g:
            weight_map[name] = fname
    index = {"metadata": {"total_size": total},
             "weight_map": {k: weight_map[k] for k in sorted(weight_map)}}
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")


def main():
    for m in MODELS:
        write_model(m)
        print("wrote %s" % os.path.join(OUT_ROOT, m["name"]))


if __name__ == "__main__":
    main()
