/* trace_size.h - what a trace will cost, known before it is computed.
 *
 * A trace of a long prompt is dominated by the attention scores and
 * probabilities, H x T x T floats per layer: the 8B shape at 2048 tokens
 * would record 34 GB. `trace` and `view -m` add up the points a request
 * will record and refuse, with one line saying how much it needs, when that
 * cannot fit the memory or the output's disk, instead of failing an hour
 * into the pass.
 */
#ifndef LD_TRACE_SIZE_H
#define LD_TRACE_SIZE_H

#include <stddef.h>

#include "config.h"
#include "forward.h"
#include "status.h"
#include "trace_points.h"

/* Elements of point p in a pass of T tokens that attends to S positions
 * (T, or the cache length in a decode step), from the catalogue's axis
 * names; 0 for an axis the catalogue has that this does not know. */
size_t ld_point_numel(enum ld_point p, const struct ld_config *c, size_t T, size_t S);

/* The shape of point p (at most 4 axes, as the catalogue names them) into
 * shape; returns the number of axes. */
int ld_point_shape(enum ld_point p, const struct ld_config *c, size_t T, size_t S, size_t *shape);

struct ld_trace_cost {
	size_t bytes;          /* every point the request records */
	enum ld_point largest; /* the kind of point that takes the most */
	size_t largest_bytes;  /* its bytes, over all layers and steps */
	size_t points;         /* how many tensors */
	size_t header;         /* their descriptions in the file's header, at most */
};

/* The cost of tracing n_tokens and generating o->n_generate tokens (the
 * decode steps counted as if generation did not stop early at an end
 * token), under o->only. */
struct ld_trace_cost ld_trace_cost(const struct ld_config *c, size_t n_tokens,
                                   const struct ld_forward_opts *o);

/* Does the trace fit? memory and disk are the bytes available (SIZE_MAX:
 * unknown, no limit); disk_path names the output in the message. */
enum ld_status ld_trace_fits(const struct ld_trace_cost *cost, size_t n_tokens, size_t memory,
                             size_t disk, const char *disk_path, struct ld_err *err);

/* Memory available to a new trace: LLAMADBG_MEMORY (bytes, or with a K,
 * M, G suffix) if set, else MemAvailable from /proc/meminfo plus what this
 * process keeps for reuse (ld_pool_bytes), else SIZE_MAX. */
size_t ld_memory_available(void);

/* Free bytes on the file system that will hold path (its directory), or
 * SIZE_MAX when that cannot be asked. */
size_t ld_disk_available(const char *path);

#endif
