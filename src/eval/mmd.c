/* Unbiased squared MMD with an RBF kernel and the median-heuristic bandwidth
 * (GGE's per-feature MMD). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ptrag/metrics.h"

/* Number of pairs i < j of a sorted sample with a_j - a_i <= v (two pointers:
 * the smallest admissible i only moves right as j grows, because floating
 * point subtraction is monotone in each argument). */
static long long count_pairs_within(const double *a, long n, double v) {
    long long count = 0;
    long i = 0;
    for (long j = 1; j < n; j++) {
        while (a[j] - a[i] > v) i++;
        count += j - i;
    }
    return count;
}

static uint64_t double_bits(double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double bits_double(uint64_t u) {
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* k-th smallest (1-based) non-zero pairwise difference. Non-negative doubles
 * order like their bit patterns, so a binary search over the bits finds the
 * exact value in at most 64 counting passes, without materialising the
 * n(n-1)/2 differences. */
static double kth_nonzero_difference(const double *a, long n, long long zeros, long long k) {
    uint64_t lo = 0, hi = double_bits(a[n - 1] - a[0]);
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (count_pairs_within(a, n, bits_double(mid)) - zeros >= k)
            hi = mid;
        else
            lo = mid + 1;
    }
    return bits_double(lo);
}

double ptrag_median_pairwise_distance(const double *a, long n) {
    if (n < 2) return 0.0;
    long long zeros = 0;
    for (long i = 0; i < n;) {
        long j = i;
        while (j < n && a[j] == a[i]) j++;
        long long t = j - i;
        zeros += t * (t - 1) / 2;
        i = j;
    }
    long long total = (long long)n * (n - 1) / 2;
    long long k = total - zeros;
    if (k == 0) return 0.0;
    if (k % 2 == 1) return kth_nonzero_difference(a, n, zeros, (k + 1) / 2);
    double lo = kth_nonzero_difference(a, n, zeros, k / 2);
    double hi = kth_nonzero_difference(a, n, zeros, k / 2 + 1);
    return (lo + hi) / 2.0;
}

/* exp(x) for x <= 0 without a libm call: the kernel sums make n^2 calls, and
 * a plain-arithmetic exp lets the loops vectorise and gives the same bits on
 * every machine (no libm version differences, no fp contraction in C17 mode).
 * x = k ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), exp(r) by its
 * Taylor series to degree 13 (truncation < 1e-17 relative), times 2^k built
 * in the exponent bits. Arguments below -708 are clamped: exp(-708) ~ 3e-308
 * is negligible next to the kernel sums. */
static inline double exp_nonpositive(double x) {
    const double log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10, shifter = 6755399441055744.0; /* 1.5 * 2^52 */
    x = x < -708.0 ? -708.0 : x;
    double kd = x * log2e + shifter; /* round to nearest integer, in the low mantissa bits */
    int64_t ki, kbits, sbits;
    memcpy(&kbits, &kd, sizeof kbits);
    memcpy(&sbits, &shifter, sizeof sbits);
    ki = kbits - sbits;
    kd -= shifter;
    double r = x - kd * ln2_hi - kd * ln2_lo;
    double p = 1.0 / 6227020800.0;               /* 1/13! */
    p = p * r + 1.0 / 479001600.0;               /* 1/12! */
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    int64_t bits = (ki + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static double kernel_sum_self(const double *x, long n, double gamma) {
    double s = 0;
    for (long i = 0; i < n; i++) {
        double xi = x[i], row = 0;
#pragma omp simd reduction(+ : row)
        for (long j = i + 1; j < n; j++) {
            double d = xi - x[j];
            row += exp_nonpositive(-gamma * d * d);
        }
        s += row;
    }
    return 2.0 * s;
}

static double kernel_sum_cross(const double *x, long n, const double *y, long m, double gamma) {
    double s = 0;
    for (long i = 0; i < n; i++) {
        double xi = x[i], row = 0;
#pragma omp simd reduction(+ : row)
        for (long j = 0; j < m; j++) {
            double d = xi - y[j];
            row += exp_nonpositive(-gamma * d * d);
        }
        s += row;
    }
    return s;
}

/* Merges two sorted samples. */
static void merge_sorted(const double *x, long n, const double *y, long m, double *out) {
    long i = 0, j = 0, k = 0;
    while (i < n && j < m) out[k++] = x[i] <= y[j] ? x[i++] : y[j++];
    while (i < n) out[k++] = x[i++];
    while (j < m) out[k++] = y[j++];
}

double ptrag_mmd_rbf_1d(const double *x, long n, const double *y, long m, double *pooled,
                        double *sigma) {
    if (sigma) *sigma = NAN;
    if (n < 2 || m < 2) return NAN;
    /* The heuristic needs a sorted pooled sample; callers pass sorted x and y. */
    merge_sorted(x, n, y, m, pooled);
    double s = ptrag_median_pairwise_distance(pooled, n + m);
    if (!(s > 0)) s = 1.0;
    if (sigma) *sigma = s;
    double gamma = 1.0 / (2.0 * s * s);
    double kxx = kernel_sum_self(x, n, gamma);
    double kyy = kernel_sum_self(y, m, gamma);
    double kxy = kernel_sum_cross(x, n, y, m, gamma);
    double mmd = kxx / ((double)n * (double)(n - 1)) + kyy / ((double)m * (double)(m - 1)) -
                 2.0 * kxy / ((double)n * (double)m);
    return mmd > 0 ? mmd : 0.0;
}
