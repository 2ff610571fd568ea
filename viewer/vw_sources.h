/* vw_sources.h - the core/ sources behind the source pane (no curses).
 *
 * At build time viewer/embed_sources.sh turns the .c and .h files of core/
 * into a C include file (core_sources.inc) that sources.c compiles in, so an
 * installed binary can show the lines that recorded a tensor. A build
 * without it falls back to reading core/ from disk (the working directory,
 * its parent, or next to the executable).
 */
#ifndef VW_SOURCES_H
#define VW_SOURCES_H

#include <stddef.h>

struct vw_srcfile {
	const char *path;          /* "core/forward.c" */
	size_t n_lines;
	const char *const *lines;  /* n_lines lines without their newline */
	char *owned_text;          /* read from disk: the buffer lines point into */
	const char **owned_lines;  /* read from disk: the line array */
};

/* The embedded copy of a core/ file, or NULL. */
const struct vw_srcfile *vw_source_embedded(const char *path);
/* How many files are embedded (0 in a build without the generated file). */
size_t vw_source_n_embedded(void);

/* Read path from disk into f (trying the working directory, "../", and the
 * executable's "../"); 0 on success, -1 if not found. */
int vw_source_load(struct vw_srcfile *f, const char *path);
void vw_source_free(struct vw_srcfile *f);

/* Split "core/forward.c:123" into its path and line; 0 on success. */
int vw_src_split(const char *src, char *path, size_t size, long *line);

#endif
