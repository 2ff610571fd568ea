/* test_pool.c - memory taken again from the pool (util.h's ld_pool_take):
 * a kept mapping is handed out again only at its own size, reads as zeros
 * when zeros are asked for, and a process's passes after its first (whose
 * buffers and points reuse the first's pages) record bit for bit what a
 * first pass records, whatever ran between them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "model.h"
#include "trace.h"
#include "util.h"

#if defined(__SANITIZE_ADDRESS__)
#define POOLED 0 /* no pool under AddressSanitizer (util.c) */
#else
#define POOLED 1
#endif

static void test_take_give(void **state)
{
	(void)state;
	const size_t n = (3 << 20) + 100;
	unsigned char *a = ld_pool_take(n, 0);
	assert_non_null(a);
	memset(a, 0xab, n);
	const size_t kept = ld_pool_bytes(), rounded = (n + 4095) / 4096 * 4096;
	ld_pool_give(a, n);
	/* what the pool keeps counts as available memory (trace_size.h) */
	assert_int_equal(ld_pool_bytes(), kept + (POOLED ? rounded : 0));
	unsigned char *b = ld_pool_take(n, 1);
	assert_non_null(b);
	assert_int_equal(ld_pool_bytes(), kept);
	if (POOLED)
		assert_ptr_equal(a, b); /* the kept mapping, at its size */
	for (size_t i = 0; i < n; i++)
		if (b[i])
			fail_msg("byte %zu of a zeroed take is %d", i, b[i]);
	memset(b, 0xcd, n);
	ld_pool_give(b, n);
	/* another size gets other memory, and a take without zeros is still
	 * whole and writable */
	unsigned char *c = ld_pool_take(5 << 20, 0);
	assert_non_null(c);
	memset(c, 1, 5 << 20);
	unsigned char *d = ld_pool_take(n, 0);
	assert_non_null(d);
	assert_true(d + n <= c || c + (5 << 20) <= d); /* not overlapping */
	ld_pool_give(c, 5 << 20);
	ld_pool_give(d, n);
	ld_pool_give(NULL, n);
}

/* Every point of a pass of tokens[0..T) on m. */
static void run(const struct ld_model *m, const int32_t *tokens, size_t T, int n_generate,
                struct ld_trace *tr)
{
	struct ld_err err = {{0}};
	struct ld_forward_opts o = {.n_generate = n_generate};
	ld_trace_init(tr);
	if (ld_forward(m, tokens, T, &o, tr, &err) != LD_OK)
		fail_msg("%s", err.msg);
}

static void test_later_passes_equal_first(void **state)
{
	(void)state;
	static const char *const dirs[] = {"data/models/f32_gqa", "data/models/bf16_mha"};
	const int32_t long_prompt[] = {1, 7, 3, 9, 2, 5, 11, 4, 6, 8, 10, 12, 13};
	const int32_t short_prompt[] = {9, 2, 5};
	for (size_t d = 0; d < sizeof dirs / sizeof dirs[0]; d++) {
		struct ld_err err = {{0}};
		struct ld_model m;
		if (ld_model_load(&m, dirs[d], &err) != LD_OK)
			fail_msg("%s", err.msg);
		struct ld_trace first, other, again;
		run(&m, long_prompt, 13, 3, &first);
		run(&m, short_prompt, 3, 0, &other); /* different sizes between */
		ld_trace_free(&other);
		run(&m, long_prompt, 13, 3, &again);
		assert_int_equal(first.n, again.n);
		for (size_t i = 0; i < first.n; i++) {
			assert_string_equal(first.t[i].name, again.t[i].name);
			assert_int_equal(first.t[i].nbytes, again.t[i].nbytes);
			if (memcmp(first.t[i].data, again.t[i].data, first.t[i].nbytes) != 0)
				fail_msg("%s: %s differs in a later pass", dirs[d], first.t[i].name);
		}
		ld_trace_free(&first);
		ld_trace_free(&again);
		ld_model_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_give),
		cmocka_unit_test(test_later_passes_equal_first),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
