/* lesson.c - parsing lessons, computing their checks, saving progress. */
#include "lesson.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "util.h"

/* The check kinds: name, argument count, what the answer is. */
static const struct {
	const char *name;
	int nargs;
	const char *doc;
} check_kinds[LS_CK_COUNT] = {
	[LS_CK_NONE] = {"none", 0, ""},
	[LS_CK_SHAPE] = {"shape", 1, "shape POINT: the point's shape, e.g. 17x8x16"},
	[LS_CK_CONFIG] = {"config", 1, "config FIELD: a number from the model's config"},
	[LS_CK_HEADS_PER_KV] = {"heads_per_kv", 0, "heads_per_kv: query heads sharing one KV head"},
	[LS_CK_KV_HEAD_OF] = {"kv_head_of", 1, "kv_head_of HEAD: the KV head query head HEAD reads"},
	[LS_CK_N_TOKENS] = {"n_tokens", 0, "n_tokens: tokens in the prompt"},
	[LS_CK_TOKEN_ID] = {"token_id", 1, "token_id POS: the token id at a prompt position"},
	[LS_CK_ARGMAX_KEY] = {"argmax_key", 3, "argmax_key PROBS HEAD QUERY: the key attended to most"},
	[LS_CK_ARGMAX_TOKEN] = {"argmax_token", 2, "argmax_token LOGITS POS: the most likely next token"},
	[LS_CK_RMS] = {"rms", 2, "rms RMS_POINT POS: a row's RMSNorm scale, within 2%"},
	[LS_CK_MASKED] = {"masked", 2, "masked SCORES HEAD: how many scores the causal mask set to -inf"},
	[LS_CK_WEIGHT_SHAPE] = {"weight_shape", 1, "weight_shape NAME: rows x columns of a weight"},
	[LS_CK_FFN_HIDDEN] = {"ffn_hidden", 2, "ffn_hidden MULTIPLE_OF MULTIPLIER: Meta's FFN width"},
	[LS_CK_ROPE_PAIRS] = {"rope_pairs", 0, "rope_pairs: rotated pairs in one head"},
	[LS_CK_WEIGHT_TYPE] = {"weight_type", 1, "weight_type NAME: how the model stored a matrix, e.g. Q5_0"},
	[LS_CK_ARGMIN] = {"argmin", 1, "argmin POINT: where a point is smallest, e.g. layers.0.head.7"},
};

const char *ls_check_name(enum ls_check_kind k)
{
	return (unsigned)k < LS_CK_COUNT ? check_kinds[k].doc : "?";
}

/* Config fields a check may name (HF names accepted too). */
static int config_field(const struct ld_config *c, const char *name, double *v)
{
	const struct {
		const char *name, *hf;
		double v;
	} f[] = {
		{"dim", "hidden_size", c->dim},
		{"n_layers", "num_hidden_layers", c->n_layers},
		{"n_heads", "num_attention_heads", c->n_heads},
		{"n_kv_heads", "num_key_value_heads", c->n_kv_heads},
		{"head_dim", "head_dim", c->head_dim},
		{"ffn_dim", "intermediate_size", c->ffn_dim},
		{"vocab_size", "vocab_size", c->vocab_size},
		{"max_pos", "max_position_embeddings", c->max_pos},
		{"rope_theta", "rope_theta", c->rope_theta},
		{"norm_eps", "rms_norm_eps", c->norm_eps},
		{"bos_id", "bos_token_id", c->bos_id},
		{"rope_factor", "rope_scaling.factor", c->rope_scaling.factor},
	};
	for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
		if (strcmp(name, f[i].name) == 0 || strcmp(name, f[i].hf) == 0) {
			if (v)
				*v = f[i].v;
			return 1;
		}
	return 0;
}

/* Weight matrices by Meta name (out rows x in columns, as stored). */
static int weight_shape(const struct ld_config *c, const char *name, long *rows, long *cols)
{
	long D = c->dim, H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim, F = c->ffn_dim,
	     V = c->vocab_size;
	const struct {
		const char *name;
		long r, c;
	} w[] = {
		{"tok_embeddings", V, D}, {"wq", H * hd, D}, {"wk", KV * hd, D}, {"wv", KV * hd, D},
		{"wo", D, H * hd},        {"w1", F, D},      {"w3", F, D},       {"w2", D, F},
		{"output", V, D},
	};
	for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
		if (strcmp(name, w[i].name) == 0) {
			if (rows) {
				*rows = w[i].r;
				*cols = w[i].c;
			}
			return 1;
		}
	return 0;
}

/* A weight matrix by Meta name, for weight_type: tok_embeddings, output,
 * or layers.I.wq ... layers.I.w3. *layer is -1 outside the layers; *which
 * the matrix of a layer (w1 is the gate, w3 the up projection, w2 down). */
static int weight_ref(const char *name, long *layer, enum ld_wmat *which)
{
	static const char *const meta[LD_WM_N] = {
		[LD_WM_Q] = "wq",    [LD_WM_K] = "wk",  [LD_WM_V] = "wv",    [LD_WM_O] = "wo",
		[LD_WM_GATE] = "w1", [LD_WM_UP] = "w3", [LD_WM_DOWN] = "w2",
	};
	*layer = -1;
	*which = LD_WM_N;
	if (strcmp(name, "tok_embeddings") == 0 || strcmp(name, "output") == 0)
		return 1;
	if (strncmp(name, "layers.", 7) != 0 || !isdigit((unsigned char)name[7]))
		return 0;
	char *end;
	errno = 0;
	long i = strtol(name + 7, &end, 10);
	if (errno || i > 1000000 || *end != '.')
		return 0;
	for (int k = 0; k < LD_WM_N; k++)
		if (strcmp(end + 1, meta[k]) == 0) {
			*layer = i;
			*which = (enum ld_wmat)k;
			return 1;
		}
	return 0;
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static char *dup_trim(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	char *o = malloc(n + 1);
	if (o) {
		memcpy(o, s, n);
		o[n] = '\0';
	}
	return o;
}

/* Append a line to a malloc'd text. */
static int append_line(char **text, const char *line)
{
	size_t a = *text ? strlen(*text) : 0, b = strlen(line);
	char *n = realloc(*text, a + b + 2);
	if (!n)
		return -1;
	if (a)
		n[a++] = '\n';
	memcpy(n + a, line, b + 1);
	*text = n;
	return 0;
}

static int parse_long(const char *s, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno)
		return -1;
	*out = v;
	return 0;
}

/* A position: a number or "last". */
static int parse_pos(const char *s, long *out)
{
	if (strcmp(s, "last") == 0) {
		*out = LS_LAST;
		return 0;
	}
	return parse_long(s, out) == 0 && *out >= 0 ? 0 : -1;
}

static int is_point_name(const char *s)
{
	enum ld_point p;
	int step, layer;
	return ld_point_parse(s, &p, &step, &layer) == 0;
}

/* Split the words after a directive into words[]; returns the count, or
 * -1 when there are too many or one is too long. */
static int split_words(char *s, char words[][LS_ARG_LEN], int max)
{
	int n = 0;
	for (char *w = strtok(s, " \t"); w; w = strtok(NULL, " \t")) {
		if (n == max || strlen(w) >= LS_ARG_LEN)
			return -1;
		snprintf(words[n++], LS_ARG_LEN, "%s", w);
	}
	return n;
}

static const char *const view_names[] = {"grid", "heat", "overview", "source", "lens"};

/* "@focus POINT [head=N] [token=N|last] [key=N] [view=grid|heat|overview|source|lens]" */
static int parse_focus(struct ls_focus *f, char *rest, char *why, size_t wsize)
{
	char w[6][LS_ARG_LEN];
	int n = split_words(rest, w, 6);
	if (n <= 0) {
		snprintf(why, wsize, "@focus needs a trace point, e.g. \"@focus layers.0.q head=2\"");
		return -1;
	}
	if (!is_point_name(w[0])) {
		snprintf(why, wsize, "@focus: \"%s\" is not a trace point name (see `llamadbg ls`)", w[0]);
		return -1;
	}
	snprintf(f->point, sizeof f->point, "%s", w[0]);
	f->head = f->token = f->key = -1;
	f->view = -1;
	for (int i = 1; i < n; i++) {
		char *eq = strchr(w[i], '=');
		if (!eq) {
			snprintf(why, wsize, "@focus: \"%s\" is not NAME=VALUE", w[i]);
			return -1;
		}
		*eq++ = '\0';
		long v;
		if (strcmp(w[i], "view") == 0) {
			for (size_t k = 0; k < sizeof view_names / sizeof view_names[0]; k++)
				if (strcmp(eq, view_names[k]) == 0)
					f->view = (int)k;
			if (f->view < 0) {
				snprintf(why, wsize, "@focus: view \"%s\" is not grid, heat, overview or source", eq);
				return -1;
			}
		} else if (strcmp(w[i], "token") == 0 || strcmp(w[i], "head") == 0 || strcmp(w[i], "key") == 0) {
			if (parse_pos(eq, &v) != 0 || (v == LS_LAST && w[i][0] == 'h')) {
				snprintf(why, wsize, "@focus: %s=%s is not a number%s", w[i], eq,
				         w[i][0] == 'h' ? "" : " or \"last\"");
				return -1;
			}
			*(w[i][0] == 't' ? &f->token : w[i][0] == 'h' ? &f->head : &f->key) = v;
		} else {
			snprintf(why, wsize, "@focus: unknown setting \"%s\" (head, token, key, view)", w[i]);
			return -1;
		}
	}
	f->on = 1;
	return 0;
}

/* "@check KIND ARGS..." with the arguments checked as far as possible
 * without a trace. */
static int parse_check(struct ls_check *c, char *rest, char *why, size_t wsize)
{
	char w[LS_MAX_ARGS + 2][LS_ARG_LEN];
	int n = split_words(rest, w, LS_MAX_ARGS + 1);
	if (n <= 0) {
		snprintf(why, wsize, "@check needs a kind, e.g. \"@check shape layers.0.q\"");
		return -1;
	}
	c->kind = LS_CK_NONE;
	for (int k = 1; k < LS_CK_COUNT; k++)
		if (strcmp(w[0], check_kinds[k].name) == 0)
			c->kind = (enum ls_check_kind)k;
	if (c->kind == LS_CK_NONE) {
		size_t o = (size_t)snprintf(why, wsize, "@check: unknown kind \"%s\" (known:", w[0]);
		for (int k = 1; k < LS_CK_COUNT && o < wsize; k++)
			o += (size_t)snprintf(why + o, wsize - o, " %s", check_kinds[k].name);
		if (o < wsize)
			snprintf(why + o, wsize - o, ")");
		return -1;
	}
	c->nargs = n - 1;
	if (c->nargs != check_kinds[c->kind].nargs) {
		snprintf(why, wsize, "@check %s takes %d argument%s, found %d (%s)", w[0],
		         check_kinds[c->kind].nargs, check_kinds[c->kind].nargs == 1 ? "" : "s", c->nargs,
		         check_kinds[c->kind].doc);
		return -1;
	}
	for (int i = 0; i < c->nargs; i++)
		snprintf(c->arg[i], LS_ARG_LEN, "%s", w[i + 1]);
	long v;
	double d;
	char *end;
	switch (c->kind) {
	case LS_CK_SHAPE:
	case LS_CK_ARGMAX_KEY:
	case LS_CK_ARGMAX_TOKEN:
	case LS_CK_RMS:
	case LS_CK_MASKED:
	case LS_CK_ARGMIN:
		if (!is_point_name(c->arg[0])) {
			snprintf(why, wsize, "@check %s: \"%s\" is not a trace point name", w[0], c->arg[0]);
			return -1;
		}
		break;
	case LS_CK_CONFIG: {
		struct ld_config z;
		memset(&z, 0, sizeof z);
		if (!config_field(&z, c->arg[0], NULL)) {
			snprintf(why, wsize, "@check config: unknown field \"%s\"", c->arg[0]);
			return -1;
		}
		break;
	}
	case LS_CK_WEIGHT_SHAPE:
		if (!weight_shape(&(struct ld_config){0}, c->arg[0], NULL, NULL)) {
			snprintf(why, wsize,
			         "@check weight_shape: unknown weight \"%s\" (tok_embeddings wq wk wv wo w1 w2 w3 "
			         "output)",
			         c->arg[0]);
			return -1;
		}
		break;
	case LS_CK_WEIGHT_TYPE: {
		enum ld_wmat which;
		if (!weight_ref(c->arg[0], &v, &which)) {
			snprintf(why, wsize,
			         "@check weight_type: unknown weight \"%s\" (tok_embeddings, output, "
			         "layers.I.wq wk wv wo w1 w2 w3)",
			         c->arg[0]);
			return -1;
		}
		break;
	}
	case LS_CK_FFN_HIDDEN:
		d = strtod(c->arg[1], &end);
		if (parse_long(c->arg[0], &v) != 0 || v < 1 || v > (1 << 20) || *end || end == c->arg[1] ||
		    !(d == 0 || (d >= 1e-3 && d <= 1e3))) {
			snprintf(why, wsize,
			         "@check ffn_hidden: want MULTIPLE_OF (1..1048576) and MULTIPLIER (0: none, or "
			         "0.001..1000)");
			return -1;
		}
		break;
	default:
		break;
	}
	/* positions and heads: numbers (or "last" for positions) */
	for (int i = 0; i < c->nargs; i++) {
		int is_head = (c->kind == LS_CK_KV_HEAD_OF && i == 0) ||
		              ((c->kind == LS_CK_ARGMAX_KEY || c->kind == LS_CK_MASKED) && i == 1);
		int is_pos = (c->kind == LS_CK_TOKEN_ID && i == 0) || (c->kind == LS_CK_ARGMAX_KEY && i == 2) ||
		             ((c->kind == LS_CK_ARGMAX_TOKEN || c->kind == LS_CK_RMS) && i == 1);
		if (is_head && (parse_long(c->arg[i], &v) != 0 || v < 0)) {
			snprintf(why, wsize, "@check %s: head \"%s\" is not a number", w[0], c->arg[i]);
			return -1;
		}
		if (is_pos && parse_pos(c->arg[i], &v) != 0) {
			snprintf(why, wsize, "@check %s: position \"%s\" is not a number or \"last\"", w[0], c->arg[i]);
			return -1;
		}
	}
	return 0;
}

static enum ld_status line_fail(struct ld_err *err, const char *path, int line, const char *why)
{
	return ld_fail(err, LD_ERR_FORMAT, "%s:%d: %s", path, line, why);
}

/* The name of a lesson: its file name without directories and ".txt". */
static char *lesson_name(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t n = strlen(b);
	if (n > 4 && strcmp(b + n - 4, ".txt") == 0)
		n -= 4;
	char *o = malloc(n + 1);
	if (o) {
		memcpy(o, b, n);
		o[n] = '\0';
	}
	return o;
}

enum ld_status ls_parse(struct ls_lesson *L, const char *path, const char *text, size_t len,
                        struct ld_err *err)
{
	memset(L, 0, sizeof *L);
	enum ld_status st = LD_OK;
	char why[512], *buf = malloc(len + 1);
	L->path = strdup(path);
	L->name = lesson_name(path);
	if (!buf || !L->path || !L->name) {
		free(buf);
		ls_free(L);
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (memchr(text, '\0', len)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: a lesson is text; found a NUL byte", path);
		goto out;
	}
	struct ls_step *cur = NULL;
	int lineno = 0;
	for (char *p = buf, *nl; p && *p; p = nl) {
		nl = strchr(p, '\n');
		if (nl)
			*nl++ = '\0';
		lineno++;
		size_t n = strlen(p);
		if (n && p[n - 1] == '\r')
			p[--n] = '\0';
		if (p[0] == '#')
			continue;
		if (strncmp(p, "==", 2) == 0) {
			if (!L->title || !L->summary) {
				st = line_fail(err, path, lineno,
				               "a step before the header: a lesson starts with \"title:\" and \"summary:\"");
				goto out;
			}
			if (cur && !cur->text) {
				st = line_fail(err, path, cur->line, "this step has no text");
				goto out;
			}
			if (cur && cur->check.kind && !cur->hint) {
				st = line_fail(err, path, cur->check.line, "@check without a @hint for a wrong answer");
				goto out;
			}
			struct ls_step *ns = realloc(L->steps, (L->n_steps + 1) * sizeof *ns);
			if (!ns) {
				st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
				goto out;
			}
			L->steps = ns;
			cur = &L->steps[L->n_steps++];
			memset(cur, 0, sizeof *cur);
			cur->line = lineno;
			cur->title = dup_trim(p + 2);
			if (!cur->title || !cur->title[0]) {
				st = line_fail(err, path, lineno, "a step needs a title after \"==\"");
				goto out;
			}
			continue;
		}
		if (!cur) {
			/* the header: title:, summary:, blank lines */
			char *rest;
			if (strspn(p, " \t") == n)
				continue;
			if (strncmp(p, "title:", 6) == 0 && !L->title) {
				rest = p + 6;
				L->title = dup_trim(rest);
			} else if (strncmp(p, "summary:", 8) == 0 && !L->summary) {
				rest = p + 8;
				L->summary = dup_trim(rest);
			} else if (strncmp(p, "model:", 6) == 0 && !L->model) {
				/* a model of the source tree: relative, and inside it */
				L->model = dup_trim(p + 6);
				if (L->model && (!L->model[0] || L->model[0] == '/' || strstr(L->model, ".."))) {
					st = line_fail(err, path, lineno,
					               "model: wants a path inside the source tree, e.g. "
					               "data/demo/model-q4_k_m.gguf (no leading '/', no \"..\")");
					goto out;
				}
			} else {
				snprintf(why, sizeof why,
				         "expected \"title: ...\", \"summary: ...\", \"model: ...\" or a step (\"== "
				         "Title\"), found \"%.60s\"",
				         p);
				st = line_fail(err, path, lineno, why);
				goto out;
			}
			continue;
		}
		if (p[0] == '@') {
			char *word = p + 1, *rest = word + strcspn(word, " \t");
			if (*rest)
				*rest++ = '\0';
			if (strcmp(word, "focus") == 0) {
				if (cur->focus.on) {
					st = line_fail(err, path, lineno, "a step has one @focus; this is a second");
					goto out;
				}
				cur->focus.line = lineno;
				if (parse_focus(&cur->focus, rest, why, sizeof why) != 0) {
					st = line_fail(err, path, lineno, why);
					goto out;
				}
			} else if (strcmp(word, "check") == 0) {
				if (cur->check.kind) {
					st = line_fail(err, path, lineno, "a step has one @check; this is a second");
					goto out;
				}
				cur->check.line = lineno;
				if (parse_check(&cur->check, rest, why, sizeof why) != 0) {
					st = line_fail(err, path, lineno, why);
					goto out;
				}
			} else if (strcmp(word, "hint") == 0) {
				if (!cur->check.kind || cur->hint) {
					st = line_fail(err, path, lineno,
					               cur->hint ? "a step has one @hint; this is a second"
					                         : "@hint comes after the @check it helps with");
					goto out;
				}
				cur->hint = dup_trim(rest);
				if (!cur->hint || !cur->hint[0]) {
					st = line_fail(err, path, lineno, "@hint needs text");
					goto out;
				}
			} else {
				snprintf(why, sizeof why, "unknown directive \"@%.40s\" (@focus, @check, @hint)", word);
				st = line_fail(err, path, lineno, why);
				goto out;
			}
			continue;
		}
		/* prose; leading blank lines of a step are dropped */
		if (!cur->text && strspn(p, " \t") == n)
			continue;
		if (append_line(&cur->text, p) != 0) {
			st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
			goto out;
		}
	}
	if (!L->title || !L->title[0] || !L->summary || !L->summary[0]) {
		st = line_fail(err, path, 1, "a lesson starts with \"title: ...\" and \"summary: ...\"");
		goto out;
	}
	if (L->n_steps == 0) {
		st = line_fail(err, path, lineno, "no steps (a step starts with \"== Title\")");
		goto out;
	}
	if (!cur->text) {
		st = line_fail(err, path, cur->line, "this step has no text");
		goto out;
	}
	if (cur->check.kind && !cur->hint) {
		st = line_fail(err, path, cur->check.line, "@check without a @hint for a wrong answer");
		goto out;
	}
	if (L->n_steps > 8 * sizeof(unsigned long)) {
		snprintf(why, sizeof why, "%zu steps; at most %zu", L->n_steps, 8 * sizeof(unsigned long));
		st = line_fail(err, path, L->steps[8 * sizeof(unsigned long)].line, why);
		goto out;
	}
	/* trailing blank lines of each step's text */
	for (size_t i = 0; i < L->n_steps; i++) {
		char *t = L->steps[i].text;
		size_t n = strlen(t);
		while (n && isspace((unsigned char)t[n - 1]))
			t[--n] = '\0';
	}
out:
	free(buf);
	if (st != LD_OK)
		ls_free(L);
	return st;
}

enum ld_status ls_load(struct ls_lesson *L, const char *path, struct ld_err *err)
{
	memset(L, 0, sizeof *L);
	FILE *f = fopen(path, "rb");
	if (!f)
		return ld_fail(err, LD_ERR_IO, "%s: %s", path, strerror(errno));
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);
			if (!nb) {
				free(buf);
				fclose(f);
				return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
			}
			buf = nb;
		}
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	enum ld_status st = bad ? ld_fail(err, LD_ERR_IO, "%s: read error", path)
	                        : ls_parse(L, path, buf ? buf : "", len, err);
	free(buf);
	return st;
}

void ls_free(struct ls_lesson *L)
{
	for (size_t i = 0; i < L->n_steps; i++) {
		free(L->steps[i].title);
		free(L->steps[i].text);
		free(L->steps[i].hint);
	}
	free(L->steps);
	free(L->path);
	free(L->name);
	free(L->title);
	free(L->summary);
	free(L->model);
	memset(L, 0, sizeof *L);
}

/* ---- computing answers ------------------------------------------------------------------------ */

/* The point a check or focus names, or an error at its line. */
static enum ld_status need_point(const struct ls_lesson *L, int line, const struct ld_trace *tr,
                                 const char *name, const struct ld_tensor **t, struct ld_err *err)
{
	long i = ld_trace_find(tr, name);
	if (i < 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s:%d: the trace has no point \"%s\"", L->path, line, name);
	*t = &tr->t[i];
	return LD_OK;
}

/* Index of the named axis of t, or -1. */
static int axis_of(const struct ld_tensor *t, const char *want)
{
	char axes[64];
	snprintf(axes, sizeof axes, "%s", t->axes);
	int d = 0;
	for (char *a = strtok(axes, ","); a; a = strtok(NULL, ","), d++)
		if (strcmp(a, want) == 0)
			return d;
	return -1;
}

/* A position argument resolved against a length. */
static enum ld_status need_pos(const struct ls_lesson *L, int line, const char *arg, size_t n, size_t *out,
                               struct ld_err *err)
{
	long v;
	if (parse_pos(arg, &v) != 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s:%d: \"%s\" is not a position", L->path, line, arg);
	if (v == LS_LAST)
		v = (long)n - 1;
	if (v < 0 || (size_t)v >= n)
		return ld_fail(err, LD_ERR_FORMAT, "%s:%d: position %s is out of range (0..%zu)", L->path, line, arg,
		               n ? n - 1 : 0);
	*out = (size_t)v;
	return LD_OK;
}

/* The text of token id: from the trace's vocabulary, else from a position
 * of prompt or continuation; "" if the trace does not hold it. */
static void token_text(const struct ld_trace *tr, int32_t id, char *buf, size_t size)
{
	buf[0] = '\0';
	const char *v = ld_trace_vocab_str(tr, id);
	if (v) {
		snprintf(buf, size, "%s", v);
		return;
	}
	if (!tr->token_str)
		return;
	for (size_t i = 0; i < tr->n_tokens + tr->n_generated; i++) {
		int32_t tid = i < tr->n_tokens ? tr->tokens[i] : tr->generated[i - tr->n_tokens];
		if (tid == id && tr->token_str[i]) {
			snprintf(buf, size, "%s", tr->token_str[i]);
			return;
		}
	}
}

static void set_ints(struct ls_expect *e, int n, const long *v)
{
	e->type = LS_ANS_INTS;
	e->n = n;
	size_t o = 0;
	e->show[0] = '\0';
	for (int i = 0; i < n; i++) {
		e->ints[i] = v[i];
		o += (size_t)snprintf(e->show + o, sizeof e->show - o, "%s%ld", i ? "x" : "", v[i]);
		if (o >= sizeof e->show)
			break;
	}
}

enum ld_status ls_expect(const struct ls_lesson *L, const struct ls_check *c, const struct ld_trace *tr,
                         struct ls_expect *e, struct ld_err *err)
{
	memset(e, 0, sizeof *e);
	const struct ld_config *cfg = &tr->cfg;
	const struct ld_tensor *t = NULL;
	enum ld_status st = LD_OK;
	long v[LD_MAX_DIMS];
	size_t pos, head;
	double d;
	int line = c->line;
	switch (c->kind) {
	case LS_CK_SHAPE:
		if ((st = need_point(L, line, tr, c->arg[0], &t, err)) != LD_OK)
			return st;
		for (int i = 0; i < t->ndim; i++)
			v[i] = (long)t->shape[i];
		set_ints(e, t->ndim, v);
		return LD_OK;
	case LS_CK_CONFIG:
		config_field(cfg, c->arg[0], &d);
		if (d == floor(d) && fabs(d) < 1e15) {
			v[0] = (long)d;
			set_ints(e, 1, v);
		} else {
			e->type = LS_ANS_REAL;
			e->real = d;
			snprintf(e->show, sizeof e->show, "%g", d);
		}
		return LD_OK;
	case LS_CK_HEADS_PER_KV:
	case LS_CK_KV_HEAD_OF:
		if (cfg->n_kv_heads <= 0 || cfg->n_heads % cfg->n_kv_heads != 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: the config has no valid KV head count", L->path, line);
		v[0] = cfg->n_heads / cfg->n_kv_heads;
		if (c->kind == LS_CK_KV_HEAD_OF) {
			long h = strtol(c->arg[0], NULL, 10);
			if (h >= cfg->n_heads)
				return ld_fail(err, LD_ERR_FORMAT, "%s:%d: head %ld, the model has %d", L->path, line, h,
				               cfg->n_heads);
			v[0] = h / v[0];
		}
		set_ints(e, 1, v);
		return LD_OK;
	case LS_CK_N_TOKENS:
		v[0] = (long)tr->n_tokens;
		set_ints(e, 1, v);
		return LD_OK;
	case LS_CK_TOKEN_ID:
		if ((st = need_pos(L, line, c->arg[0], tr->n_tokens, &pos, err)) != LD_OK)
			return st;
		v[0] = tr->tokens[pos];
		set_ints(e, 1, v);
		return LD_OK;
	case LS_CK_ROPE_PAIRS:
		v[0] = cfg->head_dim / 2;
		set_ints(e, 1, v);
		return LD_OK;
	case LS_CK_WEIGHT_SHAPE:
		weight_shape(cfg, c->arg[0], &v[0], &v[1]);
		set_ints(e, 2, v);
		return LD_OK;
	case LS_CK_FFN_HIDDEN:
		v[0] = ld_meta_ffn_dim(cfg->dim, (int)strtol(c->arg[0], NULL, 10), strtod(c->arg[1], NULL));
		if (v[0] < 0)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: ffn_hidden: no FFN width for dim %d", L->path, line,
			               cfg->dim);
		set_ints(e, 1, v);
		return LD_OK;
	case LS_CK_ARGMAX_KEY:
	case LS_CK_MASKED: {
		if ((st = need_point(L, line, tr, c->arg[0], &t, err)) != LD_OK)
			return st;
		if (t->ndim != 3 || axis_of(t, "head") != 0 || axis_of(t, "key") != 2)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: %s is not head x query x key (it is %s)", L->path, line,
			               t->name, t->axes);
		head = strtoul(c->arg[1], NULL, 10);
		if (head >= t->shape[0])
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: head %zu, %s has %zu", L->path, line, head, t->name,
			               t->shape[0]);
		size_t Q = t->shape[1], K = t->shape[2];
		const float *x = (const float *)t->data + head * Q * K;
		if (c->kind == LS_CK_MASKED) {
			long n = 0;
			for (size_t i = 0; i < Q * K; i++)
				n += isinf(x[i]) && x[i] < 0;
			set_ints(e, 1, &n);
			return LD_OK;
		}
		if ((st = need_pos(L, line, c->arg[2], Q, &pos, err)) != LD_OK)
			return st;
		size_t best = 0;
		for (size_t k = 1; k < K; k++)
			if (x[pos * K + k] > x[pos * K + best])
				best = k;
		e->type = LS_ANS_TOKEN;
		e->ints[0] = (long)best;
		e->n = 1;
		if (tr->token_str && best < tr->n_tokens + tr->n_generated && tr->token_str[best])
			snprintf(e->text, sizeof e->text, "%s", tr->token_str[best]);
		snprintf(e->show, sizeof e->show, "key %zu \"%s\" (p = %.2f)", best, e->text,
		         (double)x[pos * K + best]);
		return LD_OK;
	}
	case LS_CK_ARGMAX_TOKEN: {
		if ((st = need_point(L, line, tr, c->arg[0], &t, err)) != LD_OK)
			return st;
		if (ld_point_lens(t->point) && t->dtype == LD_I32 && t->ndim == 2 && t->shape[1] >= 1) {
			/* a logit lens: its ids are best first */
			if ((st = need_pos(L, line, c->arg[1], t->shape[0], &pos, err)) != LD_OK)
				return st;
			int32_t best = ((const int32_t *)t->data)[pos * t->shape[1]];
			e->type = LS_ANS_TOKEN;
			e->ints[0] = (long)best;
			e->n = 1;
			token_text(tr, best, e->text, sizeof e->text);
			snprintf(e->show, sizeof e->show, "token %ld \"%s\"", (long)best, e->text);
			return LD_OK;
		}
		if (t->ndim != 2 || axis_of(t, "vocab") != 1)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: %s is not token x vocab (it is %s)", L->path, line,
			               t->name, t->axes);
		if ((st = need_pos(L, line, c->arg[1], t->shape[0], &pos, err)) != LD_OK)
			return st;
		size_t V = t->shape[1], best = 0;
		const float *x = (const float *)t->data + pos * V;
		for (size_t k = 1; k < V; k++)
			if (x[k] > x[best])
				best = k;
		e->type = LS_ANS_TOKEN;
		e->ints[0] = (long)best;
		e->n = 1;
		token_text(tr, (int32_t)best, e->text, sizeof e->text);
		snprintf(e->show, sizeof e->show, "token %zu \"%s\"", best, e->text);
		return LD_OK;
	}
	case LS_CK_RMS:
		if ((st = need_point(L, line, tr, c->arg[0], &t, err)) != LD_OK)
			return st;
		if (t->ndim != 1 || t->point == LD_PT_TOKENS)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: %s is not a per-token scale (e.g. layers.0.attn_rms)",
			               L->path, line, t->name);
		if ((st = need_pos(L, line, c->arg[1], t->shape[0], &pos, err)) != LD_OK)
			return st;
		e->type = LS_ANS_REAL;
		e->real = ((const float *)t->data)[pos];
		snprintf(e->show, sizeof e->show, "%.4g", e->real);
		return LD_OK;
	case LS_CK_WEIGHT_TYPE: {
		long layer;
		enum ld_wmat which;
		enum ld_dtype dt;
		weight_ref(c->arg[0], &layer, &which);
		if (layer < 0)
			dt = strcmp(c->arg[0], "output") == 0 ? tr->wtype_output : tr->wtype_embed;
		else if (layer >= cfg->n_layers)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: %s: the model has %d layers", L->path, line,
			               c->arg[0], cfg->n_layers);
		else
			dt = tr->wtypes ? tr->wtypes[(size_t)layer * LD_WM_N + which] : LD_DTYPE_INVALID;
		if (dt == LD_DTYPE_INVALID)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: the trace does not say how %s was stored",
			               L->path, line, c->arg[0]);
		e->type = LS_ANS_WORD;
		snprintf(e->text, sizeof e->text, "%s", ld_dtype_name(dt));
		snprintf(e->show, sizeof e->show, "%s", e->text);
		return LD_OK;
	}
	case LS_CK_ARGMIN: {
		if ((st = need_point(L, line, tr, c->arg[0], &t, err)) != LD_OK)
			return st;
		size_t n = ld_tensor_numel(t), best = 0;
		if (t->dtype != LD_F32 || n == 0 || !t->data)
			return ld_fail(err, LD_ERR_FORMAT, "%s:%d: %s has no float values", L->path, line, t->name);
		const float *x = t->data;
		for (size_t i = 1; i < n; i++)
			if (x[i] < x[best] || isnan(x[best]))
				best = i;
		/* the flat index back to one index per axis */
		size_t rest = best;
		for (int ax = t->ndim - 1; ax >= 0; ax--) {
			e->ints[ax] = (long)(rest % t->shape[ax]);
			rest /= t->shape[ax];
		}
		e->type = LS_ANS_WORD;
		e->n = t->ndim;
		if (t->point == LD_PT_ABLATION_HEADS)
			snprintf(e->text, sizeof e->text, "layers.%ld.head.%ld", e->ints[0], e->ints[1]);
		else if (t->point == LD_PT_ABLATION_FFN)
			snprintf(e->text, sizeof e->text, "layers.%ld.ffn", e->ints[0]);
		else
			for (int ax = 0; ax < t->ndim; ax++)
				snprintf(e->text + strlen(e->text), sizeof e->text - strlen(e->text), "%s%ld",
				         ax ? "," : "", e->ints[ax]);
		snprintf(e->show, sizeof e->show, "%s (%.4g)", e->text, (double)x[best]);
		return LD_OK;
	}
	case LS_CK_NONE:
	case LS_CK_COUNT:
		break;
	}
	return ld_fail(err, LD_ERR_FORMAT, "%s:%d: no check here", L->path, line);
}

enum ld_status ls_validate(const struct ls_lesson *L, const struct ld_trace *tr, struct ld_err *err)
{
	for (size_t i = 0; i < L->n_steps; i++) {
		const struct ls_step *s = &L->steps[i];
		const struct ld_tensor *t;
		enum ld_status st;
		if (s->focus.on) {
			if ((st = need_point(L, s->focus.line, tr, s->focus.point, &t, err)) != LD_OK)
				return st;
			if (tr->cfg.n_heads > 0 && s->focus.head >= tr->cfg.n_heads)
				return ld_fail(err, LD_ERR_FORMAT, "%s:%d: head %ld, the model has %d", L->path,
				               s->focus.line, s->focus.head, tr->cfg.n_heads);
		}
		if (s->check.kind) {
			struct ls_expect e;
			if ((st = ls_expect(L, &s->check, tr, &e, err)) != LD_OK)
				return st;
		}
	}
	return LD_OK;
}

/* ---- checking answers ------------------------------------------------------------------------- */

/* The integers in s, in order ("17 x 8 x 16", "[17, 8, 16]"); -1 if any
 * other character than separators is there. */
static int ints_of(const char *s, long *out, int max)
{
	int n = 0;
	while (*s) {
		if (isdigit((unsigned char)*s) || (*s == '-' && isdigit((unsigned char)s[1]))) {
			char *end;
			long v = strtol(s, &end, 10);
			if (n == max)
				return -1;
			out[n++] = v;
			s = end;
		} else if (strchr(" \t,x*X()[]", *s)) {
			s++;
		} else {
			return -1;
		}
	}
	return n;
}

/* s without surrounding spaces and quotes, into buf. */
static void strip(const char *s, char *buf, size_t size)
{
	while (*s && (isspace((unsigned char)*s) || *s == '"' || *s == '\''))
		s++;
	size_t n = strlen(s);
	while (n && (isspace((unsigned char)s[n - 1]) || s[n - 1] == '"' || s[n - 1] == '\''))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

/* s with the viewer's visible space (U+2423) turned back into ' ', into
 * buf: the learner types " everything" for the token shown "␣everything". */
static void unbox_spaces(const char *s, char *buf, size_t size)
{
	size_t o = 0;
	while (*s && o + 1 < size) {
		if (strncmp(s, "\xE2\x90\xA3", 3) == 0) {
			buf[o++] = ' ';
			s += 3;
		} else {
			buf[o++] = *s++;
		}
	}
	buf[o] = '\0';
}

/* One number typed as a learner writes it: "500000", "500,000",
 * "5e5", "8.0". 0 if s is that and nothing else. */
static int one_number(const char *s, double *v)
{
	char buf[128];
	size_t o = 0, group = 0;
	int commas = 0;
	for (const char *p = s; *p && o + 1 < sizeof buf; p++) {
		if (*p == ',') {
			/* a thousands separator: 1 to 3 digits before the first, 3 between */
			if (group == 0 || group > 3 || (commas && group != 3))
				return -1;
			commas++;
			group = 0;
			continue;
		}
		group = isdigit((unsigned char)*p) ? group + 1 : 0;
		buf[o++] = *p;
	}
	buf[o] = '\0';
	if (commas && group != 3)
		return -1;
	char *end;
	*v = strtod(buf, &end);
	return end != buf && !*end ? 0 : -1;
}

/* The size of one unit in the last digit typed: "15.9" 0.1, "16" 1,
 * "1e-5" 1e-5. A reading "to three digits" must be right in its digits. */
static double last_digit(const char *s)
{
	int decimals = 0, dot = 0;
	long ex = 0;
	for (; *s && *s != 'e' && *s != 'E'; s++) {
		if (*s == '.')
			dot = 1;
		else if (dot && isdigit((unsigned char)*s))
			decimals++;
	}
	if (*s)
		ex = strtol(s + 1, NULL, 10);
	return pow(10.0, (double)(ex - decimals));
}

int ls_answer_ok(const struct ls_expect *e, const char *typed)
{
	long got[LD_MAX_DIMS + 2];
	char a[128], b[128], u[128];
	double v;
	unbox_spaces(typed, u, sizeof u);
	strip(u, a, sizeof a);
	if (!a[0])
		return 0;
	switch (e->type) {
	case LS_ANS_INTS: {
		int n = ints_of(a, got, LD_MAX_DIMS + 2);
		if (n != e->n) /* one number may be written 500,000 or 5e5 or 8.0 */
			return e->n == 1 && one_number(a, &v) == 0 && v == (double)e->ints[0];
		for (int i = 0; i < n; i++)
			if (got[i] != e->ints[i])
				return 0;
		return 1;
	}
	case LS_ANS_REAL:
		/* within 2%, and right to the last digit typed: 16.16 is not 15.905 */
		return one_number(a, &v) == 0 && fabs(v - e->real) <= 0.02 * fabs(e->real) + 1e-9 &&
		       fabs(v - e->real) <= last_digit(a) * (1 + 1e-9);
	case LS_ANS_TOKEN: {
		/* "14", "key 14", "token 296", or the text */
		const char *p = a;
		for (const char *w = "key\0token\0position\0pos\0id\0"; *w; w += strlen(w) + 1)
			if (strncmp(a, w, strlen(w)) == 0 && (a[strlen(w)] == ' ' || a[strlen(w)] == '#'))
				p = a + strlen(w) + 1;
		int n = ints_of(p, got, 2);
		if (n == 1 && got[0] == e->ints[0])
			return 1;
		unbox_spaces(e->text, u, sizeof u);
		strip(u, b, sizeof b);
		return b[0] && strcmp(a, b) == 0;
	}
	case LS_ANS_WORD:
		if (e->n > 0 && ints_of(a, got, LD_MAX_DIMS + 2) == e->n) {
			/* "0 7" for layers.0.head.7 */
			for (int i = 0; i < e->n; i++)
				if (got[i] != e->ints[i])
					return 0;
			return 1;
		}
		return e->text[0] && strcasecmp(a, e->text) == 0;
	}
	return 0;
}

int ls_mentions(const struct ls_lesson *L, const char *prefix)
{
	size_t n = strlen(prefix);
	for (size_t i = 0; i < L->n_steps; i++) {
		const struct ls_step *s = &L->steps[i];
		if (s->focus.on && strncmp(s->focus.point, prefix, n) == 0)
			return 1;
		for (int a = 0; s->check.kind && a < s->check.nargs; a++)
			if (strncmp(s->check.arg[a], prefix, n) == 0)
				return 1;
	}
	return 0;
}

/* ---- the lessons directory -------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum ld_status ls_list_dir(const char *dir, char ***paths, size_t *n, struct ld_err *err)
{
	*paths = NULL;
	*n = 0;
	DIR *d = opendir(dir);
	if (!d)
		return ld_fail(err, LD_ERR_IO, "%s: %s", dir, strerror(errno));
	struct dirent *de;
	char **v = NULL;
	size_t k = 0;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || de->d_name[0] == '.' || strcmp(de->d_name + len - 4, ".txt") != 0)
			continue;
		char **nv = realloc(v, (k + 1) * sizeof *nv);
		size_t plen = strlen(dir) + len + 2;
		char *p = malloc(plen);
		if (!nv || !p) {
			free(p);
			if (nv)
				v = nv;
			ls_list_free(v, k);
			closedir(d);
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", dir);
		}
		v = nv;
		snprintf(p, plen, "%s/%s", dir, de->d_name);
		v[k++] = p;
	}
	closedir(d);
	if (k)
		qsort(v, k, sizeof *v, cmp_str);
	*paths = v;
	*n = k;
	return LD_OK;
}

void ls_list_free(char **paths, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

long ls_pick(char *const *paths, size_t n, const char *which)
{
	long num;
	if (parse_long(which, &num) == 0)
		return num >= 1 && (size_t)num <= n ? num - 1 : -1;
	long found = -1;
	for (size_t pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			char *name = lesson_name(paths[i]);
			if (!name)
				return -1;
			const char *bare = name + strspn(name, "0123456789");
			if (*bare == '-')
				bare++;
			int hit = pass == 0 ? strcmp(name, which) == 0 || strcmp(bare, which) == 0
			                    : strncmp(bare, which, strlen(which)) == 0;
			free(name);
			if (hit && pass == 0)
				return (long)i;
			if (hit)
				found = found < 0 ? (long)i : -2;
		}
	return found >= 0 ? found : -1;
}

/* ---- progress --------------------------------------------------------------------------------- */

int ls_progress_path(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;
	if (xdg && xdg[0] == '/')
		n = snprintf(buf, size, "%s/llamadbg/lessons", xdg);
	else if (home && home[0])
		n = snprintf(buf, size, "%s/.local/state/llamadbg/lessons", home);
	else
		return -1;
	return n > 0 && (size_t)n < size ? 0 : -1;
}

/* One line "NAME STEP DONE PASSED" into p; 0 if it parses. */
static int parse_progress(const char *line, struct ls_progress *p)
{
	unsigned long step, passed;
	int done;
	char name[64];
	if (sscanf(line, "%63s %lu %d %lx", name, &step, &done, &passed) != 4)
		return -1;
	snprintf(p->name, sizeof p->name, "%s", name);
	p->step = step;
	p->done = done != 0;
	p->passed = passed;
	return 0;
}

void ls_progress_get(const char *path, const char *name, struct ls_progress *p)
{
	char def[4096], line[256];
	memset(p, 0, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	if (!path && ls_progress_path(def, sizeof def) != 0)
		return;
	FILE *f = fopen(path ? path : def, "r");
	if (!f)
		return;
	struct ls_progress q;
	while (fgets(line, sizeof line, f))
		if (parse_progress(line, &q) == 0 && strcmp(q.name, name) == 0)
			*p = q;
	fclose(f);
}

/* mkdir -p of path's directory. */
static int make_parents(const char *path)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *s = buf + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return 0;
}

enum ld_status ls_progress_put(const char *path, const struct ls_progress *p, struct ld_err *err)
{
	char def[4096], line[256];
	if (!path) {
		if (ls_progress_path(def, sizeof def) != 0)
			return ld_fail(err, LD_ERR_USAGE, "lesson progress: neither XDG_STATE_HOME nor HOME is set");
		path = def;
	}
	if (make_parents(path) != 0)
		return ld_fail(err, LD_ERR_IO, "%s: cannot create its directory: %s", path, strerror(errno));
	/* keep every other lesson's line */
	char *keep = NULL;
	size_t klen = 0;
	FILE *f = fopen(path, "r");
	if (f) {
		struct ls_progress q;
		while (fgets(line, sizeof line, f)) {
			if (parse_progress(line, &q) != 0 || strcmp(q.name, p->name) == 0)
				continue;
			size_t n = strlen(line);
			char *nk = realloc(keep, klen + n + 2);
			if (!nk)
				break;
			keep = nk;
			memcpy(keep + klen, line, n);
			klen += n;
			if (keep[klen - 1] != '\n')
				keep[klen++] = '\n';
		}
		fclose(f);
	}
	struct ld_atomic a;
	enum ld_status st = ld_atomic_open(&a, path, 1, err);
	if (st == LD_OK && klen)
		st = ld_atomic_write(&a, keep, klen, err);
	if (st == LD_OK) {
		int n = snprintf(line, sizeof line, "%s %zu %d %lx\n", p->name, p->step, p->done, p->passed);
		st = ld_atomic_write(&a, line, (size_t)n, err);
	}
	if (st == LD_OK)
		st = ld_atomic_commit(&a, err);
	else
		ld_atomic_abort(&a);
	free(keep);
	return st;
}
