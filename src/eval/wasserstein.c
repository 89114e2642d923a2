/* Exact 1-D Wasserstein distances between two empirical distributions with
 * equal weights, through the quantile coupling: on [0, 1] the quantile
 * functions are step functions with breaks at i/n and j/m, so the integral
 * is a finite sum over the merged breaks. Positions are counted in units of
 * 1/(n*m) so the breaks are integers and no rounding creeps into the steps. */
#include <math.h>

#include "ptrag/metrics.h"

/* Sum over the merged quantile intervals of step * |x_i - y_j|^p, p = 1 or 2,
 * divided by n*m. */
static double quantile_coupling_cost(const double *x, long n, const double *y, long m, int p) {
    long long nm = (long long)n * (long long)m;
    long long pos = 0;
    long i = 0, j = 0;
    double acc = 0;
    while (pos < nm) {
        long long next_x = (long long)(i + 1) * m, next_y = (long long)(j + 1) * n;
        long long next = next_x < next_y ? next_x : next_y;
        double d = fabs(x[i] - y[j]);
        acc += (double)(next - pos) * (p == 1 ? d : d * d);
        pos = next;
        if (next == next_x) i++;
        if (next == next_y) j++;
    }
    return acc / (double)nm;
}

double ptrag_w1_sorted(const double *x, long n, const double *y, long m) {
    return quantile_coupling_cost(x, n, y, m, 1);
}

double ptrag_w2_sorted(const double *x, long n, const double *y, long m) {
    return sqrt(quantile_coupling_cost(x, n, y, m, 2));
}
