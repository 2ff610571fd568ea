#!/usr/bin/python3
"""Golden tensors for a GGUF model: its dequantized weights, as an F32
Hugging Face directory (gguf_read.py --twin), run through the float64
reference (reference.py).

    gguf_golden.py FILE.gguf OUT_DIR [ID,ID,...]

writes OUT_DIR/config.json, model.safetensors and golden.safetensors (the
trace points of the prompt ids, default 1,17,42,5, plus 3 greedy steps).
A C test traces FILE.gguf on the same ids and compares every point.
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gguf_read  # noqa: E402
import reference  # noqa: E402


def main():
    if len(sys.argv) not in (3, 4):
        print("usage: gguf_golden.py FILE.gguf OUT_DIR [ID,ID,...]", file=sys.stderr)
        return 2
    ids = [int(x) for x in (sys.argv[3] if len(sys.argv) == 4 else "1,17,42,5").split(",")]
    try:
        gguf_read.twin(sys.argv[1], sys.argv[2])
    except (gguf_read.GGUFError, OSError) as e:
        print("gguf_golden: %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 1
    r = reference.run_model({"name": os.path.basename(sys.argv[1]), "prompt": ids}, d=sys.argv[2])
    print("gguf_golden: %s: generated %s, %d tensors" % (sys.argv[2], r["generated"], r["n"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
