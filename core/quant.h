/* quant.h - GGUF's block-quantized weights, widened to float32.
 *
 * A block type stores a row as blocks of 32 or 256 values: each block has
 * one or two f16 scales (and, for the K types, small per-group scales) and
 * each value is a small integer. Dequantizing is a few multiplies per value
 * in float32, in the order the format defines, so every reader gets the
 * same floats bit for bit:
 *
 *   Q8_0  32 values, 34 B: f16 d; i8 q[32]                     x = d*q
 *   Q4_0  32 values, 18 B: f16 d; u8 qs[16]                     x = d*(q-8)
 *         value j in the low nibble of qs[j], value j+16 in the high one
 *   Q4_1  32 values, 20 B: f16 d, f16 m; u8 qs[16]             x = d*q + m
 *   Q5_0  32 values, 22 B: f16 d; u32 qh; u8 qs[16]             x = d*(q-16)
 *         bit j of qh is bit 4 of value j
 *   Q5_1  32 values, 24 B: f16 d, f16 m; u32 qh; u8 qs[16]     x = d*q + m
 *   Q2_K 256 values, 84 B: u8 scales[16] (low nibble: scale, high: min of
 *         each group of 16); u8 qs[64] (2 bits a value); f16 d, f16 dmin
 *                                          x = (d*sc)*q - (dmin*mn)
 *   Q3_K 256 values, 110 B: u8 hmask[32] (bit 2 of each value); u8 qs[64]
 *         (bits 0-1); u8 scales[12] (sixteen 6-bit scales, biased by 32);
 *         f16 d                            x = (d*(sc-32))*(q-4)
 *   Q4_K 256 values, 144 B: f16 d, f16 dmin; u8 scales[12] (eight 6-bit
 *         scales and mins, one per group of 32); u8 qs[128]
 *                                          x = (d*sc)*q - (dmin*mn)
 *   Q5_K 256 values, 176 B: as Q4_K with u8 qh[32] (bit 4 of each value)
 *         before qs
 *   Q6_K 256 values, 210 B: u8 ql[128] (bits 0-3); u8 qh[64] (bits 4-5);
 *         i8 scales[16] (one per group of 16); f16 d
 *                                          x = (d*sc)*(q-32)
 *
 * Products in brackets are rounded to float32 once per group, then used
 * for each of its values. All little-endian; blocks may sit at any byte
 * offset (read through memcpy or unaligned loads).
 */
#ifndef LD_QUANT_H
#define LD_QUANT_H

#include <stddef.h>

#include "dtype.h"

/* out (n) = the n values of the blocks at src, of block type t; n is a
 * multiple of t's block. NaN and Inf scales give what IEEE float32
 * arithmetic gives (Inf * 0 = NaN). */
typedef void ld_dequant_fn(float *out, const void *src, enum ld_dtype t, size_t n);

/* Portable C, any CPU. */
ld_dequant_fn ld_dequant;
/* The same values, bit for bit, with AVX2 or AVX-512F for the types
 * weights mostly come in (Q8_0, Q4_K, Q5_K, Q6_K; the others as
 * ld_dequant). Only on a CPU that runs them (ld_kernel_supported); on other
 * machines they are ld_dequant. */
ld_dequant_fn ld_dequant_avx2;
ld_dequant_fn ld_dequant_avx512;

#endif
