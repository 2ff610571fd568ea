/* keys.c - the one key-binding table {key, action, help}. */
#include "vw_keys.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#define CTRL(c) ((c) & 0x1f)
#define N VW_KM_NORMAL
#define P VW_KM_PROMPT

const struct vw_binding vw_bindings[] = {
	{'j', N, VW_A_NEXT_POINT, "step: next point in forward order"},
	{KEY_DOWN, N, VW_A_NEXT_POINT, NULL},
	{'k', N, VW_A_PREV_POINT, "step back: previous point"},
	{KEY_UP, N, VW_A_PREV_POINT, NULL},
	{'J', N, VW_A_NEXT_LAYER, "same point, next layer (layers.3.scores -> layers.4.scores)"},
	{']', N, VW_A_NEXT_LAYER, NULL},
	{'K', N, VW_A_PREV_LAYER, "same point, previous layer"},
	{'[', N, VW_A_PREV_LAYER, NULL},
	{'}', N, VW_A_NEXT_STEP, "same point, next decode step"},
	{'{', N, VW_A_PREV_STEP, "same point, previous decode step"},
	{'l', N, VW_A_NEXT_HEAD, "next head (on K/V: next KV head)"},
	{KEY_RIGHT, N, VW_A_NEXT_HEAD, NULL},
	{'h', N, VW_A_PREV_HEAD, "previous head"},
	{KEY_LEFT, N, VW_A_PREV_HEAD, NULL},
	{'t', N, VW_A_NEXT_TOKEN, "next token (query row)"},
	{'T', N, VW_A_PREV_TOKEN, "previous token"},
	{'+', N, VW_A_NEXT_FIXED, "next index on the first axis not on screen"},
	{'=', N, VW_A_NEXT_FIXED, NULL},
	{'-', N, VW_A_PREV_FIXED, "previous index on that axis"},
	{KEY_NPAGE, N, VW_A_PAGE_DOWN, "page down (rows, source, help)"},
	{' ', N, VW_A_PAGE_DOWN, NULL},
	{CTRL('F'), N, VW_A_PAGE_DOWN, NULL},
	{KEY_PPAGE, N, VW_A_PAGE_UP, "page up"},
	{'b', N, VW_A_PAGE_UP, NULL},
	{CTRL('B'), N, VW_A_PAGE_UP, NULL},
	{CTRL('E'), N, VW_A_SCROLL_DOWN, "scroll down one row"},
	{KEY_SF, N, VW_A_SCROLL_DOWN, NULL},
	{CTRL('Y'), N, VW_A_SCROLL_UP, "scroll up one row"},
	{KEY_SR, N, VW_A_SCROLL_UP, NULL},
	{'>', N, VW_A_SCROLL_RIGHT, "scroll columns right"},
	{KEY_SRIGHT, N, VW_A_SCROLL_RIGHT, NULL},
	{'<', N, VW_A_SCROLL_LEFT, "scroll columns left"},
	{KEY_SLEFT, N, VW_A_SCROLL_LEFT, NULL},
	{'0', N, VW_A_COL_FIRST, "first column"},
	{'$', N, VW_A_COL_LAST, "last column"},
	{'H', N, VW_A_ROW_FIRST, "first row (logits turned by x: vocabulary entry 0)"},
	{'L', N, VW_A_ROW_LAST, "last row"},
	{KEY_HOME, N, VW_A_FIRST_POINT, "first point of the trace"},
	{KEY_END, N, VW_A_LAST_POINT, "last point of the trace"},
	{'G', N, VW_A_LAST_POINT, NULL},
	{'a', N, VW_A_ROW_AXIS, "rows: show the next axis"},
	{'A', N, VW_A_COL_AXIS, "columns: show the next axis"},
	{'x', N, VW_A_SWAP_AXES, "swap rows and columns"},
	{'M', N, VW_A_ROW_MAX, "select the largest value of the row (logits: the next token)"},
	{'v', N, VW_A_MODE_GRID, "values: the numbers"},
	{'m', N, VW_A_MODE_HEAT, "heatmap of the slice on screen"},
	{'o', N, VW_A_MODE_OVERVIEW, "overview: every head of the layer side by side"},
	{'s', N, VW_A_MODE_SOURCE, "source: the core/ lines that recorded the tensor"},
	{'i', N, VW_A_MODE_LENS, "logit lens (trace --lens): each layer's top guess at each position"},
	{'?', N, VW_A_HELP, "this help"},
	{KEY_F(1), N, VW_A_HELP, NULL},
	{27, N, VW_A_CLOSE, "close help, back to the values"},
	{CTRL('O'), N, VW_A_HIST_BACK, "back to where you were"},
	{KEY_BACKSPACE, N, VW_A_HIST_BACK, NULL},
	{127, N, VW_A_HIST_BACK, NULL},
	{'\t', N, VW_A_HIST_FWD, "forward again"},
	{'n', N, VW_A_SEARCH_NEXT, "next tensor with a NaN or Inf (the mask's -inf excepted)"},
	{'N', N, VW_A_SEARCH_PREV, "previous tensor with a NaN or Inf"},
	{'g', N, VW_A_GOTO, "go to a point by name (Tab completes)"},
	{':', N, VW_A_GOTO, NULL},
	{'d', N, VW_A_DUMP_SLICE, "write the slice on screen to .npy and .csv here"},
	{'D', N, VW_A_DUMP_TENSOR, "write the whole tensor to .npy and .csv here"},
	{'c', N, VW_A_PALETTE, "pictures: 256 colours, 8 colours, shades, ASCII"},
	{CTRL('L'), N, VW_A_REDRAW, "repaint the screen"},
	{'w', N, VW_A_DIFF_NEXT, "view A --diff B: show A, B or the difference A-B"},
	{'q', N, VW_A_QUIT, "quit"},
	{'Q', N, VW_A_QUIT, NULL},

	{'\t', P, VW_A_PROMPT_COMPLETE, "complete the name"},
	{'\n', P, VW_A_PROMPT_ENTER, "go there (a layer number keeps the point)"},
	{'\r', P, VW_A_PROMPT_ENTER, NULL},
	{KEY_ENTER, P, VW_A_PROMPT_ENTER, NULL},
	{27, P, VW_A_PROMPT_CANCEL, "cancel"},
	{CTRL('G'), P, VW_A_PROMPT_CANCEL, NULL},
	{KEY_BACKSPACE, P, VW_A_PROMPT_BS, "delete a character"},
	{127, P, VW_A_PROMPT_BS, NULL},
	{CTRL('H'), P, VW_A_PROMPT_BS, NULL},
	{CTRL('U'), P, VW_A_PROMPT_KILL, "clear the line"},

	/* a lesson's answer line uses the prompt keys above */
	{'\n', VW_KM_LESSON, VW_A_LESSON_NEXT, "next step; at a checkpoint, type the answer"},
	{'\r', VW_KM_LESSON, VW_A_LESSON_NEXT, NULL},
	{KEY_ENTER, VW_KM_LESSON, VW_A_LESSON_NEXT, NULL},
	{'p', VW_KM_LESSON, VW_A_LESSON_PREV, "previous step"},
	{'r', VW_KM_LESSON, VW_A_LESSON_FOCUS, "back to the view the step chose"},
	{'e', VW_KM_LESSON, VW_A_LESSON_TEXT_DOWN, "scroll the lesson text down"},
	{'y', VW_KM_LESSON, VW_A_LESSON_TEXT_UP, "scroll the lesson text up"},
};
const size_t vw_n_bindings = sizeof vw_bindings / sizeof vw_bindings[0];

enum vw_action vw_key_action_in(unsigned modes, int key)
{
	for (size_t i = 0; i < vw_n_bindings; i++)
		if (vw_bindings[i].key == key && (vw_bindings[i].modes & modes))
			return vw_bindings[i].action;
	return VW_A_NONE;
}

enum vw_action vw_key_action(int prompt_on, int key)
{
	return vw_key_action_in(prompt_on ? VW_KM_PROMPT : VW_KM_NORMAL, key);
}

void vw_key_name(int key, char *buf, size_t size)
{
	static const struct {
		int key;
		const char *name;
	} names[] = {
		{KEY_DOWN, "Down"}, {KEY_UP, "Up"}, {KEY_LEFT, "Left"}, {KEY_RIGHT, "Right"},
		{KEY_NPAGE, "PgDn"}, {KEY_PPAGE, "PgUp"}, {KEY_HOME, "Home"}, {KEY_END, "End"},
		{KEY_SF, "S-Down"}, {KEY_SR, "S-Up"}, {KEY_SLEFT, "S-Left"}, {KEY_SRIGHT, "S-Right"},
		{KEY_BACKSPACE, "BS"}, {127, "BS"}, {KEY_ENTER, "Enter"}, {'\n', "Enter"},
		{'\r', "Enter"}, {'\t', "Tab"}, {27, "Esc"}, {' ', "Space"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].key == key) {
			snprintf(buf, size, "%s", names[i].name);
			return;
		}
	if (key >= KEY_F(1) && key <= KEY_F(12))
		snprintf(buf, size, "F%d", key - KEY_F(0));
	else if (key >= 0 && key < 32)
		snprintf(buf, size, "^%c", key + 64);
	else if (key >= 32 && key < 127)
		snprintf(buf, size, "%c", key);
	else
		snprintf(buf, size, "key%d", key);
}

/* 1 if the space-separated list holds word. */
static int has_word(const char *list, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = list; *p;) {
		size_t k = strcspn(p, " ");
		if (k == n && strncmp(p, word, n) == 0)
			return 1;
		p += k;
		while (*p == ' ')
			p++;
	}
	return 0;
}

/* One help line per action: its keys (each name once), then what it does. */
static void action_line(unsigned mode, size_t first, char *buf, size_t size)
{
	char keys[64] = "", name[16];
	enum vw_action a = vw_bindings[first].action;
	for (size_t i = first; i < vw_n_bindings; i++) {
		if (vw_bindings[i].action != a || !(vw_bindings[i].modes & mode))
			continue;
		vw_key_name(vw_bindings[i].key, name, sizeof name);
		if (has_word(keys, name))
			continue;
		if (keys[0])
			strncat(keys, " ", sizeof keys - strlen(keys) - 1);
		strncat(keys, name, sizeof keys - strlen(keys) - 1);
	}
	snprintf(buf, size, "  %-16s %s", keys, vw_bindings[first].help);
}

/* Walk the generated lines; line i goes to buf. Returns the line count. */
static size_t help_walk(size_t want, char *buf, size_t size)
{
	static const struct {
		unsigned mode;
		const char *title;
	} sections[] = {
		{VW_KM_NORMAL, "Keys"},
		{VW_KM_PROMPT, "In the goto prompt (and a lesson's answer line)"},
		{VW_KM_LESSON, "In a lesson"},
	};
	size_t line = 0;
	for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
		if (s > 0) {
			if (line++ == want)
				snprintf(buf, size, "%s", "");
		}
		if (line++ == want)
			snprintf(buf, size, "%s", sections[s].title);
		for (size_t i = 0; i < vw_n_bindings; i++) {
			if (!(vw_bindings[i].modes & sections[s].mode) || !vw_bindings[i].help)
				continue;
			if (line++ == want)
				action_line(sections[s].mode, i, buf, size);
		}
	}
	return line;
}

int vw_help_line(size_t i, char *buf, size_t size)
{
	if (size)
		buf[0] = '\0';
	return i < help_walk(i, buf, size);
}

size_t vw_help_count(void)
{
	char tmp[2];
	return help_walk((size_t)-1, tmp, sizeof tmp);
}
