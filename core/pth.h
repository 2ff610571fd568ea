/* pth.h - a PyTorch checkpoint (torch.save's zip format) opened in place.
 *
 * Since torch 1.6 a .pth file is a zip archive of STORED (uncompressed)
 * records, each 64-byte aligned:
 *   <prefix>/data.pkl      the state dict, pickled (protocol 2)
 *   <prefix>/data/<key>    one raw little-endian storage per key
 *   <prefix>/version, <prefix>/byteorder, ...
 * The pickle describes each tensor as a view of a storage: (storage key,
 * element offset, size, stride). Because the storages are stored as they
 * are in memory, a tensor is a pointer into the mmapped file: nothing is
 * copied and bf16 stays bf16.
 *
 * Unpickling normally runs code: a pickle may name any Python callable and
 * call it. This reader runs nothing. A small interpreter knows exactly the
 * opcodes torch.save emits for a state dict, and only three kinds of
 * callable, which it never calls but recognises:
 *   collections.OrderedDict             -> an empty dict
 *   torch._utils._rebuild_tensor_v2     -> a tensor view, checked
 *   torch.{BFloat16,Half,Float}Storage  -> the dtype of a storage
 * Anything else (os.system, builtins.eval, an unknown opcode) is refused
 * with an error naming the file and the byte.
 */
#ifndef LD_PTH_H
#define LD_PTH_H

#include <stddef.h>
#include <stdint.h>

#include "dtype.h"
#include "status.h"

#define LD_PTH_MAX_DIMS 8

struct ld_pth_tensor {
	char *name;                      /* state-dict key, e.g. "layers.0.attention.wq.weight" */
	enum ld_dtype dtype;             /* LD_BF16, LD_F16 or LD_F32, from the storage class */
	int ndim;
	size_t shape[LD_PTH_MAX_DIMS];   /* row-major, contiguous */
	const void *data;                /* the first element, inside the mapping */
	size_t nbytes;
};

struct ld_pth_file {
	char *path;
	void *map;                       /* the whole file, read-only */
	size_t map_len;
	struct ld_pth_tensor *t;         /* the state dict's tensors, in pickle order */
	size_t n;
};

/* Map the file, read its zip central directory (zip64 too: an 8B model's
 * consolidated.00.pth is 16 GB), run data.pkl through the interpreter and
 * check every tensor: storage present, stored uncompressed, contiguous,
 * inside its storage. Values that are not tensors are skipped. */
enum ld_status ld_pth_open(struct ld_pth_file *f, const char *path, struct ld_err *err);
void ld_pth_close(struct ld_pth_file *f);

const struct ld_pth_tensor *ld_pth_find(const struct ld_pth_file *f, const char *name);

/* CRC-32 with zip's polynomial (0xedb88320), as zip records carry it. */
uint32_t ld_crc32(const unsigned char *p, size_t n);

#endif
