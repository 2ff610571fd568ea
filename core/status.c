/* status.c - error buffer helpers. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* A message is one line whatever it quotes (a JSON parser's excerpt of
 * the input, a file name, a token's bytes): control characters become
 * spaces. */
static void one_line(char *msg)
{
	for (unsigned char *p = (unsigned char *)msg; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

enum ld_status ld_fail(struct ld_err *err, enum ld_status st, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof err->msg, fmt, ap);
		va_end(ap);
		one_line(err->msg);
	}
	return st;
}

enum ld_status ld_fail_prefix(struct ld_err *err, enum ld_status st, const char *prefix)
{
	if (err) {
		char old[sizeof err->msg];
		memcpy(old, err->msg, sizeof old);
		size_t n = strlen(prefix);
		if (n > sizeof err->msg / 2)
			n = sizeof err->msg / 2;
		memcpy(err->msg, prefix, n);
		memcpy(err->msg + n, ": ", 2);
		size_t rest = sizeof err->msg - n - 3;
		strncpy(err->msg + n + 2, old, rest);
		err->msg[sizeof err->msg - 1] = '\0';
		one_line(err->msg);
	}
	return st;
}
