/* jsonw.h - JSON text written directly into a growing buffer.
 *
 * For the few places where building jansson values first is too slow: a
 * trace's header holds the display form of all 128256 vocabulary entries
 * (as JSON text inside a JSON string, so escaped twice), and building
 * 128k jansson strings, dumping them and freeing them took longer than
 * writing the rest of the file. Readers still parse with jansson. */
#ifndef LD_JSONW_H
#define LD_JSONW_H

#include <stddef.h>

/* A growing byte buffer, always NUL-terminated once something was put. A
 * failed allocation sets oom and drops everything put after it: check oom
 * once at the end. */
struct ld_jsonw {
	char *p;
	size_t n, cap;
	int oom;
};

void ld_jsonw_raw(struct ld_jsonw *b, const char *s, size_t n);
void ld_jsonw_cstr(struct ld_jsonw *b, const char *s); /* ld_jsonw_raw of a C string */

/* s[0..n) as a JSON string: in quotes, with " and \ escaped, the control
 * characters as \n, \t, ... or \u00XX, and every byte that does not
 * belong to a valid UTF-8 sequence as \uFFFD (jansson refuses such a
 * string, so nothing valid is changed). */
void ld_jsonw_string(struct ld_jsonw *b, const char *s, size_t n);

/* The length ld_jsonw_string writes for s[0..n). */
size_t ld_jsonw_string_len(const char *s, size_t n);

/* The buffer's text (malloc'd, the caller frees it), or NULL after a
 * failed allocation; b is empty again either way. */
char *ld_jsonw_take(struct ld_jsonw *b);

#endif
