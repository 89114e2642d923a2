/* --precision bf16 (issue 20): rounding to bf16; each matrix product of the
 * model (linear forward, dx, dW; weights from the per-forward bf16 copy or
 * packed per call; ragged and padded shapes) agrees with the fp32 path within
 * the bound bf16's 8-bit mantissa and the inner dimension give, and with an
 * exact product of the rounded inputs within fp32 accumulation error; so
 * does the attention's batched bf16 path; the
 * whole model agrees with fp32; the bits do not depend on the thread count.
 * Skipped (77) after the rounding checks when the build has no oneDNN. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "ptrag/bf16.h"
#include "ptrag/config.h"
#include "ptrag/model.h"
#include "ptrag/params.h"
#include "ptrag/rng.h"
#include "testlib.h"

#define U_BF16 (1.0 / 256.0)   /* unit roundoff of an 8-bit significand */
#define U_F32 (1.0 / 16777216.0)

static void test_rounding(void) {
    CHECK_INT(ptrag_bf16_from_float(1.0f), 0x3f80);
    CHECK_INT(ptrag_bf16_from_float(-2.0f), 0xc000);
    /* 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1 */
    CHECK_INT(ptrag_bf16_from_float(1.0f + 1.0f / 256), 0x3f80);
    /* 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up */
    CHECK_INT(ptrag_bf16_from_float(1.0f + 3.0f / 256), 0x3f82);
    CHECK_INT(ptrag_bf16_from_float(1.0f + 1.0f / 256 + 1.0f / 65536), 0x3f81);
    CHECK(isinf(ptrag_bf16_to_float(ptrag_bf16_from_float(INFINITY))));
    /* subnormals become a signed zero, as the CPUs' conversion makes them */
    CHECK_INT(ptrag_bf16_from_float(1e-39f), 0x0000);
    CHECK_INT(ptrag_bf16_from_float(-1e-39f), 0x8000);
    CHECK(isnan(ptrag_bf16_to_float(ptrag_bf16_from_float(NAN))));
    /* the vector loop is the scalar one; relative error <= 2^-8 */
    float x[1000];
    uint16_t h[1000];
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 3);
    for (int i = 0; i < 1000; i++) x[i] = (float)(ptrag_rng_normal(&rng) * exp(4 * ptrag_rng_normal(&rng)));
    /* the vector loop's edge cases too: NaN, infinities, subnormals, ties, a ragged end (n = 1000) */
    x[3] = NAN, x[4] = -INFINITY, x[5] = 3e-39f, x[6] = -5e-40f, x[7] = 1.0f + 1.0f / 256, x[8] = 0.0f, x[9] = -0.0f;
    ptrag_bf16_round(h, x, 1000);
    int same = 1;
    double worst = 0;
    for (int i = 0; i < 1000; i++) {
        same &= h[i] == ptrag_bf16_from_float(x[i]);
        if (i >= 3 && i <= 9) continue;
        double r = fabs(ptrag_bf16_to_float(h[i]) - x[i]) / fabs(x[i]);
        worst = r > worst ? r : worst;
    }
    CHECK(same);
    CHECK(worst <= U_BF16 && worst > U_BF16 / 4);
}

/* ---------------------------------------------------------------- per op */

enum { G = 300, E = 24 };

static ptrag_model *small_model(ptrag_model_kind kind, ptrag_precision prec, int B, int S) {
    ptrag_config c;
    ptrag_error err;
    ptrag_config_default(&c);
    c.model = kind;
    c.n_genes = G, c.pert_dim = E;
    c.hidden = 128, c.layers = 2, c.heads = 4, c.head_dim = 16, c.mlp = 200;
    c.batch_sets = B, c.set_size = S, c.top_k = 4;
    c.precision = prec;
    /* The published head: with the gene-space residual out.w starts at 0, so
     * predictions at init would not depend on any product. */
    c.residual = PTRAG_RESIDUAL_HIDDEN;
    ptrag_model *m = NULL;
    CHECK_INT(ptrag_model_new(&c, NULL, &m, &err), 0);
    if (m) CHECK_INT(ptrag_params_init(ptrag_model_params(m), 11, &err), 0);
    return m;
}

static void fill(float *x, long n, ptrag_rng *rng) {
    for (long i = 0; i < n; i++) x[i] = (float)ptrag_rng_normal(rng);
}

/* Compares C (bf16 path) with C32 (fp32 path) and with the exact product of
 * the bf16-rounded operands, elementwise against s = sum_k |a_ik| |b_kj|:
 *   |C - C32| <= (2u + u^2 + 2 K u32) s   (inputs rounded, both accumulations)
 *   |C - C16| <= 2 K u32 s                (only the fp32 accumulation differs)
 * op(A)[i,k] = A[ta ? k*lda+i : i*lda+k], op(B)[k,j] likewise. */
static void check_product(const char *what, int ta, int tb, int M, int N, int K, const float *A, int lda,
                          const float *B, int ldb, const float *C, const float *C32, const float *C0, float beta) {
    double worst32 = 0, worst16 = 0, mean_err = 0, mean_s = 0;
    /* op(A) and op(B) as plain [M, K] and [K, N], and their bf16 roundings */
    double *a = malloc(sizeof(double) * M * K), *b = malloc(sizeof(double) * K * N);
    double *a16 = malloc(sizeof(double) * M * K), *b16 = malloc(sizeof(double) * K * N);
    for (int i = 0; i < M; i++)
        for (int k = 0; k < K; k++) {
            float x = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
            a[(size_t)i * K + k] = x, a16[(size_t)i * K + k] = ptrag_bf16_to_float(ptrag_bf16_from_float(x));
        }
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) {
            float x = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
            b[(size_t)k * N + j] = x, b16[(size_t)k * N + j] = ptrag_bf16_to_float(ptrag_bf16_from_float(x));
        }
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, exact16 = beta * (double)C0[(size_t)i * N + j];
            for (int k = 0; k < K; k++) {
                s += fabs(a[(size_t)i * K + k] * b[(size_t)k * N + j]);
                exact16 += a16[(size_t)i * K + k] * b16[(size_t)k * N + j];
            }
            s += fabs(beta * (double)C0[(size_t)i * N + j]);
            double c = C[(size_t)i * N + j];
            double e32 = fabs(c - C32[(size_t)i * N + j]) / ((2 * U_BF16 + U_BF16 * U_BF16 + 2 * K * U_F32) * s + 1e-30);
            double e16 = fabs(c - exact16) / (2 * K * U_F32 * s + 1e-30);
            worst32 = e32 > worst32 ? e32 : worst32;
            worst16 = e16 > worst16 ? e16 : worst16;
            mean_err += fabs(c - C32[(size_t)i * N + j]), mean_s += s;
        }
    free(a), free(b), free(a16), free(b16);
    printf("  %s: error/bound vs fp32 %.3f, vs exact bf16 product %.3f\n", what, worst32, worst16);
    CHECK_MSG(worst32 <= 1.0, "%s: error vs fp32 reaches %.3g of the bf16 bound", what, worst32);
    CHECK_MSG(worst16 <= 1.0, "%s: error vs the exact bf16 product reaches %.3g of the fp32 bound", what, worst16);
    /* and the bf16 path really rounded: fp32 alone would be ~100x closer */
    CHECK_MSG(mean_err / mean_s > U_BF16 / 100, "%s: mean error %.3g of sum|a||b| (is it still fp32?)", what,
              mean_err / mean_s);
}

/* ptrag_linear_forward / _backward (the model's ptrag_matmul) in bf16 against fp32, with W in the
 * parameter arena (the per-forward bf16 copy) and outside it (packed per
 * call), N rows ragged (not a multiple of the padding or of the blocks). */
static void test_linear_ops_within_bf16_bound(void) {
    if (!ptrag_bf16_available()) return;
    ptrag_model *m = small_model(PTRAG_MODEL_STATE, PTRAG_PRECISION_BF16, 4, 8);
    if (!m) return;
    ptrag_error err;
    CHECK_INT(ptrag_matmul_set_weights(&m->mm, ptrag_params_values(m->ps), ptrag_params_total(m->ps), &err), 0);
    enum { N = 150, H = 128 }; /* ragged: blocks of 256 + 44 along G, K = N padded to 160 */
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 5);
    float *x = malloc(sizeof(float) * N * H), *dy = malloc(sizeof(float) * N * G), *Wout = malloc(sizeof(float) * G * H);
    float *y = malloc(sizeof(float) * N * G), *y32 = malloc(sizeof(float) * N * G), *y0 = calloc((size_t)N * G, sizeof(float));
    float *dx = malloc(sizeof(float) * N * H), *dx32 = malloc(sizeof(float) * N * H), *dx0 = malloc(sizeof(float) * N * H);
    float *dW = malloc(sizeof(float) * G * H), *dW32 = malloc(sizeof(float) * G * H), *dW0 = malloc(sizeof(float) * G * H);
    fill(x, (long)N * H, &rng), fill(dy, (long)N * G, &rng), fill(Wout, (long)G * H, &rng);
    fill(dx0, (long)N * H, &rng), fill(dW0, (long)G * H, &rng);
    for (int inside = 0; inside < 2; inside++) {
        const float *W = inside ? m->out_w.v : Wout; /* out_w is [G, H] */
        const char *where = inside ? "weights from the bf16 copy" : "weights packed per call";
        for (int prec = 0; prec < 2; prec++) {
            m->mm.bf16 = prec == 0; /* 0: bf16 into y/dx/dW, 1: fp32 into the *32 copies */
            float *yo = prec ? y32 : y, *dxo = prec ? dx32 : dx, *dWo = prec ? dW32 : dW;
            ptrag_linear_forward(&m->mm, yo, x, W, NULL, N, H, G, 0);
            memcpy(dxo, dx0, sizeof(float) * N * H);
            memcpy(dWo, dW0, sizeof(float) * G * H);
            ptrag_linear_backward(&m->mm, dxo, dWo, NULL, dy, x, W, N, H, G); /* both accumulate (beta 1) */
        }
        m->mm.bf16 = 1;
        CHECK_INT(ptrag_matmul_check(&m->mm, &err), 0);
        char what[96];
        snprintf(what, sizeof what, "forward y = x W^T (%s)", where);
        check_product(what, 0, 1, N, G, H, x, H, W, H, y, y32, y0, 0.0f);
        snprintf(what, sizeof what, "backward dx += dy W (%s)", where);
        check_product(what, 0, 0, N, H, G, dy, G, W, H, dx, dx32, dx0, 1.0f);
        snprintf(what, sizeof what, "backward dW += dy^T x (%s)", where);
        check_product(what, 1, 0, G, H, N, dy, G, x, H, dW, dW32, dW0, 1.0f);
    }
    CHECK(ptrag_bf16_cached_primitives() > 0);
    free(x), free(dy), free(Wout), free(y), free(y32), free(y0), free(dx), free(dx32), free(dx0);
    free(dW), free(dW32), free(dW0);
    ptrag_model_free(m);
}

static double r16(float x) { return ptrag_bf16_to_float(ptrag_bf16_from_float(x)); }

static double rel_rms(const float *x, const float *ref, long n) {
    double d = 0, r = 0;
    for (long i = 0; i < n; i++) d += pow((double)x[i] - ref[i], 2), r += pow(ref[i], 2);
    return sqrt(d / r);
}

/* Attention in bf16 (every (set, head) of a call in one batched product per
 * step, S and dh zero-padded): the forward output against the exact
 * attention of the bf16-rounded Q, K, V and probabilities (in double; only
 * fp32 accumulation and softmax differ, and a probability that rounds the
 * other way moves an output by at most u P |v|), and forward and backward
 * against the fp32 path within a few bf16 roundoffs (and not fp32-close:
 * the products really ran in bf16). Ragged: S = 10, dh = 6, causal and not. */
static void test_attention_within_bf16_bound(void) {
    enum { B = 3, S = 10, NH = 2, DH = 6, A = NH * DH, LD = 3 * A };
    ptrag_matmul mm = {.bf16 = 1};
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 9);
    float qkv[B * S * LD], dout[B * S * A], out[B * S * A], out32[B * S * A];
    float probs[B * NH * S * S], probs32[B * NH * S * S], scratch[B * NH * S * S];
    float dqkv[B * S * LD], dqkv32[B * S * LD];
    fill(qkv, B * S * LD, &rng), fill(dout, B * S * A, &rng);
    for (int causal = 0; causal < 2; causal++) {
        ptrag_attention_forward(&mm, out, probs, qkv, B, S, NH, DH, causal);
        ptrag_attention_backward(&mm, dqkv, scratch, dout, qkv, probs, B, S, NH, DH);
        ptrag_attention_forward(NULL, out32, probs32, qkv, B, S, NH, DH, causal);
        ptrag_attention_backward(NULL, dqkv32, scratch, dout, qkv, probs32, B, S, NH, DH);
        CHECK_INT(mm.status, 0);
        double worst = 0;
        for (int b = 0; b < B; b++)
            for (int h = 0; h < NH; h++)
                for (int i = 0; i < S; i++) {
                    const float *q = qkv + (size_t)(b * S + i) * LD + h * DH;
                    double sc[S], mx = -1e300, z = 0;
                    int n = causal ? i + 1 : S;
                    for (int j = 0; j < n; j++) {
                        const float *k = qkv + (size_t)(b * S + j) * LD + A + h * DH;
                        sc[j] = 0;
                        for (int d = 0; d < DH; d++) sc[j] += r16(q[d]) * r16(k[d]);
                        sc[j] /= sqrt((double)DH);
                        mx = sc[j] > mx ? sc[j] : mx;
                    }
                    for (int j = 0; j < n; j++) z += sc[j] = exp(sc[j] - mx);
                    for (int d = 0; d < DH; d++) {
                        double ref = 0, s = 0;
                        for (int j = 0; j < n; j++) {
                            double v = r16(qkv[(size_t)(b * S + j) * LD + 2 * A + h * DH + d]);
                            ref += r16((float)(sc[j] / z)) * v, s += sc[j] / z * fabs(v);
                        }
                        double e = fabs(out[(size_t)(b * S + i) * A + h * DH + d] - ref) / (U_BF16 * s + 64 * U_F32);
                        worst = e > worst ? e : worst;
                    }
                }
        double rf = rel_rms(out, out32, B * S * A), rb = rel_rms(dqkv, dqkv32, B * S * LD);
        printf("  attention (causal %d): forward error/bound vs exact bf16 %.2g; rel. RMS vs fp32: forward %.3g, "
               "backward %.3g\n", causal, worst, rf, rb);
        CHECK_MSG(worst <= 1.0, "attention forward: %.3g of the bound vs the exact bf16 attention", worst);
        CHECK_MSG(rf < 4 * U_BF16 && rf > U_BF16 / 64, "attention forward: rel. RMS vs fp32 %.3g", rf);
        CHECK_MSG(rb < 8 * U_BF16 && rb > U_BF16 / 64, "attention backward: rel. RMS vs fp32 %.3g", rb);
        if (causal) /* the mask holds exactly: a key after the query gets 0 */
            CHECK(probs[1] == 0.0f && probs[S * S + 2] == 0.0f);
    }
}

/* The layouts the packing and oneDNN's dense-operand needs produce, each
 * within the same bounds: a transposed A cut along M in column panels (dW of
 * a wide layer), a plain packed B cut along N in panels with a strided
 * output block (dW of a narrowing layer, M < N), wide outputs computed a few
 * rows per call (N >= 512, ragged rows padded), and the same in a tile
 * product (ptrag_mm: 32 rows per call for N >= 1024, a ragged 16-row end). */
static void test_product_layouts_within_bf16_bound(void) {
    if (!ptrag_bf16_available()) return;
    struct {
        const char *what;
        int tile, ta, tb, M, N, K;
        float beta;
    } cases[] = {
        {"dW, transposed A in panels (M 300 > N 128)", 0, 1, 0, 300, 128, 150, 1.0f},
        {"dW, plain B in panels, strided output blocks (M 128 < N 600)", 0, 1, 0, 128, 600, 150, 1.0f},
        {"wide output by row chunks (700 x 600, blocks of 256 + 188 rows)", 0, 0, 1, 700, 600, 128, 0.0f},
        {"tile product, wide output by row chunks (200 x 1100, beta 1)", 1, 0, 0, 200, 1100, 64, 1.0f},
    };
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 23);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const int ta = cases[c].ta, tb = cases[c].tb, M = cases[c].M, N = cases[c].N, K = cases[c].K;
        const int lda = ta ? M : K, ldb = tb ? K : N;
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N);
        float *C0 = malloc(sizeof(float) * M * N), *C = malloc(sizeof(float) * M * N), *C32 = malloc(sizeof(float) * M * N);
        fill(A, (long)M * K, &rng), fill(B, (long)K * N, &rng), fill(C0, (long)M * N, &rng);
        ptrag_matmul mm = {.bf16 = 1}, fp32 = {0};
        for (int prec = 0; prec < 2; prec++) {
            ptrag_matmul *use = prec ? &fp32 : &mm;
            float *out = prec ? C32 : C;
            memcpy(out, C0, sizeof(float) * M * N);
            if (cases[c].tile)
                ptrag_mm(use, ta, tb, M, N, K, A, lda, B, ldb, cases[c].beta, out, N);
            else
                ptrag_gemm(use, ta, tb, M, N, K, 1.0f, A, lda, B, ldb, cases[c].beta, out, N);
        }
        ptrag_error err;
        CHECK_INT(ptrag_matmul_check(&mm, &err), 0);
        check_product(cases[c].what, ta, tb, M, N, K, A, lda, B, ldb, C, C32, C0, cases[c].beta);
        ptrag_matmul_free(&mm);
        free(A), free(B), free(C0), free(C), free(C32);
    }
}

/* A weight read through its reordered (blocked) layout: within the bound in
 * a wide tile product (the MLP's gate/up, N = 2F = 1200: 32 rows per call),
 * and remade when the weights change: doubling them (exact in bf16) and
 * remaking the copy doubles every output exactly, where a stale reorder
 * would return the old values. */
static void test_blocked_weights_follow_the_copy(void) {
    if (!ptrag_bf16_available()) return;
    ptrag_config c;
    ptrag_error err;
    ptrag_config_default(&c);
    c.n_genes = G, c.pert_dim = E;
    c.hidden = 128, c.layers = 1, c.heads = 4, c.head_dim = 16, c.mlp = 600;
    c.batch_sets = 4, c.set_size = 8, c.top_k = 4;
    c.precision = PTRAG_PRECISION_BF16;
    ptrag_model *m = NULL;
    CHECK_INT(ptrag_model_new(&c, NULL, &m, &err), 0);
    if (!m) return;
    CHECK_INT(ptrag_params_init(ptrag_model_params(m), 13, &err), 0);
    enum { R = 200, H = 128, N2F = 1200 };
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 29);
    float *x = malloc(sizeof(float) * R * H), *y = malloc(sizeof(float) * R * N2F), *y32 = malloc(sizeof(float) * R * N2F);
    float *y2 = malloc(sizeof(float) * R * N2F), *zero = calloc((size_t)R * N2F, sizeof(float));
    fill(x, (long)R * H, &rng);
    float *W = m->layer[0].wgate_up.v; /* [2F, H] */
    ptrag_matmul fp32 = {0};
    CHECK_INT(ptrag_matmul_set_weights(&m->mm, ptrag_params_values(m->ps), ptrag_params_total(m->ps), &err), 0);
    ptrag_mm(&m->mm, 0, 1, R, N2F, H, x, H, W, H, 0.0f, y, N2F);
    ptrag_mm(&fp32, 0, 1, R, N2F, H, x, H, W, H, 0.0f, y32, N2F);
    CHECK_INT(ptrag_matmul_check(&m->mm, &err), 0);
    check_product("tile product, weight from its blocked layout (200 x 1200)", 0, 1, R, N2F, H, x, H, W, H, y, y32,
                  zero, 0.0f);
    for (long i = 0; i < (long)N2F * H; i++) W[i] *= 2.0f;
    CHECK_INT(ptrag_matmul_set_weights(&m->mm, ptrag_params_values(m->ps), ptrag_params_total(m->ps), &err), 0);
    ptrag_mm(&m->mm, 0, 1, R, N2F, H, x, H, W, H, 0.0f, y2, N2F);
    CHECK_INT(ptrag_matmul_check(&m->mm, &err), 0);
    long same = 0;
    for (long i = 0; i < (long)R * N2F; i++) same += y2[i] == 2.0f * y[i];
    CHECK_MSG(same == (long)R * N2F, "after the weights doubled, %ld of %ld outputs doubled exactly", same,
              (long)R * N2F);
    free(x), free(y), free(y32), free(y2), free(zero);
    ptrag_model_free(m);
}

/* ---------------------------------------------------------------- model */

typedef struct run_out {
    float *pred, *grad;
    size_t n_pred, n_grad;
    double loss;
} run_out;

/* One forward + backward on fixed synthetic data (B sets of S cells, so the
 * backbone has a full and a ragged tile) with `threads` OpenMP threads. */
static run_out run_model(ptrag_model_kind kind, ptrag_precision prec, int threads) {
    enum { B = 10, S = 32, P = 40 };
    run_out r = {0};
    ptrag_model *m = small_model(kind, prec, B, S);
    if (!m) return r;
    ptrag_error err;
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 17);
    float *xc = malloc(sizeof(float) * B * S * G), *y = malloc(sizeof(float) * B * S * G);
    float *pert = malloc(sizeof(float) * B * E), *db = malloc(sizeof(float) * P * E);
    int32_t cand[B * 4], batch_id[B * S];
    for (long i = 0; i < (long)B * S * G; i++) xc[i] = (float)fabs(ptrag_rng_normal(&rng)), y[i] = (float)fabs(ptrag_rng_normal(&rng));
    fill(pert, B * E, &rng), fill(db, P * E, &rng);
    for (int i = 0; i < B * 4; i++) cand[i] = (i * 7) % P;
    memset(batch_id, 0, sizeof batch_id);
    if (kind != PTRAG_MODEL_STATE) CHECK_INT(ptrag_model_set_database(m, db, P, &err), 0);
    ptrag_model_batch b = {.n_sets = B, .set_len = S, .x_ctrl = xc, .target = y, .pert_feat = pert,
                           .batch_id = batch_id, .cand = kind != PTRAG_MODEL_STATE ? cand : NULL,
                           .noise_seed = 1, .training = 1};
    int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    ptrag_model_losses l;
    ptrag_params *ps = ptrag_model_params(m);
    memset(ptrag_params_grads(ps), 0, sizeof(float) * ptrag_params_total(ps));
    CHECK_INT(ptrag_model_forward(m, &b, &l, &err), 0);
    CHECK_INT(ptrag_model_backward(m, &err), 0);
    omp_set_num_threads(saved);
    r.loss = l.loss;
    r.n_pred = (size_t)B * S * G, r.n_grad = ptrag_params_total(ps);
    r.pred = malloc(sizeof(float) * r.n_pred), r.grad = malloc(sizeof(float) * r.n_grad);
    memcpy(r.pred, ptrag_model_output(m), sizeof(float) * r.n_pred);
    memcpy(r.grad, ptrag_params_grads(ps), sizeof(float) * r.n_grad);
    free(xc), free(y), free(pert), free(db);
    ptrag_model_free(m);
    return r;
}

static void free_run(run_out *r) { free(r->pred), free(r->grad); }

/* The whole model in bf16 stays close to fp32: predictions within a few bf16
 * roundoffs (relative RMS; 2 layers, each product rounds its inputs) and the
 * gradient pointing the same way. */
static void test_model_agrees_with_fp32(void) {
    if (!ptrag_bf16_available()) return;
    ptrag_model_kind kinds[2] = {PTRAG_MODEL_STATE, PTRAG_MODEL_PTRAG};
    for (int k = 0; k < 2; k++) {
        run_out a = run_model(kinds[k], PTRAG_PRECISION_FP32, 1), b = run_model(kinds[k], PTRAG_PRECISION_BF16, 1);
        if (!a.pred || !b.pred) return;
        double dp = 0, np = 0, dot = 0, na = 0, nb = 0;
        for (size_t i = 0; i < a.n_pred; i++) dp += pow(a.pred[i] - b.pred[i], 2), np += pow(a.pred[i], 2);
        for (size_t i = 0; i < a.n_grad; i++)
            dot += (double)a.grad[i] * b.grad[i], na += pow(a.grad[i], 2), nb += pow(b.grad[i], 2);
        double rel = sqrt(dp / np), cosine = dot / sqrt(na * nb);
        printf("  %s: predictions rel. RMS %.3g, gradient cosine %.6f\n", ptrag_model_kind_name(kinds[k]), rel, cosine);
        CHECK_MSG(rel < 8 * U_BF16 && rel > U_BF16 / 64, "%s: relative RMS difference of predictions %.3g",
                  ptrag_model_kind_name(kinds[k]), rel);
        CHECK_MSG(cosine > 0.999, "%s: gradient cosine %.6f", ptrag_model_kind_name(kinds[k]), cosine);
        CHECK_NEAR(a.loss, b.loss, 8 * U_BF16 * fabs(a.loss));
        free_run(&a), free_run(&b);
    }
}

/* Fixed blocks and single-threaded oneDNN calls: 1 and 2 threads give the
 * same bits, predictions and every gradient. */
static void test_bf16_bits_do_not_depend_on_threads(void) {
    if (!ptrag_bf16_available()) return;
    ptrag_model_kind kinds[2] = {PTRAG_MODEL_STATE, PTRAG_MODEL_PTRAG};
    for (int k = 0; k < 2; k++) {
        run_out a = run_model(kinds[k], PTRAG_PRECISION_BF16, 1), b = run_model(kinds[k], PTRAG_PRECISION_BF16, 2);
        if (!a.pred || !b.pred) return;
        CHECK_MSG(!memcmp(a.pred, b.pred, sizeof(float) * a.n_pred), "%s: predictions differ",
                  ptrag_model_kind_name(kinds[k]));
        CHECK_MSG(!memcmp(a.grad, b.grad, sizeof(float) * a.n_grad), "%s: gradients differ",
                  ptrag_model_kind_name(kinds[k]));
        free_run(&a), free_run(&b);
    }
}

/* Precision `auto` resolves by the CPU and the build; an explicit bf16
 * without oneDNN is refused with a message that says what to do. */
static void test_precision_option(void) {
    ptrag_config c;
    ptrag_error err;
    ptrag_config_default(&c);
    CHECK_INT(c.precision, PTRAG_PRECISION_FP32);
    CHECK_INT(ptrag_config_set(&c, "precision", "bf16", &err), 0);
    CHECK_INT(c.precision, PTRAG_PRECISION_BF16);
    CHECK(ptrag_config_set(&c, "precision", "fp16", &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "fp32 | bf16 | auto");
    char why[256];
    ptrag_precision p = ptrag_precision_resolve(PTRAG_PRECISION_AUTO, why, sizeof why);
    CHECK_INT(p, ptrag_bf16_available() && ptrag_bf16_cpu_native(NULL, 0) ? PTRAG_PRECISION_BF16 : PTRAG_PRECISION_FP32);
    CHECK_CONTAINS(why, "auto -> ");
    c.n_genes = G, c.pert_dim = E;
    ptrag_model *m = NULL;
    int rc = ptrag_model_new(&c, NULL, &m, &err);
    if (ptrag_bf16_available()) {
        CHECK_INT(rc, 0);
    } else {
        CHECK(rc == PTRAG_E_UNSUPPORTED);
        CHECK_CONTAINS(err.msg, "libdnnl-dev");
    }
    ptrag_model_free(m);
}

int main(void) {
    RUN(test_rounding);
    RUN(test_precision_option);
    if (!ptrag_bf16_available()) {
        printf("SKIP the bf16 products: this build has no oneDNN\n");
        return TEST_SUMMARY() ? 1 : 77;
    }
    RUN(test_linear_ops_within_bf16_bound);
    RUN(test_product_layouts_within_bf16_bound);
    RUN(test_blocked_weights_follow_the_copy);
    RUN(test_attention_within_bf16_bound);
    RUN(test_model_agrees_with_fp32);
    RUN(test_bf16_bits_do_not_depend_on_threads);
    return TEST_SUMMARY();
}
