/* vw_keys.h - THE key-binding table: dispatch and the help screen read it. */
#ifndef VW_KEYS_H
#define VW_KEYS_H

#include <stddef.h>

#include "vw_state.h"

/* VW_KM_LESSON: keys that only a lesson (lessons/runner.c) gives a meaning. */
enum { VW_KM_NORMAL = 1, VW_KM_PROMPT = 2, VW_KM_LESSON = 4 };

struct vw_binding {
	int key;               /* a character or a curses KEY_* code */
	unsigned modes;        /* VW_KM_NORMAL and/or VW_KM_PROMPT */
	enum vw_action action;
	const char *help;      /* shown once per action (the first entry's) */
};

extern const struct vw_binding vw_bindings[];
extern const size_t vw_n_bindings;

/* The action bound to key (in the goto prompt when prompt_on), else NONE. */
enum vw_action vw_key_action(int prompt_on, int key);

/* The action bound to key in one of the modes (VW_KM_*), else NONE. */
enum vw_action vw_key_action_in(unsigned modes, int key);

/* "j", "Down", "^O", "PgDn", "F1", ... */
void vw_key_name(int key, char *buf, size_t size);

/* The help screen's lines, generated from the table: line i into buf.
 * Returns 0 past the last line. */
int vw_help_line(size_t i, char *buf, size_t size);
size_t vw_help_count(void);

#endif
