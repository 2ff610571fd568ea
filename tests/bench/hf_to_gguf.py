#!/usr/bin/python3
"""Convert a Hugging Face LLaMA checkpoint to a GGUF file for llama.cpp.

A benchmark helper, not part of llamadbg: tests/bench/vs_llamacpp.sh times
llama.cpp's llama-bench on the same random models that `make bench` times
llamadbg on, and llama.cpp reads only GGUF. The weights' values are
untouched; only their layout is converted, as llama.cpp's own
convert_hf_to_gguf.py does for LlamaForCausalLM:

    hf_to_gguf.py [--force] MODEL_DIR OUT.gguf

MODEL_DIR holds config.json and one model.safetensors with BF16 matrices
(tied or untied lm_head), e.g. build/bench/llama1b from tests/bench/run.sh.
What changes on the way:

- names: model.layers.3.self_attn.q_proj.weight -> blk.3.attn_q.weight;
- q and k rows: Hugging Face stores each head's rows for rotate-half RoPE
  (first elements of all pairs, then second elements); llama.cpp rotates
  adjacent pairs as Meta's checkpoints do, so each head's rows go back to
  interleaved order;
- norm weights: bf16 widened to F32, which is exact and what llama.cpp's
  converter stores for 1-D tensors; matrices stay BF16 (ggml type 30),
  byte for byte;
- rope_scaling "llama3" (Llama 3.1/3.2) becomes a rope_freqs tensor of
  per-frequency factors, as llama.cpp's converter computes them;
- no tokenizer: tokenizer.ggml.model "none" makes llama.cpp add vocab_size
  placeholder tokens, enough to evaluate token ids (llama-bench does).

Standard library only; tensors are streamed in chunks, so memory stays
small even for the 16 GB Llama-3-8B shape. The file is written to
OUT.gguf.tmp and renamed when complete. Errors are one line naming the
file, and the exit status is non-zero.
"""
import argparse
import json
import math
import mmap
import os
import signal
import struct
import sys

CHUNK = 16 << 20  # bytes copied at a time: streams at disk speed, little memory
ALIGN = 32        # GGUF's default data alignment (general.alignment)

# ggml tensor types and the llama.cpp file type they add up to.
GGML_F32 = 0
GGML_BF16 = 30
LLAMA_FTYPE_MOSTLY_BF16 = 32

# GGUF metadata value types.
GGUF_U32 = 4
GGUF_F32 = 6
GGUF_STR = 8

# Each layer's tensors: Hugging Face name, GGUF name, expected shape in
# PyTorch order [rows, columns] (names of the sizes computed from the
# config), and how the bytes move. "rope" rows are un-permuted per head; the
# last column says whose head count that is.
LAYER_TENSORS = (
    ("input_layernorm.weight",          "attn_norm.weight",   ("dim",),          "norm", None),
    ("self_attn.q_proj.weight",         "attn_q.weight",      ("q_dim", "dim"),  "rope", "n_heads"),
    ("self_attn.k_proj.weight",         "attn_k.weight",      ("kv_dim", "dim"), "rope", "n_kv_heads"),
    ("self_attn.v_proj.weight",         "attn_v.weight",      ("kv_dim", "dim"), "copy", None),
    ("self_attn.o_proj.weight",         "attn_output.weight", ("dim", "q_dim"),  "copy", None),
    ("post_attention_layernorm.weight", "ffn_norm.weight",    ("dim",),          "norm", None),
    ("mlp.gate_proj.weight",            "ffn_gate.weight",    ("ffn", "dim"),    "copy", None),
    ("mlp.up_proj.weight",              "ffn_up.weight",      ("ffn", "dim"),    "copy", None),
    ("mlp.down_proj.weight",            "ffn_down.weight",    ("dim", "ffn"),    "copy", None),
)


class ConvertError(Exception):
    """A problem with the input or output files; the message is the whole story."""


# ---- the input: config.json ---------------------------------------------

def read_config(model_dir):
    """config.json -> dict of the sizes the conversion needs."""
    path = os.path.join(model_dir, "config.json")
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except OSError as e:
        raise ConvertError("%s: %s" % (path, e.strerror))
    except ValueError as e:
        raise ConvertError("%s: not valid JSON (%s)" % (path, e))
    if not isinstance(cfg, dict):
        raise ConvertError("%s: not a JSON object" % path)

    archs = cfg.get("architectures") or ["LlamaForCausalLM"]
    if "LlamaForCausalLM" not in archs:
        raise ConvertError("%s: architectures is %s, only LlamaForCausalLM is supported"
                           % (path, archs))

    def get(key, kind, default=None):
        v = cfg.get(key, default)
        if v is None:
            raise ConvertError("%s: missing %s" % (path, key))
        # bool is an int in Python; a true/false size is still a mistake.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                (kind is int and v != int(v)) or v <= 0:
            raise ConvertError("%s: %s is %r, expected a positive %s"
                               % (path, key, v, kind.__name__))
        return kind(v)

    c = {
        "dim": get("hidden_size", int),
        "ffn": get("intermediate_size", int),
        "n_layers": get("num_hidden_layers", int),
        "n_heads": get("num_attention_heads", int),
        "vocab": get("vocab_size", int),
        "max_pos": get("max_position_embeddings", int),
        "eps": get("rms_norm_eps", float),
        "theta": get("rope_theta", float, 10000.0),  # Hugging Face's default
    }
    c["n_kv_heads"] = get("num_key_value_heads", int, c["n_heads"])
    c["head_dim"] = get("head_dim", int, c["dim"] // c["n_heads"])
    if c["head_dim"] % 2:
        raise ConvertError("%s: head_dim %d is odd; RoPE rotates pairs" % (path, c["head_dim"]))
    c["q_dim"] = c["n_heads"] * c["head_dim"]
    c["kv_dim"] = c["n_kv_heads"] * c["head_dim"]
    # Hugging Face's LlamaConfig defaults to an untied lm_head.
    c["tied"] = bool(cfg.get("tie_word_embeddings", False))

    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type")) if isinstance(rs, dict) else rs
    if kind not in (None, "default", "llama3"):
        raise ConvertError("%s: rope_scaling type %r is not supported (only llama3 or none)"
                           % (path, kind))
    c["rope_scaling"] = rs if kind == "llama3" else None
    return c


def llama3_rope_factors(c):
    """One factor per rotated pair (head_dim / 2), by the rule of Llama 3.1's
    reference code: high frequencies kept, low ones divided by `factor`, a
    smooth blend between. llama.cpp divides each RoPE frequency by these."""
    rs = c["rope_scaling"]
    factor = float(rs.get("factor", 8.0))
    low = float(rs.get("low_freq_factor", 1.0))
    high = float(rs.get("high_freq_factor", 4.0))
    old_ctx = float(rs.get("original_max_position_embeddings", 8192))
    low_wavelen, high_wavelen = old_ctx / low, old_ctx / high
    factors = []
    for i in range(0, c["head_dim"], 2):
        wavelen = 2 * math.pi * c["theta"] ** (i / c["head_dim"])  # 2 pi / frequency
        if wavelen < high_wavelen:
            factors.append(1.0)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return factors


# ---- the input: model.safetensors ---------------------------------------

class Safetensors:
    """A safetensors file's header, and streamed reads of its tensors.

    Format: u64 little-endian N, N bytes of JSON {name: {dtype, shape,
    data_offsets [begin, end)}}, then the data, offsets relative to 8 + N.
    """

    ELEM_BYTES = {"BF16": 2, "F32": 4}  # the dtypes converted here

    def __init__(self, path):
        self.path = path
        try:
            self.f = open(path, "rb")
        except OSError as e:
            raise ConvertError("%s: %s" % (path, e.strerror))
        self.size = os.fstat(self.f.fileno()).st_size
        raw = self.f.read(8)
        if len(raw) < 8:
            raise ConvertError("%s: too short for a safetensors file (%d bytes)" % (path, self.size))
        (n,) = struct.unpack("<Q", raw)
        if n > self.size - 8:
            raise ConvertError("%s: header length %d runs past the end of the file (%d bytes)"
                               % (path, n, self.size))
        try:
            header = json.loads(self.f.read(n))
        except ValueError as e:
            raise ConvertError("%s: header is not valid JSON (%s)" % (path, e))
        if not isinstance(header, dict):
            raise ConvertError("%s: header is not a JSON object" % path)
        header.pop("__metadata__", None)
        self.tensors = header
        self.data_start = 8 + n
        # Read the data through a mapping with the hint llamadbg maps
        # weights with (core/util.c), so that pages this brings into the
        # page cache are laid out as llamadbg's own first read would lay
        # them: in 2 MB folios where the kernel can. llamadbg runs slower
        # on a model cached in smaller pieces (README.md).
        self.map = mmap.mmap(self.f.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_HUGEPAGE"):
            self.map.madvise(mmap.MADV_HUGEPAGE)

    def locate(self, name, shape, dtypes):
        """(dtype, absolute offset, bytes) of NAME, after checking that it
        exists, has SHAPE and one of DTYPES, and lies inside the file."""
        t = self.tensors.get(name)
        if t is None:
            raise ConvertError("%s: missing tensor %s" % (self.path, name))
        if not isinstance(t, dict):
            raise ConvertError("%s: %s has no dtype, shape and data_offsets" % (self.path, name))
        if t.get("dtype") not in dtypes:
            raise ConvertError("%s: %s is %s, only %s is supported here"
                               % (self.path, name, t.get("dtype"), " or ".join(dtypes)))
        if list(t.get("shape", [])) != list(shape):
            raise ConvertError("%s: %s has shape %s, config.json says %s"
                               % (self.path, name, t.get("shape"), list(shape)))
        try:
            begin, end = (int(x) for x in t["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConvertError("%s: %s has no valid data_offsets" % (self.path, name))
        nbytes = math.prod(shape) * self.ELEM_BYTES[t["dtype"]]
        if end - begin != nbytes:
            raise ConvertError("%s: %s spans %d bytes, its shape and dtype need %d"
                               % (self.path, name, end - begin, nbytes))
        if self.data_start + end > self.size:
            raise ConvertError("%s: %s ends at byte %d but the file has %d (truncated?)"
                               % (self.path, name, self.data_start + end, self.size))
        return t["dtype"], self.data_start + begin, nbytes

    def read_at(self, offset, n):
        b = self.map[offset:offset + n]
        assert len(b) == n, (offset, n)  # locate() checked the bounds
        return b


# ---- what to write -------------------------------------------------------

class Tensor:
    """One GGUF tensor: its name, ggml type, dimensions innermost first
    (GGUF's order, the reverse of PyTorch's), size, and a function that
    streams its bytes to an open file."""

    def __init__(self, name, ggml_type, torch_shape, nbytes, write):
        self.name = name
        self.ggml_type = ggml_type
        self.ne = list(reversed(torch_shape))
        self.nbytes = nbytes
        self.write = write


def copy_tensor(st, hf_name, gguf_name, shape):
    """A matrix, BF16 bytes as they are."""
    _, offset, nbytes = st.locate(hf_name, shape, ("BF16",))

    def write(out):
        done = 0
        while done < nbytes:
            n = min(CHUNK, nbytes - done)
            out.write(st.read_at(offset + done, n))
            done += n
    return Tensor(gguf_name, GGML_BF16, shape, nbytes, write)


def rope_tensor(st, hf_name, gguf_name, shape, n_heads):
    """q_proj or k_proj with each head's rows un-permuted.

    Within a head of head_dim rows, Hugging Face row j * half + i (j = 0, 1;
    i < half) holds element j of rotated pair i; Meta and llama.cpp keep the
    pair's two elements adjacent, at rows 2i and 2i + 1. The inverse of the
    permute in transformers' convert_llama_weights_to_hf.py.
    """
    _, offset, nbytes = st.locate(hf_name, shape, ("BF16",))
    rows, cols = shape
    row_bytes = cols * 2
    head_rows = rows // n_heads
    half = head_rows // 2
    if head_rows * n_heads != rows or half * 2 != head_rows:
        raise ConvertError("%s: %s has %d rows, not %d heads of an even size"
                           % (st.path, hf_name, rows, n_heads))

    def write(out):
        for h in range(n_heads):  # one head at a time: at most 1 MB in memory
            head = memoryview(st.read_at(offset + h * head_rows * row_bytes,
                                         head_rows * row_bytes))
            for i in range(half):
                for j in (0, 1):
                    r = j * half + i
                    out.write(head[r * row_bytes:(r + 1) * row_bytes])
    return Tensor(gguf_name, GGML_BF16, shape, nbytes, write)


def norm_tensor(st, hf_name, gguf_name, shape):
    """A norm weight vector as F32: bf16 is the top half of an f32, so
    widening is a shift and exact."""
    dtype, offset, nbytes = st.locate(hf_name, shape, ("BF16", "F32"))
    n = math.prod(shape)

    def write(out):
        raw = st.read_at(offset, nbytes)
        if dtype == "F32":
            out.write(raw)
        else:
            halves = struct.unpack("<%dH" % n, raw)
            out.write(struct.pack("<%dI" % n, *(h << 16 for h in halves)))
    return Tensor(gguf_name, GGML_F32, shape, n * 4, write)


def const_tensor(gguf_name, values):
    """A small F32 vector computed here (the llama3 RoPE factors)."""
    data = struct.pack("<%df" % len(values), *values)
    return Tensor(gguf_name, GGML_F32, [len(values)], len(data), lambda out: out.write(data))


def plan_tensors(c, st):
    """Every output tensor in file order; checks every input tensor first,
    so a bad checkpoint fails before anything is written."""
    dim, vocab = c["dim"], c["vocab"]
    plan = [copy_tensor(st, "model.embed_tokens.weight", "token_embd.weight", [vocab, dim]),
            norm_tensor(st, "model.norm.weight", "output_norm.weight", [dim])]
    used = {"model.embed_tokens.weight", "model.norm.weight"}
    if not c["tied"]:
        # Tied models have no output.weight: llama.cpp then reuses token_embd.
        if "lm_head.weight" not in st.tensors:
            raise ConvertError("%s: missing tensor lm_head.weight (config.json: "
                               "tie_word_embeddings is false)" % st.path)
        plan.append(copy_tensor(st, "lm_head.weight", "output.weight", [vocab, dim]))
    # A tied checkpoint may still carry lm_head.weight, a copy of the embedding.
    used.add("lm_head.weight")
    if c["rope_scaling"]:
        plan.append(const_tensor("rope_freqs.weight", llama3_rope_factors(c)))

    for layer in range(c["n_layers"]):
        for hf, gguf, dims, how, heads in LAYER_TENSORS:
            hf_name = "model.layers.%d.%s" % (layer, hf)
            gguf_name = "blk.%d.%s" % (layer, gguf)
            shape = [c[d] for d in dims]
            if how == "norm":
                plan.append(norm_tensor(st, hf_name, gguf_name, shape))
            elif how == "rope":
                plan.append(rope_tensor(st, hf_name, gguf_name, shape, c[heads]))
            else:
                plan.append(copy_tensor(st, hf_name, gguf_name, shape))
            used.add(hf_name)

    # Anything else (biases, extra layers) would be silently dropped; refuse.
    # Old checkpoints store RoPE's inverse frequencies, which are derived.
    extra = sorted(n for n in st.tensors
                   if n not in used and not n.endswith("rotary_emb.inv_freq"))
    if extra:
        raise ConvertError("%s: unexpected tensor %s (%d not used in all); not a plain LLaMA?"
                           % (st.path, extra[0], len(extra)))
    return plan


def metadata(c, name):
    """The key/value pairs llama.cpp's llama loader reads, in GGUF order."""
    a = "llama."
    return [
        ("general.architecture", GGUF_STR, "llama"),
        ("general.name", GGUF_STR, name),
        ("general.file_type", GGUF_U32, LLAMA_FTYPE_MOSTLY_BF16),
        ("general.alignment", GGUF_U32, ALIGN),
        (a + "vocab_size", GGUF_U32, c["vocab"]),
        (a + "context_length", GGUF_U32, c["max_pos"]),
        (a + "embedding_length", GGUF_U32, c["dim"]),
        (a + "feed_forward_length", GGUF_U32, c["ffn"]),
        (a + "block_count", GGUF_U32, c["n_layers"]),
        (a + "attention.head_count", GGUF_U32, c["n_heads"]),
        (a + "attention.head_count_kv", GGUF_U32, c["n_kv_heads"]),
        (a + "attention.key_length", GGUF_U32, c["head_dim"]),
        (a + "attention.value_length", GGUF_U32, c["head_dim"]),
        (a + "rope.dimension_count", GGUF_U32, c["head_dim"]),
        (a + "rope.freq_base", GGUF_F32, c["theta"]),
        (a + "attention.layer_norm_rms_epsilon", GGUF_F32, c["eps"]),
        # No vocabulary: llama.cpp fills in vocab_size placeholder tokens.
        ("tokenizer.ggml.model", GGUF_STR, "none"),
    ]


# ---- the output: GGUF v3 -------------------------------------------------

def gguf_string(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def gguf_value(vtype, v):
    if vtype == GGUF_U32:
        return struct.pack("<I", v)
    if vtype == GGUF_F32:
        return struct.pack("<f", v)
    assert vtype == GGUF_STR, vtype
    return gguf_string(v)


def padding(n):
    return b"\0" * (-n % ALIGN)


def gguf_header(kvs, plan):
    """Magic, version, counts, metadata and tensor infos, padded so the data
    section starts aligned. Tensor offsets are relative to that start."""
    parts = [b"GGUF", struct.pack("<IQQ", 3, len(plan), len(kvs))]
    for key, vtype, v in kvs:
        parts += [gguf_string(key), struct.pack("<I", vtype), gguf_value(vtype, v)]
    offset = 0
    for t in plan:
        parts += [gguf_string(t.name), struct.pack("<I", len(t.ne)),
                  struct.pack("<%dQ" % len(t.ne), *t.ne), struct.pack("<IQ", t.ggml_type, offset)]
        offset += t.nbytes + len(padding(t.nbytes))
    head = b"".join(parts)
    return head + padding(len(head)), offset


def write_gguf(path, kvs, plan):
    head, data_bytes = gguf_header(kvs, plan)
    total = len(head) + data_bytes
    st = os.statvfs(os.path.dirname(os.path.abspath(path)))
    if st.f_bavail * st.f_frsize < total:
        raise ConvertError("%s: needs %.2f GB, only %.2f GB free"
                           % (path, total / 1e9, st.f_bavail * st.f_frsize / 1e9))
    with open(path, "wb") as out:
        out.write(head)
        for t in plan:
            start = out.tell()
            t.write(out)
            assert out.tell() - start == t.nbytes, t.name
            out.write(padding(t.nbytes))
        assert out.tell() == total
        # Durable before the rename, so OUT is never a half-written file.
        out.flush()
        os.fsync(out.fileno())
        # Drop the written pages from the page cache (as gen_model does):
        # llama.cpp then reads the file in as it would any model file, and
        # the 8B shape's 16 GB do not push other models out of memory.
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(out.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
    return total


def convert(model_dir, out_path, force):
    if os.path.exists(out_path) and not force:
        raise ConvertError("%s: exists; pass --force to overwrite it" % out_path)
    if os.path.exists(os.path.join(model_dir, "model.safetensors.index.json")):
        raise ConvertError("%s: sharded checkpoint (model.safetensors.index.json); "
                           "only a single model.safetensors is supported" % model_dir)
    c = read_config(model_dir)
    st = Safetensors(os.path.join(model_dir, "model.safetensors"))
    plan = plan_tensors(c, st)
    name = os.path.basename(os.path.normpath(model_dir))
    tmp = out_path + ".tmp"
    try:
        total = write_gguf(tmp, metadata(c, name), plan)
        os.replace(tmp, out_path)
    except BaseException:
        # Also on Ctrl-C: never leave a partial file that looks usable.
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return len(plan), total


def main():
    p = argparse.ArgumentParser(
        description="Convert a Hugging Face LlamaForCausalLM checkpoint (config.json + "
                    "model.safetensors, BF16) to GGUF for llama.cpp. Weights are not changed.")
    p.add_argument("model_dir", metavar="MODEL_DIR")
    p.add_argument("out", metavar="OUT.gguf")
    p.add_argument("--force", action="store_true", help="overwrite OUT.gguf if it exists")
    args = p.parse_args()
    # kill's SIGTERM then unwinds like Ctrl-C, through convert()'s cleanup.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        n, total = convert(args.model_dir, args.out, args.force)
    except ConvertError as e:
        print("hf_to_gguf: %s" % e, file=sys.stderr)
        return 1
    except OSError as e:  # disk full, permissions: name the file
        print("hf_to_gguf: %s: %s" % (e.filename or args.out, e.strerror), file=sys.stderr)
        return 1
    print("hf_to_gguf: wrote %s, %d tensors, %d bytes (%.2f GB)" % (args.out, n, total, total / 1e9))
    return 0


if __name__ == "__main__":
    sys.exit(main())
