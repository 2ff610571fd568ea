#!/usr/bin/python3
"""Train the demo model's byte-level BPE (Llama 3 pre-split) and write tiktoken format.

Usage: train_tokenizer.py BUILD_DIR OUT_TOKENIZER_MODEL [N_RANKS]

Ranks 0..255 are the single bytes; every merge adds the next rank. Pieces of
the seed prompt get a large count bonus so that each of its words (with its
leading space) is one token, as in real Llama 3, and "42" is one token.
"""
import collections
import heapq
import os
import sys

import tok

REQUIRED = ["the", " answer", " to", " the", " ultimate", " question", " of", " life", ",",
            " universe", " and", " everything", " is", " ", "42"]
BONUS = 1_000_000


def word_counts(build):
    counts = collections.Counter()
    for name in ("kjv", "austen", "devil", "facts"):
        text = open(os.path.join(build, name + ".txt")).read()
        counts.update(tok.PAT.findall(text))
    for w in REQUIRED:
        counts[w] += BONUS
    return counts


def train(counts, n_ranks):
    tokens = [bytes([i]) for i in range(256)]
    words = [list(w.encode("utf-8")) for w in counts]
    freq = list(counts.values())
    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for wi, syms in enumerate(words):
        for a, b in zip(syms, syms[1:]):
            pairs[(a, b)] += freq[wi]
            where[(a, b)].add(wi)
    # max-heap with lazy deletion; ties broken by the smaller pair (deterministic)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    index = {b: i for i, b in enumerate(tokens)}
    while len(tokens) < n_ranks and heap:
        negc, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -negc or negc == 0:
            continue
        new_bytes = tokens[pair[0]] + tokens[pair[1]]
        new_id = index.get(new_bytes)
        if new_id is None:  # the same bytes can come from two different splits
            new_id = len(tokens)
            tokens.append(new_bytes)
            index[new_bytes] = new_id
        changed = collections.Counter()
        for wi in list(where[pair]):
            syms, f = words[wi], freq[wi]
            for a, b in zip(syms, syms[1:]):
                changed[(a, b)] -= f
                where[(a, b)].discard(wi)
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == pair:
                    out.append(new_id)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            words[wi] = out
            for a, b in zip(out, out[1:]):
                changed[(a, b)] += f
                where[(a, b)].add(wi)
        for p, d in changed.items():
            if d:
                pairs[p] += d
                if pairs[p] > 0:
                    heapq.heappush(heap, (-pairs[p], p))
                else:
                    del pairs[p]
    return tokens


def main():
    build, out = sys.argv[1], sys.argv[2]
    n_ranks = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    counts = word_counts(build)
    print(f"{len(counts)} distinct pieces")
    tokens = train(counts, n_ranks)
    tok.save(out, tokens)
    t = tok.Tokenizer(tokens)
    prompt = "the answer to the ultimate question of life, the universe, and everything is "
    ids = t.encode(prompt, bos=True)
    print(f"{out}: {len(tokens)} ranks; seed prompt -> {len(ids)} tokens: {ids}")
    print("pieces:", [t.decode([i]) for i in ids])
    print('"42" ->', t.encode("42"))
    assert len(ids) == 17, "seed prompt must be 17 tokens"
    assert len(t.encode("42")) == 1, '"42" must be one token'


if __name__ == "__main__":
    main()
