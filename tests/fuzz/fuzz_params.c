/* fuzz_params.c - Meta's params.json, and the FFN width rule it implies. */
#include <stdlib.h>

#include "config.h"
#include "fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ld_config c;
	struct ld_meta_params mp;
	struct ld_err err = {{0}};
	enum ld_status st = ld_config_parse_meta(&c, &mp, (const char *)data, size, "params.json", &err);
	fz_check_error(st, &err, "ld_config_parse_meta");
	if (st == LD_OK) {
		if (c.vocab_size == 0) /* the loader takes it from the weights */
			c.vocab_size = 128256;
		ld_config_meta_specials(&c);
		(void)ld_config_n_params(&c);
		free(ld_config_to_json(&c));
	}
	return 0;
}
