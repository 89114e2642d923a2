/* Self-attention within one (set, head) (same mathematics and layouts as
 * ptrag_attention_* in nn.h): serial kernels that the backbone's attention
 * block runs inside its own parallel loop over tiles of sets, together with
 * the projections, so the whole block is one parallel region.
 *  - the backward OVERWRITES its blocks of dqkv (each of the Q, K, V blocks
 *    is written by exactly one product), so no zeroing pass is needed;
 *  - the softmax's exponential is the vectorisable model_exp.
 * (Plain loops vectorised over keys / head dims were tried instead of the
 * small sgemms: twice slower, the rows' loads and stores bound them.) */
#include <cblas.h>
#include <math.h>
#include <stddef.h>

#include "model/model_internal.h"

static void softmax_rows(float *P, int S, int causal) {
    for (int i = 0; i < S; i++) {
        float *row = P + (size_t)i * S;
        int n = causal ? i + 1 : S;
        float mx = row[0];
        for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            row[j] = model_exp(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) row[j] *= inv;
        for (int j = n; j < S; j++) row[j] = 0.0f;
    }
}

/* Set b, head h: P = softmax(Q K^T / sqrt(dh)) [S, S], out = P V. */
void model_attention_head_forward(float *out, float *probs, const float *qkv, int b, int h, int S, int nh,
                                  int dh, int causal) {
    const int A = nh * dh, ld = 3 * A;
    const float scale = 1.0f / sqrtf((float)dh);
    const float *Q = qkv + (size_t)b * S * ld + (size_t)h * dh, *K = Q + A, *V = Q + 2 * A;
    float *P = probs + ((size_t)b * nh + h) * S * S;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, dh, scale, Q, ld, K, ld, 0.0f, P, S);
    softmax_rows(P, S, causal);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dh, S, 1.0f, P, S, V, ld, 0.0f,
                out + (size_t)b * S * A + (size_t)h * dh, A);
}

/* O = P V, P = softmax(scale Q K^T):  dV = P^T dO;  dP = dO V^T;
 * dZ = P * (dP - rowsum(dP * P)) * scale;  dQ = dZ K;  dK = dZ^T Q.
 * scratch: this (set, head)'s S x S block of the scratch buffer. */
void model_attention_head_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                                   const float *probs, int b, int h, int S, int nh, int dh) {
    const int A = nh * dh, ld = 3 * A;
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t off = (size_t)b * S * ld + (size_t)h * dh;
    const float *Q = qkv + off, *K = Q + A, *V = Q + 2 * A;
    float *dQ = dqkv + off, *dK = dQ + A, *dV = dQ + 2 * A;
    const float *P = probs + ((size_t)b * nh + h) * S * S;
    const float *dO = dout + (size_t)b * S * A + (size_t)h * dh;
    float *dZ = scratch + ((size_t)b * nh + h) * S * S;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, dh, S, 1.0f, P, S, dO, A, 0.0f, dV, ld);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, dh, 1.0f, dO, A, V, ld, 0.0f, dZ, S);
    for (int i = 0; i < S; i++) {
        const float *p = P + (size_t)i * S;
        float *d = dZ + (size_t)i * S;
        float dot = 0.0f;
        for (int j = 0; j < S; j++) dot += p[j] * d[j];
        for (int j = 0; j < S; j++) d[j] = p[j] * (d[j] - dot) * scale;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dh, S, 1.0f, dZ, S, K, ld, 0.0f, dQ, ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, dh, S, 1.0f, dZ, S, Q, ld, 0.0f, dK, ld);
}

/* Rotates rows [r0, r0 + rows) of x in place (nn.h's RoPE; dir -1: inverse). */
void model_rope_rows(float *x, const float *cos_t, const float *sin_t, int r0, int rows, int S, int nheads,
                     int dh, int ld, float dir) {
    const int half = dh / 2;
    for (int r = r0; r < r0 + rows; r++) {
        const int s = r % S;
        const float *c = cos_t + (size_t)s * half, *sn = sin_t + (size_t)s * half;
        float *row = x + (size_t)r * ld;
        for (int h = 0; h < nheads; h++) {
            float *a = row + (size_t)h * dh, *b = a + half;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float ai = a[i], bi = b[i], si = dir * sn[i];
                a[i] = ai * c[i] - bi * si;
                b[i] = bi * c[i] + ai * si;
            }
        }
    }
}
