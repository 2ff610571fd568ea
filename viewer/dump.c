/* dump.c - write the current tensor or slice from the viewer.
 *
 * The files are written by core's ld_dump_write (NumPy v1.0 .npy, CSV),
 * which creates each file atomically and refuses to replace one that
 * exists; a taken name moves on to the next derived one.
 */
#include "vw_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump.h"
#include "util.h"

void vw_dump_stem(const struct vw_slice *sl, int whole, char *buf, size_t size)
{
	size_t n = (size_t)snprintf(buf, size, "%s", sl->t->name);
	if (!whole) {
		for (int d = 0; d < sl->ax.n && n < size; d++)
			if (d != sl->row_axis && d != sl->col_axis)
				n += (size_t)snprintf(buf + n, size - n, ".%s%zu", sl->ax.name[d], sl->fixed[d]);
		if (sl->col_axis >= 0 && sl->row_axis > sl->col_axis && n < size)
			snprintf(buf + n, size - n, ".T");
	}
	/* the name comes from a file: keep it to a plain file name */
	for (char *p = buf; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '.' || *p == '_' || *p == '-'))
			*p = '_';
	if (buf[0] == '.' || buf[0] == '\0')
		buf[0] = '_';
}

int vw_dump(const struct vw_state *s, const struct ld_trace *tr, int whole, const char *dir, char *msg,
            size_t size)
{
	/* what the screen shows: in the overview of a tensor without heads,
	 * that is its layer's probs */
	struct vw_slice sl;
	vw_slice_of(s, tr, vw_view_target(s, tr), &sl);
	const struct ld_tensor *t = sl.t;
	struct ld_dump_view v = ld_dump_view_of(t);
	size_t shape[2];
	char axes[40];
	void *copy = NULL;
	if (!t->data || (t->dtype != LD_F32 && t->dtype != LD_I32)) {
		snprintf(msg, size, "%s: nothing to write", t->name);
		return -1;
	}
	if (!whole) {
		/* copy the slice out, rows x cols, in the order shown */
		shape[0] = sl.nrows;
		shape[1] = sl.ncols;
		copy = malloc(sl.nrows * sl.ncols * 4 + 1);
		if (!copy) {
			snprintf(msg, size, "%s: out of memory", t->name);
			return -1;
		}
		for (size_t r = 0; r < sl.nrows; r++)
			for (size_t c = 0; c < sl.ncols; c++)
				memcpy((char *)copy + (r * sl.ncols + c) * 4,
				       (const char *)t->data + (sl.base + r * sl.rstride + c * sl.cstride) * 4, 4);
		if (sl.col_axis >= 0)
			snprintf(axes, sizeof axes, "%s,%s", sl.ax.name[sl.row_axis], sl.ax.name[sl.col_axis]);
		else
			snprintf(axes, sizeof axes, "%s", sl.row_axis >= 0 ? sl.ax.name[sl.row_axis] : "value");
		v.axes = axes;
		v.shape = shape;
		v.ndim = sl.col_axis >= 0 ? 2 : 1;
		v.data = copy;
	}

	char stem[160], name[192];
	vw_dump_stem(&sl, whole, stem, sizeof stem);
	struct ld_err err = {""};
	int rc = -1;
	for (int k = 0; k < 1000; k++) {
		char *npy = NULL, *csv = NULL;
		if (k)
			snprintf(name, sizeof name, "%s-%d.npy", stem, k);
		else
			snprintf(name, sizeof name, "%s.npy", stem);
		npy = ld_path_join(dir, name);
		char csvname[sizeof name];
		snprintf(csvname, sizeof csvname, "%.*s.csv", (int)strlen(name) - 4, name);
		csv = ld_path_join(dir, csvname);
		if (!npy || !csv) {
			free(npy);
			free(csv);
			snprintf(msg, size, "out of memory");
			break;
		}
		enum ld_status st = ld_dump_write(npy, LD_DUMP_NPY, &v, 0, &err);
		if (st == LD_OK) {
			st = ld_dump_write(csv, LD_DUMP_CSV, &v, 0, &err);
			if (st == LD_ERR_EXISTS)
				unlink(npy); /* keep .npy and .csv under one stem */
		}
		if (st == LD_OK) {
			char shp[128];
			struct ld_tensor tmp = *t;
			tmp.ndim = v.ndim;
			memcpy(tmp.shape, v.shape, (size_t)v.ndim * sizeof v.shape[0]);
			snprintf(tmp.axes, sizeof tmp.axes, "%s", v.axes);
			ld_tensor_shape_str(&tmp, shp, sizeof shp);
			snprintf(msg, size, "wrote %s and .csv (%s)", strcmp(dir, ".") == 0 ? name : npy, shp);
			rc = 0;
		} else if (st != LD_ERR_EXISTS) {
			snprintf(msg, size, "%s", err.msg);
		}
		free(npy);
		free(csv);
		if (st != LD_ERR_EXISTS)
			break;
		if (k == 999)
			snprintf(msg, size, "%s: 1000 files of that name already exist", stem);
	}
	free(copy);
	return rc;
}
