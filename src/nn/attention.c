/* Multi-head self-attention within sets, fused QKV input (see ptrag/nn.h).
 * Serial, one (set, head) after the other: the backbone runs it inside its
 * own parallel loop over tiles of whole sets, together with the
 * projections, so the whole block is one parallel region. Each (set, head)
 * runs small single-threaded sgemms on strided views of the fused buffer
 * (lda = 3A), so Q, K, V are never copied. (Plain loops vectorised over keys
 * / head dims were tried instead of the small sgemms: twice slower, the
 * rows' loads and stores bound them.)
 *
 * bf16 (mm->bf16): each step's products for ALL the call's (set, head) pairs
 * run as one batched oneDNN product (ptrag_bf16_bmm) on bf16 copies of Q, K,
 * V, dO, P and dZ, each (set, head) zero-padded to Sp x dhp (S and dh rounded
 * up to PTRAG_BF16_PAD; zeros change no product). A 64 x 64 x 58 product
 * costs less than one oneDNN call's overhead, and OpenBLAS runs it at 30-60
 * GFLOP/s: batched, the pairs of a tile run at 140-180. Softmax, its
 * gradient and the scale stay fp32; the probabilities kept for backward are
 * the fp32 ones. */
#include "ptrag/nn.h"

#include <cblas.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/bf16.h"

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

/* ---------------------------------------------------------------- bf16 */

static int pad16(int n) { return (n + PTRAG_BF16_PAD - 1) / PTRAG_BF16_PAD * PTRAG_BF16_PAD; }

/* Per-thread buffers of the bf16 path (the backbone calls attention from its
 * own parallel loop): four [BH, Sp, dhp]-or-[BH, Sp, Sp] bf16 operands and
 * one fp32 product. */
typedef struct heads16 {
    uint16_t *op[4];
    float *prod;
    size_t n16, n32;
} heads16;
static _Thread_local heads16 hb;

static int heads16_reserve(size_t n16, size_t n32) {
    if (n16 > hb.n16) {
        for (int i = 0; i < 4; i++) {
            free(hb.op[i]);
            hb.op[i] = aligned_alloc(64, (n16 * sizeof(uint16_t) + 63) / 64 * 64);
        }
        hb.n16 = n16;
    }
    if (n32 > hb.n32) {
        free(hb.prod);
        hb.prod = aligned_alloc(64, (n32 * sizeof(float) + 63) / 64 * 64);
        hb.n32 = n32;
    }
    int ok = hb.prod != NULL;
    for (int i = 0; i < 4; i++) ok = ok && hb.op[i] != NULL;
    if (!ok) { /* start over next time */
        for (int i = 0; i < 4; i++) free(hb.op[i]), hb.op[i] = NULL;
        free(hb.prod), hb.prod = NULL;
        hb.n16 = hb.n32 = 0;
    }
    return ok ? 0 : PTRAG_E_NOMEM;
}

/* Shapes of one call: BH = B * nh (set, head) pairs, padded S and dh. */
typedef struct heads_shape {
    int B, S, nh, dh, BH, Sp, dp;
} heads_shape;

static heads_shape shape_of(int B, int S, int nh, int dh) {
    heads_shape h = {B, S, nh, dh, B * nh, pad16(S), pad16(dh)};
    return h;
}

/* Columns col0 + h*dh .. + dh of rows b*S .. b*S+S-1 (leading dimension ld),
 * for every (set b, head h), into dst [BH, Sp, dp] as bf16. */
static void gather_heads(uint16_t *dst, const heads_shape *h, const float *src, int ld, int col0) {
    for (int b = 0; b < h->B; b++)
        for (int k = 0; k < h->nh; k++)
            ptrag_bf16_pack(dst + ((size_t)b * h->nh + k) * h->Sp * h->dp, h->Sp, h->dp,
                            src + (size_t)b * h->S * ld + col0 + (size_t)k * h->dh, h->S, h->dh, ld);
}

/* The reverse for fp32 results: prod [BH, Sp, dp] -> those columns of dst. */
static void scatter_heads(float *dst, int ld, int col0, const heads_shape *h, const float *prod) {
    for (int b = 0; b < h->B; b++)
        for (int k = 0; k < h->nh; k++) {
            const float *p = prod + ((size_t)b * h->nh + k) * h->Sp * h->dp;
            float *d = dst + (size_t)b * h->S * ld + col0 + (size_t)k * h->dh;
            for (int i = 0; i < h->S; i++) memcpy(d + (size_t)i * ld, p + (size_t)i * h->dp, sizeof(float) * h->dh);
        }
}

/* Every pair's S x S block of src [BH, S, S] into dst [BH, Sp, Sp] as bf16. */
static void pack_scores(uint16_t *dst, const heads_shape *h, const float *src) {
    for (int bh = 0; bh < h->BH; bh++)
        ptrag_bf16_pack(dst + (size_t)bh * h->Sp * h->Sp, h->Sp, h->Sp, src + (size_t)bh * h->S * h->S, h->S, h->S,
                        h->S);
}

/* dst [BH, S, S] = scale * the S x S blocks of prod [BH, Sp, Sp]. */
static void unpad_scores(float *dst, const heads_shape *h, const float *prod, float scale) {
    for (int bh = 0; bh < h->BH; bh++)
        for (int i = 0; i < h->S; i++) {
            const float *p = prod + ((size_t)bh * h->Sp + i) * h->Sp;
            float *d = dst + ((size_t)bh * h->S + i) * h->S;
            for (int j = 0; j < h->S; j++) d[j] = scale * p[j];
        }
}

/* The buffers for shape h; on failure records it in mm and returns non-zero. */
static int reserve_for(ptrag_matmul *mm, const heads_shape *h) {
    const size_t w = (size_t)(h->Sp > h->dp ? h->Sp : h->dp);
    int rc = heads16_reserve((size_t)h->BH * h->Sp * w, (size_t)h->BH * h->Sp * w);
    if (rc) ptrag_matmul_fail(mm, rc);
    return rc;
}

static void attention_forward_bf16(ptrag_matmul *mm, float *out, float *probs, const float *qkv, int B, int S,
                                   int nh, int dh, int causal) {
    const heads_shape h = shape_of(B, S, nh, dh);
    const int A = nh * dh, ld = 3 * A;
    if (reserve_for(mm, &h)) return;
    uint16_t *q = hb.op[0], *k = hb.op[1], *v = hb.op[2], *p = hb.op[3];
    gather_heads(q, &h, qkv, ld, 0);
    gather_heads(k, &h, qkv, ld, A);
    gather_heads(v, &h, qkv, ld, 2 * A);
    int rc = ptrag_bf16_bmm(h.BH, 0, 1, h.Sp, h.Sp, h.dp, q, k, hb.prod); /* Q K^T */
    if (!rc) {
        unpad_scores(probs, &h, hb.prod, 1.0f / sqrtf((float)dh));
        for (int bh = 0; bh < h.BH; bh++) softmax_scores(probs + (size_t)bh * S * S, S, causal);
        pack_scores(p, &h, probs);
        rc = ptrag_bf16_bmm(h.BH, 0, 0, h.Sp, h.dp, h.Sp, p, v, hb.prod); /* P V */
    }
    if (!rc) scatter_heads(out, A, 0, &h, hb.prod);
    if (rc) ptrag_matmul_fail(mm, rc);
}

static void attention_backward_bf16(ptrag_matmul *mm, float *dqkv, float *scratch, const float *dout,
                                    const float *qkv, const float *probs, int B, int S, int nh, int dh) {
    const heads_shape h = shape_of(B, S, nh, dh);
    const int A = nh * dh, ld = 3 * A;
    if (reserve_for(mm, &h)) return;
    uint16_t *x = hb.op[0], *y = hb.op[1], *p = hb.op[2], *g = hb.op[3];
    float *prod = hb.prod;
    /* dV = P^T dO, dP = dO V^T */
    pack_scores(p, &h, probs);
    gather_heads(g, &h, dout, A, 0);
    int rc = ptrag_bf16_bmm(h.BH, 1, 0, h.Sp, h.dp, h.Sp, p, g, prod);
    if (!rc) {
        scatter_heads(dqkv, ld, 2 * A, &h, prod);
        gather_heads(x, &h, qkv, ld, 2 * A); /* V */
        rc = ptrag_bf16_bmm(h.BH, 0, 1, h.Sp, h.Sp, h.dp, g, x, prod);
    }
    if (!rc) { /* dZ = softmax backward (fp32), then dQ = dZ K, dK = dZ^T Q */
        unpad_scores(scratch, &h, prod, 1.0f);
        for (int bh = 0; bh < h.BH; bh++) {
            float *dz = scratch + (size_t)bh * S * S;
            ptrag_softmax_backward(dz, dz, probs + (size_t)bh * S * S, S, S, 1.0f / sqrtf((float)dh));
        }
        pack_scores(p, &h, scratch);
        gather_heads(x, &h, qkv, ld, A); /* K */
        rc = ptrag_bf16_bmm(h.BH, 0, 0, h.Sp, h.dp, h.Sp, p, x, prod);
    }
    if (!rc) {
        scatter_heads(dqkv, ld, 0, &h, prod);
        gather_heads(y, &h, qkv, ld, 0); /* Q */
        rc = ptrag_bf16_bmm(h.BH, 1, 0, h.Sp, h.dp, h.Sp, p, y, prod);
    }
    if (!rc) scatter_heads(dqkv, ld, A, &h, prod);
    if (rc) ptrag_matmul_fail(mm, rc);
}

/* ---------------------------------------------------------------- entry points */

void ptrag_attention_forward(ptrag_matmul *mm, float *out, float *probs, const float *qkv, int B, int S, int nh,
                             int dh, int causal) {
    if (mm && mm->bf16) {
        attention_forward_bf16(mm, out, probs, qkv, B, S, nh, dh, causal);
        return;
    }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) head_forward(out, probs, qkv, b, h, S, nh, dh, causal);
}

void ptrag_attention_backward(ptrag_matmul *mm, float *dqkv, float *scratch, const float *dout, const float *qkv,
                              const float *probs, int B, int S, int nh, int dh) {
    if (mm && mm->bf16) {
        attention_backward_bf16(mm, dqkv, scratch, dout, qkv, probs, B, S, nh, dh);
        return;
    }
    for (int b = 0; b < B; b++)
        for (int h = 0; h < nh; h++) head_backward(dqkv, scratch, dout, qkv, probs, b, h, S, nh, dh);
}
