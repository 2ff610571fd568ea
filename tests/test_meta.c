/* test_meta.c - Meta's own checkpoint layout (params.json +
 * consolidated.NN.pth), directory detection, and the sequence classifier.
 *
 * The models in data/meta/ come from tests/reference/gen_meta_models.py:
 * the same random weights saved by torch.save in one shard, in two
 * model-parallel shards (inside original/), and in HF layout; golden
 * tensors from the float64 reference run on the HF twin. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "forward.h"
#include "model.h"
#include "safetensors.h"
#include "trace.h"
#include "util.h"
#include "testlib.h"

/* Trace dir on the golden's prompt; every point must match the golden. */
static void trace_against(const char *dir, const char *golden, struct ld_trace *tr)
{
	struct ld_err err = {{0}};
	struct ld_st_file gold;
	struct ld_model m;
	if (ld_st_open(&gold, golden, &err) != LD_OK)
		fail_msg("%s", err.msg);
	if (ld_model_load(&m, dir, &err) != LD_OK)
		fail_msg("%s", err.msg);
	size_t n_tok, n_gen;
	int32_t *tokens = tl_meta_ids(&gold, "tokens", &n_tok);
	int32_t *gen = tl_meta_ids(&gold, "generated", &n_gen);
	struct ld_forward_opts o = {.n_generate = atoi(ld_st_meta(&gold, "n_generate"))};
	ld_trace_init(tr);
	if (ld_forward(&m, tokens, n_tok, &o, tr, &err) != LD_OK)
		fail_msg("%s: %s", dir, err.msg);
	assert_int_equal(tr->n_generated, n_gen);
	for (size_t i = 0; i < n_gen; i++)
		assert_int_equal(tr->generated[i], gen[i]);
	int bad = 0;
	for (size_t i = 0; i < gold.n; i++) {
		long k = ld_trace_find(tr, gold.t[i].name);
		if (k < 0) {
			print_error("%s: point %s was not recorded\n", dir, gold.t[i].name);
			bad++;
			continue;
		}
		bad += tl_compare_point(dir, &tr->t[k], &gold.t[i]);
	}
	for (size_t i = 0; i < tr->n; i++)
		if (!ld_st_find(&gold, tr->t[i].name)) {
			print_error("%s: recorded %s has no reference\n", dir, tr->t[i].name);
			bad++;
		}
	assert_int_equal(bad, 0);
	free(tokens);
	free(gen);
	ld_model_free(&m);
	ld_st_close(&gold);
}

/* Two traces of the same weights: the same tensors, bit for bit. */
static void assert_identical(const struct ld_trace *a, const struct ld_trace *b, const char *what)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_string_equal(a->t[i].name, b->t[i].name);
		assert_int_equal(a->t[i].nbytes, b->t[i].nbytes);
		if (memcmp(a->t[i].data, b->t[i].data, a->t[i].nbytes) != 0)
			fail_msg("%s: %s differs between the layouts", what, a->t[i].name);
	}
	assert_int_equal(a->n_generated, b->n_generated);
}

/* one shard, two shards (in original/) and HF: golden, and identical. */
static void check_model(const char *name)
{
	char one[128], two[128], hf[128], golden[160];
	snprintf(one, sizeof one, "data/meta/%s/one", name);
	snprintf(two, sizeof two, "data/meta/%s/two", name);
	snprintf(hf, sizeof hf, "data/meta/%s/hf", name);
	snprintf(golden, sizeof golden, "data/meta/%s/hf/golden.safetensors", name);
	struct ld_trace t1, t2, th;
	trace_against(one, golden, &t1);
	trace_against(two, golden, &t2);
	trace_against(hf, golden, &th);
	assert_identical(&t1, &th, "one shard vs HF");
	assert_identical(&t2, &th, "two shards vs HF");
	ld_trace_free(&t1);
	ld_trace_free(&t2);
	ld_trace_free(&th);
}

/* F32, llama3 scaling from use_scaled_rope, untied output, Meta's FFN rule
 * with ffn_dim_multiplier, gains as views of one storage. */
static void test_f32_scaled(void **state) { (void)state; check_model("f32_scaled"); }
/* BF16 kept as stored, no scaling, vocab_size -1, tied (no output.weight),
 * MHA, max_seq_len. */
static void test_bf16_plain(void **state) { (void)state; check_model("bf16_plain"); }

/* ---- what the loader found */

static void test_loaded_models(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	assert_int_equal(ld_model_load(&m, "data/meta/f32_scaled/one", &err), LD_OK);
	assert_int_equal(m.format, LD_FORMAT_META);
	assert_string_equal(m.weights_dir, "data/meta/f32_scaled/one");
	assert_int_equal(m.cfg.ffn_dim, 64);
	assert_int_equal(m.meta.multiple_of, 16);
	assert_true(m.cfg.rope_scaling.enabled);
	assert_float_equal(m.cfg.rope_scaling.factor, 8, 0);
	assert_float_equal(m.cfg.rope_scaling.original_max_position_embeddings, 8192, 0);
	assert_string_equal(m.meta.rope_scaling_from, "Meta's defaults");
	assert_int_equal(m.cfg.max_pos, 131072);
	assert_int_equal(m.cfg.bos_id, 8); /* 264 - 256 */
	assert_int_equal(m.cfg.n_eos, 2);
	assert_int_equal(m.cfg.eos_ids[0], 9);
	assert_int_equal(m.cfg.eos_ids[1], 17);
	assert_null(m.layers[0].wq.row_map); /* Meta's rows are already interleaved */
	assert_int_equal(m.copied_bytes, 0);
	/* One shard: every matrix is a view into the mapped file. */
	const char *base = m.pth[0].map;
	assert_true((const char *)m.layers[1].w2.data > base &&
	            (const char *)m.layers[1].w2.data < base + m.pth[0].map_len);
	ld_model_free(&m);

	assert_int_equal(ld_model_load(&m, "data/meta/bf16_plain/two", &err), LD_OK);
	assert_string_equal(m.weights_dir, "data/meta/bf16_plain/two/original");
	assert_int_equal(m.n_pth, 2);
	assert_int_equal(m.dtype, LD_BF16);
	assert_true(m.meta.vocab_from_weights);
	assert_int_equal(m.cfg.vocab_size, 270);
	assert_int_equal(m.cfg.bos_id, 14);
	assert_int_equal(m.cfg.max_pos, 64);
	assert_true(m.cfg.tie_embeddings);
	assert_ptr_equal(m.output.data, m.tok_embeddings.data);
	/* Joined: wq wk wv wo w1 w3 w2 per layer and the embeddings are copies. */
	size_t D = 32, F = 88, V = 270, per_layer = 4 * D * D + 3 * F * D;
	assert_int_equal(m.copied_bytes, (2 * per_layer + V * D) * 2);
	assert_int_equal(m.n_owned, 2 * 7 + 1);
	ld_model_free(&m);

	/* inspect: the same checks and numbers, nothing joined. */
	assert_int_equal(ld_model_inspect(&m, "data/meta/bf16_plain/two", &err), LD_OK);
	assert_int_equal(m.copied_bytes, (2 * per_layer + V * D) * 2);
	assert_int_equal(m.n_owned, 0);
	struct ld_trace tr;
	ld_trace_init(&tr);
	const int32_t tok[] = {14, 5};
	assert_int_equal(ld_forward(&m, tok, 2, NULL, &tr, &err), LD_ERR_USAGE);
	ld_trace_free(&tr);
	ld_model_free(&m);
}

static void test_detect(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	enum ld_format fmt;
	char *wd;
	assert_int_equal(ld_model_detect("data/meta/f32_scaled/hf", &fmt, &wd, &err), LD_OK);
	assert_int_equal(fmt, LD_FORMAT_HF);
	free(wd);
	assert_int_equal(ld_model_detect("data/meta/f32_scaled/one", &fmt, &wd, &err), LD_OK);
	assert_int_equal(fmt, LD_FORMAT_META);
	assert_string_equal(wd, "data/meta/f32_scaled/one");
	free(wd);
	assert_int_equal(ld_model_detect("data/meta/f32_scaled/two", &fmt, &wd, &err), LD_OK);
	assert_int_equal(fmt, LD_FORMAT_META);
	assert_string_equal(wd, "data/meta/f32_scaled/two/original");
	free(wd);
	assert_int_equal(ld_model_detect("data/meta/f32_scaled", &fmt, &wd, &err), LD_ERR_IO);
	assert_null(wd);
	assert_msg_has(err, "data/meta/f32_scaled: no model found");
	assert_msg_has(err, "params.json + consolidated.00.pth");
}

/* ---- params.json */

static void test_ffn_rule(void **state)
{
	(void)state;
	assert_int_equal(ld_meta_ffn_dim(4096, 1024, 1.3), 14336);  /* Llama 3 8B */
	assert_int_equal(ld_meta_ffn_dim(8192, 4096, 1.3), 28672);  /* Llama 3 70B */
	assert_int_equal(ld_meta_ffn_dim(16384, 4096, 1.2), 53248); /* Llama 3.1 405B */
	assert_int_equal(ld_meta_ffn_dim(2048, 256, 1.5), 8192);    /* Llama 3.2 1B */
	assert_int_equal(ld_meta_ffn_dim(3072, 256, 1.0), 8192);    /* Llama 3.2 3B */
	assert_int_equal(ld_meta_ffn_dim(4096, 256, 0), 11008);     /* Llama 2 7B */
}

static void test_params_8b(void **state)
{
	(void)state;
	/* Meta-Llama-3.1-8B's params.json. */
	const char *p = "{\"dim\": 4096, \"ffn_dim_multiplier\": 1.3, \"multiple_of\": 1024, \"n_heads\": 32,"
	                " \"n_kv_heads\": 8, \"n_layers\": 32, \"norm_eps\": 1e-05, \"rope_theta\": 500000.0,"
	                " \"use_scaled_rope\": true, \"vocab_size\": 128256}";
	struct ld_config c;
	struct ld_meta_params mp;
	struct ld_err err = {{0}};
	assert_int_equal(ld_config_parse_meta(&c, &mp, p, strlen(p), "params.json", &err), LD_OK);
	assert_int_equal(c.dim, 4096);
	assert_int_equal(c.ffn_dim, 14336);
	assert_int_equal(c.head_dim, 128);
	assert_int_equal(c.n_kv_heads, 8);
	assert_int_equal(c.vocab_size, 128256);
	assert_int_equal(c.bos_id, 128000);
	assert_int_equal(c.n_eos, 2);
	assert_int_equal(c.eos_ids[0], 128001);
	assert_int_equal(c.eos_ids[1], 128009);
	assert_true(c.rope_scaling.enabled);
	assert_float_equal(c.rope_scaling.factor, 8, 0);
	assert_float_equal(c.rope_scaling.low_freq_factor, 1, 0);
	assert_float_equal(c.rope_scaling.high_freq_factor, 4, 0);
	assert_int_equal(c.max_pos, 131072);
	assert_false(c.tie_embeddings);
	assert_int_equal(ld_config_n_params(&c), 8030261248ull);
	/* Llama 3 (no scaling), vocab from the weights, a stated factor. */
	const char *q = "{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 4, \"vocab_size\": -1, \"multiple_of\": 32}";
	assert_int_equal(ld_config_parse_meta(&c, &mp, q, strlen(q), "params.json", &err), LD_OK);
	assert_true(mp.vocab_from_weights);
	assert_int_equal(c.vocab_size, 0);
	assert_int_equal(c.n_kv_heads, 4);
	assert_int_equal(c.ffn_dim, 192); /* int(512/3) = 170 -> 192 */
	assert_false(c.rope_scaling.enabled);
	assert_int_equal(c.max_pos, 8192);
	const char *r = "{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 4, \"vocab_size\": 512,"
	                " \"use_scaled_rope\": true, \"rope_scaling_factor\": 32}";
	assert_int_equal(ld_config_parse_meta(&c, &mp, r, strlen(r), "params.json", &err), LD_OK);
	assert_float_equal(c.rope_scaling.factor, 32, 0);
	assert_string_equal(mp.rope_scaling_from, "params.json");
}

static void test_params_errors(void **state)
{
	(void)state;
	struct ld_config c;
	struct ld_meta_params mp;
	struct ld_err err = {{0}};
	const struct {
		const char *json, *msg;
		enum ld_status st;
	} cases[] = {
		{"{\"n_layers\": 1, \"n_heads\": 4}", "missing \"dim\"", LD_ERR_FORMAT},
		{"{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 3}", "dim 64 is not n_heads 3 times", LD_ERR_SHAPE},
		{"{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 4, \"n_kv_heads\": 3}", "not a multiple of n_kv_heads 3",
		 LD_ERR_SHAPE},
		{"{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 4, \"vocab_size\": 0}", "\"vocab_size\" is 0",
		 LD_ERR_RANGE},
		{"{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 4, \"use_scaled_rope\": 1}", "true or false",
		 LD_ERR_FORMAT},
		{"{\"dim\": 64, \"n_layers\": 1, \"n_heads\": 4, \"multiple_of\": 0}", "\"multiple_of\" is 0",
		 LD_ERR_RANGE},
		{"{\"dim\": 64,", "malformed JSON", LD_ERR_FORMAT},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(ld_config_parse_meta(&c, &mp, cases[i].json, strlen(cases[i].json), "params.json",
		                                      &err), cases[i].st);
		assert_msg_has(err, "params.json");
		assert_msg_has(err, cases[i].msg);
	}
}

/* ---- broken Meta directories */

static void copy_file(const char *from, const char *to)
{
	char *text;
	size_t len;
	struct ld_err err = {{0}};
	assert_int_equal(ld_read_file(from, 1 << 24, &text, &len, &err), LD_OK);
	FILE *f = fopen(to, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	fclose(f);
	free(text);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_params_disagree_with_tensors(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	char path[300];
	mkdir(tl_tmp_path("kv"), 0755);
	snprintf(path, sizeof path, "%s/consolidated.00.pth", tl_tmp_path("kv"));
	copy_file("data/meta/f32_scaled/one/consolidated.00.pth", path);
	/* The file has 2 KV heads; params.json claims 4. */
	snprintf(path, sizeof path, "%s/params.json", tl_tmp_path("kv"));
	write_text(path, "{\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"n_kv_heads\": 4, \"vocab_size\": 264,"
	                 " \"multiple_of\": 16, \"ffn_dim_multiplier\": 0.7}");
	assert_int_equal(ld_model_load(&m, tl_tmp_path("kv"), &err), LD_ERR_SHAPE);
	assert_msg_has(err, "consolidated.00.pth: layers.0.attention.wk.weight has shape [16, 32], "
	                    "params.json says [32, 32]");
	/* Without the multiplier the FFN would be 96 wide. */
	write_text(path, "{\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"n_kv_heads\": 2, \"vocab_size\": 264,"
	                 " \"multiple_of\": 16}");
	assert_int_equal(ld_model_load(&m, tl_tmp_path("kv"), &err), LD_ERR_SHAPE);
	assert_msg_has(err, "layers.0.feed_forward.w1.weight has shape [64, 32], params.json says [96, 32]");
	/* A vocabulary the embedding table does not have. */
	write_text(path, "{\"dim\": 32, \"n_layers\": 2, \"n_heads\": 4, \"n_kv_heads\": 2, \"vocab_size\": 128256,"
	                 " \"multiple_of\": 16, \"ffn_dim_multiplier\": 0.7}");
	assert_int_equal(ld_model_load(&m, tl_tmp_path("kv"), &err), LD_ERR_SHAPE);
	assert_msg_has(err, "tok_embeddings.weight has shape [264, 32], params.json says [128256, 32]");
	/* More layers than the file has. */
	write_text(path, "{\"dim\": 32, \"n_layers\": 3, \"n_heads\": 4, \"n_kv_heads\": 2, \"vocab_size\": 264,"
	                 " \"multiple_of\": 16, \"ffn_dim_multiplier\": 0.7}");
	assert_int_equal(ld_model_load(&m, tl_tmp_path("kv"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "consolidated.00.pth: missing tensor layers.2.attention.wq.weight");
}

static void test_shard_errors(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	char from[200], to[300];
	const char *src = "data/meta/bf16_plain/two/original";
	/* Shard 01 missing: 00 and 02 only. */
	mkdir(tl_tmp_path("gap"), 0755);
	snprintf(from, sizeof from, "%s/params.json", src);
	snprintf(to, sizeof to, "%s/params.json", tl_tmp_path("gap"));
	copy_file(from, to);
	snprintf(from, sizeof from, "%s/consolidated.00.pth", src);
	snprintf(to, sizeof to, "%s/consolidated.00.pth", tl_tmp_path("gap"));
	copy_file(from, to);
	snprintf(from, sizeof from, "%s/consolidated.01.pth", src);
	snprintf(to, sizeof to, "%s/consolidated.02.pth", tl_tmp_path("gap"));
	copy_file(from, to);
	assert_int_equal(ld_model_load(&m, tl_tmp_path("gap"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "consolidated.01.pth is missing (shards 00..02)");

	/* A replicated norm that differs between the shards. */
	mkdir(tl_tmp_path("norm"), 0755);
	for (int k = 0; k < 2; k++) {
		snprintf(from, sizeof from, "%s/consolidated.%02d.pth", src, k);
		snprintf(to, sizeof to, "%s/consolidated.%02d.pth", tl_tmp_path("norm"), k);
		copy_file(from, to);
	}
	snprintf(from, sizeof from, "%s/params.json", src);
	snprintf(to, sizeof to, "%s/params.json", tl_tmp_path("norm"));
	copy_file(from, to);
	struct ld_pth_file f;
	snprintf(to, sizeof to, "%s/consolidated.01.pth", tl_tmp_path("norm"));
	assert_int_equal(ld_pth_open(&f, to, &err), LD_OK);
	const struct ld_pth_tensor *t = ld_pth_find(&f, "layers.1.ffn_norm.weight");
	off_t at = (const char *)t->data - (const char *)f.map;
	ld_pth_close(&f);
	int fd = open(to, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "\x12", 1, at), 1); /* storages carry no checksum */
	close(fd);
	assert_int_equal(ld_model_load(&m, tl_tmp_path("norm"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "consolidated.01.pth: layers.1.ffn_norm.weight differs from the one in");
	assert_msg_has(err, "it should be replicated");

	/* Shards of different models: one shard's slice from another layout. */
	snprintf(from, sizeof from, "data/meta/f32_scaled/two/original/consolidated.01.pth");
	copy_file(from, to);
	assert_int_equal(ld_model_load(&m, tl_tmp_path("norm"), &err), LD_ERR_DTYPE);
	assert_msg_has(err, "consolidated.01.pth: tok_embeddings.weight is F32, but BF16 in");

	/* A broken shard names itself. */
	write_text(to, "not a zip");
	assert_int_equal(ld_model_load(&m, tl_tmp_path("norm"), &err), LD_ERR_FORMAT);
	assert_msg_has(err, "consolidated.01.pth: not a zip archive");
}

/* An HF repo's original/ folder: the config.json beside it states the
 * llama3 constants that params.json leaves to Meta's code. */
static void test_original_with_hf_config(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_model m;
	char to[300];
	mkdir(tl_tmp_path("repo"), 0755);
	mkdir(tl_tmp_path("repo/original"), 0755);
	snprintf(to, sizeof to, "%s/consolidated.00.pth", tl_tmp_path("repo/original"));
	copy_file("data/meta/f32_scaled/one/consolidated.00.pth", to);
	snprintf(to, sizeof to, "%s/params.json", tl_tmp_path("repo/original"));
	copy_file("data/meta/f32_scaled/one/params.json", to);
	snprintf(to, sizeof to, "%s/config.json", tl_tmp_path("repo"));
	write_text(to, "{\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2,"
	               " \"num_attention_heads\": 4, \"vocab_size\": 264, \"rope_scaling\": {\"rope_type\":"
	               " \"llama3\", \"factor\": 32.0, \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
	               " \"original_max_position_embeddings\": 8192}}");
	if (ld_model_load(&m, tl_tmp_path("repo"), &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(m.format, LD_FORMAT_META);
	assert_float_equal(m.cfg.rope_scaling.factor, 32, 0);
	assert_string_equal(m.meta.rope_scaling_from, "config.json beside original/");
	ld_model_free(&m);
}

/* ---- the sequence classifier */

static void test_classifier(void **state)
{
	(void)state;
	struct ld_err err = {{0}};
	struct ld_trace tr;
	trace_against("data/meta/cls_f32", "data/meta/cls_f32/golden.safetensors", &tr);
	/* score replaces logits: token x label. */
	assert_true(ld_trace_find(&tr, "logits") < 0);
	long k = ld_trace_find(&tr, "score");
	assert_true(k >= 0);
	assert_string_equal(tr.t[k].axes, "token,label");
	assert_int_equal(tr.t[k].shape[1], 3);
	assert_int_equal(tr.cfg.n_labels, 3);
	assert_string_equal(tr.cfg.labels[2], "positive");

	/* The labels survive the trace file (config JSON round trip). */
	char path[128];
	snprintf(path, sizeof path, "%s/cls.safetensors", tl_tmpdir());
	assert_int_equal(ld_trace_save(&tr, path, 1, &err), LD_OK);
	struct ld_trace back;
	if (ld_trace_open(&back, path, &err) != LD_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(back.cfg.n_labels, 3);
	assert_string_equal(back.cfg.labels[0], "negative");
	assert_string_equal(back.cfg.labels[1], "neutral");
	assert_memory_equal(&back.cfg, &tr.cfg, sizeof back.cfg);
	k = ld_trace_find(&back, "score");
	assert_int_equal(back.t[k].point, LD_PT_SCORE);
	ld_trace_free(&back);
	ld_trace_free(&tr);

	/* No next token, so no generation. */
	struct ld_model m;
	assert_int_equal(ld_model_load(&m, "data/meta/cls_f32", &err), LD_OK);
	assert_int_equal(m.cfg.n_labels, 3);
	assert_null(m.output.data);
	ld_trace_init(&tr);
	const int32_t tok[] = {8, 100, 7};
	struct ld_forward_opts o = {.n_generate = 2};
	assert_int_equal(ld_forward(&m, tok, 3, &o, &tr, &err), LD_ERR_USAGE);
	assert_msg_has(err, "sequence classifier");
	assert_msg_has(err, "cannot generate");
	ld_trace_free(&tr);
	ld_model_free(&m);
}

static void test_classifier_config(void **state)
{
	(void)state;
	struct ld_config c;
	struct ld_err err = {{0}};
	const char *base = "{\"hidden_size\": 8, \"intermediate_size\": 4, \"num_hidden_layers\": 1,"
	                   " \"num_attention_heads\": 2, \"vocab_size\": 16,"
	                   " \"architectures\": [\"LlamaForSequenceClassification\"]";
	char js[1024];
	/* No id2label: num_labels names them LABEL_i; nothing: 2 labels. */
	snprintf(js, sizeof js, "%s, \"num_labels\": 4}", base);
	assert_int_equal(ld_config_parse(&c, js, strlen(js), "config.json", &err), LD_OK);
	assert_int_equal(c.n_labels, 4);
	assert_string_equal(c.labels[3], "LABEL_3");
	snprintf(js, sizeof js, "%s}", base);
	assert_int_equal(ld_config_parse(&c, js, strlen(js), "config.json", &err), LD_OK);
	assert_int_equal(c.n_labels, 2);
	/* A long UTF-8 name is cut between characters. */
	snprintf(js, sizeof js, "%s, \"id2label\": {\"0\": \"%s\"}}", base,
	         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
	         "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9x");
	assert_int_equal(ld_config_parse(&c, js, strlen(js), "config.json", &err), LD_OK);
	assert_int_equal(strlen(c.labels[0]), 46);
	/* Bad label maps. */
	snprintf(js, sizeof js, "%s, \"id2label\": {\"0\": \"a\", \"5\": \"b\"}}", base);
	assert_int_equal(ld_config_parse(&c, js, strlen(js), "config.json", &err), LD_ERR_FORMAT);
	assert_msg_has(err, "config.json: id2label entry \"5\" should map a label id 0..1 to a name");
	snprintf(js, sizeof js, "%s, \"num_labels\": 1000}", base);
	assert_int_equal(ld_config_parse(&c, js, strlen(js), "config.json", &err), LD_ERR_RANGE);
	assert_msg_has(err, "\"num_labels\" is 1000");
	/* A causal LM config ignores num_labels. */
	const char *lm = "{\"hidden_size\": 8, \"intermediate_size\": 4, \"num_hidden_layers\": 1,"
	                 " \"num_attention_heads\": 2, \"vocab_size\": 16, \"num_labels\": 3}";
	assert_int_equal(ld_config_parse(&c, lm, strlen(lm), "config.json", &err), LD_OK);
	assert_int_equal(c.n_labels, 0);
	/* Round trip through the trace's config JSON. */
	snprintf(js, sizeof js, "%s, \"id2label\": {\"1\": \"yes\", \"0\": \"no\"}}", base);
	assert_int_equal(ld_config_parse(&c, js, strlen(js), "config.json", &err), LD_OK);
	char *out = ld_config_to_json(&c);
	struct ld_config back;
	assert_int_equal(ld_config_parse(&back, out, strlen(out), "trace", &err), LD_OK);
	assert_memory_equal(&back, &c, sizeof c);
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f32_scaled),
		cmocka_unit_test(test_bf16_plain),
		cmocka_unit_test(test_loaded_models),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_ffn_rule),
		cmocka_unit_test(test_params_8b),
		cmocka_unit_test(test_params_errors),
		cmocka_unit_test(test_params_disagree_with_tensors),
		cmocka_unit_test(test_shard_errors),
		cmocka_unit_test(test_original_with_hf_config),
		cmocka_unit_test(test_classifier),
		cmocka_unit_test(test_classifier_config),
	};
	return cmocka_run_group_tests(tests, tl_setup_tmpdir, tl_teardown_tmpdir);
}
