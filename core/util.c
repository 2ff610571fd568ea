/* util.c - file helpers: whole-file reads, mmap, atomic writes. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum ld_status ld_read_file(const char *path, size_t max, char **out, size_t *len, struct ld_err *err)
{
	*out = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ld_fail(err, LD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return ld_fail(err, LD_ERR_IO, "%s: not a regular file", path);
	}
	if ((size_t)sb.st_size > max) {
		close(fd);
		return ld_fail(err, LD_ERR_RANGE, "%s: %lld bytes, more than the %zu expected", path,
		               (long long)sb.st_size, max);
	}
	char *buf = malloc((size_t)sb.st_size + 1);
	if (!buf) {
		close(fd);
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	}
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			close(fd);
			return ld_fail(err, LD_ERR_IO, "%s: read failed: %s", path, r ? strerror(errno) : "short read");
		}
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return LD_OK;
}

enum ld_status ld_map_file(const char *path, void **map, size_t *len, struct ld_err *err)
{
	*map = NULL;
	*len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ld_fail(err, LD_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return ld_fail(err, LD_ERR_IO, "%s: not a regular file", path);
	}
	if (sb.st_size == 0) {
		close(fd);
		return LD_OK;
	}
	void *p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return ld_fail(err, LD_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
#ifdef MADV_HUGEPAGE
	/* A hint, so its failure is harmless: where the kernel can, it reads
	 * the file into 2 MB pages and maps them whole. Streaming 16 GB of
	 * weights then needs 8 thousand page-table entries, not 4 million,
	 * and the matmuls stop waiting for page walks (about 25% of an 8B
	 * pass on 4 KB pages). */
	(void)madvise(p, (size_t)sb.st_size, MADV_HUGEPAGE);
#endif
	*map = p;
	*len = (size_t)sb.st_size;
	return LD_OK;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

void ld_prefault(const void *map, size_t len)
{
	if (map && len)
		(void)madvise((void *)map, len, MADV_POPULATE_READ);
}

void *ld_map_anon(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n, MADV_HUGEPAGE); /* a wish: without it, 4 KB pages */
#endif
	return p;
}

void ld_unmap_anon(void *p, size_t n)
{
	if (p)
		munmap(p, n);
}

void ld_unmap_file(void *map, size_t len)
{
	if (map && len)
		munmap(map, len);
}

/* A copy of many megabytes (a recorded point: a 512-token pass of the 1B
 * shape records 2.8 GB). In 1 MB pieces over the OpenMP threads, and on
 * x86 with AVX-512 in non-temporal stores, which write the destination's
 * lines without reading them first and leave the caches to the pass: the
 * trace is not read again until it is written out. glibc's memcpy switches
 * to such stores only for copies larger than a share of the last-level
 * cache, which on a server CPU can be hundreds of MB. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx512f"))) static void stream_copy(unsigned char *dst, const unsigned char *src,
                                                           size_t n)
{
	size_t i = 0;
	for (; i + 256 <= n; i += 256) {
		__m512i a = _mm512_loadu_si512(src + i), b = _mm512_loadu_si512(src + i + 64);
		__m512i c = _mm512_loadu_si512(src + i + 128), d = _mm512_loadu_si512(src + i + 192);
		_mm512_stream_si512((__m512i *)(dst + i), a);
		_mm512_stream_si512((__m512i *)(dst + i + 64), b);
		_mm512_stream_si512((__m512i *)(dst + i + 128), c);
		_mm512_stream_si512((__m512i *)(dst + i + 192), d);
	}
	_mm_sfence(); /* the stores are seen before the copy is said done */
	memcpy(dst + i, src + i, n - i);
}
static int stream_ok(const void *dst) { return ((uintptr_t)dst & 63) == 0 && __builtin_cpu_supports("avx512f"); }
#else
static void stream_copy(unsigned char *dst, const unsigned char *src, size_t n) { memcpy(dst, src, n); }
static int stream_ok(const void *dst) { (void)dst; return 0; }
#endif

void ld_copy_big(void *dst, const void *src, size_t n)
{
	enum { PIECE = 1 << 20, BIG = 4 << 20 };
	if (n < BIG) {
		memcpy(dst, src, n);
		return;
	}
	const int stream = stream_ok(dst);
	const size_t pieces = (n + PIECE - 1) / PIECE;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
	for (size_t i = 0; i < pieces; i++) {
		const size_t off = i * PIECE, len = n - off < PIECE ? n - off : PIECE;
		if (stream)
			stream_copy((unsigned char *)dst + off, (const unsigned char *)src + off, len);
		else
			memcpy((unsigned char *)dst + off, (const unsigned char *)src + off, len);
	}
}

/* The pool behind ld_pool_take: mappings given back are kept, up to a
 * quarter of the machine's memory and POOL_SLOTS of them, for a take of
 * their exact page-rounded size. Fresh pages cost the kernel a zeroing
 * and, on a virtual machine, the hypervisor its own tables: recording all
 * 2.8 GB of a 512-token pass of the 1B shape cost +75% on top of the pass
 * in fresh memory each pass, and the pass's own 0.7 GB of buffers 170k
 * page faults. Under AddressSanitizer there is no pool: every take is a
 * heap allocation and every give frees it, so that ASan checks the
 * forward pass's buffers, the trace's points and the matmul's scratch
 * like any other, and sees a point used after its trace was freed. */
#if defined(__SANITIZE_ADDRESS__)
#define LD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LD_ASAN 1
#endif
#endif
enum { POOL_SLOTS = 1024 };
static struct {
	void *p[POOL_SLOTS];
	size_t n[POOL_SLOTS];
	size_t count, bytes;
} pool;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t page_round(size_t n) { return n > SIZE_MAX - 4095 ? SIZE_MAX : (n + 4095) & ~(size_t)4095; }

static size_t pool_max(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGE_SIZE);
	return pages > 0 && size > 0 ? (size_t)pages / 4 * (size_t)size : 0;
}

size_t ld_pool_bytes(void)
{
	pthread_mutex_lock(&pool_lock);
	size_t n = pool.bytes;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

#ifdef LD_ASAN
void *ld_pool_take(size_t n, int zero)
{
	size_t lines = (n + 63) & ~(size_t)63; /* aligned_alloc wants a multiple */
	void *p = lines >= n ? aligned_alloc(64, lines ? lines : 64) : NULL;
	if (p && zero)
		memset(p, 0, n);
	return p;
}

void ld_pool_give(void *p, size_t n)
{
	(void)n;
	free(p);
}
#else
void *ld_pool_take(size_t n, int zero)
{
	void *p = NULL;
	pthread_mutex_lock(&pool_lock);
	for (size_t i = 0; i < pool.count; i++)
		if (pool.n[i] == page_round(n)) {
			p = pool.p[i];
			pool.bytes -= pool.n[i];
			pool.count--;
			pool.p[i] = pool.p[pool.count];
			pool.n[i] = pool.n[pool.count];
			break;
		}
	pthread_mutex_unlock(&pool_lock);
	if (p && zero)
		memset(p, 0, n);
	return p ? p : ld_map_anon(n ? n : 1);
}

void ld_pool_give(void *p, size_t n)
{
	if (!p)
		return;
	static size_t max;
	pthread_mutex_lock(&pool_lock);
	if (!max)
		max = pool_max();
	int kept = pool.count < POOL_SLOTS && pool.bytes <= max && page_round(n) <= max - pool.bytes;
	if (kept) {
		pool.p[pool.count] = p;
		pool.n[pool.count++] = page_round(n);
		pool.bytes += page_round(n);
	}
	pthread_mutex_unlock(&pool_lock);
	if (!kept)
		ld_unmap_anon(p, n ? n : 1);
}
#endif

char *ld_path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	size_t n = a;
	if (a && dir[a - 1] != '/')
		p[n++] = '/';
	memcpy(p + n, name, b + 1);
	return p;
}

int ld_path_exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

enum ld_status ld_atomic_open(struct ld_atomic *a, const char *path, int force, struct ld_err *err)
{
	memset(a, 0, sizeof *a);
	a->fd = -1;
	a->force = force;
	if (!force && ld_path_exists(path))
		return ld_fail(err, LD_ERR_EXISTS, "%s: already exists (use --force to replace it)", path);
	size_t n = strlen(path);
	a->path = strdup(path);
	a->tmp = malloc(n + 16);
	if (!a->path || !a->tmp) {
		ld_atomic_abort(a);
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", path);
	}
	snprintf(a->tmp, n + 16, "%s.tmpXXXXXX", path);
	a->fd = mkstemp(a->tmp);
	if (a->fd < 0) {
		int e = errno;
		free(a->tmp);
		a->tmp = NULL;
		ld_atomic_abort(a);
		return ld_fail(err, LD_ERR_IO, "%s: cannot create: %s", path, strerror(e));
	}
	fchmod(a->fd, 0644);
	return LD_OK;
}

enum ld_status ld_atomic_write(struct ld_atomic *a, const void *buf, size_t n, struct ld_err *err)
{
	const char *p = buf;
	while (n > 0) {
		size_t chunk = n > (1u << 30) ? (1u << 30) : n;
		ssize_t w = write(a->fd, p, chunk);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ld_fail(err, LD_ERR_IO, "%s: write failed: %s", a->path,
			               w < 0 ? strerror(errno) : "no progress");
		p += w;
		n -= (size_t)w;
	}
	return LD_OK;
}

enum ld_status ld_atomic_commit(struct ld_atomic *a, struct ld_err *err)
{
	enum ld_status st = LD_OK;
	if (fsync(a->fd) != 0 || close(a->fd) != 0) {
		a->fd = -1;
		st = ld_fail(err, LD_ERR_IO, "%s: write failed: %s", a->path, strerror(errno));
		ld_atomic_abort(a);
		return st;
	}
	a->fd = -1;
	if (a->force) {
		if (rename(a->tmp, a->path) != 0)
			st = ld_fail(err, LD_ERR_IO, "%s: cannot rename into place: %s", a->path, strerror(errno));
	} else {
		/* link() fails if the name exists: no window in which another
		 * writer's file could be replaced. */
		if (link(a->tmp, a->path) != 0)
			st = ld_fail(err, errno == EEXIST ? LD_ERR_EXISTS : LD_ERR_IO,
			             "%s: cannot create: %s", a->path,
			             errno == EEXIST ? "already exists (use --force to replace it)" : strerror(errno));
	}
	if (st != LD_OK || !a->force)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	a->tmp = a->path = NULL;
	return st;
}

void ld_atomic_abort(struct ld_atomic *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->tmp)
		unlink(a->tmp);
	free(a->tmp);
	free(a->path);
	a->tmp = a->path = NULL;
	a->fd = -1;
}
