#!/usr/bin/python3
"""Golden tensors for the bundled demo model (data/demo) on the seed prompt.

Runs the float64 reference (reference.py) on data/demo and moves the result
to tests/data/demo/golden.safetensors, where tests/test_golden.c finds it.
Rerun after retraining the demo model:

    /usr/bin/python3 tests/reference/demo_golden.py
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(ROOT, "data", "demo")
OUT = os.path.join(ROOT, "tests", "data", "demo")

# "the answer to the ultimate question of life, the universe, and everything is "
# with the demo tokenizer (checked against `llamadbg tokenize` by the tests).
SEED_IDS = [4096, 259, 293, 273, 264, 302, 299, 268, 295, 44, 264, 304, 44, 269, 297, 275, 32]


def main():
    r = reference.run_model({"name": "demo", "prompt": SEED_IDS}, d=DEMO, n_generate=2,
                            lens_k=reference.LENS_K)
    os.makedirs(OUT, exist_ok=True)
    shutil.move(os.path.join(DEMO, "golden.safetensors"), os.path.join(OUT, "golden.safetensors"))
    print("demo: generated %s, %d tensors, %d bytes" % (r["generated"], r["n"], r["bytes"]))


if __name__ == "__main__":
    main()
