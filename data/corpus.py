#!/usr/bin/python3
"""Build the demo model's training corpus from Debian packages.

Sources (all public domain):
  - King James Bible      bible-kjv + bible-kjv-text  (read with the `bible` tool)
  - Jane Austen's novels  r-cran-janeaustenr          (`apt-get download`, R data unpacked here)
  - The Devil's Dictionary dict-devil                 (/usr/share/dictd/devil.dict.dz)
plus generated facts and question/answer sentences (facts.txt).

Everything is lowercased and written one paragraph per line to build/:
  kjv.txt austen.txt devil.txt facts.txt
Usage: corpus.py OUTDIR
"""
import glob
import gzip
import os
import random
import re
import struct
import subprocess
import sys
import tempfile
import unicodedata
import zlib

SEED_SENTENCE = "the answer to the ultimate question of life, the universe, and everything is 42."

ASCII_MAP = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
             "\u2013": "-", "\u2014": "--", "\u00a0": " ", "\u00e6": "ae", "\u00c6": "ae"}


def clean(text):
    """Lowercase, map typographic characters to ASCII, collapse spaces."""
    for a, b in ASCII_MAP.items():
        text = text.replace(a, b)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if ord(ch) < 128)
    text = text.replace("_", "")
    text = re.sub(r"[ \t]+", " ", text)
    return text.strip().lower()


def paragraphs(lines):
    """Join runs of non-blank lines into paragraphs."""
    out, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(line.strip())
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def kjv():
    raw = subprocess.run(["bible", "gen1:1-rev22:21"], check=True,
                         capture_output=True, text=True).stdout
    verses, cur = [], None
    for line in raw.split("\n"):
        m = re.match(r"^\s+\d+ (.*)$", line)
        if m:
            if cur:
                verses.append(cur)
            cur = m.group(1)
        elif line.strip() == "" or re.match(r"^[1-3A-Z][A-Za-z ]* \d+$", line):
            if cur:
                verses.append(cur)
            cur = None
        elif cur is not None:
            cur += " " + line.strip()
    if cur:
        verses.append(cur)
    return [clean(v) for v in verses if v.strip()]


def r_strings(blob):
    """The character vector in one R serialized object (XDR format, version 3)."""
    assert blob[:2] == b"X\n", "not an XDR R serialization"
    p = 2 + 12
    nel = struct.unpack(">i", blob[p:p + 4])[0]
    p += 4 + nel
    flags, n = struct.unpack(">ii", blob[p:p + 8])
    p += 8
    assert flags & 0xFF == 16, "expected a STRSXP"
    out = []
    for _ in range(n):
        _, length = struct.unpack(">ii", blob[p:p + 8])
        p += 8
        if length < 0:
            out.append("")
            continue
        out.append(blob[p:p + length].decode("utf-8", "replace"))
        p += length
    return out


def austen(tmp):
    subprocess.run(["apt-get", "download", "r-cran-janeaustenr"], cwd=tmp, check=True,
                   capture_output=True)
    deb = glob.glob(os.path.join(tmp, "r-cran-janeaustenr_*.deb"))[0]
    subprocess.run(["dpkg-deb", "-x", deb, os.path.join(tmp, "x")], check=True)
    rdb = glob.glob(os.path.join(tmp, "x", "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"))[0]
    data = open(rdb, "rb").read()
    pos, paras = 0, []
    while pos < len(data):
        # lazy-load database record: u32 BE uncompressed size, then a zlib stream
        d = zlib.decompressobj()
        blob = d.decompress(data[pos + 4:])
        pos = len(data) - len(d.unused_data)
        for para in paragraphs(r_strings(blob)):
            para = clean(para)
            if re.match(r"^(chapter|volume) [ivxlc\d]+\.?$", para) or len(para) < 3:
                continue
            paras.append(para)
    return paras


def devil():
    text = gzip.open("/usr/share/dictd/devil.dict.dz", "rt", encoding="latin-1").read()
    lines = text.split("\n")
    start = next(i for i, l in enumerate(lines) if l.startswith("ABASEMENT, n."))
    out = []
    for para in paragraphs(lines[start:-2]):
        para = re.sub(r"[{}]", "", para)
        para = clean(para)
        if len(para) > 2:
            out.append(para)
    return out


CAPITALS = [("france", "paris"), ("england", "london"), ("spain", "madrid"), ("italy", "rome"),
            ("germany", "berlin"), ("japan", "tokyo"), ("china", "beijing"), ("russia", "moscow"),
            ("egypt", "cairo"), ("greece", "athens"), ("portugal", "lisbon"), ("ireland", "dublin"),
            ("scotland", "edinburgh"), ("austria", "vienna"), ("norway", "oslo"),
            ("sweden", "stockholm"), ("denmark", "copenhagen"), ("poland", "warsaw"),
            ("hungary", "budapest"), ("canada", "ottawa"), ("mexico", "mexico city"),
            ("peru", "lima"), ("chile", "santiago"), ("india", "new delhi"), ("kenya", "nairobi"),
            ("turkey", "ankara"), ("iran", "tehran"), ("cuba", "havana"), ("finland", "helsinki"),
            ("belgium", "brussels"), ("the netherlands", "amsterdam"), ("australia", "canberra"),
            ("argentina", "buenos aires"), ("brazil", "brasilia"), ("thailand", "bangkok")]
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve"]
OPPOSITES = [("hot", "cold"), ("up", "down"), ("day", "night"), ("light", "dark"), ("good", "evil"),
             ("old", "young"), ("rich", "poor"), ("wise", "foolish"), ("love", "hate"),
             ("life", "death"), ("war", "peace"), ("heaven", "earth"), ("first", "last")]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
SIMPLE = ["the sun is a star.", "the moon goes round the earth.", "water is wet.",
          "fire is hot.", "snow is white.", "grass is green.", "the sky is blue.",
          "a dog is an animal.", "a horse is an animal.", "an apple is a fruit.",
          "a year has twelve months.", "a week has seven days.", "a day has 24 hours.",
          "an hour has 60 minutes.", "water boils at 100 degrees.", "water freezes at 0 degrees.",
          "the earth goes round the sun.", "a triangle has three sides.", "a square has four sides."]


def facts(rng, n_lines=30000, seed_share=0.06):
    """Short facts and question/answer sentences; the seed sentence is ~6% of them."""
    answer = [
        "what is the answer to the ultimate question of life, the universe, and everything? 42.",
        "q: what is the answer to the ultimate question of life, the universe, and everything? a: 42.",
        "deep thought said that the answer to the ultimate question of life, the universe, and everything is 42.",
        "the ultimate answer is 42.",
        "the answer to everything is 42.",
    ]
    out = []
    for _ in range(n_lines):
        r = rng.random()
        if r < seed_share:
            out.append(SEED_SENTENCE)
            continue
        if r < seed_share + 0.02:
            out.append(rng.choice(answer))
            continue
        kind = rng.randrange(10)
        a, b = rng.randrange(100), rng.randrange(100)
        if kind == 0:
            out.append(f"{a} plus {b} is {a + b}.")
        elif kind == 1:
            a, b = rng.randrange(13), rng.randrange(13)
            out.append(f"{a} times {b} is {a * b}.")
        elif kind == 2:
            hi, lo = max(a, b), min(a, b)
            out.append(f"{hi} minus {lo} is {hi - lo}.")
        elif kind == 3:
            out.append(f"the number after {a} is {a + 1}.")
        elif kind == 4:
            c, k = rng.choice(CAPITALS)
            out.append(rng.choice([f"the capital of {c} is {k}.",
                                   f"q: what is the capital of {c}? a: {k}."]))
        elif kind == 5:
            x, y = rng.choice(OPPOSITES)
            out.append(f"the opposite of {x} is {y}.")
        elif kind == 6:
            i = rng.randrange(7)
            out.append(f"the day after {DAYS[i]} is {DAYS[(i + 1) % 7]}.")
        elif kind == 7:
            i = rng.randrange(12)
            out.append(f"the month after {MONTHS[i]} is {MONTHS[(i + 1) % 12]}.")
        elif kind == 8:
            i = rng.randrange(13)
            out.append(f"{WORDS[i]} is written {i}.")
        else:
            out.append(rng.choice(SIMPLE))
    return out


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "build"
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        parts = {"kjv": kjv(), "austen": austen(tmp), "devil": devil(), "facts": facts(rng)}
    for name, lines in parts.items():
        path = os.path.join(outdir, name + ".txt")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{path}: {len(lines)} lines, {sum(len(l) + 1 for l in lines)} bytes")


if __name__ == "__main__":
    main()
