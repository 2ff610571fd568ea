/* matmul.c - out (T, rows) = x (T, cols) @ W^T, the one hot kernel.
 *
 *     PyTorch: out = x @ W.T        (W as stored: [rows, cols], nn.Linear's
 *                                    [out_features, in_features])
 *
 * Almost all of a forward pass's time is spent here: q, k, v, o, gate, up,
 * down and the output layer are all this product, with T = the number of
 * tokens in flight (17 for the seed prompt, 1 per decode step).
 *
 * Memory bound or compute bound?
 *   Each weight element is read once (2 bytes in bf16) and used for T
 *   multiply-adds. At ~24 GB/s the weights arrive at ~12 G elements/s, so
 *   with T = 1 (decode) the best possible is ~24 GFLOP/s: the job is to
 *   stream W at full bandwidth. With T = 17 the same stream could feed
 *   ~400 GFLOP/s, twice the ~197 GFLOP/s FMA peak of two cores: the job is
 *   to keep the FMA units busy, which means loading each weight once for
 *   all tokens and each x value once for several rows.
 *
 * Four exact kernels, chosen at run time from what the CPU has
 * (ld_matmul_kernel; LLAMADBG_KERNEL=amx|avx512|avx2|scalar forces one):
 * AMX (Intel Sapphire Rapids and later: "AMX tiles" below), AVX-512F,
 * AVX2 + FMA + F16C, and portable C. The binary is built for plain
 * x86-64; the SIMD functions carry target attributes, so it runs on any
 * x86-64 and uses zmm registers and tiles only where the CPU has them.
 * The FMA kernels widen stored weights to f32 in registers and do f32
 * multiply-adds; the AMX kernel splits x exactly into three bf16 parts
 * whose products with bf16 weights are exact. Either way the activations
 * are never rounded: every product is exact and the sums are f32.
 * Two more, opt-in, never AUTO: avx512bf16 and amxbf16 (--bf16-dot takes
 * the faster the CPU has: "AVX512-BF16 tiles" and "AMX tiles" below),
 * which do round them, for bf16 dot products.
 *
 * The AVX2 and AVX-512 paths share the loops below the tile (chunk_run,
 * matmul_blocked: the same blocking, prefetching and threads); the
 * AVX-512 tile is the AVX2 one at twice the width with twice the
 * registers (see "AVX-512F tiles"). The AVX2 path, from the inside out:
 *   tile     R rows x TB tokens of 8-lane f32 accumulators: 2 x 6 (12 of
 *            the 16 ymm registers) or, when T <= 2, 4 x T. Each step of 16
 *            columns widens 16 weights per row in registers (bf16: a
 *            shift or a mask; f16: F16C vcvtph2ps; f32: as is) and does
 *            R*TB*2 FMAs; each weight vector feeds TB FMAs and each x
 *            vector R. Summing the 8 lanes into out[t][r] is left to the
 *            end.
 *   kc block a tile walks kc columns (1024 for 6 tokens), as many as keep
 *            its tokens' x block (TB x kc floats, 24 KB) in the 32 KB L1
 *            while every row group of the chunk reuses it. Between column
 *            blocks a tile's accumulators wait in a small per-thread
 *            buffer, so their lanes are summed only after the last block.
 *   chunk    rows whose kc columns of weights fit 128 KB (64 rows of
 *            1024 bf16 columns) stay in the 512 KB L2 while the token
 *            blocks take turns (T = 17: blocks of 6, 6 and 5 tokens), next
 *            to all tokens' x for those columns (17 x 1024 floats, 68 KB).
 *            Column block outside, token block inside: a chunk's rows need
 *            not fit L2 whole, so a chunk has 64 rows even with 14336
 *            columns and x (975 KB there, more than L2) is read from L3
 *            once per 64 rows, not once per 4. Each tile of the first turn
 *            prefetches the next tile's weights (into L1: WEIGHT_PREFETCH)
 *            at the pace it reads its own; each tile of the second brings
 *            the same rows of the next column block (or chunk) from memory
 *            into L2, so memory streams while the later turns compute.
 *            Later turns leave L1 to the hardware prefetcher: x has to
 *            stay there.
 *   threads  T > 2: the threads take chunks one at a time from a shared
 *            counter, so a core slowed by a neighbour on a shared VM does
 *            not leave the other idle at the end (~3% at T = 17); each
 *            takes its next chunk before it runs the current one, whose
 *            last tiles prefetch the next one's first rows. T <= 2 (memory
 *            bound): each thread runs one equal run of chunks, so each
 *            core streams its own contiguous part of W.
 *   scratch  x packed, the accumulators between column blocks and decoded
 *            rows share one buffer, from the pool that keeps it for the
 *            next call (util.h's ld_pool_take).
 *   bf16     a 32-byte load holds 16 bf16 values; as 8 u32 lanes, lane i is
 *            w[2i] | w[2i+1] << 16, so (lane << 16) is w[2i] as a float
 *            and (lane & 0xffff0000) is w[2i+1]. One integer op widens 8
 *            weights. x is packed once per call to match: in each group
 *            of 16 columns the even ones come first.
 *   x pack   x is copied (T*cols floats, cheap next to rows*T*cols FMAs) in
 *            the order the tiles read it: token block, group of 16
 *            columns, token.
 *   tail     columns beyond the last multiple of 16 are added one by one.
 *   pages    the weights' file is mapped with 2 MB pages where the kernel
 *            can (util.c): with 4 KB pages, the page walks for 16 GB of
 *            weights cost the 8B shape about a quarter of its speed.
 *   Q8_0     widened in registers like bf16: a tile step is one block of
 *            32 columns, its 32 int8 values times the block's scale, the
 *            very product the decoder writes, so the bits are those of
 *            decoding first (about 15% faster on the 1B shape).
 *   blocks   the other GGUF block types (Q4_K, Q6_K, ...; quant.h) are not
 *            widened in registers: per chunk and column block, the chunk's
 *            rows x kc columns (kc = 1024: whole blocks of 32 or 256) are
 *            decoded into a per-thread f32 buffer (64 x 1024 floats, 256
 *            KB, stays in L2), and the F32 tiles run on it while the token
 *            blocks take turns. Decoding costs a few instructions per 8 or
 *            16 values (quant.c's AVX2 / AVX-512 decoders, the same bits as
 *            the portable one), paid once per call for all T tokens; in
 *            exchange the weights stream 2-4x fewer bytes than bf16. A
 *            row's blocks are prefetched while the row before is decoded.
 *
 * Measured with tests/bench/matmul_bench and forward_bench, bf16, 2 EPYC
 * cores (a shared VM: runs vary by 1.5x with the neighbours' load, and its
 * FMA peak measures 131-167 GFLOP/s, not the nominal 197): Llama-3.2-1B
 * shape, T = 17 at 96-104 GFLOP/s, i.e. 0.40-0.44 s for the 42 GFLOP of
 * one pass; Llama-3-8B shape at 85-106 GFLOP/s (2.4-3.0 s a pass); T = 1
 * at 20-26 GB/s of weights, the memory bandwidth. A tile alone, with its
 * data in L1, runs at ~90% of the FMA peak per cycle; fed from L2 and
 * memory, at 65-75%. llama.cpp (native build) in the same minutes: 1B
 * 0.48-0.54 s and 8B 3.0-3.3 s for a pass with the last logits only
 * (tests/bench/vs_llamacpp.sh).
 *
 * The scalar path does the same sums in plain C (a row widened, or
 * decoded, 256 columns at a time, then one dot product per token, for
 * every type): same results up to float
 * rounding, on any CPU. No fast-math anywhere: NaN and Inf in x or W reach
 * out exactly as IEEE arithmetic says.
 */
#include "matmul.h"
#include "quant.h"
#include "util.h"

#include <assert.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define LD_HAVE_X86_PATHS 1
/* How a tile prefetches the next tile's weights: into L1 (T0). On Zen 4
 * and later, T1 fills L2 only, and the tile that reads those lines next
 * then waits for L2; on earlier x86 cores T0 and T1 both fill L1. On 2 Zen
 * 5 cores (alternating runs, 1B shape) T0 streams a decode step's weights
 * at 43-45 GB/s instead of 33-35 (the T = 1 products 71 -> 56 ms), and a
 * 17-token pass with everything recorded runs 0.18-0.19 s instead of
 * 0.19-0.20. */
#define WEIGHT_PREFETCH _MM_HINT_T0
#endif


/* Bytes that n stored values of dt take: 4 each for F32, 2 for BF16 and
 * F16; for a block type (n a whole number of blocks) its blocks' bytes.
 * Called for every row of every tile (row_ptr, prefetch_rows), so the
 * types the tiles read as stored are answered here, without the table
 * look-up and the divisions of ld_dtype_bytes: for Q8_0 (34 bytes per 32
 * values, as its tile walks it) those took as long as the tiles' own
 * work at 17 tokens. */
static size_t stored_bytes(enum ld_dtype dt, size_t n)
{
	switch (dt) {
	case LD_F32: return 4 * n;
	case LD_BF16:
	case LD_F16: return 2 * n;
	case LD_Q8_0: return n / 32 * 34;
	default: return ld_dtype_bytes(dt, n);
	}
}

/* Where logical row r is stored. */
static const unsigned char *row_ptr(const struct ld_weight *w, size_t r)
{
	size_t stored = w->row_map ? w->row_map[r] : r;
	assert(stored < w->rows);
	return (const unsigned char *)w->data + stored * stored_bytes(w->dtype, w->cols);
}

/* Widen n stored values to f32 (a block type: n a whole number of blocks,
 * decoded by dequant). Reads through memcpy, so a tensor at any byte
 * offset in a file works. */
static void widen(float *out, const unsigned char *src, enum ld_dtype dt, size_t n,
                  ld_dequant_fn *dequant)
{
	uint16_t h;
	switch (dt) {
	case LD_F32:
		memcpy(out, src, n * sizeof *out);
		break;
	case LD_BF16:
		for (size_t i = 0; i < n; i++) {
			memcpy(&h, src + 2 * i, 2);
			out[i] = ld_bf16_to_f32(h);
		}
		break;
	case LD_F16:
		for (size_t i = 0; i < n; i++) {
			memcpy(&h, src + 2 * i, 2);
			out[i] = ld_f16_to_f32(h);
		}
		break;
	default:
		assert(ld_dtype_is_quant(dt));
		dequant(out, src, dt, n);
	}
}

/* The block decoder that goes with kernel k (AUTO: the one ld_matmul uses). */
static ld_dequant_fn *kernel_dequant(enum ld_kernel k)
{
	if (k == LD_KERNEL_AUTO)
		k = ld_matmul_kernel();
	return k == LD_KERNEL_AVX512 || k == LD_KERNEL_AVX512_BF16 || k == LD_KERNEL_AMX ||
	               k == LD_KERNEL_AMX_BF16
	           ? ld_dequant_avx512
	       : k == LD_KERNEL_AVX2                               ? ld_dequant_avx2
	                                                           : ld_dequant;
}

/* A weight whose dtype is one ld_matmul reads, with whole blocks per row. */
static int weight_ok(const struct ld_weight *w)
{
	if (w->dtype == LD_F32 || w->dtype == LD_BF16 || w->dtype == LD_F16)
		return 1;
	size_t values, bytes;
	ld_dtype_block(w->dtype, &values, &bytes);
	return ld_dtype_is_quant(w->dtype) && w->cols % values == 0;
}

int ld_matmul_reads(enum ld_dtype t)
{
	return t == LD_F32 || t == LD_BF16 || t == LD_F16 || ld_dtype_is_quant(t);
}

void ld_weight_row(float *out, const struct ld_weight *w, size_t r)
{
	assert(r < w->rows && weight_ok(w));
	widen(out, row_ptr(w, r), w->dtype, w->cols,
	      ld_dtype_is_quant(w->dtype) ? kernel_dequant(LD_KERNEL_AUTO) : ld_dequant);
}

/* ---- portable path ------------------------------------------------------ */

/* Columns of a row widened at a time (1 KB of floats): a multiple of every
 * block type's block, so a block is never split. */
enum { SCALAR_BLOCK = 256 };

/* sum a[i] * b[i] over n, in 8 interleaved partial sums as the SIMD
 * kernels keep lanes: a long sum in one float loses digits the float64
 * check notices, and 8 independent sums also let the compiler vectorise. */
static float dot(const float *a, const float *b, size_t n)
{
	float lane[8] = {0};
	size_t i = 0;
	for (; i + 8 <= n; i += 8)
		for (int j = 0; j < 8; j++)
			lane[j] += a[i + j] * b[i + j];
	float s = ((lane[0] + lane[4]) + (lane[1] + lane[5])) + ((lane[2] + lane[6]) + (lane[3] + lane[7]));
	for (; i < n; i++)
		s += a[i] * b[i];
	return s;
}

/* One row at a time: widen a block of it, then dot it with every token. */
static void matmul_scalar(float *out, const float *x, const struct ld_weight *w, size_t T)
{
	const size_t rows = w->rows, cols = w->cols;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
	for (size_t r = 0; r < rows; r++) {
		float wbuf[SCALAR_BLOCK];
		const unsigned char *row = row_ptr(w, r);
		for (size_t t = 0; t < T; t++)
			out[t * rows + r] = 0.0f;
		for (size_t k0 = 0; k0 < cols; k0 += SCALAR_BLOCK) {
			size_t n = cols - k0 < SCALAR_BLOCK ? cols - k0 : SCALAR_BLOCK;
			widen(wbuf, row + stored_bytes(w->dtype, k0), w->dtype, n, ld_dequant);
			for (size_t t = 0; t < T; t++)
				out[t * rows + r] += dot(wbuf, x + t * cols + k0, n);
		}
	}
}

/* ---- blocked path: the loops AVX2 and AVX-512 share ------------------- */

#ifdef LD_HAVE_X86_PATHS

/* OpenMP's threads, those of this parallel region and this thread's place
 * in it (1, 1 and 0 without it). */
static int max_threads(void)
{
#ifdef _OPENMP
	return omp_get_max_threads();
#else
	return 1;
#endif
}

static int team_size(void)
{
#ifdef _OPENMP
	return omp_get_num_threads();
#else
	return 1;
#endif
}

static size_t thread_num(void)
{
#ifdef _OPENMP
	return (size_t)omp_get_thread_num();
#else
	return 0;
#endif
}

enum {
	TB_LIMIT = 6,            /* tokens per tile, for every ISA */
	L1_X_BYTES = 24 * 1024,  /* a tile's x block (TB x kc floats) in L1 (32-48 KB) */
	L2_W_BYTES = 128 * 1024, /* a chunk's weights in L2 (512 KB-1 MB), next to x */
	CHUNK_MAX = 64,          /* rows per chunk at most: enough work per item */
	QUANT_KC = 1024,         /* block types: columns decoded per row and column
	                            block (a chunk's 64 x 1024 floats, 256 KB, in L2) */
};

/* What one tile works on. */
struct tile {
	const unsigned char *w[4]; /* the R rows (logical rows r0..r0+R), at column
	                              k0: as stored, or decoded to f32 (block types) */
	uintptr_t pf[4];           /* rows to prefetch, at column k0
	                              (see chunk_run) */
	int pf_l2;                 /* prefetch them into L2 only (else L1) */
	const float *xb;           /* packed x of the token block (see pack_x) */
	size_t t0;                 /* first token of the tile */
	size_t k0, k1;             /* columns [k0, k1), multiples of the group */
	float *part;               /* the accumulators between column blocks:
	                              vector (r, t) at part + (r * part_ld + t) * lanes */
	size_t part_ld;
	int first, last;           /* the first / last column block */
	float *out;                /* (T, ldo) */
	size_t ldo;                /* rows of W */
	size_t r0;                 /* first logical row */
};

/* One instruction set's tiles and the sizes the shared loops need. */
struct isa {
	size_t group;  /* columns per tile step: 2 registers of floats (16 or 32) */
	size_t lanes;  /* floats per accumulator register (8 or 16) */
	size_t tb_max; /* tokens per tile at most */
	int r_many;    /* rows per tile when T > 2 */
	int r_few;     /* rows per tile when T <= 2 (memory bound) */
	/* tile(dt, R, TB, a): R is r_many, r_few or 1; TB is 1..tb_max */
	void (*tile)(enum ld_dtype dt, int R, int TB, const struct tile *a);
	ld_dequant_fn *dequant; /* block types to f32, with the same ISA */
	int q8_0_in_tile;       /* Q8_0 widened in registers by the tile, as bf16 is,
	                           instead of decoded to f32 rows first */
	/* the bf16-dot kernel (--bf16-dot): BF16 weights' x is rounded to bf16
	 * and packed as pairs, dst[0..n) = src[0..n), n a multiple of 32; NULL
	 * for the exact kernels */
	void (*round_bf16)(uint16_t *dst, const float *src, size_t n);
};

/* Does this product round x to bf16 (the bf16-dot kernel on BF16 weights)? */
static int rounds_x(const struct isa *isa, enum ld_dtype dt)
{
	return isa->round_bf16 && dt == LD_BF16;
}

/* Is w's block type decoded to f32 rows before the tiles (decode_chunk)? */
static int decoded_first(const struct isa *isa, enum ld_dtype dt)
{
	return ld_dtype_is_quant(dt) && !(dt == LD_Q8_0 && isa->q8_0_in_tile);
}

/* Token blocks as even as possible, at most tb_max: T = 17 -> 6, 6, 5.
 * Block b of n has T / n + (b < T % n) tokens. */
static size_t token_blocks(size_t T, size_t tb_max) { return (T + tb_max - 1) / tb_max; }

/* Copy x's first colsg columns into xp in the order the tiles read them:
 * token block by token block (block b at xp + t0 * colsg), and in a block,
 * each group of G columns for its tb tokens one after the other (G floats
 * each). With split (BF16) a token's G floats are the even columns then
 * the odd ones, matching how a bf16 load is widened (w_lo, w_hi). With
 * bf16 (the bf16-dot kernel) the same order holds G bf16 values, rounded
 * to nearest even, in column order: pairs, as the weights are stored
 * (block b still starts at xp + t0 * colsg floats, and fills half of it).
 * Called by every thread of a parallel region, each packs a share of the
 * groups (an orphaned `omp for`, whose end waits for all of them). */
static void pack_x(float *xp, const float *x, size_t T, size_t cols, size_t colsg,
                   const struct isa *isa, int split, int bf16)
{
	const size_t G = isa->group, nblk = token_blocks(T, isa->tb_max);
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
	for (size_t g = 0; g < colsg / G; g++)
		for (size_t b = 0, t0 = 0; b < nblk; b++) {
			size_t tb = T / nblk + (b < T % nblk);
			float *blk = xp + t0 * colsg;
			for (size_t t = 0; t < tb; t++) {
				const float *src = x + (t0 + t) * cols + g * G;
				float *dst = blk + (g * tb + t) * G;
				if (bf16) {
					isa->round_bf16((uint16_t *)blk + (g * tb + t) * G, src, G);
				} else if (split) {
					for (size_t j = 0; j < G / 2; j++) {
						dst[j] = src[2 * j];
						dst[G / 2 + j] = src[2 * j + 1];
					}
				} else {
					memcpy(dst, src, G * sizeof *dst);
				}
			}
			t0 += tb;
		}
}

/* An x value as a kernel multiplies it: as it is, or rounded to bf16
 * (nearest even) by a bf16-dot kernel. */
static float x_as_multiplied(float xc, int round) { return round ? ld_bf16_to_f32(ld_f32_to_bf16(xc)) : xc; }

/* For prefetching: pf[0..n) = the addresses of rows [r, r + n) at column
 * k0 (rows past the end of W repeat its last row). Integers, not pointers:
 * a prefetch may run past the rows it is for, which is harmless for the
 * CPU and must not be pointer arithmetic in C. */
static void prefetch_rows(uintptr_t *pf, const struct ld_weight *w, size_t r, int n, size_t k0)
{
	for (int i = 0; i < n; i++) {
		size_t q = r + (size_t)i < w->rows ? r + (size_t)i : w->rows - 1;
		pf[i] = (uintptr_t)row_ptr(w, q) + stored_bytes(w->dtype, k0);
	}
}

/* Prefetch n bytes from p into L1, a cache line at a time. */
static void prefetch_bytes(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 64)
		_mm_prefetch((const char *)((uintptr_t)p + i), _MM_HINT_T0);
}

/* A tile's prefetch of the line at p: into L1 (WEIGHT_PREFETCH), or with
 * l2 into L2 only (T1: see WEIGHT_PREFETCH), for a later tile. */
static inline __attribute__((always_inline)) void prefetch_weights(uintptr_t p, int l2)
{
	if (l2)
		_mm_prefetch((const char *)p, _MM_HINT_T1);
	else
		_mm_prefetch((const char *)p, WEIGHT_PREFETCH);
}

/* Block types: decode columns [k0, k1) of the chunk's rows [r0, r0+nr)
 * into dq (row i at dq + i * kc), each row's blocks prefetched while the
 * row before is decoded. */
static void decode_chunk(const struct isa *isa, float *dq, const struct ld_weight *w,
                         size_t r0, size_t nr, size_t k0, size_t k1, size_t kc)
{
	const size_t off = stored_bytes(w->dtype, k0), n = stored_bytes(w->dtype, k1 - k0);
	prefetch_bytes(row_ptr(w, r0) + off, n);
	for (size_t i = 0; i < nr; i++) {
		if (i + 1 < nr)
			prefetch_bytes(row_ptr(w, r0 + i + 1) + off, n);
		isa->dequant(dq + i * kc, row_ptr(w, r0 + i) + off, w->dtype, k1 - k0);
	}
}

/* The chunk a thread runs after this one (nr = 0: none), taken before
 * this one starts, so that its first rows can be prefetched. */
struct chunk_next {
	size_t r0, nr;
};

/* Prefetch rows [g, g + n) (counted from the chunk's first row r0) of the
 * block a chunk_run walks after this column block [.., k1): its own next
 * column block, or after its last one the first of the next chunk. Returns
 * 0, prefetching nothing, when there is no such block or row. */
static int prefetch_next_block(uintptr_t *pf, const struct ld_weight *w, size_t r0, size_t g, int n,
                               size_t k1, size_t colsg, const struct chunk_next *next)
{
	if (k1 < colsg)
		prefetch_rows(pf, w, r0 + g, n, k1);
	else if (g < next->nr)
		prefetch_rows(pf, w, next->r0 + g, n, 0);
	else
		return 0;
	return 1;
}

/* Rows [r0, r0+nr) of out. For each block of up to tb_max tokens, walk the
 * columns kc at a time and run a tile on every row group of the chunk: the
 * x block (tb tokens x kc columns) stays in L1 while the chunk's weights
 * pass through it; the chunk's weights stay in L2 for the next token block.
 * Then add the leftover columns one by one. A block type's column block is
 * first decoded into dq (nr x kc floats), and F32 tiles run on that. */
static void chunk_run(const struct isa *isa, float *out, const float *x, const float *xp,
                      float *part, float *dq, const struct ld_weight *w, size_t T,
                      size_t r0, size_t nr, size_t kc, int R, const struct chunk_next *next)
{
	const size_t rows = w->rows, cols = w->cols, colsg = cols - cols % isa->group;
	const size_t nblk = token_blocks(T, isa->tb_max);
	const int quant = decoded_first(isa, w->dtype);
	const enum ld_dtype tile_dt = quant ? LD_F32 : w->dtype;
	struct tile a = {.out = out, .ldo = rows, .part_ld = T};

	for (size_t k0 = 0; k0 < colsg; k0 += kc) {
		a.k0 = k0;
		a.k1 = colsg - k0 < kc ? colsg : k0 + kc;
		a.first = k0 == 0;
		a.last = a.k1 == colsg;
		if (quant)
			decode_chunk(isa, dq, w, r0, nr, k0, a.k1, kc);
		for (size_t b = 0, t0 = 0; b < nblk; b++) {
			size_t tb = T / nblk + (b < T % nblk);
			a.t0 = t0;
			a.xb = xp + t0 * colsg;
			for (size_t r = r0; r < r0 + nr;) {
				int rr = r0 + nr - r >= (size_t)R ? R : 1; /* leftovers: one by one */
				for (int i = 0; i < rr; i++)
					a.w[i] = quant ? (const unsigned char *)(dq + (r - r0 + (size_t)i) * kc)
					               : row_ptr(w, r + i) + stored_bytes(w->dtype, k0);
				a.r0 = r;
				a.part = part ? part + ((r - r0) * T + t0) * isa->lanes : NULL;
				/* The first turn prefetches the next row group into L1,
				 * or after the last one the first of the next column
				 * block, or of the next chunk this thread runs: the first
				 * turn to need it. The second turn brings the same rows
				 * of that next block (or chunk) from memory into L2, so
				 * that the next first turn waits for L2, not memory:
				 * while the later turns compute on weights already in L2,
				 * memory is busy with the next ones (a 17-token pass of
				 * the 1B shape on 2 Zen 4 cores, bf16, everything
				 * recorded: --bf16-dot 0.181 -> 0.147 s, exact 0.301 ->
				 * 0.283 s).
				 * Other later turns find their weights in L2 and leave L1
				 * to the hardware's prefetcher: a prefetch there would
				 * only push x out of L1, so they "prefetch" the rows they
				 * are reading (a no-op). (Measured slower: prefetching a
				 * whole column block ahead into L1, or spread over all
				 * later turns; two to four row groups ahead instead of
				 * one; all of a row group's token blocks before the next
				 * group. No faster: the L2 prefetch spread over all
				 * later turns instead of the second.) */
				a.pf_l2 = 0;
				if (quant) /* decode_chunk brought them; the tile reads dq */
					for (int i = 0; i < rr; i++)
						a.pf[i] = (uintptr_t)a.w[i];
				else if (b == 1 && prefetch_next_block(a.pf, w, r0, r - r0, rr, a.k1, colsg, next))
					a.pf_l2 = 1;
				else if (b > 0)
					prefetch_rows(a.pf, w, r, rr, k0);
				else if (r + (size_t)rr < r0 + nr)
					prefetch_rows(a.pf, w, r + (size_t)rr, rr, k0);
				else if (!prefetch_next_block(a.pf, w, r0, 0, rr, a.k1, colsg, next))
					prefetch_rows(a.pf, w, r, rr, k0);
				isa->tile(tile_dt, rr, (int)tb, &a);
				r += (size_t)rr;
			}
			t0 += tb;
		}
	}

	if (colsg == cols && colsg > 0)
		return; /* no tail (cols == 0 still has to write zeros) */
	float wt[32];
	const int round = rounds_x(isa, w->dtype);
	for (size_t r = r0; r < r0 + nr; r++) {
		widen(wt, row_ptr(w, r) + stored_bytes(w->dtype, colsg), w->dtype, cols - colsg,
		      isa->dequant);
		for (size_t t = 0; t < T; t++) {
			float s = colsg ? out[t * rows + r] : 0.0f;
			for (size_t c = colsg; c < cols; c++) {
				float xc = x[t * cols + c];
				s += wt[c - colsg] * x_as_multiplied(xc, round);
			}
			out[t * rows + r] = s;
		}
	}
}

static size_t line_up(size_t n) { return (n + 63) & ~(size_t)63; }

/* Returns 0 if a scratch buffer cannot be allocated. */
static int matmul_blocked(const struct isa *isa, float *out, const float *x,
                          const struct ld_weight *w, size_t T)
{
	const size_t rows = w->rows, cols = w->cols, colsg = cols - cols % isa->group;
	const int quant = decoded_first(isa, w->dtype);

	/* kc: as many columns as keep a token block's x (tb x kc floats) within
	 * the L1 budget; a multiple of 64 (T = 17: 1024; T = 1: 6144). */
	size_t tb_max = T < isa->tb_max ? T : isa->tb_max;
	const size_t xsize = rounds_x(isa, w->dtype) ? 2 : sizeof(float); /* bytes per x value */
	size_t kc = L1_X_BYTES / (tb_max * xsize) & ~(size_t)63;
	if (kc < 64)
		kc = 64;
	/* A block type decodes kc columns of a chunk's rows at a time: at most
	 * QUANT_KC, and whole blocks (a multiple of 256 for the K types, of 32
	 * for the others; the block sizes are powers of two). */
	size_t qvalues = 1, qbytes;
	if (quant) {
		ld_dtype_block(w->dtype, &qvalues, &qbytes);
		kc = kc < QUANT_KC ? kc : QUANT_KC;
		kc = kc < qvalues ? qvalues : kc & ~(qvalues - 1);
	}
	const int R = T <= 2 ? isa->r_few : isa->r_many;
	/* Chunk: as many rows as fit their kc columns in the L2 budget, a
	 * multiple of 4, 4..64 (T = 17 and 2048..14336 columns: 64). A block
	 * type's chunk is its decoded f32 rows: 64 x QUANT_KC floats. */
	const size_t kcols = cols < kc ? cols : kc;
	size_t chunk = cols && !quant ? L2_W_BYTES / stored_bytes(w->dtype, kcols) & ~(size_t)3 : 64;
	if (chunk < 4)
		chunk = 4;
	if (chunk > CHUNK_MAX)
		chunk = CHUNK_MAX;
	const size_t nchunks = (rows + chunk - 1) / chunk;

	/* With several column blocks, each thread keeps its chunk's
	 * accumulators between them (chunk rows x T tokens x lanes floats), so
	 * their lanes are summed once, after the last block. */
	const size_t nth = (size_t)max_threads(), part_floats = chunk * T * isa->lanes;
	/* Block types: each thread's decoded rows (chunk x kc floats). */
	const size_t dq_floats = chunk * kc;
	/* One scratch buffer: x packed (T x colsg floats), then the threads'
	 * accumulators, then their decoded rows, each on a cache line. */
	if (T > SIZE_MAX / 4 / 16 / CHUNK_MAX / nth || colsg > SIZE_MAX / 4 / T)
		return 0;
	const size_t xp_bytes = line_up(T * colsg * sizeof(float));
	const size_t part_bytes = colsg > kc ? line_up(nth * part_floats * sizeof(float)) : 0;
	const size_t dq_bytes = quant ? line_up(nth * dq_floats * sizeof(float)) : 0;
	/* From the pool (util.h), which keeps it for the next call of this
	 * size: allocated anew for every call, it halved the speed of a loop of
	 * 1024 x 2048 bf16 products at 17 tokens (148 -> 273 GFLOP/s on 2 Zen
	 * 5 cores), glibc mapping and unmapping it (or growing and trimming
	 * the heap) each time while the other thread waited. */
	const size_t scratch_bytes = xp_bytes + part_bytes + dq_bytes;
	unsigned char *scratch = ld_pool_take(scratch_bytes, 0);
	if (!scratch)
		return 0;
	float *xp = colsg ? (float *)scratch : NULL;
	float *part = part_bytes ? (float *)(scratch + xp_bytes) : NULL;
	float *dq = dq_bytes ? (float *)(scratch + xp_bytes + part_bytes) : NULL;

	/* Many tokens: chunks taken one at a time from `grab`, so that a core
	 * slowed by a neighbour on a shared machine does not leave the other
	 * waiting at the end. Few tokens (memory bound): each core runs one
	 * run of chunks, and streams its own contiguous part of W. x is
	 * packed first, by all threads (pack_x ends when all have). */
	atomic_size_t grab = 0; /* T > 2: the next chunk nobody has taken */
#ifdef _OPENMP
#pragma omp parallel
#endif
	{
		if (colsg)
			pack_x(xp, x, T, cols, colsg, isa, w->dtype == LD_BF16, rounds_x(isa, w->dtype));
		const size_t th = thread_num(), nteam = (size_t)team_size();
		const size_t per_run = (nchunks + nteam - 1) / nteam;
		size_t c = T > 2 ? atomic_fetch_add_explicit(&grab, 1, memory_order_relaxed) : th * per_run;
		const size_t run_end = T > 2 ? nchunks : (th + 1) * per_run < nchunks ? (th + 1) * per_run : nchunks;
		struct chunk_next next;
		while (c < run_end) {
			/* the next chunk is taken now, so that this one can prefetch it */
			size_t after = T > 2 ? atomic_fetch_add_explicit(&grab, 1, memory_order_relaxed) : c + 1;
			next.r0 = after * chunk;
			next.nr = after < run_end ? (rows - next.r0 < chunk ? rows - next.r0 : chunk) : 0;
			chunk_run(isa, out, x, xp, part ? part + th * part_floats : NULL,
			          dq ? dq + th * dq_floats : NULL, w, T, c * chunk,
			          rows - c * chunk < chunk ? rows - c * chunk : chunk, kc, R, &next);
			c = after;
		}
	}
	ld_pool_give(scratch, scratch_bytes);
	return 1;
}

/* One function per dtype with a case per tile shape, so each tile kernel
 * (KERNEL(dt, R, TB, a)) is compiled with constant R and TB: R is 1, 2 or
 * 4; TB is 1..6. Shapes an ISA never asks for are not compiled. */
#define TILE_CASE(KERNEL, DT, R, TB)                                              \
	case R * 16 + TB: KERNEL(DT, R, TB, a); break;
#define TILE_CASES_R(KERNEL, DT, R)                                               \
	TILE_CASE(KERNEL, DT, R, 1) TILE_CASE(KERNEL, DT, R, 2)                      \
	TILE_CASE(KERNEL, DT, R, 3) TILE_CASE(KERNEL, DT, R, 4)                      \
	TILE_CASE(KERNEL, DT, R, 5) TILE_CASE(KERNEL, DT, R, 6)

/* ---- AVX2 + FMA + F16C tiles -------------------------------------------- */

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma,f16c")))

/* Stored weights p[0..16) widened: the first 8 (F32, F16) or the even ones
 * (BF16) ... */
AVX2_INLINE __m256 w_lo(enum ld_dtype dt, const unsigned char *p)
{
	if (dt == LD_F32)
		return _mm256_loadu_ps((const float *)p);
	if (dt == LD_F16)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)p), 16));
}

/* ... and the last 8 (F32, F16) or the odd ones (BF16). For BF16 the odd
 * ones are already in the high halves of the same 8 u32 lanes: masking off
 * the low halves (the even ones) leaves them as floats. */
AVX2_INLINE __m256 w_hi(enum ld_dtype dt, const unsigned char *p)
{
	if (dt == LD_F32)
		return _mm256_loadu_ps((const float *)p + 8);
	if (dt == LD_F16)
		return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p + 1));
	const __m256i odd = _mm256_set1_epi32((int)0xffff0000u);
	return _mm256_castsi256_ps(_mm256_and_si256(_mm256_loadu_si256((const __m256i *)p), odd));
}

/* 8 floats of packed x, in a register. The empty asm stops the compiler
 * from folding the load into each of the R FMAs that use it: that would
 * load it R times, and loads, not FMAs, would then set the pace. */
AVX2_INLINE __m256 load_x(const float *p)
{
	__m256 v = _mm256_loadu_ps(p);
	__asm__("" : "+x"(v));
	return v;
}

/* Sum of the 8 lanes. */
AVX2_INLINE float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

/* Lane j of the result is the sum of the 8 lanes of v[j]: pairwise adds
 * within 128-bit halves, then the two halves added. */
AVX2_INLINE __m256 hsum8(const __m256 v[8])
{
	__m256 ab = _mm256_hadd_ps(_mm256_hadd_ps(v[0], v[1]), _mm256_hadd_ps(v[2], v[3]));
	__m256 cd = _mm256_hadd_ps(_mm256_hadd_ps(v[4], v[5]), _mm256_hadd_ps(v[6], v[7]));
	/* ab = v0..v3's low-half sums | their high-half sums; cd likewise */
	return _mm256_add_ps(_mm256_permute2f128_ps(ab, cd, 0x20),
	                     _mm256_permute2f128_ps(ab, cd, 0x31));
}

/* One group of 16 columns: acc[r][t] += W[r][k..k+16] . x[t][k..k+16],
 * with wk[r] = row r at column k, xk = the group's packed x, pf[r] = where
 * to prefetch. In two halves (lo, hi) so that only R weight vectors are
 * live at once: R*TB accumulators + R weights + 1 x <= 16 registers. */
AVX2_INLINE void tile_step(enum ld_dtype dt, int R, int TB, __m256 acc[4][TB_LIMIT],
                           const unsigned char *const wk[4], const float *xk,
                           const uintptr_t pf[4], int l2)
{
	__m256 wv[4];
	/* The next tile's weights, at the pace this one reads its own: they
	 * arrive from memory while this tile computes. */
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		prefetch_weights(pf[r], l2);
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		wv[r] = w_lo(dt, wk[r]);
#pragma GCC unroll 8
	for (int t = 0; t < TB; t++) {
		__m256 xv = load_x(xk + t * 16);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		wv[r] = w_hi(dt, wk[r]);
#pragma GCC unroll 8
	for (int t = 0; t < TB; t++) {
		__m256 xv = load_x(xk + t * 16 + 8);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
	}
}

/* Q8_0: one block of 32 columns, the scale d (f16) and 32 int8 q, widened
 * in registers to d * q, the value the format defines (the same product
 * the block decoder writes), then the two 16-column groups of tile_step:
 * the first 8 columns in the lo half, the next 8 in the hi half. */
AVX2_INLINE __m256 q8_widen(__m256 d, const unsigned char *q)
{
	__m128i b = _mm_loadl_epi64((const __m128i *)q); /* 8 x int8 */
	return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)));
}

AVX2_INLINE void tile_step_q8(int R, int TB, __m256 acc[4][TB_LIMIT], const unsigned char *const wk[4],
                              const float *xk, const uintptr_t pf[4], int l2)
{
	__m256 d[4], wv[4];
#pragma GCC unroll 4
	for (int r = 0; r < R; r++) {
		prefetch_weights(pf[r], l2);
		uint16_t h;
		memcpy(&h, wk[r], 2);
		d[r] = _mm256_set1_ps(_cvtsh_ss(h));
	}
#pragma GCC unroll 2
	for (int g = 0; g < 2; g++, xk += TB * 16) {
#pragma GCC unroll 2
		for (int half = 0; half < 2; half++) {
#pragma GCC unroll 4
			for (int r = 0; r < R; r++)
				wv[r] = q8_widen(d[r], wk[r] + 2 + 16 * g + 8 * half);
#pragma GCC unroll 8
			for (int t = 0; t < TB; t++) {
				__m256 xv = load_x(xk + t * 16 + 8 * half);
#pragma GCC unroll 4
				for (int r = 0; r < R; r++)
					acc[r][t] = _mm256_fmadd_ps(wv[r], xv, acc[r][t]);
			}
		}
	}
}

/* The tile's accumulators += W[r0..r0+R][k0..k1] . x[t0..t0+TB][k0..k1],
 * lane by lane; after the last column block, their lane sums are
 * out[t0..t0+TB][r0..r0+R]. R, TB and dt are constants at every call, so
 * the loops unroll and acc lives in registers. The loop walks one byte
 * offset i along all R rows (and the prefetched ones), so its only
 * bookkeeping is i and xk. */
AVX2_INLINE void tile_kernel(enum ld_dtype dt, int R, int TB, const struct tile *a)
{
	const size_t esz = dt == LD_F32 ? 4 : 2;
	/* bytes of each row to walk; Q8_0: 34 for each block of 32 columns */
	const size_t n = dt == LD_Q8_0 ? (a->k1 - a->k0) / 32 * 34 : (a->k1 - a->k0) * esz;
	const size_t step = dt == LD_Q8_0 ? 34 : 16 * esz; /* bytes per step */
	const size_t xstep = dt == LD_Q8_0 ? 2 * TB * 16 : TB * 16;
	const float *xk = a->xb + a->k0 / 16 * TB * 16;
	const unsigned char *w[4];
	__m256 acc[4][TB_LIMIT];

	/* Start from zero, or from where the previous column block left off. */
#pragma GCC unroll 4
	for (int r = 0; r < R; r++) {
		w[r] = a->w[r];
#pragma GCC unroll 8
		for (int t = 0; t < TB; t++)
			acc[r][t] = a->first ? _mm256_setzero_ps()
			                     : _mm256_load_ps(a->part + (r * a->part_ld + t) * 8);
	}

	for (size_t i = 0; i < n; i += step, xk += xstep) {
		const unsigned char *wk[4];
		uintptr_t pf[4];
#pragma GCC unroll 4
		for (int r = 0; r < R; r++) {
			wk[r] = w[r] + i;
			pf[r] = a->pf[r] + i;
		}
		if (dt == LD_Q8_0)
			tile_step_q8(R, TB, acc, wk, xk, pf, a->pf_l2);
		else
			tile_step(dt, R, TB, acc, wk, xk, pf, a->pf_l2);
	}

	/* Not the last column block: keep the 8-lane sums for the next one. */
	if (!a->last) {
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
#pragma GCC unroll 8
			for (int t = 0; t < TB; t++)
				_mm256_store_ps(a->part + (r * a->part_ld + t) * 8, acc[r][t]);
		return;
	}

	/* The last: the R x TB sums (sum[r * TB + t]), 8 at a time while there
	 * are 8, go to out. */
	float sum[4 * TB_LIMIT];
	int j = 0;
#pragma GCC unroll 4
	for (; j + 8 <= R * TB; j += 8) {
		__m256 v[8];
#pragma GCC unroll 8
		for (int q = 0; q < 8; q++)
			v[q] = acc[(j + q) / TB][(j + q) % TB];
		_mm256_storeu_ps(sum + j, hsum8(v));
	}
#pragma GCC unroll 8
	for (; j < R * TB; j++)
		sum[j] = hsum(acc[j / TB][j % TB]);
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 8
		for (int t = 0; t < TB; t++)
			a->out[(a->t0 + t) * a->ldo + a->r0 + r] = sum[r * TB + t];
}

/* Tiles of 2 x 6 (12 of the 16 ymm registers) for many tokens, 4 x 1..2
 * for few, 1 x TB for the rows left over. */
#define AVX2_CASES(DT)                                                            \
	switch (R * 16 + TB) {                                                        \
	TILE_CASES_R(tile_kernel, DT, 1)                                              \
	TILE_CASES_R(tile_kernel, DT, 2)                                              \
	TILE_CASE(tile_kernel, DT, 4, 1)                                              \
	TILE_CASE(tile_kernel, DT, 4, 2)                                              \
	default: assert(!"no such tile shape");                                       \
	}

AVX2 static void avx2_f32(int R, int TB, const struct tile *a) { AVX2_CASES(LD_F32) }
AVX2 static void avx2_bf16(int R, int TB, const struct tile *a) { AVX2_CASES(LD_BF16) }
AVX2 static void avx2_f16(int R, int TB, const struct tile *a) { AVX2_CASES(LD_F16) }
AVX2 static void avx2_q8_0(int R, int TB, const struct tile *a) { AVX2_CASES(LD_Q8_0) }

static void tile_avx2(enum ld_dtype dt, int R, int TB, const struct tile *a)
{
	if (dt == LD_BF16)
		avx2_bf16(R, TB, a);
	else if (dt == LD_F16)
		avx2_f16(R, TB, a);
	else if (dt == LD_Q8_0)
		avx2_q8_0(R, TB, a);
	else
		avx2_f32(R, TB, a);
}

static const struct isa isa_avx2 = {
	.group = 16, .lanes = 8, .tb_max = 6, .r_many = 2, .r_few = 4, .tile = tile_avx2,
	.dequant = ld_dequant_avx2, .q8_0_in_tile = 1,
};

/* ---- AVX-512F tiles ------------------------------------------------------
 *
 * The AVX2 tiles at twice the width and with twice the registers: a step
 * is 32 columns (one 64-byte load of 32 bf16 weights: as 16 u32 lanes,
 * (lane << 16) is the even column and (lane & 0xffff0000) the odd one),
 * and a tile is 4 rows x 6 tokens of 16-lane accumulators: 24 of the 32
 * zmm registers, with 4 for weights and 1 for x. Each weight vector feeds
 * 6 FMAs and each x vector 4: 10 loads per 24 FMAs. Only AVX-512F
 * instructions (vcvtph2ps on zmm is AVX-512F too), so any AVX-512 CPU
 * runs it, and the sums are exact f32 FMAs, like the other kernels. */

#define AVX512 __attribute__((target("avx512f")))
#define AVX512_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* Stored weights p[0..32) widened: the first 16 or the even ones (BF16) ... */
AVX512_INLINE __m512 z_lo(enum ld_dtype dt, const unsigned char *p)
{
	if (dt == LD_F32)
		return _mm512_loadu_ps(p);
	if (dt == LD_F16)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_loadu_si512(p), 16));
}

/* ... and the last 16 or the odd ones (BF16). */
AVX512_INLINE __m512 z_hi(enum ld_dtype dt, const unsigned char *p)
{
	if (dt == LD_F32)
		return _mm512_loadu_ps(p + 64);
	if (dt == LD_F16)
		return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p + 1));
	const __m512i odd = _mm512_set1_epi32((int)0xffff0000u);
	return _mm512_castsi512_ps(_mm512_and_si512(_mm512_loadu_si512(p), odd));
}

/* 16 floats of packed x, in a register (see load_x). */
AVX512_INLINE __m512 z_load_x(const float *p)
{
	__m512 v = _mm512_loadu_ps(p);
	__asm__("" : "+v"(v));
	return v;
}

/* One group of 32 columns, as tile_step does 16. */
AVX512_INLINE void z_step(enum ld_dtype dt, int R, int TB, __m512 acc[4][TB_LIMIT],
                          const unsigned char *const wk[4], const float *xk,
                          const uintptr_t pf[4], int l2)
{
	__m512 wv[4];
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		prefetch_weights(pf[r], l2);
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		wv[r] = z_lo(dt, wk[r]);
#pragma GCC unroll 8
	for (int t = 0; t < TB; t++) {
		__m512 xv = z_load_x(xk + t * 32);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
	}
	/* A 64-byte step is a whole cache line: the second prefetch of the
	 * next tile's rows covers f32 rows, whose step is two lines. */
	if (dt == LD_F32) {
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			prefetch_weights(pf[r] + 64, l2);
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		wv[r] = z_hi(dt, wk[r]);
#pragma GCC unroll 8
	for (int t = 0; t < TB; t++) {
		__m512 xv = z_load_x(xk + t * 32 + 16);
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
	}
}

/* Q8_0, as tile_step_q8 does it for AVX2: a step is one block of 32
 * columns (the f16 scale d, then 32 int8 q), widened in registers to
 * d * q, the value the block decoder writes; the first 16 columns are the
 * lo half, the last 16 the hi half, as the F32 tile reads decoded rows.
 * The scale is broadcast before it is widened (vcvtph2ps on zmm is
 * AVX-512F). */
AVX512_INLINE __m512 z_q8(__m512 d, const unsigned char *q)
{
	__m512i v = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)q));
	return _mm512_mul_ps(d, _mm512_cvtepi32_ps(v));
}

AVX512_INLINE void z_step_q8(int R, int TB, __m512 acc[4][TB_LIMIT], const unsigned char *const wk[4],
                             const float *xk, const uintptr_t pf[4], int l2)
{
	__m512 d[4], wv[4];
#pragma GCC unroll 4
	for (int r = 0; r < R; r++) {
		prefetch_weights(pf[r], l2);
		uint16_t h;
		memcpy(&h, wk[r], 2);
		d[r] = _mm512_cvtph_ps(_mm256_set1_epi16((short)h));
	}
#pragma GCC unroll 2
	for (int half = 0; half < 2; half++) {
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
			wv[r] = z_q8(d[r], wk[r] + 2 + 16 * half);
#pragma GCC unroll 8
		for (int t = 0; t < TB; t++) {
			__m512 xv = z_load_x(xk + t * 32 + 16 * half);
#pragma GCC unroll 4
			for (int r = 0; r < R; r++)
				acc[r][t] = _mm512_fmadd_ps(wv[r], xv, acc[r][t]);
		}
	}
}

/* A tile's accumulators at its start: zero in the first column block,
 * else where the previous block left them ... */
AVX512_INLINE void z_acc_start(int R, int TB, __m512 acc[4][TB_LIMIT], const struct tile *a)
{
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 8
		for (int t = 0; t < TB; t++)
			acc[r][t] = a->first ? _mm512_setzero_ps()
			                     : _mm512_load_ps(a->part + (r * a->part_ld + t) * 16);
}

/* ... and at its end: kept for the next column block, or after the last
 * one each accumulator's 16 lanes summed into out[t][r]. */
AVX512_INLINE void z_acc_end(int R, int TB, __m512 acc[4][TB_LIMIT], const struct tile *a)
{
	if (!a->last) {
#pragma GCC unroll 4
		for (int r = 0; r < R; r++)
#pragma GCC unroll 8
			for (int t = 0; t < TB; t++)
				_mm512_store_ps(a->part + (r * a->part_ld + t) * 16, acc[r][t]);
		return;
	}
#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
#pragma GCC unroll 8
		for (int t = 0; t < TB; t++)
			a->out[(a->t0 + t) * a->ldo + a->r0 + r] = _mm512_reduce_add_ps(acc[r][t]);
}

/* tile_kernel at 32 columns a step and 16 lanes an accumulator. */
AVX512_INLINE void z_kernel(enum ld_dtype dt, int R, int TB, const struct tile *a)
{
	const size_t esz = dt == LD_F32 ? 4 : 2;
	/* bytes of each row to walk, and per step; Q8_0: 34 per block of 32 */
	const size_t n = dt == LD_Q8_0 ? (a->k1 - a->k0) / 32 * 34 : (a->k1 - a->k0) * esz;
	const size_t step = dt == LD_Q8_0 ? 34 : 32 * esz;
	const float *xk = a->xb + a->k0 / 32 * TB * 32;
	const unsigned char *w[4];
	__m512 acc[4][TB_LIMIT];

#pragma GCC unroll 4
	for (int r = 0; r < R; r++)
		w[r] = a->w[r];
	z_acc_start(R, TB, acc, a);

	for (size_t i = 0; i < n; i += step, xk += TB * 32) {
		const unsigned char *wk[4];
		uintptr_t pf[4];
#pragma GCC unroll 4
		for (int r = 0; r < R; r++) {
			wk[r] = w[r] + i;
			pf[r] = a->pf[r] + i;
		}
		if (dt == LD_Q8_0)
			z_step_q8(R, TB, acc, wk, xk, pf, a->pf_l2);
		else
			z_step(dt, R, TB, acc, wk, xk, pf, a->pf_l2);
	}
	z_acc_end(R, TB, acc, a);
}

/* Tiles of 4 x 1..6, and 1 x TB for the rows left over. */
#define AVX512_CASES(DT)                                                          \
	switch (R * 16 + TB) {                                                        \
	TILE_CASES_R(z_kernel, DT, 1)                                                 \
	TILE_CASES_R(z_kernel, DT, 4)                                                 \
	default: assert(!"no such tile shape");                                       \
	}

AVX512 static void avx512_f32(int R, int TB, const struct tile *a) { AVX512_CASES(LD_F32) }
AVX512 static void avx512_bf16(int R, int TB, const struct tile *a) { AVX512_CASES(LD_BF16) }
AVX512 static void avx512_f16(int R, int TB, const struct tile *a) { AVX512_CASES(LD_F16) }
AVX512 static void avx512_q8_0(int R, int TB, const struct tile *a) { AVX512_CASES(LD_Q8_0) }

static void tile_avx512(enum ld_dtype dt, int R, int TB, const struct tile *a)
{
	if (dt == LD_BF16)
		avx512_bf16(R, TB, a);
	else if (dt == LD_F16)
		avx512_f16(R, TB, a);
	else if (dt == LD_Q8_0)
		avx512_q8_0(R, TB, a);
	else
		avx512_f32(R, TB, a);
}

static const struct isa isa_avx512 = {
	.group = 32, .lanes = 16, .tb_max = 6, .r_many = 4, .r_few = 4, .tile = tile_avx512,
	.dequant = ld_dequant_avx512, .q8_0_in_tile = 1,
};

/* ---- AVX512-BF16 tiles (--bf16-dot) ---------------------------------------
 *
 * Opt-in, never chosen by AUTO: the one kernel that is not exact f32. For
 * BF16 weights, x is rounded to bf16 (nearest even) when it is packed,
 * and a step of 32 columns is one vdpbf16ps per row and token:
 *     acc[lane i] += w[2i] * x[2i] + w[2i+1] * x[2i+1]
 * in f32, with products of two bf16 values (exact in f32). That is twice
 * the multiply-adds of an f32 FMA per instruction, no widening of the
 * weights, and half the bytes of x: 4 weight and 6 x loads per 24
 * instructions. The CPU treats bf16 subnormals as zero here. The tiles'
 * shapes, blocking and threads are those of the AVX-512F kernel, and
 * every other dtype goes to its tiles: only BF16 products change.
 * Rounding x costs about 3 significant digits of each product; `llamadbg
 * diff` of a --bf16-dot trace against an exact one shows where that goes. */

#define AVX512BF16 __attribute__((target("avx512f,avx512bf16")))
#define AVX512BF16_INLINE static inline __attribute__((always_inline, target("avx512f,avx512bf16")))

/* 32 packed bf16 values of x, in a register (see load_x). */
AVX512BF16_INLINE __m512bh zb_load_x(const uint16_t *p)
{
	__m512i v = _mm512_loadu_si512(p);
	__asm__("" : "+v"(v));
	return (__m512bh)v;
}

AVX512BF16_INLINE void zb_kernel(int R, int TB, const struct tile *a)
{
	const size_t n = (a->k1 - a->k0) * 2; /* bytes of each row to walk */
	const uint16_t *xk = (const uint16_t *)a->xb + a->k0 / 32 * TB * 32;
	__m512 acc[4][TB_LIMIT];

	z_acc_start(R, TB, acc, a);
	for (size_t i = 0; i < n; i += 64, xk += TB * 32) {
		__m512bh wv[4];
#pragma GCC unroll 4
		for (int r = 0; r < R; r++) {
			prefetch_weights(a->pf[r] + i, a->pf_l2);
			wv[r] = (__m512bh)_mm512_loadu_si512(a->w[r] + i);
		}
#pragma GCC unroll 8
		for (int t = 0; t < TB; t++) {
			__m512bh xv = zb_load_x(xk + t * 32);
#pragma GCC unroll 4
			for (int r = 0; r < R; r++)
				acc[r][t] = _mm512_dpbf16_ps(acc[r][t], wv[r], xv);
		}
	}
	z_acc_end(R, TB, acc, a);
}

/* x rounded to bf16 for the tiles: vcvtne2ps2bf16 rounds to nearest even
 * like ld_f32_to_bf16 and keeps NaN a NaN; it flushes f32 subnormals to
 * zero, which the dot products would treat as zero anyway. */
AVX512BF16 static void zb_round_bf16(uint16_t *dst, const float *src, size_t n)
{
	for (size_t j = 0; j < n; j += 32) {
		__m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + j + 16), _mm512_loadu_ps(src + j));
		_mm512_storeu_si512(dst + j, (__m512i)v);
	}
}

#define ZB_CASE(DT, R, TB, A) zb_kernel(R, TB, A) /* every DT is BF16 */
AVX512BF16 static void avx512bf16_bf16(int R, int TB, const struct tile *a)
{
	switch (R * 16 + TB) {
	TILE_CASES_R(ZB_CASE, LD_BF16, 1)
	TILE_CASES_R(ZB_CASE, LD_BF16, 4)
	default: assert(!"no such tile shape");
	}
}

static void tile_avx512_bf16(enum ld_dtype dt, int R, int TB, const struct tile *a)
{
	if (dt == LD_BF16)
		avx512bf16_bf16(R, TB, a);
	else
		tile_avx512(dt, R, TB, a);
}

static const struct isa isa_avx512_bf16 = {
	.group = 32, .lanes = 16, .tb_max = 6, .r_many = 4, .r_few = 4, .tile = tile_avx512_bf16,
	.dequant = ld_dequant_avx512, .q8_0_in_tile = 1, .round_bf16 = zb_round_bf16,
};

/* ---- AMX tiles ----------------------------------------------------------
 *
 * Intel's AMX (Sapphire Rapids and later) has eight tile registers of up
 * to 16 rows x 64 bytes and one instruction, tdpbf16ps, that multiplies a
 * 16 x 32 tile of bf16 values A by a 32 x 16 tile B into a 16 x 16 tile C
 * of f32 sums:
 *     C[m][n] += sum over k of A[m][k] * B[k][n]      (k = 0..31)
 * 8192 multiply-adds in one instruction, which issues every ~13 cycles
 * whatever the tiles' shape: ~16 times an AVX-512 core's f32 FMAs.
 *
 * Here A is 16 stored rows of W, 32 columns of each, loaded straight from
 * the mapped file (tileloadd takes a row stride), and B is 16 tokens of x
 * for the same 32 columns, packed once per call the way tdpbf16ps wants
 * it: row i of the B tile is column pair (2i, 2i+1) of tokens 0..15, two
 * bf16 each (64 bytes). So C[m][n] is out[token n][row m], stored back
 * after the last column.
 *
 * Exact (the "amx" kernel, AUTO on a CPU that has it). The weights are
 * bf16 already; x is f32. Each x value is split into three bf16 parts,
 *     hi  = x with its low 16 bits cleared        (8 significant bits)
 *     mid = (x - hi) with its low 16 bits cleared  (the next 8)
 *     lo  = x - hi - mid                           (the last 8, exactly)
 * so hi + mid + lo == x, every subtraction is exact, and every product of
 * two bf16 values is exact in f32: W x is summed in f32 from exact
 * products, as the FMA kernels do, in another order (three tdpbf16ps per
 * step, one per part, into the same sums). Not quite bit for bit the same
 * as the others: the CPU flushes subnormals here (bf16 inputs below
 * 1.2e-38 count as 0, and so do sums that small), which changes a product
 * by less than 1.2e-38 times the other factor. NaN and Inf parts: a
 * non-finite x is its own hi, with mid = lo = 0. An Inf weight times a
 * zero part would make a NaN where IEEE arithmetic makes an Inf, so a NaN
 * in an output is recomputed in plain f32 (same result if IEEE says NaN).
 *
 * Rounded (the "amxbf16" kernel, --bf16-dot on a CPU that has it): x is
 * rounded to bf16, nearest even, one part; the bf16-dot kernel's
 * arithmetic at AMX speed.
 *
 * Registers: C tiles 0-3 hold 2 row groups x 2 token groups (32 rows x 32
 * tokens), A tiles 4-5 the two row groups' weights, B tiles 6-7 the two
 * token groups' x (one part at a time). A step of 32 columns is 2 A loads,
 * 2 B loads per part and 4 tdpbf16ps per part (with few tokens, one row
 * group: see below). When T fits one token group the second C column is
 * skipped, and the rows left over (rows % 16) get a
 * second tile configuration with fewer rows; columns past the last
 * multiple of 32 are added one by one at the end, as chunk_run does.
 *
 * Blocking: the columns go by in blocks of AMX_KC (the whole row for the
 * 1B shape; between blocks the sums wait in a per-thread buffer). With one
 * token group pair (T <= 32) each thread runs its own contiguous run of
 * row groups, one group at a time (C tiles 0 and 1): the weights stream
 * once, from memory, while the packed x of the block (384 KB with three
 * parts) stays in L2. A tile load of weights from memory is slow (16 rows,
 * 16 pages: ~340 cycles for two tiles against ~40 from L2), and 16 rows in
 * flight stream faster than 32 (the 1B shape's 17-token products: 163-175
 * ms with row group pairs, 143-157 ms with single groups; 8-row groups,
 * 185-212). With more tokens the threads take chunks of up to
 * AMX_CHUNK_MAX rows from a shared counter, and each token group pair
 * walks all the chunk's row pairs, whose weights stay in L2 for the next
 * pair. Measured on 2 cores, 8192 x 2048 at 512 tokens: 540 GFLOP/s
 * (AVX-512 tiles: 205); column blocks of 256 or 512 (x in L1, the sums to
 * memory and back every block) were slower, 315 and 406. Prefetching the
 * weights (into L1 or L2, 2 to 16 steps ahead, or the next row group a row
 * at a time, or touching it with plain loads) made the 17-token products
 * slower, not faster; nor did four A tiles in turn (tiles 2-5, free with
 * one row group), which let the next steps' loads start before this
 * step's products end: the loads from memory are the limit, not waiting
 * for a tile. Nor did copying 4-16 steps of a row group's weights into
 * L1 with vector loads first (the rows read in bursts). The 1B shape's
 * products stream 20-22 GB/s of weights at 5 to 16 tokens (one token
 * group) but 15-17 GB/s at 17 to 32 (two): 122 ms at 16 tokens, 165 at
 * 17; running the two token groups one after the other, the second on
 * weights left in L2, was slower still (186-198 ms).
 *
 * Linux hands out the tile registers only to a process that asks
 * (arch_prctl ARCH_REQ_XCOMP_PERM); have_amx asks once. */

#define AMX __attribute__((target("avx512f,avx512bw,avx512bf16,amx-tile,amx-bf16")))

enum {
	AMX_TILE_BYTES = 1024,   /* one tile: 16 rows x 64 bytes */
	AMX_KC = 2048,           /* columns per block */
	AMX_CHUNK_MAX = 512,     /* rows per chunk at most (T > 32): 2 MB of weights
	                            per column block, in L2 */
	AMX_MIN_T = 5,           /* fewer tokens: the AVX-512 tiles, as fast there (memory bound) */
};

/* The tile configuration tileloadconfig takes (palette 1). */
struct amx_config {
	uint8_t palette, start_row, reserved[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};

/* All eight tiles 64 bytes wide; A and C tiles (0-5) `rows` rows, B tiles
 * (6-7) 16 rows of column pairs. */
AMX static void amx_configure(int rows)
{
	struct amx_config c;
	memset(&c, 0, sizeof c);
	c.palette = 1;
	for (int i = 0; i < 8; i++) {
		c.colsb[i] = 64;
		c.rows[i] = (uint8_t)(i < 6 ? rows : 16);
	}
	/* GCC's ldtilecfg tells the compiler it reads 8 of the 64 bytes: make
	 * sure every store to c is done before it */
	__asm__ volatile("" : : "r"(&c) : "memory");
	_tile_loadconfig(&c);
}

/* 16 values of x as bf16 parts (in the low 16 bits of each lane): with
 * parts = 3 the exact split, with 1 x rounded to nearest even. */
AMX static inline __attribute__((always_inline)) void amx_split16(__m512i part[3], __m512 x, int parts)
{
	if (parts == 1) { /* vcvtneps2bf16: nearest even; NaN stays a NaN */
		part[0] = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(x));
		return;
	}
	const __m512i u = _mm512_castps_si512(x);
	const __m512i high = _mm512_set1_epi32((int)0xffff0000u), expo = _mm512_set1_epi32(0x7f800000);
	const __mmask16 finite = _mm512_cmpneq_epi32_mask(_mm512_and_si512(u, expo), expo);
	const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), expo);
	const __m512i hi = _mm512_and_si512(u, high);
	const __m512 r1 = _mm512_sub_ps(x, _mm512_castsi512_ps(hi)); /* exact */
	const __m512i mid = _mm512_and_si512(_mm512_castps_si512(r1), high);
	const __m512 r2 = _mm512_sub_ps(r1, _mm512_castsi512_ps(mid)); /* exact, 8 bits */
	/* a NaN is made quiet, so that a payload in its low bits alone does
	 * not leave an Inf behind */
	part[0] = _mm512_mask_or_epi32(_mm512_srli_epi32(hi, 16), nan, _mm512_srli_epi32(hi, 16),
	                               _mm512_set1_epi32(0x40));
	part[1] = _mm512_maskz_srli_epi32(finite, mid, 16);
	part[2] = _mm512_maskz_srli_epi32(finite, _mm512_castps_si512(r2), 16);
}

/* Pack x for the B tiles: for each group of 32 columns g and token group j
 * (16 tokens, zeros past T), `parts` tiles, tile p of (g, j) at
 * xs + ((g * nt + j) * parts + p) * 512: row i holds columns 2i and 2i+1
 * of tokens 0..15 (a token's 16 column pairs are scattered down a column
 * of the tile). Every thread of the region packs a share. */
AMX static void amx_pack_x(uint16_t *xs, const float *x, size_t T, size_t cols, size_t ng,
                           size_t nt, int parts)
{
	const __m512i down = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	                                                          12, 13, 14, 15),
	                                        _mm512_set1_epi32(16)); /* row i: dword 16 i */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
	for (size_t g = 0; g < ng; g++)
		for (size_t j = 0; j < nt; j++) {
			uint16_t *tiles = xs + (g * nt + j) * (size_t)parts * 512;
			for (size_t n = 0; n < 16; n++) {
				const size_t t = j * 16 + n;
				__m512i a[3], b[3];
				if (t < T) {
					amx_split16(a, _mm512_loadu_ps(x + t * cols + g * 32), parts);
					amx_split16(b, _mm512_loadu_ps(x + t * cols + g * 32 + 16), parts);
				} else {
					a[0] = a[1] = a[2] = b[0] = b[1] = b[2] = _mm512_setzero_si512();
				}
				for (int p = 0; p < parts; p++) {
					/* 32 bf16 in column order = 16 column pairs, as dwords */
					__m512i pairs = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(a[p])),
					                                   _mm512_cvtepi32_epi16(b[p]), 1);
					_mm512_i32scatter_epi32((int *)(tiles + (size_t)p * 512) + n, down, pairs, 4);
				}
			}
		}
}

/* steps x 32 columns into the C tiles: w is the first row group's
 * weights at the first column (the second group 16 rows on), xb the first
 * token group's first part tile, xg the bytes from one group of 32 columns
 * to the next in the packed x. R2 / T2: the second row / token group. */
AMX static inline __attribute__((always_inline)) void amx_steps(const unsigned char *w, size_t stride,
                                                                const unsigned char *xb, size_t xg,
                                                                size_t steps, int R2, int T2, int P)
{
	const unsigned char *w1 = w + 16 * stride;
	for (size_t s = 0; s < steps; s++, w += 64, w1 += 64, xb += xg) {
		_tile_loadd(4, w, (long)stride);
		if (R2)
			_tile_loadd(5, w1, (long)stride);
		for (int p = 0; p < P; p++) {
			_tile_loadd(6, xb + (size_t)p * AMX_TILE_BYTES, 64);
			if (T2)
				_tile_loadd(7, xb + (size_t)(P + p) * AMX_TILE_BYTES, 64);
			_tile_dpbf16ps(0, 4, 6);
			if (T2)
				_tile_dpbf16ps(1, 4, 7);
			if (R2)
				_tile_dpbf16ps(2, 5, 6);
			if (R2 && T2)
				_tile_dpbf16ps(3, 5, 7);
		}
	}
}

#define AMX_STEPS_CASE(R2, T2, P)                                                         \
	case (R2) * 4 + (T2) * 2 + ((P) == 3):                                                 \
		amx_steps(w, stride, xb, xg, steps, R2, T2, P);                                    \
		break;

AMX static void amx_steps_any(const unsigned char *w, size_t stride, const unsigned char *xb,
                              size_t xg, size_t steps, int R2, int T2, int P)
{
	switch (R2 * 4 + T2 * 2 + (P == 3)) {
	AMX_STEPS_CASE(0, 0, 1) AMX_STEPS_CASE(0, 0, 3) AMX_STEPS_CASE(0, 1, 1) AMX_STEPS_CASE(0, 1, 3)
	AMX_STEPS_CASE(1, 0, 1) AMX_STEPS_CASE(1, 0, 3) AMX_STEPS_CASE(1, 1, 1) AMX_STEPS_CASE(1, 1, 3)
	}
}

/* The C tiles of a row group pair and token group pair: zeroed, or loaded
 * from (and stored to) the 4 KB at c (tile 2 R + T at c + (2 R + T) KB). */
AMX static void amx_c_zero(void)
{
	_tile_zero(0);
	_tile_zero(1);
	_tile_zero(2);
	_tile_zero(3);
}

AMX static void amx_c_load(const unsigned char *c)
{
	_tile_loadd(0, c, 64);
	_tile_loadd(1, c + AMX_TILE_BYTES, 64);
	_tile_loadd(2, c + 2 * AMX_TILE_BYTES, 64);
	_tile_loadd(3, c + 3 * AMX_TILE_BYTES, 64);
}

AMX static void amx_c_store(unsigned char *c)
{
	_tile_stored(0, c, 64);
	_tile_stored(1, c + AMX_TILE_BYTES, 64);
	_tile_stored(2, c + 2 * AMX_TILE_BYTES, 64);
	_tile_stored(3, c + 3 * AMX_TILE_BYTES, 64);
}

AMX static void amx_release(void) { _tile_release(); }

/* Stored row s's product with token t's x, one column at a time from
 * column c0, in f32: the columns past the last multiple of 32, and the
 * whole row when the tiles' sum came out NaN (see above). */
static float amx_row_dot(const struct ld_weight *w, size_t s, const float *xt, size_t c0, int parts)
{
	const unsigned char *row = (const unsigned char *)w->data + s * w->cols * 2;
	float wt[SCALAR_BLOCK], sum = 0.0f;
	for (size_t k0 = c0; k0 < w->cols; k0 += SCALAR_BLOCK) {
		const size_t n = w->cols - k0 < SCALAR_BLOCK ? w->cols - k0 : SCALAR_BLOCK;
		widen(wt, row + 2 * k0, LD_BF16, n, ld_dequant);
		for (size_t c = 0; c < n; c++)
			sum += wt[c] * x_as_multiplied(xt[k0 + c], parts == 1);
	}
	return sum;
}

/* The sums of 16 stored rows from s0 (nr of them) and 16 tokens from t0
 * (nt of them) in c (16 x 16 f32, row m token n at c[16 m + n]) to out,
 * at each row's logical place, with the tail columns added. */
static void amx_put(float *out, const float *c, const struct ld_weight *w, const uint32_t *logical,
                    const float *x, size_t T, size_t s0, size_t nr, size_t t0, size_t colsg, int parts)
{
	const size_t rows = w->rows, cols = w->cols;
	for (size_t m = 0; m < nr; m++) {
		const size_t s = s0 + m, r = logical ? logical[s] : s;
		for (size_t n = 0; n < 16 && t0 + n < T; n++) {
			const float *xt = x + (t0 + n) * cols;
			float v = c[16 * m + n];
			if (colsg < cols)
				v += amx_row_dot(w, s, xt, colsg, parts);
			if (isnan(v))
				v = amx_row_dot(w, s, xt, 0, parts);
			out[(t0 + n) * rows + r] = v;
		}
	}
}

/* out = x W^T for BF16 weights of 32 columns or more on AMX, x split into
 * `parts` (3: exact; 1: rounded to bf16). Returns 0 if the scratch cannot
 * be allocated or row_map is not a permutation. */
AMX static int matmul_amx(float *out, const float *x, const struct ld_weight *w, size_t T, int parts)
{
	const size_t rows = w->rows, cols = w->cols, colsg = cols & ~(size_t)31, ng = colsg / 32;
	const size_t nt = (T + 15) / 16, ngroups = (rows + 15) / 16, stride = cols * 2;
	const size_t tile_set = (size_t)parts * AMX_TILE_BYTES; /* one (g, j)'s parts */
	/* Column blocks and chunks (see above); a chunk is whole row groups. */
	const int few = nt <= 2;
	size_t kc = AMX_KC;
	if (kc > colsg)
		kc = colsg;
	const size_t nth = (size_t)max_threads();
	size_t chunk_groups = 1;
	if (!few) {
		size_t want = rows / (2 * nth) / 32 * 2; /* two chunks a thread at least */
		chunk_groups = want < 2 ? 2 : want > AMX_CHUNK_MAX / 16 ? AMX_CHUNK_MAX / 16 : want;
	}
	const size_t nchunks = (ngroups + chunk_groups - 1) / chunk_groups;
	const int blocks = kc < colsg;

	if (nt > SIZE_MAX / AMX_TILE_BYTES / 4 / (ng + 1) || chunk_groups * nt > SIZE_MAX / 8192 / nth)
		return 0;
	const size_t xs_bytes = line_up(ng * nt * tile_set);
	/* a thread's C tiles between column blocks: 4 for each row group (the
	 * first of a pair, or one alone) and token group pair */
	const size_t pairs = (nt + 1) / 2, part_per = chunk_groups * pairs * 4 * AMX_TILE_BYTES;
	const size_t part_bytes = blocks ? line_up(nth * part_per) : 0;
	const size_t map_bytes = w->row_map ? line_up(rows * sizeof(uint32_t)) : 0;
	const size_t scratch_bytes = xs_bytes + part_bytes + map_bytes;
	unsigned char *scratch = ld_pool_take(scratch_bytes, 0);
	if (!scratch)
		return 0;
	uint16_t *xs = (uint16_t *)scratch;
	unsigned char *part = scratch + xs_bytes;
	uint32_t *logical = map_bytes ? (uint32_t *)(scratch + xs_bytes + part_bytes) : NULL;
	if (logical) { /* stored row s is logical row logical[s]; a map that is
	                  not a permutation goes to the other tiles */
		memset(logical, 0xff, rows * sizeof *logical);
		for (size_t r = 0; r < rows; r++) {
			if (w->row_map[r] >= rows || logical[w->row_map[r]] != UINT32_MAX) {
				ld_pool_give(scratch, scratch_bytes);
				return 0;
			}
			logical[w->row_map[r]] = (uint32_t)r;
		}
	}

	atomic_size_t grab = 0;
#ifdef _OPENMP
#pragma omp parallel
#endif
	{
		amx_pack_x(xs, x, T, cols, ng, nt, parts);
		/* tileloadd's intrinsic does not tell the compiler it reads memory:
		 * the packed x is stored before any tile is loaded from it */
		__asm__ volatile("" : : "r"(xs) : "memory");
		unsigned char *mine = part + thread_num() * part_per;
		float cbuf[4][256];
		int configured = 0; /* rows per tile now (0: not yet) */
		const size_t th = thread_num(), nteam = (size_t)team_size(), per_run = (nchunks + nteam - 1) / nteam;
		const size_t run_end = few ? ((th + 1) * per_run < nchunks ? (th + 1) * per_run : nchunks) : nchunks;
		size_t ch = few ? th * per_run : atomic_fetch_add_explicit(&grab, 1, memory_order_relaxed);
		for (; ch < run_end; ch = few ? ch + 1 : atomic_fetch_add_explicit(&grab, 1, memory_order_relaxed)) {
			const size_t g0 = ch * chunk_groups;
			const size_t g1 = g0 + chunk_groups < ngroups ? g0 + chunk_groups : ngroups;
			for (size_t k0 = 0; k0 < colsg; k0 += kc) {
				const size_t k1 = colsg - k0 < kc ? colsg : k0 + kc;
				const int first = k0 == 0, last = k1 == colsg;
				for (size_t j = 0; j < nt; j += 2) {
					const int T2 = j + 1 < nt;
					for (size_t g = g0; g < g1;) {
						/* a pair of full row groups, or one group (the last
						 * may have fewer than 16 rows) */
						const size_t nr0 = rows - g * 16 < 16 ? rows - g * 16 : 16;
						const int R2 = g + 1 < g1 && rows - (g + 1) * 16 >= 16 && nr0 == 16;
						assert(!few || !R2);
						if (configured != (int)nr0) {
							amx_configure((int)nr0);
							configured = (int)nr0;
						}
						unsigned char *c = mine + ((g - g0) * pairs + j / 2) * 4 * AMX_TILE_BYTES;
						if (first)
							amx_c_zero();
						else
							amx_c_load(c);
						amx_steps_any((const unsigned char *)w->data + g * 16 * stride + k0 * 2, stride,
						              (const unsigned char *)xs + (k0 / 32 * nt + j) * tile_set,
						              nt * tile_set, (k1 - k0) / 32, R2, T2, parts);
						if (last) {
							amx_c_store((unsigned char *)cbuf);
							for (int rg = 0; rg <= R2; rg++)
								for (int tg = 0; tg <= T2; tg++)
									amx_put(out, cbuf[2 * rg + tg], w, logical, x, T,
									        (g + (size_t)rg) * 16, rg ? 16 : nr0,
									        (j + (size_t)tg) * 16, colsg, parts);
						} else {
							amx_c_store(c);
						}
						g += R2 ? 2 : 1;
					}
				}
			}
		}
		if (configured)
			amx_release();
	}
	ld_pool_give(scratch, scratch_bytes);
	return 1;
}

/* Asked of the CPU on every call: cheap, and no global state. AVX2, FMA
 * and AVX-512F through the compiler (which also checks that the OS saves
 * the ymm / zmm registers); F16C through cpuid, as not every compiler's
 * builtin knows it. */
static int have_avx2(void)
{
	unsigned eax, ebx, ecx, edx;
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	       __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C);
}

static int have_avx512(void) { return __builtin_cpu_supports("avx512f"); }
static int have_avx512_bf16(void) { return have_avx512() && __builtin_cpu_supports("avx512bf16"); }

/* AMX-BF16: the CPU has it (cpuid leaf 7: AMX-TILE, AMX-BF16) and Linux
 * lets this process use the tiles (arch_prctl; asked once, the answer
 * kept: granting is for the whole process and cannot be taken back). */
static int have_amx(void)
{
	static atomic_int known; /* 0: not asked yet, 1: yes, 2: no */
	int k = atomic_load_explicit(&known, memory_order_acquire);
	if (k)
		return k == 1;
	unsigned eax, ebx, ecx, edx;
	int ok = have_avx512_bf16() && __builtin_cpu_supports("avx512bw") &&
	         __get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) && (edx & (1u << 24)) && (edx & (1u << 22));
#if defined(__linux__) && defined(SYS_arch_prctl)
	enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };
	ok = ok && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
#else
	ok = 0;
#endif
	atomic_store_explicit(&known, ok ? 1 : 2, memory_order_release);
	return ok;
}
#else
static int have_avx2(void) { return 0; }
static int have_avx512(void) { return 0; }
static int have_avx512_bf16(void) { return 0; }
static int have_amx(void) { return 0; }
#endif /* LD_HAVE_X86_PATHS */

/* ---- dispatch ------------------------------------------------------------ */

int ld_kernel_supported(enum ld_kernel k)
{
	switch (k) {
	case LD_KERNEL_AUTO:
	case LD_KERNEL_SCALAR: return 1;
	case LD_KERNEL_AVX2: return have_avx2();
	case LD_KERNEL_AVX512: return have_avx512();
	case LD_KERNEL_AVX512_BF16: return have_avx512_bf16();
	case LD_KERNEL_AMX:
	case LD_KERNEL_AMX_BF16: return have_amx();
	}
	return 0;
}

const char *ld_kernel_name(enum ld_kernel k)
{
	switch (k) {
	case LD_KERNEL_AUTO: return "auto";
	case LD_KERNEL_SCALAR: return "scalar";
	case LD_KERNEL_AVX2: return "avx2";
	case LD_KERNEL_AVX512: return "avx512";
	case LD_KERNEL_AVX512_BF16: return "avx512bf16";
	case LD_KERNEL_AMX: return "amx";
	case LD_KERNEL_AMX_BF16: return "amxbf16";
	}
	return "?";
}

/* The kernels, newest first ("amxbf16, amx, ..., scalar"), all of them or
 * those this CPU runs, for messages. */
static const char *kernel_list(char *buf, size_t n, int supported_only)
{
	size_t used = 0;
	buf[0] = '\0';
	for (int i = LD_KERNEL_LAST; i > LD_KERNEL_AUTO && used < n; i--)
		if (!supported_only || ld_kernel_supported((enum ld_kernel)i)) {
			int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", ld_kernel_name((enum ld_kernel)i));
			used += w > 0 ? (size_t)w : 0;
		}
	return buf;
}

enum ld_status ld_kernel_from_env(enum ld_kernel *k, struct ld_err *err)
{
	const char *s = getenv("LLAMADBG_KERNEL");
	char list[128];
	*k = LD_KERNEL_AUTO;
	if (!s || !*s)
		return LD_OK;
	for (int i = LD_KERNEL_AUTO; i <= LD_KERNEL_LAST; i++)
		if (strcmp(s, ld_kernel_name((enum ld_kernel)i)) == 0) {
			if (!ld_kernel_supported((enum ld_kernel)i))
				return ld_fail(err, LD_ERR_USAGE, "LLAMADBG_KERNEL=%s: this CPU cannot run it (it can run: %s)",
				               s, kernel_list(list, sizeof list, 1));
			*k = (enum ld_kernel)i;
			return LD_OK;
		}
	return ld_fail(err, LD_ERR_USAGE, "LLAMADBG_KERNEL=%s: no such kernel (expected %s or auto)", s,
	               kernel_list(list, sizeof list, 0));
}

int ld_kernel_rounds_x(const char *name)
{
	return name && (strcmp(name, ld_kernel_name(LD_KERNEL_AVX512_BF16)) == 0 ||
	                strcmp(name, ld_kernel_name(LD_KERNEL_AMX_BF16)) == 0);
}

enum ld_kernel ld_matmul_kernel(void)
{
	enum ld_kernel k;
	struct ld_err err;
	if (ld_kernel_from_env(&k, &err) == LD_OK && k != LD_KERNEL_AUTO)
		return k;
	return have_amx()      ? LD_KERNEL_AMX
	       : have_avx512() ? LD_KERNEL_AVX512
	       : have_avx2()   ? LD_KERNEL_AVX2
	                       : LD_KERNEL_SCALAR;
}

enum ld_kernel ld_bf16_dot_kernel(void)
{
	return have_amx() ? LD_KERNEL_AMX_BF16 : have_avx512_bf16() ? LD_KERNEL_AVX512_BF16 : LD_KERNEL_AUTO;
}

void ld_matmul_with(float *out, const float *x, const struct ld_weight *w, size_t T,
                    enum ld_kernel k)
{
	assert(out && w && (x || T == 0) && (w->data || w->rows * w->cols == 0));
	assert(weight_ok(w));
	if (T == 0 || w->rows == 0)
		return;
	if (k == LD_KERNEL_AUTO)
		k = ld_matmul_kernel();
#ifdef LD_HAVE_X86_PATHS
	/* AMX takes BF16 weights with whole groups of 32 columns and a few
	 * tokens at least; every other product goes to the AVX-512 tiles of
	 * the same arithmetic (exact, or x rounded to bf16). The scalar path
	 * also catches a failed scratch allocation. */
	if (k == LD_KERNEL_AMX || k == LD_KERNEL_AMX_BF16) {
		const int rounded = k == LD_KERNEL_AMX_BF16;
		if (have_amx() && w->dtype == LD_BF16 && w->cols >= 32 && T >= AMX_MIN_T &&
		    matmul_amx(out, x, w, T, rounded ? 1 : 3))
			return;
		k = rounded ? LD_KERNEL_AVX512_BF16 : LD_KERNEL_AVX512;
	}
	if (k == LD_KERNEL_AVX512_BF16 && have_avx512_bf16() &&
	    matmul_blocked(&isa_avx512_bf16, out, x, w, T))
		return;
	if (k == LD_KERNEL_AVX512 && have_avx512() && matmul_blocked(&isa_avx512, out, x, w, T))
		return;
	if (k == LD_KERNEL_AVX2 && have_avx2() && matmul_blocked(&isa_avx2, out, x, w, T))
		return;
#endif
	matmul_scalar(out, x, w, T);
}

void ld_matmul(float *out, const float *x, const struct ld_weight *w, size_t T)
{
	ld_matmul_with(out, x, w, T, LD_KERNEL_AUTO);
}
