/* Latent modules of perturbation genes: spherical k-means (cosine) on the
 * unit-normalised embedding vectors, seeded with k-means++. Plain loops: n
 * and k are small (a few thousand genes, tens of modules). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim_internal.h"

static double dot(const float *a, const float *b, int d) {
    double s = 0;
    for (int j = 0; j < d; j++) s += (double)a[j] * b[j];
    return s;
}

int ptrag_sim_kmeans_cosine(const float *x, long n, int d, int k, ptrag_rng *rng, int *assign, ptrag_error *err) {
    if (k < 1 || k > n) return ptrag_fail(err, PTRAG_E_ARG, "modules: %d modules for %ld perturbations", k, n);
    float *cen = malloc((size_t)k * (size_t)d * sizeof *cen);
    double *best = malloc((size_t)n * sizeof *best);
    double *acc = malloc((size_t)k * (size_t)d * sizeof *acc);
    long *count = malloc((size_t)k * sizeof *count);
    if (!cen || !best || !acc || !count) {
        free(cen), free(best), free(acc), free(count);
        return ptrag_fail(err, PTRAG_E_NOMEM, "modules: out of memory");
    }
    /* k-means++ with cosine distance 1 - cos */
    long first = (long)ptrag_rng_below(rng, (uint64_t)n);
    memcpy(cen, x + (size_t)first * (size_t)d, (size_t)d * sizeof *cen);
    for (long i = 0; i < n; i++) best[i] = 1.0 - dot(x + (size_t)i * d, cen, d);
    for (int c = 1; c < k; c++) {
        double tot = 0;
        for (long i = 0; i < n; i++) tot += best[i] > 0 ? best[i] : 0;
        long pick = n - 1;
        double u = ptrag_rng_uniform(rng) * tot, run = 0;
        for (long i = 0; i < n; i++) {
            run += best[i] > 0 ? best[i] : 0;
            if (run > u) {
                pick = i;
                break;
            }
        }
        if (tot <= 0) pick = (long)ptrag_rng_below(rng, (uint64_t)n);
        memcpy(cen + (size_t)c * d, x + (size_t)pick * d, (size_t)d * sizeof *cen);
        for (long i = 0; i < n; i++) {
            double dd = 1.0 - dot(x + (size_t)i * d, cen + (size_t)c * d, d);
            if (dd < best[i]) best[i] = dd;
        }
    }
    for (int it = 0; it < 50; it++) {
        int changed = 0;
        for (long i = 0; i < n; i++) {
            int arg = 0;
            double bs = -DBL_MAX;
            for (int c = 0; c < k; c++) {
                double s = dot(x + (size_t)i * d, cen + (size_t)c * d, d);
                if (s > bs) bs = s, arg = c;
            }
            best[i] = bs;
            if (it == 0 || assign[i] != arg) changed = 1;
            assign[i] = arg;
        }
        if (!changed) break;
        memset(acc, 0, (size_t)k * d * sizeof *acc);
        memset(count, 0, (size_t)k * sizeof *count);
        for (long i = 0; i < n; i++) {
            count[assign[i]]++;
            for (int j = 0; j < d; j++) acc[(size_t)assign[i] * d + j] += x[(size_t)i * d + j];
        }
        for (int c = 0; c < k; c++) {
            if (count[c] == 0) { /* empty module: restart it at the worst-fitting gene */
                long worst = 0;
                for (long i = 1; i < n; i++)
                    if (best[i] < best[worst]) worst = i;
                best[worst] = DBL_MAX;
                for (int j = 0; j < d; j++) acc[(size_t)c * d + j] = x[(size_t)worst * d + j];
            }
            double nn = 0;
            for (int j = 0; j < d; j++) nn += acc[(size_t)c * d + j] * acc[(size_t)c * d + j];
            nn = nn > 0 ? 1.0 / sqrt(nn) : 0;
            for (int j = 0; j < d; j++) cen[(size_t)c * d + j] = (float)(acc[(size_t)c * d + j] * nn);
        }
    }
    free(cen), free(best), free(acc), free(count);
    return 0;
}
