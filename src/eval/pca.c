/* PCA by eigendecomposition of the covariance matrix (LAPACK dsyevr on the
 * g x g covariance accumulated in double). Deterministic: fixed block order,
 * fixed sign convention, eigensolver run single-threaded. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/blas_serial.h"
#include "ptrag/metrics.h"

/* LAPACK (Fortran) symbols exported by Debian's OpenBLAS; the trailing
 * size_t arguments are gfortran's hidden string lengths. */
extern void dsyevr_(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
                    const int *lda, const double *vl, const double *vu, const int *il,
                    const int *iu, const double *abstol, int *m, double *w, double *z,
                    const int *ldz, int *isuppz, double *work, const int *lwork, int *iwork,
                    const int *liwork, int *info, size_t jobz_len, size_t range_len,
                    size_t uplo_len);

enum { PCA_BLOCK = 512, PCA_PANEL = 128 };

struct ptrag_pca_accum {
    long g;
    long n;
    double *shift;   /* g: mean of the first block, subtracted before products */
    double *sum;     /* g: sum of (x - shift) */
    double *cross;   /* g x g: sum of (x - shift)(x - shift)^T */
    float *block;    /* PCA_BLOCK x g */
    float *prod;     /* g x g */
};

int ptrag_pca_accum_new(long g, ptrag_pca_accum **out, ptrag_error *err) {
    *out = NULL;
    if (g < 1) return ptrag_fail(err, PTRAG_E_ARG, "PCA: need >= 1 column (got %ld)", g);
    ptrag_pca_accum *a = calloc(1, sizeof *a);
    if (!a) return ptrag_fail(err, PTRAG_E_NOMEM, "PCA: out of memory");
    a->g = g;
    a->shift = calloc((size_t)g, sizeof *a->shift);
    a->sum = calloc((size_t)g, sizeof *a->sum);
    a->cross = calloc((size_t)g * (size_t)g, sizeof *a->cross);
    a->block = malloc((size_t)PCA_BLOCK * (size_t)g * sizeof *a->block);
    a->prod = malloc((size_t)g * (size_t)g * sizeof *a->prod);
    if (!a->shift || !a->sum || !a->cross || !a->block || !a->prod) {
        ptrag_pca_accum_free(a);
        return ptrag_fail(err, PTRAG_E_NOMEM, "PCA: out of memory for %ld x %ld covariance", g, g);
    }
    *out = a;
    return 0;
}

void ptrag_pca_accum_free(ptrag_pca_accum *a) {
    if (!a) return;
    free(a->shift);
    free(a->sum);
    free(a->cross);
    free(a->block);
    free(a->prod);
    free(a);
}

int ptrag_pca_accum_add(ptrag_pca_accum *a, const float *x, long n, ptrag_error *err) {
    (void)err;
    long g = a->g;
    if (n <= 0) return 0;
    /* The first rows set the shift: products of shifted data do not cancel
     * catastrophically in float when the data sit far from zero. */
    if (a->n == 0) ptrag_col_means(x, n < PCA_BLOCK ? n : PCA_BLOCK, g, a->shift);
    for (long r0 = 0; r0 < n; r0 += PCA_BLOCK) {
        long rows = n - r0 < PCA_BLOCK ? n - r0 : PCA_BLOCK;
        for (long i = 0; i < rows; i++)
            for (long j = 0; j < g; j++) {
                float v = (float)((double)x[(r0 + i) * g + j] - a->shift[j]);
                a->block[i * g + j] = v;
                a->sum[j] += v;
            }
        /* cross += block^T block, one fixed-width column panel per OpenMP
         * iteration with single-threaded sgemm: bits independent of threads. */
        long n_panels = (g + PCA_PANEL - 1) / PCA_PANEL;
        int blas = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1)
        for (long pnl = 0; pnl < n_panels; pnl++) {
            long c0 = pnl * PCA_PANEL, w = g - c0 < PCA_PANEL ? g - c0 : PCA_PANEL;
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g, (int)w, (int)rows, 1.0f,
                        a->block, (int)g, a->block + c0, (int)g, 0.0f, a->prod + c0, (int)g);
            for (long i = 0; i < g; i++)
                for (long j = c0; j < c0 + w; j++) a->cross[i * g + j] += a->prod[i * g + j];
        }
        ptrag_blas_serial_end(blas);
        a->n += rows;
    }
    return 0;
}

void ptrag_pca_free(ptrag_pca *pca) {
    if (!pca) return;
    free(pca->mean);
    free(pca->components);
    free(pca->variance);
    memset(pca, 0, sizeof *pca);
}

int ptrag_pca_accum_finish(ptrag_pca_accum *a, int k_max, ptrag_pca *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    long g = a->g, n = a->n;
    if (n < 2 || g < 2)
        return ptrag_fail(err, PTRAG_E_ARG, "PCA: need >= 2 rows and >= 2 columns (got %ld x %ld)", n, g);
    if (k_max < 1) return ptrag_fail(err, PTRAG_E_ARG, "PCA: components: need >= 1 (got %d)", k_max);
    if (g > 46340) return ptrag_fail(err, PTRAG_E_UNSUPPORTED, "PCA: %ld columns exceed the LAPACK int range", g);
    long k = k_max;
    if (k > n - 1) k = n - 1;
    if (k > g - 1) k = g - 1;

    int rc = 0;
    double *cov = malloc((size_t)g * (size_t)g * sizeof *cov);
    double *w = malloc((size_t)g * sizeof *w);
    double *z = malloc((size_t)g * (size_t)k * sizeof *z);
    int *isuppz = malloc((size_t)(2 * k) * sizeof *isuppz);
    double *work = NULL;
    int *iwork = NULL;
    out->mean = malloc((size_t)g * sizeof *out->mean);
    out->components = malloc((size_t)g * (size_t)k * sizeof *out->components);
    out->variance = malloc((size_t)k * sizeof *out->variance);
    if (!cov || !w || !z || !isuppz || !out->mean || !out->components || !out->variance) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "PCA: out of memory for %ld x %ld covariance", g, g);
        goto done;
    }
    /* cov = (cross - n d d^T) / (n - 1), d = mean - shift = sum / n. */
    double total = 0;
    for (long i = 0; i < g; i++) {
        double di = a->sum[i] / (double)n;
        out->mean[i] = a->shift[i] + di;
        for (long j = 0; j < g; j++) {
            double dj = a->sum[j] / (double)n;
            cov[i * g + j] = (a->cross[i * g + j] - (double)n * di * dj) / (double)(n - 1);
        }
        total += cov[i * g + i];
    }
    out->total_variance = total;

    /* Largest k eigenpairs: indices g-k+1 .. g in LAPACK's ascending order. */
    int ng = (int)g, il = (int)(g - k + 1), iu = (int)g, found = 0, info = 0, lwork = -1,
        liwork = -1, iwq = 0;
    double vl = 0, vu = 0, abstol = 0, wq = 0;
    int ldz = (int)g;
    int blas_threads = ptrag_blas_serial_begin(); /* threaded BLAS inside LAPACK rounds differently */
    dsyevr_("V", "I", "U", &ng, cov, &ng, &vl, &vu, &il, &iu, &abstol, &found, w, z, &ldz, isuppz,
            &wq, &lwork, &iwq, &liwork, &info, 1, 1, 1);
    if (info == 0) {
        lwork = (int)wq;
        liwork = iwq;
        work = malloc((size_t)lwork * sizeof *work);
        iwork = malloc((size_t)liwork * sizeof *iwork);
        if (!work || !iwork) {
            ptrag_blas_serial_end(blas_threads);
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "PCA: out of memory for the eigensolver workspace");
            goto done;
        }
        dsyevr_("V", "I", "U", &ng, cov, &ng, &vl, &vu, &il, &iu, &abstol, &found, w, z, &ldz,
                isuppz, work, &lwork, iwork, &liwork, &info, 1, 1, 1);
    }
    ptrag_blas_serial_end(blas_threads);
    if (info != 0 || found != (int)k) {
        rc = ptrag_fail(err, PTRAG_E_NUMERIC, "PCA: eigensolver dsyevr failed (info %d, %d of %ld eigenpairs)", info, found, k);
        goto done;
    }
    /* Descending order; the largest-|loading| entry of each component positive. */
    for (long c = 0; c < k; c++) {
        const double *v = z + (size_t)(k - 1 - c) * (size_t)g;
        long arg = 0;
        for (long j = 1; j < g; j++)
            if (fabs(v[j]) > fabs(v[arg])) arg = j;
        double sign = v[arg] < 0 ? -1.0 : 1.0;
        for (long j = 0; j < g; j++) out->components[j * k + c] = (float)(sign * v[j]);
        double ev = w[k - 1 - c];
        out->variance[c] = ev > 0 ? ev : 0.0;
    }
    out->g = g;
    out->k = (int)k;
    out->n_fit = n;
done:
    free(cov);
    free(w);
    free(z);
    free(isuppz);
    free(work);
    free(iwork);
    if (rc) ptrag_pca_free(out);
    return rc;
}

int ptrag_pca_fit(const float *x, long n, long g, int k_max, ptrag_pca *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    ptrag_pca_accum *a;
    int rc = ptrag_pca_accum_new(g, &a, err);
    if (rc) return rc;
    rc = ptrag_pca_accum_add(a, x, n, err);
    if (!rc) rc = ptrag_pca_accum_finish(a, k_max, out, err);
    ptrag_pca_accum_free(a);
    return rc;
}

int ptrag_pca_project(const ptrag_pca *pca, const float *x, long n, float *out, ptrag_error *err) {
    long g = pca->g, k = pca->k;
    if (k < 1) return ptrag_fail(err, PTRAG_E_STATE, "PCA projection: the PCA has no components");
    if (n <= 0) return 0;
    long rows_max = n < PCA_BLOCK ? n : PCA_BLOCK;
    int threads = omp_get_max_threads();
    float *blocks = malloc((size_t)threads * (size_t)rows_max * (size_t)g * sizeof *blocks);
    if (!blocks) return ptrag_fail(err, PTRAG_E_NOMEM, "PCA projection: out of memory");
    long n_blocks = (n + PCA_BLOCK - 1) / PCA_BLOCK;
    int blas = ptrag_blas_serial_begin();
    /* Row blocks are independent: each is centred and multiplied on its own. */
#pragma omp parallel for schedule(dynamic, 1)
    for (long blk = 0; blk < n_blocks; blk++) {
        long r0 = blk * PCA_BLOCK;
        long rows = n - r0 < PCA_BLOCK ? n - r0 : PCA_BLOCK;
        float *block = blocks + (size_t)omp_get_thread_num() * (size_t)rows_max * (size_t)g;
        for (long i = 0; i < rows; i++)
            for (long j = 0; j < g; j++)
                block[i * g + j] = (float)((double)x[(r0 + i) * g + j] - pca->mean[j]);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)k, (int)g, 1.0f,
                    block, (int)g, pca->components, (int)k, 0.0f, out + r0 * k, (int)k);
    }
    ptrag_blas_serial_end(blas);
    free(blocks);
    return 0;
}
