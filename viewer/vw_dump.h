/* vw_dump.h - the viewer's dump keys: the tensor or the slice on screen to
 * .npy and .csv in a directory, under a name derived from the point and
 * the slice that never replaces an existing file (no curses). */
#ifndef VW_DUMP_H
#define VW_DUMP_H

#include <stddef.h>

#include "vw_state.h"

/* The file name stem: "layers.0.scores" for the tensor,
 * "layers.0.scores.head2" for the query x key slice at head 2 (".T" added
 * when rows and columns are swapped). */
void vw_dump_stem(const struct vw_slice *sl, int whole, char *buf, size_t size);

/* Write the tensor the main pane shows (vw_view_target), or its slice, as
 * <stem>.npy and <stem>.csv in dir (stem-1, stem-2, ... when taken).
 * On success returns 0 and puts "wrote ..." in msg; on failure returns -1
 * with the reason in msg. Never fatal. */
int vw_dump(const struct vw_state *s, const struct ld_trace *tr, int whole, const char *dir, char *msg,
            size_t size);

#endif
