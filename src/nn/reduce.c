/* Fixed-order reductions (see ptrag/nn.h): blocks of SUM_BLOCK floats summed
 * in double, then the block sums in block order, so the result is the same
 * for any number of threads. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

#include "nn/reduce.h"

/* CHUNK blocks per parallel pass, their partials on the stack (32 KiB): one
 * pass covers 16.7M floats (a whole gradient arena), since a pass is a fork
 * and a barrier. The order of the additions does not depend on CHUNK. */
enum { SUM_BLOCK = 4096, CHUNK = 4096 };

typedef enum { TERM_X, TERM_ABS, TERM_XY, TERM_SQDEV } term_kind;

/* One block's sum in double: x[i], |x[i]|, x[i] y[i] or (x[i] - mean)^2. */
static double block_sum(term_kind kind, const float *x, const float *y, double mean, long lo, long hi) {
    double s = 0.0;
    switch (kind) {
    case TERM_X:
        for (long i = lo; i < hi; i++) s += x[i];
        break;
    case TERM_ABS:
        for (long i = lo; i < hi; i++) s += fabs((double)x[i]);
        break;
    case TERM_XY:
        for (long i = lo; i < hi; i++) s += (double)x[i] * y[i];
        break;
    case TERM_SQDEV:
        for (long i = lo; i < hi; i++) {
            double d = x[i] - mean;
            s += d * d;
        }
        break;
    }
    return s;
}

static double fixed_sum(term_kind kind, const float *x, const float *y, double mean, long n) {
    long nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double total = 0.0;
    for (long b0 = 0; b0 < nb; b0 += CHUNK) {
        double part[CHUNK];
        long nbc = nb - b0 < CHUNK ? nb - b0 : CHUNK;
#pragma omp parallel for schedule(static) if (nbc > 1)
        for (long b = 0; b < nbc; b++) {
            long lo = (b0 + b) * SUM_BLOCK, hi = lo + SUM_BLOCK < n ? lo + SUM_BLOCK : n;
            part[b] = block_sum(kind, x, y, mean, lo, hi);
        }
        for (long b = 0; b < nbc; b++) total += part[b];
    }
    return total;
}

double ptrag_sum_fixed(const float *x, long n) { return fixed_sum(TERM_X, x, NULL, 0.0, n); }

double ptrag_dot_fixed(const float *x, const float *y, long n) { return fixed_sum(TERM_XY, x, y, 0.0, n); }

double ptrag_sqdev_fixed(const float *x, long n, double mean) { return fixed_sum(TERM_SQDEV, x, NULL, mean, n); }

double ptrag_abs_sum_fixed(const float *x, long n) { return fixed_sum(TERM_ABS, x, NULL, 0.0, n); }
