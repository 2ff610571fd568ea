#!/bin/sh
# test_viewer_embed.sh - viewer/embed_sources.sh turns core/ into C that
# compiles and reproduces every line byte for byte (quotes, backslashes,
# '?', tabs, UTF-8), so the source pane of an installed binary is exact.
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sh viewer/embed_sources.sh core/*.c core/*.h > "$tmp/core_sources.inc"
# a file with every character that needs escaping
printf 'a "quoted" \\ back\\\\slash ??= trigraph\n\ttab \342\200\224 dash\r\n\nno newline at end' > "$tmp/tricky.c"
sh viewer/embed_sources.sh "$tmp/tricky.c" > "$tmp/tricky.inc"
cat > "$tmp/check.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "vw_sources.h"
int main(int argc, char **argv)
{
	int bad = 0;
	size_t n = vw_source_n_embedded();
	if (n != (size_t)(argc - 1)) {
		fprintf(stderr, "embedded %zu files, expected %d\n", n, argc - 1);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		char name[256];
		const char *base = strrchr(argv[i], '/');
		snprintf(name, sizeof name, "core/%s", base ? base + 1 : argv[i]);
		const struct vw_srcfile *e = vw_source_embedded(name);
		struct vw_srcfile d;
		if (!e || vw_source_load(&d, argv[i]) != 0) {
			fprintf(stderr, "%s: missing\n", name);
			return 1;
		}
		if (e->n_lines != d.n_lines) {
			fprintf(stderr, "%s: %zu lines embedded, %zu on disk\n", name, e->n_lines, d.n_lines);
			bad = 1;
		}
		for (size_t k = 0; k < e->n_lines && k < d.n_lines; k++) {
			if (strcmp(e->lines[k], d.lines[k]) != 0) {
				fprintf(stderr, "%s:%zu differs:\n  [%s]\n  [%s]\n", name, k + 1, e->lines[k], d.lines[k]);
				bad = 1;
				break;
			}
		}
		vw_source_free(&d);
	}
	return bad;
}
C
cc="${CC:-cc}"
$cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$tmp" -Iviewer -o "$tmp/check" "$tmp/check.c" viewer/sources.c
"$tmp/check" core/*.c core/*.h
mkdir "$tmp/t"
cp "$tmp/tricky.inc" "$tmp/t/core_sources.inc"
$cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$tmp/t" -Iviewer -o "$tmp/check2" "$tmp/check.c" viewer/sources.c
"$tmp/check2" "$tmp/tricky.c"
echo "embed_sources: 2 passed, 0 failed"
