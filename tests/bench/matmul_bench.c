/* matmul_bench.c - how fast is ld_matmul on a real model's matrices?
 *
 *   matmul_bench DIR [-t T[,T...]] [-r REPS]
 *
 * Maps DIR/model.safetensors (as the engine does: never copied, 2 MB pages
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
 *      build/libllamadbg.a $(pkg-config --cflags --libs jansson) -fopenmp -lm
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include "dtype.h"
#include "matmul.h"

enum { N_KINDS = 8, MAX_LAYERS = 256 };
static const char *const kind_names[N_KINDS] = {
	"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head",
};
static const char *const kind_tensors[N_KINDS - 1] = {
	"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
	"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj",
};

struct model {
	int n_layers;
	/* w[kind][layer]; the output layer is w[N_KINDS-1][0] */
	struct ld_weight w[N_KINDS][MAX_LAYERS];
	void *map;
	size_t map_len;
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

/* Point an ld_weight at a 2-D tensor of the mapped file. */
static int find_weight(struct ld_weight *w, json_t *header, const char *name,
                       const unsigned char *data, size_t data_len, const char *path)
{
	json_t *t = json_object_get(header, name);
	if (!t)
		return 0;
	const char *dtype = json_string_value(json_object_get(t, "dtype"));
	json_t *shape = json_object_get(t, "shape"), *offs = json_object_get(t, "data_offsets");
	char what[600];
	snprintf(what, sizeof what, "%s: %s", path, name);
	if (!dtype || json_array_size(shape) != 2 || json_array_size(offs) != 2)
		die("expected dtype, a 2-D shape and data_offsets", what);
	enum ld_dtype dt = ld_dtype_parse(dtype);
	if (dt != LD_F32 && dt != LD_BF16 && dt != LD_F16)
		die("dtype is not F32, BF16 or F16", what);
	size_t rows = (size_t)json_integer_value(json_array_get(shape, 0));
	size_t cols = (size_t)json_integer_value(json_array_get(shape, 1));
	size_t b = (size_t)json_integer_value(json_array_get(offs, 0));
	size_t e = (size_t)json_integer_value(json_array_get(offs, 1));
	if (b > e || e > data_len || e - b != rows * cols * ld_dtype_size(dt))
		die("data_offsets disagree with the shape or the file size", what);
	*w = (struct ld_weight){.data = data + b, .dtype = dt, .rows = rows, .cols = cols};
	return 1;
}

static void load(struct model *m, const char *dir)
{
	char path[4096], name[256];
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		die(strerror(errno), path);
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_size < 8)
		die("not a safetensors file", path);
	m->map_len = (size_t)st.st_size;
	m->map = mmap(NULL, m->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m->map == MAP_FAILED)
		die(strerror(errno), path);
	(void)madvise(m->map, m->map_len, MADV_HUGEPAGE); /* as the engine does */
	const unsigned char *p = m->map;
	size_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | p[i];
	if (hlen > m->map_len - 8)
		die("header length beyond the end of the file", path);
	json_error_t jerr;
	json_t *header = json_loadb((const char *)p + 8, hlen, 0, &jerr);
	if (!header)
		die(jerr.text, path);
	const unsigned char *data = p + 8 + hlen;
	size_t data_len = m->map_len - 8 - hlen;

	m->n_layers = 0;
	for (int l = 0; l < MAX_LAYERS; l++) {
		int found = 0;
		for (int k = 0; k < N_KINDS - 1; k++) {
			snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, kind_tensors[k]);
			found += find_weight(&m->w[k][l], header, name, data, data_len, path);
		}
		if (found == 0)
			break;
		if (found != N_KINDS - 1)
			die("a layer misses some projection", path);
		m->n_layers++;
	}
	if (!find_weight(&m->w[N_KINDS - 1][0], header, "lm_head.weight", data, data_len, path) &&
	    !find_weight(&m->w[N_KINDS - 1][0], header, "model.embed_tokens.weight", data, data_len,
	                 path))
		die("neither lm_head.weight nor model.embed_tokens.weight", path);
	if (m->n_layers == 0)
		die("no model.layers.0 projections", path);
	json_decref(header);
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
		double bytes = (double)w->rows * (double)w->cols * ld_dtype_size(w->dtype) * n;
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
		fprintf(stderr, "usage: matmul_bench DIR [-t T[,T...]] [-r REPS]\n");
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
	munmap(m.map, m.map_len);
	return 0;
}
