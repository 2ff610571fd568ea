#!/usr/bin/python3
"""Export the trained checkpoint (Meta layout) to Hugging Face layout in OUT_DIR.

Usage: export.py BUILD_DIR/ckpt.pt OUT_DIR [bf16|f32]
Writes OUT_DIR/config.json and OUT_DIR/model.safetensors. wq and wk rows are
permuted inside each head exactly as HF's convert_llama_weights_to_hf.py does,
so that rotate_half on the exported weights equals Meta's interleaved RoPE.
"""
import json
import os
import struct
import sys

import numpy as np
import torch

from model import Args

N_SPECIAL = 256


def permute(w, n_heads, dim):
    """HF's converter: per head, rows [0,2,4,...,hd-2, 1,3,...,hd-1]."""
    hd = w.shape[0] // n_heads
    return w.view(n_heads, hd // 2, 2, dim).transpose(1, 2).reshape(n_heads * hd, dim)


def hf_tensors(sd, a):
    out = {"model.embed_tokens.weight": sd["tok_embeddings.weight"]}
    for i in range(a.n_layers):
        m, h = f"layers.{i}.", f"model.layers.{i}."
        out[h + "self_attn.q_proj.weight"] = permute(sd[m + "attention.wq.weight"], a.n_heads, a.dim)
        out[h + "self_attn.k_proj.weight"] = permute(sd[m + "attention.wk.weight"], a.n_kv_heads, a.dim)
        out[h + "self_attn.v_proj.weight"] = sd[m + "attention.wv.weight"]
        out[h + "self_attn.o_proj.weight"] = sd[m + "attention.wo.weight"]
        out[h + "mlp.gate_proj.weight"] = sd[m + "feed_forward.w1.weight"]
        out[h + "mlp.up_proj.weight"] = sd[m + "feed_forward.w3.weight"]
        out[h + "mlp.down_proj.weight"] = sd[m + "feed_forward.w2.weight"]
        out[h + "input_layernorm.weight"] = sd[m + "attention_norm.weight"]
        out[h + "post_attention_layernorm.weight"] = sd[m + "ffn_norm.weight"]
    out["model.norm.weight"] = sd["norm.weight"]
    out["lm_head.weight"] = sd["output.weight"]
    return out


def to_bytes(t, dtype):
    t = t.detach().float().contiguous()
    if dtype == "F32":
        return t.numpy().astype("<f4").tobytes()
    # BF16 with round-to-nearest-even, as torch's .to(torch.bfloat16) does
    return t.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()


def write_safetensors(path, tensors, dtype, metadata):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = to_bytes(t, dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = metadata
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def config(a, dtype):
    n_ranks = a.vocab_size - N_SPECIAL
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": a.dim,
        "intermediate_size": a.ffn_dim,
        "num_hidden_layers": a.n_layers,
        "num_attention_heads": a.n_heads,
        "num_key_value_heads": a.n_kv_heads,
        "head_dim": a.head_dim,
        "vocab_size": a.vocab_size,
        "hidden_act": "silu",
        "rms_norm_eps": a.norm_eps,
        "rope_theta": a.rope_theta,
        "rope_scaling": {
            "rope_type": "llama3",
            "factor": a.rope_factor,
            "low_freq_factor": a.rope_low_freq_factor,
            "high_freq_factor": a.rope_high_freq_factor,
            "original_max_position_embeddings": a.rope_original_max,
        },
        "max_position_embeddings": a.max_seq_len,
        "attention_bias": False,
        "mlp_bias": False,
        "initializer_range": 0.02,
        "pretraining_tp": 1,
        "tie_word_embeddings": False,
        "bos_token_id": n_ranks,
        "eos_token_id": n_ranks + 1,
        "torch_dtype": "bfloat16" if dtype == "BF16" else "float32",
        "use_cache": True,
    }


def main():
    ckpt, out = sys.argv[1], sys.argv[2]
    dtype = {"bf16": "BF16", "f32": "F32"}[sys.argv[3] if len(sys.argv) > 3 else "bf16"]
    c = torch.load(ckpt)
    a = Args(**c["args"])
    os.makedirs(out, exist_ok=True)
    tensors = hf_tensors(c["model"], a)
    write_safetensors(os.path.join(out, "model.safetensors"), tensors, dtype, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config(a, dtype), f, indent=2)
        f.write("\n")
    n = sum(t.numel() for t in tensors.values())
    print(f"{out}: {len(tensors)} tensors, {n} parameters, {dtype}")


if __name__ == "__main__":
    main()
