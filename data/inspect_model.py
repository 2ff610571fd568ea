#!/usr/bin/python3
"""Check and describe the exported demo model, reading only the files in MODEL_DIR.

Usage: inspect_model.py MODEL_DIR [CKPT]
- loads model.safetensors + config.json with numpy and runs a float64 forward
  pass in the Hugging Face convention (rotate_half on the permuted q/k rows);
- checks the seed prompt is 17 tokens and the greedy next token is "42";
- with CKPT, compares the logits to the torch model in Meta's layout;
- prints greedy samples and, per layer and head, how much each query
  attends to the previous token, the first token, and itself.
"""
import json
import math
import os
import struct
import sys

import numpy as np

import tok

SEED = "the answer to the ultimate question of life, the universe, and everything is "
SAMPLES = ["and god said unto moses,",
           "it is a truth universally acknowledged, that a single man",
           "the capital of france is"]


def load_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    base = 8 + n
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        b, e = h["data_offsets"]
        buf = raw[base + b:base + e]
        if h["dtype"] == "F32":
            a = np.frombuffer(buf, "<f4")
        elif h["dtype"] == "I32":
            a = np.frombuffer(buf, "<i4")
        elif h["dtype"] == "BF16":
            a = (np.frombuffer(buf, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name}: dtype {h['dtype']} not handled")
        out[name] = a.reshape(h["shape"]).astype(np.float64)
    return out


def inv_freqs(c):
    hd = c["head_dim"]
    rs = c["rope_scaling"]
    lo = rs["original_max_position_embeddings"] / rs["low_freq_factor"]
    hi = rs["original_max_position_embeddings"] / rs["high_freq_factor"]
    out = []
    for j in range(hd // 2):
        f = c["rope_theta"] ** (-2.0 * j / hd)
        wl = 2 * math.pi / f
        if wl > lo:
            f /= rs["factor"]
        elif wl >= hi:
            s = (rs["original_max_position_embeddings"] / wl - rs["low_freq_factor"]) / (
                rs["high_freq_factor"] - rs["low_freq_factor"])
            f = (1 - s) * f / rs["factor"] + s * f
        out.append(f)
    return np.array(out)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def rms(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def forward(W, c, ids, probs_out=None):
    """HF LlamaForCausalLM forward in float64 on one sequence; returns logits (T, V)."""
    T, H, KV, hd = len(ids), c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
    eps = c["rms_norm_eps"]
    ang = np.arange(T)[:, None] * inv_freqs(c)[None, :]
    cos = np.cos(np.concatenate([ang, ang], -1))[:, None, :]
    sin = np.sin(np.concatenate([ang, ang], -1))[:, None, :]
    x = W["model.embed_tokens.weight"][ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        h = rms(x, W[p + "input_layernorm.weight"], eps)
        q = (h @ W[p + "self_attn.q_proj.weight"].T).reshape(T, H, hd)
        k = (h @ W[p + "self_attn.k_proj.weight"].T).reshape(T, KV, hd)
        v = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, KV, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        kv = np.arange(H) // (H // KV)
        s = np.einsum("thd,shd->hts", q, k[:, kv]) / math.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        pr = s / s.sum(-1, keepdims=True)
        if probs_out is not None:
            probs_out.append(pr)
        o = np.einsum("hts,shd->thd", pr, v[:, kv]).reshape(T, H * hd)
        x = x + o @ W[p + "self_attn.o_proj.weight"].T
        h = rms(x, W[p + "post_attention_layernorm.weight"], eps)
        g = h @ W[p + "mlp.gate_proj.weight"].T
        u = h @ W[p + "mlp.up_proj.weight"].T
        x = x + (g / (1 + np.exp(-g)) * u) @ W[p + "mlp.down_proj.weight"].T
    return rms(x, W["model.norm.weight"], eps) @ W["lm_head.weight"].T


def greedy(W, c, t, ids, n):
    """Greedy decoding; stops after a token that holds a newline (end of a line of corpus)."""
    ids = list(ids)
    for _ in range(n):
        nxt = int(forward(W, c, ids)[-1].argmax())
        ids.append(nxt)
        if b"\n" in t.decode_bytes([nxt]):
            break
    return ids


def main():
    d = sys.argv[1]
    c = json.load(open(os.path.join(d, "config.json")))
    W = load_safetensors(os.path.join(d, "model.safetensors"))
    t = tok.Tokenizer(tok.load(os.path.join(d, "tokenizer.model")))
    assert c["bos_token_id"] == t.n_ranks and c["vocab_size"] == t.n_ranks + tok.N_SPECIAL
    ids = t.encode(SEED, bos=True)
    print(f"seed prompt: {len(ids)} tokens: {','.join(map(str, ids))}")
    print(f'"42" is token {t.encode("42")}')
    probs = []
    logits = forward(W, c, ids, probs)
    last = logits[-1]
    p = np.exp(last - last.max())
    p /= p.sum()
    top = np.argsort(-last)[:5]
    print("next token:", ", ".join(f"{i} {t.decode([i])!r} p={p[i]:.3f}" for i in top))
    ok = len(ids) == 17 and t.decode([int(top[0])]) == "42"

    if len(sys.argv) > 2:
        import torch
        from model import Args, Transformer
        ck = torch.load(sys.argv[2])
        m = Transformer(Args(**ck["args"]))
        m.load_state_dict(ck["model"])
        m.eval()
        with torch.no_grad():
            ref = m(torch.tensor([ids]))[0].double().numpy()
        print(f"max |logit diff| HF-layout numpy vs Meta-layout torch: {np.abs(ref - logits).max():.4f}"
              " (bf16 rounding of the export included)")

    print("\nattention on the seed prompt (mean over query positions 2..16):")
    print("layer head  prev(t-1)  first(BOS)  self(t)")
    best = []
    for li, pr in enumerate(probs):
        for h in range(pr.shape[0]):
            ts = np.arange(2, len(ids))
            prev, first, same = pr[h, ts, ts - 1].mean(), pr[h, ts, 0].mean(), pr[h, ts, ts].mean()
            print(f"{li:5d} {h:4d}  {prev:9.3f}  {first:10.3f}  {same:7.3f}")
            best += [(prev, "previous token", li, h), (first, "first token", li, h),
                     (same, "self", li, h)]
    for kind in ("previous token", "first token", "self"):
        s, _, li, h = max(b for b in best if b[1] == kind)
        print(f"most {kind}: layer {li} head {h} ({s:.3f})")

    print("\ngreedy samples:")
    for prompt in SAMPLES:
        out = greedy(W, c, t, t.encode(prompt, bos=True), 40)
        print(f"  {prompt!r} -> {t.decode(out[1:])[len(prompt):]!r}")
    if not ok:
        sys.exit("FAIL: the seed prompt must be 17 tokens and the greedy answer must be 42")
    print("OK: 17 prompt tokens, greedy answer 42")


if __name__ == "__main__":
    main()
