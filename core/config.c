/* config.c - read a Hugging Face config.json into struct ld_config. */
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

enum ld_status ld_config_parse(struct ld_config *c, const char *text, size_t len, const char *path,
                               struct ld_err *err)
{
	enum ld_status st = LD_OK;
	json_error_t jerr;
	memset(c, 0, sizeof *c);
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return ld_fail(err, LD_ERR_FORMAT, "%s:%d: malformed JSON: %s", path, jerr.line, jerr.text);
	if (!json_is_object(root)) {
		st = ld_fail(err, LD_ERR_FORMAT, "%s: expected a JSON object", path);
		goto out;
	}
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
	st = parse_rope_scaling(c, json_object_get(root, "rope_scaling"), path, err);
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
	json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_embeddings));
	json_object_set_new(o, "bos_token_id", c->bos_id >= 0 ? json_integer(c->bos_id) : json_null());
	json_t *eos = json_array();
	for (int i = 0; i < c->n_eos; i++)
		json_array_append_new(eos, json_integer(c->eos_ids[i]));
	json_object_set_new(o, "eos_token_id", eos);
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
	return V * D + (size_t)c->n_layers * layer + D + (c->tie_embeddings ? 0 : V * D);
}
