/* Fixed-order reductions (see ptrag/nn.h): blocks of SUM_BLOCK floats summed
 * in double, then the block sums in block order, so the result is the same
 * for any number of threads. */
#include "ptrag/nn.h"

#include <stddef.h>

enum { SUM_BLOCK = 4096, CHUNK = 64 /* blocks per pass, so the partials fit on the stack */ };

/* Sum over i of x[i] * y[i] (y NULL: of x[i]). */
double ptrag_dot_fixed(const float *x, const float *y, long n) {
    long nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double total = 0.0;
    for (long b0 = 0; b0 < nb; b0 += CHUNK) {
        double part[CHUNK];
        long nbc = nb - b0 < CHUNK ? nb - b0 : CHUNK;
#pragma omp parallel for schedule(static) if (nbc > 1)
        for (long b = 0; b < nbc; b++) {
            long lo = (b0 + b) * SUM_BLOCK, hi = lo + SUM_BLOCK < n ? lo + SUM_BLOCK : n;
            double s = 0.0;
            if (y)
                for (long i = lo; i < hi; i++) s += (double)x[i] * y[i];
            else
                for (long i = lo; i < hi; i++) s += x[i];
            part[b] = s;
        }
        for (long b = 0; b < nbc; b++) total += part[b];
    }
    return total;
}

double ptrag_sum_fixed(const float *x, long n) { return ptrag_dot_fixed(x, NULL, n); }

double ptrag_sqdev_fixed(const float *x, long n, double mean) {
    long nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double total = 0.0;
    for (long b0 = 0; b0 < nb; b0 += CHUNK) {
        double part[CHUNK];
        long nbc = nb - b0 < CHUNK ? nb - b0 : CHUNK;
#pragma omp parallel for schedule(static) if (nbc > 1)
        for (long b = 0; b < nbc; b++) {
            long lo = (b0 + b) * SUM_BLOCK, hi = lo + SUM_BLOCK < n ? lo + SUM_BLOCK : n;
            double s = 0.0;
            for (long i = lo; i < hi; i++) {
                double d = x[i] - mean;
                s += d * d;
            }
            part[b] = s;
        }
        for (long b = 0; b < nbc; b++) total += part[b];
    }
    return total;
}
