/* dump.h - write one tensor (or a slice of one) to .npy, .csv or .txt.
 *
 * Every write is atomic (temp file + rename) and never replaces an existing
 * file unless force is set.
 */
#ifndef LD_DUMP_H
#define LD_DUMP_H

#include <stddef.h>

#include "status.h"
#include "trace.h"

enum ld_dump_fmt { LD_DUMP_NPY, LD_DUMP_CSV, LD_DUMP_TXT };

/* "npy" / "csv" / "txt" -> format; -1 if unknown. */
int ld_dump_fmt_parse(const char *s);
const char *ld_dump_fmt_ext(enum ld_dump_fmt f);

/* A view of the values to write: a whole tensor or a slice copied out. */
struct ld_dump_view {
	const char *name;      /* for the text header */
	const char *axes;      /* comma-separated axis names */
	enum ld_dtype dtype;   /* LD_F32 or LD_I32 */
	int ndim;
	const size_t *shape;
	const void *data;      /* row-major */
};

/* The view of a whole trace tensor. */
struct ld_dump_view ld_dump_view_of(const struct ld_tensor *t);

/* Write the view to path in the given format. */
enum ld_status ld_dump_write(const char *path, enum ld_dump_fmt fmt, const struct ld_dump_view *v,
                             int force, struct ld_err *err);

#endif
