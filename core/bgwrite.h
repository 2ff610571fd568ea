/* bgwrite.h - a file written front to back by a second thread.
 *
 * A streamed trace (trace.c) sends gigabytes to its file while the pass
 * runs on every core. Written with plain write(), each byte is first
 * copied into the kernel's page cache, on the same cores the pass needs
 * (at 512 tokens of the 1B shape that copy took more CPU time than the
 * attention). Here the bytes are copied once into one of two large
 * aligned buffers, and a writer thread hands each full buffer to the disk
 * with O_DIRECT, the device reading it straight from memory while the
 * pass goes on. Where the file system refuses O_DIRECT (tmpfs, some
 * network file systems), the thread falls back to plain writes.
 */
#ifndef LD_BGWRITE_H
#define LD_BGWRITE_H

#include <stddef.h>
#include <sys/types.h>

#include "status.h"

struct ld_bgwrite;

/* Write to the file tmp (open as fd), from byte `start` on; `name` is
 * what error lines call the file. With start a multiple of 4096, the
 * writes bypass the page cache where the file system allows it. */
enum ld_status ld_bgwrite_open(struct ld_bgwrite **out, int fd, const char *tmp, const char *name,
                               off_t start, struct ld_err *err);

/* Append n bytes (copied: buf may be reused at once). Fails with the first
 * error the writer met (a full disk, a file size limit), naming the file. */
enum ld_status ld_bgwrite_put(struct ld_bgwrite *w, const void *buf, size_t n, struct ld_err *err);

/* Write what is left, wait for the writer, leave the file exactly
 * start + (bytes put) long, and free w. */
enum ld_status ld_bgwrite_close(struct ld_bgwrite *w, struct ld_err *err);

/* Stop the writer and free w; the file is the caller's to remove. */
void ld_bgwrite_abort(struct ld_bgwrite *w);

#endif
