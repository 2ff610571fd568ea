"""Tiktoken-format byte-level BPE: the Llama 3 pre-split, loading, saving, encoding.

Encoding is the standard tiktoken algorithm (what core/tok_encode.c does):
pre-split the text with the Llama 3 regex, then in each piece repeatedly
merge the adjacent pair whose concatenated bytes have the lowest rank.
"""
import base64

import regex

PAT = regex.compile(
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

N_SPECIAL = 256


def special_names():
    """Meta's Llama 3 special tokens; special i gets id n_ranks + i."""
    names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
             "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
             "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
             "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"]
    names += [f"<|reserved_special_token_{i}|>" for i in range(3, 3 + N_SPECIAL - len(names))]
    return names


def save(path, tokens):
    with open(path, "w") as f:
        for rank, b in enumerate(tokens):
            f.write(f"{base64.b64encode(b).decode()} {rank}\n")


def load(path):
    tokens = []
    for line in open(path):
        b64, rank = line.split()
        assert int(rank) == len(tokens)
        tokens.append(base64.b64decode(b64))
    return tokens


class Tokenizer:
    def __init__(self, tokens):
        self.tokens = tokens
        self.ranks = {b: i for i, b in enumerate(tokens)}
        self.n_ranks = len(tokens)
        self.bos = self.n_ranks
        self.eos = self.n_ranks + 1
        self.cache = {}

    def encode_piece(self, piece):
        ids = self.cache.get(piece)
        if ids is not None:
            return ids
        parts = [bytes([c]) for c in piece.encode("utf-8")]
        while len(parts) > 1:
            best, at = None, -1
            for i in range(len(parts) - 1):
                r = self.ranks.get(parts[i] + parts[i + 1])
                if r is not None and (best is None or r < best):
                    best, at = r, i
            if best is None:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        ids = [self.ranks[p] for p in parts]
        self.cache[piece] = ids
        return ids

    def encode(self, text, bos=False):
        out = [self.bos] if bos else []
        for piece in PAT.findall(text):
            out.extend(self.encode_piece(piece))
        return out

    def decode_bytes(self, ids):
        names = special_names()
        return b"".join(self.tokens[i] if i < self.n_ranks else names[i - self.n_ranks].encode()
                        for i in ids)

    def decode(self, ids):
        return self.decode_bytes(ids).decode("utf-8", "replace")
