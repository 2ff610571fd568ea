/* cli_trace.c - `llamadbg trace`, `ls` and `dump`: the trace from a shell. */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ablation.h"
#include "cli.h"
#include "dump.h"
#include "forward.h"
#include "matmul.h"
#include "model.h"
#include "npy.h"
#include "patch.h"
#include "tokenizer.h"
#include "trace_size.h"
#include "trace.h"
#include "util.h"

int ld_cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("llamadbg: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

int ld_cli_positional(int argc, char **argv, const char *usage, const char *help, int min_pos, int max_pos,
                      int *first)
{
	static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	optind = 1;
	opterr = 0;
	int c = getopt_long(argc, argv, "h", opts, NULL);
	opterr = 1;
	if (c == 'h') {
		fputs(usage, stdout);
		fputs(help ? help : "", stdout);
		return -1;
	}
	if (c != -1)
		return ld_cli_error("%s: unknown option \"%s\" (see llamadbg %s --help)", argv[0],
		                    argv[optind - 1], argv[0]);
	*first = optind;
	if (argc - optind < min_pos || argc - optind > max_pos) {
		fputs(usage, stderr);
		return 1;
	}
	return 0;
}

/* "128000,1820,4320" or "128000 1820 4320" -> ids. */
static int parse_ids(const char *s, int32_t **ids, size_t *n)
{
	size_t cap = 16;
	*n = 0;
	*ids = malloc(cap * sizeof **ids);
	if (!*ids)
		return ld_cli_error("out of memory");
	while (*s) {
		while (*s == ',' || *s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		char *end;
		errno = 0;
		long v = strtol(s, &end, 10);
		if (end == s || errno || v < 0 || v > INT32_MAX)
			return ld_cli_error("-t: \"%.20s\" is not a token id (expected e.g. 128000,1820,4320)", s);
		if (*n == cap) {
			int32_t *p = realloc(*ids, (cap *= 2) * sizeof **ids);
			if (!p)
				return ld_cli_error("out of memory");
			*ids = p;
		}
		(*ids)[(*n)++] = (int32_t)v;
		s = end;
		if (*s && *s != ',' && *s != ' ' && *s != '\t' && *s != '\n')
			return ld_cli_error("-t: unexpected \"%c\" in the token ids", *s);
	}
	return 0;
}

/* Read the prompt: -p TEXT, -p - (stdin) or -f FILE. Any bytes are fine. */
static int read_prompt(const struct ld_trace_request *rq, char **text, size_t *len)
{
	struct ld_err err = {{0}};
	if (rq->prompt_file) {
		if (ld_read_file(rq->prompt_file, 256u << 20, text, len, &err) != LD_OK)
			return ld_cli_error("%s", err.msg);
		return 0;
	}
	if (strcmp(rq->prompt, "-") != 0) {
		*len = strlen(rq->prompt);
		*text = strdup(rq->prompt);
		return *text ? 0 : ld_cli_error("out of memory");
	}
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	for (;;) {
		if (!buf)
			return ld_cli_error("out of memory");
		size_t r = fread(buf + n, 1, cap - n, stdin);
		n += r;
		if (r == 0)
			break;
		if (n == cap) {
			char *nb = cap < (256u << 20) ? realloc(buf, (cap *= 2) + 1) : NULL;
			if (!nb) {
				free(buf);
				return ld_cli_error("stdin: prompt too long");
			}
			buf = nb;
		}
	}
	if (ferror(stdin)) {
		free(buf);
		return ld_cli_error("stdin: read failed");
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	return 0;
}

void ld_cli_trace_request_free(struct ld_trace_request *rq)
{
	free(rq->only);
	free(rq->patch_kind);
	free(rq->patch_arg);
	rq->only = NULL;
	rq->patch_kind = NULL;
	rq->patch_arg = NULL;
}

/* --patch-from TRACE:POINT: the point starts after the last ':' that leaves
 * a point name (a slice has ':' too, a file name may). */
static int patch_from(struct ld_patch *p, const char *arg, size_t n_tokens)
{
	struct ld_err err = {{0}};
	const char *colon = NULL;
	for (const char *c = strchr(arg, ':'); c; c = strchr(c + 1, ':')) {
		struct ld_patch probe;
		colon = c;
		if (ld_patch_parse(&probe, c + 1, &err) == LD_OK)
			break;
	}
	if (!colon)
		return ld_cli_error("--patch-from %s: expected TRACE_FILE:POINT", arg);
	if (ld_patch_parse(p, colon + 1, &err) != LD_OK)
		return ld_cli_error("--patch-from: %s", err.msg);
	char *path = strndup(arg, (size_t)(colon - arg));
	struct ld_trace other;
	if (!path)
		return ld_cli_error("out of memory");
	int rc = 1;
	if (ld_trace_open(&other, path, &err) != LD_OK) {
		ld_cli_error("%s", err.msg);
		free(path);
		return 1;
	}
	char name[128], what[320];
	snprintf(name, sizeof name, "%.*s", (int)strcspn(p->spec, "["), p->spec);
	snprintf(what, sizeof what, "%s:%s", path, p->spec);
	long k = ld_trace_find(&other, name);
	if (other.n_tokens != n_tokens)
		ld_cli_error("%s: its prompt has %zu tokens, this run's has %zu (patching needs the same positions)",
		             path, other.n_tokens, n_tokens);
	else if (k < 0)
		ld_cli_error("%s: has no point %s (was it traced with --only?)", path, name);
	else if (ld_patch_from_tensor(p, &other.t[k], what, &err) != LD_OK)
		ld_cli_error("%s", err.msg);
	else
		rc = 0;
	ld_trace_free(&other);
	free(path);
	return rc;
}

/* Build the patches the request asks for (*out: n_patch of them). */
static int build_patches(const struct ld_trace_request *rq, const struct ld_config *c, size_t n_tokens,
                         struct ld_patch **out)
{
	struct ld_err err = {{0}};
	struct ld_patch *ps = calloc(rq->n_patch + 1, sizeof *ps);
	*out = ps;
	if (!ps)
		return ld_cli_error("out of memory");
	for (size_t i = 0; i < rq->n_patch; i++) {
		const char *arg = rq->patch_arg[i];
		if (rq->patch_kind[i] == 'a') {
			if (ld_patch_parse_ablate(&ps[i], arg, &err) != LD_OK)
				return ld_cli_error("%s", err.msg);
		} else if (rq->patch_kind[i] == 'f') {
			if (patch_from(&ps[i], arg, n_tokens) != 0)
				return 1;
		} else {
			const char *eq = strchr(arg, '=');
			if (!eq || !eq[1])
				return ld_cli_error("--patch %s: expected POINT=FILE.npy", arg);
			char *spec = strndup(arg, (size_t)(eq - arg));
			struct ld_npy a;
			enum ld_status st = spec ? ld_patch_parse(&ps[i], spec, &err) : LD_ERR_NOMEM;
			free(spec);
			if (st != LD_OK)
				return ld_cli_error("--patch: %s", st == LD_ERR_NOMEM ? "out of memory" : err.msg);
			if (ld_npy_read(eq + 1, &a, &err) != LD_OK)
				return ld_cli_error("%s", err.msg);
			st = ld_patch_from_npy(&ps[i], &a, eq + 1, &err);
			ld_npy_free(&a);
			if (st != LD_OK)
				return ld_cli_error("%s", err.msg);
		}
		if (ld_patch_check(&ps[i], c, n_tokens, &err) != LD_OK)
			return ld_cli_error("--%s %s: %s", rq->patch_kind[i] == 'a' ? "ablate" : rq->patch_kind[i] == 'f' ? "patch-from" : "patch", arg, err.msg);
	}
	return 0;
}

void ld_cli_phase(const struct ld_trace_request *rq, const char *phase)
{
	static double last = -1;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
	if (rq->times && phase && last >= 0)
		fprintf(stderr, "time: %-9s %7.3f s\n", phase, now - last);
	last = now;
}

int ld_cli_trace_run(const struct ld_trace_request *rq, struct ld_trace *tr)
{
	struct ld_patch *patches = NULL;
	struct ld_err err = {{0}};
	struct ld_model m;
	struct ld_tokenizer *tk = NULL;
	int32_t *ids = NULL;
	size_t n_ids = 0;
	char *text = NULL;
	size_t text_len = 0;
	int rc = 1, model_loaded = 0;
	ld_trace_init(tr);
	ld_cli_phase(rq, NULL);

	if (rq->ids) {
		if (parse_ids(rq->ids, &ids, &n_ids) != 0)
			goto out;
	}
	/* A kernel forced through LLAMADBG_KERNEL must exist and run here. */
	enum ld_kernel forced;
	if (ld_kernel_from_env(&forced, &err) != LD_OK) {
		ld_cli_error("%s", err.msg);
		goto out;
	}
	/* --bf16-dot is the fastest kernel that rounds x to bf16 (amxbf16, or
	 * avx512bf16), for this process's every product (the environment is
	 * what every matmul asks). */
	if (rq->bf16_dot) {
		const enum ld_kernel dot = ld_bf16_dot_kernel();
		if (dot == LD_KERNEL_AUTO) {
			ld_cli_error("--bf16-dot: this CPU has no AVX512-BF16 (without the option, products are exact f32)");
			goto out;
		}
		if (forced != LD_KERNEL_AUTO && !ld_kernel_rounds_x(ld_kernel_name(forced))) {
			ld_cli_error("--bf16-dot: LLAMADBG_KERNEL=%s asks for another kernel", ld_kernel_name(forced));
			goto out;
		}
		if (forced == LD_KERNEL_AUTO && setenv("LLAMADBG_KERNEL", ld_kernel_name(dot), 1) != 0) {
			ld_cli_error("--bf16-dot: %s", strerror(errno));
			goto out;
		}
	}
	if (ld_model_load(&m, rq->model_dir, &err) != LD_OK) {
		ld_cli_error("%s", err.msg);
		goto out;
	}
	model_loaded = 1;
	ld_cli_phase(rq, "load");
	/* The tokenizer turns text into ids, and ids into readable strings. A
	 * model traced from ids alone needs none. */
	if (ld_tok_load_dir(&tk, rq->model_dir, &err) != LD_OK) {
		if (!rq->ids) {
			ld_cli_error("%s", err.msg);
			goto out;
		}
		tk = NULL;
	}
	if (!rq->ids) {
		if (read_prompt(rq, &text, &text_len) != 0)
			goto out;
		unsigned flags = (rq->no_bos ? 0 : LD_TOK_BOS) | (rq->allow_special ? LD_TOK_ALLOW_SPECIAL : 0);
		if (ld_tok_encode(tk, text, text_len, flags, &ids, &n_ids, &err) != LD_OK) {
			ld_cli_error("%s", err.msg);
			goto out;
		}
	}
	ld_cli_phase(rq, "tokenizer");
	if (build_patches(rq, &m.cfg, n_ids, &patches) != 0)
		goto out;
	struct ld_forward_opts fo = {.n_generate = rq->n_generate, .only = rq->only, .n_only = rq->n_only,
	                             .patches = patches, .n_patches = rq->n_patch,
	                             .lens_k = rq->lens_k, .lens_mid = rq->lens_mid};
	if (tk) {
		/* Every vocabulary entry's display form: the viewer labels the
		 * logits' vocab axis with them, so "42" reads as 42. */
		size_t nv = (size_t)m.cfg.vocab_size, bytes = 0;
		for (size_t i = 0; i < nv; i++)
			bytes += ld_tok_display_max(tk, (int32_t)i);
		if (ld_trace_vocab_block(tr, nv, bytes))
			for (size_t i = 0, o = 0; i < nv; i++) {
				tr->vocab_str[i] = tr->vocab_block + o;
				o += ld_tok_display_into(tk, (int32_t)i, tr->vocab_str[i]) + 1;
			}
		ld_cli_phase(rq, "labels");
	}
	/* Refuse what cannot fit before computing it. A trace bound for a file
	 * is written to it as the pass records it, so it needs the disk only;
	 * one for the viewer is held in memory. */
	struct ld_trace_cost cost = ld_trace_cost(&m.cfg, n_ids, &fo);
	if (rq->ablation_sweep) /* two small points more, made after the pass */
		cost.header += ld_trace_point_header("ablation.heads_p", LD_PT_ABLATION_HEADS) +
		               ld_trace_point_header("ablation.ffn_p", LD_PT_ABLATION_FFN);
	size_t disk = rq->to_file ? ld_disk_available(rq->out_path) : SIZE_MAX;
	size_t memory = rq->to_file ? SIZE_MAX : ld_memory_available();
	size_t n_steps = (size_t)(rq->n_generate > 1 ? rq->n_generate - 1 : 0);
	int in_context = n_ids + n_steps <= (size_t)m.cfg.max_pos;
	size_t reserve = ld_trace_header_reserve(tr, cost.header, ids, n_ids, n_steps + 1, text_len);
	if (rq->to_file)
		cost.bytes = cost.bytes > SIZE_MAX - reserve ? SIZE_MAX : cost.bytes + reserve;
	if (in_context && /* else the pass refuses it, saying so */
	    ld_trace_fits(&cost, n_ids, memory, disk, rq->out_path, &err) != LD_OK) {
		ld_cli_error("%s", err.msg);
		goto out;
	}
	if (rq->to_file) {
		if (ld_trace_stream_to(tr, rq->out_path, rq->force, reserve, &err) != LD_OK) {
			ld_cli_error("%s", err.msg);
			goto out;
		}
	}
	if (ld_forward(&m, ids, n_ids, &fo, tr, &err) != LD_OK) {
		ld_cli_error("%s: %s", rq->model_dir, err.msg);
		goto out;
	}
	ld_cli_phase(rq, "pass");
	if (rq->ablation_sweep) {
		if (ld_ablation_sweep(&m, ids, n_ids, &fo, tr, NULL, &err) != LD_OK) {
			ld_cli_error("%s: %s", rq->model_dir, err.msg);
			goto out;
		}
		ld_cli_phase(rq, "sweep");
	}
	tr->model_path = strdup(rq->model_dir);
	if (text) {
		/* The prompt is stored as given; bytes that are not UTF-8 cannot go
		 * into JSON metadata, so they are kept as \xNN escapes. */
		tr->prompt = ld_cli_printable(text, text_len);
	}
	if (tk) {
		size_t n = tr->n_tokens + tr->n_generated;
		tr->token_str = calloc(n + 1, sizeof *tr->token_str);
		for (size_t i = 0; tr->token_str && i < n; i++) {
			int32_t id = i < tr->n_tokens ? tr->tokens[i] : tr->generated[i - tr->n_tokens];
			tr->token_str[i] = ld_tok_display(tk, id);
		}
	}
	rc = 0;
out:
	if (model_loaded)
		ld_model_free(&m);
	ld_tok_free(tk);
	for (size_t i = 0; patches && i < rq->n_patch; i++)
		ld_patch_free(&patches[i]);
	free(patches);
	free(ids);
	free(text);
	if (rc != 0)
		ld_trace_free(tr);
	return rc;
}

char *ld_cli_printable(const char *s, size_t n)
{
	char *out = malloc(4 * n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		const unsigned char *u = (const unsigned char *)s + i;
		size_t len = u[0] < 0x80 ? 1 : (u[0] >> 5) == 6 ? 2 : (u[0] >> 4) == 14 ? 3 : (u[0] >> 3) == 30 ? 4 : 0;
		int ok = len > 0 && i + len <= n && u[0] != 0;
		for (size_t k = 1; ok && k < len; k++)
			ok = (u[k] & 0xc0) == 0x80;
		if (ok && len == 2)
			ok = u[0] >= 0xc2;
		if (ok && len == 3)
			ok = !(u[0] == 0xe0 && u[1] < 0xa0) && !(u[0] == 0xed && u[1] >= 0xa0);
		if (ok && len == 4)
			ok = u[0] <= 0xf4 && !(u[0] == 0xf0 && u[1] < 0x90) && !(u[0] == 0xf4 && u[1] >= 0x90);
		if (ok) {
			memcpy(o, u, len);
			o += len;
			i += len;
		} else {
			o += sprintf(o, "\\x%02x", u[0]);
			i++;
		}
	}
	*o = '\0';
	return out;
}

static const char trace_usage[] =
	"usage: llamadbg trace -m MODEL_DIR (-p TEXT | -p - | -f FILE | -t ID,ID,...) [-n N]\n"
	"                      [-o FILE] [--only GLOB]... [--lens[=K]] [--lens-mid] [--no-bos]\n"
	"                      [--allow-special] [--force] [--times] [--bf16-dot]\n"
	"                      [--patch POINT=FILE.npy]... [--patch-from TRACE:POINT]...\n"
	"                      [--ablate layers.I.head.H | layers.I.ffn]... [--ablation-sweep]\n"
	"  --lens[=K]   logit lens: record each layer's K best next-token guesses (default 5),\n"
	"               final_norm then the output layer applied to layers.{i}.resid_out, as\n"
	"               layers.{i}.lens_ids (int32) and layers.{i}.lens_probs (token x rank)\n"
	"  --lens-mid   the same after each layer's attention (resid_mid): layers.{i}.lens_mid_*\n"
	"  --times      each phase's wall time on stderr (load, tokenizer, labels, pass, sweep, write)\n"
	"  --bf16-dot   bf16 dot products (AMX, or AVX512-BF16) for bf16 weights: activations\n"
	"               rounded to bf16 first, not exact f32 (llama.cpp's arithmetic there); faster\n"
	"               with AMX or on AMD Zen 4/5, slower on Intel without AMX. Same as\n"
	"               LLAMADBG_KERNEL=amxbf16 on a CPU with AMX, else LLAMADBG_KERNEL=avx512bf16\n"
	"\n"
	"Patching: the tensor computed at POINT in the prompt pass is replaced, and\n"
	"everything after it is computed from the new value (which the trace records).\n"
	"  --patch POINT=FILE.npy      the value from a .npy file ('<f4' or '<f2', C order,\n"
	"                              the point's shape: `llamadbg dump -f npy` writes one)\n"
	"  --patch-from TRACE:POINT    the same point of another trace of a prompt of the\n"
	"                              same length (activation patching)\n"
	"  --ablate layers.I.head.H    zero head H's output (attn) before o_proj\n"
	"  --ablate layers.I.ffn       zero the FFN's output (ffn_out)\n"
	"POINT may be a slice: layers.3.attn[:,5,:] is head 5 at every token (the file\n"
	"then holds token x dim). Patchable: embed, final_norm and, per layer, attn_norm,\n"
	"q, k, v, q_rope, k_rope, scores, probs, attn, attn_out, resid_mid, ffn_norm,\n"
	"ffn_gate, ffn_up, ffn_act, ffn_out, resid_out. Several patches may be given.\n"
	"With -n, decode steps are not patched: each new token runs normally, attending\n"
	"to the keys and values the patched prompt pass left in the cache.\n"
	"  --ablation-sweep            which components the answer needs: one more pass per\n"
	"                              head and per FFN, each zeroed alone (on top of the\n"
	"                              patches above), recording the probability of the run's\n"
	"                              own next token at the last position as ablation.heads_p\n"
	"                              (layer x head) and ablation.ffn_p (layer); the lowest\n"
	"                              is what the answer needs most\n";

int ld_cli_trace_args(int argc, char **argv, struct ld_trace_request *rq, const char *usage)
{
	static const struct option opts[] = {
		{"model", required_argument, 0, 'm'}, {"tokens", required_argument, 0, 't'},
		{"prompt", required_argument, 0, 'p'}, {"file", required_argument, 0, 'f'},
		{"generate", required_argument, 0, 'n'}, {"output", required_argument, 0, 'o'},
		{"only", required_argument, 0, 'O'}, {"force", no_argument, 0, 'F'},
		{"no-bos", no_argument, 0, 'B'}, {"allow-special", no_argument, 0, 'S'},
		{"patch", required_argument, 0, 'P'}, {"patch-from", required_argument, 0, 'Q'},
		{"ablate", required_argument, 0, 'A'}, {"ablation-sweep", no_argument, 0, 'W'},
		{"lens", optional_argument, 0, 'L'}, {"lens-mid", no_argument, 0, 'M'},
		{"times", no_argument, 0, 'T'}, {"bf16-dot", no_argument, 0, 'D'},
		{"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	memset(rq, 0, sizeof *rq);
	rq->out_path = "trace.safetensors";
	rq->only = calloc((size_t)argc + 1, sizeof *rq->only);
	rq->patch_kind = calloc((size_t)argc + 1, 1);
	rq->patch_arg = calloc((size_t)argc + 1, sizeof *rq->patch_arg);
	if (!rq->only || !rq->patch_kind || !rq->patch_arg)
		return ld_cli_error("out of memory");
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "m:t:p:f:n:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': rq->model_dir = optarg; break;
		case 't': rq->ids = optarg; break;
		case 'p': rq->prompt = optarg; break;
		case 'f': rq->prompt_file = optarg; break;
		case 'n': {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end || end == optarg || v < 0 || v > 1000000)
				return ld_cli_error("-n: \"%s\" is not a token count", optarg);
			rq->n_generate = (int)v;
			break;
		}
		case 'o': rq->out_path = optarg; break;
		case 'L': {
			/* --lens alone keeps 5 guesses; --lens=K keeps K (the model
			 * checks K against its vocabulary). */
			char *end = NULL;
			long v = optarg ? strtol(optarg, &end, 10) : 5;
			if (optarg && (*end || end == optarg || v < 1 || v > 1000000))
				return ld_cli_error("--lens: \"%s\" is not a number of guesses (e.g. --lens=5)", optarg);
			rq->lens_k = (int)v;
			break;
		}
		case 'M': rq->lens_mid = 1; break;
		case 'O': rq->only[rq->n_only++] = optarg; break;
		case 'F': rq->force = 1; break;
		case 'B': rq->no_bos = 1; break;
		case 'S': rq->allow_special = 1; break;
		case 'P': case 'Q': case 'A':
			rq->patch_kind[rq->n_patch] = c == 'P' ? 'p' : c == 'Q' ? 'f' : 'a';
			rq->patch_arg[rq->n_patch++] = optarg;
			break;
		case 'T': rq->times = 1; break;
		case 'D': rq->bf16_dot = 1; break;
		case 'W': rq->ablation_sweep = 1; break;
		case 'h': fputs(usage, stdout); return -1;
		default: fputs(usage, stderr); return 1;
		}
	}
	if (rq->lens_mid && rq->lens_k == 0)
		rq->lens_k = 5; /* --lens-mid alone: the lens at both places */
	int sources = !!rq->ids + !!rq->prompt + !!rq->prompt_file;
	if (!rq->model_dir || sources != 1 || optind != argc) {
		fputs(usage, stderr);
		return 1;
	}
	return 0;
}

int ld_cmd_trace(int argc, char **argv)
{
	struct ld_trace_request rq;
	struct ld_trace tr;
	struct ld_err err = {{0}};
	int rc = ld_cli_trace_args(argc, argv, &rq, trace_usage);
	if (rc != 0) {
		ld_cli_trace_request_free(&rq);
		return rc < 0 ? 0 : rc;
	}
	rq.to_file = 1;
	/* Refuse early: a long trace should not be computed only to be refused. */
	if (!rq.force && ld_path_exists(rq.out_path)) {
		ld_cli_trace_request_free(&rq);
		return ld_cli_error("%s: already exists (use --force to replace it)", rq.out_path);
	}
	if (ld_cli_trace_run(&rq, &tr) != 0) {
		ld_cli_trace_request_free(&rq);
		return 1;
	}
	rc = 1;
	if (ld_trace_save(&tr, rq.out_path, rq.force, &err) != LD_OK) {
		ld_cli_error("%s", err.msg);
		goto out;
	}
	ld_cli_phase(&rq, "write");
	size_t bytes = 0;
	for (size_t i = 0; i < tr.n; i++)
		bytes += tr.t[i].nbytes;
	printf("%s: %zu tensors, %.1f MB, %zu tokens", rq.out_path, tr.n, bytes / 1e6, tr.n_tokens);
	if (tr.n_generated) {
		printf(", generated");
		for (size_t i = 0; i < tr.n_generated; i++)
			printf(" %d", (int)tr.generated[i]);
		if (tr.token_str) {
			printf(" (");
			for (size_t i = 0; i < tr.n_generated; i++)
				printf("%s%s", i ? " " : "", tr.token_str[tr.n_tokens + i]);
			printf(")");
		}
	}
	printf("\n");
	for (size_t i = 0; i < tr.n_patches; i++)
		printf("patched: %s\n", tr.patches[i]);
	if (tr.cfg.n_labels > 0) {
		/* the data went to the file as it was recorded: read it back there */
		struct ld_trace saved;
		if (ld_trace_open(&saved, rq.out_path, &err) != LD_OK) {
			ld_cli_error("%s", err.msg);
			goto out;
		}
		ld_cli_print_classes(&saved);
		ld_trace_free(&saved);
	}
	rc = 0;
out:
	ld_trace_free(&tr);
	ld_cli_trace_request_free(&rq);
	return rc;
}

static int open_trace(const char *path, struct ld_trace *tr)
{
	struct ld_err err = {{0}};
	if (ld_trace_open(tr, path, &err) != LD_OK)
		return ld_cli_error("%s", err.msg);
	return 0;
}

/* "weights: ..." lines: how the model stored its matrices, consecutive
 * layers with the same types on one line. */
static void print_weight_types(const struct ld_trace *tr)
{
	if (!tr->wtypes)
		return;
	const size_t L = (size_t)tr->cfg.n_layers, n = L * LD_WM_N;
	int same = 1;
	for (size_t i = 0; i < n; i++)
		same = same && tr->wtypes[i] == tr->wtype_embed;
	if (same && tr->wtype_output == tr->wtype_embed) {
		printf("\nweights: %s, every matrix", ld_dtype_name(tr->wtype_embed));
		return;
	}
	printf("\nweights: embed %s, output %s", ld_dtype_name(tr->wtype_embed),
	       ld_dtype_name(tr->wtype_output));
	for (size_t a = 0, b; a < L; a = b) {
		const enum ld_dtype *row = tr->wtypes + a * LD_WM_N;
		for (b = a + 1; b < L && memcmp(tr->wtypes + b * LD_WM_N, row, LD_WM_N * sizeof *row) == 0; b++)
			;
		if (b - a == 1)
			printf("\n  layer %zu:", a);
		else
			printf("\n  layers %zu-%zu:", a, b - 1);
		for (int k = 0; k < LD_WM_N; k++)
			printf(" %s %s", ld_wmat_name[k], ld_dtype_name(row[k]));
	}
}

int ld_cmd_ls(int argc, char **argv)
{
	int first, rc = ld_cli_positional(argc, argv, "usage: llamadbg ls TRACE_FILE\n", NULL, 1, 1, &first);
	if (rc != 0)
		return rc < 0 ? 0 : rc;
	const char *path = argv[first];
	struct ld_trace tr;
	if (open_trace(path, &tr) != 0)
		return 1;
	const struct ld_config *c = &tr.cfg;
	printf("%s: %zu tensors; model dim %d, %d layers, %d heads (%d KV), head_dim %d, ffn %d, vocab %d\n",
	       path, tr.n, c->dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim, c->ffn_dim,
	       c->vocab_size);
	printf("tokens:");
	for (size_t i = 0; i < tr.n_tokens; i++)
		printf(" %d", (int)tr.tokens[i]);
	if (tr.n_generated) {
		printf("\ngenerated:");
		for (size_t i = 0; i < tr.n_generated; i++) {
			const char *v = ld_trace_vocab_str(&tr, tr.generated[i]);
			printf(v ? " %d (%s)" : " %d", (int)tr.generated[i], v);
		}
	}
	for (size_t i = 0; i < tr.n_patches; i++)
		printf("\npatched: %s", tr.patches[i]);
	if (tr.kernel[0])
		printf("\nkernel: %s%s", tr.kernel,
		       ld_kernel_rounds_x(tr.kernel) ? " (--bf16-dot: bf16 weights times activations rounded to bf16)"
		                                     : "");
	print_weight_types(&tr);
	printf("\n%-28s %-34s %12s %12s %12s %12s %5s %5s  %s\n", "name", "shape", "min", "max", "mean",
	       "std", "nan", "inf", "src");
	for (size_t i = 0; i < tr.n; i++) {
		const struct ld_tensor *t = &tr.t[i];
		struct ld_stats s;
		char shape[128];
		ld_tensor_stats(t, &s);
		ld_tensor_shape_str(t, shape, sizeof shape);
		printf("%-28s %-34s %12.5g %12.5g %12.5g %12.5g %5zu %5zu  %s%s\n", t->name, shape, s.min, s.max,
		       s.mean, s.std, s.n_nan, s.n_posinf + s.n_neginf, t->src,
		       ld_trace_patched(&tr, t->name) ? "  (patched)" : "");
	}
	ld_cli_print_classes(&tr);
	ld_trace_free(&tr);
	return 0;
}

static const char dump_usage[] =
	"usage: llamadbg dump TRACE_FILE [GLOB]... [-f npy|csv|txt] [-o DIR] [--force]\n";

int ld_cmd_dump(int argc, char **argv)
{
	const char *dir = ".", *fmt_s = "npy";
	int force = 0, rc = 1;
	static const struct option opts[] = {
		{"format", required_argument, 0, 'f'}, {"output", required_argument, 0, 'o'},
		{"force", no_argument, 0, 'F'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0},
	};
	optind = 1;
	int c;
	while ((c = getopt_long(argc, argv, "f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': fmt_s = optarg; break;
		case 'o': dir = optarg; break;
		case 'F': force = 1; break;
		case 'h': fputs(dump_usage, stdout); return 0;
		default: fputs(dump_usage, stderr); return 1;
		}
	}
	if (optind >= argc) {
		fputs(dump_usage, stderr);
		return 1;
	}
	int fmt = ld_dump_fmt_parse(fmt_s);
	if (fmt < 0)
		return ld_cli_error("-f: unknown format \"%s\" (expected npy, csv or txt)", fmt_s);
	/* The output directory is created if it is missing (one level). */
	struct stat sb;
	if (stat(dir, &sb) != 0 && mkdir(dir, 0755) != 0 && errno != EEXIST)
		return ld_cli_error("%s: cannot create the directory: %s", dir, strerror(errno));
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
		return ld_cli_error("%s: not a directory", dir);
	const char *path = argv[optind];
	char **globs = argv + optind + 1;
	int n_globs = argc - optind - 1;
	struct ld_trace tr;
	if (open_trace(path, &tr) != 0)
		return 1;
	size_t written = 0;
	int *matched = calloc((size_t)n_globs + 1, sizeof *matched);
	if (!matched) {
		ld_trace_free(&tr);
		return ld_cli_error("out of memory");
	}
	for (size_t i = 0; i < tr.n; i++) {
		const struct ld_tensor *t = &tr.t[i];
		int want = n_globs == 0;
		for (int g = 0; g < n_globs; g++)
			if (fnmatch(globs[g], t->name, 0) == 0)
				want = matched[g] = 1;
		if (!want)
			continue;
		char file[160];
		snprintf(file, sizeof file, "%s.%s", t->name, ld_dump_fmt_ext((enum ld_dump_fmt)fmt));
		char *out = ld_path_join(dir, file);
		struct ld_err err = {{0}};
		struct ld_dump_view v = ld_dump_view_of(t);
		enum ld_status st = out ? ld_dump_write(out, (enum ld_dump_fmt)fmt, &v, force, &err)
		                        : ld_fail(&err, LD_ERR_NOMEM, "out of memory");
		if (st == LD_OK)
			printf("%s\n", out);
		free(out);
		if (st != LD_OK) {
			ld_cli_error("%s", err.msg);
			goto out;
		}
		written++;
	}
	for (int g = 0; g < n_globs; g++)
		if (!matched[g]) {
			ld_cli_error("%s: no tensor matches \"%s\"", path, globs[g]);
			goto out;
		}
	rc = 0;
out:
	free(matched);
	ld_trace_free(&tr);
	return rc;
}
