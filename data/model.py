"""The demo model in PyTorch, in Meta's layout (interleaved RoPE pairs).

Shared by train.py (training), export.py (HF export) and inspect_model.py.
"""
import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Args:
    dim: int = 128
    n_layers: int = 4
    n_heads: int = 8
    n_kv_heads: int = 2
    vocab_size: int = 4096 + 256
    ffn_dim: int = 384          # Meta's formula: int(2*4*dim/3) rounded up to multiple_of 128
    norm_eps: float = 1e-5
    rope_theta: float = 500000.0
    rope_factor: float = 8.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max: int = 8192
    max_seq_len: int = 256

    @property
    def head_dim(self):
        return self.dim // self.n_heads

    def to_dict(self):
        return asdict(self)


def inv_freqs(a):
    """llama3 rope scaling (Llama 3.1 / 3.2), computed in double precision."""
    hd = a.head_dim
    out = []
    lo = a.rope_original_max / a.rope_low_freq_factor
    hi = a.rope_original_max / a.rope_high_freq_factor
    for j in range(hd // 2):
        f = a.rope_theta ** (-2.0 * j / hd)
        wavelen = 2 * math.pi / f
        if wavelen < hi:
            pass
        elif wavelen > lo:
            f = f / a.rope_factor
        else:
            s = (a.rope_original_max / wavelen - a.rope_low_freq_factor) / (
                a.rope_high_freq_factor - a.rope_low_freq_factor)
            f = (1 - s) * f / a.rope_factor + s * f
        out.append(f)
    return torch.tensor(out, dtype=torch.float64)


def rope_tables(a, n):
    ang = torch.arange(n, dtype=torch.float64)[:, None] * inv_freqs(a)[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """x: (B, T, H, hd); rotates the pairs (x[2j], x[2j+1]) by pos * inv_freq[j]."""
    xr = x.float().reshape(*x.shape[:-1], -1, 2)
    a, b = xr[..., 0], xr[..., 1]
    c = cos[None, :, None, :]
    s = sin[None, :, None, :]
    return torch.stack((a * c - b * s, a * s + b * c), dim=-1).flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Attention(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        hd = a.head_dim
        self.wq = nn.Linear(a.dim, a.n_heads * hd, bias=False)
        self.wk = nn.Linear(a.dim, a.n_kv_heads * hd, bias=False)
        self.wv = nn.Linear(a.dim, a.n_kv_heads * hd, bias=False)
        self.wo = nn.Linear(a.n_heads * hd, a.dim, bias=False)

    def forward(self, x, cos, sin, mask, keep=None):
        B, T, _ = x.shape
        a, hd = self.a, self.a.head_dim
        q = self.wq(x).view(B, T, a.n_heads, hd)
        k = self.wk(x).view(B, T, a.n_kv_heads, hd)
        v = self.wv(x).view(B, T, a.n_kv_heads, hd)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q = q * (1.0 / math.sqrt(hd))  # same as scaling the scores, on a smaller tensor
        rep = a.n_heads // a.n_kv_heads   # query head h reads KV head h // rep (Meta's repeat_kv)
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) + mask
        probs = F.softmax(scores.float(), dim=-1)
        if keep is not None:
            keep.append(probs.detach())
        out = (probs @ v).transpose(1, 2).reshape(B, T, -1)
        return self.wo(out)


class FeedForward(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.w1 = nn.Linear(a.dim, a.ffn_dim, bias=False)
        self.w2 = nn.Linear(a.ffn_dim, a.dim, bias=False)
        self.w3 = nn.Linear(a.dim, a.ffn_dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.attention = Attention(a)
        self.feed_forward = FeedForward(a)
        self.attention_norm = RMSNorm(a.dim, a.norm_eps)
        self.ffn_norm = RMSNorm(a.dim, a.norm_eps)

    def forward(self, x, cos, sin, mask, keep=None):
        h = x + self.attention(self.attention_norm(x), cos, sin, mask, keep)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.tok_embeddings = nn.Embedding(a.vocab_size, a.dim)
        self.layers = nn.ModuleList(Block(a) for _ in range(a.n_layers))
        self.norm = RMSNorm(a.dim, a.norm_eps)
        self.output = nn.Linear(a.dim, a.vocab_size, bias=False)
        cos, sin = rope_tables(a, a.max_seq_len)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, tokens, keep=None):
        T = tokens.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        h = self.tok_embeddings(tokens)
        for layer in self.layers:
            h = layer(h, self.cos[:T], self.sin[:T], mask, keep)
        return self.output(self.norm(h))

    @torch.no_grad()
    def generate(self, ids, n):
        ids = list(ids)
        for _ in range(n):
            logits = self(torch.tensor([ids[-self.a.max_seq_len:]]))
            ids.append(int(logits[0, -1].argmax()))
        return ids
