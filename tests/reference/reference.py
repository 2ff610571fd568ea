#!/usr/bin/python3
"""Independent float64 NumPy reference of the LLaMA 3 forward pass.

Reads each model of tests/data/models/ (HF layout, written by gen_models.py),
runs the prompt pass plus greedy decode steps with a KV cache, in float64 and
in Hugging Face's convention (rotate_half RoPE on the permuted q/k rows, as
transformers' LlamaForCausalLM does), and writes golden.safetensors with one
F64 tensor per trace point (names from core/trace_points.h).

q, k, q_rope, k_rope are converted to the debugger's convention (Meta's
interleaved pairs) before saving: meta[..., 2j] = hf[..., j],
meta[..., 2j+1] = hf[..., j + hd/2], per head.

Self-checks (assertions): an explicit Meta-convention forward (complex RoPE on
un-permuted weights) equals the HF one to 1e-12, and every decode step equals
a full pass over the whole sequence at its last position.

Elementwise transcendental functions go through Python's math module and the
matrix products through numpy's fixed pairwise summation, not BLAS, so the
output bytes do not depend on the BLAS library or thread count.

Usage: /usr/bin/python3 tests/reference/reference.py
"""
import json
import math
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # keep the tree free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st_io  # noqa: E402
from gen_models import MODELS, N_GENERATE, OUT_ROOT  # noqa: E402

TOL = 1e-12
LENS_K = 5  # the logit lens: guesses kept per token and layer
# Lens ranks whose probabilities are this close are tied: a float32 run may
# order them either way, so their ids are stored as -1 ("either").
LENS_TIE_ATOL, LENS_TIE_RTOL = 1e-5, 1e-4

_exp = np.frompyfunc(math.exp, 1, 1)
_cos = np.frompyfunc(math.cos, 1, 1)
_sin = np.frompyfunc(math.sin, 1, 1)


def exp(x):
    return _exp(np.asarray(x, dtype=np.float64)).astype(np.float64)


def lin(x, w):
    """x [T, in] @ w[out, in].T, summed with numpy's pairwise sum (no BLAS)."""
    return (x[:, None, :] * w[None, :, :]).sum(axis=-1)


# ---------------------------------------------------------------- loading

class Config:
    def __init__(self, c):
        self.D = c["hidden_size"]
        self.F = c["intermediate_size"]
        self.L = c["num_hidden_layers"]
        self.H = c["num_attention_heads"]
        self.KV = c.get("num_key_value_heads") or self.H
        self.hd = c.get("head_dim") or self.D // self.H
        self.V = c["vocab_size"]
        self.eps = float(c["rms_norm_eps"])
        self.theta = float(c.get("rope_theta", 10000.0))
        self.scaling = c.get("rope_scaling")
        self.tied = bool(c.get("tie_word_embeddings", False))
        eos = c.get("eos_token_id")
        self.eos = set(eos if isinstance(eos, list) else ([] if eos is None else [eos]))
        # LlamaForSequenceClassification: a score head of n_labels rows, no lm_head.
        self.n_labels = 0
        if "LlamaForSequenceClassification" in c.get("architectures", []):
            self.n_labels = len(c.get("id2label") or {}) or c.get("num_labels", 2)


def load_model(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = Config(json.load(f))
    idx = os.path.join(d, "model.safetensors.index.json")
    W = {}
    if os.path.exists(idx):
        with open(idx) as f:
            wmap = json.load(f)["weight_map"]
        for fname in sorted(set(wmap.values())):
            t, _, _ = st_io.read(os.path.join(d, fname))
            W.update(t)
        assert set(W) == set(wmap), "index and shards disagree"
    else:
        W, _, _ = st_io.read(os.path.join(d, "model.safetensors"))
    return cfg, W


def inv_freq(cfg):
    """HF _compute_default/_compute_llama3_parameters, in float64."""
    hd = cfg.hd
    f = np.array([math.pow(cfg.theta, -(2.0 * j) / hd) for j in range(hd // 2)])
    sc = cfg.scaling
    if sc is None or sc.get("rope_type", sc.get("type")) in (None, "default"):
        return f
    assert sc.get("rope_type", sc.get("type")) == "llama3", sc
    factor = float(sc["factor"])
    lf = float(sc["low_freq_factor"])
    hf = float(sc["high_freq_factor"])
    old = float(sc["original_max_position_embeddings"])
    lo_wl, hi_wl = old / lf, old / hf
    out = f.copy()
    for j, x in enumerate(f):
        wl = 2 * math.pi / x
        if wl < hi_wl:
            out[j] = x
        elif wl > lo_wl:
            out[j] = x / factor
        else:
            s = (old / wl - lf) / (hf - lf)
            out[j] = (1 - s) * x / factor + s * x
    return out


# ---------------------------------------------------------------- HF forward

def rms(x, eps):
    return 1.0 / np.sqrt((x * x).mean(axis=-1) + eps)


def rotate_half(x):
    h = x.shape[-1] // 2
    return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)


def softmax_rows(s):
    m = s.max(axis=-1, keepdims=True)
    e = exp(s - m)
    return e / e.sum(axis=-1, keepdims=True)


def no_patch(name, a):
    return a


def attention(q, k_all, v_all, pos0, cfg, patch=no_patch, n=""):
    """q [T,H,hd] (roped), k_all/v_all [S,KV,hd]; query t sits at pos0 + t.
    Returns scores [H,T,S], probs [H,T,S], attn [T,H,hd]. patch(name, a)
    may replace scores and probs before they are used."""
    T, S = q.shape[0], k_all.shape[0]
    rep = cfg.H // cfg.KV
    k_rep = np.repeat(k_all, rep, axis=1)  # repeat_kv: head h uses kv head h // rep
    v_rep = np.repeat(v_all, rep, axis=1)
    qh = q.transpose(1, 0, 2)  # [H,T,hd]
    kh = k_rep.transpose(1, 0, 2)  # [H,S,hd]
    vh = v_rep.transpose(1, 0, 2)
    scores = (qh[:, :, None, :] * kh[:, None, :, :]).sum(axis=-1) / math.sqrt(cfg.hd)
    future = np.arange(S)[None, :] > (pos0 + np.arange(T))[:, None]
    scores = patch(n + "scores", np.where(future[None], -np.inf, scores))
    probs = patch(n + "probs", softmax_rows(scores))
    attn = (probs[:, :, :, None] * vh[:, None, :, :]).sum(axis=2)  # [H,T,hd]
    return scores, probs, attn.transpose(1, 0, 2)


def logit_lens(cfg, W, x, k):
    """The logit lens of residual stream x [T, D]: the final norm and the
    output layer as if the model ended here, softmax over the whole
    vocabulary; the k most probable ids and their probabilities, best first
    (the lower id first on a tie). Ids of ranks tied with a neighbour
    (LENS_TIE_*) are -1."""
    h = (x * rms(x, cfg.eps)[:, None]) * W["model.norm.weight"]
    out_w = W["model.embed_tokens.weight"] if cfg.tied else W["lm_head.weight"]
    logits = lin(h, out_w)
    e = exp(logits - logits.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    order = np.argsort(-p, axis=-1, kind="stable")[:, : k + 1]
    top = np.take_along_axis(p, order, axis=-1)
    ids = order[:, :k].astype(np.int32).copy()
    gap = np.abs(np.diff(top, axis=-1))  # [T, k]: rank j to rank j+1
    tied = gap <= LENS_TIE_ATOL + LENS_TIE_RTOL * top[:, 1:]
    for j in range(k):
        if j + 1 < top.shape[1]:
            ids[tied[:, j], j] = -1
        if j > 0:
            ids[tied[:, j - 1], j] = -1
    return ids, top[:, :k]


def forward_hf(cfg, W, tokens, pos0, cache, freqs, patch=no_patch, lens_k=0):
    """One pass over `tokens` at positions pos0.. with a KV cache (list per
    layer of [k_rope, v] arrays, in HF layout). Returns (records, cache).
    patch(name, a) returns the value to go on with at each point that feeds
    later computation (the identity by default; q, k and their RoPE forms,
    which are in HF's layout here, are not offered). lens_k > 0 adds the
    logit lens after each layer's attention and after the layer
    (layers.{i}.lens_mid_* and layers.{i}.lens_*)."""
    T, D, H, KV, hd = len(tokens), cfg.D, cfg.H, cfg.KV, cfg.hd
    R = {}
    pos = np.arange(pos0, pos0 + T, dtype=np.float64)
    ang = pos[:, None] * freqs[None, :]  # [T, hd/2]
    ang = np.concatenate([ang, ang], axis=-1)  # duplicated to hd like HF
    cos = _cos(ang).astype(np.float64)[:, None, :]
    sin = _sin(ang).astype(np.float64)[:, None, :]

    R["tokens"] = np.array(tokens, dtype=np.int32)
    x = patch("embed", W["model.embed_tokens.weight"][np.array(tokens)])
    R["embed"] = x
    new_cache = []
    for i in range(cfg.L):
        p = "model.layers.%d." % i
        n = "layers.%d." % i
        r = rms(x, cfg.eps)
        h = patch(n + "attn_norm", (x * r[:, None]) * W[p + "input_layernorm.weight"])
        R[n + "attn_rms"], R[n + "attn_norm"] = r, h
        q = lin(h, W[p + "self_attn.q_proj.weight"]).reshape(T, H, hd)
        k = lin(h, W[p + "self_attn.k_proj.weight"]).reshape(T, KV, hd)
        v = patch(n + "v", lin(h, W[p + "self_attn.v_proj.weight"]).reshape(T, KV, hd))
        R[n + "q"], R[n + "k"], R[n + "v"] = q, k, v
        qr = q * cos + rotate_half(q) * sin
        kr = k * cos + rotate_half(k) * sin
        R[n + "q_rope"], R[n + "k_rope"] = qr, kr
        if cache:
            k_all = np.concatenate([cache[i][0], kr], axis=0)
            v_all = np.concatenate([cache[i][1], v], axis=0)
        else:
            k_all, v_all = kr, v
        assert k_all.shape[0] == pos0 + T
        new_cache.append([k_all, v_all])
        scores, probs, attn = attention(qr, k_all, v_all, pos0, cfg, patch, n)
        attn = patch(n + "attn", attn)
        R[n + "scores"], R[n + "probs"], R[n + "attn"] = scores, probs, attn
        ao = patch(n + "attn_out", lin(attn.reshape(T, H * hd), W[p + "self_attn.o_proj.weight"]))
        R[n + "attn_out"] = ao
        x = patch(n + "resid_mid", x + ao)
        R[n + "resid_mid"] = x
        if lens_k:
            R[n + "lens_mid_ids"], R[n + "lens_mid_probs"] = logit_lens(cfg, W, x, lens_k)
        r = rms(x, cfg.eps)
        h = patch(n + "ffn_norm", (x * r[:, None]) * W[p + "post_attention_layernorm.weight"])
        R[n + "ffn_rms"], R[n + "ffn_norm"] = r, h
        g = patch(n + "ffn_gate", lin(h, W[p + "mlp.gate_proj.weight"]))
        u = patch(n + "ffn_up", lin(h, W[p + "mlp.up_proj.weight"]))
        act = patch(n + "ffn_act", (g * (1.0 / (1.0 + exp(-g)))) * u)
        R[n + "ffn_gate"], R[n + "ffn_up"], R[n + "ffn_act"] = g, u, act
        fo = patch(n + "ffn_out", lin(act, W[p + "mlp.down_proj.weight"]))
        R[n + "ffn_out"] = fo
        x = patch(n + "resid_out", x + fo)
        R[n + "resid_out"] = x
        if lens_k:
            R[n + "lens_ids"], R[n + "lens_probs"] = logit_lens(cfg, W, x, lens_k)
    r = rms(x, cfg.eps)
    h = patch("final_norm", (x * r[:, None]) * W["model.norm.weight"])
    R["final_rms"], R["final_norm"] = r, h
    if cfg.n_labels:
        R["score"] = lin(h, W["score.weight"])
        return R, new_cache
    out_w = W["model.embed_tokens.weight"] if cfg.tied else W["lm_head.weight"]
    R["logits"] = lin(h, out_w)
    return R, new_cache


# ---------------------------------------------------------------- conventions

def hf_to_meta_vec(a):
    """Per head: meta[..., 2j] = hf[..., j], meta[..., 2j+1] = hf[..., j + hd/2]."""
    hd = a.shape[-1]
    out = np.empty_like(a)
    out[..., 0::2] = a[..., : hd // 2]
    out[..., 1::2] = a[..., hd // 2:]
    return out


def hf_to_meta_rows(w, n_heads, hd):
    """Undo HF's q/k row permutation: inverse of view(n,hd/2,2,D).transpose(1,2)."""
    d = w.shape[1]
    return w.reshape(n_heads, 2, hd // 2, d).transpose(0, 2, 1, 3).reshape(n_heads * hd, d)


ROPE_POINTS = ("q", "k", "q_rope", "k_rope")


def to_debugger_convention(R):
    out = {}
    for name, a in R.items():
        if name.startswith("layers.") and name.rsplit(".", 1)[-1] in ROPE_POINTS:
            a = hf_to_meta_vec(a)
        out[name] = a
    return out


def forward_meta(cfg, W, tokens, freqs):
    """Full causal pass written the Meta way: un-permuted wq/wk, complex RoPE on
    adjacent pairs (x[2j], x[2j+1]). Returns the records it computes."""
    T, H, KV, hd = len(tokens), cfg.H, cfg.KV, cfg.hd
    R = {}
    ang = np.arange(T, dtype=np.float64)[:, None] * freqs[None, :]
    fc = (_cos(ang).astype(np.float64) + 1j * _sin(ang).astype(np.float64))[:, None, :]

    def rope(a):
        c = a[..., 0::2] + 1j * a[..., 1::2]
        c = c * fc
        out = np.empty_like(a)
        out[..., 0::2], out[..., 1::2] = c.real, c.imag
        return out

    x = W["model.embed_tokens.weight"][np.array(tokens)]
    for i in range(cfg.L):
        p = "model.layers.%d." % i
        n = "layers.%d." % i
        wq = hf_to_meta_rows(W[p + "self_attn.q_proj.weight"], H, hd)
        wk = hf_to_meta_rows(W[p + "self_attn.k_proj.weight"], KV, hd)
        h = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + cfg.eps) * W[p + "input_layernorm.weight"]
        xq = (h @ wq.T).reshape(T, H, hd)
        xk = (h @ wk.T).reshape(T, KV, hd)
        xv = (h @ W[p + "self_attn.v_proj.weight"].T).reshape(T, KV, hd)
        R[n + "q"], R[n + "k"] = xq, xk
        xq, xk = rope(xq), rope(xk)
        R[n + "q_rope"], R[n + "k_rope"] = xq, xk
        keys = np.repeat(xk, H // KV, axis=1).transpose(1, 2, 0)  # [H,hd,T]
        vals = np.repeat(xv, H // KV, axis=1).transpose(1, 0, 2)  # [H,T,hd]
        s = np.matmul(xq.transpose(1, 0, 2), keys) / math.sqrt(hd)
        s = s + np.triu(np.full((T, T), -np.inf), 1)
        R[n + "scores"] = s
        pr = np.exp(s - s.max(-1, keepdims=True))
        pr = pr / pr.sum(-1, keepdims=True)
        R[n + "probs"] = pr
        o = np.matmul(pr, vals).transpose(1, 0, 2)
        R[n + "attn"] = o
        x = x + o.reshape(T, H * hd) @ W[p + "self_attn.o_proj.weight"].T
        R[n + "resid_mid"] = x
        h = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + cfg.eps) * W[p + "post_attention_layernorm.weight"]
        g = h @ W[p + "mlp.gate_proj.weight"].T
        a = g / (1 + np.exp(-g)) * (h @ W[p + "mlp.up_proj.weight"].T)
        R[n + "ffn_act"] = a
        x = x + a @ W[p + "mlp.down_proj.weight"].T
        R[n + "resid_out"] = x
    h = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + cfg.eps) * W["model.norm.weight"]
    R["final_norm"] = h
    if cfg.n_labels:
        R["score"] = h @ W["score.weight"].T
        return R
    R["logits"] = h @ (W["model.embed_tokens.weight"] if cfg.tied else W["lm_head.weight"]).T
    return R


# ---------------------------------------------------------------- checks

def close(a, b, what):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    ia, ib = np.isinf(a), np.isinf(b)
    assert (ia == ib).all() and (a[ia] == b[ib]).all(), (what, "inf pattern")
    fa, fb = a[~ia], b[~ib]
    if fa.size == 0:
        return 0.0
    err = float(np.max(np.abs(fa - fb)))
    scale = max(1.0, float(np.max(np.abs(fb))))
    assert err <= TOL * scale, "%s: max abs diff %.3g (scale %.3g)" % (what, err, scale)
    return err


def check_meta(cfg, W, tokens, freqs, R_meta_conv, label):
    M = forward_meta(cfg, W, tokens, freqs)
    worst = 0.0
    for name, a in M.items():
        worst = max(worst, close(a, R_meta_conv[name], "%s meta vs hf: %s" % (label, name)))
    return worst


# ---------------------------------------------------------------- main

def run_model(m, d=None, n_generate=N_GENERATE, lens_k=0):
    """Reference for model m (name, prompt) in directory d (default
    OUT_ROOT/name); a classifier (no next token) generates nothing and has
    no logit lens. lens_k > 0 records the logit lens of every layer."""
    d = d or os.path.join(OUT_ROOT, m["name"])
    cfg, W = load_model(d)
    if cfg.n_labels:
        n_generate = 0
        lens_k = 0
    freqs = inv_freq(cfg)
    prompt = list(m["prompt"])
    T = len(prompt)

    R, cache = forward_hf(cfg, W, prompt, 0, [], freqs, lens_k=lens_k)
    records = [("", "rope_freqs", freqs)]
    records += [("", k, v) for k, v in to_debugger_convention(R).items()]
    margins = []

    def pick(logits_row):
        o = np.argsort(-logits_row, kind="stable")
        margins.append(float(logits_row[o[0]] - logits_row[o[1]]))
        return int(o[0])

    generated = [pick(R["logits"][T - 1])] if n_generate > 0 else []
    steps = {}
    s = 1
    while s < n_generate and generated[-1] not in cfg.eos:
        pos = T + s - 1
        Rs, cache = forward_hf(cfg, W, [generated[s - 1]], pos, cache, freqs, lens_k=lens_k)
        assert Rs["layers.0.scores"].shape == (cfg.H, 1, T + s)
        steps[s] = Rs
        records += [("step.%d." % s, k, v) for k, v in to_debugger_convention(Rs).items()]
        generated.append(pick(Rs["logits"][0]))
        s += 1

    # Self-check 1: Meta-convention forward == HF forward (converted), prompt
    # and the whole generated sequence.
    worst_meta = check_meta(cfg, W, prompt, freqs, to_debugger_convention(R), m["name"] + " prompt")
    full = prompt + generated[:-1]
    Rf, _ = forward_hf(cfg, W, full, 0, [], freqs, lens_k=lens_k)
    worst_meta = max(worst_meta, check_meta(cfg, W, full, freqs, to_debugger_convention(Rf),
                                            m["name"] + " full"))
    # Self-check 2: each decode step == the full pass at that position.
    worst_step = 0.0
    for s, Rs in steps.items():
        t = T + s - 1
        for name, a in Rs.items():
            if name in ("tokens",):
                assert int(a[0]) == full[t]
                continue
            if name.endswith("_ids"):  # the lens ids: equal where not tied
                b = Rf[name][t:t + 1]
                assert np.all((a == b) | (a < 0) | (b < 0)), name
                continue
            b = Rf[name]
            if name.endswith(("scores", "probs")) and "lens_" not in name:
                b = b[:, t:t + 1, : t + 1]
                assert np.all(np.isinf(Rf[name][:, t, t + 1:])) if name.endswith("scores") else True
            else:
                b = b[t:t + 1]
            worst_step = max(worst_step, close(a, b, "%s step %d vs full: %s" % (m["name"], s, name)))
    # Prompt-pass consistency: the prompt pass is the first T rows of the full pass.
    for name, a in R.items():
        b = Rf[name]
        b = b[:, :T, :T] if name.endswith(("scores", "probs")) and "lens_" not in name else b[:T]
        if name == "tokens":
            assert (a == b).all()
        elif name.endswith("_ids"):
            assert np.all((a == b) | (a < 0) | (b < 0)), name
        else:
            close(a, b, "%s prompt vs full: %s" % (m["name"], name))
    for name, a in R.items():
        if name.endswith("probs") and "lens_" not in name:
            assert np.abs(a.sum(-1) - 1).max() < 1e-13

    # Write: F64 tensors in forward order, then the I32 ones (tokens, lens
    # ids; keeps every F64 tensor 8-byte aligned in the file).
    def is_i32(k):
        return k == "tokens" or k.endswith("_ids")
    f64 = [(pre + k, "F64", np.ascontiguousarray(v, dtype="<f8"))
           for pre, k, v in records if not is_i32(k)]
    i32 = [(pre + k, "I32", np.ascontiguousarray(v, dtype="<i4"))
           for pre, k, v in records if is_i32(k)]
    meta = {
        "tokens": json.dumps(prompt),
        "n_generate": str(n_generate),
        "generated": json.dumps(generated),
        "reference": "float64 numpy, HF convention",
        "model": m["name"],
        "rope_layout": "q, k, q_rope, k_rope stored in Meta interleaved pairs "
                       "(converted from HF rotate_half halves)",
    }
    if lens_k:
        meta["lens_k"] = str(lens_k)  # traced with --lens=K --lens-mid
    path = os.path.join(d, "golden.safetensors")
    tmp = path + ".tmp"
    st_io.write(tmp, f64 + i32, meta)
    os.replace(tmp, path)

    # Round trip.
    back, bmeta, _ = st_io.read(path)
    assert bmeta == meta
    for name, _, a in f64 + i32:
        assert back[name].shape == a.shape and np.array_equal(back[name], a)
    return dict(name=m["name"], tokens=prompt, generated=generated, margins=margins,
                worst_meta=worst_meta, worst_step=worst_step, n=len(f64) + len(i32),
                bytes=os.path.getsize(path))


def main():
    for m in MODELS:
        r = run_model(m, lens_k=LENS_K)
        print("%-12s tokens=%s generated=%s top1-top2 margins=%s" % (
            r["name"], r["tokens"], r["generated"], ["%.3f" % x for x in r["margins"]]))
        print("%-12s %d tensors, %d bytes; meta-vs-hf max diff %.2e, step-vs-full max diff %.2e"
              % ("", r["n"], r["bytes"], r["worst_meta"], r["worst_step"]))
    print("self-checks passed")


if __name__ == "__main__":
    main()
