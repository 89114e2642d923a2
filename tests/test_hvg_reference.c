/* Highly-variable genes against an independent numpy implementation of the
 * documented algorithm (tests/py/hvg_reference.py), on real raw counts
 * (every 5th cell of the Datlinger 2017 file, dumped by Python because the
 * C h5ad reader is another module) and on generated counts. Skips (77) when
 * /usr/bin/python3 lacks numpy or anndata. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ptrag/preprocess.h"
#include "ptrag/rng.h"
#include "testlib.h"

static float *read_matrix(const char *path, long *n, long *g) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    int64_t hdr[2];
    float *x = NULL;
    if (fread(hdr, sizeof hdr, 1, f) == 1 && hdr[0] > 0 && hdr[1] > 0) {
        *n = (long)hdr[0];
        *g = (long)hdr[1];
        x = malloc((size_t)(*n * *g) * sizeof *x);
        if (x && fread(x, sizeof *x, (size_t)(*n * *g), f) != (size_t)(*n * *g)) {
            free(x);
            x = NULL;
        }
    }
    fclose(f);
    return x;
}

static int write_matrix(const char *path, const float *x, long n, long g) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int64_t hdr[2] = {n, g};
    int ok = fwrite(hdr, sizeof hdr, 1, f) == 1 && fwrite(x, sizeof *x, (size_t)(n * g), f) == (size_t)(n * g);
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Runs C and numpy on the matrix file and compares every statistic. */
static void compare_with_reference(const char *matrix_path, long ntop, long block) {
    long n = 0, g = 0;
    float *x = read_matrix(matrix_path, &n, &g);
    CHECK(x != NULL);
    if (!x) return;
    const char *ref_path = tl_tmp("test_hvg_reference_out.txt");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/py/hvg_reference.py ref %s %ld %s",
             PTRAG_SOURCE_DIR, matrix_path, ntop, ref_path);
    CHECK(system(cmd) == 0);

    ptrag_hvg *h = NULL;
    ptrag_error err = {0};
    long *genes = malloc((size_t)ntop * sizeof *genes);
    int rc = ptrag_hvg_new(g, &h, &err);
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (long r = 0; r < n && !rc; r += block)
            rc = ptrag_hvg_add_block(h, x + r * g, r + block <= n ? block : n - r, &err);
        if (!rc && pass == 0) rc = ptrag_hvg_next_pass(h, &err);
    }
    if (!rc) rc = ptrag_hvg_finish(h, ntop, genes, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    FILE *f = fopen(ref_path, "r");
    CHECK(f != NULL);
    if (!rc && f) {
        long same = 0, ref_gene;
        long *ref_genes = malloc((size_t)ntop * sizeof *ref_genes);
        for (long k = 0; k < ntop; k++) {
            CHECK(fscanf(f, "%ld", &ref_gene) == 1);
            ref_genes[k] = ref_gene;
        }
        for (long k = 0; k < ntop; k++) same += genes[k] == ref_genes[k];
        CHECK_INT(same, ntop);
        double worst[4] = {0};
        const double *mine[4] = {ptrag_hvg_means(h), ptrag_hvg_variances(h),
                                 ptrag_hvg_fitted_log10_var(h), ptrag_hvg_scores(h)};
        for (long j = 0; j < g; j++) {
            double ref[4];
            CHECK(fscanf(f, "%lf %lf %lf %lf", &ref[0], &ref[1], &ref[2], &ref[3]) == 4);
            for (int s = 0; s < 4; s++) {
                /* relative for mean/var/score, absolute for the log10 fit */
                double scale = s == 2 ? 1.0 : fmax(fabs(ref[s]), 1e-300);
                double e = fabs(mine[s][j] - ref[s]) / scale;
                if (e > worst[s]) worst[s] = e;
            }
        }
        printf("  %s: %ld x %ld, worst diff mean %.2g var %.2g fit %.2g score %.2g\n", matrix_path,
               n, g, worst[0], worst[1], worst[2], worst[3]);
        CHECK(worst[0] < 1e-10);
        CHECK(worst[1] < 1e-9);
        CHECK(worst[2] < 1e-8);
        CHECK(worst[3] < 1e-7);
        free(ref_genes);
    }
    if (f) fclose(f);
    remove(ref_path);
    ptrag_hvg_free(h);
    free(genes);
    free(x);
}

static void test_real_counts(void) {
    const char *path = tl_tmp("test_hvg_reference_datlinger.bin");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/py/hvg_reference.py dump-datlinger %s %s 5",
             PTRAG_SOURCE_DIR, tl_shared("data/datlinger2017_jurkat/datlinger2017_jurkat_counts.h5ad"),
             path);
    CHECK(system(cmd) == 0);
    long n = 0, g = 0;
    float *x = read_matrix(path, &n, &g);
    CHECK(x != NULL);
    if (x) {
        CHECK_INT(n, 1500);
        CHECK_INT(g, 2000);
        CHECK(ptrag_looks_like_counts(x, n, g, NULL, NULL) == 1);
        free(x);
    }
    compare_with_reference(path, 500, 128);
    remove(path);
}

static void test_generated_counts(void) {
    long n = 400, g = 300;
    float *x = malloc((size_t)(n * g) * sizeof *x);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 99);
    for (long j = 0; j < g; j++) {
        double mu = exp(1.5 * ptrag_rng_normal(&rng) - 1.0);
        double disp = (j % 5 == 0) ? 1.2 : 0.2;
        for (long i = 0; i < n; i++) {
            double m = mu * exp(disp * ptrag_rng_normal(&rng) - disp * disp / 2);
            /* counts by inversion of a Poisson CDF */
            double u = ptrag_rng_uniform(&rng), p = exp(-m), c = p;
            long k = 0;
            while (u > c && k < 100000) {
                k++;
                p *= m / (double)k;
                c += p;
            }
            x[i * g + j] = (float)k;
        }
    }
    x[7] = 0; /* a constant gene: all zeros */
    for (long i = 0; i < n; i++) x[i * g + 7] = 0;
    const char *path = tl_tmp("test_hvg_reference_generated.bin");
    CHECK(write_matrix(path, x, n, g) == 0);
    compare_with_reference(path, 60, 33);
    remove(path);
    free(x);
}

int main(void) {
    if (system("/usr/bin/python3 -c 'import numpy, anndata' >/dev/null 2>&1") != 0) {
        printf("skipped: /usr/bin/python3 with numpy and anndata is needed for the reference\n");
        return 77;
    }
    RUN(test_real_counts);
    RUN(test_generated_counts);
    return TEST_SUMMARY();
}
