/* Two-sided Mann-Whitney U test with tie correction and continuity
 * correction, normal approximation (scipy's method="asymptotic"). */
#include <math.h>

#include "ptrag/metrics.h"

double ptrag_mann_whitney_sorted(const float *x, long nx, const float *y, long ny, double *u1) {
    /* Walk the merged order one tie group at a time: the group gets the
     * average of the ranks it spans, x's share adds to x's rank sum. */
    double rank_sum_x = 0, tie_term = 0;
    long i = 0, j = 0, pos = 0; /* pos: ranks used so far */
    while (i < nx || j < ny) {
        float v;
        if (j >= ny || (i < nx && x[i] <= y[j]))
            v = x[i];
        else
            v = y[j];
        long tx = 0, ty = 0;
        while (i < nx && x[i] == v) {
            i++;
            tx++;
        }
        while (j < ny && y[j] == v) {
            j++;
            ty++;
        }
        double t = (double)(tx + ty);
        double avg_rank = (double)pos + (t + 1.0) / 2.0;
        rank_sum_x += (double)tx * avg_rank;
        tie_term += t * t * t - t;
        pos += tx + ty;
    }
    double n1 = (double)nx, n2 = (double)ny, n = n1 + n2;
    double U1 = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    double U2 = n1 * n2 - U1;
    if (u1) *u1 = U1;
    double U = U1 > U2 ? U1 : U2;
    double mu = n1 * n2 / 2.0;
    double var = n1 * n2 / 12.0 * ((n + 1.0) - (n > 1 ? tie_term / (n * (n - 1.0)) : 0.0));
    double num = U - mu - 0.5;
    if (!(var > 0)) return 1.0; /* every value tied: no evidence (scipy: p = 1) */
    double z = num / sqrt(var);
    double p = erfc(z / sqrt(2.0)); /* 2 * normal survival function */
    if (p > 1.0) p = 1.0;
    if (p < 0.0) p = 0.0;
    return p;
}
