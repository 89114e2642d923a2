/* Self-attention within sets for the backbone (same mathematics and layouts
 * as ptrag_attention_* in nn.h), tuned for the training step:
 *  - (set, head) pairs are handed out dynamically in small chunks, so a core
 *    shared with another process takes fewer of them instead of stalling the
 *    others at the barrier;
 *  - the backward OVERWRITES dqkv (each of its Q, K, V blocks is written by
 *    exactly one product), so no zeroing pass over [N, 3A] is needed;
 *  - scratch is per (set, head), so results do not depend on the threads;
 *  - the softmax's exponential is the vectorisable model_exp.
 * (Plain loops vectorised over keys / head dims were tried instead of the
 * small sgemms: twice slower, the rows' loads and stores bound them.) */
#include <cblas.h>
#include <math.h>
#include <stddef.h>

#include "model/model_internal.h"
#include "nn/blas_threads.h"

enum { ATTN_CHUNK = 4 };

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

void model_attention_forward(float *out, float *probs, const float *qkv, int B, int S, int nh, int dh,
                             int causal) {
    const int A = nh * dh, ld = 3 * A;
    const float scale = 1.0f / sqrtf((float)dh);
    int token = blas_serial_begin();
#pragma omp parallel for schedule(dynamic, ATTN_CHUNK) if ((long)B * nh * S * S * dh > MODEL_PAR_WORK)
    for (int bh = 0; bh < B * nh; bh++) {
        const int b = bh / nh, h = bh % nh;
        const float *Q = qkv + (size_t)b * S * ld + (size_t)h * dh, *K = Q + A, *V = Q + 2 * A;
        float *P = probs + (size_t)bh * S * S;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, dh, scale, Q, ld, K, ld, 0.0f, P, S);
        softmax_rows(P, S, causal);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dh, S, 1.0f, P, S, V, ld, 0.0f,
                    out + (size_t)b * S * A + (size_t)h * dh, A);
    }
    blas_serial_end(token);
}

/* O = P V, P = softmax(scale Q K^T):  dV = P^T dO;  dP = dO V^T;
 * dZ = P * (dP - rowsum(dP * P)) * scale;  dQ = dZ K;  dK = dZ^T Q. */
void model_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                              const float *probs, int B, int S, int nh, int dh) {
    const int A = nh * dh, ld = 3 * A;
    const float scale = 1.0f / sqrtf((float)dh);
    int token = blas_serial_begin();
#pragma omp parallel for schedule(dynamic, ATTN_CHUNK) if ((long)B * nh * S * S * dh > MODEL_PAR_WORK)
    for (int bh = 0; bh < B * nh; bh++) {
        const int b = bh / nh, h = bh % nh;
        const size_t off = (size_t)b * S * ld + (size_t)h * dh;
        const float *Q = qkv + off, *K = Q + A, *V = Q + 2 * A;
        float *dQ = dqkv + off, *dK = dQ + A, *dV = dQ + 2 * A;
        const float *P = probs + (size_t)bh * S * S;
        const float *dO = dout + (size_t)b * S * A + (size_t)h * dh;
        float *dZ = scratch + (size_t)bh * S * S;
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
    blas_serial_end(token);
}
