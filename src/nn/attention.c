/* Multi-head self-attention within sets, fused QKV input. One OpenMP
 * iteration per (set, head); each runs small single-threaded sgemms on
 * strided views of the fused buffer (lda = 3A), so Q, K, V are never copied
 * and the head dim need not be a power of two. */
#include "ptrag/nn.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>

#include "nn/blas_threads.h"

/* Row-wise softmax of an S x S score block in place; with causal masking,
 * row i keeps columns 0..i and the rest become exactly 0. */
static void softmax_scores(float *P, int S, int causal) {
    for (int i = 0; i < S; i++) {
        float *row = P + (size_t)i * S;
        int n = causal ? i + 1 : S;
        float mx = row[0];
        for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j < n; j++) {
            row[j] = expf(row[j] - mx);
            sum += row[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < n; j++) row[j] *= inv;
        for (int j = n; j < S; j++) row[j] = 0.0f;
    }
}

void ptrag_attention_forward(float *out, float *probs, const float *qkv, int B, int S,
                             int nh, int dh, int causal) {
    const int A = nh * dh, ld = 3 * A;
    const float scale = 1.0f / sqrtf((float)dh);
    int token = blas_serial_begin();
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * nh; bh++) {
        int b = bh / nh, h = bh % nh;
        const float *Q = qkv + (size_t)b * S * ld + (size_t)h * dh;
        const float *K = Q + A, *V = Q + 2 * A;
        float *P = probs + (size_t)bh * S * S;
        float *O = out + (size_t)b * S * A + (size_t)h * dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, dh, scale, Q, ld, K, ld,
                    0.0f, P, S);
        softmax_scores(P, S, causal);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dh, S, 1.0f, P, S, V, ld,
                    0.0f, O, A);
    }
    blas_serial_end(token);
}

/* With O = P V and P = softmax(scale Q K^T):
 *   dV += P^T dO;  dP = dO V^T;  dZ = P * (dP - rowsum(dP * P)) * scale;
 *   dQ += dZ K;  dK += dZ^T Q. */
void ptrag_attention_backward(float *dqkv, float *scratch, const float *dout,
                              const float *qkv, const float *probs, int B, int S, int nh,
                              int dh) {
    const int A = nh * dh, ld = 3 * A;
    const float scale = 1.0f / sqrtf((float)dh);
    int token = blas_serial_begin();
#pragma omp parallel for schedule(static)
    for (int bh = 0; bh < B * nh; bh++) {
        int b = bh / nh, h = bh % nh;
        size_t off = (size_t)b * S * ld + (size_t)h * dh;
        const float *Q = qkv + off, *K = Q + A, *V = Q + 2 * A;
        float *dQ = dqkv + off, *dK = dQ + A, *dV = dQ + 2 * A;
        const float *P = probs + (size_t)bh * S * S;
        const float *dO = dout + (size_t)b * S * A + (size_t)h * dh;
        float *dZ = scratch + (size_t)bh * S * S;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, dh, S, 1.0f, P, S, dO, A,
                    1.0f, dV, ld);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, dh, 1.0f, dO, A, V, ld,
                    0.0f, dZ, S);
        for (int i = 0; i < S; i++) {
            const float *p = P + (size_t)i * S;
            float *d = dZ + (size_t)i * S;
            float dot = 0.0f;
            for (int j = 0; j < S; j++) dot += p[j] * d[j];
            for (int j = 0; j < S; j++) d[j] = p[j] * (d[j] - dot) * scale;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dh, S, 1.0f, dZ, S, K, ld,
                    1.0f, dQ, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, dh, S, 1.0f, dZ, S, Q, ld,
                    1.0f, dK, ld);
    }
    blas_serial_end(token);
}
