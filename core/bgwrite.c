/* bgwrite.c - a file written front to back by a second thread (bgwrite.h).
 *
 * Two buffers take turns: the caller fills one while the writer thread
 * writes the other. When the caller's buffer is full and the writer is
 * still busy, the caller waits: the disk sets the pace, and memory stays
 * at two buffers however large the file grows.
 *
 * O_DIRECT wants the file offset, the length and the buffer's address
 * aligned to the device's block size: offsets here start at a multiple
 * of 4096 and advance by whole buffers, the buffers are 4096-aligned, and
 * the last, partial buffer is padded to a whole block and the file cut
 * back to its true length afterwards. A file system that refuses O_DIRECT
 * at open or at the first write gets plain pwrite() instead.
 */
#include "bgwrite.h"

#include <errno.h>
#include <fcntl.h> /* O_DIRECT: the build defines _GNU_SOURCE */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

enum {
	ALIGN = 4096,            /* O_DIRECT's alignment, enough for any block size */
	BUF_BYTES = 16 << 20,    /* each of the two buffers */
	EARLY_SYNC = 64 << 20,   /* the first bytes flushed to the device as they go */
};

struct ld_bgwrite {
	char *name;         /* for error lines */
	int fd;             /* the caller's descriptor: plain writes, the final length */
	int dfd;            /* the same file opened O_DIRECT, or -1 */
	unsigned char *buf[2];
	size_t fill;        /* bytes in buf[cur] */
	int cur;            /* the buffer the caller fills */
	off_t next;         /* file offset of buf[cur]'s first byte */

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy;           /* the writer has a buffer: job_* below */
	int job_buf;
	size_t job_len;     /* bytes to write */
	off_t job_off;
	int quit;
	int error;          /* the first errno the writer met, or 0 */
};

/* Write n bytes of p (a buffer of BUF_BYTES) at off, with O_DIRECT while
 * it is accepted: a last, partial buffer padded to a whole block. Only the
 * writer thread touches dfd. */
static int write_all(struct ld_bgwrite *w, unsigned char *p, size_t n, off_t off)
{
	if (w->dfd >= 0 && n % ALIGN) {
		size_t padded = (n + ALIGN - 1) / ALIGN * ALIGN;
		memset(p + n, 0, padded - n);
		n = padded;
	}
	while (n > 0) {
		int fd = w->dfd >= 0 ? w->dfd : w->fd;
		ssize_t r = pwrite(fd, p, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EINVAL && w->dfd >= 0) {
			/* O_DIRECT opened but not honoured: plain writes from here on */
			close(w->dfd);
			w->dfd = -1;
			continue;
		}
		if (r < 0)
			return errno;
		if (r == 0)
			return EIO;
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

static void *writer(void *arg)
{
	struct ld_bgwrite *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->busy && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (!w->busy)
			break; /* quit, nothing left */
		int b = w->job_buf;
		size_t len = w->job_len;
		off_t off = w->job_off;
		int stop = w->error != 0;
		pthread_mutex_unlock(&w->mu);
		int e = stop ? 0 : write_all(w, w->buf[b], len, off);
		pthread_mutex_lock(&w->mu);
		if (e && !w->error)
			w->error = e;
		w->busy = 0;
		pthread_cond_broadcast(&w->cv);
		/* The file is made durable (fsync) before it is renamed into
		 * place, and on a virtual disk that flush costs about as long as
		 * the device takes to write what is not yet on it: 0.04-0.06 s
		 * for a 58 MB trace, a sixth of the whole `trace`. So the first
		 * EARLY_SYNC bytes are flushed here, buffer by buffer, while the
		 * pass goes on (the buffer is already free for the caller), and
		 * the last flush has a buffer or two left: a short trace's write
		 * phase 0.075 -> 0.048 s. Not past that: flushing every buffer
		 * slowed a 2.8 GB trace by a tenth, for a last flush of 0.2 s. */
		if (!e && !stop && off + (off_t)len <= EARLY_SYNC) {
			pthread_mutex_unlock(&w->mu);
			/* a failure is kept: the kernel reports it only once */
			int se = fdatasync(w->fd) != 0 && errno != EINVAL && errno != EROFS ? errno : 0;
			pthread_mutex_lock(&w->mu);
			if (se && !w->error)
				w->error = se;
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static enum ld_status failed(struct ld_bgwrite *w, int e, struct ld_err *err)
{
	return ld_fail(err, LD_ERR_IO, "%s: write failed: %s", w->name, strerror(e));
}

/* Free w and everything it holds (the writer thread already stopped). */
static void release(struct ld_bgwrite *w)
{
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	if (w->dfd >= 0)
		close(w->dfd);
	ld_unmap_anon(w->buf[1], BUF_BYTES);
	ld_unmap_anon(w->buf[0], BUF_BYTES);
	free(w->name);
	free(w);
}

enum ld_status ld_bgwrite_open(struct ld_bgwrite **out, int fd, const char *tmp, const char *name,
                               off_t start, struct ld_err *err)
{
	struct ld_bgwrite *w = calloc(1, sizeof *w);
	if (!w)
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", name);
	w->fd = fd;
	w->dfd = -1;
	w->next = start;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	/* the buffers: page-aligned as O_DIRECT needs, in huge pages (32 MB in
	 * 4 KB page faults cost a 17-token trace ~5% of its time) */
	if (!(w->name = strdup(name)) || !(w->buf[0] = ld_map_anon(BUF_BYTES)) ||
	    !(w->buf[1] = ld_map_anon(BUF_BYTES))) {
		release(w);
		return ld_fail(err, LD_ERR_NOMEM, "%s: out of memory", name);
	}
	if (start % ALIGN == 0)
		w->dfd = open(tmp, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (pthread_create(&w->thread, NULL, writer, w) != 0) {
		release(w);
		return ld_fail(err, LD_ERR_NOMEM, "%s: cannot start the writer thread", name);
	}
	*out = w;
	return LD_OK;
}

/* Hand buf[cur] (fill bytes) to the writer once it is free, and switch
 * to the other buffer. Returns the writer's first error, or 0. */
static int submit(struct ld_bgwrite *w)
{
	size_t len = w->fill;
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	int e = w->error;
	if (!e) {
		w->job_buf = w->cur;
		w->job_len = len;
		w->job_off = w->next;
		w->busy = 1;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	w->next += (off_t)w->fill;
	w->fill = 0;
	w->cur ^= 1;
	return e;
}

enum ld_status ld_bgwrite_put(struct ld_bgwrite *w, const void *buf, size_t n, struct ld_err *err)
{
	const unsigned char *p = buf;
	while (n > 0) {
		size_t room = BUF_BYTES - w->fill, k = n < room ? n : room;
		memcpy(w->buf[w->cur] + w->fill, p, k);
		w->fill += k;
		p += k;
		n -= k;
		if (w->fill == BUF_BYTES) {
			int e = submit(w);
			if (e)
				return failed(w, e, err);
		}
	}
	return LD_OK;
}

/* Wait for the writer's last job and stop it; returns its first error,
 * or 0. */
static int finish(struct ld_bgwrite *w)
{
	pthread_mutex_lock(&w->mu);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->mu);
	w->quit = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	return w->error;
}

enum ld_status ld_bgwrite_close(struct ld_bgwrite *w, struct ld_err *err)
{
	int e = w->fill ? submit(w) : 0;
	int e2 = finish(w);
	if (!e)
		e = e2;
	/* the padding of the last O_DIRECT block goes */
	if (!e && ftruncate(w->fd, w->next) != 0)
		e = errno;
	enum ld_status st = e ? failed(w, e, err) : LD_OK;
	release(w);
	return st;
}

void ld_bgwrite_abort(struct ld_bgwrite *w)
{
	if (w) {
		finish(w);
		release(w);
	}
}
