#!/usr/bin/python3
"""Self-tests of the GGUF tools in tests/reference: quantize then dequantize
within each type's error bound, exact block packing (every quantized value
comes back from its block), the writer read back by gguf_read.py (every
metadata value type, v2 and v3, alignment), the HF -> GGUF conversion (names,
q/k rows, tokenizer ids), refusal to overwrite, and that
tests/data/gguf/ is what gen_gguf.py makes. Exit 0 when all pass.
"""
import filecmp
import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402

import gen_gguf  # noqa: E402
import gguf_quants as gq  # noqa: E402
import gguf_read  # noqa: E402
import gguf_write as gw  # noqa: E402
import st_io  # noqa: E402

fails = 0


def check(cond, what):
    global fails
    print("%s %s" % ("ok  " if cond else "FAIL", what))
    if not cond:
        fails += 1


# RMS error bound on standard normal values, relative to the RMS (1): a bit
# above what a plain scale choice gives for the type's bits.
BOUND = {gq.F32: 0, gq.F16: 1e-3, gq.BF16: 5e-3, gq.Q8_0: 0.01, gq.Q4_0: 0.12,
         gq.Q4_1: 0.11, gq.Q5_0: 0.06, gq.Q5_1: 0.055, gq.Q2_K: 0.40, gq.Q3_K: 0.20,
         gq.Q4_K: 0.11, gq.Q5_K: 0.055, gq.Q6_K: 0.03}


def test_quants():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 512)).astype(np.float32)
    for t, (name, bs, bb) in sorted(gq.TYPES.items()):
        raw = gq.quantize(t, x)
        check(len(raw) == gq.nbytes(t, x.size), "%s: %d bytes for %d values" % (name, len(raw), x.size))
        y = gq.dequantize(t, raw, x.size).reshape(x.shape)
        err = float(np.sqrt(((x - y) ** 2).mean()))
        check(err <= BOUND[t], "%s: rms error %.4f <= %g" % (name, err, BOUND[t]))
        # Dequantized values are fixed points: quantizing them again changes
        # nothing for the 32-blocks, and stays within bound for the K types.
        raw2 = gq.quantize(t, y)
        y2 = gq.dequantize(t, raw2, x.size).reshape(x.shape)
        e2 = float(np.abs(y2 - y).max())
        check(e2 <= (0 if bs == 1 else 2 * BOUND[t] + 1e-6), "%s: requantize moves %.2g" % (name, e2))
        z = gq.dequantize(t, gq.quantize(t, np.zeros((1, 256), np.float32)), 256)
        check(not z.any(), "%s: zeros stay zeros" % name)


def test_container():
    kvs = gen_gguf.EVERY_TYPE
    tensors = [("a", gq.F32, [3], np.arange(3, dtype="<f4").tobytes()),
               ("b", gq.Q8_0, [32, 2], gq.quantize(gq.Q8_0, np.ones((2, 32), np.float32)))]
    for version in (2, 3):
        for align in (32, 64):
            kv = kvs + [("general.alignment", gw.U32, align)]
            blob = gw.build(kv, tensors, version, align)
            v, meta, infos, start = gguf_read.parse(blob)
            check(v == version and start % align == 0, "v%d align %d: header" % (version, align))
            check(all(off % align == 0 for _, _, _, off in infos), "v%d align %d: offsets aligned" % (version, align))
            check(len(blob) == start + infos[-1][3] + len(tensors[-1][3]) + (-len(tensors[-1][3]) % align),
                  "v%d align %d: data section size" % (version, align))

    blob = gw.build(kvs, tensors)
    _, meta, _, _ = gguf_read.parse(blob)

    def plain(v):
        return [plain(i) for i in v.items] if isinstance(v, gw.Array) else v
    for k, vt, v in kvs:
        want = plain(v)
        if vt == gw.F32:
            want = float(np.float32(want))
        check(meta[k] == want, "value type %d round trip (%s)" % (vt, k))


def test_convert(tmp):
    src = os.path.join(tmp, "hf")
    gen_gguf.hf_model(src, dict(dim=32, ffn=64, heads=2, kv=1, hd=16, layers=1), False, 3)
    out = os.path.join(tmp, "m.gguf")
    script = os.path.join(HERE, "gguf_write.py")
    r = subprocess.run([sys.executable, script, src, out], capture_output=True, text=True)
    check(r.returncode == 0, "gguf_write.py converts (%s)" % r.stderr.strip())
    r = subprocess.run([sys.executable, script, src, out], capture_output=True, text=True)
    check(r.returncode == 1 and "exists; pass --force" in r.stderr and len(r.stderr.splitlines()) == 1,
          "no overwrite without --force")
    r = subprocess.run([sys.executable, script, "--force", "--type", "q8_0", "--version", "2", src, out],
                       capture_output=True, text=True)
    check(r.returncode == 0 and not os.path.exists(out + ".tmp"), "--force --type --version")
    r = subprocess.run([sys.executable, script, os.path.join(tmp, "nowhere"), out + "2"],
                       capture_output=True, text=True)
    check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and not os.path.exists(out + "2"),
          "missing input: one line, no output")

    blob = gw.convert(src, "F32")
    path = os.path.join(tmp, "f.gguf")
    open(path, "wb").write(blob)
    _, meta, t = gguf_read.load(path)
    w, _, _ = st_io.read(os.path.join(src, "model.safetensors"))
    check(np.array_equal(t["token_embd.weight"][1], w["model.embed_tokens.weight"]), "token_embd is the embedding")
    check(np.array_equal(t["output.weight"][1], w["lm_head.weight"]), "output is lm_head (untied)")
    q = t["blk.0.attn_q.weight"][1]
    hq = w["model.layers.0.self_attn.q_proj.weight"]
    # Meta row 2i + j of a head = HF row j * hd/2 + i.
    check(np.array_equal(q[2 * 3 + 1], hq[1 * 8 + 3]) and np.array_equal(q[16 + 2 * 5], hq[16 + 5]),
          "q rows back in Meta's pair order")
    check(np.array_equal(gw.meta_to_hf_rows(q, 2), hq), "q rows: the permutation inverts")
    f = t["rope_freqs.weight"][1]
    check(f.shape == (8,) and f[0] == 1 and f[-1] == 8 and 1 < f[4] < 8, "rope_freqs: high 1, low 8, a blend between")
    tok = json.load(open(os.path.join(src, "tokenizer.json")))
    toks = meta["tokenizer.ggml.tokens"]
    check(all(toks[i] == s for s, i in tok["model"]["vocab"].items()) and
          all(toks[a["id"]] == a["content"] for a in tok["added_tokens"]), "token strings at their ids")
    check(meta["tokenizer.ggml.token_type"][277] == 3 and meta["tokenizer.ggml.token_type"][0] == 1,
          "token types: control for the special tokens")
    check(meta["tokenizer.ggml.merges"] == tok["model"]["merges"], "merges")
    check(meta["tokenizer.ggml.bos_token_id"] == 277 and meta["tokenizer.ggml.eos_token_id"] == 278, "bos, eos")

    # The twin of a quantized file holds exactly the dequantized values.
    qpath = os.path.join(tmp, "q.gguf")
    open(qpath, "wb").write(gw.convert(src, "Q4_0"))
    gguf_read.twin(qpath, os.path.join(tmp, "twin"))
    tw, _, _ = st_io.read(os.path.join(tmp, "twin", "model.safetensors"))
    _, _, qt = gguf_read.load(qpath)
    check(np.array_equal(tw["model.layers.0.self_attn.q_proj.weight"],
                         gw.meta_to_hf_rows(qt["blk.0.attn_q.weight"][1], 2)), "twin: dequantized, HF rows")
    cfg = json.load(open(os.path.join(tmp, "twin", "config.json")))
    check(cfg["rope_scaling"]["rope_type"] == "llama3" and cfg["tie_word_embeddings"] is False, "twin config")


def test_fixtures(tmp):
    data = os.path.join(HERE, "..", "data", "gguf")
    out = os.path.join(tmp, "gguf")
    gen_gguf.main_into(out)
    names = sorted(os.listdir(out))
    check(names == sorted(n for n in os.listdir(data) if n != "README.md"),
          "tests/data/gguf has the generated file names")
    same = all(filecmp.cmp(os.path.join(out, n), os.path.join(data, n), shallow=False)
               for n in names if os.path.isfile(os.path.join(out, n)))
    same = same and all(filecmp.cmp(os.path.join(out, "tiny-f32-hf", n), os.path.join(data, "tiny-f32-hf", n),
                                    shallow=False) for n in os.listdir(os.path.join(out, "tiny-f32-hf")))
    same = same and sorted(os.listdir(os.path.join(out, "golden"))) == sorted(os.listdir(os.path.join(data, "golden")))
    same = same and all(filecmp.cmp(os.path.join(out, "golden", n), os.path.join(data, "golden", n), shallow=False)
                        for n in os.listdir(os.path.join(out, "golden")))
    check(same, "tests/data/gguf is byte for byte what gen_gguf.py writes")
    # The F32 pair: the GGUF's twin is the HF directory, value for value.
    gguf_read.twin(os.path.join(data, "tiny-f32.gguf"), os.path.join(tmp, "f32twin"))
    a, _, _ = st_io.read(os.path.join(tmp, "f32twin", "model.safetensors"))
    b, _, _ = st_io.read(os.path.join(data, "tiny-f32-hf", "model.safetensors"))
    check(sorted(a) == sorted(b) and all(np.array_equal(a[k], b[k]) for k in a),
          "tiny-f32.gguf holds exactly tiny-f32-hf's weights")
    # Block vectors: the .f32 values are the blocks' dequantization.
    for t, (name, bs, _) in gq.TYPES.items():
        if bs > 1:
            raw = open(os.path.join(data, "blocks-%s.bin" % name.lower()), "rb").read()
            want = np.fromfile(os.path.join(data, "blocks-%s.f32" % name.lower()), dtype="<f4")
            check(np.array_equal(gq.dequantize(t, raw, 3 * bs), want), "blocks-%s: 3 blocks" % name.lower())
    for n in names:
        if n.startswith("tiny-") and n.endswith(".gguf"):
            try:
                gguf_read.load(os.path.join(data, n))
                good = True
            except gguf_read.GGUFError:
                good = False
            check(good, "%s reads back" % n)
        if n.startswith("bad-"):
            try:
                gguf_read.load(os.path.join(data, n))
                bad = False
            except (gguf_read.GGUFError, UnicodeDecodeError, ValueError, KeyError, AssertionError):
                bad = True
            if n in ("bad-missing-block-count.gguf", "bad-duplicate-tensor.gguf", "bad-unaligned-offset.gguf"):
                continue  # a container reader accepts these; the model loader does not
            check(bad, "%s is refused" % n)


def test_demo():
    """data/demo/model-q4_k_m.gguf: regenerates the same; its gpt2 merges
    (recovered from the tiktoken ranks) tokenize the seed prompt to the
    demo's ids."""
    import re
    path = os.path.join(gen_gguf.DEMO, "model-q4_k_m.gguf")
    blob = gen_gguf.demo_q4_k_m()
    check(blob == open(path, "rb").read(), "model-q4_k_m.gguf is what gen_gguf.py --demo writes")
    _, m, _, _ = gguf_read.parse(blob)
    toks = m["tokenizer.ggml.tokens"]
    tid = {t: i for i, t in enumerate(toks)}
    rank = {tuple(x.split(" ")): i for i, x in enumerate(m["tokenizer.ggml.merges"])}
    bc = gw._byte_chars()
    prompt = "the answer to the ultimate question of life, the universe, and everything is "
    ids = [m["tokenizer.ggml.bos_token_id"]]
    for piece in re.findall(r" ?[a-z]+|,| +", prompt):  # Llama 3's pre-split, for this text
        w = [bc[b] for b in piece.encode()]
        while len(w) > 1:
            r, i = min((rank.get((w[i], w[i + 1]), 1 << 30), i) for i in range(len(w) - 1))
            if r == 1 << 30:
                break
            w[i:i + 2] = [w[i] + w[i + 1]]
        ids += [tid[x] for x in w]
    check(ids == [4096, 259, 293, 273, 264, 302, 299, 268, 295, 44, 264, 304, 44, 269, 297, 275, 32],
          "demo GGUF merges give the demo's prompt ids")
    check(toks[4096] == "<|begin_of_text|>" and toks[4105] == "<|eot_id|>" and len(toks) == 4352,
          "demo GGUF: the specials after the ranks")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        test_quants()
        test_container()
        test_convert(tmp)
        test_fixtures(tmp)
        test_demo()
    print("%d failed" % fails)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
