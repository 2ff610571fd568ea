/* jsonw.c - JSON text written directly (see jsonw.h). */
#include "jsonw.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int grow(struct ld_jsonw *b, size_t more)
{
	if (b->oom)
		return 0;
	if (more < b->cap - b->n) /* room for more and the NUL */
		return 1;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->n <= more) {
		if (cap > SIZE_MAX / 2) {
			b->oom = 1;
			return 0;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->oom = 1;
		return 0;
	}
	b->p = p;
	b->cap = cap;
	return 1;
}

void ld_jsonw_raw(struct ld_jsonw *b, const char *s, size_t n)
{
	if (!grow(b, n))
		return;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

void ld_jsonw_cstr(struct ld_jsonw *b, const char *s) { ld_jsonw_raw(b, s, strlen(s)); }

/* The length of the valid UTF-8 sequence at s[0..n), or 0 if there is none
 * (a stray continuation byte, a truncated sequence, an overlong form, a
 * surrogate, a code point past U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* One byte's escape (NULL: written as it is). */
static const char *escape(unsigned char c, char tmp[8])
{
	static const char hex[] = "0123456789ABCDEF";
	switch (c) {
	case '"': return "\\\"";
	case '\\': return "\\\\";
	case '\b': return "\\b";
	case '\f': return "\\f";
	case '\n': return "\\n";
	case '\r': return "\\r";
	case '\t': return "\\t";
	default: break;
	}
	if (c >= 0x20)
		return NULL;
	memcpy(tmp, "\\u00", 4);
	tmp[4] = hex[c >> 4];
	tmp[5] = hex[c & 15];
	tmp[6] = '\0';
	return tmp;
}

/* Walk s[0..n) as ld_jsonw_string writes it: into b, or only counted. */
static size_t string_walk(struct ld_jsonw *b, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = 2, i = 0, run = 0; /* run: bytes since the last escape, copied as they are */
	char tmp[8];
	if (b)
		ld_jsonw_raw(b, "\"", 1);
	while (i < n) {
		const char *e = NULL;
		size_t step = 1;
		if (u[i] >= 0x80) {
			step = utf8_seq(u + i, n - i);
			if (!step) {
				e = "\\uFFFD";
				step = 1;
			}
		} else {
			e = escape(u[i], tmp);
		}
		if (!e) {
			run += step;
			i += step;
			continue;
		}
		if (b) {
			ld_jsonw_raw(b, s + i - run, run);
			ld_jsonw_cstr(b, e);
		}
		len += run + strlen(e);
		run = 0;
		i += step;
	}
	if (b) {
		ld_jsonw_raw(b, s + n - run, run);
		ld_jsonw_raw(b, "\"", 1);
	}
	return len + run;
}

void ld_jsonw_string(struct ld_jsonw *b, const char *s, size_t n) { (void)string_walk(b, s, n); }

size_t ld_jsonw_string_len(const char *s, size_t n) { return string_walk(NULL, s, n); }

char *ld_jsonw_take(struct ld_jsonw *b)
{
	char *p = b->oom ? NULL : b->p;
	if (b->oom)
		free(b->p);
	else if (!p)
		p = calloc(1, 1); /* nothing was put: the empty text */
	*b = (struct ld_jsonw){0};
	return p;
}
