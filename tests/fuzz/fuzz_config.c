/* fuzz_config.c - Hugging Face config.json: every field the loader reads,
 * its type and range, then what a trace stores of it. */
#include <stdlib.h>

#include "config.h"
#include "fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ld_config c;
	struct ld_err err = {{0}};
	enum ld_status st = ld_config_parse(&c, (const char *)data, size, "config.json", &err);
	fz_check_error(st, &err, "ld_config_parse");
	if (st == LD_OK) {
		(void)ld_config_n_params(&c);
		free(ld_config_to_json(&c));
	}
	return 0;
}
