/* matmul_bench.c - how fast is ld_matmul on a real model's matrices?
 *
 *   matmul_bench MODEL [-t T[,T...]] [-r REPS]
 *
 * Loads MODEL as the engine does (a Hugging Face or Meta directory, or a
 * GGUF file with any of its block types: mapped, never copied, 2 MB pages
 * where the kernel can), and for each T (default 17 and 1) times ld_matmul
 * on every projection of every layer in forward order, plus the output
 * layer (lm_head, or the tied embedding), as one forward pass would call
 * them. Prints, per kind of matrix, the time per
 * pass (summed over layers, median of REPS passes), GFLOP/s, the share of
 * the fp32 FMA peak (nominal: 197 GFLOP/s on 2 EPYC cores, PEAK_GFLOPS
 * overrides; and the peak of the kernel's own instructions as measured on
 * this machine at start-up, since a shared or throttled machine can be
 * far below nominal: ymm FMAs for avx2, zmm FMAs for avx512, bf16 dot
 * products for avx512bf16, AMX tiles for amx and amxbf16; LLAMADBG_KERNEL
 * picks the kernel) and the weight bytes
 * streamed per second. The first pass over the mapping
 * (page faults, maybe disk) is timed separately and not in the medians.
 * A few outputs of each kind are checked against a double-precision sum.
 *
 * Build (tests/bench/run.sh does it):
 *   cc -O2 -fopenmp -std=c11 -D_GNU_SOURCE -Icore tests/bench/matmul_bench.c \
 *      build/libllamadbg.a $(pkg-config --libs jansson libpcre2-8) -fopenmp -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "dtype.h"
#include "matmul.h"
#include "model.h"

enum { N_KINDS = 8, MAX_LAYERS = 256 };
static const char *const kind_names[N_KINDS] = {
	"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head",
};

struct model {
	int n_layers;
	/* w[kind][layer]; the output layer is w[N_KINDS-1][0] */
	struct ld_weight w[N_KINDS][MAX_LAYERS];
	struct ld_model lm;
};

static void die(const char *msg, const char *what)
{
	fprintf(stderr, "matmul_bench: %s: %s\n", what, msg);
	exit(1);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The model's matrices, as the engine loads them (any format it reads:
 * Hugging Face, Meta, GGUF with its block types). */
static void load(struct model *m, const char *dir)
{
	struct ld_err err = {0};
	if (ld_model_load(&m->lm, dir, &err) != LD_OK)
		die(err.msg, dir);
	const struct ld_model *lm = &m->lm;
	if (lm->cfg.n_layers < 1 || lm->cfg.n_layers > MAX_LAYERS)
		die("no layers, or more than the bench takes", dir);
	m->n_layers = lm->cfg.n_layers;
	for (int l = 0; l < m->n_layers; l++) {
		const struct ld_layer *L = &lm->layers[l];
		const struct ld_weight *w[N_KINDS - 1] = {&L->wq, &L->wk, &L->wv, &L->wo,
		                                          &L->w1, &L->w3, &L->w2};
		for (int k = 0; k < N_KINDS - 1; k++)
			m->w[k][l] = *w[k];
	}
	m->w[N_KINDS - 1][0] = lm->score.data ? lm->score : lm->output;
}

static int layers_of(const struct model *m, int k) { return k == N_KINDS - 1 ? 1 : m->n_layers; }

/* out[t][r] against a double sum, for a few (t, r). Returns max rel. error.
 * The bf16-dot kernels multiply BF16 weights by x rounded to bf16. */
static double spot_check(const float *out, const float *x, const struct ld_weight *w, size_t T)
{
	const int round_x = ld_kernel_rounds_x(ld_kernel_name(ld_matmul_kernel())) && w->dtype == LD_BF16;
	double worst = 0.0;
	float *row = malloc(w->cols * sizeof *row);
	for (int i = 0; i < 4 && row; i++) {
		size_t t = (size_t)i * 7 % T, r = ((size_t)i * 2654435761u) % w->rows;
		ld_weight_row(row, w, r);
		double s = 0.0, mag = 0.0;
		for (size_t c = 0; c < w->cols; c++) {
			float xc = x[t * w->cols + c];
			double p = (double)row[c] * (round_x ? ld_bf16_to_f32(ld_f32_to_bf16(xc)) : xc);
			s += p;
			mag += fabs(p);
		}
		double e = fabs(out[t * w->rows + r] - s) / (mag + 1e-30);
		if (!(e <= worst))
			worst = e;
	}
	free(row);
	return worst;
}

/* The peak of the instructions the kernel multiplies with, on this
 * machine right now, all threads, in GFLOP/s of f32 multiply-adds: 12
 * independent chains per thread (enough to cover the latency) of 8-lane
 * FMAs (avx2, and the scalar kernel's yardstick), 16-lane FMAs (avx512)
 * or 16-lane bf16 dot products, two multiply-adds a lane (avx512bf16);
 * for AMX, 4 independent tdpbf16ps (16 x 16 x 32 multiply-adds each) a
 * step, and for the exact amx kernel a third of that, since each product
 * of x takes three (one per bf16 part of x; T = 17 also fills only 17 of
 * the 32 token columns of its tiles); best of several short runs. Reported next to the nominal peak because a
 * shared or throttled machine can be far from it. 0 when the CPU lacks
 * them. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2,fma"))) static double chains_avx2(long n)
{
	__m256 a[12], m = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
	for (int j = 0; j < 12; j++)
		a[j] = _mm256_set1_ps((float)j);
	for (long i = 0; i < n; i++)
#pragma GCC unroll 12
		for (int j = 0; j < 12; j++)
			a[j] = _mm256_fmadd_ps(a[j], m, b);
	float s = 0;
	for (int j = 0; j < 12; j++)
		s += a[j][0];
	return s;
}

__attribute__((target("avx512f"))) static double chains_avx512(long n)
{
	__m512 a[12], m = _mm512_set1_ps(0.999f), b = _mm512_set1_ps(0.001f);
	for (int j = 0; j < 12; j++)
		a[j] = _mm512_set1_ps((float)j);
	for (long i = 0; i < n; i++)
#pragma GCC unroll 12
		for (int j = 0; j < 12; j++)
			a[j] = _mm512_fmadd_ps(a[j], m, b);
	float s = 0;
	for (int j = 0; j < 12; j++)
		s += _mm512_reduce_add_ps(a[j]);
	return s;
}

__attribute__((target("avx512f,avx512bf16"))) static double chains_bf16(long n)
{
	__m512 a[12];
	const __m512bh m = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.001f), _mm512_set1_ps(0.001f));
	for (int j = 0; j < 12; j++)
		a[j] = _mm512_set1_ps((float)j);
	for (long i = 0; i < n; i++)
#pragma GCC unroll 12
		for (int j = 0; j < 12; j++)
			a[j] = _mm512_dpbf16_ps(a[j], m, m);
	float s = 0;
	for (int j = 0; j < 12; j++)
		s += _mm512_reduce_add_ps(a[j]);
	return s;
}

/* The tile configuration for chains_amx: 8 tiles of 16 x 64 bytes. */
struct amx_cfg {
	unsigned char palette, start_row, reserved[14];
	unsigned short colsb[16];
	unsigned char rows[16];
};

__attribute__((target("amx-tile,amx-bf16"))) static double chains_amx(long n)
{
	static const unsigned short ab[16 * 32]; /* zeros: what is summed does not matter */
	float c[16 * 16];
	struct amx_cfg cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.palette = 1;
	for (int i = 0; i < 8; i++) {
		cfg.colsb[i] = 64;
		cfg.rows[i] = 16;
	}
	__asm__ volatile("" : : "r"(&cfg) : "memory"); /* ldtilecfg reads all 64 bytes */
	_tile_loadconfig(&cfg);
	_tile_zero(0);
	_tile_zero(1);
	_tile_zero(2);
	_tile_zero(3);
	_tile_loadd(4, ab, 64);
	_tile_loadd(5, ab, 64);
	_tile_loadd(6, ab, 64);
	_tile_loadd(7, ab, 64);
	for (long i = 0; i < n; i++) { /* 4 independent sums a step */
		_tile_dpbf16ps(0, 4, 6);
		_tile_dpbf16ps(1, 4, 7);
		_tile_dpbf16ps(2, 5, 6);
		_tile_dpbf16ps(3, 5, 7);
	}
	_tile_stored(0, c, 64);
	_tile_release();
	return c[0];
}

static double measure_peak(enum ld_kernel k)
{
	double (*chains)(long) = NULL;
	double flop_per_op = 0; /* per instruction */
	/* ld_kernel_supported asks Linux for the tiles first */
	if ((k == LD_KERNEL_AMX || k == LD_KERNEL_AMX_BF16) && ld_kernel_supported(k))
		/* measure_peak counts 12 ops a step; chains_amx does 4 tile ops */
		chains = chains_amx, flop_per_op = 4.0 * 16 * 16 * 32 * 2 / 12 / (k == LD_KERNEL_AMX ? 3 : 1);
	else if (k == LD_KERNEL_AVX512_BF16 && ld_kernel_supported(k))
		chains = chains_bf16, flop_per_op = 64;
	else if (k == LD_KERNEL_AVX512 && ld_kernel_supported(k))
		chains = chains_avx512, flop_per_op = 32;
	else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		chains = chains_avx2, flop_per_op = 16;
	if (!chains)
		return 0.0;
	const long n = (long)(2000000 / (flop_per_op / 16)); /* 384 MFLOP per thread */
	double best = 0.0, sink = 0.0;
	for (int rep = 0; rep < 40; rep++) { /* ~0.2 s: outlasts a slow moment */
		int threads = 1;
		double t0 = now();
#ifdef _OPENMP
#pragma omp parallel reduction(+ : sink)
		{
			sink += chains(n);
#pragma omp single
			threads = omp_get_num_threads();
		}
#else
		sink += chains(n);
#endif
		double g = threads * (double)n * 12 * flop_per_op / (now() - t0) / 1e9;
		best = g > best ? g : best;
	}
	return sink == 12345.0 ? 0.0 : best; /* keeps sink alive */
}
#else
static double measure_peak(enum ld_kernel k)
{
	(void)k;
	return 0.0;
}
#endif

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void bench(const struct model *m, size_t T, int reps, double peak, double mpeak)
{
	size_t max_rows = 0, max_cols = 0;
	for (int k = 0; k < N_KINDS; k++) {
		if (m->w[k][0].rows > max_rows)
			max_rows = m->w[k][0].rows;
		if (m->w[k][0].cols > max_cols)
			max_cols = m->w[k][0].cols;
	}
	float *x = malloc(T * max_cols * sizeof *x), *out = malloc(T * max_rows * sizeof *out);
	double *times = calloc((size_t)(reps + 1) * N_KINDS, sizeof *times);
	if (!x || !out || !times)
		die("out of memory", "bench");
	uint64_t s = 88172645463325252ull;
	for (size_t i = 0; i < T * max_cols; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
	}

	/* Pass 0 touches every page of the mapping; passes 1..reps are timed. */
	double first = 0.0, check = 0.0;
	for (int p = 0; p <= reps; p++) {
		double t_pass = now();
		for (int l = 0; l < m->n_layers; l++)
			for (int k = 0; k < N_KINDS - 1; k++) {
				double t0 = now();
				ld_matmul(out, x, &m->w[k][l], T);
				times[p * N_KINDS + k] += now() - t0;
				if (p == 0 && l == 0) {
					double e = spot_check(out, x, &m->w[k][l], T);
					check = e > check ? e : check;
				}
			}
		double t0 = now();
		ld_matmul(out, x, &m->w[N_KINDS - 1][0], T);
		times[p * N_KINDS + N_KINDS - 1] += now() - t0;
		if (p == 0) {
			double e = spot_check(out, x, &m->w[N_KINDS - 1][0], T);
			check = e > check ? e : check;
			first = now() - t_pass;
		}
	}

	printf("\nT = %zu tokens, %d threads, kernel %s, median of %d passes (first pass: %.3f s)\n",
	       T,
#ifdef _OPENMP
	       omp_get_max_threads(),
#else
	       1,
#endif
	       ld_kernel_name(ld_matmul_kernel()), reps, first);
	printf("%-10s %-14s %6s %9s %10s %9s %7s %7s %8s\n", "matrix", "shape", "calls", "GFLOP",
	       "ms/pass", "GFLOP/s", "%peak", "%meas", "GB/s W");
	double tot_flop = 0, tot_time = 0, tot_bytes = 0, *med = malloc((size_t)reps * sizeof *med);
	for (int k = 0; k < N_KINDS; k++) {
		const struct ld_weight *w = &m->w[k][0];
		int n = layers_of(m, k);
		for (int p = 0; p < reps; p++)
			med[p] = times[(p + 1) * N_KINDS + k];
		qsort(med, (size_t)reps, sizeof *med, cmp_double);
		double t = reps % 2 ? med[reps / 2] : 0.5 * (med[reps / 2 - 1] + med[reps / 2]);
		double flop = 2.0 * (double)T * (double)w->rows * (double)w->cols * n;
		double bytes = (double)ld_dtype_bytes(w->dtype, w->rows * w->cols) * n;
		char shape[32];
		snprintf(shape, sizeof shape, "%zux%zu", w->rows, w->cols);
		printf("%-10s %-14s %6d %9.2f %10.2f %9.1f %6.1f%% %6.1f%% %8.1f\n", kind_names[k],
		       shape, n, flop / 1e9, t * 1e3, flop / t / 1e9, 100.0 * flop / t / 1e9 / peak,
		       100.0 * flop / t / 1e9 / mpeak, bytes / t / 1e9);
		tot_flop += flop;
		tot_time += t;
		tot_bytes += bytes;
	}
	printf("%-10s %-14s %6s %9.2f %10.2f %9.1f %6.1f%% %6.1f%% %8.1f\n", "all", "", "",
	       tot_flop / 1e9, tot_time * 1e3, tot_flop / tot_time / 1e9,
	       100.0 * tot_flop / tot_time / 1e9 / peak,
	       100.0 * tot_flop / tot_time / 1e9 / mpeak, tot_bytes / tot_time / 1e9);
	/* The fastest whole pass: on a shared machine, what the code can do. */
	double best = 1e30;
	for (int p = 1; p <= reps; p++) {
		double t = 0;
		for (int k = 0; k < N_KINDS; k++)
			t += times[p * N_KINDS + k];
		best = t < best ? t : best;
	}
	printf("%-10s %-14s %6s %9.2f %10.2f %9.1f %6.1f%% %6.1f%% %8.1f\n", "best pass", "", "",
	       tot_flop / 1e9, best * 1e3, tot_flop / best / 1e9, 100.0 * tot_flop / best / 1e9 / peak,
	       100.0 * tot_flop / best / 1e9 / mpeak, tot_bytes / best / 1e9);
	printf("spot check vs float64: max |err| / sum|terms| = %.2g %s\n", check,
	       check < 1e-5 ? "(ok)" : "(TOO LARGE)");
	free(med);
	free(times);
	free(out);
	free(x);
	if (!(check < 1e-5))
		exit(1);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *tlist = "17,1";
	int reps = 5;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-t") && i + 1 < argc)
			tlist = argv[++i];
		else if (!strcmp(argv[i], "-r") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else if (argv[i][0] != '-' && !dir)
			dir = argv[i];
		else
			dir = NULL, i = argc;
	}
	if (!dir || reps < 1) {
		fprintf(stderr, "usage: matmul_bench MODEL [-t T[,T...]] [-r REPS]\n");
		return 2;
	}
	const char *pk = getenv("PEAK_GFLOPS");
	double peak = pk ? atof(pk) : 197.0;

	static struct model m;
	load(&m, dir);
	const enum ld_kernel kernel = ld_matmul_kernel();
	double mpeak = measure_peak(kernel);
	printf("%s: %d layers, output layer %zux%zu, %s\n", dir, m.n_layers,
	       m.w[N_KINDS - 1][0].rows, m.w[N_KINDS - 1][0].cols, ld_dtype_name(m.w[0][0].dtype));
	printf("fp32 FMA peak: nominal %.0f GFLOP/s (%%peak); the %s kernel's instructions, measured now: "
	       "%.0f GFLOP/s (%%meas)\n",
	       peak, ld_kernel_name(kernel), mpeak);
	if (mpeak <= 0.0)
		mpeak = peak;
	for (const char *p = tlist; *p;) {
		char *end;
		long T = strtol(p, &end, 10);
		if (end == p || T < 1 || T > 4096) {
			fprintf(stderr, "matmul_bench: -t wants token counts like 17,1\n");
			return 2;
		}
		bench(&m, (size_t)T, reps, peak, mpeak);
		p = *end == ',' ? end + 1 : end;
	}
	/* A probe that ran during a slow moment makes %meas look too good. */
	double after = measure_peak(kernel);
	if (after > 1.1 * mpeak)
		printf("\nnote: the FMA peak measured %.0f GFLOP/s at the end, %.0f at the start: "
		       "the machine's speed varied during the run\n", after, mpeak);
	ld_model_free(&m.lm);
	return 0;
}
