/* fuzz_pickle.c - the pickle interpreter of the .pth reader, reached
 * directly: the input becomes archive/data.pkl of a well-formed torch.save
 * zip (CRC-32 right, storages "0" to "3" of 4 KB each present and
 * aligned), so every mutation is spent on the pickle, not the zip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzlib.h"
#include "pth.h"

#define N_STORAGES 4
#define STORAGE_BYTES 4096

struct zbuf {
	uint8_t *p;
	size_t len, cap;
};

static void put(struct zbuf *z, const void *src, size_t n)
{
	if (z->len + n > z->cap) {
		z->cap = 2 * (z->len + n);
		if (!(z->p = realloc(z->p, z->cap)))
			fz_fail("out of memory building the zip");
	}
	if (n)
		memcpy(z->p + z->len, src, n);
	z->len += n;
}
static void put16(struct zbuf *z, unsigned v) { uint8_t b[2] = {v & 255, v >> 8 & 255}; put(z, b, 2); }
static void put32(struct zbuf *z, uint32_t v) { put16(z, v & 0xffff); put16(z, v >> 16); }

struct entry {
	char name[32];
	const uint8_t *data;
	size_t size;
	uint32_t crc, offset;
};

/* A local header whose extra field pads the data to 64 bytes, then data. */
static void put_local(struct zbuf *z, struct entry *e)
{
	size_t nl = strlen(e->name);
	size_t pad = (64 - (z->len + 30 + nl) % 64) % 64;
	e->offset = (uint32_t)z->len;
	put32(z, 0x04034b50u);
	put16(z, 20), put16(z, 0), put16(z, 0), put16(z, 0), put16(z, 0);
	put32(z, e->crc), put32(z, (uint32_t)e->size), put32(z, (uint32_t)e->size);
	put16(z, (unsigned)nl), put16(z, (unsigned)pad);
	put(z, e->name, nl);
	static const uint8_t zeros[64];
	put(z, zeros, pad);
	put(z, e->data, e->size);
}

static void put_central(struct zbuf *z, const struct entry *e)
{
	size_t nl = strlen(e->name);
	put32(z, 0x02014b50u);
	put16(z, 20), put16(z, 20), put16(z, 0), put16(z, 0), put16(z, 0), put16(z, 0);
	put32(z, e->crc), put32(z, (uint32_t)e->size), put32(z, (uint32_t)e->size);
	put16(z, (unsigned)nl), put16(z, 0), put16(z, 0), put16(z, 0), put16(z, 0);
	put32(z, 0), put32(z, e->offset);
	put(z, e->name, nl);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	static uint8_t storage[STORAGE_BYTES];
	struct entry e[2 + N_STORAGES] = {
		{"archive/data.pkl", data, size, 0, 0},
		{"archive/byteorder", (const uint8_t *)"little", 6, 0, 0},
	};
	for (int i = 0; i < N_STORAGES; i++) {
		snprintf(e[2 + i].name, sizeof e[2 + i].name, "archive/data/%d", i);
		e[2 + i].data = storage;
		e[2 + i].size = sizeof storage;
	}
	struct zbuf z = {0};
	size_t n = sizeof e / sizeof e[0];
	for (size_t i = 0; i < n; i++) {
		e[i].crc = ld_crc32(e[i].data, e[i].size);
		put_local(&z, &e[i]);
	}
	size_t cd = z.len;
	for (size_t i = 0; i < n; i++)
		put_central(&z, &e[i]);
	size_t cd_size = z.len - cd;
	put32(&z, 0x06054b50u);
	put16(&z, 0), put16(&z, 0), put16(&z, (unsigned)n), put16(&z, (unsigned)n);
	put32(&z, (uint32_t)cd_size), put32(&z, (uint32_t)cd), put16(&z, 0);

	fz_pth_file(z.p, z.len);
	free(z.p);
	return 0;
}
