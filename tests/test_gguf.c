/* test_gguf.c - GGUF models: the container reader on valid and hostile
 * files, the config and tokenizer from the metadata, the F32 model traced
 * bit for bit like its Hugging Face twin, and every weight type against the
 * float64 reference (tests/data/gguf/golden/, from gguf_golden.py on the
 * dequantized twin) with every matmul kernel this CPU runs. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "gguf.h"
#include "matmul.h"
#include "model.h"
#include "ops.h"
#include "testlib.h"
#include "tokenizer.h"
#include "util.h"

#define DIR "data/gguf/"

/* Each hostile file of tests/data/gguf/README.md and what its line says. */
static const struct {
	const char *file, *says, *also;
} hostile[] = {
	{"bad-truncated-header.gguf", "truncated (needs", "at offset"},
	{"bad-data-past-end.gguf", "blk.0.ffn_down.weight", "ends past the end of the file"},
	{"bad-magic.gguf", "not a GGUF file", NULL},
	{"bad-version-1.gguf", "GGUF version 1 not supported (2 and 3 are)", NULL},
	{"bad-tensor-count-2p60.gguf", "tensor count", "too large for the file"},
	{"bad-kv-count-2p60.gguf", "metadata count", "too large for the file"},
	{"bad-string-past-end.gguf", "string length", "past the end of the file"},
	{"bad-unaligned-offset.gguf", "output_norm.weight", "not a multiple of the alignment (32)"},
	{"bad-dims-overflow.gguf", "token_embd.weight", "size overflows"},
	{"bad-duplicate-tensor.gguf", "duplicate tensor `token_embd.weight`", NULL},
	{"bad-unknown-type.gguf", "token_embd.weight", "unknown type 99"},
	{"bad-missing-block-count.gguf", "missing key `llama.block_count`", NULL},
	{"bad-nested-10000.gguf", "arrays nested too deep", "test.nested"},
};

static void test_hostile_files(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
		char path[256];
		snprintf(path, sizeof path, DIR "%s", hostile[i].file);
		struct ld_model m;
		struct ld_err err = {{0}};
		if (ld_model_load(&m, path, &err) == LD_OK)
			fail_msg("%s loaded", path);
		if (!strstr(err.msg, path))
			fail_msg("%s: the line does not name the file: %s", path, err.msg);
		assert_msg_has(err, hostile[i].says);
		if (hostile[i].also)
			assert_msg_has(err, hostile[i].also);
		assert_null(strchr(err.msg, '\n'));
		/* The tokenizer reads the same container: the same refusal. */
		struct ld_tokenizer *tk = NULL;
		struct ld_err terr = {{0}};
		assert_int_not_equal(ld_tok_load_file(&tk, path, &terr), LD_OK);
		assert_null(tk);
	}
}

/* ok-small.gguf has one metadata key of every value type (test.*); it
 * loads, and its values read back. */
static void test_ok_small(void **state)
{
	(void)state;
	struct ld_gguf g;
	struct ld_err err = {{0}};
	if (ld_gguf_open(&g, DIR "ok-small.gguf", &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(g.version, 3);
	assert_int_equal(g.alignment, 32);
	int types_seen[13] = {0};
	for (size_t k = 0; k < g.n_kv; k++) {
		assert_true((unsigned)g.kv[k].type < 13);
		types_seen[g.kv[k].type] = 1;
		if (g.kv[k].type == LD_GGUF_ARRAY && g.kv[k].elem == LD_GGUF_STRING) {
			/* the walk ends exactly at the count */
			struct ld_gguf_iter it;
			struct ld_gguf_str s;
			size_t n = 0;
			ld_gguf_iter_init(&it, &g.kv[k]);
			while (ld_gguf_next_str(&it, &s))
				n++;
			assert_int_equal(n, g.kv[k].n);
		}
	}
	for (int t = 0; t < 13; t++)
		if (!types_seen[t])
			fail_msg("ok-small.gguf has no key of value type %s", ld_gguf_type_name((enum ld_gguf_type)t));
	int64_t v;
	assert_int_equal(ld_gguf_get_int(&g, "llama.block_count", 1, 100, &v, &err), LD_OK);
	assert_int_equal(v, 1);
	assert_int_not_equal(ld_gguf_get_int(&g, "general.architecture", 0, 1, &v, &err), LD_OK);
	assert_msg_has(err, "expected an integer");
	assert_int_not_equal(ld_gguf_get_int(&g, "no.such.key", 0, 1, &v, &err), LD_OK);
	assert_msg_has(err, "missing key `no.such.key`");
	const struct ld_gguf_tensor *t = ld_gguf_find_tensor(&g, "token_embd.weight");
	assert_non_null(t);
	assert_int_equal(t->dtype, LD_Q8_0);
	assert_int_equal(t->nbytes, ld_dtype_bytes(LD_Q8_0, t->ne[0] * t->ne[1]));
	assert_null(ld_gguf_find_tensor(&g, "token_embd"));
	ld_gguf_close(&g);

	struct ld_model m;
	if (ld_model_inspect(&m, DIR "ok-small.gguf", &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(m.format, LD_FORMAT_GGUF);
	ld_model_free(&m);
}

/* Cut at every length: each prefix is refused with one line, never read
 * past its end (each is an exact-size copy, so ASan sees an overread). */
static void test_truncated_everywhere(void **state)
{
	(void)state;
	const char *files[] = {DIR "ok-small.gguf", DIR "tiny-f32.gguf"};
	for (size_t f = 0; f < 2; f++) {
		void *map;
		size_t len;
		struct ld_err err = {{0}};
		assert_int_equal(ld_map_file(files[f], &map, &len, &err), LD_OK);
		/* tiny-f32's data section is large: every byte of the header, then
		 * a stride through the data */
		for (size_t cut = 0; cut < len; cut += cut < 40000 ? 1 : 997) {
			unsigned char *copy = malloc(cut ? cut : 1);
			memcpy(copy, map, cut);
			struct ld_gguf g;
			memset(&err, 0, sizeof err);
			if (ld_gguf_open_mem(&g, copy, cut, "cut.gguf", &err) == LD_OK)
				fail_msg("%s cut at %zu bytes opened", files[f], cut);
			if (!err.msg[0] || strchr(err.msg, '\n') || strncmp(err.msg, "cut.gguf: ", 10) != 0)
				fail_msg("%s cut at %zu: bad message \"%s\"", files[f], cut, err.msg);
			free(copy);
		}
		ld_unmap_file(map, len);
	}
}

/* The config from the metadata, for each fixture. */
static void test_config(void **state)
{
	(void)state;
	struct ld_model m;
	struct ld_err err = {{0}};
	if (ld_model_load(&m, DIR "tiny-f32.gguf", &err) != LD_OK)
		fail_msg("%s", err.msg);
	const struct ld_config *c = &m.cfg;
	assert_int_equal(c->dim, 32);
	assert_int_equal(c->ffn_dim, 64);
	assert_int_equal(c->n_layers, 2);
	assert_int_equal(c->n_heads, 2);
	assert_int_equal(c->n_kv_heads, 1);
	assert_int_equal(c->head_dim, 16);
	assert_int_equal(c->vocab_size, 533);
	assert_int_equal(c->max_pos, 131072);
	assert_true(c->norm_eps == 1e-5); /* the decimal the float32 stands for */
	assert_true(c->rope_theta == 500000);
	assert_int_equal(c->rope_scaling.enabled, 1); /* the table is the stated rule */
	assert_int_equal(c->rope_scaling.n_factors, 0);
	assert_true(c->rope_scaling.factor == 8);
	assert_int_equal(c->tie_embeddings, 1);
	assert_int_equal(c->bos_id, 277);
	assert_int_equal(c->n_eos, 1);
	assert_int_equal(c->eos_ids[0], 278);
	ld_model_free(&m);

	/* The K models, and the mixed Q4_K_M: each matrix keeps its own type. */
	if (ld_model_inspect(&m, DIR "tiny-q4_k_m.gguf", &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(m.cfg.dim, 256);
	assert_int_equal(m.cfg.tie_embeddings, 0);
	assert_int_equal(m.tok_embeddings.dtype, LD_Q4_K);
	assert_int_equal(m.output.dtype, LD_Q6_K);
	assert_int_equal(m.layers[0].wv.dtype, LD_Q6_K);
	assert_int_equal(m.layers[0].w2.dtype, LD_Q8_0);
	assert_int_equal(m.layers[0].wo.dtype, LD_Q5_0);
	assert_int_equal(m.cfg.bos_id, -1);
	ld_model_free(&m);
}

/* A GGUF whose table disagrees with the stated rule (or states none) uses
 * the table: write one by patching the factors of tiny-f32.gguf. */
static void test_rope_table(void **state)
{
	(void)state;
	void *map;
	size_t len;
	struct ld_err err = {{0}};
	assert_int_equal(ld_map_file(DIR "tiny-f32.gguf", &map, &len, &err), LD_OK);
	unsigned char *copy = malloc(len);
	memcpy(copy, map, len);
	struct ld_gguf g;
	assert_int_equal(ld_gguf_open_mem(&g, copy, len, "copy", &err), LD_OK);
	const struct ld_gguf_tensor *t = ld_gguf_find_tensor(&g, "rope_freqs.weight");
	assert_non_null(t);
	float f[8];
	memcpy(f, t->data, sizeof f);
	f[7] = 5.0f; /* not what the rule gives */
	memcpy(copy + g.data_start + t->offset, f, sizeof f);
	ld_gguf_close(&g);
	const char *path = tl_tmp_path("rope-table.gguf");
	tl_write_bytes(path, copy, len);
	free(copy);
	ld_unmap_file(map, len);

	struct ld_model m;
	if (ld_model_load(&m, path, &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(m.cfg.rope_scaling.enabled, 0);
	assert_int_equal(m.cfg.rope_scaling.n_factors, 8);
	assert_true(m.cfg.rope_scaling.factors[7] == 5.0f);
	assert_true(m.cfg.rope_scaling.factors[0] == 1.0f);
	/* The table reaches RoPE: pair 7 turns 5x slower than unscaled. */
	double base[8], scaled[8];
	ld_rope_freqs(base, 16, m.cfg.rope_theta, NULL);
	ld_rope_freqs(scaled, 16, m.cfg.rope_theta, &m.cfg.rope_scaling);
	assert_true(scaled[7] == base[7] / 5.0f);
	assert_true(scaled[0] == base[0]);
	/* And the trace's config keeps it. */
	char *json = ld_config_to_json(&m.cfg);
	struct ld_config back;
	assert_int_equal(ld_config_parse(&back, json, strlen(json), "config", &err), LD_OK);
	assert_int_equal(back.rope_scaling.n_factors, 8);
	assert_true(back.rope_scaling.factors[7] == 5.0f);
	free(json);
	ld_model_free(&m);
}

/* The tokenizer in the metadata gives tokenizer.json's ids. */
static void test_tokenizer_ids(void **state)
{
	(void)state;
	struct ld_tokenizer *a = NULL, *b = NULL;
	struct ld_err err = {{0}};
	if (ld_tok_load_file(&a, DIR "tiny-f32.gguf", &err) != LD_OK)
		fail_msg("%s", err.msg);
	if (ld_tok_load_dir(&b, DIR "tiny-f32-hf", &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(ld_tok_vocab_size(a), ld_tok_vocab_size(b));
	assert_int_equal(ld_tok_n_bpe(a), ld_tok_n_bpe(b));
	assert_int_equal(ld_tok_bos(a), ld_tok_bos(b));
	const char *texts[] = {"the cat sat on the mat", "Hello, world!\n\n  x", "<|begin_of_text|>hi<|eot_id|>",
	                       "caf\xc3\xa9 \xff\xfe bytes", "aaaaabcbc heheing", ""};
	for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
		for (unsigned flags = 0; flags < 4; flags++) {
			int32_t *ia, *ib;
			size_t na, nb;
			assert_int_equal(ld_tok_encode(a, texts[i], strlen(texts[i]), flags, &ia, &na, &err), LD_OK);
			assert_int_equal(ld_tok_encode(b, texts[i], strlen(texts[i]), flags, &ib, &nb, &err), LD_OK);
			assert_int_equal(na, nb);
			assert_memory_equal(ia, ib, na * sizeof *ia);
			free(ia);
			free(ib);
		}
	for (int32_t id = 0; id < (int32_t)ld_tok_vocab_size(a); id++) {
		size_t la, lb;
		const uint8_t *pa = ld_tok_bytes(a, id, &la), *pb = ld_tok_bytes(b, id, &lb);
		assert_true((pa == NULL) == (pb == NULL));
		if (pa) {
			assert_int_equal(la, lb);
			assert_memory_equal(pa, pb, la);
			assert_int_equal(ld_tok_is_special(a, id), ld_tok_is_special(b, id));
		}
	}
	ld_tok_free(a);
	ld_tok_free(b);

	/* A file without a vocabulary says how to go on. */
	assert_int_not_equal(ld_tok_load_file(&a, DIR "tiny-q4_k.gguf", &err), LD_OK);
	assert_msg_has(err, "carries no tokenizer");
	assert_msg_has(err, "-t");
}

/* The same F32 weights as GGUF and as HF safetensors: the same trace, bit
 * for bit, decode steps included. */
static void test_f32_same_as_hf(void **state)
{
	(void)state;
	struct ld_model g, h;
	struct ld_err err = {{0}};
	if (ld_model_load(&g, DIR "tiny-f32.gguf", &err) != LD_OK || ld_model_load(&h, DIR "tiny-f32-hf", &err) != LD_OK)
		fail_msg("%s", err.msg);
	const int32_t prompt[] = {277, 260, 30, 101, 272, 5, 99, 300, 100};
	struct ld_trace a, b;
	ld_trace_init(&a);
	ld_trace_init(&b);
	struct ld_forward_opts o = {.n_generate = 3, .lens_k = 3};
	assert_int_equal(ld_forward(&g, prompt, 9, &o, &a, &err), LD_OK);
	assert_int_equal(ld_forward(&h, prompt, 9, &o, &b, &err), LD_OK);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		assert_string_equal(a.t[i].name, b.t[i].name);
		assert_int_equal(a.t[i].nbytes, b.t[i].nbytes);
		if (memcmp(a.t[i].data, b.t[i].data, a.t[i].nbytes) != 0)
			fail_msg("%s differs between GGUF and HF", a.t[i].name);
	}
	ld_trace_free(&a);
	ld_trace_free(&b);
	ld_model_free(&g);
	ld_model_free(&h);
}

/* Every point against the float64 reference on the dequantized weights. */
static void check_golden(const char *type)
{
	char path[128], gpath[128];
	snprintf(path, sizeof path, DIR "tiny-%s.gguf", type);
	snprintf(gpath, sizeof gpath, DIR "golden/%s.safetensors", type);
	static const enum ld_kernel kernels[] = {LD_KERNEL_SCALAR, LD_KERNEL_AVX2, LD_KERNEL_AVX512, LD_KERNEL_AMX};
	struct ld_st_file gold;
	struct ld_err err = {{0}};
	if (ld_st_open(&gold, gpath, &err) != LD_OK)
		fail_msg("%s", err.msg);
	size_t n_tok, n_gen;
	int32_t *tokens = tl_meta_ids(&gold, "tokens", &n_tok);
	int32_t *gen = tl_meta_ids(&gold, "generated", &n_gen);
	for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
		if (!ld_kernel_supported(kernels[k]))
			continue;
		setenv("LLAMADBG_KERNEL", ld_kernel_name(kernels[k]), 1);
		char what[200];
		snprintf(what, sizeof what, "%s (%s kernel)", path, ld_kernel_name(kernels[k]));
		struct ld_model m;
		if (ld_model_load(&m, path, &err) != LD_OK)
			fail_msg("%s", err.msg);
		struct ld_trace tr;
		ld_trace_init(&tr);
		struct ld_forward_opts o = {.n_generate = atoi(ld_st_meta(&gold, "n_generate"))};
		if (ld_forward(&m, tokens, n_tok, &o, &tr, &err) != LD_OK)
			fail_msg("%s: %s", what, err.msg);
		assert_int_equal(tr.n_generated, n_gen);
		for (size_t i = 0; i < n_gen; i++)
			assert_int_equal(tr.generated[i], gen[i]);
		int bad = 0;
		for (size_t i = 0; i < gold.n; i++) {
			long t = ld_trace_find(&tr, gold.t[i].name);
			if (t < 0) {
				print_error("%s: point %s was not recorded\n", what, gold.t[i].name);
				bad++;
			} else {
				bad += tl_compare_point(what, &tr.t[t], &gold.t[i]);
			}
		}
		assert_int_equal(tr.n, gold.n);
		assert_int_equal(bad, 0);
		ld_trace_free(&tr);
		ld_model_free(&m);
	}
	unsetenv("LLAMADBG_KERNEL");
	free(tokens);
	free(gen);
	ld_st_close(&gold);
}

#define GOLDEN(t) \
	static void test_golden_##t(void **state) { (void)state; check_golden(#t); }
GOLDEN(f32)
GOLDEN(f16)
GOLDEN(bf16)
GOLDEN(q8_0)
GOLDEN(q4_0)
GOLDEN(q4_1)
GOLDEN(q5_0)
GOLDEN(q5_1)
GOLDEN(q2_k)
GOLDEN(q3_k)
GOLDEN(q4_k)
GOLDEN(q5_k)
GOLDEN(q6_k)
GOLDEN(q4_k_m)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_files),
		cmocka_unit_test(test_ok_small),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_rope_table),
		cmocka_unit_test(test_tokenizer_ids),
		cmocka_unit_test(test_f32_same_as_hf),
		cmocka_unit_test(test_golden_f32),
		cmocka_unit_test(test_golden_f16),
		cmocka_unit_test(test_golden_bf16),
		cmocka_unit_test(test_golden_q8_0),
		cmocka_unit_test(test_golden_q4_0),
		cmocka_unit_test(test_golden_q4_1),
		cmocka_unit_test(test_golden_q5_0),
		cmocka_unit_test(test_golden_q5_1),
		cmocka_unit_test(test_golden_q2_k),
		cmocka_unit_test(test_golden_q3_k),
		cmocka_unit_test(test_golden_q4_k),
		cmocka_unit_test(test_golden_q5_k),
		cmocka_unit_test(test_golden_q6_k),
		cmocka_unit_test(test_golden_q4_k_m),
	};
	return cmocka_run_group_tests(tests, tl_setup_tmpdir, tl_teardown_tmpdir);
}
