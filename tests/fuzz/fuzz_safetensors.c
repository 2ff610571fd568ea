/* fuzz_safetensors.c - the safetensors reader: header length, JSON header,
 * tensor table (dtypes, shapes, offsets, overlaps), __metadata__. */
#include <unistd.h>

#include "fuzzlib.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fz_file(data, size, path, sizeof path);
	struct ld_st_file f;
	struct ld_err err = {{0}};
	enum ld_status st = ld_st_open(&f, path, &err);
	fz_check_error(st, &err, "ld_st_open");
	if (st == LD_OK) {
		/* What the model loader does next: find tensors, read metadata. */
		for (size_t i = 0; i < f.n; i++) {
			const struct ld_st_tensor *t = &f.t[i];
			if (ld_st_find(&f, t->name) == NULL)
				fz_fail("tensor %s is listed but not found by name", t->name);
			const unsigned char *p = t->data;
			volatile unsigned char sink = 0;
			if (t->nbytes)
				sink ^= p[0] ^ p[t->nbytes - 1]; /* inside the mapping */
			(void)sink;
		}
		for (size_t i = 0; i < f.n_meta; i++)
			(void)ld_st_meta(&f, f.meta_keys[i]);
		ld_st_close(&f);
	}
	close(fd);
	return 0;
}
