/* test_badinput.c - hostile and broken inputs get one clear error, never a
 * crash: each case names the file (and tensor) and what was wrong. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "forward.h"
#include "model.h"
#include "safetensors.h"
#include "trace.h"
#include "util.h"
#include "testlib.h"

/* A raw safetensors file: our header text, then data_len zero bytes. */
static void write_raw_st(const char *path, const char *header, uint64_t claimed_len, size_t data_len)
{
	size_t h = strlen(header);
	unsigned char *buf = calloc(8 + h + data_len + 1, 1);
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(claimed_len >> (8 * i));
	memcpy(buf + 8, header, h);
	tl_write_bytes(path, buf, 8 + h + data_len);
	free(buf);
}

static enum ld_status open_raw(const char *header, size_t data_len, struct ld_err *err)
{
	char *p = tl_tmp_path("raw.safetensors");
	write_raw_st(p, header, strlen(header), data_len);
	struct ld_st_file f;
	enum ld_status st = ld_st_open(&f, p, err);
	if (st == LD_OK)
		ld_st_close(&f);
	return st;
}


static void test_st_truncated(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_st_file f;
	char *p = tl_tmp_path("short.safetensors");
	tl_write_bytes(p, "\x10\x00\x00", 3);
	assert_int_equal(ld_st_open(&f, p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "short.safetensors");
	/* A good header whose data was cut off. */
	assert_int_equal(open_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, &err),
	                 LD_ERR_RANGE);
	assert_msg_has(err, "tensor a");
	assert_msg_has(err, "past the end");
}

static void test_st_header_past_end(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_st_file f;
	char *p = tl_tmp_path("hdr.safetensors");
	write_raw_st(p, "{}", 1ull << 40, 0);
	assert_int_equal(ld_st_open(&f, p, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "header length");
	write_raw_st(p, "{}", UINT64_MAX, 0); /* must not wrap around */
	assert_int_equal(ld_st_open(&f, p, &err), LD_ERR_FORMAT);
}

static void test_st_malformed_json(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	assert_int_equal(open_raw("{\"a\": {\"dtype\": \"F32\",", 0, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "malformed JSON");
	assert_int_equal(open_raw("[1,2]", 0, &err), LD_ERR_FORMAT);
	assert_int_equal(open_raw("{\"a\": 3}", 0, &err), LD_ERR_FORMAT);
	assert_int_equal(open_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, &err),
	                 LD_ERR_SHAPE);
	assert_int_equal(open_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
	                          "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, &err),
	                 LD_ERR_FORMAT); /* duplicate key */
	/* Shapes whose product overflows size_t. */
	assert_int_equal(open_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
	                          "\"data_offsets\":[0,0]}}", 0, &err), LD_ERR_SHAPE);
	assert_msg_has(err, "overflows");
}

static void test_st_unknown_dtype(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	assert_int_equal(open_raw("{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, &err),
	                 LD_ERR_DTYPE);
	assert_msg_has(err, "tensor w");
	assert_msg_has(err, "Q4_K");
}

static void test_st_overlap_and_range(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	assert_int_equal(open_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	                          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, &err),
	                 LD_ERR_RANGE);
	assert_msg_has(err, "overlap");
	assert_int_equal(open_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,4]}}", 12, &err),
	                 LD_ERR_FORMAT);
	assert_int_equal(open_raw("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 12, &err),
	                 LD_ERR_SHAPE);
	assert_msg_has(err, "need 12");
}

/* ---- whole models: a tiny F32 checkpoint we can break one piece at a time */

#define D 8
#define F 12
#define V 16

static const char good_config[] =
	"{\"hidden_size\": 8, \"intermediate_size\": 12, \"num_hidden_layers\": 1,"
	" \"num_attention_heads\": 2, \"num_key_value_heads\": 1, \"vocab_size\": 16,"
	" \"rms_norm_eps\": 1e-5, \"rope_theta\": 500000.0, \"max_position_embeddings\": 6,"
	" \"tie_word_embeddings\": false, \"bos_token_id\": 1, \"eos_token_id\": 2}";

struct spec {
	const char *name;
	size_t rows, cols; /* cols 0 = a vector */
	enum ld_dtype dtype;
};

static void write_model(const char *dir, const char *config, const struct spec *skip,
                        const struct spec *replace)
{
	static const struct spec specs[] = {
		{"model.embed_tokens.weight", V, D, LD_F32},
		{"model.layers.0.input_layernorm.weight", D, 0, LD_F32},
		{"model.layers.0.self_attn.q_proj.weight", D, D, LD_F32},
		{"model.layers.0.self_attn.k_proj.weight", 4, D, LD_F32},
		{"model.layers.0.self_attn.v_proj.weight", 4, D, LD_F32},
		{"model.layers.0.self_attn.o_proj.weight", D, D, LD_F32},
		{"model.layers.0.post_attention_layernorm.weight", D, 0, LD_F32},
		{"model.layers.0.mlp.gate_proj.weight", F, D, LD_F32},
		{"model.layers.0.mlp.up_proj.weight", F, D, LD_F32},
		{"model.layers.0.mlp.down_proj.weight", D, F, LD_F32},
		{"model.norm.weight", D, 0, LD_F32},
		{"lm_head.weight", V, D, LD_F32},
	};
	enum { N = sizeof specs / sizeof specs[0] };
	mkdir(dir, 0755);
	char path[512];
	snprintf(path, sizeof path, "%s/config.json", dir);
	tl_write_bytes(path, config, strlen(config));
	struct ld_st_out out[N];
	size_t shapes[N][2];
	float *bufs[N];
	size_t n = 0;
	for (size_t i = 0; i < N; i++) {
		struct spec s = specs[i];
		if (skip && strcmp(skip->name, s.name) == 0)
			continue;
		if (replace && strcmp(replace->name, s.name) == 0)
			s = *replace;
		size_t numel = s.rows * (s.cols ? s.cols : 1);
		bufs[n] = calloc(numel, 4);
		for (size_t k = 0; k < numel; k++)
			bufs[n][k] = (float)((k * 7 + i) % 13) / 13.0f - 0.4f;
		shapes[n][0] = s.rows;
		shapes[n][1] = s.cols;
		out[n] = (struct ld_st_out){s.name, s.dtype, s.cols ? 2 : 1, shapes[n], bufs[n],
		                            numel * ld_dtype_size(s.dtype)};
		n++;
	}
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	struct ld_err err = {{0}};
	assert_int_equal(ld_st_write(path, out, n, NULL, NULL, 0, 1, &err), LD_OK);
	for (size_t i = 0; i < n; i++)
		free(bufs[i]);
}

static enum ld_status load(const char *dir, struct ld_err *err)
{
	struct ld_model m;
	enum ld_status st = ld_model_load(&m, dir, err);
	if (st == LD_OK)
		ld_model_free(&m);
	return st;
}

static void test_model_good_baseline(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	write_model(tl_tmp_path("good"), good_config, NULL, NULL);
	if (load(tl_tmp_path("good"), &err) != LD_OK)
		fail_msg("%s", err.msg);
}

static void test_model_missing_tensor(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct spec s = {"model.layers.0.mlp.up_proj.weight", 0, 0, LD_F32};
	write_model(tl_tmp_path("missing"), good_config, &s, NULL);
	assert_int_equal(load(tl_tmp_path("missing"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "missing tensor model.layers.0.mlp.up_proj.weight");
}

static void test_model_wrong_shape(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct spec s = {"model.layers.0.self_attn.k_proj.weight", 8, D, LD_F32};
	write_model(tl_tmp_path("shape"), good_config, NULL, &s);
	assert_int_equal(load(tl_tmp_path("shape"), &err), LD_ERR_SHAPE);
	assert_msg_has(err, "model.safetensors: model.layers.0.self_attn.k_proj.weight has shape [8, 8], "
	                    "config says [4, 8]");
}

static void test_model_unsupported_dtype(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct spec s = {"model.norm.weight", D, 0, LD_I32};
	write_model(tl_tmp_path("dtype"), good_config, NULL, &s);
	assert_int_equal(load(tl_tmp_path("dtype"), &err), LD_ERR_DTYPE);
	assert_msg_has(err, "model.norm.weight has dtype I32");
}

static void test_config_errors(void **state)
{
	(void)state;
	struct ld_config c;
	struct ld_err err = {{0}};
	const char *heads = "{\"hidden_size\": 10, \"intermediate_size\": 4, \"num_hidden_layers\": 1,"
	                    " \"num_attention_heads\": 3, \"vocab_size\": 4}";
	assert_int_equal(ld_config_parse(&c, heads, strlen(heads), "config.json", &err), LD_ERR_SHAPE);
	assert_msg_has(err, "config.json: hidden_size 10 is not divisible by num_attention_heads 3");
	const char *kv = "{\"hidden_size\": 12, \"intermediate_size\": 4, \"num_hidden_layers\": 1,"
	                 " \"num_attention_heads\": 3, \"num_key_value_heads\": 2, \"vocab_size\": 4}";
	assert_int_equal(ld_config_parse(&c, kv, strlen(kv), "config.json", &err), LD_ERR_SHAPE);
	assert_msg_has(err, "not a multiple of num_key_value_heads 2");
	const char *bad = "{\"hidden_size\": 8,, }";
	assert_int_equal(ld_config_parse(&c, bad, strlen(bad), "config.json", &err), LD_ERR_FORMAT);
	assert_msg_has(err, "malformed JSON");
	const char *neg = "{\"hidden_size\": -8, \"intermediate_size\": 4, \"num_hidden_layers\": 1,"
	                  " \"num_attention_heads\": 2, \"vocab_size\": 4}";
	assert_int_equal(ld_config_parse(&c, neg, strlen(neg), "config.json", &err), LD_ERR_RANGE);
	const char *yarn = "{\"hidden_size\": 8, \"intermediate_size\": 4, \"num_hidden_layers\": 1,"
	                   " \"num_attention_heads\": 2, \"vocab_size\": 4, \"rope_scaling\": {\"rope_type\": \"yarn\"}}";
	assert_int_equal(ld_config_parse(&c, yarn, strlen(yarn), "config.json", &err), LD_ERR_FORMAT);
	assert_msg_has(err, "yarn");
	const char *missing = "{\"hidden_size\": 8}";
	assert_int_equal(ld_config_parse(&c, missing, strlen(missing), "config.json", &err), LD_ERR_FORMAT);
	assert_msg_has(err, "missing \"intermediate_size\"");
}

static void test_forward_bad_tokens(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	write_model(tl_tmp_path("fwd"), good_config, NULL, NULL);
	assert_int_equal(ld_model_load(&m, tl_tmp_path("fwd"), &err), LD_OK);
	struct ld_trace tr;
	ld_trace_init(&tr);
	const int32_t big[] = {1, 16};
	assert_int_equal(ld_forward(&m, big, 2, NULL, &tr, &err), LD_ERR_RANGE);
	assert_msg_has(err, "token id 16 at position 1 is outside the vocabulary (vocab_size 16)");
	const int32_t neg[] = {-3};
	assert_int_equal(ld_forward(&m, neg, 1, NULL, &tr, &err), LD_ERR_RANGE);
	/* max_position_embeddings is 6 */
	const int32_t seven[] = {1, 2, 3, 4, 5, 6, 7};
	assert_int_equal(ld_forward(&m, seven, 7, NULL, &tr, &err), LD_ERR_RANGE);
	assert_msg_has(err, "max_position_embeddings 6");
	struct ld_forward_opts o = {.n_generate = 3}; /* 4 + 2 fed back = 6 fits, 5 + 2 does not */
	assert_int_equal(ld_forward(&m, seven, 4, &o, &tr, &err), LD_OK);
	ld_trace_free(&tr);
	ld_trace_init(&tr);
	assert_int_equal(ld_forward(&m, seven, 5, &o, &tr, &err), LD_ERR_RANGE);
	assert_int_equal(ld_forward(&m, seven, 0, NULL, &tr, &err), LD_ERR_USAGE);
	ld_trace_free(&tr);
	ld_model_free(&m);
}

static void test_save_unwritable_and_no_clobber(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	write_model(tl_tmp_path("save"), good_config, NULL, NULL);
	assert_int_equal(ld_model_load(&m, tl_tmp_path("save"), &err), LD_OK);
	struct ld_trace tr;
	ld_trace_init(&tr);
	const int32_t toks[] = {1, 5, 9};
	assert_int_equal(ld_forward(&m, toks, 3, NULL, &tr, &err), LD_OK);

	/* A directory that does not exist; a "directory" that is a file. */
	assert_int_equal(ld_trace_save(&tr, "/nonexistent-llamadbg-dir/t.safetensors", 0, &err), LD_ERR_IO);
	assert_msg_has(err, "/nonexistent-llamadbg-dir/t.safetensors");
	tl_write_bytes(tl_tmp_path("afile"), "x", 1);
	assert_int_equal(ld_trace_save(&tr, tl_tmp_path("afile/t.safetensors"), 0, &err), LD_ERR_IO);

	/* An existing file is not replaced without force, and stays intact. */
	char *out = tl_tmp_path("keep.safetensors");
	tl_write_bytes(out, "precious", 8);
	assert_int_equal(ld_trace_save(&tr, out, 0, &err), LD_ERR_EXISTS);
	char buf[16] = {0};
	FILE *f = fopen(out, "rb");
	assert_int_equal(fread(buf, 1, sizeof buf, f), 8);
	fclose(f);
	assert_string_equal(buf, "precious");
	assert_int_equal(ld_trace_save(&tr, out, 1, &err), LD_OK);

	/* No temp files are left behind. */
	char cmd[300];
	snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tl_tmpdir());
	assert_int_not_equal(system(cmd), 0);

	/* And the saved trace reads back the same. */
	struct ld_trace back;
	if (ld_trace_open(&back, out, &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(back.n, tr.n);
	for (size_t i = 0; i < tr.n; i++) {
		assert_string_equal(back.t[i].name, tr.t[i].name);
		assert_string_equal(back.t[i].axes, tr.t[i].axes);
		assert_string_equal(back.t[i].src, tr.t[i].src);
		assert_int_equal(back.t[i].point, tr.t[i].point);
		assert_int_equal(back.t[i].layer, tr.t[i].layer);
		assert_int_equal(back.t[i].nbytes, tr.t[i].nbytes);
		assert_memory_equal(back.t[i].data, tr.t[i].data, tr.t[i].nbytes);
	}
	assert_int_equal(back.cfg.dim, D);
	assert_int_equal(back.n_tokens, 3);
	/* How the model stored its matrices comes back too. */
	assert_non_null(back.wtypes);
	assert_memory_equal(back.wtypes, tr.wtypes, (size_t)tr.cfg.n_layers * LD_WM_N * sizeof *tr.wtypes);
	assert_int_equal(back.wtype_embed, m.tok_embeddings.dtype);
	assert_int_equal(back.wtype_output, m.output.dtype);
	assert_int_equal(back.wtypes[LD_WM_DOWN], m.layers[0].w2.dtype);
	/* So does the kernel that computed it. */
	assert_true(back.kernel[0] != 0);
	assert_string_equal(back.kernel, tr.kernel);
	ld_trace_free(&back);

	/* A kernel name that is not one (here an escape sequence a terminal
	 * would obey) is refused, not printed. */
	char saved_kernel[sizeof tr.kernel];
	memcpy(saved_kernel, tr.kernel, sizeof saved_kernel);
	snprintf(tr.kernel, sizeof tr.kernel, "\033[2J");
	assert_int_equal(ld_trace_save(&tr, out, 1, &err), LD_OK);
	assert_int_equal(ld_trace_open(&back, out, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "metadata \"kernel\" is not a kernel name");
	memcpy(tr.kernel, saved_kernel, sizeof saved_kernel);

	/* A weight type the reader does not know is one clear line. */
	tr.wtypes[LD_WM_V] = LD_DTYPE_INVALID; /* saved as "?" */
	assert_int_equal(ld_trace_save(&tr, out, 1, &err), LD_OK);
	assert_int_equal(ld_trace_open(&back, out, &err), LD_ERR_FORMAT);
	assert_msg_has(err, "metadata \"weight_types\" is not a type for each matrix of each layer");
	ld_trace_free(&tr);
	ld_model_free(&m);
}

/* A trace recorded straight to its file reads back as the one saved from
 * memory: with room for its header, with too little room (the data then
 * copied behind it), and never leaving a file when it is not saved. */
static void test_trace_streamed(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	write_model(tl_tmp_path("stream"), good_config, NULL, NULL);
	assert_int_equal(ld_model_load(&m, tl_tmp_path("stream"), &err), LD_OK);
	const int32_t toks[] = {1, 5, 9, 2};
	struct ld_forward_opts o = {.n_generate = 2};
	struct ld_trace mem;
	ld_trace_init(&mem);
	assert_int_equal(ld_forward(&m, toks, 4, &o, &mem, &err), LD_OK);
	char *ref = strdup(tl_tmp_path("mem.safetensors"));
	assert_int_equal(ld_trace_save(&mem, ref, 0, &err), LD_OK);

	for (int tight = 0; tight < 2; tight++) {
		char name[32];
		snprintf(name, sizeof name, "streamed%d.safetensors", tight);
		char *out = strdup(tl_tmp_path(name));
		struct ld_trace tr;
		ld_trace_init(&tr);
		assert_int_equal(ld_trace_stream_to(&tr, out, 0, tight ? 0 : 1 << 20, &err), LD_OK);
		assert_int_equal(ld_forward(&m, toks, 4, &o, &tr, &err), LD_OK);
		assert_int_equal(tr.n, mem.n);
		assert_null(tr.t[0].data);
		/* only the file it streams to */
		assert_int_equal(ld_trace_save(&tr, ref, 1, &err), LD_ERR_USAGE);
		assert_msg_has(err, "this trace is being recorded to");
		assert_false(ld_path_exists(out)); /* not there before it is complete */
		assert_int_equal(ld_trace_save(&tr, out, 0, &err), LD_OK);
		struct ld_trace a, b;
		if (ld_trace_open(&a, out, &err) != LD_OK)
			fail_msg("%s", err.msg);
		assert_int_equal(ld_trace_open(&b, ref, &err), LD_OK);
		assert_int_equal(a.n, b.n);
		for (size_t i = 0; i < a.n; i++) {
			assert_string_equal(a.t[i].name, b.t[i].name);
			assert_string_equal(a.t[i].src, b.t[i].src);
			assert_int_equal(a.t[i].nbytes, b.t[i].nbytes);
			assert_memory_equal(a.t[i].data, b.t[i].data, a.t[i].nbytes);
		}
		assert_int_equal(a.n_generated, b.n_generated);
		assert_memory_equal(a.generated, b.generated, a.n_generated * sizeof *a.generated);
		ld_trace_free(&a);
		ld_trace_free(&b);
		ld_trace_free(&tr);
		free(out);
	}

	/* Not saved: no file, no temporary file. An existing file is not
	 * replaced without force. */
	char *out = strdup(tl_tmp_path("abandoned.safetensors"));
	struct ld_trace tr;
	ld_trace_init(&tr);
	assert_int_equal(ld_trace_stream_to(&tr, out, 0, 4096, &err), LD_OK);
	assert_int_equal(ld_forward(&m, toks, 4, NULL, &tr, &err), LD_OK);
	ld_trace_free(&tr);
	assert_false(ld_path_exists(out));
	char cmd[300];
	snprintf(cmd, sizeof cmd, "ls '%s' | grep -q tmp", tl_tmpdir());
	assert_int_not_equal(system(cmd), 0);
	ld_trace_init(&tr);
	assert_int_equal(ld_trace_stream_to(&tr, ref, 0, 4096, &err), LD_ERR_EXISTS);
	assert_msg_has(err, "already exists");
	ld_trace_free(&tr);
	free(out);
	free(ref);
	ld_trace_free(&mem);
	ld_model_free(&m);
}

static void test_trace_open_rejects_foreign(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_trace tr;
	/* A model file is a safetensors file but not a trace. */
	write_model(tl_tmp_path("foreign"), good_config, NULL, NULL);
	assert_int_equal(ld_trace_open(&tr, tl_tmp_path("foreign/model.safetensors"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "not a llamadbg trace");
	assert_int_equal(ld_trace_open(&tr, tl_tmp_path("nothing-here"), &err), LD_ERR_IO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_st_truncated),
		cmocka_unit_test(test_st_header_past_end),
		cmocka_unit_test(test_st_malformed_json),
		cmocka_unit_test(test_st_unknown_dtype),
		cmocka_unit_test(test_st_overlap_and_range),
		cmocka_unit_test(test_model_good_baseline),
		cmocka_unit_test(test_model_missing_tensor),
		cmocka_unit_test(test_model_wrong_shape),
		cmocka_unit_test(test_model_unsupported_dtype),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_forward_bad_tokens),
		cmocka_unit_test(test_save_unwritable_and_no_clobber),
		cmocka_unit_test(test_trace_streamed),
		cmocka_unit_test(test_trace_open_rejects_foreign),
	};
	return cmocka_run_group_tests(tests, tl_setup_tmpdir, tl_teardown_tmpdir);
}
