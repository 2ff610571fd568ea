#!/usr/bin/env python3
"""Independent reference for the Llama 3 tokenizer tests.

    python3 tests/data/tok/llama3_reference.py     (from the repository root,
                                                    after `make llama3-tokenizer`)

Reads data/llama3/tokenizer.model and writes tests/data/tok/llama3_cases.json:
a few hundred varied strings and the ids Llama 3 gives them (no BOS). The
C tests compare against that file; it is committed, the tokenizer is not.

Independent of the C code: the pre-split uses Python's `regex` module (Debian
package python3-regex), which implements \\p{L}, \\p{N} and \\s the way
tiktoken's own regex engine does, and BPE is the textbook loop straight from
the definition (find the lowest-ranked adjacent pair, merge, repeat), slow and
obviously right. Only valid Unicode text is used, as tiktoken takes str, and
only characters that Unicode 14 assigns (the tables of Debian 12's PCRE2
10.42): a letter added later is "not a letter" to the C side and would be
split differently.
"""
import base64
import json
import os
import random

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MODEL = os.path.join(ROOT, "data", "llama3", "tokenizer.model")
OUT = os.path.join(ROOT, "tests", "data", "tok", "llama3_cases.json")

PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
           r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def load_ranks(path):
    ranks = {}
    with open(path, "rb") as f:
        for line in f:
            b64, rank = line.split()
            ranks[base64.b64decode(b64)] = int(rank)
    return ranks


def bpe(ranks, piece):
    if piece in ranks:
        return [ranks[piece]]
    parts = [bytes([b]) for b in piece]
    while True:
        best = None
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        parts[i:i + 2] = [parts[i] + parts[i + 1]]
    return [ranks[p] for p in parts]


def encode(ranks, text):
    ids = []
    for piece in regex.findall(PATTERN, text):
        ids += bpe(ranks, piece.encode("utf-8"))
    return ids


HANDWRITTEN = [
    # contractions, any case, and near misses
    "I'm sure you'll see it's what we've done, they'd said, we're here, don't.",
    "I'M SURE YOU'LL SEE IT'S WHAT WE'VE DONE, THEY'D SAID, WE'RE HERE, DON'T.",
    "It'S wE'Ve tHey'D yOu'Ll", "'s 't 're 've 'm 'll 'd", "''s'''t", "rock'n'roll", "'tis",
    "o'clock", "Ma'am", "y'all'd've", "'S'T'RE", "it ' s", "dog's  cats'",
    # letters with accents, other scripts
    "café naïve résumé Zürich façade", "Ærøskøbing Ångström œuvre", "ÉCOLE ÇA ÑANDÚ",
    "Ελληνικά γράμματα", "Русский текст, ёлка.", "עברית ושלום", "العربية لغة جميلة",
    "हिन्दी भाषा", "ภาษาไทย", "Tiếng Việt có dấu", "ქართული", "Հայերեն", "ᚠᛇᚻ",
    "e\u0301 combining accent", "ﬁ ligature", "ǅ titlecase", "ß ẞ straße",
    # CJK and emoji
    "你好，世界！", "日本語のテキストです。", "한국어 문장입니다", "中文English混合123",
    "😀", "👍🏽 thumbs", "👨\u200d👩\u200d👧\u200d👦 family", "🇫🇷🇩🇪 flags", "I ❤️ NY", "☃★♠♣",
    "🙂🙂🙂", "a😀b", "😀 😀  😀",
    # digits: runs longer than three, other digit systems
    "1234567890", "12345678901234567890", "3.14159265358979", "1,000,000 and 1.000.000",
    "2024-01-31T12:34:56Z", "v1.2.3-rc4", "0x1F4A9", "١٢٣٤٥ ٦٧٨", "०१२३४५", "①②③ ⅣⅤ",
    "½ ¾ ²³", "$100.00 €5 £3.50 ¥1000", "-42 +17 ±3", "9am-5pm", "a1b22c333d4444",
    # whitespace: runs of spaces, tabs, newlines, odd spaces
    "a  b", "a   b", "a\tb", "a\t\tb", "a\nb", "a\n\nb", "a\n\n\nb", "a \n b", "a  \n  b",
    "a\r\nb", "a\r\n\r\nb", "\n", "\n\n", " ", "  ", "   ", "\t", "\t\n", " \t \n ",
    "trailing   ", "   leading", "  both  ", "line1\nline2\n", "para\n\n  indented\n",
    "tab\tseparated\tvalues\n1\t2\t3\n", "x\u00a0y", "x\u2003y", "x\u3000y", "x\u2028y",
    "x\x0by", "x\x0cy", "x\u200by", "x\ufeffy", "x\u202fy", "x \u00a0 y", "end.\n",
    "    ", "\n    \n", " \n\n ", "a  \t  b", "x\u0085y", "x\x1cy\x1d", "x\u1680y", "x\u2029y",
    "x\u205fy", "x \u180e y\u180e\u180e", "\u3000\u3000x", "\u00a0\n\u00a0",
    # code
    "def f(x):\n    return x ** 2\n", "int main(void) { return 0; }",
    "for (size_t i = 0; i < n; i++) {\n\tsum += a[i] * b[i];\n}",
    "if (a && b) || !c { panic!(\"no\"); }", "<div class=\"x\">hi</div>", "x = {'a': 1, \"b\": [2, 3]}",
    "SELECT * FROM users WHERE id = 42;", "#include <stdio.h>", "$ ls -la | grep '^d'",
    "a->b->c", "i++ + ++i", "x<<=2; y>>=3;", "/* comment */ // another", "λx. x + 1",
    "    indented_code(arg1, arg2)  # note", "\tdef __init__(self):", "```python\nprint('hi')\n```",
    # URLs, mail, paths
    "https://example.com/path/to/page?q=1&r=two#frag", "http://localhost:8080/",
    "mailto:someone@example.org", "user.name+tag@sub.example.co.uk", "C:\\Windows\\System32",
    "/usr/share/dict/words", "~/.config/app.json", "www.example.com", "ftp://a.b/c_d-e.f",
    # punctuation runs
    "!!!", "???!!!", "...", "…", "—", "–-—", "«quote»", "“curly” ‘single’", "¿Qué? ¡Sí!",
    "(((nested)))", "[[a]]", "{{b}}", "!@#$%^&*()_+-=", "~`|\\", ";:,.", "--\n--\n",
    "Wait... what?!", "Hello, world!", "a,b,c", "end.)", "\"quoted\"", "'single'",
    # specials as plain text (never allowed in these cases)
    "<|begin_of_text|>", "<|eot_id|> is text here", "<|", "|>", "<||>",
    # mixed
    "The quick brown fox jumps over the lazy dog.", "the answer to the ultimate question of life, the universe, and everything is ",
    "This is a test sentence.", "COVID-19 vaccines (mRNA-1273) were 94.1% effective.",
    "E=mc²", "H₂O", "naïve café — 42€", "Mr. O'Neil's 3rd-floor office", "I like C++ and C#.",
]

WORDS = ("the of and to in is was he for it with as his on be at by I this had not are but from or have "
         "an they which one you were her all she there would their we him been has when who will more no "
         "if out so said what up its about into than them can only other new some could time these two may "
         "then do first any my now such like our over man me even most made after also did many before "
         "must through back years where much your way well down should because each just those people how "
         "too little state good very make world still own see men work long get here between both life "
         "being under never day same another know while last might us great old year off come since against "
         "go came right used take three Llama token tokenizer BPE merges ranks bytes").split()
POOL = WORDS + ["'s", "'T", "'LL", "'re", "123", "4567", "89", "0", ",", ".", "!", "?", ";", ":", "-",
                "(", ")", "\"", "'", "/", "—", "…", "é", "ñ", "ü", "ß", "ø", "Ж", "λ", "中", "文", "日",
                "本", "😀", "🎉", "👍", "\u00a0", "€", "%", "#", "@", "http://x.io", "\t", "\n", "\n\n",
                " ", "  ", "   ", "\r\n", "ALLCAPS", "camelCase", "snake_case", "kebab-case", "x1", "7th"]


def random_cases(n, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(1, 14)
        parts = []
        for _ in range(k):
            w = rng.choice(POOL)
            if rng.random() < 0.5 and parts:
                parts.append(" ")
            parts.append(w)
        out.append("".join(parts))
    return out


def main():
    ranks = load_ranks(MODEL)
    texts = HANDWRITTEN + random_cases(220, 1234)
    seen, cases = set(), []
    for t in texts:
        if t in seen:
            continue
        seen.add(t)
        cases.append({"text": t, "ids": encode(ranks, t)})
    with open(OUT, "w") as f:
        f.write("[\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=True) for c in cases))
        f.write("\n]\n")
    print("%s: %d cases" % (OUT, len(cases)))


if __name__ == "__main__":
    main()
