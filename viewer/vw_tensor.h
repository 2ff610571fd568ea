/* vw_tensor.h - read-only helpers the viewer needs over a trace (no curses).
 *
 * The viewer never computes model math; these only read, count and format.
 * They sit in viewer/ so the viewer builds and tests on its own; they follow
 * the contract of core/trace.h (row-major data, F32 or I32 elements).
 */
#ifndef VW_TENSOR_H
#define VW_TENSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "trace.h"

/* Which selection an axis is tied to: stepping "head" moves every head
 * axis, stepping "token" every token/query axis. */
enum vw_slot {
	VW_SLOT_TOKEN = 0, /* "token", "query": a position whose token has a string */
	VW_SLOT_KEY,       /* "key": a position attended to */
	VW_SLOT_HEAD,      /* "head", and "kv_head" derived from it (GQA) */
	VW_SLOT_DIM,       /* "dim", "pair" */
	VW_SLOT_FFN,       /* "ffn" */
	VW_SLOT_VOCAB,     /* "vocab" */
	VW_SLOT_OTHER,
	VW_SLOT_COUNT
};

/* A tensor's axis names split out of its "token,head,dim" string. */
struct vw_axes {
	int n;                          /* == tensor ndim */
	char name[LD_MAX_DIMS][16];     /* "token", "head", ...; "d0".. when unnamed */
	enum vw_slot slot[LD_MAX_DIMS];
	int kv[LD_MAX_DIMS];            /* 1 for a kv_head axis */
};

void vw_axes_parse(const struct ld_tensor *t, struct vw_axes *ax);

/* Index of the first axis tied to slot (kv_head counts as HEAD), or -1. */
int vw_axes_find(const struct vw_axes *ax, enum vw_slot slot);

/* Element i widened to double (ld_tensor_get without the call). */
static inline double vw_get(const struct ld_tensor *t, size_t i)
{
	if (t->dtype == LD_I32) {
		int32_t v;
		memcpy(&v, (const char *)t->data + i * 4, 4);
		return v;
	}
	return ((const float *)t->data)[i];
}


/* -inf entries the causal mask puts in a scores tensor (head x query x key
 * with query i at position S-T+i seeing keys 0..S-T+i): H*T*(T-1)/2. */
size_t vw_masked_count(const struct ld_tensor *t);

/* 1 if a tensor holds a NaN, a +Inf, or a -Inf the mask does not explain. */
int vw_stats_bad(const struct ld_tensor *t, const struct ld_stats *s);

/* The name without its "step.S." and "layers.L." prefixes: "scores". */
const char *vw_short_name(const char *name);
/* Length of that prefix ("layers.3." -> 9). */
size_t vw_prefix_len(const char *name);

/* Format v in at most width characters (not padded), choosing fixed or
 * exponent notation by which shows more significant digits (at most 7, a
 * float's worth). "nan", "+inf", "-inf" for the specials, '#'s when nothing
 * fits. Returns the length written. */
int vw_fmt_num(char *buf, size_t size, int width, double v);

/* Decimals that print every finite value of a tensor with these stats in
 * width columns with the decimal points aligned (as NumPy prints arrays),
 * or -1 when the range needs exponents. */
int vw_grid_decimals(const struct ld_stats *st, int width);

/* Format v with dec decimals (dec >= 0) if it fits in width and does not
 * round a non-zero value to zero, else as vw_fmt_num. */
int vw_fmt_cell(char *buf, size_t size, int width, int dec, double v);

/* Display string of the token at position pos (prompt then generated), or NULL. */
const char *vw_token_str(const struct ld_trace *tr, size_t pos);
/* Position in the sequence of index i along an axis of tensor t. */
size_t vw_axis_pos(const struct ld_trace *tr, const struct ld_tensor *t, enum vw_slot slot, size_t i);

#endif
