/* Times every nn op (forward and backward) at the published PT-RAG shapes
 * (reference-model.md: 64 sets x 64 cells = 4,096 tokens, hidden 128, 12
 * heads x 58, MLP 2,784, decoder 128 -> 2,000, G = 2,000 genes, K = 32
 * candidates) and measures OpenBLAS's own sgemm peak on a big square product
 * in the same process, so the linear layers' GFLOP/s can be read against it.
 *
 *   bench_ops [--reps R] [--quick]
 * prints one tab-separated line per op:
 *   op  shape  fwd_ms  bwd_ms  fwd_gflops  bwd_gflops
 * (GFLOP/s only for matmul ops, else "-"), then "sgemm_peak ... GFLOP/s".
 * bench/ops.sh runs this beside dev/bench_ops.py (PyTorch) and prints ratios.
 * Threads: the ops use OMP_NUM_THREADS; the sgemm peak uses OpenBLAS's own
 * threading (OPENBLAS_NUM_THREADS). bench/ops.sh sets both to the same T. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptrag/nn.h"
#include "ptrag/optim.h"

static int reps = 5;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static float *buf(long n, ptrag_rng *rng, float scale) {
    float *p = malloc(sizeof(float) * (size_t)n);
    if (!p) {
        fprintf(stderr, "bench_ops: out of memory (%ld floats)\n", n);
        exit(1);
    }
    for (long i = 0; i < n; i++) p[i] = scale * (float)(ptrag_rng_uniform(rng) * 2 - 1);
    return p;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Fastest time in ms of fn over reps runs, after one warm-up (the minimum
 * is the least disturbed by other load on a shared machine). */
typedef void (*op_fn)(void *);
static double time_ms(op_fn fn, void *ctx) {
    double t[64];
    fn(ctx);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(ctx);
        t[r] = (now() - t0) * 1e3;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    return t[0];
}

static void report(const char *op, const char *shape, double fwd, double bwd, double fwd_flops,
                   double bwd_flops) {
    printf("%s\t%s\t%.3f\t%.3f\t", op, shape, fwd, bwd);
    if (fwd_flops > 0) printf("%.1f\t%.1f\n", fwd_flops / fwd * 1e-6, bwd_flops / bwd * 1e-6);
    else printf("-\t-\n");
    fflush(stdout);
}

/* ------------------------------------------------------------ ops */

typedef struct ctx {
    int N, in, out, B, S, nh, dh, C, F, G;
    long n;
    float *x, *y, *W, *b, *dy, *dx, *dW, *db, *s1, *s2, *s3, *v;
    int *ids;
    ptrag_stdnorm_stats st;
} ctx;

static void linear_f(void *p) { ctx *c = p; ptrag_linear_forward(NULL, c->y, c->x, c->W, c->b, c->N, c->in, c->out, 0); }
static void linear_b(void *p) {
    ctx *c = p;
    ptrag_linear_backward(NULL, c->dx, c->dW, c->b ? c->db : NULL, c->dy, c->x, c->W, c->N, c->in, c->out);
}

static void bench_linear(const char *name, int N, int in, int out, int bias, ptrag_rng *rng) {
    ctx c = {.N = N, .in = in, .out = out};
    c.x = buf((long)N * in, rng, 1), c.W = buf((long)in * out, rng, 0.1f), c.y = buf((long)N * out, rng, 1);
    c.b = bias ? buf(out, rng, 0.1f) : NULL, c.db = buf(out, rng, 0);
    c.dy = buf((long)N * out, rng, 1), c.dx = buf((long)N * in, rng, 0), c.dW = buf((long)in * out, rng, 0);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d->%d%s", N, in, out, bias ? "+b" : "");
    double f = 2.0 * N * in * out;
    report(name, shape, time_ms(linear_f, &c), time_ms(linear_b, &c), f, 2 * f);
    free(c.x), free(c.W), free(c.y), free(c.b), free(c.db), free(c.dy), free(c.dx), free(c.dW);
}

static void rms_f(void *p) { ctx *c = p; ptrag_rmsnorm_forward(c->y, c->s1, c->x, c->W, c->N, c->C, 1e-6f); }
static void rms_b(void *p) { ctx *c = p; ptrag_rmsnorm_backward(c->dx, c->dW, c->dy, c->x, c->W, c->s1, c->N, c->C); }
static void bench_norm(int N, int C, ptrag_rng *rng) {
    ctx c = {.N = N, .C = C};
    long n = (long)N * C;
    c.x = buf(n, rng, 1), c.y = buf(n, rng, 0), c.dy = buf(n, rng, 1), c.dx = buf(n, rng, 0);
    c.W = buf(C, rng, 1), c.b = buf(C, rng, 1), c.dW = buf(C, rng, 0), c.db = buf(C, rng, 0);
    c.s1 = buf(N, rng, 0), c.s2 = buf(N, rng, 0);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d", N, C);
    report("rmsnorm", shape, time_ms(rms_f, &c), time_ms(rms_b, &c), 0, 0);
    free(c.x), free(c.y), free(c.dy), free(c.dx), free(c.W), free(c.b), free(c.dW), free(c.db);
    free(c.s1), free(c.s2);
}

static void rope_f(void *p) {
    ctx *c = p;
    ptrag_rope_forward(c->x, c->s1, c->s2, c->B, c->S, 2 * c->nh, c->dh, 3 * c->nh * c->dh);
}
static void rope_b(void *p) {
    ctx *c = p;
    ptrag_rope_backward(c->dx, c->s1, c->s2, c->B, c->S, 2 * c->nh, c->dh, 3 * c->nh * c->dh);
}
static void att_f(void *p) { ctx *c = p; ptrag_attention_forward(NULL, c->y, c->s1, c->x, c->B, c->S, c->nh, c->dh, 1); }
static void att_b(void *p) {
    ctx *c = p;
    ptrag_attention_backward(NULL, c->dx, c->s2, c->dy, c->x, c->s1, c->B, c->S, c->nh, c->dh);
}

static void bench_attention(int B, int S, int nh, int dh, ptrag_rng *rng) {
    ctx c = {.B = B, .S = S, .nh = nh, .dh = dh};
    long N = (long)B * S, A = (long)nh * dh, P = (long)B * nh * S * S;
    c.x = buf(N * 3 * A, rng, 1), c.dx = buf(N * 3 * A, rng, 0);
    c.y = buf(N * A, rng, 0), c.dy = buf(N * A, rng, 1);
    c.s1 = buf(P, rng, 0), c.s2 = buf(P, rng, 0);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d,%dx%d,causal", B, S, nh, dh);
    /* QK^T and PV: 2 * 2*S*S*dh per (set, head); backward twice that */
    double f = 4.0 * B * nh * (double)S * S * dh;
    report("attention", shape, time_ms(att_f, &c), time_ms(att_b, &c), f, 2 * f);
    ptrag_rope_table(c.s1, c.s2, S, dh, 10000.0, NULL);
    snprintf(shape, sizeof shape, "%ldx(2x%d)x%d", N, nh, dh);
    report("rope", shape, time_ms(rope_f, &c), time_ms(rope_b, &c), 0, 0);
    free(c.x), free(c.dx), free(c.y), free(c.dy), free(c.s1), free(c.s2);
}

static void swiglu_f(void *p) { ctx *c = p; ptrag_swiglu_forward(c->y, c->x, c->N, c->F); }
static void swiglu_b(void *p) { ctx *c = p; ptrag_swiglu_backward(c->dx, c->dy, c->x, c->N, c->F); }
static void gelu_f(void *p) { ctx *c = p; ptrag_gelu_forward(c->y, c->x, c->n); }
static void gelu_b(void *p) { ctx *c = p; ptrag_gelu_backward(c->dx, c->dy, c->x, c->n); }
static void relu_f(void *p) { ctx *c = p; ptrag_relu_forward(c->y, c->x, c->n); }
static void relu_b(void *p) { ctx *c = p; ptrag_relu_backward(c->dx, c->dy, c->y, c->n); }
static void drop_f(void *p) { ctx *c = p; ptrag_dropout_forward(c->y, (unsigned char *)c->s1, c->x, c->n, 0.1f, 1, 2, 0); }
static void drop_b(void *p) { ctx *c = p; ptrag_dropout_backward(c->dx, c->dy, (const unsigned char *)c->s1, c->n, 0.1f); }
/* n = pairs x 2 logits: n / 2 pairs, the keep weights in y, the soft sample in s1. */
static void gum_f(void *p) { ctx *c = p; ptrag_gumbel_select_forward(c->y, c->s1, c->x, c->n / 2, 0.5f, 1, 1, NULL, 1, 3); }
static void gum_b(void *p) { ctx *c = p; ptrag_gumbel_select_backward(c->dx, c->dy, c->s1, c->n / 2, 0.5f); }
static void std_f(void *p) { ctx *c = p; ptrag_stdnorm_forward(c->y, &c->st, c->x, c->n); }
static void std_b(void *p) { ctx *c = p; ptrag_stdnorm_backward(c->dx, c->dy, c->x, &c->st, c->n); }
static void emb_f(void *p) { ctx *c = p; ptrag_embedding_forward(c->y, c->W, c->ids, c->N, c->C); }
static void emb_b(void *p) { ctx *c = p; ptrag_embedding_backward(c->dW, c->dy, c->ids, c->N, c->C); }

static void bench_elementwise(const char *name, op_fn f, op_fn b, int N, int C, ptrag_rng *rng) {
    ctx c = {.N = N, .C = C, .F = C / 2, .n = (long)N * C};
    c.x = buf(c.n, rng, 2), c.y = buf(c.n, rng, 0), c.dy = buf(c.n, rng, 1), c.dx = buf(c.n, rng, 0);
    c.s1 = buf(c.n, rng, 0);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d", N, C);
    report(name, shape, time_ms(f, &c), time_ms(b, &c), 0, 0);
    free(c.x), free(c.y), free(c.dy), free(c.dx), free(c.s1);
}

static void bench_embedding(int N, int rows, int C, ptrag_rng *rng) {
    ctx c = {.N = N, .C = C};
    c.W = buf((long)rows * C, rng, 1), c.dW = buf((long)rows * C, rng, 0);
    c.y = buf((long)N * C, rng, 0), c.dy = buf((long)N * C, rng, 1);
    c.ids = malloc(sizeof(int) * (size_t)N);
    for (int i = 0; i < N; i++) c.ids[i] = (int)ptrag_rng_below(rng, (uint64_t)rows);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%d(of %d)", N, C, rows);
    report("embedding", shape, time_ms(emb_f, &c), time_ms(emb_b, &c), 0, 0);
    free(c.W), free(c.dW), free(c.y), free(c.dy), free(c.ids);
}

static void energy_f(void *p) { ctx *c = p; ptrag_energy_forward(c->y, c->s1, c->x, c->v, c->B, c->S, c->G); }
static void energy_b(void *p) { ctx *c = p; ptrag_energy_backward(c->dx, c->b, c->s1, c->x, c->v, c->B, c->S, c->G); }
static void smse_f(void *p) { ctx *c = p; ptrag_set_mean_mse_forward(c->y, c->x, c->v, c->B, c->S, c->G); }
static void smse_b(void *p) { ctx *c = p; ptrag_set_mean_mse_backward(c->dx, c->b, c->x, c->v, c->B, c->S, c->G); }

static void bench_losses(int B, int S, int G, ptrag_rng *rng) {
    ctx c = {.B = B, .S = S, .G = G, .n = (long)B * S * G};
    c.x = buf(c.n, rng, 1), c.v = buf(c.n, rng, 1), c.dx = buf(c.n, rng, 0);
    c.y = buf(B, rng, 0), c.b = buf(B, rng, 1), c.s1 = buf(ptrag_energy_scratch_floats(B, S), rng, 0);
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d", B, S, G);
    double f = 3.0 * 2 * B * (double)S * S * G; /* three Gram matrices */
    report("energy", shape, time_ms(energy_f, &c), time_ms(energy_b, &c), f, 2.0 / 3 * f);
    report("set_mean_mse", shape, time_ms(smse_f, &c), time_ms(smse_b, &c), 0, 0);
    free(c.x), free(c.v), free(c.dx), free(c.y), free(c.b), free(c.s1);
}

static void adam_f(void *p) {
    ctx *c = p;
    ptrag_adam_config cfg = ptrag_adam_defaults(1e-3f);
    ptrag_adam_update(c->x, c->dy, c->s1, c->s2, c->n, &cfg, 3);
}
static void clip_f(void *p) {
    ctx *c = p;
    ptrag_param_tensor t = {c->x, c->dy, c->s1, c->s2, c->n, 0};
    ptrag_clip_grad_norm(&t, 1, 1e30);
}

static void bench_adam(long n, ptrag_rng *rng) {
    ctx c = {.n = n};
    c.x = buf(n, rng, 1), c.dy = buf(n, rng, 1), c.s1 = buf(n, rng, 0), c.s2 = buf(n, rng, 0);
    char shape[64];
    snprintf(shape, sizeof shape, "%ld", n);
    /* "fwd" = clip-norm pass, "bwd" = the update; one line keeps the format */
    report("adam_step(norm|update)", shape, time_ms(clip_f, &c), time_ms(adam_f, &c), 0, 0);
    free(c.x), free(c.dy), free(c.s1), free(c.s2);
}

/* OpenBLAS's own peak: a big square sgemm. */
static double sgemm_peak(int n, ptrag_rng *rng) {
    float *a = buf((long)n * n, rng, 1), *b = buf((long)n * n, rng, 1), *c = buf((long)n * n, rng, 0);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        double t = now() - t0;
        if (t < best) best = t;
    }
    free(a), free(b), free(c);
    return 2.0 * n * (double)n * n / best * 1e-9;
}

int main(int argc, char **argv) {
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) quick = 1;
        else {
            fprintf(stderr, "usage: bench_ops [--reps R] [--quick]\n");
            return 2;
        }
    }
    if (reps < 1) reps = 1;
    if (reps > 63) reps = 63;
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 1);
    const int B = 64, S = 64, N = B * S, H = 128, NH = 12, DH = 58, F = 2784, G = 2000, K = 32;
    const int pairs = quick ? N * 4 : N * K; /* (cell, candidate) pairs of the RAG stage */
    printf("op\tshape\tfwd_ms\tbwd_ms\tfwd_gflops\tbwd_gflops\n");
    bench_linear("linear_basal_enc", N, G, H, 1, &rng);
    bench_linear("linear_qkv", N, H, 3 * NH * DH, 0, &rng);
    bench_linear("linear_attn_out", N, NH * DH, H, 0, &rng);
    bench_linear("linear_gate_up", N, H, 2 * F, 0, &rng);
    bench_linear("linear_down", N, F, H, 0, &rng);
    bench_linear("linear_decoder", N, H, G, 1, &rng);
    bench_linear("linear_scorer1", pairs, 3 * H, H, 1, &rng);
    bench_norm(N, H, &rng);
    bench_attention(B, S, NH, DH, &rng);
    bench_elementwise("swiglu", swiglu_f, swiglu_b, N, 2 * F, &rng);
    bench_elementwise("gelu", gelu_f, gelu_b, pairs, H, &rng);
    bench_elementwise("relu", relu_f, relu_b, N, G, &rng);
    bench_elementwise("dropout", drop_f, drop_b, pairs, H, &rng);
    bench_elementwise("gumbel_st", gum_f, gum_b, pairs, 2, &rng);
    bench_elementwise("stdnorm", std_f, std_b, pairs, 2, &rng);
    bench_embedding(N, 48, H, &rng);
    bench_losses(B, S, G, &rng);
    bench_adam(12215890L, &rng);
    int n = quick ? 1024 : 2048;
    double peak = sgemm_peak(n, &rng), again = sgemm_peak(n, &rng);
    printf("sgemm_peak\t%dx%dx%d\t%.1f GFLOP/s\n", n, n, n, peak > again ? peak : again);
    return 0;
}
