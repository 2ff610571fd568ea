/* fuzz_tokenizer_json.c - Hugging Face tokenizer.json: the vocabulary,
 * merges, added tokens and pre-tokenizer (seeds and dictionary are JSON). */
#include "fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_tokenizer_file(data, size);
	return 0;
}
