/* status.h - how the engine reports failure.
 *
 * The engine never prints and never exits. Every fallible function returns
 * an enum ld_status and, on failure, writes one actionable line into a
 * caller-owned struct ld_err: the file, the thing expected, the thing found
 * (control characters in it are made spaces, so it stays one line).
 */
#ifndef LD_STATUS_H
#define LD_STATUS_H

enum ld_status {
	LD_OK = 0,
	LD_ERR_IO,      /* open/read/write/mmap/rename failed */
	LD_ERR_FORMAT,  /* file contents are not what the format says */
	LD_ERR_SHAPE,   /* a tensor's shape disagrees with the config */
	LD_ERR_DTYPE,   /* a dtype we do not support */
	LD_ERR_RANGE,   /* a value out of range: token id, position, offset */
	LD_ERR_NOMEM,   /* allocation failed */
	LD_ERR_USAGE,   /* bad arguments from the caller */
	LD_ERR_EXISTS,  /* output exists and overwriting was not asked for */
};

struct ld_err {
	char msg[1024]; /* one line, no trailing newline */
};

/* Fill err (if not NULL) with a printf-style message and return st. */
enum ld_status ld_fail(struct ld_err *err, enum ld_status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepend "prefix: " to an existing message (e.g. the file name). */
enum ld_status ld_fail_prefix(struct ld_err *err, enum ld_status st, const char *prefix);

#endif
