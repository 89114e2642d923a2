/* bf16 matrix products through oneDNN's matmul primitive: see ptrag/bf16.h. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/bf16.h"

#include <cpuid.h>
#include <immintrin.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- rounding */

/* As the CPUs' own conversion (VCVTNEPS2BF16) does, so that the vector path
 * below and this one give the same bits: subnormal inputs become a signed
 * zero (they are below bf16's use here: |x| < 1.2e-38). */
uint16_t ptrag_bf16_from_float(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet NaN */
    if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);      /* subnormal: signed zero */
    u += 0x7fffu + ((u >> 16) & 1u); /* round to nearest, ties to even */
    return (uint16_t)(u >> 16);
}

float ptrag_bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

#if defined(__AVX512BF16__) && defined(__AVX512F__) && defined(__AVX512BW__)
/* The CPU's conversion, 32 floats per instruction (3x the portable loop on
 * the attention's short rows; memory-bound either way on long ones). The
 * build must target such a CPU (-march=native on one). */
void ptrag_bf16_round(uint16_t *dst, const float *src, long n) {
    long i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(src + i));
        _mm512_storeu_si512((void *)(dst + i), (__m512i)h);
    }
    for (; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1u);
        __m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(k, src + i));
        _mm256_mask_storeu_epi16(dst + i, k, (__m256i)h);
    }
}
#else
/* Branch-free copy of ptrag_bf16_from_float, so the loop vectorises. */
static inline uint16_t round_bits(uint32_t u) {
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x40u, zero = (u >> 16) & 0x8000u;
    r = (u & 0x7f800000u) == 0 ? zero : r;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : r);
}

void ptrag_bf16_round(uint16_t *dst, const float *src, long n) {
    const uint32_t *s = (const uint32_t *)(const void *)src;
#pragma omp simd
    for (long i = 0; i < n; i++) dst[i] = round_bits(s[i]);
}
#endif

void ptrag_bf16_pack(uint16_t *dst, int rows_p, int cols_p, const float *src, int rows, int cols, int ld) {
    for (int i = 0; i < rows; i++) {
        uint16_t *d = dst + (size_t)i * cols_p;
        ptrag_bf16_round(d, src + (size_t)i * ld, cols);
        if (cols_p > cols) memset(d + cols, 0, sizeof(uint16_t) * (size_t)(cols_p - cols));
    }
    if (rows_p > rows) memset(dst + (size_t)rows * cols_p, 0, sizeof(uint16_t) * (size_t)(rows_p - rows) * cols_p);
}

/* ---------------------------------------------------------------- CPU */

int ptrag_bf16_cpu_native(char *desc, size_t n) {
    unsigned a, b, c, d;
    int avx512_bf16 = 0, amx_bf16 = 0;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        amx_bf16 = (d >> 22) & 1;
        if (a >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            avx512_bf16 = (a >> 5) & 1;
        }
    }
    if (desc && n) {
        snprintf(desc, n, "%s%s%s", avx512_bf16 ? "avx512_bf16" : "", avx512_bf16 && amx_bf16 ? " " : "",
                 amx_bf16 ? "amx_bf16" : "");
        if (!avx512_bf16 && !amx_bf16) snprintf(desc, n, "no avx512_bf16, no amx_bf16");
    }
    return avx512_bf16 || amx_bf16;
}

#ifdef PTRAG_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>

int ptrag_bf16_available(void) { return 1; }

/* ---------------------------------------------------------------- primitives */

typedef struct prim_key {
    int ta, tb, M, N, K, lda, ldb, ldc;
    float beta; /* 0: no sum post-op */
    int threads; /* oneDNN plans for this many (1, except the benchmark's peak) */
    int blocked; /* B (a weight) in the layout oneDNN picks, reordered once per forward */
    int batch;   /* 0: one product; else this many dense products in one call */
} prim_key;

typedef struct prim_entry {
    prim_key key;
    dnnl_primitive_t prim;
    dnnl_memory_desc_t a, b, c, scratch;
    size_t scratch_bytes;
    double flops, seconds; /* executions since the last stats reset (stats_lock) */
} prim_entry;

/* The model has a few dozen shapes (fixed tiles and blocks, padded varying
 * dimensions); the cap only guards against a caller with unbounded shapes. */
enum { CACHE_MAX = 4096 };
static prim_entry *cache[CACHE_MAX];
static int cache_n;
/* Plain mutexes, not named OpenMP criticals: those define extern symbols. */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;

int ptrag_bf16_cached_primitives(void) {
    int n;
#pragma omp atomic read
    n = cache_n;
    return n;
}

static int key_eq(const prim_key *x, const prim_key *y) {
    return x->ta == y->ta && x->tb == y->tb && x->M == y->M && x->N == y->N && x->K == y->K &&
           x->lda == y->lda && x->ldb == y->ldb && x->ldc == y->ldc && x->beta == y->beta &&
           x->threads == y->threads && x->blocked == y->blocked && x->batch == y->batch;
}

/* Runs with oneDNN limited to this thread: a primitive planned for more
 * threads could split K and reduce in a thread-count-dependent order. */
static prim_entry *create_entry(const prim_key *k) {
    if (!engine && dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) return NULL;
    prim_entry *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->key = *k;
    dnnl_dims_t da = {k->M, k->K}, db = {k->K, k->N}, dc = {k->M, k->N};
    dnnl_dims_t sa = {k->lda, 1}, sat = {1, k->lda}, sb = {k->ldb, 1}, sbt = {1, k->ldb}, sc = {k->ldc, 1};
    int nd = 2;
    if (k->batch) { /* [batch, rows, cols], each matrix dense */
        const dnnl_dim_t bsa = (dnnl_dim_t)k->M * k->K, bsb = (dnnl_dim_t)k->K * k->N, bsc = (dnnl_dim_t)k->M * k->N;
        nd = 3;
        da[0] = db[0] = dc[0] = k->batch;
        da[1] = k->M, da[2] = k->K, db[1] = k->K, db[2] = k->N, dc[1] = k->M, dc[2] = k->N;
        sa[0] = sat[0] = bsa, sa[1] = k->K, sa[2] = 1, sat[1] = 1, sat[2] = k->M;
        sb[0] = sbt[0] = bsb, sb[1] = k->N, sb[2] = 1, sbt[1] = 1, sbt[2] = k->K;
        sc[0] = bsc, sc[1] = k->N, sc[2] = 1;
    }
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    int ok = dnnl_memory_desc_init_by_strides(&e->a, nd, da, dnnl_bf16, k->ta ? sat : sa) == dnnl_success &&
             (k->blocked ? dnnl_memory_desc_init_by_tag(&e->b, nd, db, dnnl_bf16, dnnl_format_tag_any)
                         : dnnl_memory_desc_init_by_strides(&e->b, nd, db, dnnl_bf16, k->tb ? sbt : sb)) == dnnl_success &&
             dnnl_memory_desc_init_by_strides(&e->c, nd, dc, dnnl_f32, sc) == dnnl_success &&
             dnnl_matmul_desc_init(&md, &e->a, &e->b, NULL, &e->c) == dnnl_success &&
             dnnl_primitive_attr_create(&attr) == dnnl_success &&
             dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) == dnnl_success;
    if (ok && k->beta != 0.0f)
        ok = dnnl_post_ops_create(&po) == dnnl_success && dnnl_post_ops_append_sum(po, k->beta) == dnnl_success &&
             dnnl_primitive_attr_set_post_ops(attr, po) == dnnl_success;
    ok = ok && dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL) == dnnl_success &&
         dnnl_primitive_create(&e->prim, pd) == dnnl_success;
    if (ok) {
        if (k->blocked) e->b = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        e->scratch = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        e->scratch_bytes = dnnl_memory_desc_get_size(&e->scratch);
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (!ok) {
        free(e);
        return NULL;
    }
    return e;
}

static prim_entry *get_entry(const prim_key *k) {
    prim_entry *found = NULL;
    pthread_mutex_lock(&cache_lock);
    {
        for (int i = 0; i < cache_n && !found; i++)
            if (key_eq(&cache[i]->key, k)) found = cache[i];
        if (!found && cache_n < CACHE_MAX && (found = create_entry(k))) {
            cache[cache_n] = found;
#pragma omp atomic write
            cache_n = cache_n + 1;
        }
    }
    pthread_mutex_unlock(&cache_lock);
    return found;
}

/* ---------------------------------------------------------------- per thread */

/* Each thread's stream and growing buffers (oneDNN's scratchpad; the
 * padded output of a ragged block). Kept for the thread's life. */
typedef struct thread_state {
    dnnl_stream_t stream;
    void *scratch;
    size_t scratch_bytes;
    float *ctmp;
    size_t ctmp_floats;
} thread_state;
static _Thread_local thread_state ts;

static int grow(void **p, size_t *have, size_t need) {
    if (need <= *have) return 0;
    void *q = aligned_alloc(64, (need + 63) / 64 * 64);
    if (!q) return PTRAG_E_NOMEM;
    free(*p);
    *p = q;
    *have = need;
    return 0;
}

static int execute(const prim_entry *e, const void *A, const void *B, float *C) {
    if (!ts.stream && dnnl_stream_create(&ts.stream, engine, dnnl_stream_default_flags) != dnnl_success)
        return PTRAG_E_UNSUPPORTED;
    if (grow(&ts.scratch, &ts.scratch_bytes, e->scratch_bytes ? e->scratch_bytes : 1)) return PTRAG_E_NOMEM;
    dnnl_memory_t ma = NULL, mb = NULL, mc = NULL, ms = NULL;
    int ok = dnnl_memory_create(&ma, &e->a, engine, (void *)A) == dnnl_success &&
             dnnl_memory_create(&mb, &e->b, engine, (void *)B) == dnnl_success &&
             dnnl_memory_create(&mc, &e->c, engine, C) == dnnl_success &&
             dnnl_memory_create(&ms, &e->scratch, engine, ts.scratch) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc},
                                   {DNNL_ARG_SCRATCHPAD, ms}};
        ok = dnnl_primitive_execute(e->prim, ts.stream, 4, args) == dnnl_success &&
             dnnl_stream_wait(ts.stream) == dnnl_success;
    }
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (mc) dnnl_memory_destroy(mc);
    if (ms) dnnl_memory_destroy(ms);
    return ok ? 0 : PTRAG_E_UNSUPPORTED;
}

static double stat_flops, stat_seconds, stat_bmm_flops, stat_bmm_seconds;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;

/* This thread's CPU time: on a shared machine, time spent descheduled is not
 * the product's. */
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void ptrag_bf16_stats(double *flops, double *thread_seconds) {
    pthread_mutex_lock(&stats_lock);
    *flops = stat_flops, *thread_seconds = stat_seconds;
    pthread_mutex_unlock(&stats_lock);
}

void ptrag_bf16_bmm_stats(double *flops, double *thread_seconds) {
    pthread_mutex_lock(&stats_lock);
    *flops = stat_bmm_flops, *thread_seconds = stat_bmm_seconds;
    pthread_mutex_unlock(&stats_lock);
}

void ptrag_bf16_stats_reset(void) {
    pthread_mutex_lock(&stats_lock);
    stat_flops = stat_seconds = stat_bmm_flops = stat_bmm_seconds = 0;
    for (int i = 0; i < ptrag_bf16_cached_primitives(); i++) cache[i]->flops = cache[i]->seconds = 0;
    pthread_mutex_unlock(&stats_lock);
}

/* 2MNK of one call (times the batch). */
static double entry_flops(const prim_key *k) { return 2.0 * (k->batch ? k->batch : 1) * k->M * k->N * (double)k->K; }

/* Best of up to 3 calls of e on a, b, c after one warm-up call, by `clk`
 * (seconds; stops at a failed call; 1e30 when none was timed). */
static double best_seconds(const prim_entry *e, const void *a, const void *b, float *c, double (*clk)(void)) {
    double best = 1e30;
    for (int r = 0; r < 4; r++) {
        double t0 = clk();
        if (execute(e, a, b, c)) break;
        double t = clk() - t0;
        if (r > 0 && t < best) best = t;
    }
    return best;
}

/* execute(), its FLOPs and thread CPU time added to the primitive's. */
static int timed_execute(prim_entry *e, const void *A, const void *B, float *C) {
    const double t0 = now();
    int rc = execute(e, A, B, C);
    const double dt = now() - t0;
    const prim_key *k = &e->key;
    pthread_mutex_lock(&stats_lock);
    e->flops += entry_flops(k), e->seconds += dt;
    pthread_mutex_unlock(&stats_lock);
    return rc;
}

int ptrag_bf16_shapes(ptrag_bf16_shape *out, int n) {
    int have = ptrag_bf16_cached_primitives(), w = 0;
    for (int i = 0; i < have && w < n; i++) {
        prim_entry *e = cache[i];
        pthread_mutex_lock(&stats_lock);
        double fl = e->flops, sec = e->seconds;
        pthread_mutex_unlock(&stats_lock);
        if (fl <= 0 || e->key.threads != 1) continue;
        const prim_key *k = &e->key;
        ptrag_bf16_shape *o = &out[w++];
        char b[16] = "";
        if (k->batch) snprintf(b, sizeof b, "%d x ", k->batch);
        snprintf(o->desc, sizeof o->desc, "%s%dx%dx%d%s%s%s", b, k->M, k->N, k->K, k->ta ? " A^T" : "",
                 k->tb ? " B^T" : "", k->blocked ? " B blocked" : "");
        o->flops = fl, o->seconds = sec, o->alone_gflops = 0;
        /* the same primitive alone on its own (cache-hot) buffers */
        size_t na = dnnl_memory_desc_get_size(&e->a), nb = dnnl_memory_desc_get_size(&e->b);
        size_t nc = dnnl_memory_desc_get_size(&e->c);
        uint16_t *a = aligned_alloc(64, (na + 63) / 64 * 64), *bw = aligned_alloc(64, (nb + 63) / 64 * 64);
        float *c = aligned_alloc(64, (nc + 63) / 64 * 64);
        if (a && bw && c) {
            for (size_t j = 0; j < na / 2; j++) a[j] = 0x3c00; /* 1/128 */
            for (size_t j = 0; j < nb / 2; j++) bw[j] = 0x3c00;
            memset(c, 0, nc);
            int saved = omp_get_max_threads();
            omp_set_num_threads(1);
            double best = best_seconds(e, a, bw, c, now);
            omp_set_num_threads(saved);
            if (best < 1e30) o->alone_gflops = entry_flops(k) / best / 1e9;
        }
        free(a), free(bw), free(c);
    }
    return w;
}

/* ---------------------------------------------------------------- blocked weights */

/* A weight's bf16 copy reordered into the layout a primitive asked for
 * (weights md "any"): made on its first use after the weights changed and
 * reused by every tile and block until they change again, so oneDNN does
 * not re-block the weight in each call (it would, once per call, for a plain
 * one). Keyed by the copy's address, its plain layout and the blocked md. */
typedef struct blocked_weight {
    const uint16_t *src;
    int K, N, ld, tb;
    dnnl_memory_desc_t md;
    void *data;
    unsigned generation; /* of the weights it was made from */
} blocked_weight;

enum { BLOCKED_MAX = 1024 };
static blocked_weight *blocked[BLOCKED_MAX];
static int blocked_n;
static unsigned weights_generation = 1;
static pthread_mutex_t blocked_lock = PTHREAD_MUTEX_INITIALIZER;

void ptrag_bf16_weights_changed(void) {
    pthread_mutex_lock(&blocked_lock);
    weights_generation++;
    pthread_mutex_unlock(&blocked_lock);
}

void ptrag_bf16_forget_weights(const uint16_t *base, size_t n) {
    pthread_mutex_lock(&blocked_lock);
    for (int i = 0; i < blocked_n;) {
        blocked_weight *w = blocked[i];
        if (w->src >= base && w->src < base + n) {
            free(w->data), free(w);
            blocked[i] = blocked[--blocked_n];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&blocked_lock);
}

/* Runs on the calling thread's stream (oneDNN limited to it by the caller). */
static int reorder_into(blocked_weight *w) {
    dnnl_memory_desc_t plain;
    dnnl_dims_t d = {w->K, w->N}, st = {w->ld, 1}, stt = {1, w->ld};
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_memory_t from = NULL, to = NULL;
    int ok = dnnl_memory_desc_init_by_strides(&plain, 2, d, dnnl_bf16, w->tb ? stt : st) == dnnl_success &&
             dnnl_reorder_primitive_desc_create(&pd, &plain, engine, &w->md, engine, NULL) == dnnl_success &&
             dnnl_primitive_create(&r, pd) == dnnl_success &&
             dnnl_memory_create(&from, &plain, engine, (void *)w->src) == dnnl_success &&
             dnnl_memory_create(&to, &w->md, engine, w->data) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
        ok = dnnl_primitive_execute(r, ts.stream, 2, args) == dnnl_success && dnnl_stream_wait(ts.stream) == dnnl_success;
    }
    if (from) dnnl_memory_destroy(from);
    if (to) dnnl_memory_destroy(to);
    if (r) dnnl_primitive_destroy(r);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return ok ? 0 : PTRAG_E_UNSUPPORTED;
}

/* The weight B [K, N] (tb: stored [N, ld]) in layout md, made or refreshed
 * as needed; NULL on failure. */
static const void *blocked_weight_of(const uint16_t *B, int K, int N, int ld, int tb, const dnnl_memory_desc_t *md) {
    const void *out = NULL;
    pthread_mutex_lock(&blocked_lock);
    blocked_weight *w = NULL;
    for (int i = 0; i < blocked_n && !w; i++) {
        blocked_weight *c = blocked[i];
        if (c->src == B && c->K == K && c->N == N && c->ld == ld && c->tb == tb && dnnl_memory_desc_equal(&c->md, md))
            w = c;
    }
    if (!w && blocked_n < BLOCKED_MAX && (w = calloc(1, sizeof *w))) {
        size_t bytes = dnnl_memory_desc_get_size(md);
        w->src = B, w->K = K, w->N = N, w->ld = ld, w->tb = tb, w->md = *md;
        w->data = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (w->data) {
            blocked[blocked_n++] = w;
        } else {
            free(w);
            w = NULL;
        }
    }
    if (w && (w->generation == weights_generation || !reorder_into(w))) {
        w->generation = weights_generation;
        out = w->data;
    }
    pthread_mutex_unlock(&blocked_lock);
    return out;
}

/* One primitive call: rows M of C, through a dense per-thread buffer when
 * computed Mp > M rows high or when C's rows are strided (ldc > N: oneDNN
 * 2.6's brgemm takes only a dense output and would fall back to its generic
 * gemm at about half the rate). */
static int gemm_once(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                     const uint16_t *B, int ldb, float beta, float *C, int ldc, int weight) {
    const int rows = Mp > M ? Mp : M, direct = rows == M && ldc == N;
    if (!direct) {
        size_t have = ts.ctmp_floats * sizeof(float);
        if (grow((void **)&ts.ctmp, &have, sizeof(float) * (size_t)rows * N)) return PTRAG_E_NOMEM;
        ts.ctmp_floats = have / sizeof(float);
    }
    prim_key k = {transA, transB, rows, N, K, lda, ldb, direct ? ldc : N, direct ? beta : 0.0f, 1, weight, 0};
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    prim_entry *e = get_entry(&k);
    int rc = e ? 0 : PTRAG_E_UNSUPPORTED;
    const void *Bx = B;
    if (!rc && weight && !ts.stream && dnnl_stream_create(&ts.stream, engine, dnnl_stream_default_flags) != dnnl_success)
        rc = PTRAG_E_UNSUPPORTED;
    if (!rc && weight && !(Bx = blocked_weight_of(B, K, N, ldb, transB, &e->b))) rc = PTRAG_E_NOMEM;
    if (!rc) rc = timed_execute(e, A, Bx, direct ? C : ts.ctmp);
    omp_set_num_threads(saved);
    if (!rc && !direct)
        for (int i = 0; i < M; i++) {
            float *c = C + (size_t)i * ldc;
            const float *t = ts.ctmp + (size_t)i * N;
            if (beta == 0.0f)
                memcpy(c, t, sizeof(float) * (size_t)N);
            else
                for (int j = 0; j < N; j++) c[j] = t[j] + beta * c[j];
        }
    return rc;
}

/* Rows per call when the output rows are wide: oneDNN 2.6 walks a 256-row
 * block of a wide, short-K product column block by column block, each one
 * touching every row's page, and runs 2-3x slower than on 32-64 rows at a
 * time (measured: 256 x 5568 x 128 at 70-150 GFLOP/s against 140-250). */
static int row_chunk(int N) { return N >= 1024 ? 32 : 64; }

static int gemm_rows(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                     const uint16_t *B, int ldb, float beta, float *C, int ldc, int weight) {
    if (M <= 0 || N <= 0) return 0;
    const double t0 = now();
    int rc = 0;
    const int chunk = row_chunk(N);
    weight = weight && !transA;
    if (transA || N < 512 || M <= chunk) {
        rc = gemm_once(transA, transB, M, Mp, N, K, A, lda, B, ldb, beta, C, ldc, weight);
    } else {
        const int rows = Mp > M ? Mp : M;
        for (int i = 0; i < rows && i < M && !rc; i += chunk) {
            const int mp = rows - i < chunk ? rows - i : chunk, m = M - i < mp ? M - i : mp;
            rc = gemm_once(0, transB, m, mp, N, K, A + (size_t)i * lda, lda, B, ldb, beta, C + (size_t)i * ldc, ldc,
                           weight);
        }
    }
    const double dt = now() - t0;
    pthread_mutex_lock(&stats_lock);
    stat_flops += 2.0 * M * N * K, stat_seconds += dt;
    pthread_mutex_unlock(&stats_lock);
    return rc;
}

int ptrag_bf16_gemm(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                    const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    return gemm_rows(transA, transB, M, Mp, N, K, A, lda, B, ldb, beta, C, ldc, 0);
}

int ptrag_bf16_gemm_weight(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                           const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    return gemm_rows(transA, transB, M, Mp, N, K, A, lda, B, ldb, beta, C, ldc, 1);
}

int ptrag_bf16_bmm(int batch, int transA, int transB, int M, int N, int K, const uint16_t *A, const uint16_t *B,
                   float *C) {
    if (batch <= 0 || M <= 0 || N <= 0) return 0;
    const double t0 = now();
    prim_key k = {transA, transB, M, N, K, transA ? M : K, transB ? K : N, N, 0.0f, 1, 0, batch};
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    prim_entry *e = get_entry(&k);
    int rc = e ? timed_execute(e, A, B, C) : PTRAG_E_UNSUPPORTED;
    omp_set_num_threads(saved);
    const double dt = now() - t0;
    pthread_mutex_lock(&stats_lock);
    stat_bmm_flops += entry_flops(&k), stat_bmm_seconds += dt;
    pthread_mutex_unlock(&stats_lock);
    return rc;
}

double ptrag_bf16_peak_gflops(int n, int threads) {
    uint16_t *a = malloc(sizeof(uint16_t) * n * n), *b = malloc(sizeof(uint16_t) * n * n);
    float *c = malloc(sizeof(float) * n * n);
    double best = 0;
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads); /* oneDNN's own pool, as a plain user would run it */
    prim_key k = {0, 0, n, n, n, n, n, n, 0.0f, threads, 0, 0};
    prim_entry *e = a && b && c ? get_entry(&k) : NULL;
    if (e) {
        for (long i = 0; i < (long)n * n; i++) a[i] = ptrag_bf16_from_float((float)(i % 7) * 0.1f),
                                               b[i] = ptrag_bf16_from_float((float)(i % 5) * 0.1f);
        double t_best = best_seconds(e, a, b, c, threads == 1 ? now : wall); /* one thread: its CPU time */
        if (t_best < 1e30) best = entry_flops(&k) / t_best / 1e9;
    }
    omp_set_num_threads(saved);
    free(a), free(b), free(c);
    return best;
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx2: return "avx2";
    default: return "other";
    }
}

void ptrag_bf16_describe(char *buf, size_t n) {
    const dnnl_version_t *v = dnnl_version();
    /* The implementation oneDNN picks for the model's MLP tile (256 rows). */
    const char *impl = "(none: oneDNN rejected a bf16 matmul)";
    dnnl_memory_desc_t a, b, c;
    dnnl_dims_t da = {256, 128}, db = {128, 384}, dc = {256, 384}, sa = {128, 1}, sb = {1, 128}, sc = {384, 1};
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    if (!engine) dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (engine && dnnl_memory_desc_init_by_strides(&a, 2, da, dnnl_bf16, sa) == dnnl_success &&
        dnnl_memory_desc_init_by_strides(&b, 2, db, dnnl_bf16, sb) == dnnl_success &&
        dnnl_memory_desc_init_by_strides(&c, 2, dc, dnnl_f32, sc) == dnnl_success &&
        dnnl_matmul_desc_init(&md, &a, &b, NULL, &c) == dnnl_success &&
        dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL) == dnnl_success)
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(buf, n, "oneDNN %d.%d.%d (%s threading), ISA %s, bf16 matmul implementation %s", v->major, v->minor,
             v->patch, (v->cpu_runtime == DNNL_RUNTIME_OMP) ? "OpenMP" : "non-OpenMP",
             isa_name(dnnl_get_effective_cpu_isa()), impl);
    if (pd) dnnl_primitive_desc_destroy(pd);
}

#else /* no oneDNN in this build: fp32 only */

int ptrag_bf16_available(void) { return 0; }
int ptrag_bf16_cached_primitives(void) { return 0; }
void ptrag_bf16_stats(double *flops, double *thread_seconds) { *flops = *thread_seconds = 0; }
void ptrag_bf16_stats_reset(void) {}
void ptrag_bf16_bmm_stats(double *flops, double *thread_seconds) { *flops = *thread_seconds = 0; }
int ptrag_bf16_shapes(ptrag_bf16_shape *out, int n) {
    (void)out, (void)n;
    return 0;
}
int ptrag_bf16_bmm(int batch, int transA, int transB, int M, int N, int K, const uint16_t *A, const uint16_t *B,
                   float *C) {
    (void)batch, (void)transA, (void)transB, (void)M, (void)N, (void)K, (void)A, (void)B, (void)C;
    return PTRAG_E_UNSUPPORTED;
}
double ptrag_bf16_peak_gflops(int n, int threads) {
    (void)n, (void)threads;
    return 0;
}

int ptrag_bf16_gemm(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                    const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    (void)transA, (void)transB, (void)M, (void)Mp, (void)N, (void)K, (void)A, (void)lda, (void)B, (void)ldb;
    (void)beta, (void)C, (void)ldc;
    return PTRAG_E_UNSUPPORTED;
}

int ptrag_bf16_gemm_weight(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                           const uint16_t *B, int ldb, float beta, float *C, int ldc) {
    return ptrag_bf16_gemm(transA, transB, M, Mp, N, K, A, lda, B, ldb, beta, C, ldc);
}
void ptrag_bf16_weights_changed(void) {}
void ptrag_bf16_forget_weights(const uint16_t *base, size_t n) { (void)base, (void)n; }

void ptrag_bf16_describe(char *buf, size_t n) {
    snprintf(buf, n, "oneDNN: not in this build (configure found no libdnnl-dev): fp32 only");
}

#endif
