/* dtype.h - the element types a tensor can be stored in, and conversions.
 *
 * Weights stay in the dtype they were stored in (F32, BF16 or F16) and are
 * widened to float32 only while computing. Traces store F32 (and I32 for
 * token ids).
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
};

/* "F32", "BF16", ... as safetensors spells them; "?" for invalid. */
const char *ld_dtype_name(enum ld_dtype t);
/* Parse a safetensors dtype name; LD_DTYPE_INVALID if unknown. */
enum ld_dtype ld_dtype_parse(const char *name);
/* Bytes per element; 0 for invalid. */
size_t ld_dtype_size(enum ld_dtype t);

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
