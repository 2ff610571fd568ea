/* config.c - read a Hugging Face config.json or Meta's params.json into
 * struct ld_config. */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Limits that keep every size product inside size_t and catch garbage. */
#define MAX_DIM    (1 << 20)
#define MAX_VOCAB  (1 << 24)
#define MAX_LAYERS 4096
#define MAX_HEADS  4096

/* Parse text as a JSON object (duplicate keys refused); *root is the caller's. */
static enum ld_status load_object(const char *text, size_t len, const char *path, json_t **root,
                                  struct ld_err *err)
{
	json_error_t jerr;
	*root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!*root)
		return ld_fail(err, LD_ERR_FORMAT, "%s:%d: malformed JSON: %s", path, jerr.line, jerr.text);
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return ld_fail(err, LD_ERR_FORMAT, "%s: expected a JSON object", path);
	}
	return LD_OK;
}

static int get_int(json_t *root, const char *key, int required, long lo, long hi, int *out,
                   const char *path, struct ld_err *err, enum ld_status *st)
{
	json_t *v = json_object_get(root, key);
	if (!v || json_is_null(v)) {
		if (required) {
			*st = ld_fail(err, LD_ERR_FORMAT, "%s: missing \"%s\"", path, key);
			return -1;
		}
		return 0;
	}
	if (!json_is_integer(v)) {
		*st = ld_fail(err, LD_ERR_FORMAT, "%s: \"%s\" should be an integer", path, key);
		return -1;
	}
	json_int_t x = json_integer_value(v);
	if (x < lo || x > hi) {
		*st = ld_fail(err, LD_ERR_RANGE, "%s: \"%s\" is %lld, expected %ld..%ld", path, key,
		              (long long)x, lo, hi);
		return -1;
	}
	*out = (int)x;
	return 1;
}

static int get_num(json_t *root, const char *key, double lo, double hi, double *out,
                   const char *path, struct ld_err *err, enum ld_status *st)
{
	json_t *v = json_object_get(root, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v)) {
		*st = ld_fail(err, LD_ERR_FORMAT, "%s: \"%s\" should be a number", path, key);
		return -1;
	}
	double x = json_number_value(v);
	if (!(x >= lo && x <= hi)) {
		*st = ld_fail(err, LD_ERR_RANGE, "%s: \"%s\" is %g, expected %g..%g", path, key, x, lo, hi);
		return -1;
	}
	*out = x;
	return 1;
}

static enum ld_status parse_rope_scaling(struct ld_config *c, json_t *rs, const char *path,
                                         struct ld_err *err)
{
	enum ld_status st = LD_OK;
	memset(&c->rope_scaling, 0, sizeof c->rope_scaling);
	if (!rs || json_is_null(rs))
		return LD_OK;
	if (!json_is_object(rs))
		return ld_fail(err, LD_ERR_FORMAT, "%s: \"rope_scaling\" should be null or an object", path);
	json_t *type = json_object_get(rs, "rope_type");
	if (!type)
		type = json_object_get(rs, "type");
	const char *t = json_is_string(type) ? json_string_value(type) : NULL;
	if (t && strcmp(t, "default") == 0)
		return LD_OK;
	if (!t || strcmp(t, "llama3") != 0)
		return ld_fail(err, LD_ERR_FORMAT,
		               "%s: rope_scaling type \"%s\" is not supported (expected \"llama3\" or null)",
		               path, t ? t : "(none)");
	struct ld_rope_scaling *s = &c->rope_scaling;
	s->enabled = 1;
	s->factor = 8, s->low_freq_factor = 1, s->high_freq_factor = 4;
	s->original_max_position_embeddings = 8192;
	if (get_num(rs, "factor", 1, 1e6, &s->factor, path, err, &st) < 0 ||
	    get_num(rs, "low_freq_factor", 1e-6, 1e6, &s->low_freq_factor, path, err, &st) < 0 ||
	    get_num(rs, "high_freq_factor", 1e-6, 1e6, &s->high_freq_factor, path, err, &st) < 0 ||
	    get_num(rs, "original_max_position_embeddings", 1, 1e9,
	            &s->original_max_position_embeddings, path, err, &st) < 0)
		return st;
	if (!(s->high_freq_factor > s->low_freq_factor))
		return ld_fail(err, LD_ERR_RANGE,
		               "%s: rope_scaling high_freq_factor %g must exceed low_freq_factor %g", path,
		               s->high_freq_factor, s->low_freq_factor);
	return LD_OK;
}

/* "rope_freq_factors": one positive divisor per RoPE pair (head_dim / 2). */
static enum ld_status parse_rope_factors(struct ld_config *c, json_t *v, const char *path,
                                         struct ld_err *err)
{
	if (!v || json_is_null(v))
		return LD_OK;
	size_t n = json_is_array(v) ? json_array_size(v) : 0;
	if (n != (size_t)c->head_dim / 2 || n > LD_MAX_ROPE_FACTORS)
		return ld_fail(err, LD_ERR_FORMAT, "%s: \"rope_freq_factors\" should be a list of head_dim/2 = %d numbers",
		               path, c->head_dim / 2);
	for (size_t j = 0; j < n; j++) {
		json_t *e = json_array_get(v, j);
		double x = json_is_number(e) ? json_number_value(e) : 0;
		if (!(x > 0 && x < 1e30))
			return ld_fail(err, LD_ERR_RANGE, "%s: \"rope_freq_factors\"[%zu] should be a positive number",
			               path, j);
		c->rope_scaling.factors[j] = (float)x;
	}
	c->rope_scaling.n_factors = (int)n;
	return LD_OK;
}

static enum ld_status parse_eos(struct ld_config *c, json_t *v, const char *path, struct ld_err *err)
{
	c->n_eos = 0;
	if (!v || json_is_null(v))
		return LD_OK;
	if (json_is_integer(v)) {
		c->eos_ids[c->n_eos++] = (int)json_integer_value(v);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach(v, i, e) {
			if (!json_is_integer(e))
				return ld_fail(err, LD_ERR_FORMAT, "%s: \"eos_token_id\" list holds a non-integer", path);
			if (c->n_eos < LD_MAX_EOS)
				c->eos_ids[c->n_eos++] = (int)json_integer_value(e);
		}
	} else {
		return ld_fail(err, LD_ERR_FORMAT, "%s: \"eos_token_id\" should be an integer or a list", path);
	}
	return LD_OK;
}

/* Keep at most LD_LABEL_LEN - 1 bytes of a name, cut between UTF-8 characters. */
static void copy_label(char *dst, const char *src)
{
	size_t n = strlen(src);
	if (n > LD_LABEL_LEN - 1) {
		n = LD_LABEL_LEN - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* LlamaForSequenceClassification: how many labels and their names. As in
 * transformers, id2label decides when present, else num_labels, else 2;
 * a label without a name is "LABEL_i". */
static enum ld_status parse_labels(struct ld_config *c, json_t *root, const char *path,
                                   struct ld_err *err)
{
	enum ld_status st = LD_OK;
	json_t *arch = json_object_get(root, "architectures"), *a, *id2label;
	size_t i;
	int classifier = 0;
	c->n_labels = 0;
	if (arch && !json_is_array(arch))
		return ld_fail(err, LD_ERR_FORMAT, "%s: \"architectures\" should be a list", path);
	json_array_foreach(arch, i, a)
		if (json_is_string(a) && strcmp(json_string_value(a), "LlamaForSequenceClassification") == 0)
			classifier = 1;
	if (!classifier)
		return LD_OK;
	id2label = json_object_get(root, "id2label");
	if (id2label && !json_is_object(id2label))
		return ld_fail(err, LD_ERR_FORMAT, "%s: \"id2label\" should be an object", path);
	int n = 2;
	if (id2label && json_object_size(id2label) > LD_MAX_LABELS)
		return ld_fail(err, LD_ERR_RANGE, "%s: id2label has %zu labels, at most %d are supported", path,
		               json_object_size(id2label), LD_MAX_LABELS);
	if (id2label && json_object_size(id2label))
		n = (int)json_object_size(id2label);
	else if (get_int(root, "num_labels", 0, 1, LD_MAX_LABELS, &n, path, err, &st) < 0)
		return st;
	c->n_labels = n;
	for (int k = 0; k < n; k++)
		snprintf(c->labels[k], LD_LABEL_LEN, "LABEL_%d", k);
	const char *key;
	json_t *v;
	json_object_foreach(id2label, key, v) {
		char *end;
		long id = strtol(key, &end, 10);
		if (!*key || *end || id < 0 || id >= n || !json_is_string(v))
			return ld_fail(err, LD_ERR_FORMAT,
			               "%s: id2label entry \"%s\" should map a label id 0..%d to a name", path, key,
			               n - 1);
		copy_label(c->labels[id], json_string_value(v));
	}
	return LD_OK;
}

enum ld_status ld_config_parse(struct ld_config *c, const char *text, size_t len, const char *path,
                               struct ld_err *err)
{
	json_t *root = NULL;
	memset(c, 0, sizeof *c);
	enum ld_status st = load_object(text, len, path, &root, err);
	if (st != LD_OK)
		return st;
	if (get_int(root, "hidden_size", 1, 1, MAX_DIM, &c->dim, path, err, &st) < 0 ||
	    get_int(root, "intermediate_size", 1, 1, MAX_DIM, &c->ffn_dim, path, err, &st) < 0 ||
	    get_int(root, "num_hidden_layers", 1, 1, MAX_LAYERS, &c->n_layers, path, err, &st) < 0 ||
	    get_int(root, "num_attention_heads", 1, 1, MAX_HEADS, &c->n_heads, path, err, &st) < 0 ||
	    get_int(root, "vocab_size", 1, 1, MAX_VOCAB, &c->vocab_size, path, err, &st) < 0)
		goto out;
	c->n_kv_heads = c->n_heads;
	if (get_int(root, "num_key_value_heads", 0, 1, MAX_HEADS, &c->n_kv_heads, path, err, &st) < 0)
		goto out;
	int has_hd = get_int(root, "head_dim", 0, 2, MAX_DIM, &c->head_dim, path, err, &st);
	if (has_hd < 0)
		goto out;
	if (!has_hd) {
		if (c->dim % c->n_heads != 0) {
			st = ld_fail(err, LD_ERR_SHAPE,
			             "%s: hidden_size %d is not divisible by num_attention_heads %d", path,
			             c->dim, c->n_heads);
			goto out;
		}
		c->head_dim = c->dim / c->n_heads;
	}
	if (c->head_dim % 2 != 0) {
		st = ld_fail(err, LD_ERR_SHAPE, "%s: head_dim %d is odd; RoPE rotates pairs", path, c->head_dim);
		goto out;
	}
	if (c->n_heads % c->n_kv_heads != 0) {
		st = ld_fail(err, LD_ERR_SHAPE,
		             "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path,
		             c->n_heads, c->n_kv_heads);
		goto out;
	}
	if ((size_t)c->n_heads * (size_t)c->head_dim > MAX_DIM) {
		st = ld_fail(err, LD_ERR_RANGE, "%s: num_attention_heads x head_dim is too large", path);
		goto out;
	}
	c->max_pos = 8192;
	c->norm_eps = 1e-5;
	c->rope_theta = 500000;
	if (get_int(root, "max_position_embeddings", 0, 1, 1 << 30, &c->max_pos, path, err, &st) < 0 ||
	    get_num(root, "rms_norm_eps", 0, 1, &c->norm_eps, path, err, &st) < 0 ||
	    get_num(root, "rope_theta", 1e-6, 1e30, &c->rope_theta, path, err, &st) < 0)
		goto out;
	json_t *tie = json_object_get(root, "tie_word_embeddings");
	if (tie && !json_is_boolean(tie)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: \"tie_word_embeddings\" should be true or false", path);
		goto out;
	}
	c->tie_embeddings = tie ? json_is_true(tie) : 0;
	c->bos_id = -1;
	if (get_int(root, "bos_token_id", 0, 0, MAX_VOCAB, &c->bos_id, path, err, &st) < 0)
		goto out;
	if ((st = parse_eos(c, json_object_get(root, "eos_token_id"), path, err)) != LD_OK)
		goto out;
	if ((st = parse_labels(c, root, path, err)) != LD_OK)
		goto out;
	st = parse_rope_scaling(c, json_object_get(root, "rope_scaling"), path, err);
	if (st == LD_OK)
		st = parse_rope_factors(c, json_object_get(root, "rope_freq_factors"), path, err);
out:
	json_decref(root);
	return st;
}

enum ld_status ld_config_load(struct ld_config *c, const char *path, struct ld_err *err)
{
	char *text = NULL;
	size_t len = 0;
	enum ld_status st = ld_read_file(path, 1 << 24, &text, &len, err);
	if (st != LD_OK)
		return st;
	st = ld_config_parse(c, text, len, path, err);
	free(text);
	return st;
}

char *ld_config_to_json(const struct ld_config *c)
{
	json_t *o = json_object();
	json_object_set_new(o, "hidden_size", json_integer(c->dim));
	json_object_set_new(o, "intermediate_size", json_integer(c->ffn_dim));
	json_object_set_new(o, "num_hidden_layers", json_integer(c->n_layers));
	json_object_set_new(o, "num_attention_heads", json_integer(c->n_heads));
	json_object_set_new(o, "num_key_value_heads", json_integer(c->n_kv_heads));
	json_object_set_new(o, "head_dim", json_integer(c->head_dim));
	json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
	json_object_set_new(o, "max_position_embeddings", json_integer(c->max_pos));
	json_object_set_new(o, "rms_norm_eps", json_real(c->norm_eps));
	json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
	if (c->rope_scaling.enabled) {
		json_t *rs = json_object();
		json_object_set_new(rs, "rope_type", json_string("llama3"));
		json_object_set_new(rs, "factor", json_real(c->rope_scaling.factor));
		json_object_set_new(rs, "low_freq_factor", json_real(c->rope_scaling.low_freq_factor));
		json_object_set_new(rs, "high_freq_factor", json_real(c->rope_scaling.high_freq_factor));
		json_object_set_new(rs, "original_max_position_embeddings",
		                    json_real(c->rope_scaling.original_max_position_embeddings));
		json_object_set_new(o, "rope_scaling", rs);
	} else {
		json_object_set_new(o, "rope_scaling", json_null());
	}
	if (c->rope_scaling.n_factors > 0) {
		json_t *fa = json_array();
		for (int j = 0; j < c->rope_scaling.n_factors; j++)
			json_array_append_new(fa, json_real(c->rope_scaling.factors[j]));
		json_object_set_new(o, "rope_freq_factors", fa);
	}
	json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_embeddings));
	json_object_set_new(o, "bos_token_id", c->bos_id >= 0 ? json_integer(c->bos_id) : json_null());
	json_t *eos = json_array();
	for (int i = 0; i < c->n_eos; i++)
		json_array_append_new(eos, json_integer(c->eos_ids[i]));
	json_object_set_new(o, "eos_token_id", eos);
	if (c->n_labels > 0) {
		json_t *names = json_object();
		for (int i = 0; i < c->n_labels; i++) {
			char id[16];
			snprintf(id, sizeof id, "%d", i);
			json_object_set_new(names, id, json_string(c->labels[i]));
		}
		json_object_set_new(o, "architectures", json_pack("[s]", "LlamaForSequenceClassification"));
		json_object_set_new(o, "num_labels", json_integer(c->n_labels));
		json_object_set_new(o, "id2label", names);
	}
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(o);
	return s;
}

size_t ld_config_n_params(const struct ld_config *c)
{
	size_t D = (size_t)c->dim, F = (size_t)c->ffn_dim, V = (size_t)c->vocab_size;
	size_t q = (size_t)c->n_heads * (size_t)c->head_dim;
	size_t kv = (size_t)c->n_kv_heads * (size_t)c->head_dim;
	size_t layer = D + q * D + 2 * kv * D + D * q + D + 3 * F * D;
	size_t head = c->n_labels > 0 ? (size_t)c->n_labels * D : c->tie_embeddings ? 0 : V * D;
	return V * D + (size_t)c->n_layers * layer + D + head;
}

/* ---- Meta's params.json */

long ld_meta_ffn_dim(int dim, int multiple_of, double ffn_dim_multiplier)
{
	/* Outside these ranges no real params.json lies, and the arithmetic
	 * below could overflow: the caller gets -1 and says why. */
	if (dim < 1 || dim > (1 << 20) || multiple_of < 1 || multiple_of > (1 << 20) ||
	    !(ffn_dim_multiplier == 0 || (ffn_dim_multiplier >= 1e-3 && ffn_dim_multiplier <= 1e3)))
		return -1;
	/* The same float arithmetic as Python's: int() truncates a double. */
	long hidden = (long)((double)(2 * 4 * (long)dim) / 3.0);
	if (ffn_dim_multiplier > 0)
		hidden = (long)(ffn_dim_multiplier * (double)hidden);
	return multiple_of * ((hidden + multiple_of - 1) / multiple_of);
}

void ld_config_meta_specials(struct ld_config *c)
{
	int n_ranks = c->vocab_size - 256;
	c->bos_id = -1;
	c->n_eos = 0;
	if (n_ranks <= 0)
		return;
	c->bos_id = n_ranks;               /* <|begin_of_text|> */
	c->eos_ids[c->n_eos++] = n_ranks + 1; /* <|end_of_text|> */
	c->eos_ids[c->n_eos++] = n_ranks + 9; /* <|eot_id|>, the end of a chat turn */
}

enum ld_status ld_config_parse_meta(struct ld_config *c, struct ld_meta_params *mp, const char *text,
                                    size_t len, const char *path, struct ld_err *err)
{
	json_t *root = NULL;
	memset(c, 0, sizeof *c);
	memset(mp, 0, sizeof *mp);
	enum ld_status st = load_object(text, len, path, &root, err);
	if (st != LD_OK)
		return st;
	int vocab = -1;
	if (get_int(root, "dim", 1, 1, MAX_DIM, &c->dim, path, err, &st) < 0 ||
	    get_int(root, "n_layers", 1, 1, MAX_LAYERS, &c->n_layers, path, err, &st) < 0 ||
	    get_int(root, "n_heads", 1, 1, MAX_HEADS, &c->n_heads, path, err, &st) < 0 ||
	    get_int(root, "vocab_size", 0, -1, MAX_VOCAB, &vocab, path, err, &st) < 0)
		goto out;
	if (vocab == 0) {
		st = ld_fail(err, LD_ERR_RANGE, "%s: \"vocab_size\" is 0, expected -1 (from the weights) or more",
		             path);
		goto out;
	}
	c->n_kv_heads = c->n_heads;
	if (get_int(root, "n_kv_heads", 0, 1, MAX_HEADS, &c->n_kv_heads, path, err, &st) < 0)
		goto out;
	if (c->dim % c->n_heads != 0 || (c->dim / c->n_heads) % 2 != 0) {
		st = ld_fail(err, LD_ERR_SHAPE, "%s: dim %d is not n_heads %d times an even head dim", path,
		             c->dim, c->n_heads);
		goto out;
	}
	c->head_dim = c->dim / c->n_heads;
	if (c->n_heads % c->n_kv_heads != 0) {
		st = ld_fail(err, LD_ERR_SHAPE, "%s: n_heads %d is not a multiple of n_kv_heads %d", path,
		             c->n_heads, c->n_kv_heads);
		goto out;
	}
	mp->multiple_of = 256; /* Meta's ModelArgs default */
	if (get_int(root, "multiple_of", 0, 1, MAX_DIM, &mp->multiple_of, path, err, &st) < 0 ||
	    get_num(root, "ffn_dim_multiplier", 1e-3, 1e3, &mp->ffn_dim_multiplier, path, err, &st) < 0)
		goto out;
	long ffn = ld_meta_ffn_dim(c->dim, mp->multiple_of, mp->ffn_dim_multiplier);
	if (ffn < 1 || ffn > MAX_DIM) {
		st = ld_fail(err, LD_ERR_RANGE, "%s: the FFN width from dim, multiple_of and ffn_dim_multiplier "
		             "is %ld, expected 1..%d", path, ffn, MAX_DIM);
		goto out;
	}
	c->ffn_dim = (int)ffn;
	c->norm_eps = 1e-5;
	c->rope_theta = 500000;
	if (get_num(root, "norm_eps", 0, 1, &c->norm_eps, path, err, &st) < 0 ||
	    get_num(root, "rope_theta", 1e-6, 1e30, &c->rope_theta, path, err, &st) < 0)
		goto out;
	mp->rope_scaling_from = "none";
	json_t *scaled = json_object_get(root, "use_scaled_rope");
	if (scaled && !json_is_boolean(scaled)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: \"use_scaled_rope\" should be true or false", path);
		goto out;
	}
	if (json_is_true(scaled)) {
		json_t *rs = json_object_get(root, "rope_scaling");
		int has = 0;
		mp->rope_scaling_from = "params.json";
		if (rs && !json_is_null(rs)) {
			if ((st = parse_rope_scaling(c, rs, path, err)) != LD_OK)
				goto out;
		} else {
			struct ld_rope_scaling *s = &c->rope_scaling;
			*s = (struct ld_rope_scaling){.enabled = 1, .factor = 8, .low_freq_factor = 1, .high_freq_factor = 4,
			                              .original_max_position_embeddings = 8192};
			if ((has = get_num(root, "rope_scaling_factor", 1, 1e6, &s->factor, path, err, &st)) < 0)
				goto out;
			if (!has)
				mp->rope_scaling_from = "Meta's defaults";
		}
	}
	c->max_pos = c->rope_scaling.enabled ? 131072 : 8192;
	if (get_int(root, "max_seq_len", 0, 1, 1 << 30, &c->max_pos, path, err, &st) < 0)
		goto out;
	if (vocab < 0) {
		mp->vocab_from_weights = 1; /* the caller reads tok_embeddings */
		c->bos_id = -1;
	} else {
		c->vocab_size = vocab;
		ld_config_meta_specials(c);
	}
out:
	json_decref(root);
	return st;
}
