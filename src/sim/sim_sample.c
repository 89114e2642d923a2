/* Gamma, Poisson and negative-binomial draws for the simulator, and the
 * expectation of log1p(k y) under the negative binomial (the truth of a
 * log1p-normalised experiment). */
#include <math.h>

#include "sim/sim_internal.h"

static double open_uniform(ptrag_rng *r) {
    double u;
    do u = ptrag_rng_uniform(r); while (u <= 0.0);
    return u;
}

double ptrag_sim_gamma(ptrag_rng *r, double shape) {
    if (shape < 1.0) {
        /* Gamma(a) = Gamma(a + 1) * U^(1/a) */
        double g = ptrag_sim_gamma(r, shape + 1.0);
        return g * pow(open_uniform(r), 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = ptrag_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = open_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

long ptrag_sim_poisson(ptrag_rng *r, double lambda) {
    if (!(lambda > 0.0)) return 0;
    if (lambda < 12.0) {
        /* Inversion: walk the cdf from 0. */
        double u = ptrag_rng_uniform(r), p = exp(-lambda), cdf = p;
        long k = 0;
        while (u > cdf && k < 1000) {
            k++;
            p *= lambda / (double)k;
            cdf += p;
        }
        return k;
    }
    /* PTRS: transformed rejection with squeeze (Hoermann 1993). */
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2.0);
    for (;;) {
        double u = ptrag_rng_uniform(r) - 0.5, v = ptrag_rng_uniform(r);
        double us = 0.5 - fabs(u);
        double k = floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) return (long)k;
        if (k < 0.0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <= -lambda + k * loglam - lgamma(k + 1.0))
            return (long)k;
    }
}

long ptrag_sim_nb(ptrag_rng *r, double m, double phi) {
    if (!(m > 0.0)) return 0;
    if (!(phi > 0.0)) return ptrag_sim_poisson(r, m);
    double shape = 1.0 / phi;
    return ptrag_sim_poisson(r, ptrag_sim_gamma(r, shape) * m * phi);
}

double ptrag_sim_nb_expect_log1p(double m, double phi, double k) {
    if (!(m > 0.0)) return 0.0;
    double var = m + (phi > 0.0 ? phi * m * m : 0.0);
    /* Large means: the start of the pmf underflows and the expansion is exact enough. */
    if (m > 500.0) {
        double km = k * m;
        return log1p(km) - 0.5 * k * k * var / ((1.0 + km) * (1.0 + km));
    }
    /* pmf recursion: P(y+1) = P(y) (y + r) / (y + 1) * m / (r + m), r = 1/phi */
    double sum = 0.0, cdf = 0.0, p;
    long ymax = (long)(m + 40.0 * sqrt(var) + 50.0);
    if (phi > 0.0) {
        double rr = 1.0 / phi, ratio = m / (rr + m);
        p = exp(-rr * log1p(m / rr));
        for (long y = 0; y <= ymax && cdf < 1.0 - 1e-12; y++) {
            sum += p * log1p(k * (double)y);
            cdf += p;
            p *= ((double)y + rr) / ((double)y + 1.0) * ratio;
        }
    } else {
        p = exp(-m);
        for (long y = 0; y <= ymax && cdf < 1.0 - 1e-12; y++) {
            sum += p * log1p(k * (double)y);
            cdf += p;
            p *= m / ((double)y + 1.0);
        }
    }
    return sum;
}
