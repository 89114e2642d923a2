/* Energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (V-statistics): exact 1-D form
 * in O(n log n) from sorted samples, and the multivariate form in gene space
 * from sgemm Gram matrices. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/blas_serial.h"
#include "ptrag/metrics.h"

/* sum_{i,j} |a_i - a_j| over ordered pairs of a sorted sample. */
static double self_abs_sum(const double *a, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += a[i] * (double)(2 * i - n + 1);
    return 2.0 * s;
}

/* sum_{i,j} |x_i - y_j| of two sorted samples: for each x_i, the y below it
 * contribute c*x_i - P, the y above (Sy - P) - (m - c)*x_i. */
static double cross_abs_sum(const double *x, long n, const double *y, long m) {
    double sy = 0;
    for (long j = 0; j < m; j++) sy += y[j];
    double below = 0, s = 0;
    long c = 0;
    for (long i = 0; i < n; i++) {
        while (c < m && y[c] <= x[i]) below += y[c++];
        s += (double)c * x[i] - below + (sy - below) - (double)(m - c) * x[i];
    }
    return s;
}

double ptrag_energy_1d_sorted(const double *x, long n, const double *y, long m) {
    double e = 2.0 * cross_abs_sum(x, n, y, m) / ((double)n * (double)m) -
               self_abs_sum(x, n) / ((double)n * (double)n) -
               self_abs_sum(y, m) / ((double)m * (double)m);
    return e > 0 ? e : 0.0;
}

enum { GRAM_BLOCK = 256 };

/* Sum of Euclidean distances between the rows of a (na x g) and b (nb x g):
 * |a|^2 + |b|^2 - 2 a.b with the dot products from single-threaded sgemm, one
 * block of GRAM_BLOCK rows of a per OpenMP iteration; the block sums are added
 * in block order, so the total does not depend on the thread count. `gram`
 * holds GRAM_BLOCK x nb floats per thread, `block_sum` one double per block. */
static void pair_distance_sum(const float *a, const double *na, long n_a, const float *b,
                              const double *nb, long n_b, long g, float *gram, double *block_sum,
                              double *total) {
    long n_blocks = (n_a + GRAM_BLOCK - 1) / GRAM_BLOCK;
#pragma omp parallel for schedule(dynamic, 1)
    for (long blk = 0; blk < n_blocks; blk++) {
        long r0 = blk * GRAM_BLOCK;
        long rows = n_a - r0 < GRAM_BLOCK ? n_a - r0 : GRAM_BLOCK;
        float *gr0 = gram + (size_t)omp_get_thread_num() * GRAM_BLOCK * (size_t)n_b;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)n_b, (int)g, 1.0f,
                    a + r0 * g, (int)g, b, (int)g, 0.0f, gr0, (int)n_b);
        double sum = 0;
        for (long i = 0; i < rows; i++) {
            const float *gr = gr0 + i * n_b;
            double row = 0;
            for (long j = 0; j < n_b; j++) {
                double d2 = na[r0 + i] + nb[j] - 2.0 * (double)gr[j];
                row += d2 > 0 ? sqrt(d2) : 0.0;
            }
            sum += row;
        }
        block_sum[blk] = sum;
    }
    double t = 0;
    for (long blk = 0; blk < n_blocks; blk++) t += block_sum[blk];
    *total = t;
}

/* Copies x - shift into out and returns the squared row norms (double). */
static void center_rows(const float *x, long n, long g, const double *shift, float *out,
                        double *norm2) {
    for (long i = 0; i < n; i++) {
        double s = 0;
        for (long j = 0; j < g; j++) {
            float v = (float)((double)x[i * g + j] - shift[j]);
            out[i * g + j] = v;
            s += (double)v * (double)v;
        }
        norm2[i] = s;
    }
}

int ptrag_energy_distance(const float *x, long n, const float *y, long m, long g, double *out,
                          ptrag_error *err) {
    *out = NAN;
    if (n < 1 || m < 1 || g < 1)
        return ptrag_fail(err, PTRAG_E_ARG, "energy distance: need >= 1 row per side and >= 1 column (got %ld, %ld, %ld)", n, m, g);
    long big = n > m ? n : m;
    int threads = omp_get_max_threads();
    double *shift = malloc((size_t)g * sizeof *shift);
    double *mx = malloc((size_t)g * sizeof *mx);
    float *xc = malloc((size_t)n * (size_t)g * sizeof *xc);
    float *yc = malloc((size_t)m * (size_t)g * sizeof *yc);
    double *nx = malloc((size_t)n * sizeof *nx);
    double *ny = malloc((size_t)m * sizeof *ny);
    float *gram = malloc((size_t)threads * GRAM_BLOCK * (size_t)big * sizeof *gram);
    double *block_sum = malloc((size_t)(big / GRAM_BLOCK + 1) * sizeof *block_sum);
    int rc = 0;
    if (!shift || !mx || !xc || !yc || !nx || !ny || !gram || !block_sum) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "energy distance: out of memory for %ld + %ld rows x %ld", n, m, g);
        goto done;
    }
    /* Centring on the pooled mean keeps |a|^2 + |b|^2 - 2ab from cancelling. */
    ptrag_col_means(x, n, g, mx);
    ptrag_col_means(y, m, g, shift);
    for (long j = 0; j < g; j++)
        shift[j] = ((double)n * mx[j] + (double)m * shift[j]) / (double)(n + m);
    center_rows(x, n, g, shift, xc, nx);
    center_rows(y, m, g, shift, yc, ny);
    double sxy, sxx, syy;
    int blas = ptrag_blas_serial_begin();
    pair_distance_sum(xc, nx, n, yc, ny, m, g, gram, block_sum, &sxy);
    pair_distance_sum(xc, nx, n, xc, nx, n, g, gram, block_sum, &sxx);
    pair_distance_sum(yc, ny, m, yc, ny, m, g, gram, block_sum, &syy);
    ptrag_blas_serial_end(blas);
    double e = 2.0 * sxy / ((double)n * (double)m) - sxx / ((double)n * (double)n) -
               syy / ((double)m * (double)m);
    *out = e > 0 ? e : 0.0;
done:
    free(shift);
    free(mx);
    free(xc);
    free(yc);
    free(nx);
    free(ny);
    free(gram);
    free(block_sum);
    return rc;
}
