"""ggml weight types: quantize float32 rows to blocks and back, in NumPy.

Written from the block layouts of the GGUF/ggml format. Every function works
on a 2-D float32 array whose row length (GGUF's ne0) is a multiple of the
type's block size; blocks run along each row. Dequantization follows the
format's arithmetic in float32: for each block, scale (and minimum) times
the small integers, exactly what a reader computes.

Block layouts (little-endian, f16 = IEEE half):

  Q8_0  32 values, 34 B: f16 d; i8 q[32]                    x = d*q
  Q4_0  32 values, 18 B: f16 d; u8 qs[16]                    x = d*(q-8)
        value j in the low nibble of qs[j], value j+16 in the high nibble
  Q4_1  32 values, 20 B: f16 d, f16 m; u8 qs[16]            x = d*q + m
  Q5_0  32 values, 22 B: f16 d; u8 qh[4]; u8 qs[16]          x = d*(q-16)
        bit j of qh (a u32) is bit 4 of value j (and of j+16 at bit j+16)
  Q5_1  32 values, 24 B: f16 d, f16 m; u8 qh[4]; u8 qs[16]  x = d*q + m
  Q2_K 256 values, 84 B: u8 scales[16] (low nibble scale, high nibble min
        of each 16-value group); u8 qs[64] (2-bit); f16 d, f16 dmin
        x = d*sc*q - dmin*mn
  Q3_K 256 values, 110 B: u8 hmask[32]; u8 qs[64]; u8 scales[12] (sixteen
        6-bit scales, biased by 32); f16 d          x = d*(sc-32)*(q-4)
  Q4_K 256 values, 144 B: f16 d, f16 dmin; u8 scales[12] (eight 6-bit scales
        and eight 6-bit mins of 32-value groups); u8 qs[128]
        x = d*sc*q - dmin*mn
  Q5_K 256 values, 176 B: as Q4_K plus u8 qh[32] (bit 4 of each value)
  Q6_K 256 values, 210 B: u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d
        x = d*sc*(q-32), sixteen groups of 16

The quantizers here pick scales by simple rules (largest magnitude, or
min/max); they make valid blocks with the error bounds the self-tests check,
not llama.cpp's searched scales. Dequantization is the format itself.
"""
import numpy as np

F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 = 0, 1, 2, 3, 6, 7, 8
Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16 = 10, 11, 12, 13, 14, 30

# type -> (name, values per block, bytes per block)
TYPES = {
    F32: ("F32", 1, 4), F16: ("F16", 1, 2), BF16: ("BF16", 1, 2),
    Q8_0: ("Q8_0", 32, 34), Q4_0: ("Q4_0", 32, 18), Q4_1: ("Q4_1", 32, 20),
    Q5_0: ("Q5_0", 32, 22), Q5_1: ("Q5_1", 32, 24),
    Q2_K: ("Q2_K", 256, 84), Q3_K: ("Q3_K", 256, 110), Q4_K: ("Q4_K", 256, 144),
    Q5_K: ("Q5_K", 256, 176), Q6_K: ("Q6_K", 256, 210),
}
BY_NAME = {v[0]: k for k, v in TYPES.items()}


def nbytes(gtype, n):
    _, bs, bb = TYPES[gtype]
    assert n % bs == 0, (gtype, n)
    return n // bs * bb


def _f16(a):
    return np.asarray(a, dtype=np.float32).astype("<f2")


def _safe_inv(d):
    d = np.asarray(d, dtype=np.float32)
    out = np.zeros_like(d)
    nz = d != 0
    out[nz] = 1.0 / d[nz]
    return out


def _bytes(*cols):
    """Concatenate per-block byte columns (each [nblocks, k] uint8)."""
    return np.concatenate([np.ascontiguousarray(c).view(np.uint8).reshape(c.shape[0], -1)
                           for c in cols], axis=1).tobytes()


def _bf16_bits(x):
    bits = np.ascontiguousarray(x, dtype="<f4").view("<u4").astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")


# ---- quantize --------------------------------------------------------------

def _nib_pack(q):
    """[nb, 32] values 0..15 -> [nb, 16] bytes: j low, j+16 high."""
    return (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)


def _qh_pack(q):
    """bit 4 of each of 32 values -> u32 little-endian as 4 bytes."""
    bits = ((q >> 4) & 1).astype(np.uint32)
    word = (bits << np.arange(32, dtype=np.uint32)).sum(axis=1, dtype=np.uint64).astype("<u4")
    return word.reshape(-1, 1)


def _signed_max(b):
    """Per row of b, the value with the largest magnitude (sign kept)."""
    i = np.abs(b).argmax(axis=1)
    return b[np.arange(b.shape[0]), i]


def quantize(gtype, x):
    """float32 array [rows, n] -> bytes of GGUF tensor data."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if gtype == F32:
        return x.astype("<f4").tobytes()
    if gtype == F16:
        return x.astype("<f2").tobytes()
    if gtype == BF16:
        return _bf16_bits(x).tobytes()
    _, bs, _ = TYPES[gtype]
    assert x.shape[-1] % bs == 0, (TYPES[gtype][0], x.shape)
    b = x.reshape(-1, bs)
    nb = b.shape[0]
    if gtype == Q8_0:
        d = _f16(np.abs(b).max(axis=1) / 127)
        q = np.clip(np.rint(b * _safe_inv(d.astype(np.float32))[:, None]), -127, 127).astype(np.int8)
        return _bytes(d.reshape(nb, 1), q)
    if gtype in (Q4_0, Q5_0):
        half = 8 if gtype == Q4_0 else 16
        d = _f16(_signed_max(b) / -half)
        q = np.clip(np.floor(b * _safe_inv(d.astype(np.float32))[:, None] + half + 0.5),
                    0, 2 * half - 1).astype(np.uint32)
        if gtype == Q4_0:
            return _bytes(d.reshape(nb, 1), _nib_pack(q))
        return _bytes(d.reshape(nb, 1), _qh_pack(q), _nib_pack(q & 15))
    if gtype in (Q4_1, Q5_1):
        top = 15 if gtype == Q4_1 else 31
        lo, hi = b.min(axis=1), b.max(axis=1)
        d = _f16((hi - lo) / top)
        m = _f16(lo)
        q = np.clip(np.floor((b - m.astype(np.float32)[:, None]) *
                             _safe_inv(d.astype(np.float32))[:, None] + 0.5), 0, top).astype(np.uint32)
        if gtype == Q4_1:
            return _bytes(d.reshape(nb, 1), m.reshape(nb, 1), _nib_pack(q))
        return _bytes(d.reshape(nb, 1), m.reshape(nb, 1), _qh_pack(q), _nib_pack(q & 15))
    if gtype in (Q4_K, Q5_K):
        return _quantize_q45k(b, 15 if gtype == Q4_K else 31)
    if gtype == Q6_K:
        return _quantize_q6k(b)
    if gtype == Q2_K:
        return _quantize_q2k(b)
    if gtype == Q3_K:
        return _quantize_q3k(b)
    raise ValueError("no quantizer for type %d" % gtype)


def _group_scales(g, top, bits):
    """Groups g [nb, ngroups, gs] -> min-offset quantization with a per-group
    scale and min, themselves quantized to `bits` bits against one f16 d and
    one f16 dmin per block. Returns d, dmin, sc, mn, q."""
    lo = np.minimum(g.min(axis=2), 0)          # the offset is subtracted: min <= 0
    hi = g.max(axis=2)
    scale = (hi - lo) / top
    mins = -lo
    smax = (1 << bits) - 1
    d = _f16(scale.max(axis=1) / smax)
    dmin = _f16(mins.max(axis=1) / smax)
    df, dmf = d.astype(np.float32), dmin.astype(np.float32)
    sc = np.clip(np.rint(scale * _safe_inv(df)[:, None]), 0, smax).astype(np.uint32)
    mn = np.clip(np.rint(mins * _safe_inv(dmf)[:, None]), 0, smax).astype(np.uint32)
    es = (df[:, None] * sc).astype(np.float32)   # effective scale and min
    em = (dmf[:, None] * mn).astype(np.float32)
    q = np.clip(np.rint((g + em[:, :, None]) * _safe_inv(es)[:, :, None]), 0, top).astype(np.uint32)
    return d, dmin, sc, mn, q


def _pack_k4_scales(sc, mn):
    """Eight 6-bit scales and mins -> 12 bytes: bytes 0-3 scales 0-3 (low 6
    bits), 4-7 mins 0-3, 8-11 low nibbles of scales 4-7 and mins 4-7 (high
    nibble); the top 2 bits of scales/mins 4-7 sit in bits 6-7 of bytes
    0-3 / 4-7."""
    out = np.zeros((sc.shape[0], 12), dtype=np.uint32)
    out[:, 0:4] = sc[:, 0:4] | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = mn[:, 0:4] | ((mn[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((mn[:, 4:8] & 15) << 4)
    return out.astype(np.uint8)


def _quantize_q45k(b, top):
    nb = b.shape[0]
    d, dmin, sc, mn, q = _group_scales(b.reshape(nb, 8, 32), top, 6)
    scales = _pack_k4_scales(sc, mn)
    # qs: 4 chunks of 64 values; chunk c byte l = group 2c value l (low) |
    # group 2c+1 value l (high).
    lo4 = q & 15
    qs = (lo4[:, 0::2, :] | (lo4[:, 1::2, :] << 4)).reshape(nb, 128).astype(np.uint8)
    if top == 15:
        return _bytes(d.reshape(nb, 1), dmin.reshape(nb, 1), scales, qs)
    # qh byte l: bit g = bit 4 of value l of group g.
    hb = (q >> 4) & 1
    qh = (hb << np.arange(8, dtype=np.uint32)[None, :, None]).sum(axis=1).astype(np.uint8)
    return _bytes(d.reshape(nb, 1), dmin.reshape(nb, 1), scales, qh, qs)


def _quantize_q6k(b):
    nb = b.shape[0]
    g = b.reshape(nb, 16, 16)
    scale = _signed_max(g.reshape(-1, 16)).reshape(nb, 16) / -32
    d = _f16(np.abs(scale).max(axis=1) / 127)
    df = d.astype(np.float32)
    sc = np.clip(np.rint(scale * _safe_inv(df)[:, None]), -128, 127).astype(np.int8)
    es = (df[:, None] * sc).astype(np.float32)
    q = (np.clip(np.rint(g * _safe_inv(es)[:, :, None]), -32, 31) + 32).astype(np.uint32)
    q = q.reshape(nb, 2, 4, 32)  # half, quarter, value: value index 128h + 32k + l
    ql = np.zeros((nb, 2, 64), dtype=np.uint32)
    ql[:, :, 0:32] = (q[:, :, 0] & 15) | ((q[:, :, 2] & 15) << 4)
    ql[:, :, 32:64] = (q[:, :, 1] & 15) | ((q[:, :, 3] & 15) << 4)
    qh = ((q[:, :, 0] >> 4) | ((q[:, :, 1] >> 4) << 2) |
          ((q[:, :, 2] >> 4) << 4) | ((q[:, :, 3] >> 4) << 6))
    return _bytes(ql.reshape(nb, 128).astype(np.uint8), qh.reshape(nb, 64).astype(np.uint8),
                  sc, d.reshape(nb, 1))


def _q2q3_qs(q):
    """2-bit fields of 256 values -> 64 bytes: half h, byte l (0..31), shift
    2k holds value 128h + 32k + l."""
    nb = q.shape[0]
    q = (q & 3).reshape(nb, 2, 4, 32)
    qs = q[:, :, 0] | (q[:, :, 1] << 2) | (q[:, :, 2] << 4) | (q[:, :, 3] << 6)
    return qs.reshape(nb, 64).astype(np.uint8)


def _quantize_q2k(b):
    nb = b.shape[0]
    d, dmin, sc, mn, q = _group_scales(b.reshape(nb, 16, 16), 3, 4)
    scales = (sc | (mn << 4)).astype(np.uint8)
    return _bytes(scales, _q2q3_qs(q.reshape(nb, 256)), d.reshape(nb, 1), dmin.reshape(nb, 1))


def _quantize_q3k(b):
    nb = b.shape[0]
    g = b.reshape(nb, 16, 16)
    scale = _signed_max(g.reshape(-1, 16)).reshape(nb, 16) / -4
    # Scales are 6-bit signed (-32..31); the sign follows the largest value.
    d = _f16(np.abs(scale).max(axis=1) / 31)
    df = d.astype(np.float32)
    sc = np.clip(np.rint(scale * _safe_inv(df)[:, None]), -32, 31).astype(np.int32)
    es = (df[:, None] * sc).astype(np.float32)
    q = (np.clip(np.rint(g * _safe_inv(es)[:, :, None]), -4, 3) + 4).astype(np.uint32)
    q = q.reshape(nb, 256)
    # hmask byte l, bit j: bit 2 of value 32j + l.
    hb = ((q >> 2) & 1).reshape(nb, 8, 32)
    hmask = (hb << np.arange(8, dtype=np.uint32)[None, :, None]).sum(axis=1).astype(np.uint8)
    u = (sc + 32).astype(np.uint32)
    scales = np.zeros((nb, 12), dtype=np.uint32)
    scales[:, 0:8] = (u[:, 0:8] & 15) | ((u[:, 8:16] & 15) << 4)
    for j in range(16):
        scales[:, 8 + j % 4] |= (u[:, j] >> 4) << (2 * (j // 4))
    return _bytes(hmask, _q2q3_qs(q), scales.astype(np.uint8), d.reshape(nb, 1))


# ---- dequantize ------------------------------------------------------------

def _blocks(raw, gtype, n):
    _, bs, bb = TYPES[gtype]
    assert n % bs == 0 and len(raw) == n // bs * bb, (TYPES[gtype][0], n, len(raw))
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, bb)


def _h(blk, off):
    return blk[:, off:off + 2].copy().view("<f2").astype(np.float32).reshape(-1)


def _nib_unpack(qs):
    return np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.int32)


def _qh_bits(qh4):
    word = qh4.copy().view("<u4").reshape(-1, 1)
    return ((word >> np.arange(32, dtype=np.uint32)) & 1).astype(np.int32)


def _unpack_k4_scales(s):
    s = s.astype(np.uint32)
    sc = np.zeros((s.shape[0], 8), dtype=np.uint32)
    mn = np.zeros_like(sc)
    sc[:, 0:4] = s[:, 0:4] & 63
    mn[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc.astype(np.float32), mn.astype(np.float32)


def _q2q3_unpack(qs):
    nb = qs.shape[0]
    qs = qs.reshape(nb, 2, 1, 32).astype(np.uint32)
    shifts = np.array([0, 2, 4, 6], dtype=np.uint32).reshape(1, 1, 4, 1)
    return ((qs >> shifts) & 3).reshape(nb, 256).astype(np.int32)


def dequantize(gtype, raw, n):
    """GGUF tensor data of n values -> float32 array [n]."""
    if gtype == F32:
        return np.frombuffer(raw, dtype="<f4", count=n).astype(np.float32)
    if gtype == F16:
        return np.frombuffer(raw, dtype="<f2", count=n).astype(np.float32)
    if gtype == BF16:
        u = np.frombuffer(raw, dtype="<u2", count=n).astype(np.uint32) << 16
        return u.astype("<u4").view("<f4").astype(np.float32)
    blk = _blocks(raw, gtype, n)
    f = np.float32
    if gtype == Q8_0:
        return (_h(blk, 0)[:, None] * blk[:, 2:34].view(np.int8).astype(f)).reshape(-1)
    if gtype == Q4_0:
        q = _nib_unpack(blk[:, 2:18])
        return (_h(blk, 0)[:, None] * (q - 8).astype(f)).reshape(-1)
    if gtype == Q4_1:
        q = _nib_unpack(blk[:, 4:20])
        return (_h(blk, 0)[:, None] * q.astype(f) + _h(blk, 2)[:, None]).reshape(-1)
    if gtype == Q5_0:
        q = _nib_unpack(blk[:, 6:22]) | (_qh_bits(blk[:, 2:6]) << 4)
        return (_h(blk, 0)[:, None] * (q - 16).astype(f)).reshape(-1)
    if gtype == Q5_1:
        q = _nib_unpack(blk[:, 8:24]) | (_qh_bits(blk[:, 4:8]) << 4)
        return (_h(blk, 0)[:, None] * q.astype(f) + _h(blk, 2)[:, None]).reshape(-1)
    nb = blk.shape[0]
    if gtype in (Q4_K, Q5_K):
        d, dmin = _h(blk, 0), _h(blk, 2)
        sc, mn = _unpack_k4_scales(blk[:, 4:16])
        qs = blk[:, 16:144] if gtype == Q4_K else blk[:, 48:176]
        qs = qs.reshape(nb, 4, 32).astype(np.int32)
        q = np.stack([qs & 15, qs >> 4], axis=2).reshape(nb, 8, 32)
        if gtype == Q5_K:
            qh = blk[:, 16:48].astype(np.int32)
            q = q | (((qh[:, None, :] >> np.arange(8)[None, :, None]) & 1) << 4)
        es = (d[:, None] * sc).astype(f)
        em = (dmin[:, None] * mn).astype(f)
        return (es[:, :, None] * q.astype(f) - em[:, :, None]).reshape(-1)
    if gtype == Q6_K:
        ql = blk[:, 0:128].reshape(nb, 2, 64).astype(np.int32)
        qh = blk[:, 128:192].reshape(nb, 2, 32).astype(np.int32)
        sc = blk[:, 192:208].view(np.int8).astype(f)
        d = _h(blk, 208)
        q = np.stack([(ql[:, :, 0:32] & 15) | ((qh & 3) << 4),
                      (ql[:, :, 32:64] & 15) | (((qh >> 2) & 3) << 4),
                      (ql[:, :, 0:32] >> 4) | (((qh >> 4) & 3) << 4),
                      (ql[:, :, 32:64] >> 4) | (((qh >> 6) & 3) << 4)], axis=2)
        q = (q.reshape(nb, 16, 16) - 32).astype(f)
        es = (d[:, None] * sc).astype(f)
        return (es[:, :, None] * q).reshape(-1)
    if gtype == Q2_K:
        s = blk[:, 0:16].astype(np.uint32)
        q = _q2q3_unpack(blk[:, 16:80]).reshape(nb, 16, 16).astype(f)
        d, dmin = _h(blk, 80), _h(blk, 82)
        es = (d[:, None] * (s & 15).astype(f)).astype(f)
        em = (dmin[:, None] * (s >> 4).astype(f)).astype(f)
        return (es[:, :, None] * q - em[:, :, None]).reshape(-1)
    if gtype == Q3_K:
        hm = blk[:, 0:32].astype(np.int32)
        low = _q2q3_unpack(blk[:, 32:96])
        hb = ((hm[:, None, :] >> np.arange(8)[None, :, None]) & 1).reshape(nb, 256)
        q = (low + 4 * hb - 4).reshape(nb, 16, 16).astype(f)   # high bit clear: minus 4
        s = blk[:, 96:108].astype(np.int32)
        sc = np.zeros((nb, 16), dtype=np.int32)
        for j in range(16):
            lo4 = (s[:, j] & 15) if j < 8 else (s[:, j - 8] >> 4)
            sc[:, j] = lo4 | (((s[:, 8 + j % 4] >> (2 * (j // 4))) & 3) << 4)
        d = _h(blk, 108)
        es = (d[:, None] * (sc - 32).astype(f)).astype(f)
        return (es[:, :, None] * q).reshape(-1)
    raise ValueError("no dequantizer for type %d" % gtype)
