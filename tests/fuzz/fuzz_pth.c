/* fuzz_pth.c - Meta's consolidated.NN.pth as a whole file: the zip (end
 * record, zip64, central directory, local headers), then data.pkl. */
#include "fuzzlib.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_pth_file(data, size);
	return 0;
}
