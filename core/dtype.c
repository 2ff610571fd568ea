/* dtype.c - dtype names and half-precision conversions. */
#include "dtype.h"

#include <assert.h>
#include <math.h>

static const struct {
	enum ld_dtype t;
	const char *name;
	size_t size;
} dtypes[] = {
	{LD_F32, "F32", 4}, {LD_F16, "F16", 2}, {LD_BF16, "BF16", 2},
	{LD_F64, "F64", 8}, {LD_I32, "I32", 4}, {LD_I64, "I64", 8},
};

/* The block types: values and bytes per block, in the order of enum
 * ld_dtype from LD_Q8_0 on (ld_dtype_block indexes it). Values per block
 * are powers of two. */
static const struct {
	enum ld_dtype t;
	const char *name;
	size_t values, bytes;
} blocks[] = {
	{LD_Q8_0, "Q8_0", 32, 34},  {LD_Q4_0, "Q4_0", 32, 18},  {LD_Q4_1, "Q4_1", 32, 20},
	{LD_Q5_0, "Q5_0", 32, 22},  {LD_Q5_1, "Q5_1", 32, 24},  {LD_Q2_K, "Q2_K", 256, 84},
	{LD_Q3_K, "Q3_K", 256, 110}, {LD_Q4_K, "Q4_K", 256, 144}, {LD_Q5_K, "Q5_K", 256, 176},
	{LD_Q6_K, "Q6_K", 256, 210},
};

const char *ld_dtype_name(enum ld_dtype t)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].t == t)
			return dtypes[i].name;
	for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
		if (blocks[i].t == t)
			return blocks[i].name;
	return "?";
}

enum ld_dtype ld_dtype_parse(const char *name)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return dtypes[i].t;
	return LD_DTYPE_INVALID;
}

enum ld_dtype ld_dtype_parse_any(const char *name)
{
	for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
		if (strcmp(blocks[i].name, name) == 0)
			return blocks[i].t;
	return ld_dtype_parse(name);
}

size_t ld_dtype_size(enum ld_dtype t)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].t == t)
			return dtypes[i].size;
	return 0;
}

/* Looked up for every row the matmul decodes, so by index, not by search. */
void ld_dtype_block(enum ld_dtype t, size_t *values, size_t *bytes)
{
	const size_t i = (size_t)t - LD_Q8_0;
	if (t >= LD_Q8_0 && i < sizeof blocks / sizeof blocks[0]) {
		assert(blocks[i].t == t);
		*values = blocks[i].values;
		*bytes = blocks[i].bytes;
		return;
	}
	*values = 0;
	if ((*bytes = ld_dtype_size(t)) != 0)
		*values = 1;
}

int ld_dtype_is_quant(enum ld_dtype t)
{
	return t >= LD_Q8_0 && t <= LD_Q6_K;
}

size_t ld_dtype_bytes(enum ld_dtype t, size_t n)
{
	size_t values, bytes;
	ld_dtype_block(t, &values, &bytes);
	/* values is a power of two: a mask and a shift, not divisions */
	assert((values & (values - 1)) == 0);
	if (!values || (n & (values - 1)))
		return 0;
	return (n >> __builtin_ctzll(values)) * bytes;
}

float ld_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h >> 15) << 31;
	uint32_t exp = (h >> 10) & 0x1f;
	uint32_t man = h & 0x3ff;
	uint32_t u;
	if (exp == 0x1f) {
		u = sign | 0x7f800000u | (man << 13); /* Inf or NaN */
	} else if (exp != 0) {
		u = sign | ((exp + 112) << 23) | (man << 13); /* normal: rebias 15 -> 127 */
	} else {
		/* zero or subnormal: value = man * 2^-24 */
		float f = ldexpf((float)man, -24);
		memcpy(&u, &f, sizeof u);
		u |= sign;
	}
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

uint16_t ld_f32_to_f16(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
	float a = fabsf(f);
	if (isnan(f))
		return sign | 0x7e00;
	if (a >= 65520.0f) /* rounds to Inf */
		return sign | 0x7c00;
	if (a < 6.103515625e-05f) /* subnormal range: units of 2^-24 */
		return sign | (uint16_t)lrintf(a * 16777216.0f);
	uint32_t exp = ((u >> 23) & 0xff) - 112;
	uint32_t man = u & 0x7fffff;
	uint32_t h = (exp << 10) | (man >> 13);
	uint32_t rest = man & 0x1fff;
	if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
		h++; /* round to nearest even; a carry into the exponent is correct */
	return sign | (uint16_t)h;
}
