/* testlib.h - what several test binaries share: a scratch directory, and
 * comparing a trace against golden tensors from the float64 reference.
 * Include after <cmocka.h>. */
#ifndef LD_TESTLIB_H
#define LD_TESTLIB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "safetensors.h"
#include "trace.h"

/* Golden tolerance: |a - b| <= ATOL + RTOL*|b| (never ATOL + |b|). */
#define TL_ATOL 1e-5
#define TL_RTOL 1e-4

/* cmocka group setup/teardown: a fresh /tmp/llamadbg-test.XXXXXX, removed after. */
int tl_setup_tmpdir(void **state);
int tl_teardown_tmpdir(void **state);
/* The scratch directory. */
const char *tl_tmpdir(void);
/* tmpdir/name (one of 4 rotating static buffers). */
char *tl_tmp_path(const char *name);
/* Write n bytes to path, failing the test if that fails. */
void tl_write_bytes(const char *path, const void *data, size_t n);

#define assert_msg_has(err, text)                                                         \
	do {                                                                                  \
		if (!strstr((err).msg, (text)))                                               \
			fail_msg("error \"%s\" does not mention \"%s\"", (err).msg, (text));      \
	} while (0)

/* Element i of a golden tensor (F64 or I32) as a double. */
double tl_golden_at(const struct ld_st_tensor *g, size_t i);
/* The tolerance above; -inf/inf/nan must match exactly. */
int tl_close_enough(double a, double b);
/* Compare a traced tensor with its golden; on a mismatch print the point,
 * the first bad index and the max difference, and return 1. */
int tl_compare_point(const char *what, const struct ld_tensor *t, const struct ld_st_tensor *g);
/* A JSON list of ints from a golden file's metadata (malloc'd). */
int32_t *tl_meta_ids(const struct ld_st_file *f, const char *key, size_t *n);

#endif
