/* util.h - small file helpers shared by the core. */
#ifndef LD_UTIL_H
#define LD_UTIL_H

#include <stddef.h>

#include "status.h"

/* Read a whole file (at most max bytes) into a malloc'd, NUL-terminated buffer. */
enum ld_status ld_read_file(const char *path, size_t max, char **out, size_t *len, struct ld_err *err);

/* mmap a whole file read-only. An empty file maps to (NULL, 0). */
enum ld_status ld_map_file(const char *path, void **map, size_t *len, struct ld_err *err);
void ld_unmap_file(void *map, size_t len);
/* Map a mapped file's pages in now, in one go (MADV_POPULATE_READ), rather
 * than by a page fault at a time during the first pass; a hint that
 * older kernels ignore. */
void ld_prefault(const void *map, size_t len);
/* n bytes of fresh zeroed memory, mapped and offered huge pages (page-aligned,
 * so O_DIRECT can write from it); NULL when out of memory. Page faults are
 * dear on a virtual machine: in 2 MB pages, 2.8 GB of trace takes 1400 of
 * them, not 700 thousand. ld_unmap_anon(p, n) gives it back (p may be NULL). */
void *ld_map_anon(size_t n);
void ld_unmap_anon(void *p, size_t n);
/* ld_map_anon's memory, kept when given back for the process's next take
 * of the same (page-rounded) size: a second pass or trace then reuses the
 * first one's pages instead of the kernel zeroing new ones (see util.c).
 * zero: the memory must read as zeros (a kept mapping is cleared; a fresh
 * one is zero anyway). The memory is page-aligned (64-byte aligned under
 * AddressSanitizer, where it is the heap's). ld_pool_give(p, n) takes
 * back what ld_pool_take(n, .) returned (p may be NULL). */
void *ld_pool_take(size_t n, int zero);
void ld_pool_give(void *p, size_t n);
/* memcpy(dst, src, n) for copies of megabytes: threaded, and in
 * non-temporal stores where the CPU has AVX-512 (see util.c). */
void ld_copy_big(void *dst, const void *src, size_t n);
/* The bytes the pool keeps now: memory this process can take again,
 * which the system counts as used (ld_memory_available adds it). */
size_t ld_pool_bytes(void);

/* An atomic write: data goes to a temp file beside path; commit renames it
 * over path (refusing to replace an existing file unless force), abort
 * removes it. */
struct ld_atomic {
	char *path;     /* final path */
	char *tmp;      /* temp path in the same directory */
	int fd;         /* open on tmp, -1 when closed */
	int force;
};
enum ld_status ld_atomic_open(struct ld_atomic *a, const char *path, int force, struct ld_err *err);
enum ld_status ld_atomic_write(struct ld_atomic *a, const void *buf, size_t n, struct ld_err *err);
enum ld_status ld_atomic_commit(struct ld_atomic *a, struct ld_err *err);
void ld_atomic_abort(struct ld_atomic *a);

/* Join a directory and a file name into a malloc'd path. */
char *ld_path_join(const char *dir, const char *name);

/* 1 if path exists (any kind of file). */
int ld_path_exists(const char *path);

#endif
