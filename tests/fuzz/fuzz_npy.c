/* fuzz_npy.c - a .npy file is what `trace --patch POINT=FILE.npy` reads.
 * A lying header, a shape too large, data too short or too long must give
 * one line; an array that reads is offered as a patch to a few points of a
 * small model and checked against them, as the command line does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzlib.h"
#include "npy.h"
#include "patch.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fz_file(data, size, path, sizeof path);
	struct ld_npy a;
	struct ld_err err = {{0}};
	enum ld_status st = ld_npy_read(path, &a, &err);
	fz_check_error(st, &err, "ld_npy_read");
	close(fd);
	if (st != LD_OK)
		return 0;
	size_t n = 1;
	for (int d = 0; d < a.ndim; d++)
		n *= a.shape[d];
	if (n != a.numel || (a.f32 == NULL) == (a.i32 == NULL))
		fz_fail("numel %zu for a shape of %zu elements, or no values", a.numel, n);
	/* A small model: which points and slices does the array fit? */
	static const struct ld_config c = {.dim = 8, .n_heads = 2, .n_kv_heads = 1, .head_dim = 4,
	                                   .ffn_dim = 12, .n_layers = 1, .vocab_size = 16};
	static const char *const specs[] = {"embed", "layers.0.probs[1,:,:]", "layers.0.attn[:,1,:]",
	                                    "layers.0.ffn_act[2,:]"};
	for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
		struct ld_patch p;
		if (ld_patch_parse(&p, specs[i], &err) != LD_OK)
			fz_fail("%s: %s", specs[i], err.msg);
		struct ld_npy copy = a;
		copy.f32 = NULL;
		copy.i32 = NULL;
		if (a.f32) { /* a copy of the values, since the patch takes them */
			copy.f32 = malloc((a.numel ? a.numel : 1) * sizeof(float));
			if (!copy.f32)
				break;
			memcpy(copy.f32, a.f32, a.numel * sizeof(float));
		}
		st = ld_patch_from_npy(&p, &copy, path, &err);
		fz_check_error(st, &err, "ld_patch_from_npy");
		if (st == LD_OK) {
			for (size_t T = 1; T <= 4; T++) {
				st = ld_patch_check(&p, &c, T, &err);
				fz_check_error(st, &err, "ld_patch_check");
				if (st == LD_OK) { /* it fits: apply it to a buffer of the point */
					float buf[4 * 12 * 2 * 4];
					ld_patch_apply(&p, 1, p.point, p.layer, buf, &c, T);
				}
			}
		}
		ld_patch_free(&p);
		ld_npy_free(&copy);
	}
	ld_npy_free(&a);
	return 0;
}
