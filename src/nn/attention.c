/* Multi-head self-attention within sets, fused QKV input (see ptrag/nn.h).
 * Serial, one (set, head) after the other: the backbone runs it inside its
 * own parallel loop over tiles of whole sets, together with the
 * projections, so the whole block is one parallel region. Each (set, head)
 * runs small single-threaded sgemms on strided views of the fused buffer
 * (lda = 3A), so Q, K, V are never copied. (Plain loops vectorised over keys
 * / head dims were tried instead of the small sgemms: twice slower, the
 * rows' loads and stores bound them.) */
#include "ptrag/nn.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>

/* Row-wise softmax of an S x S score block in place; with causal masking,
 * row i keeps columns 0..i and the rest become exactly 0. */
static void softmax_scores(float *P, int S, int causal) {
    if (!causal) {
        ptrag_softmax_forward(P, P, S, S);
        return;
    }
    for (int i = 0; i < S; i++) {
        float *row = P + (size_t)i * S;
        ptrag_softmax_forward(row, row, 1, i + 1);
        for (int j = i + 1; j < S; j++) row[j] = 0.0f;
    }
}

/* Set b, head h: P = softmax(Q K^T / sqrt(dh)) [S, S], out = P V. */
static void head_forward(float *out, float *probs, const float *qkv, int b, int h, int S, int nh, int dh,
                         int causal) {
    const int A = nh * dh, ld = 3 * A;
    const float scale = 1.0f / sqrtf((float)dh);
    const float *Q = qkv + (size_t)b * S * ld + (size_t)h * dh, *K = Q + A, *V = Q + 2 * A;
    float *P = probs + ((size_t)b * nh + h) * S * S;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, S, dh, scale, Q, ld, K, ld, 0.0f, P, S);
    softmax_scores(P, S, causal);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dh, S, 1.0f, P, S, V, ld, 0.0f,
                out + (size_t)b * S * A + (size_t)h * dh, A);
}

/* O = P V, P = softmax(scale Q K^T):  dV = P^T dO;  dP = dO V^T;
 * dZ = P * (dP - rowsum(dP * P)) * scale;  dQ = dZ K;  dK = dZ^T Q.
 * scratch: this (set, head)'s S x S block of the scratch buffer. */
static void head_backward(float *dqkv, float *scratch, const float *dout, const float *qkv, const float *probs,
                          int b, int h, int S, int nh, int dh) {
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
    ptrag_softmax_backward(dZ, dZ, P, S, S, scale);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, dh, S, 1.0f, dZ, S, K, ld, 0.0f, dQ, ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, S, dh, S, 1.0f, dZ, S, Q, ld, 0.0f, dK, ld);
}

void ptrag_attention_forward(float *out, float *probs, const float *qkv, int B, int S, int nh, int dh,
                             int causal) {
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) head_forward(out, probs, qkv, b, h, S, nh, dh, causal);
}

void ptrag_attention_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                              const float *probs, int B, int S, int nh, int dh) {
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) head_backward(dqkv, scratch, dout, qkv, probs, b, h, S, nh, dh);
}
