#!/usr/bin/python3
"""Train the demo model (Meta layout) on the corpus in BUILD_DIR.

Usage: OMP_WAIT_POLICY=PASSIVE train.py BUILD_DIR TOKENIZER_MODEL [STEPS]
Writes BUILD_DIR/ckpt.pt and BUILD_DIR/train_log.txt. Fixed seeds; 2 threads.
"""
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

import tok
from model import Args, Transformer

SEED = 1234
BATCH = 8
SEQ = 256               # tokens per sequence, <|begin_of_text|> included
LR_MAX, LR_MIN = 3e-3, 3e-4
WARMUP = 50
WEIGHT_DECAY = 0.1
FACT_SHARE = 0.25       # fraction of sequences drawn from facts.txt
VAL_SHARE = 0.02        # the last 2% of each book is held out


def encode_corpus(build, t):
    cache = os.path.join(build, "tokens.npz")
    if os.path.exists(cache) and os.path.getmtime(cache) > max(
            os.path.getmtime(os.path.join(build, n + ".txt")) for n in ("kjv", "austen", "devil", "facts")):
        z = np.load(cache, allow_pickle=False)
        return {k: z[k] for k in z.files}
    out = {}
    for name in ("kjv", "austen", "devil"):
        ids = np.array(t.encode(open(os.path.join(build, name + ".txt")).read()), dtype=np.int32)
        cut = int(len(ids) * (1 - VAL_SHARE))
        out[name + "_train"], out[name + "_val"] = ids[:cut], ids[cut:]
    lines = open(os.path.join(build, "facts.txt")).read().split("\n")
    ids, starts = [], []
    for line in lines:
        if line:
            starts.append(len(ids))
            ids.extend(t.encode(line + "\n"))
    out["facts"], out["facts_starts"] = np.array(ids, np.int32), np.array(starts, np.int32)
    np.savez(cache, **out)
    return out


class Batches:
    def __init__(self, data, bos, rng):
        self.data, self.bos, self.rng = data, bos, rng
        self.books = [data[n + "_train"] for n in ("kjv", "austen", "devil")]
        # the Devil's Dictionary is small: sample it 3x as often as its size says
        w = np.array([len(self.books[0]), len(self.books[1]), 3 * len(self.books[2])], float)
        self.weights = w / w.sum()

    def sequence(self):
        n = SEQ  # BOS + SEQ-1 tokens + one more for the last target
        if self.rng.random() < FACT_SHARE:
            facts, starts = self.data["facts"], self.data["facts_starts"]
            s = starts[self.rng.randrange(len(starts))]
            if s + n > len(facts):
                s = starts[0]
            body = facts[s:s + n]
        else:
            book = self.books[self.rng.choices(range(3), self.weights)[0]]
            s = self.rng.randrange(len(book) - n)
            body = book[s:s + n]
        return np.concatenate([[self.bos], body])

    def batch(self):
        x = torch.from_numpy(np.stack([self.sequence() for _ in range(BATCH)]).astype(np.int64))
        return x[:, :-1], x[:, 1:]


@torch.no_grad()
def val_loss(model, data, bos):
    """Mean loss over non-overlapping 255-token windows of the held-out book text."""
    model.eval()
    tot, cnt = 0.0, 0
    for name in ("kjv", "austen", "devil"):
        v = data[name + "_val"]
        wins = [np.concatenate([[bos], v[i:i + SEQ]]) for i in range(0, len(v) - SEQ, SEQ - 1)]
        for i in range(0, len(wins), 32):
            x = torch.from_numpy(np.stack(wins[i:i + 32]).astype(np.int64))
            logits = model(x[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1),
                                   reduction="sum")
            tot += float(loss)
            cnt += x[:, 1:].numel()
    model.train()
    return tot / cnt


def lr_at(step, steps):
    if step < WARMUP:
        return LR_MAX * (step + 1) / WARMUP
    p = (step - WARMUP) / max(1, steps - WARMUP)
    return LR_MIN + 0.5 * (LR_MAX - LR_MIN) * (1 + math.cos(math.pi * p))


def main():
    build, tokpath = sys.argv[1], sys.argv[2]
    steps = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    t = tok.Tokenizer(tok.load(tokpath))
    t0 = time.time()
    data = encode_corpus(build, t)
    ntok = {k: len(v) for k, v in data.items() if not k.endswith("starts")}
    print(f"corpus tokens: {ntok} ({time.time() - t0:.0f}s)", flush=True)

    a = Args(vocab_size=t.n_ranks + tok.N_SPECIAL)
    model = Transformer(a)
    for name, p in model.named_parameters():
        if p.dim() == 2:
            std = 0.02 / math.sqrt(2 * a.n_layers) if name.endswith(("wo.weight", "w2.weight")) else 0.02
            torch.nn.init.normal_(p, 0.0, std)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"parameters: {nparams}", flush=True)
    decay = [p for p in model.parameters() if p.dim() == 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR_MAX, betas=(0.9, 0.95), eps=1e-8)
    batches = Batches(data, t.bos, rng)
    log = open(os.path.join(build, "train_log.txt"), "w")
    seed_ids = t.encode("the answer to the ultimate question of life, the universe, and everything is ",
                        bos=True)
    t0 = time.time()
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, steps)
        x, y = batches.batch()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == steps - 1:
            msg = f"step {step} loss {loss.item():.4f} lr {lr_at(step, steps):.2e} {time.time() - t0:.0f}s"
            if step % 200 == 0 or step == steps - 1:
                model.eval()
                nxt = model.generate(seed_ids, 1)[-1]
                model.train()
                msg += f" val {val_loss(model, data, t.bos):.4f} seed-> {t.decode([nxt])!r}"
            print(msg, flush=True)
            log.write(msg + "\n")
    elapsed = time.time() - t0
    vl = val_loss(model, data, t.bos)
    msg = (f"done: {steps} steps, batch {BATCH}x{SEQ}, {elapsed:.0f}s, val loss {vl:.4f}, "
           f"params {nparams}")
    print(msg)
    log.write(msg + "\n")
    torch.save({"args": a.to_dict(), "model": model.state_dict(), "steps": steps,
                "train_seconds": elapsed, "val_loss": vl}, os.path.join(build, "ckpt.pt"))


if __name__ == "__main__":
    main()
