/* draw.c - one frame of the viewer: model map, tensor header, values grid,
 * heatmap, all-heads overview, source pane, help, status line.
 *
 * Screen layout (80x24):
 *
 *   +-- model map --+-- name  op ----------------------------------+
 *   | tokens        | shape with axes, dtype, source line          |
 *   | embed         | min max mean std, NaN/Inf counts             |
 *   | - layer 0     | what is shown: rows x cols, fixed indices    |
 *   |     q         | the grid / heatmap / heads / source          |
 *   | + layer 1     |                                              |
 *   +---------------+----------------------------------------------+
 *   | status: where you are          keys that matter now / message |
 *
 * Per frame the work is bounded by the screen: only visible cells are
 * read, the statistics come from the state's cache.
 */
#include "vw_draw.h"

#include <langinfo.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "matmul.h"
#include "vw_keys.h"

/* ---- the colour table ------------------------------------------------------ */

enum vw_role {
	VW_C_NORMAL,
	VW_C_TITLE,   /* the tensor's name */
	VW_C_STATUS,  /* the status line */
	VW_C_MAP_CUR, /* the current point in the model map */
	VW_C_MAP_HDR, /* the current layer's header */
	VW_C_LABEL,   /* row and column labels, axis names */
	VW_C_MASK,    /* -inf of the causal mask */
	VW_C_BAD,     /* NaN, +Inf, an unexpected -Inf; error messages */
	VW_C_SEL,     /* the selected row/column/cell/head */
	VW_C_SRC_CUR, /* the source line that recorded the tensor */
	VW_C_COUNT
};

/* One row per role: colour pair, extra attribute with colour, and the
 * attribute used alone on a monochrome terminal or under NO_COLOR. */
static const struct {
	short fg, bg;
	attr_t attr;
	attr_t mono;
} color_table[VW_C_COUNT] = {
	[VW_C_NORMAL] = {-1, -1, A_NORMAL, A_NORMAL},
	[VW_C_TITLE] = {COLOR_YELLOW, -1, A_BOLD, A_BOLD},
	[VW_C_STATUS] = {COLOR_BLACK, COLOR_CYAN, A_NORMAL, A_REVERSE},
	[VW_C_MAP_CUR] = {COLOR_BLACK, COLOR_YELLOW, A_NORMAL, A_REVERSE},
	[VW_C_MAP_HDR] = {COLOR_CYAN, -1, A_BOLD, A_BOLD},
	[VW_C_LABEL] = {COLOR_CYAN, -1, A_NORMAL, A_DIM},
	[VW_C_MASK] = {COLOR_BLUE, -1, A_BOLD, A_DIM},
	[VW_C_BAD] = {COLOR_WHITE, COLOR_RED, A_BOLD, A_BOLD | A_REVERSE},
	[VW_C_SEL] = {COLOR_BLACK, COLOR_WHITE, A_NORMAL, A_REVERSE},
	[VW_C_SRC_CUR] = {COLOR_BLACK, COLOR_GREEN, A_NORMAL, A_REVERSE},
};

/* Picture ramps. 256 colours: indices into the xterm 6x6x6 cube
 * (16 + 36r + 6g + b), a dark-blue-to-yellow sequence for values of one
 * sign and blue-white-red around zero for both signs. */
#define CUBE(r, g, b) (16 + 36 * (r) + 6 * (g) + (b))
static const short ramp256_seq[] = {
	CUBE(0, 0, 1), CUBE(0, 0, 2), CUBE(0, 1, 3), CUBE(0, 2, 3), CUBE(0, 3, 3), CUBE(0, 3, 2),
	CUBE(1, 4, 2), CUBE(2, 4, 1), CUBE(3, 5, 1), CUBE(4, 5, 0), CUBE(5, 5, 0), CUBE(5, 5, 3),
};
static const short ramp256_div[] = {
	CUBE(0, 0, 3), CUBE(0, 1, 5), CUBE(1, 2, 5), CUBE(2, 3, 5), CUBE(3, 4, 5), CUBE(5, 5, 5),
	CUBE(5, 4, 3), CUBE(5, 3, 2), CUBE(5, 2, 1), CUBE(5, 1, 0), CUBE(3, 0, 0),
};
/* 8 colours: the ANSI colours in order of brightness, and a 5-step
 * diverging ramp. */
static const short ramp8_seq[] = {COLOR_BLACK, COLOR_BLUE,  COLOR_RED,    COLOR_MAGENTA,
                                  COLOR_GREEN, COLOR_CYAN,  COLOR_YELLOW, COLOR_WHITE};
static const short ramp8_div[] = {COLOR_BLUE, COLOR_CYAN, COLOR_BLACK, COLOR_YELLOW, COLOR_RED};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define PAIR_SEQ256 32
#define PAIR_DIV256 (PAIR_SEQ256 + (int)NELEM(ramp256_seq))
#define PAIR_SEQ8 (PAIR_DIV256 + (int)NELEM(ramp256_div))
#define PAIR_DIV8 (PAIR_SEQ8 + (int)NELEM(ramp8_seq))

/* Shaded glyphs (UTF-8) and their ASCII fallback, lightest first. */
static const char *const shades_utf8[] = {" ", "\u2591", "\u2592", "\u2593", "\u2588"};
static const char *const shades_ascii[] = {" ", ":", "-", "=", "+", "*", "#", "%", "@"};
#define MASK_UTF8 "\u00b7"
#define MASK_ASCII "."

void vw_ui_setup(struct vw_ui *ui)
{
	const char *nc = getenv("NO_COLOR");
	memset(ui, 0, sizeof *ui);
	ui->utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
	if ((nc && *nc) || !has_colors())
		return;
	if (start_color() == ERR)
		return;
	use_default_colors();
	ui->colors = COLORS >= 256 && COLOR_PAIRS > PAIR_DIV8 + 8 ? 256 : COLORS >= 8 ? 8 : 0;
	if (!ui->colors)
		return;
	for (int r = 0; r < VW_C_COUNT; r++)
		init_pair((short)(r + 1), color_table[r].fg, color_table[r].bg);
	if (ui->colors == 256) {
		for (size_t k = 0; k < NELEM(ramp256_seq); k++)
			init_pair((short)(PAIR_SEQ256 + k), COLOR_BLACK, ramp256_seq[k]);
		for (size_t k = 0; k < NELEM(ramp256_div); k++)
			init_pair((short)(PAIR_DIV256 + k), COLOR_BLACK, ramp256_div[k]);
	}
	for (size_t k = 0; k < NELEM(ramp8_seq); k++)
		init_pair((short)(PAIR_SEQ8 + k), COLOR_WHITE, ramp8_seq[k]);
	for (size_t k = 0; k < NELEM(ramp8_div); k++)
		init_pair((short)(PAIR_DIV8 + k), COLOR_WHITE, ramp8_div[k]);
}

static attr_t role(const struct vw_ui *ui, enum vw_role r)
{
	if (!ui->colors)
		return color_table[r].mono;
	return COLOR_PAIR(r + 1) | color_table[r].attr;
}

enum vw_palette vw_effective_palette(const struct vw_state *s, const struct vw_ui *ui)
{
	enum vw_palette p = s->palette;
	if (p == VW_PAL_AUTO)
		p = ui->colors >= 256 ? VW_PAL_256 : ui->colors >= 8 ? VW_PAL_8 : VW_PAL_SHADE;
	if (p == VW_PAL_256 && ui->colors < 256)
		p = VW_PAL_8;
	if (p == VW_PAL_8 && ui->colors < 8)
		p = VW_PAL_SHADE;
	if (p == VW_PAL_SHADE && !ui->utf8)
		p = VW_PAL_ASCII;
	return p;
}

/* ---- text ------------------------------------------------------------------ */

/* Copy s into out, at most width display columns. Bytes that do not decode
 * in the locale become '?'. Returns the columns used. */
static int clip(char *out, size_t size, const char *s, int width)
{
	mbstate_t st;
	memset(&st, 0, sizeof st);
	size_t o = 0;
	int used = 0;
	while (*s && size > 1) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, s, MB_CUR_MAX, &st);
		int w;
		if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
			memset(&st, 0, sizeof st);
			if (used + 1 > width || o + 2 > size)
				break;
			out[o++] = '?';
			used++;
			s++;
			continue;
		}
		w = wcwidth(wc);
		if (w < 0) {
			if (used + 1 > width || o + 2 > size)
				break;
			out[o++] = '?';
			used++;
			s += n;
			continue;
		}
		if (used + w > width || o + n + 1 > size)
			break;
		memcpy(out + o, s, n);
		o += n;
		used += w;
		s += n;
	}
	if (size)
		out[o] = '\0';
	return used;
}

/* Write s at (y, x), clipped to width columns. Returns the columns used. */
static int put(WINDOW *w, int y, int x, int width, attr_t a, const char *s)
{
	char buf[1024];
	if (width <= 0)
		return 0;
	int used = clip(buf, sizeof buf, s, width);
	wattrset(w, a);
	mvwaddstr(w, y, x, buf);
	wattrset(w, A_NORMAL);
	return used;
}

static int putf(WINDOW *w, int y, int x, int width, attr_t a, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
static int putf(WINDOW *w, int y, int x, int width, attr_t a, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return put(w, y, x, width, a, buf);
}

/* Right-align s in width columns. */
static void put_right(WINDOW *w, int y, int x, int width, attr_t a, const char *s)
{
	int n = (int)strlen(s);
	if (n < width)
		x += width - n;
	put(w, y, x, width, a, s);
}

/* A token's display form: spaces as a middle dot (or '_'), newlines and
 * tabs spelled out, other control bytes as '?'. A terminal that is not
 * UTF-8 gets '_' for the visible-space sign the trace's token strings use
 * and one '?' for any other non-ASCII character (not one per byte). */
static void token_disp(const struct vw_ui *ui, const char *tok, char *out, size_t size)
{
	size_t o = 0;
	if (!tok)
		tok = "";
	for (; *tok && o + 4 < size; tok++) {
		const char *rep = NULL;
		unsigned char c = (unsigned char)*tok;
		if (c >= 0x80 && !ui->utf8) {
			rep = strncmp(tok, "\xE2\x90\xA3", 3) == 0 ? "_" : "?";
			while (((unsigned char)tok[1] & 0xC0) == 0x80)
				tok++; /* the character's continuation bytes */
		} else if (c == ' ')
			rep = ui->utf8 ? MASK_UTF8 : "_";
		else if (c == '\n')
			rep = "\\n";
		else if (c == '\t')
			rep = "\\t";
		else if (c == '\r')
			rep = "\\r";
		else if (c < 0x20 || c == 0x7f)
			rep = "?";
		if (rep) {
			size_t k = strlen(rep);
			memcpy(out + o, rep, k);
			o += k;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static int digits(size_t n)
{
	int d = 1;
	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/* The token string at index i of axis d of t (a position's token, or a
 * vocabulary entry), or NULL for other axes. */
static const char *axis_token(const struct ld_trace *tr, const struct ld_tensor *t, const struct vw_axes *ax,
                              int d, size_t i)
{
	if (d >= 0 && ax->slot[d] == VW_SLOT_VOCAB)
		return ld_trace_vocab_str(tr, (long)i); /* logits: columns are tokens */
	if (d < 0 || (ax->slot[d] != VW_SLOT_TOKEN && ax->slot[d] != VW_SLOT_KEY))
		return NULL;
	return vw_token_str(tr, vw_axis_pos(tr, t, ax->slot[d], i));
}

static int axis_has_tokens(const struct ld_trace *tr, const struct ld_tensor *t, const struct vw_axes *ax, int d)
{
	return axis_token(tr, t, ax, d, 0) != NULL;
}

/* ---- layout ------------------------------------------------------------------ */

struct layout {
	int lines, cols;
	int map_w;   /* model map width, 0 when hidden */
	int px, pw;  /* the right pane: first column and width */
	int body_y;  /* first row under the tensor header */
	int body_h;  /* rows for the grid / picture / source */
	int status_y;
};

#define HEADER_LINES 4

/* A diff's map is wider by the relative error column. */
#define DIFF_COL 9

static void make_layout(struct layout *L, int lines, int cols, enum vw_mode mode, int diff)
{
	L->lines = lines;
	L->cols = cols;
	L->map_w = mode == VW_MODE_HELP ? 0 : cols / 5 < 12 ? 12 : cols / 5 > 24 ? 24 : cols / 5;
	if (L->map_w && diff)
		L->map_w += cols / 3 > L->map_w + DIFF_COL ? DIFF_COL : 0;
	L->px = L->map_w ? L->map_w + 1 : 0;
	L->pw = cols - L->px;
	L->body_y = mode == VW_MODE_HELP ? 0 : HEADER_LINES;
	L->status_y = lines - 1;
	L->body_h = L->status_y - L->body_y;
}

/* ---- model map ----------------------------------------------------------------- */

enum { MI_POINT, MI_LAYER, MI_STEP };
struct mapitem {
	int kind;
	size_t idx;   /* the tensor (MI_POINT) or the first tensor of the group */
	int step, layer;
	int open;     /* a header whose points are listed */
};

static size_t build_map(const struct vw_state *s, const struct ld_trace *tr, struct mapitem *it, size_t *cur_item)
{
	const struct ld_tensor *c = &tr->t[s->cur];
	int has_steps = 0;
	for (size_t i = 0; i < tr->n && !has_steps; i++)
		has_steps = tr->t[i].step > 0;
	size_t n = 0;
	int prev_step = -999, prev_layer = -999;
	*cur_item = 0;
	for (size_t i = 0; i < tr->n; i++) {
		const struct ld_tensor *t = &tr->t[i];
		if (has_steps && t->step != prev_step) {
			it[n++] = (struct mapitem){MI_STEP, i, t->step, -1, t->step == c->step};
			prev_layer = -999;
		}
		prev_step = t->step;
		if (t->step != c->step)
			continue;
		if (t->layer >= 0 && t->layer != prev_layer)
			it[n++] = (struct mapitem){MI_LAYER, i, t->step, t->layer, t->layer == c->layer};
		prev_layer = t->layer;
		if (t->layer >= 0 && t->layer != c->layer)
			continue;
		if (i == s->cur)
			*cur_item = n;
		it[n++] = (struct mapitem){MI_POINT, i, t->step, t->layer, 0};
	}
	return n;
}

/* "2.6e-3": a relative error in at most 7 columns. */
static void fmt_rel(char *buf, size_t size, double rel)
{
	if (rel == 0) {
		snprintf(buf, size, "0");
		return;
	}
	if (isinf(rel)) {
		snprintf(buf, size, "inf");
		return;
	}
	char tmp[16];
	snprintf(tmp, sizeof tmp, "%.1e", rel);
	char *e = strchr(tmp, 'e');
	if (!e) {
		snprintf(buf, size, "%s", tmp);
		return;
	}
	int ex = atoi(e + 1);
	*e = '\0';
	snprintf(buf, size, "%.6se%d", tmp, ex % 1000);
}

/* A diff's column in the map: the point's relative error, in the warning
 * colour past the tolerance, and '*' on the first divergence. */
static void draw_map_rel(WINDOW *w, int y, int width, const struct vw_state *s, const struct vw_ui *ui,
                         size_t idx)
{
	char rel[32], cell[48];
	fmt_rel(rel, sizeof rel, s->diff->rel[idx]);
	snprintf(cell, sizeof cell, " %c%7.7s", (long)idx == s->diff->first ? '*' : ' ', rel);
	int x = width - 1 - DIFF_COL;
	if (x > 0)
		put(w, y, x, DIFF_COL, s->diff->differs[idx] ? role(ui, VW_C_BAD) : role(ui, VW_C_LABEL), cell);
}

static void draw_map(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                     const struct layout *L)
{
	int h = L->status_y, width = L->map_w;
	struct mapitem *it = malloc((3 * tr->n + 1) * sizeof *it);
	if (!it)
		return;
	size_t cur, n = build_map(s, tr, it, &cur);
	size_t top = cur > (size_t)h / 2 ? cur - (size_t)h / 2 : 0;
	if (n > (size_t)h && top > n - (size_t)h)
		top = n - (size_t)h;
	if (n <= (size_t)h)
		top = 0;
	int has_steps = n && it[0].kind == MI_STEP;
	for (int y = 0; y < h && top + (size_t)y < n; y++) {
		const struct mapitem *m = &it[top + (size_t)y];
		const struct ld_tensor *t = &tr->t[m->idx];
		attr_t a = A_NORMAL;
		char line[128];
		int ind = has_steps ? 1 : 0;
		if (m->kind == MI_STEP) {
			if (m->step == 0)
				snprintf(line, sizeof line, "%c prompt", m->open ? '-' : '+');
			else
				snprintf(line, sizeof line, "%c step %d", m->open ? '-' : '+', m->step);
			a = m->open ? role(ui, VW_C_MAP_HDR) : A_NORMAL;
		} else if (m->kind == MI_LAYER) {
			snprintf(line, sizeof line, "%*s%c layer %d", ind, "", m->open ? '-' : '+', m->layer);
			a = m->open ? role(ui, VW_C_MAP_HDR) : A_NORMAL;
		} else {
			ind += t->layer >= 0 ? 4 : 1;
			snprintf(line, sizeof line, "%*s%s", ind, "", vw_short_name(t->name));
			if (m->idx == s->cur)
				a = role(ui, VW_C_MAP_CUR);
		}
		if (m->idx == s->cur && m->kind == MI_POINT) {
			/* the highlight spans the panel, like a call stack's frame */
			char pad[128];
			snprintf(pad, sizeof pad, "%-*s", width, line);
			put(w, y, 0, width, a, pad);
		} else {
			put(w, y, 0, width, a, line);
		}
		const struct ld_stats *st = m->kind == MI_POINT ? vw_stats_of(s, m->idx) : NULL;
		if (st && vw_stats_bad(t, st))
			put(w, y, width - 1, 1, role(ui, VW_C_BAD), "!");
		/* 'P': the run replaced this point (trace --patch, --ablate) */
		if (m->kind == MI_POINT && width > 2 && ld_trace_patched(tr, t->name))
			put(w, y, width - 2, 1, role(ui, VW_C_BAD), "P");
		if (s->diff && m->kind == MI_POINT)
			draw_map_rel(w, y, width, s, ui, m->idx);
	}
	free(it);
	wattrset(w, role(ui, VW_C_LABEL));
	mvwvline(w, 0, L->map_w, ui->utf8 ? ACS_VLINE : '|', h);
	wattrset(w, A_NORMAL);
}

/* ---- tensor header --------------------------------------------------------------- */

static void fmt_stat(char *buf, size_t size, double v)
{
	vw_fmt_num(buf, size, 6, v);
}

static void draw_header(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                        const struct layout *L, size_t target)
{
	const struct ld_tensor *t = &tr->t[target];
	const struct ld_point_info *pi = ld_point_info(t->point);
	int x = L->px, pw = L->pw;
	int used = put(w, 0, x, pw, role(ui, VW_C_TITLE), t->name);
	if (ld_trace_patched(tr, t->name) && used + 10 < pw)
		used += put(w, 0, x + used, pw - used, role(ui, VW_C_BAD), " (patched)");
	if (pi && used + 2 < pw)
		putf(w, 0, x + used + 2, pw - used - 2, A_NORMAL, "%s", pi->op);

	char shape[160];
	ld_tensor_shape_str(t, shape, sizeof shape);
	used = put(w, 1, x, pw, A_NORMAL, shape);
	/* the dtype, the stored type of the matrix that made it (a quantized
	 * model's differ by layer), the source line */
	const char *mat;
	enum ld_dtype wt = ld_trace_weight_type(tr, t, &mat);
	char from[64] = "";
	if (wt != LD_DTYPE_INVALID)
		snprintf(from, sizeof from, "  %s %s%s", mat, ld_dtype_name(wt),
		         /* --bf16-dot rounded this product's input */
		         wt == LD_BF16 && ld_kernel_rounds_x(tr->kernel) ? " x bf16 (--bf16-dot)" : "");
	if (used + 2 < pw)
		putf(w, 1, x + used + 2, pw - used - 2, role(ui, VW_C_LABEL), "%s%s  %s",
		     t->dtype == LD_I32 ? "int32" : "float32", from, t->src[0] ? t->src : "");

	const struct ld_stats *st = vw_stats_of(s, target);
	if (st) {
		char mn[16], mx[16], me[16], sd[16], line[256];
		fmt_stat(mn, sizeof mn, st->min);
		fmt_stat(mx, sizeof mx, st->max);
		fmt_stat(me, sizeof me, st->mean);
		fmt_stat(sd, sizeof sd, st->std);
		snprintf(line, sizeof line, "min %s max %s mean %s std %s", mn, mx, me, sd);
		used = put(w, 2, x, pw, A_NORMAL, line);
		size_t masked = vw_masked_count(t);
		if (st->n_nan || st->n_posinf || st->n_neginf) {
			if (masked && st->n_neginf == masked && !st->n_nan && !st->n_posinf)
				snprintf(line, sizeof line, " -inf %zu (mask)", st->n_neginf);
			else
				snprintf(line, sizeof line, " NaN %zu +inf %zu -inf %zu", st->n_nan, st->n_posinf,
				         st->n_neginf);
			put(w, 2, x + used, pw - used, vw_stats_bad(t, st) ? role(ui, VW_C_BAD) : role(ui, VW_C_MASK),
			    line);
		} else if (used + 2 < pw) {
			put(w, 2, x + used, pw - used, role(ui, VW_C_LABEL), " no NaN/Inf");
		}
	}

	/* line 3: what the body shows */
	struct vw_slice sl;
	vw_slice_of(s, tr, target, &sl);
	char what[256] = "", fixed[160] = "";
	size_t fo = 0;
	for (int d = 0; d < sl.ax.n && fo < sizeof fixed; d++) {
		if (d == sl.row_axis || d == sl.col_axis)
			continue;
		if (s->mode == VW_MODE_OVERVIEW && sl.ax.slot[d] == VW_SLOT_HEAD)
			continue;
		fo += (size_t)snprintf(fixed + fo, sizeof fixed - fo, "%s%s %zu/%zu", fo ? ", " : "", sl.ax.name[d],
		                       sl.fixed[d], t->shape[d]);
	}
	const char *rows = sl.row_axis >= 0 ? sl.ax.name[sl.row_axis] : "value";
	const char *cols = sl.col_axis >= 0 ? sl.ax.name[sl.col_axis] : "value";
	switch (s->mode) {
	case VW_MODE_GRID:
		snprintf(what, sizeof what, "values  %s x %s%s%s", rows, cols, fo ? "  at " : "", fixed);
		break;
	case VW_MODE_HEAT:
		snprintf(what, sizeof what, "heatmap  %s x %s%s%s", rows, cols, fo ? "  at " : "", fixed);
		break;
	case VW_MODE_OVERVIEW:
		snprintf(what, sizeof what, "all heads  %s x %s%s%s", rows, cols, fo ? "  at " : "", fixed);
		break;
	case VW_MODE_SOURCE:
		snprintf(what, sizeof what, "source  %s", t->src[0] ? t->src : "(no source line recorded)");
		break;
	case VW_MODE_LENS:
		snprintf(what, sizeof what, "logit lens%s  layer x position: the top next-token guess",
		         vw_lens_mid(t) ? " after attention" : "");
		break;
	default:
		break;
	}
	if (s->diff) {
		/* which trace the body shows, and how far A and B are apart here */
		static const char *const which[VW_DIFF_N] = {"A", "B", "A-B"};
		char rel[32], tag[96];
		fmt_rel(rel, sizeof rel, s->diff->rel[target]);
		int n = snprintf(tag, sizeof tag, "%s  rel %s%s  ", which[s->diff_which], rel,
		                 (long)target == s->diff->first ? " first divergence" : "");
		used = put(w, 3, x, pw, s->diff->differs[target] ? role(ui, VW_C_BAD) : role(ui, VW_C_TITLE), tag);
		if (used >= n)
			put(w, 3, x + used, pw - used, role(ui, VW_C_LABEL), what);
		return;
	}
	put(w, 3, x, pw, role(ui, VW_C_LABEL), what);
}

/* ---- values grid -------------------------------------------------------------------- */

#define CELL_W 9 /* a value in 8 columns and a space */

/* Row labels: the index, and the token string when rows are positions. */
struct rowlab {
	int nd;   /* digits of the index */
	int tokw; /* width of the token string, 0 for none */
	int lw;   /* the whole label column */
};

static struct rowlab row_labels(int pw, size_t nrows, int rtok)
{
	struct rowlab r;
	r.nd = digits(nrows ? nrows - 1 : 0);
	r.tokw = rtok ? (pw >= 60 ? 10 : pw >= 40 ? 6 : 4) : 0;
	r.lw = r.nd + 1 + (r.tokw ? r.tokw + 1 : 0);
	return r;
}

/* The part of a slice on screen: the state's offsets clamped so that the
 * window stays inside the slice, and the selected row and column. */
struct window {
	size_t r0, c0;     /* first row and column shown */
	size_t rsel, csel; /* selected row/column index, (size_t)-1 for none */
};

static struct window window_of(const struct vw_state *s, const struct vw_slice *sl, size_t vrows,
                               size_t vcols)
{
	struct window v = {s->row0, s->col0, (size_t)-1, (size_t)-1};
	if (v.r0 + vrows > sl->nrows)
		v.r0 = sl->nrows > vrows ? sl->nrows - vrows : 0;
	if (v.c0 + vcols > sl->ncols)
		v.c0 = sl->ncols > vcols ? sl->ncols - vcols : 0;
	if (sl->row_axis >= 0)
		v.rsel = sl->fixed[sl->row_axis];
	if (sl->col_axis >= 0)
		v.csel = sl->fixed[sl->col_axis];
	return v;
}

static void draw_grid(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                      const struct layout *L, struct vw_view *out)
{
	struct vw_slice sl;
	vw_slice_of(s, tr, s->cur, &sl);
	const struct ld_tensor *t = sl.t;
	int x0 = L->px, y0 = L->body_y, pw = L->pw, h = L->body_h;
	int rtok = axis_has_tokens(tr, t, &sl.ax, sl.row_axis);
	int ctok = axis_has_tokens(tr, t, &sl.ax, sl.col_axis);
	const struct rowlab rl = row_labels(pw, sl.nrows, rtok);
	const int nd = rl.nd, tokw = rl.tokw, lw = rl.lw;
	int cw = pw >= 40 ? CELL_W : CELL_W - 1;
	if (pw - lw < cw)
		cw = pw - lw < 5 ? 5 : pw - lw;
	size_t vcols = (size_t)((pw - lw) / cw), vrows = h > 1 ? (size_t)(h - 1) : 1;
	if (vcols < 1)
		vcols = 1;
	const struct window win = window_of(s, &sl, vrows, vcols);
	const size_t r0 = win.r0, c0 = win.c0, rsel = win.rsel, csel = win.csel;
	char buf[256], tok[128];

	/* column header */
	put(w, y0, x0, lw, role(ui, VW_C_LABEL), sl.row_axis >= 0 ? sl.ax.name[sl.row_axis] : "");
	for (size_t j = 0; j < vcols && c0 + j < sl.ncols; j++) {
		size_t c = c0 + j;
		int cx = x0 + lw + (int)j * cw;
		attr_t a = c == csel ? role(ui, VW_C_SEL) : role(ui, VW_C_LABEL);
		if (sl.col_axis < 0) {
			put_right(w, y0, cx, cw - 1, a, "value");
		} else if (ctok) {
			token_disp(ui, axis_token(tr, t, &sl.ax, sl.col_axis, c), tok, sizeof tok);
			snprintf(buf, sizeof buf, "%zu %s", c, tok);
			put(w, y0, cx + 1, cw - 1, a, buf);
		} else {
			snprintf(buf, sizeof buf, "%zu", c);
			put_right(w, y0, cx, cw - 1, a, buf);
		}
	}
	/* rows: one number format for the whole tensor, points aligned */
	const struct ld_stats *st = vw_stats_of(s, s->cur);
	int dec = st ? vw_grid_decimals(st, cw - 1) : -1;
	for (size_t i = 0; i < vrows && r0 + i < sl.nrows; i++) {
		size_t r = r0 + i;
		int y = y0 + 1 + (int)i;
		attr_t la = r == rsel ? role(ui, VW_C_SEL) : role(ui, VW_C_LABEL);
		snprintf(buf, sizeof buf, "%zu", r);
		put_right(w, y, x0, nd, la, buf);
		if (tokw) {
			token_disp(ui, axis_token(tr, t, &sl.ax, sl.row_axis, r), tok, sizeof tok);
			put(w, y, x0 + nd + 1, tokw, la, tok);
		}
		for (size_t j = 0; j < vcols && c0 + j < sl.ncols; j++) {
			size_t c = c0 + j;
			double v = vw_slice_get(&sl, r, c);
			attr_t a = A_NORMAL;
			if (t->dtype == LD_I32)
				snprintf(buf, sizeof buf, "%.0f", v);
			else
				vw_fmt_cell(buf, sizeof buf, cw - 1, dec, v);
			if (vw_slice_masked(&sl, r, c))
				a = role(ui, VW_C_MASK);
			else if (isnan(v) || isinf(v))
				a = role(ui, VW_C_BAD);
			if (r == rsel && c == csel)
				a = role(ui, VW_C_SEL);
			put_right(w, y, x0 + lw + (int)j * cw, cw - 1, a, buf);
		}
	}
	out->rows = vrows;
	out->cols = vcols;
}

/* ---- the logit lens ------------------------------------------------------------------------ */

/* First index of a window of n of total that keeps sel in sight. */
static size_t window_start(size_t sel, size_t n, size_t total)
{
	if (n >= total)
		return 0;
	size_t first = sel >= n ? sel - n + 1 : 0;
	return first + n > total ? total - n : first;
}

/* Rows are layers, columns positions; each cell the display string of the
 * layer's top guess for the next token there. The current point's layer
 * and the selected position are highlighted. */
static void draw_lens(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                      const struct layout *L, struct vw_view *out)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	const int mid = vw_lens_mid(t), n_layers = tr->cfg.n_layers > 0 ? tr->cfg.n_layers : 0;
	const size_t T = t->ndim >= 1 ? t->shape[0] : 0;
	int x0 = L->px, y0 = L->body_y, pw = L->pw, h = L->body_h;
	int lw = 4; /* "L31 " */
	if (T == 0 || n_layers == 0 || h < 2) {
		put(w, y0, x0, pw, role(ui, VW_C_LABEL), "(no lens to show)");
		return;
	}
	int cw = (pw - lw) / (int)(T < 24 ? T : 24); /* every position, if 6 columns each fit */
	cw = cw < 6 ? 6 : cw > 12 ? 12 : cw;
	size_t vcols = (size_t)((pw - lw) / cw), vrows = (size_t)(h - 1);
	if (vcols < 1)
		vcols = 1;
	size_t tsel = s->sel[VW_SLOT_TOKEN] < T ? s->sel[VW_SLOT_TOKEN] : T - 1;
	size_t lsel = t->layer >= 0 && t->layer < n_layers ? (size_t)t->layer : 0;
	size_t c0 = window_start(tsel, vcols, T), r0 = window_start(lsel, vrows, (size_t)n_layers);
	char buf[256], tok[128];

	put(w, y0, x0, lw, role(ui, VW_C_LABEL), "pos");
	for (size_t j = 0; j < vcols && c0 + j < T; j++) {
		size_t c = c0 + j;
		token_disp(ui, vw_token_str(tr, vw_axis_pos(tr, t, VW_SLOT_TOKEN, c)), tok, sizeof tok);
		snprintf(buf, sizeof buf, "%zu %s", vw_axis_pos(tr, t, VW_SLOT_TOKEN, c), tok);
		put(w, y0, x0 + lw + (int)j * cw, cw - 1, c == tsel ? role(ui, VW_C_SEL) : role(ui, VW_C_LABEL), buf);
	}
	for (size_t i = 0; i < vrows && r0 + i < (size_t)n_layers; i++) {
		size_t l = r0 + i;
		int y = y0 + 1 + (int)i;
		struct vw_lens_cell cell = vw_lens_at(tr, mid, t->step, (int)l);
		snprintf(buf, sizeof buf, "L%zu", l);
		put(w, y, x0, lw - 1, l == lsel ? role(ui, VW_C_SEL) : role(ui, VW_C_LABEL), buf);
		for (size_t j = 0; j < vcols && c0 + j < T; j++) {
			size_t c = c0 + j;
			double p;
			long id = vw_lens_top(tr, cell, c, &p);
			const char *v = ld_trace_vocab_str(tr, id);
			if (id < 0)
				snprintf(tok, sizeof tok, "-");
			else if (v)
				token_disp(ui, v, tok, sizeof tok);
			else
				snprintf(tok, sizeof tok, "%ld", id);
			attr_t a = l == lsel && c == tsel ? role(ui, VW_C_SEL) : A_NORMAL;
			put(w, y, x0 + lw + (int)j * cw, cw - 1, a, tok);
		}
	}
	out->rows = vrows;
	out->cols = vcols;
}

/* ---- pictures ------------------------------------------------------------------------- */

/* The colour scale of a picture: one sign -> sequential, both -> diverging
 * around zero. */
struct scale {
	double lo, hi;
	int diverging;
	enum vw_palette pal;
	int levels;
};

static void make_scale(struct scale *sc, const struct ld_stats *st, enum vw_palette pal)
{
	sc->lo = st ? st->min : 0;
	sc->hi = st ? st->max : 1;
	sc->diverging = sc->lo < 0 && sc->hi > 0;
	if (sc->diverging) {
		double m = fabs(sc->lo) > fabs(sc->hi) ? fabs(sc->lo) : fabs(sc->hi);
		sc->lo = -m;
		sc->hi = m;
	}
	sc->pal = pal;
	switch (pal) {
	case VW_PAL_256:
		sc->levels = sc->diverging ? (int)NELEM(ramp256_div) : (int)NELEM(ramp256_seq);
		break;
	case VW_PAL_8:
		sc->levels = sc->diverging ? (int)NELEM(ramp8_div) : (int)NELEM(ramp8_seq);
		break;
	case VW_PAL_SHADE:
		sc->levels = (int)NELEM(shades_utf8);
		break;
	default:
		sc->levels = (int)NELEM(shades_ascii);
		break;
	}
}

static int level_of(const struct scale *sc, double v)
{
	double span = sc->hi - sc->lo;
	double f = span > 0 ? (v - sc->lo) / span : 0.5;
	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return (int)(f * (sc->levels - 1) + 0.5);
}

/* Draw one cell of width cw (1 or 2) for value v. */
static void draw_cell(WINDOW *w, int y, int x, int cw, const struct scale *sc, const struct vw_ui *ui, double v,
                      int masked)
{
	const char *g;
	attr_t a = A_NORMAL;
	char txt[16];
	if (isnan(v) || (isinf(v) && !masked)) {
		put(w, y, x, cw, role(ui, VW_C_BAD), cw > 1 ? "!!" : "!");
		return;
	}
	if (masked) {
		g = ui->utf8 ? MASK_UTF8 : MASK_ASCII;
		snprintf(txt, sizeof txt, "%s%s", cw > 1 ? " " : "", g);
		put(w, y, x, cw, role(ui, VW_C_MASK), txt);
		return;
	}
	int k = level_of(sc, v);
	switch (sc->pal) {
	case VW_PAL_256:
		a = COLOR_PAIR((sc->diverging ? PAIR_DIV256 : PAIR_SEQ256) + k);
		g = " ";
		break;
	case VW_PAL_8:
		a = COLOR_PAIR((sc->diverging ? PAIR_DIV8 : PAIR_SEQ8) + k);
		g = " ";
		break;
	case VW_PAL_SHADE:
		g = shades_utf8[k];
		break;
	default:
		g = shades_ascii[k];
		break;
	}
	snprintf(txt, sizeof txt, "%s%s", g, cw > 1 ? g : "");
	put(w, y, x, cw, a, txt);
}

static void draw_legend(WINDOW *w, int y, int x, int width, const struct scale *sc, const struct vw_ui *ui,
                        int has_mask)
{
	char lo[16], hi[16];
	vw_fmt_num(lo, sizeof lo, 7, sc->lo);
	vw_fmt_num(hi, sizeof hi, 7, sc->hi);
	int used = put(w, y, x, width, role(ui, VW_C_LABEL), lo);
	used++;
	for (int k = 0; k < sc->levels && used + 2 < width; k++, used++) {
		double v = sc->lo + (sc->hi - sc->lo) * k / (sc->levels > 1 ? sc->levels - 1 : 1);
		draw_cell(w, y, x + used, 1, sc, ui, v, 0);
	}
	used++;
	used += put(w, y, x + used, width - used, role(ui, VW_C_LABEL), hi);
	if (has_mask && used + 4 < width) {
		used += 2;
		used += put(w, y, x + used, width - used, role(ui, VW_C_MASK), ui->utf8 ? MASK_UTF8 : MASK_ASCII);
		put(w, y, x + used, width - used, role(ui, VW_C_LABEL), " -inf (masked)");
	}
}

/* The finite range of a slice: a heatmap's colours span what it shows, so
 * a head whose scores stay within +-2 is not washed out by another head's
 * 11 (the overview, which compares heads, keeps the tensor's range). */
static struct ld_stats slice_range(const struct vw_slice *sl)
{
	struct ld_stats st = {0};
	for (size_t r = 0; r < sl->nrows; r++)
		for (size_t c = 0; c < sl->ncols; c++) {
			double v = vw_slice_get(sl, r, c);
			if (!isfinite(v))
				continue;
			if (st.n == 0 || v < st.min)
				st.min = v;
			if (st.n == 0 || v > st.max)
				st.max = v;
			st.n++;
		}
	return st;
}

static void draw_heat(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                      const struct layout *L, struct vw_view *out)
{
	struct vw_slice sl;
	vw_slice_of(s, tr, s->cur, &sl);
	const struct ld_tensor *t = sl.t;
	struct scale sc;
	const struct ld_stats range = slice_range(&sl);
	make_scale(&sc, &range, vw_effective_palette(s, ui));
	int x0 = L->px, y0 = L->body_y, pw = L->pw, h = L->body_h;
	int rtok = axis_has_tokens(tr, t, &sl.ax, sl.row_axis);
	int ctok = axis_has_tokens(tr, t, &sl.ax, sl.col_axis);
	const struct rowlab rl = row_labels(pw, sl.nrows, rtok);
	const int nd = rl.nd, tokw = rl.tokw, lw = rl.lw;
	int cw = 2;
	size_t vcols = pw - lw >= cw ? (size_t)((pw - lw) / cw) : 1;
	/* column labels: vertical token strings when there is room, else indices */
	int avail = h - 1; /* the legend takes the last row */
	int lab_h = 1;
	if (ctok) {
		int spare = avail - (int)(sl.nrows < (size_t)avail ? sl.nrows : (size_t)avail);
		lab_h = spare > 8 ? 8 : spare < 1 ? 1 : spare;
		if (avail - lab_h < 3)
			lab_h = 1;
	}
	size_t vrows = avail - lab_h > 0 ? (size_t)(avail - lab_h) : 1;
	const struct window win = window_of(s, &sl, vrows, vcols);
	const size_t r0 = win.r0, c0 = win.c0, rsel = win.rsel, csel = win.csel;
	char buf[160], tok[160];

	/* index labels are wider than a cell: the selected column's goes
	 * first, kept inside the pane, and the others (every fifth) only where
	 * they fit whole without touching it: 4219 next to 4220 would read
	 * "424220", and 128255 cut at the edge "128" */
	int right = x0 + pw, sel_a = -1, sel_b = -1;
	if (!(ctok && lab_h > 1) && csel != (size_t)-1 && csel >= c0 && csel - c0 < vcols && csel < sl.ncols) {
		int len = digits(csel);
		sel_a = x0 + lw + (int)(csel - c0) * cw;
		if (sel_a + len > right)
			sel_a = right - len;
		if (sel_a < x0 + lw)
			sel_a = x0 + lw;
		sel_b = sel_a + len;
	}
	/* the row axis name stops a column short: "qu0" read as a label */
	put(w, y0, x0, lw - 1, role(ui, VW_C_LABEL), sl.row_axis >= 0 ? sl.ax.name[sl.row_axis] : "");
	for (size_t j = 0; j < vcols && c0 + j < sl.ncols; j++) {
		size_t c = c0 + j;
		int cx = x0 + lw + (int)j * cw;
		attr_t a = c == csel ? role(ui, VW_C_SEL) : role(ui, VW_C_LABEL);
		if (ctok && lab_h > 1) {
			const char *raw = axis_token(tr, t, &sl.ax, sl.col_axis, c);
			while (raw && *raw == ' ')
				raw++; /* a leading space would read as a mask dot */
			token_disp(ui, raw, tok, sizeof tok);
			/* one character per row, read downwards */
			const char *p = tok;
			mbstate_t st;
			memset(&st, 0, sizeof st);
			for (int k = 0; k < lab_h && *p; k++) {
				wchar_t wc;
				size_t n = mbrtowc(&wc, p, MB_CUR_MAX, &st);
				if (n == (size_t)-1 || n == (size_t)-2 || n == 0) {
					memset(&st, 0, sizeof st);
					n = 1;
				}
				snprintf(buf, sizeof buf, "%.*s", (int)n, p);
				put(w, y0 + k, cx, 1, a, buf);
				p += n;
			}
		} else if (c == csel) {
			snprintf(buf, sizeof buf, "%zu", c);
			put(w, y0 + lab_h - 1, sel_a, right - sel_a, a, buf);
		} else if (c % 5 == 0) {
			/* whole, inside the pane, a space away from the selected one */
			int len = digits(c);
			if (cx + len <= right && (sel_a < 0 || cx + len < sel_a || cx > sel_b)) {
				snprintf(buf, sizeof buf, "%zu", c);
				put(w, y0 + lab_h - 1, cx, len, a, buf);
			}
		}
	}
	int ry = y0 + lab_h;
	for (size_t i = 0; i < vrows && r0 + i < sl.nrows; i++) {
		size_t r = r0 + i;
		int y = ry + (int)i;
		attr_t la = r == rsel ? role(ui, VW_C_SEL) : role(ui, VW_C_LABEL);
		snprintf(buf, sizeof buf, "%zu", r);
		put_right(w, y, x0, nd, la, buf);
		if (tokw) {
			token_disp(ui, axis_token(tr, t, &sl.ax, sl.row_axis, r), tok, sizeof tok);
			put(w, y, x0 + nd + 1, tokw, la, tok);
		}
		for (size_t j = 0; j < vcols && c0 + j < sl.ncols; j++) {
			double v = vw_slice_get(&sl, r, c0 + j);
			draw_cell(w, y, x0 + lw + (int)j * cw, cw, &sc, ui, v, vw_slice_masked(&sl, r, c0 + j));
		}
	}
	const struct ld_stats *st = vw_stats_of(s, s->cur);
	draw_legend(w, y0 + h - 1, x0, pw, &sc, ui, st && st->n_neginf && t->point == LD_PT_SCORES);
	out->rows = vrows;
	out->cols = vcols;
}

/* Every head of the target side by side: tile h shows the (rows x cols)
 * slice at head h, shrunk by max-pooling when it does not fit. */
static void draw_overview(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                          const struct layout *L, struct vw_view *out)
{
	size_t target = vw_view_target(s, tr);
	struct vw_slice sl;
	vw_slice_of(s, tr, target, &sl);
	const struct ld_tensor *t = sl.t;
	int dh = vw_axes_find(&sl.ax, VW_SLOT_HEAD);
	int x0 = L->px, y0 = L->body_y, pw = L->pw, h = L->body_h - 1;
	if (dh < 0 || sl.row_axis == dh || sl.col_axis == dh || h < 2) {
		put(w, y0, x0, pw, A_NORMAL, "no head axis here: press o on a tensor with heads");
		return;
	}
	size_t nh = t->shape[dh], sel = sl.fixed[dh];
	struct scale sc;
	make_scale(&sc, vw_stats_of(s, target), vw_effective_palette(s, ui));
	/* the number of tile columns: biggest tiles first (no shrinking if
	 * possible), then fewest empty places, then the widest layout */
	size_t best_c = 1, best_empty = 0;
	double best = -1;
	for (size_t c = 1; c <= nh; c++) {
		size_t r = (nh + c - 1) / c, empty = r * c - nh;
		int tw = (pw - (int)(c - 1)) / (int)c, th = h / (int)r - 1;
		/* more columns narrow the tiles but free rows: 32 heads in
		 * one column never fit, in four they may */
		if (tw < 2)
			break;
		if (th < 1)
			continue;
		double fx = (double)tw / (double)(sl.ncols ? sl.ncols : 1);
		double fy = (double)th / (double)(sl.nrows ? sl.nrows : 1);
		double f = fx < fy ? fx : fy;
		if (f > 1)
			f = 1;
		if (f > best + 1e-9 || (f > best - 1e-9 && empty <= best_empty)) {
			best = f;
			best_c = c;
			best_empty = empty;
		}
	}
	size_t tc = best_c, trows = (nh + tc - 1) / tc;
	int tw = (pw - (int)(tc - 1)) / (int)tc, th = h / (int)trows - 1;
	if (tw < 1 || th < 1) {
		put(w, y0, x0, pw, A_NORMAL, "too many heads for this terminal");
		return;
	}
	size_t cw = sl.ncols < (size_t)tw ? sl.ncols : (size_t)tw;
	size_t ch = sl.nrows < (size_t)th ? sl.nrows : (size_t)th;
	int cellw = (size_t)tw >= 2 * sl.ncols ? 2 : 1; /* square-ish cells when they fit */
	size_t stride[LD_MAX_DIMS] = {0}, stv = 1;
	for (int d = sl.ax.n - 1; d >= 0; d--) {
		stride[d] = stv;
		stv *= t->shape[d];
	}
	for (size_t hd = 0; hd < nh; hd++) {
		int tx = x0 + (int)(hd % tc) * (tw + 1), ty = y0 + (int)(hd / tc) * (th + 1);
		char lab[32];
		snprintf(lab, sizeof lab, "%s %zu", sl.ax.kv[dh] ? "kv" : "head", hd);
		if ((int)strlen(lab) > tw) /* narrow tiles (32 heads): the number alone */
			snprintf(lab, sizeof lab, "%zu", hd);
		put(w, ty, tx, tw, hd == sel ? role(ui, VW_C_SEL) : role(ui, VW_C_LABEL), lab);
		size_t base = sl.base - sl.fixed[dh] * stride[dh] + hd * stride[dh];
		for (size_t i = 0; i < ch; i++) {
			size_t ra = i * sl.nrows / ch, rb = (i + 1) * sl.nrows / ch;
			for (size_t j = 0; j < cw; j++) {
				size_t ca = j * sl.ncols / cw, cb = (j + 1) * sl.ncols / cw;
				/* the block's largest finite value; masked if all of it is */
				double m = -INFINITY;
				int any = 0, bad = 0;
				for (size_t r = ra; r < rb; r++)
					for (size_t c = ca; c < cb; c++) {
						double v = vw_get(t, base + r * sl.rstride + c * sl.cstride);
						if (isnan(v) || (isinf(v) && v > 0))
							bad = 1;
						else if (!isinf(v) && (!any || v > m)) {
							m = v;
							any = 1;
						}
					}
				int masked = !any && !bad && t->point == LD_PT_SCORES;
				draw_cell(w, ty + 1 + (int)i, tx + (int)j * cellw, cellw, &sc, ui, bad ? NAN : m, masked);
			}
		}
	}
	const struct ld_stats *st = vw_stats_of(s, target);
	draw_legend(w, y0 + L->body_h - 1, x0, pw, &sc, ui, st && st->n_neginf && t->point == LD_PT_SCORES);
	out->rows = sl.nrows;
	out->cols = sl.ncols;
}

/* ---- source pane ------------------------------------------------------------------------ */

static void expand_tabs(char *out, size_t size, const char *in)
{
	size_t o = 0, col = 0;
	for (; *in && o + 1 < size; in++) {
		if (*in == '\t') {
			do {
				out[o++] = ' ';
				col++;
			} while (col % 4 && o + 1 < size);
		} else {
			out[o++] = *in;
			if (((unsigned char)*in & 0xc0) != 0x80)
				col++;
		}
	}
	out[o] = '\0';
}

static void draw_source(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                        const struct layout *L, struct vw_view *out)
{
	const struct vw_srcfile *f = s->src;
	int x0 = L->px, y0 = L->body_y, pw = L->pw, h = L->body_h;
	const struct ld_tensor *t = &tr->t[s->cur];
	out->page_lines = (size_t)h;
	if (!f) {
		char path[64];
		long line;
		if (vw_src_split(t->src, path, sizeof path, &line) != 0)
			put(w, y0, x0, pw, A_NORMAL, "this tensor has no source line recorded");
		else
			putf(w, y0, x0, pw, A_NORMAL, "%s is not in this binary and not on disk here", path);
		return;
	}
	out->total_lines = f->n_lines;
	size_t top;
	if (s->src_auto) /* the code that computed it comes before the record */
		top = s->src_line > 2 * h / 3 ? (size_t)(s->src_line - 1 - 2 * h / 3) : 0;
	else
		top = s->src_top;
	if (top + (size_t)h > f->n_lines)
		top = f->n_lines > (size_t)h ? f->n_lines - (size_t)h : 0;
	char line[1024], text[1100];
	for (int i = 0; i < h && top + (size_t)i < f->n_lines; i++) {
		size_t ln = top + (size_t)i + 1;
		int cur = (long)ln == s->src_line;
		expand_tabs(line, sizeof line, f->lines[ln - 1]);
		snprintf(text, sizeof text, "%c%5zu  %s", cur ? '>' : ' ', ln, line);
		if (cur) {
			char pad[1100];
			snprintf(pad, sizeof pad, "%-*s", pw, text);
			put(w, y0 + i, x0, pw, role(ui, VW_C_SRC_CUR), pad);
		} else {
			put(w, y0 + i, x0, pw, A_NORMAL, text);
		}
	}
}

/* ---- help ----------------------------------------------------------------------------------- */

/* Lay text out in lines of at most width columns, broken at spaces: the
 * first line indented by in1, the others by in2, and no break in the first
 * keep columns of the first line (a key list). Line number *line (counting
 * on from there) is written to buf when it is want. */
static void help_wrap(const char *p, int width, int in1, int in2, int keep, size_t *line, size_t want,
                      char *buf, size_t size)
{
	int first = 1;
	do {
		int in = first ? in1 : in2, n = (int)strlen(p), room = width - in;
		if (room < 1)
			room = 1; /* always move on */
		if (n > room) {
			int min = first && keep > 1 ? keep : 1;
			n = room;
			while (n > min && p[n] != ' ')
				n--;
			if (n <= min)
				n = room;
		}
		if ((*line)++ == want)
			snprintf(buf, size, "%*s%.*s", in, "", n, p);
		p += n;
		while (*p == ' ')
			p++;
		first = 0;
	} while (*p);
}

/* The model's config by config.json's names (lessons ask for these), as
 * "name value" items packed into lines of width columns, two spaces apart. */
static void config_lines(const struct ld_config *c, int width, size_t *line, size_t want, char *buf,
                         size_t size)
{
	const struct ld_rope_scaling *rs = &c->rope_scaling;
	char it[16][64];
	int n = 0;
	snprintf(it[n++], sizeof it[0], "hidden_size %d", c->dim);
	snprintf(it[n++], sizeof it[0], "intermediate_size %d", c->ffn_dim);
	snprintf(it[n++], sizeof it[0], "num_hidden_layers %d", c->n_layers);
	snprintf(it[n++], sizeof it[0], "num_attention_heads %d", c->n_heads);
	snprintf(it[n++], sizeof it[0], "num_key_value_heads %d", c->n_kv_heads);
	snprintf(it[n++], sizeof it[0], "head_dim %d", c->head_dim);
	snprintf(it[n++], sizeof it[0], "vocab_size %d", c->vocab_size);
	snprintf(it[n++], sizeof it[0], "max_position_embeddings %d", c->max_pos);
	snprintf(it[n++], sizeof it[0], "rms_norm_eps %g", c->norm_eps);
	snprintf(it[n++], sizeof it[0], "rope_theta %g", c->rope_theta);
	snprintf(it[n++], sizeof it[0], "rope_scaling %s", rs->enabled ? "llama3:" : "none");
	if (rs->enabled) {
		snprintf(it[n++], sizeof it[0], "factor %g", rs->factor);
		snprintf(it[n++], sizeof it[0], "low_freq_factor %g", rs->low_freq_factor);
		snprintf(it[n++], sizeof it[0], "high_freq_factor %g", rs->high_freq_factor);
		snprintf(it[n++], sizeof it[0], "original_max_position_embeddings %g",
		         rs->original_max_position_embeddings);
	}
	snprintf(it[n++], sizeof it[0], "tie_word_embeddings %s", c->tie_embeddings ? "true" : "false");
	char cur[256] = "";
	for (int i = 0; i <= n; i++) {
		size_t len = strlen(cur);
		if (i == n || (len && 2 + len + 2 + strlen(it[i]) > (size_t)(width > 0 ? width : 1))) {
			if ((*line)++ == want)
				snprintf(buf, size, "  %s", cur);
			cur[0] = '\0';
			len = 0;
		}
		size_t k = strlen(it[i < n ? i : 0]);
		if (i < n && len + 2 + k < sizeof cur) {
			if (len)
				memcpy(cur + len, "  ", 2), len += 2;
			memcpy(cur + len, it[i], k + 1);
		}
	}
}

/* Line want of the help screen (into buf); returns how many lines it has.
 * The point's doc, the model's config, then the keys from the table. */
static size_t help_text(const struct vw_state *s, const struct ld_trace *tr, int width, size_t want, char *buf,
                        size_t size)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	const struct ld_point_info *pi = ld_point_info(t->point);
	size_t line = 0;
	if (line++ == want)
		snprintf(buf, size, "%s: %s", t->name, pi ? pi->op : "");
	if (pi && pi->doc[0])
		help_wrap(pi->doc, width, 2, 2, 0, &line, want, buf, size);
	if (line++ == want)
		snprintf(buf, size, "%s", "");
	if (line++ == want)
		snprintf(buf, size, "%s", "model config (config.json):");
	config_lines(&tr->cfg, width, &line, want, buf, size);
	if (line++ == want)
		snprintf(buf, size, "%s", "");
	/* the keys' lines, wrapped under their text on a narrow screen (flush
	 * left when even that would leave too little room) */
	const int indent = width >= 40 ? 19 : 0; /* "  " + 16 for the keys + " " */
	size_t nk = vw_help_count();
	for (size_t i = 0; i < nk; i++) {
		char kl[512];
		vw_help_line(i, kl, sizeof kl);
		help_wrap(kl, width, 0, indent, indent, &line, want, buf, size);
	}
	return line;
}

static void draw_help(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                      const struct layout *L, struct vw_view *out)
{
	int h = L->body_h - 1;
	char buf[512];
	put(w, 0, 0, L->cols, role(ui, VW_C_TITLE), "llamadbg help  (keys from the binding table; ? or Esc closes)");
	size_t total = help_text(s, tr, L->cols, (size_t)-1, buf, sizeof buf);
	size_t top = s->help_top;
	if (top + (size_t)h > total)
		top = total > (size_t)h ? total - (size_t)h : 0;
	for (int i = 0; i < h && top + (size_t)i < total; i++) {
		buf[0] = '\0';
		help_text(s, tr, L->cols, top + (size_t)i, buf, sizeof buf);
		attr_t a = buf[0] && buf[0] != ' ' ? role(ui, VW_C_MAP_HDR) : A_NORMAL;
		put(w, 1 + i, 0, L->cols, a, buf);
	}
	out->page_lines = (size_t)h;
	out->total_lines = total;
}

/* ---- status line ------------------------------------------------------------------------------ */

/* A token string for the status line: control bytes as '?'. */
static void status_tok(char *out, size_t size, const char *ts)
{
	size_t k = 0;
	for (; ts && ts[k] && k + 1 < size; k++)
		out[k] = (ts[k] >= 0 && ts[k] < 0x20) ? '?' : ts[k];
	out[k] = '\0';
}

/* The lens view's selected cell: "L3 lens  tok 16 'is '  -> '42' id 296 p 0.997". */
static void lens_where(const struct vw_state *s, const struct ld_trace *tr, char *buf, size_t size)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	const size_t T = t->shape[0] ? t->shape[0] : 1;
	size_t tk = s->sel[VW_SLOT_TOKEN] < T ? s->sel[VW_SLOT_TOKEN] : T - 1;
	char in[64], guess[64];
	status_tok(in, sizeof in, vw_token_str(tr, vw_axis_pos(tr, t, VW_SLOT_TOKEN, tk)));
	double p;
	long id = vw_lens_top(tr, vw_lens_at(tr, vw_lens_mid(t), t->step, t->layer), tk, &p);
	status_tok(guess, sizeof guess, ld_trace_vocab_str(tr, id));
	char step[16] = "";
	if (t->step > 0)
		snprintf(step, sizeof step, "s%d ", t->step);
	int o = snprintf(buf, size, "%sL%d %s  tok %zu '%s'", step, t->layer, vw_lens_mid(t) ? "lens mid" : "lens",
	                 vw_axis_pos(tr, t, VW_SLOT_TOKEN, tk), in);
	if (o >= 0 && (size_t)o < size && id >= 0)
		snprintf(buf + o, size - (size_t)o, "  -> '%s' id %ld p %.3g", guess, id, p);
}

void vw_status_where(const struct vw_state *s, const struct ld_trace *tr, char *buf, size_t size)
{
	const struct ld_tensor *t = &tr->t[s->cur];
	size_t o = 0;
	if (s->mode == VW_MODE_LENS && ld_point_lens(t->point) && t->ndim == 2) {
		lens_where(s, tr, buf, size);
		return;
	}
	if (t->step > 0)
		o += (size_t)snprintf(buf + o, size - o, "s%d ", t->step);
	if (t->layer >= 0 && o < size)
		o += (size_t)snprintf(buf + o, size - o, "L%d ", t->layer);
	if (o < size)
		o += (size_t)snprintf(buf + o, size - o, "%s", vw_short_name(t->name));
	size_t nh = vw_n_heads(tr, t), hd = s->sel[VW_SLOT_HEAD];
	if (o < size)
		o += (size_t)snprintf(buf + o, size - o, "  head %zu/%zu", hd < nh ? hd : nh - 1, nh);
	if (vw_kv_group(tr) > 1 && o < size)
		o += (size_t)snprintf(buf + o, size - o, " kv %zu", (hd < nh ? hd : nh - 1) / vw_kv_group(tr));
	/* the token the screen shows: a decode step has one query row */
	size_t tk = s->sel[VW_SLOT_TOKEN];
	struct vw_axes ax;
	vw_axes_parse(t, &ax);
	int dt = vw_axes_find(&ax, VW_SLOT_TOKEN);
	if (dt >= 0)
		tk = vw_sel_index(s, tr, t, &ax, dt);
	if (o < size) {
		o += (size_t)snprintf(buf + o, size - o, "  tok %zu", tk);
		const char *ts = vw_token_str(tr, vw_axis_pos(tr, t, VW_SLOT_TOKEN, 0) + tk);
		if (ts && o < size) {
			char disp[64];
			size_t k = 0;
			for (; ts[k] && k + 1 < sizeof disp; k++)
				disp[k] = (ts[k] >= 0 && ts[k] < 0x20) ? '?' : ts[k];
			disp[k] = '\0';
			snprintf(buf + o, size - o, " '%s'", disp);
		}
	}
}

/* The keys that matter in a mode, looked up in the binding table. */
static const struct hint {
	enum vw_action a, b;
	const char *what;
} hints_grid[] = {
	{VW_A_NEXT_POINT, VW_A_PREV_POINT, "step"}, {VW_A_NEXT_LAYER, VW_A_PREV_LAYER, "layer"},
	{VW_A_NEXT_HEAD, VW_A_PREV_HEAD, "head"},   {VW_A_NEXT_TOKEN, VW_A_PREV_TOKEN, "token"},
	{VW_A_MODE_HEAT, VW_A_NONE, "heatmap"},     {VW_A_MODE_SOURCE, VW_A_NONE, "source"},
	{VW_A_GOTO, VW_A_NONE, "goto"},             {VW_A_HELP, VW_A_NONE, "help"},
	{VW_A_QUIT, VW_A_NONE, "quit"},             {VW_A_NONE, VW_A_NONE, NULL},
}, hints_heat[] = {
	{VW_A_NEXT_POINT, VW_A_PREV_POINT, "step"}, {VW_A_NEXT_LAYER, VW_A_PREV_LAYER, "layer"},
	{VW_A_NEXT_HEAD, VW_A_PREV_HEAD, "head"},   {VW_A_MODE_OVERVIEW, VW_A_NONE, "all heads"},
	{VW_A_MODE_GRID, VW_A_NONE, "values"},      {VW_A_PALETTE, VW_A_NONE, "colours"},
	{VW_A_DUMP_SLICE, VW_A_NONE, "dump"},       {VW_A_HELP, VW_A_NONE, "help"},
	{VW_A_QUIT, VW_A_NONE, "quit"},             {VW_A_NONE, VW_A_NONE, NULL},
}, hints_source[] = {
	{VW_A_PAGE_DOWN, VW_A_PAGE_UP, "scroll"},   {VW_A_NEXT_POINT, VW_A_PREV_POINT, "step"},
	{VW_A_MODE_SOURCE, VW_A_NONE, "back"},      {VW_A_HELP, VW_A_NONE, "help"},
	{VW_A_QUIT, VW_A_NONE, "quit"},             {VW_A_NONE, VW_A_NONE, NULL},
}, hints_lens[] = {
	{VW_A_NEXT_POINT, VW_A_PREV_POINT, "layer"}, {VW_A_NEXT_HEAD, VW_A_PREV_HEAD, "position"},
	{VW_A_MODE_LENS, VW_A_NONE, "back"},         {VW_A_HELP, VW_A_NONE, "help"},
	{VW_A_QUIT, VW_A_NONE, "quit"},              {VW_A_NONE, VW_A_NONE, NULL},
}, hints_help[] = {
	{VW_A_PAGE_DOWN, VW_A_PAGE_UP, "scroll"},   {VW_A_HELP, VW_A_NONE, "close"},
	{VW_A_QUIT, VW_A_NONE, "quit"},             {VW_A_NONE, VW_A_NONE, NULL},
};

static void first_key(enum vw_action a, char *buf, size_t size)
{
	buf[0] = '\0';
	for (size_t i = 0; i < vw_n_bindings; i++)
		if (vw_bindings[i].action == a && (vw_bindings[i].modes & VW_KM_NORMAL)) {
			vw_key_name(vw_bindings[i].key, buf, size);
			return;
		}
}

static void hints_text(const struct vw_state *s, char *buf, size_t size)
{
	const struct hint *h = s->mode == VW_MODE_HELP     ? hints_help
	                       : s->mode == VW_MODE_SOURCE ? hints_source
	                       : s->mode == VW_MODE_GRID   ? hints_grid
	                       : s->mode == VW_MODE_LENS   ? hints_lens
	                                                   : hints_heat;
	size_t o = 0;
	buf[0] = '\0';
	for (; h->what && o < size; h++) {
		char ka[16], kb[16] = "";
		first_key(h->a, ka, sizeof ka);
		if (h->b != VW_A_NONE)
			first_key(h->b, kb, sizeof kb);
		o += (size_t)snprintf(buf + o, size - o, "%s%s%s%s %s", o ? "  " : "", ka, kb[0] ? "/" : "", kb, h->what);
	}
}

static void draw_status(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
                        const struct layout *L)
{
	int y = L->status_y, cols = L->cols;
	attr_t base = role(ui, VW_C_STATUS);
	char left[256], right[512];
	wattrset(w, base);
	mvwhline(w, y, 0, ' ', cols);
	wattrset(w, A_NORMAL);
	if (s->prompt_on) {
		size_t idx[4];
		size_t n = vw_complete(s, tr, s->prompt, idx, 4);
		int used = putf(w, y, 0, cols, base, "goto: %s_", s->prompt);
		if (s->msg[0])
			snprintf(right, sizeof right, "  %s", s->msg);
		else if (n == 1)
			snprintf(right, sizeof right, "  -> %s", tr->t[idx[0]].name);
		else if (n > 1)
			snprintf(right, sizeof right, "  %zu matches (Tab)", n);
		else
			snprintf(right, sizeof right, "  no match");
		put(w, y, used, cols - used, base, right);
		return;
	}
	vw_status_where(s, tr, left, sizeof left);
	int used = put(w, y, 0, cols, base | A_BOLD, left);
	if (s->msg[0]) {
		/* errors stand out (white on red, or bold reverse) */
		attr_t a = s->msg_err ? role(ui, VW_C_BAD) : base | A_BOLD;
		/* a message wins over the location when space is short */
		int x = used + 2;
		if ((int)strlen(s->msg) > cols - x) {
			x = cols - (int)strlen(s->msg) > 0 ? cols - (int)strlen(s->msg) : 0;
			/* cut the location a space before it ("tok 0no NaN" otherwise) */
			if (x > 0) {
				wattrset(w, base);
				mvwhline(w, y, x - 1, ' ', cols - x + 1);
				wattrset(w, A_NORMAL);
			}
		}
		put(w, y, x, cols - x, a, s->msg);
		return;
	}
	hints_text(s, right, sizeof right);
	int rl = (int)strlen(right);
	if (used + 2 < cols) {
		if (rl > cols - used - 2) {
			/* cut at the last whole hint that fits */
			int n = cols - used - 2;
			while (n > 0 && !(right[n] == ' ' && right[n + 1] == ' '))
				n--;
			right[n > 0 ? n : 0] = '\0';
			rl = (int)strlen(right);
		}
		put(w, y, cols - rl > used + 2 ? cols - rl : used + 2, cols - used - 2, base, right);
	}
}

/* ---- the frame ------------------------------------------------------------------------------ */

static void draw_too_small(WINDOW *w, int lines, int cols)
{
	char l2[64];
	snprintf(l2, sizeof l2, "%dx%d, need %dx%d", cols, lines, VW_MIN_COLS, VW_MIN_LINES);
	const char *msg[] = {"terminal too small", l2, "q quits"};
	/* a line wider than the terminal wraps at its spaces (10x5 would
	 * read "terminal t" and "10x5, need") */
	char out[8][64];
	int n = 0;
	for (int i = 0; i < 3; i++) {
		const char *p = msg[i];
		while (*p && n < 8) {
			int len = (int)strlen(p);
			if (len > cols) {
				len = cols;
				while (len > 0 && p[len] != ' ')
					len--;
				if (len == 0)
					len = cols;
			}
			snprintf(out[n++], sizeof out[0], "%.*s", len, p);
			p += len;
			while (*p == ' ')
				p++;
		}
	}
	int y0 = lines > n ? (lines - n) / 2 : 0;
	for (int i = 0; i < n && y0 + i < lines; i++) {
		int len = (int)strlen(out[i]);
		int x = cols > len ? (cols - len) / 2 : 0;
		put(w, y0 + i, x, cols - x, A_NORMAL, out[i]);
	}
}

void vw_draw(WINDOW *w, const struct vw_state *s, const struct ld_trace *tr, const struct vw_ui *ui,
             struct vw_view *out)
{
	int lines, cols;
	getmaxyx(w, lines, cols);
	memset(out, 0, sizeof *out);
	werase(w);
	if (lines < VW_MIN_LINES || cols < VW_MIN_COLS) {
		draw_too_small(w, lines, cols);
		wnoutrefresh(w);
		return;
	}
	struct layout L;
	make_layout(&L, lines, cols, s->mode, s->diff != NULL);
	if (s->mode == VW_MODE_HELP) {
		draw_help(w, s, tr, ui, &L, out);
	} else {
		draw_map(w, s, tr, ui, &L);
		size_t target = vw_view_target(s, tr);
		draw_header(w, s, tr, ui, &L, target);
		switch (s->mode) {
		case VW_MODE_HEAT:
			draw_heat(w, s, tr, ui, &L, out);
			break;
		case VW_MODE_OVERVIEW:
			draw_overview(w, s, tr, ui, &L, out);
			break;
		case VW_MODE_SOURCE:
			draw_source(w, s, tr, ui, &L, out);
			break;
		case VW_MODE_LENS:
			draw_lens(w, s, tr, ui, &L, out);
			break;
		default:
			draw_grid(w, s, tr, ui, &L, out);
			break;
		}
	}
	draw_status(w, s, tr, ui, &L);
	wnoutrefresh(w);
}
