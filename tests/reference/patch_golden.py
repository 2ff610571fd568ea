#!/usr/bin/python3
"""Golden tensors for patched and ablated runs, from the float64 reference.

On the f32_gqa model and its prompt, runs reference.forward_hf with a patch
hook (the prompt pass only; decode steps run on from the patched cache) and
writes, beside golden.safetensors:

  patch_head.safetensors   layers.1.attn[:,2,:] = 0      (--ablate layers.1.head.2)
  patch_resid.safetensors  layers.0.resid_out = the same point of another
                           prompt (PROMPT_B), computed by the reference too
  patch_probs.safetensors  layers.0.probs[1,5,:] = probs_row.npy (written here)

Metadata "patch" names the patch; "tokens", "generated", "n_generate" as in
golden.safetensors. Usage: /usr/bin/python3 tests/reference/patch_golden.py
"""
import json
import os
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as ref  # noqa: E402
import st_io  # noqa: E402
from gen_models import MODELS, N_GENERATE, OUT_ROOT  # noqa: E402

MODEL = "f32_gqa"
PROMPT_B = [254, 40, 201, 88, 120, 142, 64, 7, 9]  # another prompt, as long as the model's
PROBS_ROW = np.array([0.5, 0.0, 0.25, 0.0, 0.125, 0.125, 0.0, 0.0, 0.0], dtype="<f4")


def run(cfg, W, prompt, patch):
    """Prompt pass with the hook, then greedy decode steps without it."""
    freqs = ref.inv_freq(cfg)
    T = len(prompt)
    R, cache = ref.forward_hf(cfg, W, prompt, 0, [], freqs, patch)
    records = [("", "rope_freqs", freqs)] + [("", k, v) for k, v in ref.to_debugger_convention(R).items()]
    generated = [int(np.argmax(R["logits"][T - 1]))]
    s = 1
    while s < N_GENERATE and generated[-1] not in cfg.eos:
        Rs, cache = ref.forward_hf(cfg, W, [generated[s - 1]], T + s - 1, cache, freqs)
        records += [("step.%d." % s, k, v) for k, v in ref.to_debugger_convention(Rs).items()]
        generated.append(int(np.argmax(Rs["logits"][0])))
        s += 1
    return R, records, generated


def write(d, fname, prompt, what, records, generated):
    f64 = [(pre + k, "F64", np.ascontiguousarray(v, dtype="<f8")) for pre, k, v in records if k != "tokens"]
    i32 = [(pre + k, "I32", np.ascontiguousarray(v, dtype="<i4")) for pre, k, v in records if k == "tokens"]
    meta = {"tokens": json.dumps(prompt), "n_generate": str(N_GENERATE), "generated": json.dumps(generated),
            "patch": what, "reference": "float64 numpy, HF convention"}
    path = os.path.join(d, fname)
    st_io.write(path + ".tmp", f64 + i32, meta)
    os.replace(path + ".tmp", path)
    return path


def only(name, fn):
    """A hook that changes one point."""
    return lambda n, a: fn(a.copy()) if n == name else a


def main():
    m = next(m for m in MODELS if m["name"] == MODEL)
    d = os.path.join(OUT_ROOT, MODEL)
    cfg, W = ref.load_model(d)
    prompt = list(m["prompt"])
    assert len(PROMPT_B) == len(prompt)
    clean, _, clean_gen = run(cfg, W, prompt, ref.no_patch)

    def zero_head(a):
        a[:, 2, :] = 0
        return a
    cases = [("patch_head.safetensors", "layers.1.attn[:,2,:] = zeros", only("layers.1.attn", zero_head))]

    B, _, _ = run(cfg, W, PROMPT_B, ref.no_patch)
    resid_b = B["layers.0.resid_out"]
    cases.append(("patch_resid.safetensors", "layers.0.resid_out from PROMPT_B",
                  only("layers.0.resid_out", lambda a: resid_b.copy())))

    def row(a):
        a[1, 5, :] = PROBS_ROW.astype(np.float64)
        return a
    cases.append(("patch_probs.safetensors", "layers.0.probs[1,5,:] = probs_row.npy", only("layers.0.probs", row)))
    npy = os.path.join(d, "probs_row.npy")
    np.save(npy + ".tmp.npy", PROBS_ROW)
    os.replace(npy + ".tmp.npy", npy)

    for fname, what, hook in cases:
        R, records, gen = run(cfg, W, prompt, hook)
        path = write(d, fname, prompt, what, records, gen)
        dl = np.abs(R["logits"][-1] - clean["logits"][-1]).max()
        print("%-24s %-44s generated %s (clean %s), last logits moved %.3g" % (fname, what, gen, clean_gen, dl))
        assert os.path.getsize(path) > 0
    meta_b = os.path.join(d, "prompt_b.json")
    with open(meta_b + ".tmp", "w") as f:
        json.dump(PROMPT_B, f)
    os.replace(meta_b + ".tmp", meta_b)


if __name__ == "__main__":
    main()
