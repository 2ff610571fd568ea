/* gen_model.c - write a random LLaMA 3 model in Hugging Face layout.
 *
 *   gen_model -o DIR --shape 1b            Llama-3.2-1B shape, bf16, 2.5 GB
 *   gen_model -o DIR --shape 8b            Llama-3-8B shape, bf16, 16 GB
 *   gen_model -o DIR --dim 64 --ffn 192 --layers 2 --heads 4 --kv-heads 2 \
 *             --vocab 300 [--head-dim 16] [--max-pos 2048] [--tied|--untied] \
 *             [--rope-scaling llama3|none] [--dtype bf16|f16|f32] [--seed N]
 *   gen_model ... --dry-run                  print the size, write nothing
 *
 * DIR gets config.json (LlamaForCausalLM fields) and model.safetensors
 * (weights ~ N(0, 0.02), norm weights ~ 1), for benchmarks: the numbers are
 * meaningless, the shapes and the bytes are real. The same options and seed
 * always give the same bytes. Each file is written to a temporary name and
 * renamed; a stamp file, written last, records the options, and a run whose
 * stamp matches (and whose files have the right sizes) does nothing.
 *
 * Build: cc -O2 -std=c11 -D_GNU_SOURCE -Icore tests/bench/gen_model.c \
 *           core/dtype.c $(pkg-config --cflags --libs jansson) -lm
 * (tests/bench/run.sh does this.)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtype.h"

#define STAMP_NAME ".gen_model.stamp"
#define CHUNK_ELEMS ((size_t)1 << 20) /* elements generated per write: 2-4 MB */

struct shape {
	long dim, ffn, layers, heads, kv_heads, head_dim, vocab, max_pos;
	int tied;         /* 1: no lm_head.weight, the output reuses embed_tokens */
	int rope_scaling; /* 1: Llama 3.1/3.2 "llama3" scaling, 0: null */
};

static const struct shape shape_1b = {2048, 8192, 16, 32, 8, 64, 128256, 131072, 1, 1};
static const struct shape shape_8b = {4096, 14336, 32, 32, 8, 128, 128256, 8192, 0, 0};

/* One tensor of the file. */
struct tensor {
	char name[96];
	size_t shape[2];
	int ndim;
	int is_norm;  /* norm weights are ~1, matrices ~N(0, 0.02) */
	size_t begin; /* byte offsets in the data section */
	size_t end;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("gen_model: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

/* ---- the random numbers -------------------------------------------------- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* xorshift64*: fast, and plenty for benchmark weights. */
static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* About N(0, 1): the sum of four 16-bit uniforms (Irwin-Hall), centred and
 * scaled; close enough to a normal for benchmark weights, and cheap. */
static float gauss(uint64_t *s)
{
	uint64_t r = xorshift(s);
	uint32_t sum = (uint32_t)(r & 0xffff) + (uint32_t)((r >> 16) & 0xffff) +
	               (uint32_t)((r >> 32) & 0xffff) + (uint32_t)(r >> 48);
	/* mean 4 * 65535/2, variance 4 * (65536^2 - 1) / 12 */
	return ((float)sum - 131070.0f) * (1.0f / 37837.23f);
}

/* ---- the file ------------------------------------------------------------ */

static size_t add(struct tensor *ts, size_t n, const char *name, size_t r, size_t c, int is_norm)
{
	struct tensor *t = &ts[n];
	snprintf(t->name, sizeof t->name, "%s", name);
	t->shape[0] = r;
	t->shape[1] = c;
	t->ndim = c ? 2 : 1;
	t->is_norm = is_norm;
	return n + 1;
}

/* The tensors in file order; returns how many. ts has room for 9L + 3. */
static size_t list_tensors(struct tensor *ts, const struct shape *s)
{
	size_t n = 0;
	char name[96];
	size_t D = (size_t)s->dim, F = (size_t)s->ffn, V = (size_t)s->vocab;
	size_t Q = (size_t)(s->heads * s->head_dim), KV = (size_t)(s->kv_heads * s->head_dim);
	n = add(ts, n, "model.embed_tokens.weight", V, D, 0);
	for (long i = 0; i < s->layers; i++) {
#define LAYER(suffix, r, c, norm)                                                     \
	snprintf(name, sizeof name, "model.layers.%ld.%s", i, suffix);                 \
	n = add(ts, n, name, r, c, norm)
		LAYER("input_layernorm.weight", D, 0, 1);
		LAYER("self_attn.q_proj.weight", Q, D, 0);
		LAYER("self_attn.k_proj.weight", KV, D, 0);
		LAYER("self_attn.v_proj.weight", KV, D, 0);
		LAYER("self_attn.o_proj.weight", D, Q, 0);
		LAYER("post_attention_layernorm.weight", D, 0, 1);
		LAYER("mlp.gate_proj.weight", F, D, 0);
		LAYER("mlp.up_proj.weight", F, D, 0);
		LAYER("mlp.down_proj.weight", D, F, 0);
#undef LAYER
	}
	n = add(ts, n, "model.norm.weight", D, 0, 1);
	if (!s->tied)
		n = add(ts, n, "lm_head.weight", V, D, 0);
	return n;
}

/* The safetensors JSON header, padded with spaces to a multiple of 8. */
static char *header_json(struct tensor *ts, size_t n, const char *dtype, size_t esz,
                         size_t *len)
{
	json_t *root = json_object();
	json_object_set_new(root, "__metadata__", json_pack("{s:s}", "format", "pt"));
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		size_t count = ts[i].shape[0] * (ts[i].ndim == 2 ? ts[i].shape[1] : 1);
		ts[i].begin = off;
		ts[i].end = off + count * esz;
		off = ts[i].end;
		json_t *shape = json_array();
		for (int d = 0; d < ts[i].ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)ts[i].shape[d]));
		json_object_set_new(root, ts[i].name,
		                    json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype, "shape", shape,
		                              "data_offsets", (json_int_t)ts[i].begin,
		                              (json_int_t)ts[i].end));
	}
	char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!text)
		die("out of memory building the safetensors header");
	size_t l = strlen(text), padded = (l + 7) & ~(size_t)7;
	char *out = malloc(padded + 1);
	if (!out)
		die("out of memory");
	memcpy(out, text, l);
	memset(out + l, ' ', padded - l);
	out[padded] = 0;
	free(text);
	*len = padded;
	return out;
}

/* Write count values of one tensor, CHUNK_ELEMS at a time. */
static void write_tensor(FILE *f, const char *path, const struct tensor *t, enum ld_dtype dt,
                         uint64_t seed, size_t index, unsigned char *buf)
{
	size_t count = t->shape[0] * (t->ndim == 2 ? t->shape[1] : 1);
	size_t esz = ld_dtype_size(dt);
	uint64_t s = splitmix64(seed ^ splitmix64(index)) | 1; /* own stream per tensor */
	for (size_t done = 0; done < count;) {
		size_t m = count - done < CHUNK_ELEMS ? count - done : CHUNK_ELEMS;
		for (size_t i = 0; i < m; i++) {
			float v = t->is_norm ? 1.0f + 0.02f * gauss(&s) : 0.02f * gauss(&s);
			if (dt == LD_BF16) {
				uint16_t h = ld_f32_to_bf16(v);
				memcpy(buf + 2 * i, &h, 2);
			} else if (dt == LD_F16) {
				uint16_t h = ld_f32_to_f16(v);
				memcpy(buf + 2 * i, &h, 2);
			} else {
				memcpy(buf + 4 * i, &v, 4);
			}
		}
		if (fwrite(buf, esz, m, f) != m)
			die("%s: write failed: %s", path, strerror(errno));
		done += m;
	}
}

static json_t *config_json(const struct shape *s, const char *torch_dtype)
{
	json_t *rope = json_null();
	if (s->rope_scaling)
		rope = json_pack("{s:s, s:f, s:f, s:f, s:i}", "rope_type", "llama3", "factor", 32.0,
		                 "low_freq_factor", 1.0, "high_freq_factor", 4.0,
		                 "original_max_position_embeddings", 8192);
	return json_pack("{s:[s], s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:o,"
	                 " s:b, s:i, s:i, s:s, s:s, s:b, s:b, s:f}",
	                 "architectures", "LlamaForCausalLM", "model_type", "llama",
	                 "hidden_size", (json_int_t)s->dim, "intermediate_size", (json_int_t)s->ffn,
	                 "num_hidden_layers", (json_int_t)s->layers,
	                 "num_attention_heads", (json_int_t)s->heads,
	                 "num_key_value_heads", (json_int_t)s->kv_heads,
	                 "head_dim", (json_int_t)s->head_dim, "vocab_size", (json_int_t)s->vocab,
	                 "max_position_embeddings", (json_int_t)s->max_pos,
	                 "rms_norm_eps", 1e-5, "rope_theta", 500000.0, "rope_scaling", rope,
	                 "tie_word_embeddings", s->tied, "bos_token_id", 128000,
	                 "eos_token_id", 128001, "torch_dtype", torch_dtype,
	                 "hidden_act", "silu", "attention_bias", 0, "mlp_bias", 0,
	                 "initializer_range", 0.02);
}

/* ---- up to date? --------------------------------------------------------- */

static char *read_small(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *buf = calloc(1, 4096);
	if (buf)
		(void)!fread(buf, 1, 4095, f);
	fclose(f);
	return buf;
}

static long long file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Write the file's pages to disk and drop them from the page cache. The
 * engine maps weights with MADV_HUGEPAGE, and the kernel gives it 2 MB
 * pages only for what it reads in under that hint; pages left in the cache
 * by these writes would stay 4 KB ones, and every benchmark would run on
 * them (about 25% slower for the 8B shape) until they were evicted. A
 * model read from disk, as after a reboot, is the case worth measuring. */
static void drop_cached(const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0 || fdatasync(fd) != 0)
		die("%s: cannot sync: %s", path, strerror(errno));
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED); /* a hint */
	close(fd);
}

static void write_text_atomic(const char *path, const char *text)
{
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	if (!f)
		die("%s: cannot create: %s", tmp, strerror(errno));
	if (fputs(text, f) == EOF || fclose(f) != 0)
		die("%s: write failed: %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		die("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
}

/* ---- command line -------------------------------------------------------- */

static void usage(void)
{
	fputs("usage: gen_model -o DIR (--shape 1b|8b | --dim D --ffn F --layers L --heads H\n"
	      "                 --kv-heads KV --vocab V [--head-dim HD] [--max-pos N])\n"
	      "                 [--tied|--untied] [--rope-scaling llama3|none]\n"
	      "                 [--dtype bf16|f16|f32] [--seed N] [--dry-run]\n",
	      stderr);
	exit(2);
}

static long num_arg(const char *opt, const char *v)
{
	char *end;
	errno = 0;
	long x = v ? strtol(v, &end, 10) : 0;
	if (!v || errno || *end || x <= 0)
		die("%s wants a positive integer, got '%s'", opt, v ? v : "(nothing)");
	return x;
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *dtype_name = "bf16";
	struct shape s = {0};
	int tied = -1, rope = -1, dry_run = 0;
	uint64_t seed = 42;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "-o") && v) {
			dir = v;
			i++;
		} else if (!strcmp(a, "--shape") && v) {
			if (!strcmp(v, "1b"))
				s = shape_1b;
			else if (!strcmp(v, "8b"))
				s = shape_8b;
			else
				die("--shape wants 1b or 8b, got '%s'", v);
			i++;
		} else if (!strcmp(a, "--dry-run")) {
			dry_run = 1;
		} else if (!strcmp(a, "--tied")) {
			tied = 1;
		} else if (!strcmp(a, "--untied")) {
			tied = 0;
		} else if (!strcmp(a, "--rope-scaling") && v) {
			if (strcmp(v, "llama3") && strcmp(v, "none"))
				die("--rope-scaling wants llama3 or none, got '%s'", v);
			rope = !strcmp(v, "llama3");
			i++;
		} else if (!strcmp(a, "--dtype") && v) {
			dtype_name = v;
			i++;
		} else if (!strcmp(a, "--seed") && v) {
			seed = (uint64_t)num_arg(a, v);
			i++;
		} else if (v && a[0] == '-' && a[1] == '-') {
			long *field = !strcmp(a, "--dim")        ? &s.dim
			              : !strcmp(a, "--ffn")      ? &s.ffn
			              : !strcmp(a, "--layers")   ? &s.layers
			              : !strcmp(a, "--heads")    ? &s.heads
			              : !strcmp(a, "--kv-heads") ? &s.kv_heads
			              : !strcmp(a, "--head-dim") ? &s.head_dim
			              : !strcmp(a, "--vocab")    ? &s.vocab
			              : !strcmp(a, "--max-pos")  ? &s.max_pos
			                                         : NULL;
			if (!field)
				usage();
			*field = num_arg(a, v);
			i++;
		} else {
			usage();
		}
	}
	if (!dir || !s.dim || !s.ffn || !s.layers || !s.heads || !s.kv_heads || !s.vocab)
		usage();
	if (!s.head_dim)
		s.head_dim = s.dim / s.heads;
	if (!s.max_pos)
		s.max_pos = 2048;
	if (tied >= 0)
		s.tied = tied;
	if (rope >= 0)
		s.rope_scaling = rope;
	if (s.heads % s.kv_heads)
		die("--heads %ld is not a multiple of --kv-heads %ld", s.heads, s.kv_heads);

	enum ld_dtype dt;
	const char *st_dtype, *torch_dtype;
	if (!strcmp(dtype_name, "bf16"))
		dt = LD_BF16, st_dtype = "BF16", torch_dtype = "bfloat16";
	else if (!strcmp(dtype_name, "f16"))
		dt = LD_F16, st_dtype = "F16", torch_dtype = "float16";
	else if (!strcmp(dtype_name, "f32"))
		dt = LD_F32, st_dtype = "F32", torch_dtype = "float32";
	else
		die("--dtype wants bf16, f16 or f32, got '%s'", dtype_name);

	/* Layout first: it gives the file size the stamp check needs. */
	struct tensor *ts = calloc((size_t)(9 * s.layers + 3), sizeof *ts);
	if (!ts)
		die("out of memory");
	size_t n = list_tensors(ts, &s), hlen;
	char *header = header_json(ts, n, st_dtype, ld_dtype_size(dt), &hlen);
	long long total = (long long)(8 + hlen + ts[n - 1].end);

	if (dry_run) {
		printf("%s: would write %zu tensors, %lld bytes (%.2f GB), header %zu bytes\n", dir, n,
		       total, total / 1e9, hlen);
		free(header);
		free(ts);
		return 0;
	}

	char stamp[1024];
	snprintf(stamp, sizeof stamp,
	         "gen_model 1: dim=%ld ffn=%ld layers=%ld heads=%ld kv_heads=%ld head_dim=%ld "
	         "vocab=%ld max_pos=%ld tied=%d rope_scaling=%d dtype=%s seed=%" PRIu64
	         " bytes=%lld\n",
	         s.dim, s.ffn, s.layers, s.heads, s.kv_heads, s.head_dim, s.vocab, s.max_pos,
	         s.tied, s.rope_scaling, st_dtype, seed, total);

	char stamp_path[4096], st_path[4096], cfg_path[4096], tmp[4200];
	snprintf(stamp_path, sizeof stamp_path, "%s/%s", dir, STAMP_NAME);
	snprintf(st_path, sizeof st_path, "%s/model.safetensors", dir);
	snprintf(cfg_path, sizeof cfg_path, "%s/config.json", dir);

	char *old = read_small(stamp_path);
	int fresh = old && !strcmp(old, stamp) && file_size(st_path) == total &&
	            file_size(cfg_path) > 0;
	free(old);
	if (fresh) {
		printf("%s: up to date (%.2f GB)\n", dir, total / 1e9);
		free(header);
		free(ts);
		return 0;
	}

	if (mkdir(dir, 0777) != 0 && errno != EEXIST)
		die("%s: cannot create directory: %s", dir, strerror(errno));
	/* A half-replaced model must never look complete. */
	if (unlink(stamp_path) != 0 && errno != ENOENT)
		die("%s: cannot remove: %s", stamp_path, strerror(errno));

	/* model.safetensors */
	snprintf(tmp, sizeof tmp, "%s.tmp.%ld", st_path, (long)getpid());
	FILE *f = fopen(tmp, "wb");
	if (!f)
		die("%s: cannot create: %s", tmp, strerror(errno));
	unsigned char len8[8];
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i)); /* u64 little-endian */
	if (fwrite(len8, 1, 8, f) != 8 || fwrite(header, 1, hlen, f) != hlen)
		die("%s: write failed: %s", tmp, strerror(errno));
	unsigned char *buf = malloc(CHUNK_ELEMS * 4);
	if (!buf)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		write_tensor(f, tmp, &ts[i], dt, seed, i, buf);
	if (fclose(f) != 0)
		die("%s: write failed: %s", tmp, strerror(errno));
	drop_cached(tmp);
	if (file_size(tmp) != total)
		die("%s: size %lld, expected %lld", tmp, file_size(tmp), total);
	if (rename(tmp, st_path) != 0)
		die("%s: cannot rename to %s: %s", tmp, st_path, strerror(errno));

	/* config.json */
	json_t *cfg = config_json(&s, torch_dtype);
	char *cfg_text = cfg ? json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	                                            JSON_REAL_PRECISION(10))
	                     : NULL;
	if (!cfg_text)
		die("cannot build config.json");
	size_t cl = strlen(cfg_text);
	char *cfg_nl = malloc(cl + 2);
	if (!cfg_nl)
		die("out of memory");
	memcpy(cfg_nl, cfg_text, cl);
	memcpy(cfg_nl + cl, "\n", 2);
	write_text_atomic(cfg_path, cfg_nl);

	/* the stamp last: its presence means the rest is complete */
	write_text_atomic(stamp_path, stamp);
	printf("%s: wrote %zu tensors, %.2f GB (%s)\n", dir, n, total / 1e9, st_dtype);

	free(cfg_nl);
	free(cfg_text);
	json_decref(cfg);
	free(buf);
	free(header);
	free(ts);
	return 0;
}
