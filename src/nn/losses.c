/* Losses: the sparsity term mean|w|, the geomloss-convention energy distance
 * between point sets (reference-model.md section 4.1) and the set-mean MSE.
 * For the set losses a set is the fixed block: one set per iteration, its
 * sgemms single-threaded. */
#include "ptrag/nn.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>

#include "core/blas_serial.h"
#include "nn/reduce.h"

/* ---------------------------------------------------------------- sparsity */

double ptrag_sparsity_forward(const float *w, long n) {
    return n > 0 ? ptrag_abs_sum_fixed(w, n) / (double)n : 0.0;
}

void ptrag_sparsity_backward(float *dw, double dloss, const float *w, long n) {
    if (n <= 0) return;
    const float k = (float)(dloss / (double)n);
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
    for (long i = 0; i < n; i++) {
        if (w[i] > 0.0f) dw[i] += k;
        else if (w[i] < 0.0f) dw[i] -= k;
    }
}

/* ---------------------------------------------------------------- energy */

#define ENERGY_MIN_SQ 1e-8f

long ptrag_energy_scratch_floats(int B, int S) {
    return (long)B * (2L * S * S + 2L * S);
}

/* Per-set scratch layout: cxy [S,S], cxx [S,S], nx [S], ny [S]. After the
 * forward pass cxy and cxx hold the backward coefficients 1/d (0 for clamped
 * pairs). */
typedef struct energy_set_scratch {
    float *cxy, *cxx, *nx, *ny;
} energy_set_scratch;

static energy_set_scratch energy_scratch_of_set(float *scratch, int b, int S) {
    float *base = scratch + (size_t)b * (2 * (size_t)S * S + 2 * (size_t)S);
    energy_set_scratch s = {base, base + (size_t)S * S, base + 2 * (size_t)S * S,
                            base + 2 * (size_t)S * S + S};
    return s;
}

static void squared_norms(float *out, const float *X, int S, int G) {
    for (int i = 0; i < S; i++) {
        const float *r = X + (size_t)i * G;
        float s = 0.0f;
        for (int k = 0; k < G; k++) s += r[k] * r[k];
        out[i] = s;
    }
}

/* Expanded-form squared distances lose all precision for nearly coincident
 * points (|u|^2 + |v|^2 >> |u-v|^2); those pairs are recomputed directly. */
#define ENERGY_CANCEL_RATIO 1e-3f

static float direct_squared_distance(const float *u, const float *v, int G) {
    float s = 0.0f;
    for (int k = 0; k < G; k++) {
        float d = u[k] - v[k];
        s += d * d;
    }
    return s;
}

/* Turns the Gram block C (u.v) of point sets U, V into distances: returns
 * sum_ij d_ij and, when keep_coef, overwrites C with 1/d_ij (0 where clamped).
 * self: U and V are the same set, so the diagonal distance is exactly 0
 * before the clamp. */
static double gram_to_distances(float *C, const float *U, const float *V, const float *nu,
                                const float *nv, int S, int G, int self, int keep_coef) {
    double total = 0.0;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++) {
            float *c = C + (size_t)i * S + j;
            float sq = 0.0f;
            if (!(self && i == j)) {
                sq = nu[i] - 2.0f * *c + nv[j];
                if (sq < ENERGY_CANCEL_RATIO * (nu[i] + nv[j]))
                    sq = direct_squared_distance(U + (size_t)i * G, V + (size_t)j * G, G);
            }
            float d;
            if (sq >= ENERGY_MIN_SQ) {
                d = sqrtf(sq);
                if (keep_coef) *c = 1.0f / d;
            } else {
                d = sqrtf(ENERGY_MIN_SQ);
                if (keep_coef) *c = 0.0f;
            }
            total += d;
        }
    return total;
}

static void energy_forward_set(float *loss, float *scratch, const float *X, const float *Y,
                               int b, int S, int G) {
    energy_set_scratch s = energy_scratch_of_set(scratch, b, S);
    const float *Xb = X + (size_t)b * S * G, *Yb = Y + (size_t)b * S * G;
    squared_norms(s.nx, Xb, S, G);
    squared_norms(s.ny, Yb, S, G);
    /* Y-Y first, in the cxx slot, which X-X then reuses. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, G, 1.0f, Yb, G, Yb, G, 0.0f,
                s.cxx, S);
    double dyy = gram_to_distances(s.cxx, Yb, Yb, s.ny, s.ny, S, G, 1, 0);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, G, 1.0f, Xb, G, Xb, G, 0.0f,
                s.cxx, S);
    double dxx = gram_to_distances(s.cxx, Xb, Xb, s.nx, s.nx, S, G, 1, 1);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, G, 1.0f, Xb, G, Yb, G, 0.0f,
                s.cxy, S);
    double dxy = gram_to_distances(s.cxy, Xb, Yb, s.nx, s.ny, S, G, 0, 1);
    double inv = 1.0 / ((double)S * S);
    loss[b] = (float)(inv * dxy - 0.5 * inv * dxx - 0.5 * inv * dyy);
}

/* dX_i += g/S^2 [ (sum_j cxy_ij - sum_j cxx_ij) x_i - (cxy Y)_i + (cxx X)_i ]. */
static void energy_backward_set(float *dX, const float *dloss, const float *scratch,
                                const float *X, const float *Y, int b, int S, int G) {
    const float *cxy = scratch + (size_t)b * (2 * (size_t)S * S + 2 * (size_t)S);
    const float *cxx = cxy + (size_t)S * S;
    const float *Xb = X + (size_t)b * S * G, *Yb = Y + (size_t)b * S * G;
    float *dXb = dX + (size_t)b * S * G;
    float k = dloss[b] / ((float)S * (float)S);
    for (int i = 0; i < S; i++) {
        float rs = 0.0f;
        for (int j = 0; j < S; j++) rs += cxy[(size_t)i * S + j] - cxx[(size_t)i * S + j];
        float a = k * rs;
        const float *xi = Xb + (size_t)i * G;
        float *di = dXb + (size_t)i * G;
        for (int c = 0; c < G; c++) di[c] += a * xi[c];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, G, S, -k, cxy, S, Yb, G, 1.0f,
                dXb, G);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, G, S, k, cxx, S, Xb, G, 1.0f,
                dXb, G);
}

/* One OpenMP iteration per set with single-threaded sgemm, for any number of
 * sets (a single set runs on the calling thread, BLAS still serial: the bits
 * must not depend on OpenBLAS's thread count either). */
void ptrag_energy_forward(float *loss, float *scratch, const float *X, const float *Y,
                          int B, int S, int G) {
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(static) if (B > 1)
    for (int b = 0; b < B; b++) energy_forward_set(loss, scratch, X, Y, b, S, G);
    ptrag_blas_serial_end(token);
}

void ptrag_energy_backward(float *dX, const float *dloss, const float *scratch,
                           const float *X, const float *Y, int B, int S, int G) {
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(static) if (B > 1)
    for (int b = 0; b < B; b++) energy_backward_set(dX, dloss, scratch, X, Y, b, S, G);
    ptrag_blas_serial_end(token);
}

/* Difference of the set means of X and Y at gene g of set b, in double. */
static double set_mean_diff(const float *X, const float *Y, int b, int S, int G, int g) {
    double d = 0.0;
    const size_t base = (size_t)b * S * G + (size_t)g;
    for (int i = 0; i < S; i++) d += (double)X[base + (size_t)i * G] - (double)Y[base + (size_t)i * G];
    return d / S;
}

void ptrag_set_mean_mse_forward(float *loss, const float *X, const float *Y, int B, int S, int G) {
#pragma omp parallel for schedule(static) if (B >= 8)
    for (int b = 0; b < B; b++) {
        double s = 0.0;
        for (int g = 0; g < G; g++) {
            double d = set_mean_diff(X, Y, b, S, G, g);
            s += d * d;
        }
        loss[b] = (float)(s / G);
    }
}

void ptrag_set_mean_mse_backward(float *dX, const float *dloss, const float *X, const float *Y,
                                 int B, int S, int G) {
#pragma omp parallel for schedule(static) if (B >= 8)
    for (int b = 0; b < B; b++) {
        const double k = 2.0 * (double)dloss[b] / ((double)G * S);
        for (int g = 0; g < G; g++) {
            float d = (float)(k * set_mean_diff(X, Y, b, S, G, g));
            float *col = dX + (size_t)b * S * G + (size_t)g;
            for (int i = 0; i < S; i++) col[(size_t)i * G] += d;
        }
    }
}
