/* dtype.h - the element types a tensor can be stored in, and conversions.
 *
 * Weights stay in the dtype they were stored in (F32, BF16, F16, or one of
 * GGUF's block-quantized types) and are widened to float32 only while
 * computing. Traces store F32 (and I32 for token ids).
 *
 * A quantized type stores its values in blocks: 32 (or 256) values share a
 * scale (and a minimum), each value is a small integer. ld_dtype_block()
 * gives the values and bytes per block; plain types are blocks of one.
 */
#ifndef LD_DTYPE_H
#define LD_DTYPE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum ld_dtype {
	LD_DTYPE_INVALID = 0,
	LD_F32,  /* IEEE binary32 */
	LD_F16,  /* IEEE binary16: 1 sign, 5 exponent, 10 mantissa bits */
	LD_BF16, /* bfloat16: the top 16 bits of a binary32 */
	LD_F64,  /* IEEE binary64 (read-only: reference files) */
	LD_I32,  /* token ids */
	LD_I64,
	/* GGUF block types (quant.c dequantizes them; layouts in quant.h) */
	LD_Q8_0, /* 32 values in 34 bytes */
	LD_Q4_0, /* 32 values in 18 bytes */
	LD_Q4_1, /* 32 values in 20 bytes */
	LD_Q5_0, /* 32 values in 22 bytes */
	LD_Q5_1, /* 32 values in 24 bytes */
	LD_Q2_K, /* 256 values in 84 bytes */
	LD_Q3_K, /* 256 values in 110 bytes */
	LD_Q4_K, /* 256 values in 144 bytes */
	LD_Q5_K, /* 256 values in 176 bytes */
	LD_Q6_K, /* 256 values in 210 bytes */
};

/* "F32", "BF16", ... as safetensors spells them; "?" for invalid. */
const char *ld_dtype_name(enum ld_dtype t);
/* Parse a safetensors dtype name (F32, BF16, ...; never a block type);
 * LD_DTYPE_INVALID if unknown. */
enum ld_dtype ld_dtype_parse(const char *name);
/* Any name ld_dtype_name gives, block types too (trace metadata);
 * LD_DTYPE_INVALID if unknown. */
enum ld_dtype ld_dtype_parse_any(const char *name);
/* Bytes per element of a plain type; 0 for invalid and for block types. */
size_t ld_dtype_size(enum ld_dtype t);
/* Values and bytes per block: 1 and the element size for a plain type,
 * e.g. 32 and 34 for Q8_0; 0 and 0 for invalid. */
void ld_dtype_block(enum ld_dtype t, size_t *values, size_t *bytes);
/* 1 for the GGUF block types. */
int ld_dtype_is_quant(enum ld_dtype t);
/* Bytes that n values of type t take (n a multiple of the block); 0 if t
 * is invalid or n is not a whole number of blocks. */
size_t ld_dtype_bytes(enum ld_dtype t, size_t n);

/* bf16 -> f32 is exact: the bf16 bits are the high half of the float. */
static inline float ld_bf16_to_f32(uint16_t h)
{
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

/* f32 -> bf16, round to nearest even; NaN stays NaN. */
static inline uint16_t ld_f32_to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

/* f16 -> f32, exact, including subnormals, Inf and NaN. */
float ld_f16_to_f32(uint16_t h);
/* f32 -> f16, round to nearest even. */
uint16_t ld_f32_to_f16(float f);

#endif
