/* testlib.c - helpers shared by the cmocka test binaries. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"

static char tmpdir[64];

int tl_setup_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof tmpdir, "/tmp/llamadbg-test.XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

int tl_teardown_tmpdir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd);
}

const char *tl_tmpdir(void)
{
	return tmpdir;
}

char *tl_tmp_path(const char *name)
{
	static char buf[4][256];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
	return buf[k];
}

void tl_write_bytes(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

double tl_golden_at(const struct ld_st_tensor *g, size_t i)
{
	if (g->dtype == LD_F64) {
		double d;
		memcpy(&d, (const char *)g->data + 8 * i, 8);
		return d;
	}
	int32_t v;
	memcpy(&v, (const char *)g->data + 4 * i, 4);
	return v;
}

int tl_close_enough(double a, double b)
{
	if (isnan(b) || isnan(a))
		return isnan(a) && isnan(b);
	if (isinf(b) || isinf(a))
		return a == b;
	return fabs(a - b) <= TL_ATOL + TL_RTOL * fabs(b);
}

int tl_compare_point(const char *what, const struct ld_tensor *t, const struct ld_st_tensor *g)
{
	if (t->ndim != g->ndim) {
		print_error("%s %s: %d dims, reference has %d\n", what, t->name, t->ndim, g->ndim);
		return 1;
	}
	for (int d = 0; d < t->ndim; d++)
		if (t->shape[d] != g->shape[d]) {
			print_error("%s %s: dim %d is %zu, reference has %zu\n", what, t->name, d, t->shape[d],
			            g->shape[d]);
			return 1;
		}
	size_t n = ld_tensor_numel(t), first_bad = SIZE_MAX, n_bad = 0;
	double max_diff = 0;
	for (size_t i = 0; i < n; i++) {
		double a = ld_tensor_get(t, i), b = tl_golden_at(g, i);
		if (!tl_close_enough(a, b)) {
			if (first_bad == SIZE_MAX)
				first_bad = i;
			n_bad++;
		}
		if (isfinite(a) && isfinite(b) && fabs(a - b) > max_diff)
			max_diff = fabs(a - b);
	}
	if (n_bad) {
		print_error("%s %s: %zu of %zu values off; first at flat index %zu (got %.9g, reference "
		            "%.9g); max |diff| %.3g\n",
		            what, t->name, n_bad, n, first_bad, ld_tensor_get(t, first_bad),
		            tl_golden_at(g, first_bad), max_diff);
		return 1;
	}
	return 0;
}

int32_t *tl_meta_ids(const struct ld_st_file *f, const char *key, size_t *n)
{
	const char *text = ld_st_meta(f, key);
	assert_non_null(text);
	json_t *a = json_loads(text, 0, NULL);
	assert_true(json_is_array(a));
	*n = json_array_size(a);
	int32_t *ids = calloc(*n + 1, sizeof *ids);
	assert_non_null(ids);
	for (size_t i = 0; i < *n; i++)
		ids[i] = (int32_t)json_integer_value(json_array_get(a, i));
	json_decref(a);
	return ids;
}
