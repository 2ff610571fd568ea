#!/usr/bin/env python3
"""Write the tiny synthetic vocabulary the tokenizer tests use, in both of
the formats Llama 3's vocabulary comes in.

    python3 tests/data/tok/make_fixtures.py     (from the repository root)

writes, next to this script:
    tiny/tokenizer.model             tiktoken lines "base64 rank"
    tiny-meta/original/tokenizer.model   the same file, Meta's layout inside an HF repo
    tiny-hf/tokenizer.json           Hugging Face form, merges as "left right"
    tiny-hf-pairs.json               the same, merges as ["left", "right"]

The vocabulary: the 256 single bytes (rank = byte value), then a few
multi-byte tokens chosen to exercise the tests (see TOKENS), then the 256
Llama 3 special tokens at n_ranks + i, as Meta's tokenizer.py numbers them.
The merges of the JSON form are built the way Hugging Face converts a
tiktoken file: every split of every token into two tokens, ordered by the
rank of the merged token. The output is deterministic; the files are
committed and this script only documents (and can redo) how they were made.
"""
import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# (bytes, why it is here). Ranks follow in this order from 256.
TOKENS = [
    (b"bc", "'abc' merges b+c first (rank 256) although a+b (257) is leftmost"),
    (b"ab", "the leftmost pair of 'abc', but ranked after 'bc'"),
    (b"he", ""),
    (b" t", ""),
    (b" the", "' t' + 'he'"),
    (b"in", ""),
    (b"ing", "'in' + 'g'"),
    (b"hello", "a whole-piece token that no chain of merges reaches"),
    (b"aa", "'aaa' ties: the leftmost 'aa' merges first"),
    (b"<|", "so that special text encoded as plain text uses a few tokens"),
    (b"|>", ""),
    ("é".encode(), "a two-byte character as one token"),
    (b" w", ""),
    (b"or", ""),
    (b"ld", ""),
    (b" wor", "' w' + 'or'"),
    (b" world", "' wor' + 'ld'"),
    (b"\n\n", ""),
    (b"12", ""),
    (b"123", "'12' + '3'"),
    (b"'s", ""),
]

NAMED_SPECIALS = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
    "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
]


def specials():
    names = list(NAMED_SPECIALS)
    names += ["<|reserved_special_token_%d|>" % (i - len(NAMED_SPECIALS) + 3)
              for i in range(len(NAMED_SPECIALS), 256)]
    return names


def gpt2_byte_chars():
    """GPT-2's printable stand-in for each byte."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD))
                 + list(range(0xAE, 0x100)))
    table, k = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(0x100 + k)
            k += 1
    return table


def main():
    vocab = [bytes([b]) for b in range(256)] + [t for t, _ in TOKENS]
    assert len(set(vocab)) == len(vocab)
    rank = {t: i for i, t in enumerate(vocab)}

    tiktoken = "".join("%s %d\n" % (base64.b64encode(t).decode(), i) for i, t in enumerate(vocab))
    for d in ("tiny", "tiny-meta/original"):
        os.makedirs(os.path.join(HERE, d), exist_ok=True)
        with open(os.path.join(HERE, d, "tokenizer.model"), "w") as f:
            f.write(tiktoken)

    g = gpt2_byte_chars()
    spell = lambda t: "".join(g[b] for b in t)
    merges = []
    for t in vocab:
        splits = [(t[:k], t[k:]) for k in range(1, len(t)) if t[:k] in rank and t[k:] in rank]
        splits.sort(key=lambda p: (rank[p[0]], rank[p[1]]))
        merges += [(rank[t], a, b) for a, b in splits]
    merges.sort(key=lambda m: m[0])

    n = len(vocab)
    added = [{"id": n + i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, s in enumerate(specials())]
    pattern = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
               " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
    for name, as_pairs in (("tiny-hf/tokenizer.json", False), ("tiny-hf-pairs.json", True)):
        doc = {
            "version": "1.0",
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                "ignore_merges": True,
                "vocab": {spell(t): i for i, t in enumerate(vocab)},
                "merges": [[spell(a), spell(b)] if as_pairs else spell(a) + " " + spell(b)
                           for _, a, b in merges],
            },
        }
        path = os.path.join(HERE, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
