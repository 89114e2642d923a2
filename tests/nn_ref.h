/* Test-only double-precision reference implementations of the nn ops.
 *
 * Written as directly from the formulas as possible (naive loops, statistics
 * recomputed in backward, no in-place tricks), so they are easy to check by
 * eye; test_nn_grad.c checks every backward here against central finite
 * differences, then checks the float32 kernels against these. Backward
 * functions accumulate (+=) like the kernels. */
#ifndef PTRAG_TESTS_NN_REF_H
#define PTRAG_TESTS_NN_REF_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/rng.h"

static void ref_linear_fwd(double *y, const double *x, const double *W, const double *b,
                           int N, int in, int out) {
    for (int i = 0; i < N; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++) s += x[i * in + k] * W[o * in + k];
            y[i * out + o] = s;
        }
}

static void ref_linear_bwd(double *dx, double *dW, double *db, const double *dy,
                           const double *x, const double *W, int N, int in, int out) {
    for (int i = 0; i < N; i++)
        for (int o = 0; o < out; o++) {
            double g = dy[i * out + o];
            for (int k = 0; k < in; k++) {
                if (dx) dx[i * in + k] += g * W[o * in + k];
                if (dW) dW[o * in + k] += g * x[i * in + k];
            }
            if (db) db[o] += g;
        }
}

static void ref_embedding_fwd(double *y, const double *table, const int *ids, int N, int dim) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < dim; j++) y[i * dim + j] = table[ids[i] * dim + j];
}

static void ref_embedding_bwd(double *dtable, const double *dy, const int *ids, int N, int dim) {
    for (int i = 0; i < N; i++)
        for (int j = 0; j < dim; j++) dtable[ids[i] * dim + j] += dy[i * dim + j];
}

static void ref_rmsnorm_fwd(double *y, const double *x, const double *w, int N, int C,
                            double eps) {
    for (int i = 0; i < N; i++) {
        double ss = 0;
        for (int j = 0; j < C; j++) ss += x[i * C + j] * x[i * C + j];
        double r = 1.0 / sqrt(ss / C + eps);
        for (int j = 0; j < C; j++) y[i * C + j] = w[j] * x[i * C + j] * r;
    }
}

static void ref_rmsnorm_bwd(double *dx, double *dw, const double *dy, const double *x,
                            const double *w, int N, int C, double eps) {
    for (int i = 0; i < N; i++) {
        const double *xi = x + i * C, *g = dy + i * C;
        double ss = 0;
        for (int j = 0; j < C; j++) ss += xi[j] * xi[j];
        double r = 1.0 / sqrt(ss / C + eps);
        double dot = 0;
        for (int j = 0; j < C; j++) dot += g[j] * w[j] * xi[j];
        for (int j = 0; j < C; j++) {
            dx[i * C + j] += r * w[j] * g[j] - xi[j] * r * r * r * dot / C;
            dw[j] += g[j] * xi[j] * r;
        }
    }
}

/* RoPE, out-of-place, on rows of nheads*dh floats (no stride). */
static void ref_rope_fwd(double *y, const double *x, int nsets, int S, int nheads, int dh,
                         double theta) {
    int half = dh / 2;
    for (int r = 0; r < nsets * S; r++) {
        int s = r % S;
        for (int h = 0; h < nheads; h++) {
            const double *a = x + (r * nheads + h) * dh;
            double *o = y + (r * nheads + h) * dh;
            for (int i = 0; i < half; i++) {
                double ang = s * pow(theta, -2.0 * i / dh);
                /* x*cos + rotate_half(x)*sin, rotate_half([a;b]) = [-b;a] */
                o[i] = a[i] * cos(ang) - a[i + half] * sin(ang);
                o[i + half] = a[i + half] * cos(ang) + a[i] * sin(ang);
            }
        }
    }
}

static void ref_rope_bwd(double *dx, const double *dy, int nsets, int S, int nheads, int dh,
                         double theta) {
    int half = dh / 2;
    for (int r = 0; r < nsets * S; r++) {
        int s = r % S;
        for (int h = 0; h < nheads; h++) {
            const double *g = dy + (r * nheads + h) * dh;
            double *d = dx + (r * nheads + h) * dh;
            for (int i = 0; i < half; i++) {
                double ang = s * pow(theta, -2.0 * i / dh);
                d[i] += g[i] * cos(ang) + g[i + half] * sin(ang);
                d[i + half] += -g[i] * sin(ang) + g[i + half] * cos(ang);
            }
        }
    }
}

/* Attention probabilities of one (set, head), P [S*S]. */
static void ref_attention_probs(double *P, const double *qkv, int b, int h, int S, int nh,
                                int dh, int causal) {
    int A = nh * dh;
    for (int i = 0; i < S; i++) {
        double mx = -1e300;
        for (int j = 0; j < S; j++) {
            double s = 0;
            for (int k = 0; k < dh; k++)
                s += qkv[(b * S + i) * 3 * A + h * dh + k] * qkv[(b * S + j) * 3 * A + A + h * dh + k];
            s /= sqrt((double)dh);
            P[i * S + j] = s;
            if ((!causal || j <= i) && s > mx) mx = s;
        }
        double sum = 0;
        for (int j = 0; j < S; j++) {
            P[i * S + j] = (causal && j > i) ? 0.0 : exp(P[i * S + j] - mx);
            sum += P[i * S + j];
        }
        for (int j = 0; j < S; j++) P[i * S + j] /= sum;
    }
}

static void ref_attention_fwd(double *out, const double *qkv, int B, int S, int nh, int dh,
                              int causal) {
    int A = nh * dh;
    double *P = malloc(sizeof(double) * S * S);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            ref_attention_probs(P, qkv, b, h, S, nh, dh, causal);
            for (int i = 0; i < S; i++)
                for (int k = 0; k < dh; k++) {
                    double s = 0;
                    for (int j = 0; j < S; j++)
                        s += P[i * S + j] * qkv[(b * S + j) * 3 * A + 2 * A + h * dh + k];
                    out[(b * S + i) * A + h * dh + k] = s;
                }
        }
    free(P);
}

static void ref_attention_bwd(double *dqkv, const double *dout, const double *qkv, int B,
                              int S, int nh, int dh, int causal) {
    int A = nh * dh, ld = 3 * A;
    double *P = malloc(sizeof(double) * S * S), *dP = malloc(sizeof(double) * S * S);
    double sc = 1.0 / sqrt((double)dh);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) {
            ref_attention_probs(P, qkv, b, h, S, nh, dh, causal);
            const double *Q = qkv + b * S * ld + h * dh, *K = Q + A, *V = Q + 2 * A;
            double *dQ = dqkv + b * S * ld + h * dh, *dK = dQ + A, *dV = dQ + 2 * A;
            const double *dO = dout + b * S * A + h * dh;
            for (int i = 0; i < S; i++)
                for (int j = 0; j < S; j++) {
                    double s = 0;
                    for (int k = 0; k < dh; k++) s += dO[i * A + k] * V[j * ld + k];
                    dP[i * S + j] = s;
                    for (int k = 0; k < dh; k++) dV[j * ld + k] += P[i * S + j] * dO[i * A + k];
                }
            for (int i = 0; i < S; i++) {
                double dot = 0;
                for (int j = 0; j < S; j++) dot += P[i * S + j] * dP[i * S + j];
                for (int j = 0; j < S; j++) {
                    double dz = P[i * S + j] * (dP[i * S + j] - dot) * sc;
                    for (int k = 0; k < dh; k++) {
                        dQ[i * ld + k] += dz * K[j * ld + k];
                        dK[j * ld + k] += dz * Q[i * ld + k];
                    }
                }
            }
        }
    free(P);
    free(dP);
}

static double ref_sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }
static double ref_gelu(double v) { return 0.5 * v * (1.0 + erf(v / sqrt(2.0))); }
static double ref_gelu_grad(double v) {
    return 0.5 * (1.0 + erf(v / sqrt(2.0))) + v * exp(-0.5 * v * v) / 2.5066282746310002;
}
static double ref_silu(double v) { return v * ref_sigmoid(v); }
static double ref_silu_grad(double v) {
    double s = ref_sigmoid(v);
    return s * (1.0 + v * (1.0 - s));
}

static void ref_swiglu_fwd(double *h, const double *gu, int N, int F) {
    for (int r = 0; r < N; r++)
        for (int j = 0; j < F; j++)
            h[r * F + j] = ref_silu(gu[r * 2 * F + j]) * gu[r * 2 * F + F + j];
}

static void ref_swiglu_bwd(double *dgu, const double *dh, const double *gu, int N, int F) {
    for (int r = 0; r < N; r++)
        for (int j = 0; j < F; j++) {
            double g = gu[r * 2 * F + j], u = gu[r * 2 * F + F + j], d = dh[r * F + j];
            dgu[r * 2 * F + j] += d * u * ref_silu_grad(g);
            dgu[r * 2 * F + F + j] += d * ref_silu(g);
        }
}

static int ref_dropout_keep(uint64_t seed, uint64_t stream, long i, double p) {
    return ptrag_hash_uniform(seed, stream, (uint64_t)i) >= p;
}

static void ref_softmax_fwd(double *y, const double *x, int N, int C) {
    for (int i = 0; i < N; i++) {
        double mx = x[i * C];
        for (int j = 1; j < C; j++) mx = fmax(mx, x[i * C + j]);
        double s = 0;
        for (int j = 0; j < C; j++) s += exp(x[i * C + j] - mx);
        for (int j = 0; j < C; j++) y[i * C + j] = exp(x[i * C + j] - mx) / s;
    }
}

/* Backward of softmax via its Jacobian: dx_j += sum_k dy_k y_k (delta_jk - y_j). */
static void ref_softmax_bwd_from_x(double *dx, const double *dy, const double *x, int N, int C,
                                   double scale) {
    double *y = malloc(sizeof(double) * C);
    for (int i = 0; i < N; i++) {
        ref_softmax_fwd(y, x + i * C, 1, C);
        for (int j = 0; j < C; j++) {
            double s = 0;
            for (int k = 0; k < C; k++) s += dy[i * C + k] * y[k] * ((j == k) - y[j]);
            dx[i * C + j] += scale * s;
        }
    }
    free(y);
}

/* Gumbel noise of element idx, the same formula as the kernel. */
static double ref_gumbel(uint64_t seed, uint64_t stream, long idx) {
    return -log(-log(ptrag_hash_uniform(seed, stream, (uint64_t)idx)));
}

/* Soft sample softmax((logits + g)/tau) and its hard one-hot. */
static void ref_gumbel_fwd(double *hard, double *soft, const double *logits, int N, int C,
                           double tau, uint64_t seed, uint64_t stream) {
    double *z = malloc(sizeof(double) * N * C);
    for (int i = 0; i < N * C; i++) z[i] = (logits[i] + ref_gumbel(seed, stream, i)) / tau;
    ref_softmax_fwd(soft, z, N, C);
    for (int i = 0; i < N; i++) {
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (soft[i * C + c] > soft[i * C + arg]) arg = c;
        for (int c = 0; c < C; c++) hard[i * C + c] = c == arg;
    }
    free(z);
}

/* Straight-through: the gradient of the soft sample w.r.t. the logits. */
static void ref_gumbel_bwd(double *dlogits, const double *dy, const double *logits, int N,
                           int C, double tau, uint64_t seed, uint64_t stream) {
    double *z = malloc(sizeof(double) * N * C);
    for (int i = 0; i < N * C; i++) z[i] = (logits[i] + ref_gumbel(seed, stream, i)) / tau;
    ref_softmax_bwd_from_x(dlogits, dy, z, N, C, 1.0 / tau);
    free(z);
}

/* a / max(std_unbiased(a), 1e-6); returns sigma. */
static double ref_stdnorm_fwd(double *y, const double *a, long n) {
    double m = 0, ss = 0;
    for (long i = 0; i < n; i++) m += a[i];
    m /= n;
    for (long i = 0; i < n; i++) ss += (a[i] - m) * (a[i] - m);
    double sd = sqrt(ss / (n - 1));
    double sigma = fmax(sd, 1e-6);
    for (long i = 0; i < n; i++) y[i] = a[i] / sigma;
    return sigma;
}

static void ref_stdnorm_bwd(double *da, const double *dy, const double *a, long n) {
    double m = 0, ss = 0;
    for (long i = 0; i < n; i++) m += a[i];
    m /= n;
    for (long i = 0; i < n; i++) ss += (a[i] - m) * (a[i] - m);
    double sd = sqrt(ss / (n - 1));
    double sigma = fmax(sd, 1e-6);
    double dot = 0;
    for (long i = 0; i < n; i++) dot += dy[i] * a[i];
    for (long i = 0; i < n; i++) {
        double dsd = sd >= 1e-6 ? (a[i] - m) / ((n - 1) * sd) : 0.0;
        da[i] += dy[i] / sigma - dot / (sigma * sigma) * dsd;
    }
}

/* Energy distance of one pair of sets, direct difference form (no Gram
 * expansion): d = sqrt(max(|u-v|^2, 1e-8)). */
static double ref_energy_dist(const double *u, const double *v, int G) {
    double s = 0;
    for (int k = 0; k < G; k++) s += (u[k] - v[k]) * (u[k] - v[k]);
    return sqrt(fmax(s, 1e-8));
}

static void ref_energy_fwd(double *loss, const double *X, const double *Y, int B, int S,
                           int G) {
    for (int b = 0; b < B; b++) {
        const double *Xb = X + b * S * G, *Yb = Y + b * S * G;
        double xy = 0, xx = 0, yy = 0;
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                xy += ref_energy_dist(Xb + i * G, Yb + j * G, G);
                xx += ref_energy_dist(Xb + i * G, Xb + j * G, G);
                yy += ref_energy_dist(Yb + i * G, Yb + j * G, G);
            }
        loss[b] = xy / (S * S) - 0.5 * xx / (S * S) - 0.5 * yy / (S * S);
    }
}

static void ref_energy_bwd(double *dX, const double *dloss, const double *X, const double *Y,
                           int B, int S, int G) {
    for (int b = 0; b < B; b++) {
        const double *Xb = X + b * S * G, *Yb = Y + b * S * G;
        double k = dloss[b] / (S * S);
        for (int i = 0; i < S; i++)
            for (int j = 0; j < S; j++) {
                double sq_xy = 0, sq_xx = 0;
                for (int c = 0; c < G; c++) {
                    sq_xy += (Xb[i * G + c] - Yb[j * G + c]) * (Xb[i * G + c] - Yb[j * G + c]);
                    sq_xx += (Xb[i * G + c] - Xb[j * G + c]) * (Xb[i * G + c] - Xb[j * G + c]);
                }
                for (int c = 0; c < G; c++) {
                    if (sq_xy >= 1e-8)
                        dX[(b * S + i) * G + c] += k * (Xb[i * G + c] - Yb[j * G + c]) / sqrt(sq_xy);
                    if (sq_xx >= 1e-8)
                        dX[(b * S + i) * G + c] -= k * (Xb[i * G + c] - Xb[j * G + c]) / sqrt(sq_xx);
                }
            }
    }
}

#endif
