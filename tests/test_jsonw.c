/* test_jsonw.c - JSON written by hand (core/jsonw.c) reads back through
 * jansson as what was written: every byte value, random UTF-8 text
 * (byte for byte the text jansson itself would write), bytes that are not
 * UTF-8 as U+FFFD; and a safetensors header made with it parses, with its
 * metadata and tensor table intact, while a name given twice is refused. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "safetensors.h"

/* s[0..n) written as a JSON string, then read back by jansson. */
static json_t *round_trip(const char *s, size_t n, char **text)
{
	struct ld_jsonw b = {0};
	ld_jsonw_string(&b, s, n);
	*text = ld_jsonw_take(&b);
	assert_non_null(*text);
	assert_int_equal(strlen(*text), ld_jsonw_string_len(s, n));
	json_error_t je;
	json_t *v = json_loads(*text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!v)
		fail_msg("%s does not parse: %s", *text, je.text);
	assert_true(json_is_string(v));
	return v;
}

/* Valid UTF-8 text comes back as it was, written as jansson writes it. */
static void check_valid(const char *s, size_t n)
{
	char *text;
	json_t *v = round_trip(s, n, &text);
	assert_int_equal(json_string_length(v), n);
	assert_memory_equal(json_string_value(v), s, n);
	json_t *j = json_stringn(s, n);
	assert_non_null(j);
	char *theirs = json_dumps(j, JSON_ENCODE_ANY);
	assert_string_equal(text, theirs);
	free(theirs);
	json_decref(j);
	json_decref(v);
	free(text);
}

static void check_invalid(const char *s, const char *expect)
{
	char *text;
	json_t *v = round_trip(s, strlen(s), &text);
	assert_string_equal(json_string_value(v), expect);
	json_decref(v);
	free(text);
}

static void test_every_ascii_byte(void **state)
{
	(void)state;
	for (int c = 0; c < 0x80; c++) {
		char s[3] = {'a', (char)c, 'z'};
		check_valid(s, 3);
	}
	check_valid("", 0);
	const char *q = "\"quoted\" and \\back\\slashed\\";
	check_valid(q, strlen(q));
}

/* Append code point cp as UTF-8. */
static size_t put_utf8(char *p, uint32_t cp)
{
	if (cp < 0x80)
		return p[0] = (char)cp, 1;
	if (cp < 0x800)
		return p[0] = (char)(0xc0 | cp >> 6), p[1] = (char)(0x80 | (cp & 63)), 2;
	if (cp < 0x10000) {
		p[0] = (char)(0xe0 | cp >> 12), p[1] = (char)(0x80 | (cp >> 6 & 63));
		p[2] = (char)(0x80 | (cp & 63));
		return 3;
	}
	p[0] = (char)(0xf0 | cp >> 18), p[1] = (char)(0x80 | (cp >> 12 & 63));
	p[2] = (char)(0x80 | (cp >> 6 & 63)), p[3] = (char)(0x80 | (cp & 63));
	return 4;
}

static void test_random_utf8(void **state)
{
	(void)state;
	srand(7);
	char s[4 * 64];
	for (int round = 0; round < 20000; round++) {
		size_t n = 0, len = (size_t)(rand() % 64);
		for (size_t i = 0; i < len; i++) {
			uint32_t cp;
			switch (rand() % 4) {
			case 0: cp = (uint32_t)(rand() % 0x80); break; /* ASCII, controls, quotes */
			case 1: cp = 0x80 + (uint32_t)(rand() % (0x800 - 0x80)); break;
			case 2: cp = 0x800 + (uint32_t)(rand() % (0x10000 - 0x800)); break;
			default: cp = 0x10000 + (uint32_t)(rand() % (0x110000 - 0x10000)); break;
			}
			if (cp >= 0xd800 && cp <= 0xdfff)
				cp = 0xfffd; /* surrogates are not characters */
			n += put_utf8(s + n, cp);
		}
		check_valid(s, n);
	}
}

static void test_not_utf8(void **state)
{
	(void)state;
	const char *fffd = "\xEF\xBF\xBD";
	char want[64];
	check_invalid("\xff", fffd);
	check_invalid("\x80", fffd);
	snprintf(want, sizeof want, "a%s", fffd);
	check_invalid("a\xC3", want);                  /* truncated */
	snprintf(want, sizeof want, "%s%s", fffd, fffd);
	check_invalid("\xC0\xAF", want);               /* overlong "/" */
	snprintf(want, sizeof want, "%s%s%s", fffd, fffd, fffd);
	check_invalid("\xED\xA0\x80", want);           /* a surrogate */
	snprintf(want, sizeof want, "%s%s%s%s", fffd, fffd, fffd, fffd);
	check_invalid("\xF4\x90\x80\x80", want);       /* past U+10FFFF */
	snprintf(want, sizeof want, "x%s\xC3\xA9y", fffd);
	check_invalid("x\xE9\xC3\xA9y", want);         /* a Latin-1 byte beside a real é */
}

static void test_header(void **state)
{
	(void)state;
	const size_t sh_a[2] = {2, 3}, sh_b[1] = {5};
	struct ld_st_out t[2] = {{"layer.0 \"q\"", LD_F32, 2, sh_a, NULL, 24}, {"b", LD_BF16, 1, sh_b, NULL, 10}};
	const char *keys[] = {"format", "vocab_strings"};
	const char *vals[] = {"x", "[\"\\u2423the\",\"\\\"\",\"42\\n\"]"};
	char *text = NULL;
	struct ld_err err = {{0}};
	assert_int_equal(ld_st_header("h.safetensors", t, 2, keys, vals, 2, &text, &err), LD_OK);
	json_error_t je;
	json_t *h = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!h)
		fail_msg("header does not parse: %s: %s", je.text, text);
	json_t *m = json_object_get(h, "__metadata__");
	assert_string_equal(json_string_value(json_object_get(m, "vocab_strings")), vals[1]);
	assert_string_equal(json_string_value(json_object_get(m, "format")), "x");
	json_t *a = json_object_get(h, t[0].name), *b = json_object_get(h, "b");
	assert_string_equal(json_string_value(json_object_get(a, "dtype")), "F32");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(a, "shape"), 1)), 3);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(a, "data_offsets"), 1)), 24);
	assert_string_equal(json_string_value(json_object_get(b, "dtype")), "BF16");
	assert_int_equal(json_integer_value(json_array_get(json_object_get(b, "data_offsets"), 0)), 24);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(b, "data_offsets"), 1)), 34);
	json_decref(h);
	free(text);

	/* no metadata: a header of tensors only */
	assert_int_equal(ld_st_header("h.safetensors", t, 2, NULL, NULL, 0, &text, &err), LD_OK);
	h = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	assert_non_null(h);
	assert_int_equal(json_object_size(h), 2);
	json_decref(h);
	free(text);

	/* a name twice, or a tensor called __metadata__: refused, naming it */
	struct ld_st_out dup[3] = {t[0], t[1], t[1]};
	assert_int_equal(ld_st_header("h.safetensors", dup, 3, keys, vals, 2, &text, &err), LD_ERR_USAGE);
	assert_null(text);
	assert_non_null(strstr(err.msg, "h.safetensors: two tensors named \"b\""));
	struct ld_st_out meta[1] = {{"__metadata__", LD_F32, 1, sh_b, NULL, 20}};
	assert_int_equal(ld_st_header("h.safetensors", meta, 1, NULL, NULL, 0, &text, &err), LD_ERR_USAGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_ascii_byte),
		cmocka_unit_test(test_random_utf8),
		cmocka_unit_test(test_not_utf8),
		cmocka_unit_test(test_header),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
