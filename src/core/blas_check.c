/* BLAS self-check and report: see include/ptrag/blas_check.h.
 *
 * The check compares each routine with a plain loop in double precision on
 * seeded values; tolerances are a small multiple of the rounding a correct
 * kernel can make (a wrong kernel is off by O(1)). A faster or a safer core
 * type is tried by loading a second copy of the same libopenblas into a new
 * link namespace (dlmopen) with OPENBLAS_CORETYPE set: OpenBLAS reads the
 * variable only when it loads, so this is the one way to measure or verify
 * another kernel from inside the running process. */
#define _GNU_SOURCE
#include "ptrag/blas_check.h"

#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/blas_check_internal.h"

extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                   const int *ldb, int *info, size_t uplo_len);
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
                    const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
                    const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
                    double *work, const int *lwork, int *iwork, const int *liwork, int *info,
                    size_t jobz_len, size_t range_len, size_t uplo_len);

void ptrag_blas_api_linked(blas_api *api) {
    api->sgemm = cblas_sgemm;
    api->dgemm = cblas_dgemm;
    api->dgemv = cblas_dgemv;
    api->dposv = dposv_;
    api->dsyevr = dsyevr_;
}

/* ---- reference checks ---- */

static double uniform(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* Row-major element (i, k) of op(X) where X is stored with leading dim ld. */
static double at(const float *x, int trans, int ld, int i, int k) {
    return trans ? x[(size_t)k * ld + i] : x[(size_t)i * ld + k];
}

static int check_sgemm(const blas_api *api, int M, int N, int K, int ta, int tb, float alpha, float beta,
                       char *why, size_t n) {
    int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *a = malloc(na * sizeof *a), *b = malloc(nb * sizeof *b), *c = malloc(nc * sizeof *c),
          *c0 = malloc(nc * sizeof *c0);
    int bad = 0;
    if (!a || !b || !c || !c0) {
        snprintf(why, n, "out of memory");
        bad = 1;
        goto done;
    }
    uint64_t s = (uint64_t)(M * 131 + N * 17 + K) * 2 + (uint64_t)(ta * 2 + tb);
    for (size_t i = 0; i < na; i++) a[i] = (float)uniform(&s);
    for (size_t i = 0; i < nb; i++) b[i] = (float)uniform(&s);
    for (size_t i = 0; i < nc; i++) c0[i] = c[i] = (float)uniform(&s);
    api->sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a,
               lda, b, ldb, beta, c, ldc);
    for (int i = 0; i < M && !bad; i++)
        for (int j = 0; j < N && !bad; j++) {
            double sum = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = at(a, ta, lda, i, k) * at(b, !tb, ldb, j, k);
                sum += p;
                mag += fabs(p);
            }
            double ref = alpha * sum + beta * c0[(size_t)i * ldc + j];
            double tol = 1e-4 * (fabs(alpha) * mag + fabs(beta * c0[(size_t)i * ldc + j])) + 1e-6;
            double got = c[(size_t)i * ldc + j];
            if (!(fabs(got - ref) <= tol)) {
                snprintf(why, n,
                         "cblas_sgemm(%c%c, M=%d N=%d K=%d, alpha=%g, beta=%g): C[%d,%d] = %.7g, the reference loop "
                         "gives %.7g",
                         ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, beta, i, j, got, ref);
                bad = 1;
            }
        }
    /* Nothing outside the M x N block (the padding columns) may be written. */
    for (int i = 0; i < M && !bad; i++)
        for (int j = N; j < ldc && !bad; j++)
            if (c[(size_t)i * ldc + j] != c0[(size_t)i * ldc + j]) {
                snprintf(why, n, "cblas_sgemm(%c%c, M=%d N=%d K=%d): wrote outside C (column %d, ldc %d)",
                         ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, j, ldc);
                bad = 1;
            }
done:
    free(a);
    free(b);
    free(c);
    free(c0);
    return bad;
}

static int check_dgemm_dgemv(const blas_api *api, char *why, size_t n) {
    enum { M = 9, N = 7, K = 11 };
    double a[K * M], b[K * N], c[M * N], x[N], y[M], y0[M];
    uint64_t s = 7;
    for (int i = 0; i < K * M; i++) a[i] = uniform(&s);
    for (int i = 0; i < K * N; i++) b[i] = uniform(&s);
    for (int i = 0; i < N; i++) x[i] = uniform(&s);
    for (int i = 0; i < M; i++) y0[i] = y[i] = uniform(&s);
    /* C = A^T B with A stored K x M (as the linear baseline's X^T X). */
    api->dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0, a, M, b, N, 0.0, c, N);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double ref = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                ref += a[k * M + i] * b[k * N + j];
                mag += fabs(a[k * M + i] * b[k * N + j]);
            }
            if (!(fabs(c[i * N + j] - ref) <= 1e-12 * mag + 1e-300)) {
                snprintf(why, n, "cblas_dgemm(TN, M=%d N=%d K=%d): C[%d,%d] = %.15g, the reference loop gives %.15g",
                         M, N, K, i, j, c[i * N + j], ref);
                return 1;
            }
        }
    /* y = C x + y (as the linear baseline's prediction). */
    api->dgemv(CblasRowMajor, CblasNoTrans, M, N, 1.0, c, N, x, 1, 1.0, y, 1);
    for (int i = 0; i < M; i++) {
        double ref = y0[i], mag = fabs(y0[i]);
        for (int j = 0; j < N; j++) {
            ref += c[i * N + j] * x[j];
            mag += fabs(c[i * N + j] * x[j]);
        }
        if (!(fabs(y[i] - ref) <= 1e-12 * mag + 1e-300)) {
            snprintf(why, n, "cblas_dgemv(N, M=%d N=%d): y[%d] = %.15g, the reference loop gives %.15g", M, N, i, y[i],
                     ref);
            return 1;
        }
    }
    return 0;
}

/* dposv on a symmetric positive definite A = B^T B + n I: residual of A x = b. */
static int check_dposv(const blas_api *api, char *why, size_t n) {
    enum { D = 6, R = 2 };
    double bm[D * D], a[D * D], a0[D * D], rhs[D * R], x[D * R];
    uint64_t s = 11;
    for (int i = 0; i < D * D; i++) bm[i] = uniform(&s);
    for (int i = 0; i < D; i++)
        for (int j = 0; j < D; j++) {
            double v = i == j ? D : 0;
            for (int k = 0; k < D; k++) v += bm[k * D + i] * bm[k * D + j];
            a0[i * D + j] = a[i * D + j] = v;
        }
    for (int i = 0; i < D * R; i++) rhs[i] = x[i] = uniform(&s);
    /* Column-major: x holds R columns of D. A is symmetric, so its layout is moot. */
    int d = D, r = R, info = -1;
    api->dposv("U", &d, &r, a, &d, x, &d, &info, 1);
    if (info != 0) {
        snprintf(why, n, "dposv (%dx%d SPD, %d right-hand sides): info %d, expected 0", D, D, R, info);
        return 1;
    }
    for (int c = 0; c < R; c++)
        for (int i = 0; i < D; i++) {
            double ax = 0, mag = fabs(rhs[c * D + i]);
            for (int k = 0; k < D; k++) {
                ax += a0[k * D + i] * x[c * D + k];
                mag += fabs(a0[k * D + i] * x[c * D + k]);
            }
            if (!(fabs(ax - rhs[c * D + i]) <= 1e-10 * mag)) {
                snprintf(why, n, "dposv (%dx%d SPD): residual %.3g in row %d of right-hand side %d", D, D,
                         fabs(ax - rhs[c * D + i]), i, c);
                return 1;
            }
        }
    return 0;
}

/* dsyevr, all eigenpairs of a symmetric matrix: A v = w v, ascending w. */
static int check_dsyevr(const blas_api *api, char *why, size_t n) {
    enum { D = 6 };
    double a[D * D], a0[D * D], w[D], z[D * D], work[26 * D * 4];
    int iwork[10 * D * 4], isuppz[2 * D];
    uint64_t s = 13;
    for (int i = 0; i < D; i++)
        for (int j = 0; j <= i; j++) a0[i * D + j] = a0[j * D + i] = uniform(&s);
    memcpy(a, a0, sizeof a);
    int d = D, il = 0, iu = 0, m = 0, info = -1, lwork = (int)(sizeof work / sizeof work[0]),
        liwork = (int)(sizeof iwork / sizeof iwork[0]);
    double vl = 0, vu = 0, abstol = 0;
    api->dsyevr("V", "A", "U", &d, a, &d, &vl, &vu, &il, &iu, &abstol, &m, w, z, &d, isuppz, work, &lwork, iwork,
                &liwork, &info, 1, 1, 1);
    if (info != 0 || m != D) {
        snprintf(why, n, "dsyevr (%dx%d symmetric): info %d, %d of %d eigenpairs", D, D, info, m, D);
        return 1;
    }
    for (int e = 0; e < D; e++) {
        if (e > 0 && w[e] < w[e - 1]) {
            snprintf(why, n, "dsyevr: eigenvalues not ascending (%g after %g)", w[e], w[e - 1]);
            return 1;
        }
        const double *v = z + e * D; /* column-major: eigenvector e is column e */
        double norm = 0;
        for (int i = 0; i < D; i++) norm += v[i] * v[i];
        for (int i = 0; i < D; i++) {
            double av = 0;
            for (int k = 0; k < D; k++) av += a0[i * D + k] * v[k];
            if (!(fabs(av - w[e] * v[i]) <= 1e-10 * D) || !(fabs(norm - 1) <= 1e-10)) {
                snprintf(why, n, "dsyevr (%dx%d symmetric): eigenpair %d has residual %.3g (|v|^2 = %.15g)", D, D, e,
                         fabs(av - w[e] * v[i]), norm);
                return 1;
            }
        }
    }
    return 0;
}

int ptrag_blas_check_api(const blas_api *api, char *why, size_t n) {
    /* Shapes around OpenBLAS's kernel block sizes (unroll 4/8/16, edge
     * handling), in all four transpose forms; alpha and beta not 1/0 too. */
    static const int shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {16, 16, 16}, {33, 17, 65}, {67, 45, 33}, {65, 9, 130}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        for (int t = 0; t < 4; t++) {
            float alpha = (i + t) % 2 ? 0.5f : 1.0f, beta = (i + t) % 2 ? 1.0f : 0.0f;
            if (check_sgemm(api, shapes[i][0], shapes[i][1], shapes[i][2], t >> 1, t & 1, alpha, beta, why, n))
                return 1;
        }
    if (check_dgemm_dgemv(api, why, n) || check_dposv(api, why, n) || check_dsyevr(api, why, n)) return 1;
    return 0;
}

/* ---- the CPU and the core types ---- */

static int cpu_flag(const char *flag) {
    static char flags[8192];
    static int loaded;
    if (!loaded) {
        loaded = 1;
        FILE *f = fopen("/proc/cpuinfo", "r");
        char line[8192];
        while (f && fgets(line, sizeof line, f))
            if (strncmp(line, "flags", 5) == 0) {
                const char *colon = strchr(line, ':');
                snprintf(flags, sizeof flags, " %s", colon ? colon + 1 : "");
                flags[strcspn(flags, "\n")] = ' ';
                break;
            }
        if (f) fclose(f);
    }
    char pat[64];
    snprintf(pat, sizeof pat, " %s ", flag);
    return strstr(flags, pat) != NULL;
}

/* Kernel generation: 1 SSE, 2 AVX, 3 AVX2, 4 AVX-512. */
static int core_rank(const char *name) {
    static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *const avx2[] = {"haswell", "zen", "skylake"};
    static const char *const avx[] = {"sandybridge", "bulldozer", "piledriver", "steamroller", "excavator"};
    for (size_t i = 0; i < 3; i++)
        if (strcasecmp(name, avx512[i]) == 0) return 4;
    for (size_t i = 0; i < 3; i++)
        if (strcasecmp(name, avx2[i]) == 0) return 3;
    for (size_t i = 0; i < 5; i++)
        if (strcasecmp(name, avx[i]) == 0) return 2;
    return 1;
}

static int cpu_rank(void) {
    if (cpu_flag("avx512f") && cpu_flag("avx512bw") && cpu_flag("avx512vl") && cpu_flag("avx512dq")) return 4;
    if (cpu_flag("avx2") && cpu_flag("fma")) return 3;
    if (cpu_flag("avx")) return 2;
    return 1;
}

static const char *const rank_core[5] = {"Prescott", "Prescott", "Sandybridge", "Haswell", "SkylakeX"};

const char *ptrag_blas_best_coretype(void) { return rank_core[cpu_rank()]; }

/* ---- a second OpenBLAS with another core type ---- */

typedef struct alt_blas {
    blas_api api;
    char *(*corename)(void);
    void (*set_threads)(int);
} alt_blas;

/* Loads a private copy of the linked libopenblas with OPENBLAS_CORETYPE=core.
 * Never unloaded (OpenBLAS's threads may still be parked in it). */
static int load_alt(const char *core, alt_blas *out) {
    Dl_info info;
    if (!dladdr((void *)cblas_sgemm, &info) || !info.dli_fname) return -1;
    const char *old = getenv("OPENBLAS_CORETYPE");
    char *saved = old ? strdup(old) : NULL;
    setenv("OPENBLAS_CORETYPE", core, 1);
    void *h = dlmopen(LM_ID_NEWLM, info.dli_fname, RTLD_NOW | RTLD_LOCAL);
    if (saved) setenv("OPENBLAS_CORETYPE", saved, 1);
    else unsetenv("OPENBLAS_CORETYPE");
    free(saved);
    if (!h) return -1;
    *(void **)&out->api.sgemm = dlsym(h, "cblas_sgemm");
    *(void **)&out->api.dgemm = dlsym(h, "cblas_dgemm");
    *(void **)&out->api.dgemv = dlsym(h, "cblas_dgemv");
    *(void **)&out->api.dposv = dlsym(h, "dposv_");
    *(void **)&out->api.dsyevr = dlsym(h, "dsyevr_");
    *(void **)&out->corename = dlsym(h, "openblas_get_corename");
    *(void **)&out->set_threads = dlsym(h, "openblas_set_num_threads");
    if (!out->api.sgemm || !out->api.dgemm || !out->api.dgemv || !out->api.dposv || !out->api.dsyevr ||
        !out->corename)
        return -1;
    if (out->set_threads) out->set_threads(openblas_get_num_threads());
    return 0;
}

/* ---- check ---- */

int ptrag_blas_check(ptrag_error *err) {
    blas_api api;
    ptrag_blas_api_linked(&api);
    char why[512];
    if (!ptrag_blas_check_api(&api, why, sizeof why)) return 0;
    const char *core = openblas_get_corename();
    /* The newest core this CPU runs, then older ones: the first whose own
     * copy of OpenBLAS passes the same check is the setting to use. */
    char advice[256] = "";
    for (int r = cpu_rank(); r >= 1 && !advice[0]; r--) {
        const char *cand = rank_core[r];
        if (strcasecmp(cand, core) == 0) continue;
        alt_blas alt;
        char why2[512];
        if (load_alt(cand, &alt) == 0 && !ptrag_blas_check_api(&alt.api, why2, sizeof why2))
            snprintf(advice, sizeof advice, "OPENBLAS_CORETYPE=%s passes this check: run with that setting", cand);
    }
    if (!advice[0])
        snprintf(advice, sizeof advice, "try OPENBLAS_CORETYPE=%s (or Prescott, the oldest kernels)",
                 strcasecmp(core, "Haswell") == 0 ? "Sandybridge" : "Haswell");
    return ptrag_fail(err, PTRAG_E_NUMERIC,
                      "BLAS self-check failed: %s. OpenBLAS uses core type '%s' (%s); its kernels compute wrong "
                      "results on this CPU. %s (PTRAG_BLAS_CHECK=0 skips the check at your own risk)",
                      why, core, openblas_get_config(), advice);
}

/* ---- report ---- */

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* sgemm n x n x n GFLOP/s of one or two libraries, best call of each. The
 * linked one is measured first, completely: once the second (AVX-512)
 * copy has run, the first's legacy-SSE kernels would pay AVX-SSE transition
 * penalties in this thread and look ~3x slower than they are. */
static void sgemm_gflops(__typeof__(&cblas_sgemm) f1, __typeof__(&cblas_sgemm) f2, int n, double *g1,
                         double *g2) {
    size_t nn = (size_t)n * n;
    float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
    *g1 = *g2 = 0;
    if (a && b && c) {
        uint64_t s = 3;
        for (size_t i = 0; i < nn; i++) a[i] = (float)uniform(&s), b[i] = (float)uniform(&s);
        for (int which = 0; which < 2; which++)
            for (int round = 0; round < 6; round++) {
                __typeof__(&cblas_sgemm) f = which ? f2 : f1;
                double *g = which ? g2 : g1;
                if (!f) continue;
                double t_end = now_s() + 0.05;
                for (int rep = 0; rep < 2 || (now_s() < t_end && rep < 20); rep++) {
                    double t0 = now_s();
                    f(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
                    double dt = now_s() - t0;
                    if (dt > 0 && 2.0 * n * n * n / dt / 1e9 > *g) *g = 2.0 * n * n * n / dt / 1e9;
                }
            }
    }
    free(a);
    free(b);
    free(c);
}

static void cpu_model(char *out, size_t n) {
    snprintf(out, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            const char *colon = strchr(line, ':');
            const char *v = colon ? colon + 2 : line;
            size_t k = strcspn(v, "\n");
            if (k >= n) k = n - 1;
            memcpy(out, v, k);
            out[k] = '\0';
            break;
        }
    if (f) fclose(f);
}

int ptrag_blas_report(int measure, char **text, ptrag_error *err) {
    *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(text, &len);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "BLAS report: out of memory");
    static const char *const modes[] = {"sequential", "pthreads", "OpenMP"};
    int par = openblas_get_parallel();
    const char *core = openblas_get_corename();
    Dl_info info;
    const char *lib = dladdr((void *)cblas_sgemm, &info) && info.dli_fname ? info.dli_fname : "(unknown)";
    const char *env_core = getenv("OPENBLAS_CORETYPE"), *env_thr = getenv("OPENBLAS_NUM_THREADS");
    char model[256];
    cpu_model(model, sizeof model);
    fprintf(f, "blas.library = %s\n", lib);
    fprintf(f, "blas.config = %s\n", openblas_get_config());
    fprintf(f, "blas.core = %s\n", core);
    fprintf(f, "blas.threading = %s, %d thread(s)\n", par >= 0 && par <= 2 ? modes[par] : "unknown",
            openblas_get_num_threads());
    fprintf(f, "blas.env = OPENBLAS_CORETYPE=%s OPENBLAS_NUM_THREADS=%s\n", env_core ? env_core : "(unset)",
            env_thr ? env_thr : "(unset)");
#ifdef _OPENMP
    fprintf(f, "openmp.max_threads = %d\n", omp_get_max_threads());
#endif
    fprintf(f, "cpu.model = %s\n", model);
    fprintf(f, "cpu.online = %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    static const char *const feats[] = {"pni", "ssse3", "sse4_2", "avx", "fma", "avx2", "avx512f", "avx512bw",
                                        "avx512vl", "avx512dq", "avx512_bf16", "amx_bf16"};
    fprintf(f, "cpu.features =");
    for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
        if (cpu_flag(feats[i])) fprintf(f, " %s", i == 0 ? "sse3" : feats[i]); /* sse3 is "pni" */
    fprintf(f, "\n");
    char why[512];
    blas_api api;
    ptrag_blas_api_linked(&api);
    int bad = ptrag_blas_check_api(&api, why, sizeof why);
    fprintf(f, "blas.self_check = %s%s\n", bad ? "FAILED: " : "passed", bad ? why : "");
    const char *best = ptrag_blas_best_coretype();
    int fallback = core_rank(core) < cpu_rank();
    double here = 0, there = 0, unused;
    /* The linked library first, before the second copy is even loaded: its
     * start-up runs AVX-512 code too (see sgemm_gflops). */
    if (measure) sgemm_gflops(cblas_sgemm, NULL, 512, &here, &unused);
    alt_blas alt;
    int have_alt = measure && fallback && load_alt(best, &alt) == 0;
    if (have_alt) sgemm_gflops(alt.api.sgemm, NULL, 512, &there, &unused);
    if (measure) {
        fprintf(f, "blas.sgemm_512_gflops = %.1f (core %s, %d thread(s))\n", here, core, openblas_get_num_threads());
    }
    if (fallback) {
        fprintf(f, "warning: OpenBLAS runs its %s kernels, but this CPU supports %s (newer, faster): set "
                   "OPENBLAS_CORETYPE=%s",
                core, best, best);
        if (have_alt) {
            int alt_bad = ptrag_blas_check_api(&alt.api, why, sizeof why);
            fprintf(f, " (sgemm 512: %.1f GFLOP/s with %s, %.1f GFLOP/s with %s%s)", here, core, there,
                    alt.corename(), alt_bad ? "; but that core FAILS the self-check" : "");
        }
        fprintf(f, "\n");
    }
    if (fclose(f) != 0) {
        free(*text);
        *text = NULL;
        return ptrag_fail(err, PTRAG_E_NOMEM, "BLAS report: out of memory");
    }
    return 0;
}
