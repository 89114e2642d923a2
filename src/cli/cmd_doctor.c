/* ptrag doctor: which matrix-product path (fp32 / bf16) this machine gets and
 * why: CPU bf16 features, oneDNN and the implementation it picks, OpenBLAS
 * and its core type, threads; --measure times both paths on a model shape. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "cli/run_opts.h"
#include "ptrag/bf16.h"
#include "ptrag/blas_check.h"
#include "ptrag/config.h"
#include "ptrag/dist.h"

static const cli_opt opts[] = {
    {"--measure", NULL, "also time one thread's fp32 and bf16 product of an MLP tile (256 x 2784 x 128), and OpenBLAS's kernels against the best core type for this CPU"},
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + (v[1] == ' ');
                v[strcspn(v, "\n")] = '\0';
                snprintf(buf, n, "%s", v);
            }
            break;
        }
    fclose(f);
}

/* Best of 5, GFLOP/s of one thread, on the MLP tile's gate/up product. */
static void measure(void) {
    enum { M = 256, N = 2784, K = 128 };
    float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * N * K), *c = malloc(sizeof(float) * M * N);
    uint16_t *a16 = malloc(2 * M * K), *b16 = malloc(2 * N * K);
    if (!a || !b || !c || !a16 || !b16) {
        printf("measure:   out of memory\n");
        goto done;
    }
    for (int i = 0; i < M * K; i++) a[i] = (float)((i * 7) % 13) * 0.05f - 0.3f;
    for (int i = 0; i < N * K; i++) b[i] = (float)((i * 5) % 11) * 0.05f - 0.25f;
    ptrag_bf16_round(a16, a, M * K);
    ptrag_bf16_round(b16, b, N * K);
    openblas_set_num_threads(1);
    double t32 = 1e30, t16 = 1e30;
    int rc = 0;
    for (int r = 0; r < 6; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double t1 = now();
        if (ptrag_bf16_available()) rc = ptrag_bf16_gemm(0, 1, M, M, N, K, a16, K, b16, K, 0.0f, c, N);
        double t2 = now();
        if (r > 0) t32 = t1 - t0 < t32 ? t1 - t0 : t32, t16 = t2 - t1 < t16 ? t2 - t1 : t16;
    }
    double fl = 2.0 * M * N * K / 1e9;
    printf("measure:   %d x %d x %d, one thread: OpenBLAS sgemm %.0f GFLOP/s", M, N, K, fl / t32);
    if (ptrag_bf16_available() && !rc)
        printf(", oneDNN bf16 %.0f GFLOP/s (%.2fx)\n", fl / t16, t32 / t16);
    else
        printf(", bf16 unavailable\n");
done:
    free(a), free(b), free(c), free(a16), free(b16);
}

int cmd_doctor(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv, "ptrag doctor [--measure]",
                       "Says which matrix-product path `--precision auto` (the default of train and\n"
                       "experiment) picks on this machine, and why: bf16 (oneDNN, bf16 inputs, fp32\n"
                       "accumulation) where the CPU has AVX512-BF16 or AMX-BF16 and the build has oneDNN,\n"
                       "else fp32 (OpenBLAS). --faithful always trains in fp32 unless --precision is given.",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    char cpu[256], feat[64], dnnl[512], why[256];
    cpu_model(cpu, sizeof cpu);
    ptrag_bf16_cpu_native(feat, sizeof feat);
    ptrag_bf16_describe(dnnl, sizeof dnnl);
    ptrag_precision p = ptrag_precision_resolve(PTRAG_PRECISION_AUTO, why, sizeof why);
    const int par = openblas_get_parallel();
    const char *env = getenv("OMP_NUM_THREADS"), *core = getenv("OPENBLAS_CORETYPE");
    printf("cpu:       %s; bf16 features: %s\n", cpu, feat);
    printf("oneDNN:    %s\n", dnnl);
    printf("OpenBLAS:  %s; core %s%s; %s threading\n", openblas_get_config(), openblas_get_corename(),
           core ? " (OPENBLAS_CORETYPE)" : "", par == 0 ? "sequential" : par == 1 ? "pthreads" : "OpenMP");
    printf("threads:   %d OpenMP threads (OMP_NUM_THREADS=%s); every product runs single-threaded per fixed block\n",
           omp_get_max_threads(), env ? env : "unset");
    printf("precision: %s (CLI default %s; --faithful: fp32)\n", why, CLI_DEFAULT_PRECISION);
    printf("MPI:       %s\n", ptrag_dist_available()
                                  ? "built with MPI: mpirun -np N ptrag train splits each batch over N processes "
                                    "(docs/distributed.md)"
                                  : "not in this build (one process only; install libopenmpi-dev and rebuild)");
    if (p == PTRAG_PRECISION_FP32 && ptrag_bf16_available())
        printf("           --precision bf16 still works here, through oneDNN's emulation (slower than fp32)\n");
    if (cli_has(&a, "--measure")) measure();
    /* The BLAS itself: library, core type, the start-up self-check's verdict
     * and, with --measure, whether OpenBLAS runs older kernels than the CPU
     * supports (docs/reliability.md). */
    char *report = NULL;
    ptrag_error err;
    if (ptrag_blas_report(cli_has(&a, "--measure"), &report, &err)) {
        fprintf(stderr, "ptrag doctor: %s\n", err.msg);
        return 1;
    }
    printf("\nBLAS\n%s", report);
    free(report);
    return 0;
}
