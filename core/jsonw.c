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

/* Walk s[0..n) as ld_jsonw_string writes it: into out (which has room for
 * the worst case, 6 bytes for every byte), or only counted (out NULL).
 * Returns the length. */
static size_t string_walk(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *u = (const unsigned char *)s;
	char tmp[8];
	size_t len = 0;
#define PUT(c)                                                                    \
	do {                                                                          \
		if (out)                                                                  \
			out[len] = (char)(c);                                                 \
		len++;                                                                    \
	} while (0)
	PUT('"');
	for (size_t i = 0; i < n;) {
		unsigned char c = u[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			PUT(c); /* the common case: printable ASCII as it is */
			i++;
			continue;
		}
		const char *e = tmp;
		size_t k = 1;
		if (c >= 0x80) {
			k = utf8_seq(u + i, n - i);
			if (k) { /* a whole UTF-8 character as it is */
				for (size_t j = 0; j < k; j++)
					PUT(u[i + j]);
				i += k;
				continue;
			}
			k = 1;
			e = "\\uFFFD";
		} else if (c == '"' || c == '\\') {
			tmp[0] = '\\', tmp[1] = (char)c, tmp[2] = 0;
		} else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
			tmp[0] = '\\', tmp[2] = 0;
			tmp[1] = c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else { /* another control character */
			memcpy(tmp, "\\u00", 4);
			tmp[4] = hex[c >> 4], tmp[5] = hex[c & 15], tmp[6] = 0;
		}
		for (; *e; e++)
			PUT(*e);
		i += k;
	}
	PUT('"');
#undef PUT
	return len;
}

void ld_jsonw_string(struct ld_jsonw *b, const char *s, size_t n)
{
	if (n > (SIZE_MAX - 3) / 6) {
		b->oom = 1;
		return;
	}
	if (!grow(b, 6 * n + 2))
		return;
	b->n += string_walk(b->p + b->n, s, n);
	b->p[b->n] = '\0';
}

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
