/* fuzz_encode.c - the tokenizer on arbitrary bytes: the pre-tokenizer's
 * PCRE2 split, byte-level BPE, special tokens. The demo model's tokenizer
 * (the Llama 3 rules on a small vocabulary) is loaded once.
 *
 * The first byte picks the flags, the rest is the text. Beyond no crash:
 * without <|begin_of_text|>, decoding the ids gives back the text exactly,
 * and every token's display form is one line. */
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "tokenizer.h"

static struct ld_tokenizer *tk;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct ld_err err = {{0}};
	if (ld_tok_load_dir(&tk, fz_source_path("data/demo"), &err) != LD_OK)
		fz_fail("the demo tokenizer: %s", err.msg);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	unsigned flags = data[0] & (LD_TOK_BOS | LD_TOK_ALLOW_SPECIAL);
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	int32_t *ids = NULL;
	size_t n = 0;
	struct ld_err err = {{0}};
	enum ld_status st = ld_tok_encode(tk, text, len, flags, &ids, &n, &err);
	fz_check_error(st, &err, "ld_tok_encode");
	if (st != LD_OK)
		return 0;
	char *out = NULL;
	size_t out_len = 0;
	st = ld_tok_decode(tk, ids, n, &out, &out_len, &err);
	if (st != LD_OK)
		fz_fail("decoding the ids of an encode failed: %s", err.msg);
	if (!(flags & LD_TOK_BOS) && (out_len != len || memcmp(out, text, len) != 0))
		fz_fail("decode(encode(text)) differs from the text (%zu bytes in, %zu out)", len, out_len);
	for (size_t i = 0; i < n; i++) {
		char *d = ld_tok_display(tk, ids[i]);
		if (!d || strchr(d, '\n'))
			fz_fail("token %d has no one-line display form", (int)ids[i]);
		free(d);
	}
	free(out);
	free(ids);
	return 0;
}
