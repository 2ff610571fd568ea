/* fuzz_model.c - a model directory as the loader sees it: config.json and
 * model.safetensors checked against each other (every tensor present, of
 * the shape the config implies), then a short pass with one decode step.
 *
 * The first byte picks which file the rest of the input is; the other one
 * is the tiny test model's own (tests/data/models/bf16_mqa), so a mutated
 * config meets real weights and mutated weights meet a real config. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "forward.h"
#include "fuzzlib.h"
#include "model.h"

static char dir[64];
static uint8_t *fixed[2];
static size_t fixed_len[2];
static const char *const files[2] = {"config.json", "model.safetensors"};

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fz_fail("%s: cannot open", path);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		fz_fail("%s: cannot read", path);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void put_file(const char *name, const uint8_t *data, size_t size)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
		fz_fail("%s: cannot write", path);
}

static void remove_dir(void)
{
	char path[128];
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *shm = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(dir, sizeof dir, "%s/llamadbg-fuzz-XXXXXX", shm);
	if (!mkdtemp(dir))
		fz_fail("mkdtemp %s failed", dir);
	atexit(remove_dir);
	for (int i = 0; i < 2; i++) {
		char rel[96];
		snprintf(rel, sizeof rel, "tests/data/models/bf16_mqa/%s", files[i]);
		fixed[i] = slurp(fz_source_path(rel), &fixed_len[i]);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	int which = data[0] & 1;
	put_file(files[which], data + 1, size - 1);
	put_file(files[!which], fixed[!which], fixed_len[!which]);

	struct ld_model m;
	struct ld_err err = {{0}};
	enum ld_status st = ld_model_load(&m, dir, &err);
	fz_check_error(st, &err, "ld_model_load");
	if (st != LD_OK)
		return 0;
	const int32_t tokens[] = {0, 1, 2};
	struct ld_forward_opts o = {.n_generate = 2};
	struct ld_trace tr;
	ld_trace_init(&tr);
	if (m.cfg.dim <= 4096 && m.cfg.n_layers <= 64) { /* a pass the size of the test model */
		st = ld_forward(&m, tokens, 3, &o, &tr, &err);
		fz_check_error(st, &err, "ld_forward");
	}
	ld_trace_free(&tr);
	ld_model_free(&m);
	return 0;
}
