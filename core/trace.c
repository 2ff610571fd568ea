/* trace.c - the trace in memory, its statistics, and its file form.
 *
 * A saved trace is a plain safetensors file, so NumPy alone can read it:
 * F32 tensors (I32 for token ids) in forward order, and __metadata__ with
 *   "format"        "llamadbg-trace-1"
 *   "config"        the model config as JSON
 *   "points"        JSON list, forward order: {"name","axes","src","op","doc"}
 *   "tokens", "generated", "token_strings"  JSON lists
 *   "vocab_strings" JSON list: the display form of every vocabulary id
 *   "prompt", "model"  strings (when known)
 *   "kernel"        the matmul kernel that computed it, e.g. "avx512" (when known)
 *   "weight_types"  how the model stored its matrices:
 *                   {"embed": "Q8_0", "output": "Q6_K",
 *                    "layers": [{"q": "Q4_K", "k": ..., "down": "Q6_K"}, ...]}
 */
#include "trace.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgwrite.h"
#include "jsonw.h"
#include "model.h"
#include "safetensors.h"
#include "util.h"

#define TRACE_FORMAT "llamadbg-trace-1"

const char *const ld_wmat_name[LD_WM_N] = {"q", "k", "v", "o", "gate", "up", "down"};

/* A trace recorded straight to its file: the data of every point, back to
 * back, after `reserve` bytes kept for the length and the header. */
struct ld_trace_stream {
	struct ld_atomic out;  /* the temporary file, renamed into place by ld_trace_save */
	struct ld_bgwrite *bg; /* writes the data from a second thread (bgwrite.h) */
	size_t reserve;        /* where the data starts: a multiple of 4096 (O_DIRECT's
	                          alignment, bgwrite.c) */
	size_t written;        /* data bytes so far */
};

void ld_trace_init(struct ld_trace *tr)
{
	memset(tr, 0, sizeof *tr);
}

static void free_token_str(struct ld_trace *tr)
{
	if (tr->token_str)
		for (size_t i = 0; i < tr->n_tokens + tr->n_generated; i++)
			free(tr->token_str[i]);
	free(tr->token_str);
	tr->token_str = NULL;
}

static void free_vocab_str(struct ld_trace *tr)
{
	if (tr->vocab_str && !tr->vocab_block)
		for (size_t i = 0; i < tr->n_vocab_str; i++)
			free(tr->vocab_str[i]);
	free(tr->vocab_str);
	free(tr->vocab_block);
	tr->vocab_str = NULL;
	tr->vocab_block = NULL;
	tr->n_vocab_str = 0;
}

int ld_trace_note_weights(struct ld_trace *tr, const struct ld_model *m)
{
	const size_t L = (size_t)m->cfg.n_layers;
	enum ld_dtype *t = malloc((L ? L : 1) * LD_WM_N * sizeof *t);
	if (!t)
		return -1;
	for (size_t i = 0; i < L; i++) {
		const struct ld_layer *ly = &m->layers[i];
		enum ld_dtype *row = t + i * LD_WM_N;
		row[LD_WM_Q] = ly->wq.dtype;
		row[LD_WM_K] = ly->wk.dtype;
		row[LD_WM_V] = ly->wv.dtype;
		row[LD_WM_O] = ly->wo.dtype;
		row[LD_WM_GATE] = ly->w1.dtype;
		row[LD_WM_UP] = ly->w3.dtype;
		row[LD_WM_DOWN] = ly->w2.dtype;
	}
	free(tr->wtypes);
	tr->wtypes = t;
	tr->wtype_embed = m->tok_embeddings.dtype;
	tr->wtype_output = m->output.data ? m->output.dtype : m->score.dtype;
	return 0;
}

enum ld_dtype ld_trace_weight_type(const struct ld_trace *tr, const struct ld_tensor *t,
                                   const char **which)
{
	int mat = -1;
	*which = NULL;
	switch (t->point) {
	case LD_PT_EMBED:
		*which = "token embedding";
		return tr->wtype_embed;
	case LD_PT_LOGITS:
	case LD_PT_SCORE:
	case LD_PT_LENS_IDS:
	case LD_PT_LENS_PROBS:
	case LD_PT_LENS_MID_IDS:
	case LD_PT_LENS_MID_PROBS:
		*which = "output";
		return tr->wtype_output;
	case LD_PT_Q: mat = LD_WM_Q; *which = "wq"; break;
	case LD_PT_K: mat = LD_WM_K; *which = "wk"; break;
	case LD_PT_V: mat = LD_WM_V; *which = "wv"; break;
	case LD_PT_ATTN_OUT: mat = LD_WM_O; *which = "wo"; break;
	case LD_PT_FFN_GATE: mat = LD_WM_GATE; *which = "w1"; break;
	case LD_PT_FFN_UP: mat = LD_WM_UP; *which = "w3"; break;
	case LD_PT_FFN_OUT: mat = LD_WM_DOWN; *which = "w2"; break;
	default:
		return LD_DTYPE_INVALID;
	}
	if (!tr->wtypes || t->layer < 0 || t->layer >= tr->cfg.n_layers)
		return LD_DTYPE_INVALID;
	return tr->wtypes[(size_t)t->layer * LD_WM_N + (size_t)mat];
}

int ld_trace_vocab_block(struct ld_trace *tr, size_t n, size_t bytes)
{
	free_vocab_str(tr);
	tr->vocab_str = calloc(n + 1, sizeof *tr->vocab_str);
	tr->vocab_block = malloc(bytes ? bytes : 1);
	if (!tr->vocab_str || !tr->vocab_block) {
		free_vocab_str(tr);
		return 0;
	}
	tr->n_vocab_str = n;
	return 1;
}

const char *ld_trace_vocab_str(const struct ld_trace *tr, long id)
{
	if (!tr->vocab_str || id < 0 || (size_t)id >= tr->n_vocab_str)
		return NULL;
	return tr->vocab_str[id];
}

/* A recorded point's memory, offered huge pages: an in-memory trace of
 * 512 tokens of the 1B shape is 2.8 GB, and taking it a 4 KB page fault
 * at a time cost more than the pass (a fault is dear on a virtual
 * machine); at 17 tokens, 58 MB of points a few hundred KB each cost a
 * fifth of the pass that way. Big points (2 MB and up) get a mapping of
 * their own; smaller ones are carved one after the other from 32 MB
 * mappings (arenas), which go with the trace. The mappings come from
 * ld_pool_take, which keeps a freed trace's for the process's next one
 * (every point is written whole when recorded: nothing left over from a
 * mapping's last use is seen). */
enum { BIG_POINT = 2 << 20, ARENA_BYTES = 32 << 20, ARENA_ALIGN = 64 };

/* An arena's first bytes: the arena before it, and how much is taken. */
struct arena {
	struct arena *prev;
	size_t used; /* bytes from the arena's start, this header included */
};

static void *point_alloc(struct ld_trace *tr, size_t n)
{
	if (n >= BIG_POINT)
		return ld_pool_take(n, 0);
	n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	struct arena *a = tr->arena;
	if (!a || ARENA_BYTES - a->used < n) {
		struct arena *fresh = ld_pool_take(ARENA_BYTES, 0);
		if (!fresh)
			return NULL;
		fresh->prev = a;
		fresh->used = ARENA_ALIGN; /* the header's line */
		tr->arena = a = fresh;
	}
	void *p = (unsigned char *)a + a->used;
	a->used += n;
	return p;
}

/* Points in arenas go with their arenas (free_arenas). */
static void point_free(void *p, size_t n)
{
	if (n >= BIG_POINT)
		ld_pool_give(p, n);
}

static void free_arenas(struct ld_trace *tr)
{
	for (struct arena *a = tr->arena, *prev; a; a = prev) {
		prev = a->prev;
		ld_pool_give(a, ARENA_BYTES);
	}
	tr->arena = NULL;
}

void ld_trace_free(struct ld_trace *tr)
{
	if (tr->owns_data)
		for (size_t i = 0; i < tr->n; i++)
			point_free(tr->t[i].data, tr->t[i].nbytes);
	free_arenas(tr);
	free(tr->t);
	free_token_str(tr);
	free_vocab_str(tr);
	free(tr->tokens);
	free(tr->generated);
	free(tr->prompt);
	free(tr->model_path);
	for (size_t i = 0; i < tr->n_patches; i++)
		free(tr->patches[i]);
	free(tr->patches);
	free(tr->wtypes);
	if (tr->stream) {
		ld_bgwrite_abort(tr->stream->bg);
		ld_atomic_abort(&tr->stream->out); /* never saved: nothing is left behind */
		free(tr->stream);
	}
	ld_unmap_file(tr->map, tr->map_len);
	memset(tr, 0, sizeof *tr);
}

size_t ld_tensor_numel(const struct ld_tensor *t)
{
	size_t n = 1;
	for (int d = 0; d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}

double ld_tensor_get(const struct ld_tensor *t, size_t i)
{
	if (t->dtype == LD_I32) {
		int32_t v;
		memcpy(&v, (const char *)t->data + i * 4, 4);
		return v;
	}
	float f;
	memcpy(&f, (const char *)t->data + i * 4, 4);
	return f;
}

/* Statistics of token ids: a plain loop (they are few). */
static void stats_i32(const struct ld_tensor *t, struct ld_stats *s)
{
	size_t n = ld_tensor_numel(t);
	double sum = 0, sq = 0;
	memset(s, 0, sizeof *s);
	s->n = n;
	s->min = INFINITY;
	s->max = -INFINITY;
	for (size_t i = 0; i < n; i++) {
		double v = ld_tensor_get(t, i);
		sum += v;
		sq += v * v;
		s->min = v < s->min ? v : s->min;
		s->max = v > s->max ? v : s->max;
	}
	if (n == 0) {
		s->min = s->max = 0;
		return;
	}
	s->mean = sum / (double)n;
	double var = sq / (double)n - s->mean * s->mean;
	s->std = var > 0 ? sqrt(var) : 0;
}

/* The viewer calls this on tensors of millions of values (an 8B model's
 * logits), so the float path is unrolled; it must still count every NaN
 * and Inf exactly. */
void ld_tensor_stats(const struct ld_tensor *t, struct ld_stats *s)
{
	if (t->dtype != LD_F32) {
		stats_i32(t, s);
		return;
	}
	memset(s, 0, sizeof *s);
	size_t n = ld_tensor_numel(t), finite = 0, i = 0;
	const float *x = t->data;
	/* four running sums break the add chain; a finite x has x - x == 0 */
	double sum[4] = {0}, sq[4] = {0};
	float mn = INFINITY, mx = -INFINITY;
	for (; i + 4 <= n; i += 4) {
		float a = x[i], b = x[i + 1], c = x[i + 2], d = x[i + 3];
		if (a - a == 0 && b - b == 0 && c - c == 0 && d - d == 0) {
			sum[0] += a, sum[1] += b, sum[2] += c, sum[3] += d;
			sq[0] += (double)a * a, sq[1] += (double)b * b;
			sq[2] += (double)c * c, sq[3] += (double)d * d;
			float lo1 = a < b ? a : b, lo2 = c < d ? c : d, hi1 = a > b ? a : b, hi2 = c > d ? c : d;
			float lo = lo1 < lo2 ? lo1 : lo2, hi = hi1 > hi2 ? hi1 : hi2;
			mn = lo < mn ? lo : mn;
			mx = hi > mx ? hi : mx;
			finite += 4;
			continue;
		}
		break; /* a NaN or Inf nearby: the careful loop takes over */
	}
	for (; i < n; i++) {
		float v = x[i];
		if (isnan(v)) {
			s->n_nan++;
		} else if (isinf(v)) {
			if (v > 0)
				s->n_posinf++;
			else
				s->n_neginf++;
		} else {
			finite++;
			sum[0] += v;
			sq[0] += (double)v * v;
			mn = v < mn ? v : mn;
			mx = v > mx ? v : mx;
		}
	}
	s->n = n;
	if (finite) {
		s->min = mn;
		s->max = mx;
		s->mean = (sum[0] + sum[1] + sum[2] + sum[3]) / (double)finite;
		double var = (sq[0] + sq[1] + sq[2] + sq[3]) / (double)finite - s->mean * s->mean;
		s->std = var > 0 ? sqrt(var) : 0;
	}
}

void ld_tensor_shape_str(const struct ld_tensor *t, char *buf, size_t size)
{
	char axes[sizeof t->axes];
	snprintf(axes, sizeof axes, "%s", t->axes);
	char *save = NULL, *ax = strtok_r(axes, ",", &save);
	size_t used = 0;
	buf[0] = '\0';
	for (int d = 0; d < t->ndim && used < size; d++) {
		int w = snprintf(buf + used, size - used, "%s%s %zu", d ? " x " : "", ax ? ax : "dim", t->shape[d]);
		if (w < 0)
			break;
		used += (size_t)w;
		ax = strtok_r(NULL, ",", &save);
	}
}

int ld_trace_add_patch(struct ld_trace *tr, const char *what)
{
	char **p = realloc(tr->patches, (tr->n_patches + 1) * sizeof *p);
	if (!p)
		return -1;
	tr->patches = p;
	if (!(p[tr->n_patches] = strdup(what)))
		return -1;
	tr->n_patches++;
	return 0;
}

int ld_trace_patched(const struct ld_trace *tr, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < tr->n_patches; i++)
		if (strncmp(tr->patches[i], name, n) == 0 &&
		    (tr->patches[i][n] == '[' || tr->patches[i][n] == ' '))
			return 1;
	return 0;
}

long ld_trace_find(const struct ld_trace *tr, const char *name)
{
	for (size_t i = 0; i < tr->n; i++)
		if (strcmp(tr->t[i].name, name) == 0)
			return (long)i;
	return -1;
}

enum ld_status ld_trace_add(struct ld_trace *tr, const char *name, enum ld_point p, int step,
                            int layer, enum ld_dtype dtype, const size_t *shape, int ndim,
                            const void *data, const char *src, struct ld_err *err)
{
	if (ndim < 1 || ndim > LD_MAX_DIMS)
		return ld_fail(err, LD_ERR_USAGE, "%s: %d dimensions", name, ndim);
	if (tr->n == tr->cap) {
		size_t cap = tr->cap ? tr->cap * 2 : 64;
		struct ld_tensor *nt = realloc(tr->t, cap * sizeof *nt);
		if (!nt)
			return ld_fail(err, LD_ERR_NOMEM, "out of memory recording %s", name);
		tr->t = nt;
		tr->cap = cap;
	}
	struct ld_tensor *t = &tr->t[tr->n];
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->point = p;
	t->step = step;
	t->layer = layer;
	t->dtype = dtype;
	t->ndim = ndim;
	for (int d = 0; d < ndim; d++)
		t->shape[d] = shape[d];
	snprintf(t->axes, sizeof t->axes, "%s", ld_point_info(p)->axes);
	snprintf(t->src, sizeof t->src, "%s", src);
	t->nbytes = ld_tensor_numel(t) * ld_dtype_size(dtype);
	if (tr->stream) {
		/* to the disk now; only the description stays */
		enum ld_status st = ld_bgwrite_put(tr->stream->bg, data, t->nbytes, err);
		if (st != LD_OK)
			return st;
		tr->stream->written += t->nbytes;
		tr->n++;
		return LD_OK;
	}
	if (!(t->data = point_alloc(tr, t->nbytes)))
		return ld_fail(err, LD_ERR_NOMEM, "out of memory recording %s (%zu bytes)", name, t->nbytes);
	ld_copy_big(t->data, data, t->nbytes);
	tr->owns_data = 1;
	tr->n++;
	return LD_OK;
}

static json_t *ids_json(const int32_t *ids, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	return a;
}

/* A JSON list of n strings (NULL as ""), written directly: a vocabulary's
 * 128k strings as jansson values took longer than the rest of the save. */
static char *strings_json(char *const *strs, size_t n)
{
	struct ld_jsonw b = {0};
	ld_jsonw_raw(&b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		const char *s = strs[i] ? strs[i] : "";
		if (i)
			ld_jsonw_raw(&b, ",", 1);
		ld_jsonw_string(&b, s, strlen(s));
	}
	ld_jsonw_raw(&b, "]", 1);
	return ld_jsonw_take(&b);
}

/* json_dumps of a new reference, which it consumes. */
static char *dump_new(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(v);
	return s;
}

/* The "weight_types" metadata (see the top of this file). */
static json_t *weight_types_json(const struct ld_trace *tr)
{
	json_t *layers = json_array();
	for (int i = 0; i < tr->cfg.n_layers; i++) {
		json_t *o = json_object();
		for (int k = 0; k < LD_WM_N; k++)
			json_object_set_new(o, ld_wmat_name[k],
			                    json_string(ld_dtype_name(tr->wtypes[(size_t)i * LD_WM_N + (size_t)k])));
		json_array_append_new(layers, o);
	}
	return json_pack("{s:s, s:s, s:o}", "embed", ld_dtype_name(tr->wtype_embed), "output",
	                 ld_dtype_name(tr->wtype_output), "layers", layers);
}

/* Read "weight_types" back: every name a known type, one entry per layer
 * of the config; 0, or -1 when it is not that. */
static int parse_weight_types(struct ld_trace *tr, const char *text)
{
	json_t *o = json_loads(text, 0, NULL);
	json_t *layers = json_object_get(o, "layers");
	const size_t L = tr->cfg.n_layers > 0 ? (size_t)tr->cfg.n_layers : 0;
	int ok = json_is_object(o) && json_is_array(layers) && json_array_size(layers) == L;
	enum ld_dtype *t = ok ? malloc((L ? L : 1) * LD_WM_N * sizeof *t) : NULL;
	ok = ok && t;
	for (size_t i = 0; ok && i < L; i++)
		for (int k = 0; ok && k < LD_WM_N; k++) {
			const char *name = json_string_value(json_object_get(json_array_get(layers, i), ld_wmat_name[k]));
			t[i * LD_WM_N + (size_t)k] = name ? ld_dtype_parse_any(name) : LD_DTYPE_INVALID;
			ok = t[i * LD_WM_N + (size_t)k] != LD_DTYPE_INVALID;
		}
	const char *e = json_string_value(json_object_get(o, "embed"));
	const char *out = json_string_value(json_object_get(o, "output"));
	tr->wtype_embed = e ? ld_dtype_parse_any(e) : LD_DTYPE_INVALID;
	tr->wtype_output = out ? ld_dtype_parse_any(out) : LD_DTYPE_INVALID;
	ok = ok && tr->wtype_embed != LD_DTYPE_INVALID && tr->wtype_output != LD_DTYPE_INVALID;
	json_decref(o);
	if (!ok) {
		free(t);
		return -1;
	}
	tr->wtypes = t;
	return 0;
}

enum ld_status ld_trace_stream_to(struct ld_trace *tr, const char *path, int force, size_t reserve,
                                  struct ld_err *err)
{
	if (tr->stream || tr->n)
		return ld_fail(err, LD_ERR_USAGE, "%s: a trace streams to its file from its first point", path);
	struct ld_trace_stream *s = calloc(1, sizeof *s);
	if (!s)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	enum ld_status st = ld_atomic_open(&s->out, path, force, err);
	if (st != LD_OK) {
		free(s);
		return st;
	}
	s->reserve = (reserve + 4095) / 4096 * 4096;
	if (s->reserve == 0)
		s->reserve = 4096;
	st = ld_bgwrite_open(&s->bg, s->out.fd, s->out.tmp, path, (off_t)s->reserve, err);
	if (st != LD_OK) {
		ld_atomic_abort(&s->out);
		free(s);
		return st;
	}
	tr->stream = s;
	return LD_OK;
}

/* The length of s as a JSON string inside the header (quotes, escapes). */
static size_t json_len(const char *s) { return ld_jsonw_string_len(s, strlen(s)); }

size_t ld_trace_point_header(const char *name, enum ld_point p)
{
	const struct ld_point_info *info = ld_point_info(p);
	if (!info)
		return 0;
	/* as ld_trace_save writes it, with the longest source line there is */
	json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", name, "axes", info->axes, "src",
	                        "core/forward.c:123456789", "op", info->op, "doc", info->doc);
	char *inner = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
	size_t n = inner ? json_len(inner) : 4096;
	free(inner);
	json_decref(rec);
	/* and its entry in the tensor table: dtype, four dims, two offsets */
	return n + json_len(name) + 160;
}

size_t ld_trace_header_reserve(const struct ld_trace *tr, size_t points, const int32_t *ids, size_t n_ids,
                               size_t n_generate, size_t prompt_len)
{
	/* Every metadata value is JSON text inside a JSON string, so its
	 * quotes and backslashes come twice: vocab_strings and token_strings
	 * are counted as they will be written. */
	size_t vocab = 0, longest = 0;
	for (size_t i = 0; i < tr->n_vocab_str; i++) {
		size_t n = 2 * json_len(tr->vocab_str[i] ? tr->vocab_str[i] : "") + 1;
		vocab += n;
		longest = n > longest ? n : longest;
	}
	size_t tokens = (n_ids + n_generate) * 24;
	if (tr->n_vocab_str) {
		for (size_t i = 0; i < n_ids; i++)
			tokens += ids[i] >= 0 && (size_t)ids[i] < tr->n_vocab_str
			                  ? 2 * json_len(tr->vocab_str[ids[i]] ? tr->vocab_str[ids[i]] : "") + 1
			                  : longest;
		tokens += n_generate * longest;
	}
	size_t layers = tr->cfg.n_layers > 0 ? (size_t)tr->cfg.n_layers : 0;
	/* the config, the model's path, the patches and the weight types: a
	 * few kB; the prompt as \xNN escapes at worst, escaped once more */
	return 16 * 1024 + points + vocab + tokens + 12 * prompt_len + layers * 256;
}

/* Finish a streamed trace: the header in the room kept for it, padded with
 * spaces to where the data starts; a header too big for the room goes into
 * a new file, followed by a copy of the data. */
static enum ld_status stream_finish(struct ld_trace *tr, const char *text, int force, struct ld_err *err)
{
	struct ld_trace_stream *s = tr->stream;
	enum ld_status st = ld_bgwrite_close(s->bg, err); /* all the data on the disk */
	s->bg = NULL;
	if (st != LD_OK)
		return st;
	size_t hlen = strlen(text);
	if (hlen + 8 <= s->reserve) {
		size_t padded = s->reserve - 8;
		unsigned char len8[8];
		for (int i = 0; i < 8; i++)
			len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
		char *head = malloc(s->reserve);
		if (!head)
			return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", s->out.path);
		memcpy(head, len8, 8);
		memcpy(head + 8, text, hlen);
		memset(head + 8 + hlen, ' ', padded - hlen);
		if (lseek(s->out.fd, 0, SEEK_SET) < 0)
			st = ld_fail(err, LD_ERR_IO, "%s: cannot seek: %s", s->out.path, strerror(errno));
		else
			st = ld_atomic_write(&s->out, head, s->reserve, err);
		free(head);
		if (st == LD_OK)
			st = ld_atomic_commit(&s->out, err);
		return st;
	}
	struct ld_atomic b;
	size_t padded = (hlen + 8 + 7) / 8 * 8 - 8;
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
	if ((st = ld_atomic_open(&b, s->out.path, force, err)) != LD_OK)
		return st;
	static const char spaces[8] = "        ";
	if ((st = ld_atomic_write(&b, len8, 8, err)) != LD_OK || (st = ld_atomic_write(&b, text, hlen, err)) != LD_OK ||
	    (st = ld_atomic_write(&b, spaces, padded - hlen, err)) != LD_OK)
		goto fail;
	enum { CHUNK = 1 << 20 };
	char *buf = malloc(CHUNK);
	if (!buf) {
		st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", s->out.path);
		goto fail;
	}
	for (size_t done = 0; done < s->written && st == LD_OK;) {
		size_t want = s->written - done < CHUNK ? s->written - done : CHUNK;
		ssize_t r = pread(s->out.fd, buf, want, (off_t)(s->reserve + done));
		if (r <= 0)
			st = ld_fail(err, LD_ERR_IO, "%s: cannot read back: %s", s->out.tmp,
			             r < 0 ? strerror(errno) : "short file");
		else if ((st = ld_atomic_write(&b, buf, (size_t)r, err)) == LD_OK)
			done += (size_t)r;
	}
	free(buf);
	if (st == LD_OK && (st = ld_atomic_commit(&b, err)) == LD_OK) {
		ld_atomic_abort(&s->out);
		return LD_OK;
	}
fail:
	ld_atomic_abort(&b);
	return st;
}

enum ld_status ld_trace_save(struct ld_trace *tr, const char *path, int force, struct ld_err *err)
{
	if (tr->stream && strcmp(tr->stream->out.path, path) != 0)
		return ld_fail(err, LD_ERR_USAGE, "%s: this trace is being recorded to %s", path,
		               tr->stream->out.path);
	enum ld_status st = LD_OK;
	enum { MAX_META = 16 };
	const char *keys[MAX_META];
	char *vals[MAX_META] = {0};
	size_t n_meta = 0;
	struct ld_st_out *out = calloc(tr->n + 1, sizeof *out);
	if (!out)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);

	json_t *points = json_array();
	for (size_t i = 0; i < tr->n; i++) {
		const struct ld_tensor *t = &tr->t[i];
		out[i] = (struct ld_st_out){t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes};
		const struct ld_point_info *info = ld_point_info(t->point);
		json_array_append_new(points, json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", t->name,
		                                        "axes", t->axes, "src", t->src, "op", info->op,
		                                        "doc", info->doc));
	}
	keys[n_meta] = "format", vals[n_meta++] = strdup(TRACE_FORMAT);
	keys[n_meta] = "config", vals[n_meta++] = ld_config_to_json(&tr->cfg);
	keys[n_meta] = "points", vals[n_meta++] = dump_new(points);
	keys[n_meta] = "tokens", vals[n_meta++] = dump_new(ids_json(tr->tokens, tr->n_tokens));
	keys[n_meta] = "generated", vals[n_meta++] = dump_new(ids_json(tr->generated, tr->n_generated));
	if (tr->token_str)
		keys[n_meta] = "token_strings",
		vals[n_meta++] = strings_json(tr->token_str, tr->n_tokens + tr->n_generated);
	if (tr->vocab_str)
		keys[n_meta] = "vocab_strings", vals[n_meta++] = strings_json(tr->vocab_str, tr->n_vocab_str);
	if (tr->prompt)
		keys[n_meta] = "prompt", vals[n_meta++] = strdup(tr->prompt);
	if (tr->n_patches) {
		json_t *a = json_array();
		for (size_t i = 0; i < tr->n_patches; i++)
			json_array_append_new(a, json_string(tr->patches[i]));
		keys[n_meta] = "patches", vals[n_meta++] = dump_new(a);
	}
	if (tr->model_path)
		keys[n_meta] = "model", vals[n_meta++] = strdup(tr->model_path);
	if (tr->kernel[0])
		keys[n_meta] = "kernel", vals[n_meta++] = strdup(tr->kernel);
	if (tr->wtypes)
		keys[n_meta] = "weight_types", vals[n_meta++] = dump_new(weight_types_json(tr));
	for (size_t i = 0; i < n_meta; i++)
		if (!vals[i]) {
			st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
			goto out;
		}
	if (tr->stream) {
		char *text = NULL;
		st = ld_st_header(path, out, tr->n, keys, (const char *const *)vals, n_meta, &text, err);
		if (st == LD_OK)
			st = stream_finish(tr, text, force, err);
		free(text);
		/* saved or not, the stream is over (a failed one took its file) */
		if (st != LD_OK) {
			ld_bgwrite_abort(tr->stream->bg);
			ld_atomic_abort(&tr->stream->out);
		}
		free(tr->stream);
		tr->stream = NULL;
	} else {
		st = ld_st_write(path, out, tr->n, keys, (const char *const *)vals, n_meta, force, err);
	}
out:
	for (size_t i = 0; i < n_meta; i++)
		free(vals[i]);
	free(out);
	return st;
}

/* Parse a JSON list of ints from metadata into a malloc'd array. */
static enum ld_status parse_ids(const char *text, int32_t **ids, size_t *n, const char *path,
                                const char *key, struct ld_err *err)
{
	*ids = NULL;
	*n = 0;
	if (!text)
		return LD_OK;
	json_t *a = json_loads(text, 0, NULL);
	if (!json_is_array(a)) {
		json_decref(a);
		return ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"%s\" is not a JSON list", path, key);
	}
	*ids = calloc(json_array_size(a) + 1, sizeof **ids);
	if (!*ids) {
		json_decref(a);
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	}
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v) {
		if (!json_is_integer(v)) {
			json_decref(a);
			return ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"%s\" holds a non-integer", path, key);
		}
		(*ids)[i] = (int32_t)json_integer_value(v);
	}
	*n = json_array_size(a);
	json_decref(a);
	return LD_OK;
}

/* The "points" records sorted by name, for a trace whose list is not in
 * tensor order: a lookup per tensor stays a binary search, not a scan (a
 * hostile file with 100000 tensors must not take minutes). */
struct point_rec {
	const char *name;
	json_t *rec;
};

static int by_rec_name(const void *a, const void *b)
{
	return strcmp(((const struct point_rec *)a)->name, ((const struct point_rec *)b)->name);
}

static struct point_rec *index_points(json_t *points, size_t *n)
{
	struct point_rec *idx = malloc((json_array_size(points) + 1) * sizeof *idx);
	size_t k;
	json_t *r;
	*n = 0;
	if (!idx)
		return NULL;
	json_array_foreach(points, k, r) {
		const char *nm = json_string_value(json_object_get(r, "name"));
		if (nm)
			idx[(*n)++] = (struct point_rec){nm, r};
	}
	qsort(idx, *n, sizeof *idx, by_rec_name);
	return idx;
}

/* Fill one trace tensor from its safetensors entry and its "points" record. */
static enum ld_status adopt_tensor(struct ld_tensor *t, const struct ld_st_tensor *s, json_t *rec,
                                   const char *path, struct ld_err *err)
{
	const char *name = s->name;
	if (ld_point_parse(name, &t->point, &t->step, &t->layer) != 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: %s is not a trace point name", path, name);
	if (s->dtype != LD_F32 && s->dtype != LD_I32)
		return ld_fail(err, LD_ERR_DTYPE, "%s: %s has dtype %s, expected F32 or I32", path, name,
		               ld_dtype_name(s->dtype));
	if (s->ndim < 1 || s->ndim > LD_MAX_DIMS)
		return ld_fail(err, LD_ERR_SHAPE, "%s: %s has %d dimensions, expected 1..%d", path, name,
		               s->ndim, LD_MAX_DIMS);
	if (((uintptr_t)s->data & 3u) != 0)
		return ld_fail(err, LD_ERR_FORMAT, "%s: %s is not 4-byte aligned in the file", path, name);
	if (strlen(name) >= sizeof t->name)
		return ld_fail(err, LD_ERR_FORMAT, "%s: tensor name %.40s... is too long", path, name);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->dtype = s->dtype;
	t->ndim = s->ndim;
	for (int d = 0; d < s->ndim; d++)
		t->shape[d] = s->shape[d];
	t->data = (void *)s->data;
	t->nbytes = s->nbytes;
	const char *axes = json_string_value(json_object_get(rec, "axes"));
	const char *src = json_string_value(json_object_get(rec, "src"));
	snprintf(t->axes, sizeof t->axes, "%s", axes ? axes : ld_point_info(t->point)->axes);
	snprintf(t->src, sizeof t->src, "%s", src ? src : "");
	return LD_OK;
}

enum ld_status ld_trace_open(struct ld_trace *tr, const char *path, struct ld_err *err)
{
	enum ld_status st;
	struct ld_st_file f;
	json_t *points = NULL, *strs = NULL;
	struct point_rec *index = NULL; /* built on the first tensor out of order */
	size_t n_index = 0;
	ld_trace_init(tr);
	if ((st = ld_st_open(&f, path, err)) != LD_OK)
		return st;
	const char *fmt = ld_st_meta(&f, "format");
	if (!fmt || strcmp(fmt, TRACE_FORMAT) != 0) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: not a llamadbg trace (metadata \"format\" is %s%s%s)", path,
		             fmt ? "\"" : "", fmt ? fmt : "missing", fmt ? "\"" : "");
		goto out;
	}
	const char *cfg = ld_st_meta(&f, "config");
	if (!cfg) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"config\" is missing", path);
		goto out;
	}
	/* Errors read "trace.safetensors: metadata config:1: ...". */
	char where[PATH_MAX + 32];
	snprintf(where, sizeof where, "%s: metadata config", path);
	if ((st = ld_config_parse(&tr->cfg, cfg, strlen(cfg), where, err)) != LD_OK)
		goto out;
	if ((st = parse_ids(ld_st_meta(&f, "tokens"), &tr->tokens, &tr->n_tokens, path, "tokens", err)) ||
	    (st = parse_ids(ld_st_meta(&f, "generated"), &tr->generated, &tr->n_generated, path,
	                    "generated", err)))
		goto out;
	const char *prompt = ld_st_meta(&f, "prompt"), *model = ld_st_meta(&f, "model");
	if ((prompt && !(tr->prompt = strdup(prompt))) || (model && !(tr->model_path = strdup(model)))) {
		st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	const char *kernel = ld_st_meta(&f, "kernel");
	if (kernel) {
		/* a name: lowercase letters and digits, as ld_kernel_name gives */
		size_t n = strspn(kernel, "abcdefghijklmnopqrstuvwxyz0123456789");
		if (n == 0 || kernel[n] || n >= sizeof tr->kernel) {
			st = ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"kernel\" is not a kernel name", path);
			goto out;
		}
		memcpy(tr->kernel, kernel, n + 1);
	}
	const char *pj = ld_st_meta(&f, "patches");
	if (pj) {
		json_t *a = json_loads(pj, 0, NULL);
		int ok = json_is_array(a);
		for (size_t i = 0; ok && i < json_array_size(a); i++)
			ok = json_is_string(json_array_get(a, i)) &&
			     ld_trace_add_patch(tr, json_string_value(json_array_get(a, i))) == 0;
		json_decref(a);
		if (!ok) {
			st = ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"patches\" is not a list of strings", path);
			goto out;
		}
	}
	const char *wt = ld_st_meta(&f, "weight_types");
	if (wt && parse_weight_types(tr, wt) != 0) {
		st = ld_fail(err, LD_ERR_FORMAT,
		             "%s: metadata \"weight_types\" is not a type for each matrix of each layer", path);
		goto out;
	}
	const char *ts = ld_st_meta(&f, "token_strings");
	strs = ts ? json_loads(ts, 0, NULL) : NULL;
	if (ts && (!json_is_array(strs) || json_array_size(strs) != tr->n_tokens + tr->n_generated)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"token_strings\" does not match the tokens", path);
		goto out;
	}
	if (strs) {
		tr->token_str = calloc(json_array_size(strs) + 1, sizeof *tr->token_str);
		for (size_t i = 0; tr->token_str && i < json_array_size(strs); i++) {
			const char *s = json_string_value(json_array_get(strs, i));
			tr->token_str[i] = strdup(s ? s : "");
		}
	}

	const char *vs = ld_st_meta(&f, "vocab_strings");
	if (vs) {
		json_t *a = json_loads(vs, 0, NULL);
		if (!json_is_array(a)) {
			json_decref(a);
			st = ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"vocab_strings\" is not a JSON list", path);
			goto out;
		}
		size_t n = json_array_size(a), bytes = 0;
		for (size_t i = 0; i < n; i++)
			bytes += json_string_length(json_array_get(a, i)) + 1;
		if (ld_trace_vocab_block(tr, n, bytes)) {
			char *o = tr->vocab_block;
			for (size_t i = 0; i < n; i++) {
				const char *v = json_string_value(json_array_get(a, i));
				size_t len = v ? strlen(v) : 0; /* to the first NUL, as strdup did */
				memcpy(o, v ? v : "", len);
				o[len] = '\0';
				tr->vocab_str[i] = o;
				o += len + 1;
			}
		}
		json_decref(a);
	}

	/* Tensors in forward order: the order of the data buffer, which is
	 * the order they were recorded in. */
	const char *pts = ld_st_meta(&f, "points");
	points = pts ? json_loads(pts, 0, NULL) : NULL;
	if (!json_is_array(points)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: metadata \"points\" is missing or not a list", path);
		goto out;
	}
	tr->t = calloc(f.n + 1, sizeof *tr->t);
	if (!tr->t) {
		st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
		goto out;
	}
	for (size_t i = 0; i < f.n; i++) {
		/* "points" lists the tensors in the same order: look there first. */
		json_t *rec = json_array_get(points, i);
		const char *nm = json_string_value(json_object_get(rec, "name"));
		if (!nm || strcmp(nm, f.t[i].name) != 0) {
			if (!index && !(index = index_points(points, &n_index))) {
				st = ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
				goto out;
			}
			struct point_rec key = {f.t[i].name, NULL};
			const struct point_rec *hit = bsearch(&key, index, n_index, sizeof *index, by_rec_name);
			rec = hit ? hit->rec : NULL;
		}
		if ((st = adopt_tensor(&tr->t[i], &f.t[i], rec, path, err)) != LD_OK)
			goto out;
		tr->n++;
	}
	tr->cap = tr->n;
	/* The mapping now belongs to the trace. */
	tr->map = f.map;
	tr->map_len = f.map_len;
	f.map = NULL;
	f.map_len = 0;
	st = LD_OK;
out:
	free(index);
	json_decref(points);
	json_decref(strs);
	ld_st_close(&f);
	if (st != LD_OK)
		ld_trace_free(tr);
	return st;
}
