/* patch.h - change a tensor of the forward pass, then run on from it.
 *
 * A patch names one point of the prompt pass ("layers.1.resid_out"), or a
 * slice of it ("layers.1.attn[:,2,:]": every token, head 2, every dim),
 * and a replacement: an array of the slice's shape, or zeros (ablation).
 * The forward pass calls ld_patch_apply right after it computes each point
 * that feeds later computation; everything after is computed from the
 * patched value, and the trace records the patched value.
 */
#ifndef LD_PATCH_H
#define LD_PATCH_H

#include <stddef.h>

#include "config.h"
#include "npy.h"
#include "status.h"
#include "trace.h"

struct ld_patch {
	char spec[128];          /* the point and slice, as given: "layers.1.attn[:,2,:]" */
	char source[320];        /* where the value comes from, for messages and the trace */
	enum ld_point point;
	int layer;               /* -1 outside the layers */
	int n_sel;               /* 0: the whole tensor; else one entry per axis */
	long sel[LD_MAX_DIMS];   /* the index kept on each axis, -1 for every index (':') */
	float *value;            /* the replacement, row-major over the free axes (malloc'd); NULL: zeros */
	int ndim;                /* the value's shape */
	size_t shape[LD_MAX_DIMS];
};

/* 1 if a point feeds later computation, so patching it changes something. */
int ld_point_patchable(enum ld_point p);

/* Parse "NAME" or "NAME[i,:,j]" into p (no value yet: zeros). Refuses an
 * unknown name, a decode-step name and a point that feeds nothing. */
enum ld_status ld_patch_parse(struct ld_patch *p, const char *spec, struct ld_err *err);

/* `--ablate layers.{i}.head.{h}` (that head's attn output, zeroed before
 * o_proj) or `--ablate layers.{i}.ffn` (the FFN's output, zeroed). */
enum ld_status ld_patch_parse_ablate(struct ld_patch *p, const char *what, struct ld_err *err);

/* Take the value from an array read from a .npy file (the array is moved
 * into the patch; a float array is needed). */
enum ld_status ld_patch_from_npy(struct ld_patch *p, struct ld_npy *a, const char *path,
                                 struct ld_err *err);

/* Take the value from a tensor of another trace (the same slice of it). */
enum ld_status ld_patch_from_tensor(struct ld_patch *p, const struct ld_tensor *t, const char *what,
                                    struct ld_err *err);

/* Does the patch fit this model and a prompt of T tokens (layer, slice
 * indices, the value's shape)? */
enum ld_status ld_patch_check(const struct ld_patch *p, const struct ld_config *c, size_t T,
                              struct ld_err *err);

/* Apply every patch of ps aimed at (point, layer) to data, the point's
 * prompt-pass tensor of T tokens. Returns how many applied (0: untouched). */
int ld_patch_apply(const struct ld_patch *ps, size_t n, enum ld_point point, int layer, float *data,
                    const struct ld_config *c, size_t T);

/* "layers.1.attn[:,2,:] = zeros (--ablate layers.1.head.2)": what the trace says. */
void ld_patch_describe(const struct ld_patch *p, char *buf, size_t size);

void ld_patch_free(struct ld_patch *p);

#endif
