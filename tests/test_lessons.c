/* test_lessons.c - every lesson parses, points at points the demo trace
 * has, and asks questions whose answers this test computes on its own
 * from the trace; malformed lessons fail with file:line; progress round-
 * trips; one lesson step on a headless screen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <curses.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lesson.h"
#include "model.h"
#include "runner.h"
#include "testlib.h"

#define SEED "the answer to the ultimate question of life, the universe, and everything is "

static struct ld_trace demo;
/* The trace a lesson is checked on (the demo's, or that of the lesson's
 * "model:"), and that model, loaded here, when the lesson names one. */
static const struct ld_trace *cur = &demo;
static const struct ld_model *cur_model;

static int load_demo(void **state)
{
	const char *only[1] = {0};
	struct ld_trace_request rq = {.model_dir = "../data/demo", .prompt = SEED, .n_generate = 3, .only = only,
	                              .lens_k = 5}; /* as `llamadbg lesson` traces it */
	if (ld_cli_trace_run(&rq, &demo) != 0)
		return -1;
	return tl_setup_tmpdir(state);
}

static int free_demo(void **state)
{
	ld_trace_free(&demo);
	return tl_teardown_tmpdir(state);
}

static const struct ld_tensor *point(const char *name)
{
	long i = ld_trace_find(cur, name);
	if (i < 0)
		fail_msg("the trace has no %s", name);
	return &cur->t[i];
}

static size_t pos_of(const char *arg, size_t n)
{
	return strcmp(arg, "last") == 0 ? n - 1 : (size_t)atol(arg);
}

/* The answer to a check, worked out here from the trace (not by ls_expect). */
static void my_answer(const struct ls_check *c, char *buf, size_t size)
{
	const struct ld_config *g = &cur->cfg;
	const struct ld_tensor *t;
	size_t o = 0;
	switch (c->kind) {
	case LS_CK_SHAPE:
		t = point(c->arg[0]);
		for (int i = 0; i < t->ndim; i++)
			o += (size_t)snprintf(buf + o, size - o, "%s%zu", i ? " x " : "", t->shape[i]);
		return;
	case LS_CK_CONFIG: {
		const char *f = c->arg[0];
		if (!strcmp(f, "n_layers")) snprintf(buf, size, "%d", g->n_layers);
		else if (!strcmp(f, "dim")) snprintf(buf, size, "%d", g->dim);
		else if (!strcmp(f, "bos_id")) snprintf(buf, size, "%d", g->bos_id);
		else if (!strcmp(f, "norm_eps")) snprintf(buf, size, "%g", g->norm_eps);
		else if (!strcmp(f, "rope_theta")) snprintf(buf, size, "%.0f", g->rope_theta);
		else if (!strcmp(f, "rope_factor")) snprintf(buf, size, "%g", g->rope_scaling.factor);
		else if (!strcmp(f, "vocab_size")) snprintf(buf, size, "%d", g->vocab_size);
		else fail_msg("the test does not know config %s", f);
		return;
	}
	case LS_CK_HEADS_PER_KV:
		snprintf(buf, size, "%d", g->n_heads / g->n_kv_heads);
		return;
	case LS_CK_KV_HEAD_OF:
		snprintf(buf, size, "%d", atoi(c->arg[0]) * g->n_kv_heads / g->n_heads);
		return;
	case LS_CK_N_TOKENS:
		snprintf(buf, size, "%zu", cur->n_tokens);
		return;
	case LS_CK_TOKEN_ID:
		snprintf(buf, size, "%d", cur->tokens[pos_of(c->arg[0], cur->n_tokens)]);
		return;
	case LS_CK_ROPE_PAIRS:
		snprintf(buf, size, "%d", g->head_dim / 2);
		return;
	case LS_CK_ARGMAX_KEY: {
		t = point(c->arg[0]);
		size_t h = (size_t)atol(c->arg[1]), Q = t->shape[1], K = t->shape[2], q = pos_of(c->arg[2], Q), best = 0;
		for (size_t k = 0; k < K; k++)
			if (ld_tensor_get(t, (h * Q + q) * K + k) > ld_tensor_get(t, (h * Q + q) * K + best))
				best = k;
		snprintf(buf, size, "%zu", best);
		return;
	}
	case LS_CK_ARGMAX_TOKEN: {
		t = point(c->arg[0]);
		if (ld_point_lens(t->point)) {
			/* a lens: the id whose probability is the largest of the K kept */
			char probs[96];
			snprintf(probs, sizeof probs, "layers.%d.lens_probs", t->layer);
			const struct ld_tensor *pt = point(probs);
			size_t K = t->shape[1], p = pos_of(c->arg[1], t->shape[0]), best = 0;
			for (size_t k = 0; k < K; k++)
				if (ld_tensor_get(pt, p * K + k) > ld_tensor_get(pt, p * K + best))
					best = k;
			snprintf(buf, size, "%.0f", ld_tensor_get(t, p * K + best));
			return;
		}
		size_t V = t->shape[1], p = pos_of(c->arg[1], t->shape[0]), best = 0;
		for (size_t k = 0; k < V; k++)
			if (ld_tensor_get(t, p * V + k) > ld_tensor_get(t, p * V + best))
				best = k;
		snprintf(buf, size, "%zu", best);
		return;
	}
	case LS_CK_RMS: {
		/* r from the layer's input row: 1/sqrt(mean(x^2) + eps) */
		int layer = -1;
		char in[64];
		assert_int_equal(sscanf(c->arg[0], "layers.%d.attn_rms", &layer), 1);
		if (layer == 0)
			snprintf(in, sizeof in, "embed");
		else
			snprintf(in, sizeof in, "layers.%d.resid_out", layer - 1);
		t = point(in);
		size_t D = t->shape[1], p = pos_of(c->arg[1], t->shape[0]);
		double ss = 0;
		for (size_t d = 0; d < D; d++)
			ss += ld_tensor_get(t, p * D + d) * ld_tensor_get(t, p * D + d);
		snprintf(buf, size, "%.6f", 1.0 / sqrt(ss / (double)D + g->norm_eps));
		return;
	}
	case LS_CK_MASKED: {
		/* query q sits at absolute position K-Q+q and may not see the keys after it */
		t = point(c->arg[0]);
		size_t Q = t->shape[1], K = t->shape[2], n = 0;
		for (size_t q = 0; q < Q; q++)
			n += K - 1 - (K - Q + q);
		snprintf(buf, size, "%zu", n);
		return;
	}
	case LS_CK_WEIGHT_SHAPE: {
		long D = g->dim, H = g->n_heads * g->head_dim, KV = g->n_kv_heads * g->head_dim, F = g->ffn_dim;
		const char *w = c->arg[0];
		long r = !strcmp(w, "wq") ? H : !strcmp(w, "wk") || !strcmp(w, "wv") ? KV
		       : !strcmp(w, "wo") || !strcmp(w, "w2") ? D : !strcmp(w, "w1") || !strcmp(w, "w3") ? F : g->vocab_size;
		long k = !strcmp(w, "wo") ? H : !strcmp(w, "w2") ? F : D;
		snprintf(buf, size, "[%ld, %ld]", r, k);
		return;
	}
	case LS_CK_FFN_HIDDEN: {
		long m = atol(c->arg[0]), h = 2 * 4 * g->dim / 3;
		double mult = atof(c->arg[1]);
		if (mult > 0)
			h = (long)(mult * (double)h);
		snprintf(buf, size, "%ld", (h + m - 1) / m * m);
		return;
	}
	case LS_CK_WEIGHT_TYPE: {
		/* from the model as loaded, not from the trace */
		const struct ld_model *m = cur_model;
		if (!m)
			fail_msg("weight_type needs the lesson's model");
		const struct ld_weight *w = NULL;
		int layer;
		char mat[8];
		if (!strcmp(c->arg[0], "tok_embeddings"))
			w = &m->tok_embeddings;
		else if (!strcmp(c->arg[0], "output"))
			w = m->output.data ? &m->output : &m->tok_embeddings;
		else if (sscanf(c->arg[0], "layers.%d.%7s", &layer, mat) == 2) {
			const struct ld_layer *ly = &m->layers[layer];
			w = !strcmp(mat, "wq") ? &ly->wq : !strcmp(mat, "wk") ? &ly->wk : !strcmp(mat, "wv") ? &ly->wv
			  : !strcmp(mat, "wo") ? &ly->wo : !strcmp(mat, "w1") ? &ly->w1 : !strcmp(mat, "w3") ? &ly->w3
			  : &ly->w2;
		}
		assert_non_null(w);
		snprintf(buf, size, "%s", ld_dtype_name(w->dtype));
		return;
	}
	case LS_CK_ARGMIN: {
		/* the smallest value's index, axis by axis */
		t = point(c->arg[0]);
		size_t n = ld_tensor_numel(t), best = 0;
		for (size_t i = 0; i < n; i++)
			if (ld_tensor_get(t, i) < ld_tensor_get(t, best))
				best = i;
		if (t->ndim == 2)
			snprintf(buf, size, "%zu %zu", best / t->shape[1], best % t->shape[1]);
		else
			snprintf(buf, size, "%zu", best);
		return;
	}
	default:
		fail_msg("check kind %d has no independent answer in the test", c->kind);
	}
}

static void every_lesson(void **state)
{
	char **paths;
	size_t n;
	struct ld_err err = {""};
	assert_int_equal(ls_list_dir("../lessons", &paths, &n, &err), LD_OK);
	assert_true(n >= 14);
	size_t checks = 0;
	for (size_t i = 0; i < n; i++) {
		struct ls_lesson L;
		if (ls_load(&L, paths[i], &err) != LD_OK)
			fail_msg("%s", err.msg);
		/* a lesson with "model:" runs on a trace of that model, traced
		 * as `llamadbg lesson` traces it */
		struct ld_trace own;
		struct ld_model m;
		char dir[256];
		cur = &demo;
		cur_model = NULL;
		int sweep = ls_mentions(&L, "ablation.");
		if (L.model || sweep) {
			snprintf(dir, sizeof dir, "../%s", L.model ? L.model : "data/demo");
			const char *only[1] = {0};
			struct ld_trace_request rq = {.model_dir = dir, .prompt = SEED, .n_generate = 3,
			                              .only = only, .lens_k = 5, .ablation_sweep = sweep};
			if (ld_cli_trace_run(&rq, &own) != 0)
				fail_msg("%s: cannot trace its model %s", L.path, L.model);
			if (ld_model_load(&m, dir, &err) != LD_OK)
				fail_msg("%s", err.msg);
			cur = &own;
			cur_model = &m;
		} else {
			if (ld_model_load(&m, "../data/demo", &err) != LD_OK)
				fail_msg("%s", err.msg);
			cur_model = &m;
		}
		if (ls_validate(&L, cur, &err) != LD_OK)
			fail_msg("%s", err.msg);
		for (size_t s = 0; s < L.n_steps; s++) {
			const struct ls_check *c = &L.steps[s].check;
			if (!c->kind)
				continue;
			struct ls_expect e;
			char mine[128];
			assert_int_equal(ls_expect(&L, c, cur, &e, &err), LD_OK);
			my_answer(c, mine, sizeof mine);
			if (!ls_answer_ok(&e, mine))
				fail_msg("%s:%d: computed \"%s\", the lesson code expects %s", L.path, c->line, mine, e.show);
			if (ls_answer_ok(&e, "123456789"))
				fail_msg("%s:%d: a wrong answer was accepted", L.path, c->line);
			checks++;
		}
		if (cur != &demo)
			ld_trace_free(&own);
		ld_model_free(&m);
		cur = &demo;
		cur_model = NULL;
		ls_free(&L);
	}
	assert_true(checks >= 14);
	ls_list_free(paths, n);
}

/* The demo model answers 42, and the argmax_token check takes the text too. */
static void answer_42(void **state)
{
	struct ls_lesson L;
	struct ld_err err = {""};
	const char *txt = "title: t\nsummary: s\n== a\ntext\n@check argmax_token logits last\n@hint h\n";
	assert_int_equal(ls_parse(&L, "x.txt", txt, strlen(txt), &err), LD_OK);
	struct ls_expect e;
	assert_int_equal(ls_expect(&L, &L.steps[0].check, &demo, &e, &err), LD_OK);
	assert_true(ls_answer_ok(&e, "42"));
	assert_true(ls_answer_ok(&e, " \"42\" "));
	assert_false(ls_answer_ok(&e, "41"));
	ls_free(&L);
}

/* One check, parsed from a one-step lesson, computed on the demo. */
static void expect_of(const char *check, struct ls_expect *e)
{
	char txt[256];
	struct ls_lesson L;
	struct ld_err err = {""};
	snprintf(txt, sizeof txt, "title: t\nsummary: s\n== a\ntext\n@check %s\n@hint h\n", check);
	assert_int_equal(ls_parse(&L, "x.txt", txt, strlen(txt), &err), LD_OK);
	assert_int_equal(ls_expect(&L, &L.steps[0].check, &demo, e, &err), LD_OK);
	ls_free(&L);
}

/* weight_type: the type's name in any case, nothing else. */
static void answer_weight_type(void **state)
{
	(void)state;
	struct ls_expect e;
	expect_of("weight_type layers.0.w2", &e);
	assert_string_equal(e.text, ld_dtype_name(demo.wtypes[LD_WM_DOWN]));
	char lower[32];
	size_t k = 0;
	for (; e.text[k] && k + 1 < sizeof lower; k++)
		lower[k] = (char)tolower((unsigned char)e.text[k]);
	lower[k] = '\0';
	assert_true(ls_answer_ok(&e, lower));
	assert_true(ls_answer_ok(&e, " \"BF16\" ") == (strcmp(e.text, "BF16") == 0));
	assert_false(ls_answer_ok(&e, "Q4_K"));
	assert_false(ls_answer_ok(&e, ""));
	expect_of("weight_type output", &e);
	assert_string_equal(e.text, ld_dtype_name(demo.wtype_output));
}

/* A number is typed as people write it: 500,000, 5e5, 8.0. */
static void answer_number_formats(void **state)
{
	struct ls_expect e;
	char s[64];
	expect_of("config rope_theta", &e);
	long th = (long)demo.cfg.rope_theta;
	snprintf(s, sizeof s, "%ld,%03ld", th / 1000, th % 1000);
	assert_true(ls_answer_ok(&e, s));
	snprintf(s, sizeof s, "%.0e", demo.cfg.rope_theta);
	assert_true(ls_answer_ok(&e, s));
	snprintf(s, sizeof s, "%ld.0", th);
	assert_true(ls_answer_ok(&e, s));
	snprintf(s, sizeof s, "%ld,%02ld", th / 1000, (th % 1000) / 10); /* not a thousands group */
	assert_false(ls_answer_ok(&e, s));
	snprintf(s, sizeof s, "%ld", th + 1000);
	assert_false(ls_answer_ok(&e, s));
	expect_of("config rope_factor", &e);
	snprintf(s, sizeof s, "%.1f", demo.cfg.rope_scaling.factor);
	assert_true(ls_answer_ok(&e, s));
	expect_of("shape embed", &e); /* a shape still needs every number */
	snprintf(s, sizeof s, "%zu,%zu", point("embed")->shape[0], point("embed")->shape[1]);
	assert_true(ls_answer_ok(&e, s));
	snprintf(s, sizeof s, "%zu", point("embed")->shape[0] * 1000 + point("embed")->shape[1]);
	assert_false(ls_answer_ok(&e, s));
}

/* "Read the value to three digits": another row's value within 2% but
 * different in the digits typed is wrong. */
static void answer_rms_digits(void **state)
{
	struct ls_expect e;
	expect_of("rms layers.0.attn_rms last", &e);
	const struct ld_tensor *t = point("layers.0.attn_rms");
	size_t T = t->shape[0], near = 0;
	double want = ld_tensor_get(t, T - 1);
	char s[64], w[64];
	snprintf(w, sizeof w, "%.2f", want);
	assert_true(ls_answer_ok(&e, w));
	snprintf(s, sizeof s, "%.3g", want);
	assert_true(ls_answer_ok(&e, s));
	snprintf(s, sizeof s, "%.1f", want);
	assert_true(ls_answer_ok(&e, s));
	for (size_t i = 0; i + 1 < T; i++) {
		double x = ld_tensor_get(t, i);
		snprintf(s, sizeof s, "%.2f", x);
		if (fabs(x - want) > 0.02 * fabs(want) || strcmp(s, w) == 0)
			continue;
		near++;
		if (ls_answer_ok(&e, s))
			fail_msg("row %zu's %s accepted for the last row's %s", i, s, w);
	}
	assert_true(near > 0); /* the demo has such a row: the case is exercised */
}

/* Tokens are shown with a visible space (U+2423); the learner types a
 * space, or nothing, or "key N". */
static void answer_token_text(void **state)
{
	struct ls_expect e;
	expect_of("argmax_key layers.2.probs 2 last", &e);
	const char *tok = demo.token_str[e.ints[0]];
	assert_non_null(strstr(tok, "\xE2\x90\xA3")); /* the case needs a spaced token */
	char typed[128], s[64];
	size_t o = 0;
	for (const char *p = tok; *p && o + 1 < sizeof typed;)
		if (strncmp(p, "\xE2\x90\xA3", 3) == 0) {
			typed[o++] = ' ';
			p += 3;
		} else {
			typed[o++] = *p++;
		}
	typed[o] = '\0';
	assert_true(ls_answer_ok(&e, typed));
	assert_true(ls_answer_ok(&e, tok));
	snprintf(s, sizeof s, "key %ld", e.ints[0]);
	assert_true(ls_answer_ok(&e, s));
	snprintf(s, sizeof s, "key %ld", e.ints[0] + 1);
	assert_false(ls_answer_ok(&e, s));
	typed[o - 1] = '\0';
	assert_false(ls_answer_ok(&e, typed));
}

static void bad_lessons(void **state)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{"summary: s\n== a\ntext\n", "x.txt:2: a step before the header"},
		{"title: t\nsummary: s\n== a\ntext\n@check shape\n@hint h\n", "x.txt:5: @check shape takes 1 argument"},
		{"title: t\nsummary: s\n== a\ntext\n@check bogus 1\n", "x.txt:5: @check: unknown kind \"bogus\""},
		{"title: t\nsummary: s\n== a\ntext\n@check n_tokens\n", "x.txt:5: @check without a @hint"},
		{"title: t\nsummary: s\n== a\n@focus layers.0.q head=x\n", "x.txt:4: @focus: head=x"},
		{"title: t\nsummary: s\n\n== a\ntext\n@frob\n", "x.txt:6: unknown directive \"@frob\""},
		{"title: t\nsummary: s\n== a\n== b\ntext\n", "x.txt:3: this step has no text"},
		{"title: t\nsummary: s\n== a\ntext\n@focus nosuch.point\n", "x.txt:5: @focus: \"nosuch.point\""},
		{"title: t\nsummary: s\n", "no steps"},
		{"title: t\nsummary: s\n== a\ntext\n@check config bogus\n@hint h\n", "x.txt:5: @check config: unknown field"},
		{"title: t\nsummary: s\nmodel: ../etc/m.gguf\n== a\ntext\n", "x.txt:3: model: wants a path inside"},
		{"title: t\nsummary: s\nmodel: /m.gguf\n== a\ntext\n", "x.txt:3: model: wants a path inside"},
		{"title: t\nsummary: s\n== a\ntext\n@check weight_type layers.0.wz\n@hint h\n",
		 "x.txt:5: @check weight_type: unknown weight \"layers.0.wz\""},
		{"title: t\nsummary: s\n== a\ntext\n@check weight_type wq\n@hint h\n",
		 "x.txt:5: @check weight_type: unknown weight \"wq\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct ls_lesson L;
		struct ld_err err = {""};
		assert_int_not_equal(ls_parse(&L, "x.txt", cases[i].text, strlen(cases[i].text), &err), LD_OK);
		assert_msg_has(err, cases[i].want);
	}
	/* a well-formed lesson naming a point the trace lacks: file:line too */
	struct ls_lesson L;
	struct ld_err err = {""};
	const char *txt = "title: t\nsummary: s\n== a\ntext\n@focus layers.99.q\n";
	assert_int_equal(ls_parse(&L, "y.txt", txt, strlen(txt), &err), LD_OK);
	assert_int_not_equal(ls_validate(&L, &demo, &err), LD_OK);
	assert_msg_has(err, "y.txt:5: the trace has no point \"layers.99.q\"");
	ls_free(&L);
	/* a layer the model does not have */
	txt = "title: t\nsummary: s\n== a\ntext\n@check weight_type layers.99.wq\n@hint h\n";
	assert_int_equal(ls_parse(&L, "y.txt", txt, strlen(txt), &err), LD_OK);
	assert_int_not_equal(ls_validate(&L, &demo, &err), LD_OK);
	assert_msg_has(err, "y.txt:5: layers.99.wq: the model has");
	ls_free(&L);
}

static void progress_roundtrip(void **state)
{
	char *path = tl_tmp_path("state/llamadbg/lessons");
	struct ls_progress p = {.step = 2, .done = 0, .passed = 0x5};
	struct ld_err err = {""};
	snprintf(p.name, sizeof p.name, "01-glance");
	assert_int_equal(ls_progress_put(path, &p, &err), LD_OK);
	struct ls_progress q = {.step = 1, .done = 1};
	snprintf(q.name, sizeof q.name, "02-tokens");
	assert_int_equal(ls_progress_put(path, &q, &err), LD_OK);
	struct ls_progress r;
	ls_progress_get(path, "01-glance", &r);
	assert_int_equal(r.step, 2);
	assert_int_equal(r.passed, 0x5);
	ls_progress_get(path, "02-tokens", &r);
	assert_int_equal(r.done, 1);
	ls_progress_get(path, "03-none", &r);
	assert_int_equal(r.step, 0);
}

/* ---- one lesson step on a headless screen ---- */

static void screen_text(char *out, size_t size)
{
	size_t o = 0;
	for (int y = 0; y < LINES && o + 300 < size; y++) {
		char line[512];
		mvwinnstr(stdscr, y, 0, line, COLS < 500 ? COLS : 500);
		o += (size_t)snprintf(out + o, size - o, "%s\n", line);
	}
}

/* A headless terminal (ncurses on /dev/null) of lines x cols, for
 * drawing frames and reading them back. */
struct screen {
	FILE *out, *in;
	SCREEN *scr;
};

static void screen_open(struct screen *sc, int lines, int cols)
{
	sc->out = fopen("/dev/null", "w");
	sc->in = fopen("/dev/null", "r");
	assert_non_null(sc->out);
	assert_non_null(sc->in);
	sc->scr = newterm("xterm-256color", sc->out, sc->in);
	assert_non_null(sc->scr);
	set_term(sc->scr);
	resizeterm(lines, cols);
}

static void screen_close(struct screen *sc)
{
	endwin();
	delscreen(sc->scr);
	fclose(sc->out);
	fclose(sc->in);
}

static void lesson_screen(void **state)
{
	struct screen sc;
	screen_open(&sc, 40, 150);
	struct vw_ui ui;
	vw_ui_setup(&ui);
	struct ls_lesson L;
	struct ld_err err = {""};
	assert_int_equal(ls_load(&L, "../lessons/01-glance.txt", &err), LD_OK);
	struct vw_state s;
	assert_int_equal(vw_state_init(&s, &demo), 0);
	struct lr_state r;
	char *prog = tl_tmp_path("screen-progress");
	lr_init(&r, &L, prog, &s, &demo);
	static char text[40 * 600];
	struct vw_view v;
#define FRAME() (lr_draw(stdscr, &r, &s, &demo, &ui, &v), vw_set_view(&s, &demo, &v), doupdate(), \
                 screen_text(text, sizeof text))
#define SEE(what) do { if (!strstr(text, what)) fail_msg("screen lacks \"%s\":\n%s", what, text); } while (0)
	FRAME();
	SEE("The model at a glance  (1/4)");
	SEE("The whole pipeline");
	SEE("tokens = tokenize(prompt)"); /* the viewer beside it */
	SEE("Enter next");
	lr_key(&r, &s, &demo, '\n');
	lr_key(&r, &s, &demo, '\n');
	FRAME();
	SEE("Checkpoint: how deep?");
	SEE("layers.0.resid_out");
	SEE("J/K layer"); /* the viewer's status line: the checkpoint line left it */
	lr_key(&r, &s, &demo, '\n');
	char wrong[16], right[16];
	snprintf(right, sizeof right, "%d", demo.cfg.n_layers);
	snprintf(wrong, sizeof wrong, "%d", demo.cfg.n_layers + 1);
	for (const char *p = wrong; *p; p++)
		lr_key(&r, &s, &demo, *p);
	FRAME();
	SEE("answer> ");
	lr_key(&r, &s, &demo, '\n');
	FRAME();
	SEE("Hint: Count the layers");
	/* the miss closed the answer line: viewer keys work again (J: one
	 * layer deeper), and Enter opens the line with the hint still up */
	lr_key(&r, &s, &demo, 'J');
	FRAME();
	SEE("layers.1.resid_out");
	lr_key(&r, &s, &demo, '\n');
	FRAME();
	SEE("answer> ");
	SEE("Hint: Count the layers");
	for (const char *p = right; *p; p++)
		lr_key(&r, &s, &demo, *p);
	lr_key(&r, &s, &demo, '\n');
	FRAME();
	SEE("Right: ");
	struct ls_progress p;
	ls_progress_get(prog, "01-glance", &p);
	assert_int_equal(p.step, 2);
	assert_true(p.passed & (1u << 2));
	/* narrower than the two side by side: the lesson above the viewer ... */
	resizeterm(30, 60);
	FRAME();
	SEE("The model at a glance");
	SEE("Enter next");
	SEE("resid_out  x = x + ffn_out"); /* the viewer's header */
	/* ... and on a small screen the lesson alone, saying what shows both */
	resizeterm(20, 60);
	FRAME();
	SEE("The model at a glance");
	SEE("Enter next");
	SEE("tensors hidden: need 40x21 (or 71x12)");
	if (strstr(text, "resid_out  x ="))
		fail_msg("the viewer is drawn on a 60x20 screen:\n%s", text);
	screen_close(&sc);
	vw_state_free(&s);
	ls_free(&L);
}

/* A lesson parsed from txt (named name), opened on the demo trace at its
 * first step, with its progress in a temporary file. */
static void start(struct ls_lesson *L, struct vw_state *s, struct lr_state *r, const char *name,
                  const char *txt)
{
	struct ld_err err = {""};
	assert_int_equal(ls_parse(L, name, txt, strlen(txt), &err), LD_OK);
	assert_int_equal(vw_state_init(s, &demo), 0);
	lr_init(r, L, tl_tmp_path(name), s, &demo);
}

/* A key selected in one step (M) does not scroll the next step's view
 * away from the keys it asks about. */
static void focus_resets_key(void **state)
{
	struct screen sc;
	screen_open(&sc, 40, 130);
	struct vw_ui ui;
	vw_ui_setup(&ui);
	struct ls_lesson L;
	struct vw_state s;
	struct lr_state r;
	start(&L, &s, &r, "k.txt",
	      "title: t\nsummary: s\n== a\ntext\n@focus layers.2.probs head=2 token=last view=grid\n"
	      "== b\ntext\n@focus layers.1.probs head=5 token=4 view=grid\n");
	static char text[40 * 600];
	struct vw_view v;
	FRAME();
	lr_key(&r, &s, &demo, 'M'); /* the last row's largest key, off to the right */
	FRAME();
	assert_true(s.col0 > 0);
	lr_key(&r, &s, &demo, '\n');
	FRAME();
	assert_int_equal(s.col0, 0);
	SEE("0 <|begi"); /* key 0's column is on screen */
	screen_close(&sc);
	vw_state_free(&s);
	ls_free(&L);
}

/* A step without view= shows the values, not the previous step's heatmap. */
static void focus_resets_view(void **state)
{
	(void)state;
	struct ls_lesson L;
	struct vw_state s;
	struct lr_state r;
	start(&L, &s, &r, "v.txt",
	      "title: t\nsummary: s\n== a\ntext\n@focus layers.0.q head=1 view=heat\n"
	      "== b\ntext\n@focus layers.0.k\n");
	assert_int_equal(s.mode, VW_MODE_HEAT);
	lr_key(&r, &s, &demo, '\n');
	assert_int_equal(r.step, 1);
	assert_int_equal(s.mode, VW_MODE_GRID);
	vw_state_free(&s);
	ls_free(&L);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_lesson),   cmocka_unit_test(answer_42), cmocka_unit_test(answer_weight_type),     cmocka_unit_test(bad_lessons),
		cmocka_unit_test(progress_roundtrip), cmocka_unit_test(lesson_screen),
		cmocka_unit_test(answer_number_formats), cmocka_unit_test(answer_rms_digits),
		cmocka_unit_test(answer_token_text), cmocka_unit_test(focus_resets_key), cmocka_unit_test(focus_resets_view),
	};
	return cmocka_run_group_tests(tests, load_demo, free_demo);
}
