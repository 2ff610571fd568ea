/* fuzz_gguf.c - a GGUF file as `trace -m FILE.gguf` meets it: the
 * container (header, every metadata value, tensor descriptions, alignment,
 * data bounds), the llama config from the metadata, every weight's type
 * and shape, the tokenizer in the metadata, then a short pass with one
 * decode step when the model is small. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forward.h"
#include "fuzzlib.h"
#include "gguf.h"
#include "model.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	int fd = fz_file(data, size, path, sizeof path);
	struct ld_err err = {{0}};

	/* The container alone, as info and the tokenizer read it. */
	struct ld_gguf g;
	enum ld_status st = ld_gguf_open(&g, path, &err);
	fz_check_error(st, &err, "ld_gguf_open");
	if (st == LD_OK) {
		for (size_t i = 0; i < g.n_tensors; i++) {
			const struct ld_gguf_tensor *t = &g.t[i];
			if (ld_gguf_find_tensor(&g, t->name) != t)
				fz_fail("tensor %s is listed but not found by name", t->name);
			const unsigned char *p = t->data;
			volatile unsigned char sink = p[0] ^ p[t->nbytes - 1]; /* inside the mapping */
			(void)sink;
		}
		for (size_t k = 0; k < g.n_kv; k++) {
			if (ld_gguf_find_kv(&g, g.kv[k].key) == NULL)
				fz_fail("key %s is listed but not found", g.kv[k].key);
			struct ld_gguf_iter it;
			struct ld_gguf_str s;
			size_t n = 0;
			volatile char sink = 0;
			ld_gguf_iter_init(&it, &g.kv[k]);
			while (ld_gguf_next_str(&it, &s)) {
				if (s.len)
					sink ^= s.p[0] ^ s.p[s.len - 1];
				n++;
			}
			(void)sink;
			if (g.kv[k].type == LD_GGUF_ARRAY && g.kv[k].elem == LD_GGUF_STRING && n != g.kv[k].n)
				fz_fail("key %s: walked %zu of %zu strings", g.kv[k].key, n, g.kv[k].n);
		}
		ld_gguf_close(&g);
	}

	/* The model, its tokenizer, and a pass. */
	struct ld_model m;
	memset(&err, 0, sizeof err);
	st = ld_model_load(&m, path, &err);
	fz_check_error(st, &err, "ld_model_load");
	struct ld_tokenizer *tk = NULL;
	memset(&err, 0, sizeof err);
	enum ld_status tst = ld_tok_load_file(&tk, path, &err);
	fz_check_error(tst, &err, "ld_tok_load_file");
	if (tst == LD_OK) {
		int32_t *ids;
		size_t n;
		static const char text[] = "the cat <|begin_of_text|> sat\n\xff!";
		if (ld_tok_encode(tk, text, sizeof text - 1, LD_TOK_BOS | LD_TOK_ALLOW_SPECIAL, &ids, &n, &err) ==
		    LD_OK)
			free(ids);
		ld_tok_free(tk);
	}
	if (st == LD_OK) {
		const int32_t tokens[] = {0, 1, 0};
		struct ld_forward_opts o = {.n_generate = 2};
		struct ld_trace tr;
		ld_trace_init(&tr);
		if (ld_config_n_params(&m.cfg) <= 4u << 20 && m.cfg.vocab_size >= 2) {
			st = ld_forward(&m, tokens, 3, &o, &tr, &err);
			fz_check_error(st, &err, "ld_forward");
		}
		ld_trace_free(&tr);
		ld_model_free(&m);
	}
	close(fd);
	return 0;
}
