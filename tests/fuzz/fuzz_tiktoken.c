/* fuzz_tiktoken.c - tokenizer.model, tiktoken's format: one "base64 rank"
 * pair a line (seeds are tiktoken files). */
#include "fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_tokenizer_file(data, size);
	return 0;
}
