/* Gradient checks for every op of the kernel library (ptrag/nn.h), the
 * functions the model runs, in two steps:
 *  1. the double-precision reference (tests/nn_ref.h) backward agrees with
 *     central finite differences of its forward: relative error < 1e-6;
 *  2. the float32 kernels (ptrag/nn.h) agree with the reference, forward and
 *     backward, to float tolerance. Kernel gradients are pre-filled with a
 *     constant so the check also proves that backward accumulates (+=), or,
 *     for the ops documented to overwrite, that it overwrites.
 * Then the fixed-block rule: products, reductions and losses give the same
 * bits with 1 and 2 threads.
 * The scalar whose gradient is checked is L = sum(r * y) for a fixed random r,
 * which exercises every output element with a different upstream gradient.
 * Relative error of a vector = max|a - b| / max|b|. */
#include <omp.h>

#include "nn_ref.h"
#include "ptrag/nn.h"
#include "testlib.h"

#define FD_H 1e-6
#define FD_TOL 1e-6
#define F32_TOL 2e-5
#define PREFILL 0.25f

/* ------------------------------------------------------------ helpers */

enum { MAX_ALLOCS = 256 };
static void *allocs[MAX_ALLOCS];
static int nallocs;

static void *talloc(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p || nallocs == MAX_ALLOCS) abort();
    allocs[nallocs++] = p;
    return p;
}

static void tfree_all(void) {
    while (nallocs) free(allocs[--nallocs]);
}

static ptrag_rng rng;
static double worst_fd, worst_f32; /* reported at the end */

static double *rand_d(long n, double scale) {
    double *d = talloc(sizeof(double) * (size_t)n);
    for (long i = 0; i < n; i++) d[i] = scale * ptrag_rng_normal(&rng);
    return d;
}

static double *zeros_d(long n) { return talloc(sizeof(double) * (size_t)n); }

static float *to_f(const double *d, long n) {
    float *f = talloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) f[i] = (float)d[i];
    return f;
}

static float *filled_f(long n, float v) {
    float *f = talloc(sizeof(float) * (size_t)n);
    for (long i = 0; i < n; i++) f[i] = v;
    return f;
}

static double dot_d(const double *a, const double *b, long n) {
    double s = 0;
    for (long i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Relative error of float results f (minus an offset, the pre-fill) against d. */
static double rel_err_f(const float *f, float offset, const double *d, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num = fmax(num, fabs(((double)f[i] - offset) - d[i]));
        den = fmax(den, fabs(d[i]));
    }
    return den > 0 ? num / den : num;
}

/* Central differences of f() w.r.t. every element of x, compared with the
 * analytic gradient. Returns the relative error. */
typedef double (*scalar_fn)(void);

static double fd_rel_err(scalar_fn f, double *x, long n, const double *analytic) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        double v = x[i];
        x[i] = v + FD_H;
        double fp = f();
        x[i] = v - FD_H;
        double fm = f();
        x[i] = v;
        double g = (fp - fm) / (2 * FD_H);
        num = fmax(num, fabs(g - analytic[i]));
        den = fmax(den, fabs(g));
    }
    return den > 0 ? num / den : num;
}

#define CHECK_FD(f, x, n, ana)                                                     \
    do {                                                                           \
        double e_ = fd_rel_err(f, x, n, ana);                                      \
        worst_fd = fmax(worst_fd, e_);                                             \
        CHECK_MSG(e_ < FD_TOL, "finite-difference rel err %.3g for %s", e_, #ana); \
    } while (0)

#define CHECK_F32(f, off, d, n, tol)                                               \
    do {                                                                           \
        double e_ = rel_err_f(f, off, d, n);                                       \
        worst_f32 = fmax(worst_f32, e_);                                           \
        CHECK_MSG(e_ < (tol), "float32 vs double rel err %.3g for %s", e_, #f);    \
    } while (0)

/* Shared state of the op under test (each test fills what it needs). */
static struct {
    int N, in, out, C, B, S, nh, dh, F, causal;
    double *x, *x2, *W, *b, *w, *r, *y;
    int *ids;
    double eps, tau;
    uint64_t seed, stream;
} T;

/* ------------------------------------------------------------ linear */

static double loss_linear(void) {
    ref_linear_fwd(T.y, T.x, T.W, T.b, T.N, T.in, T.out);
    return dot_d(T.r, T.y, (long)T.N * T.out);
}

static void check_linear(int with_bias) {
    T.N = 5, T.in = 7, T.out = 6;
    long nx = T.N * T.in, nw = T.in * T.out, ny = T.N * T.out;
    T.x = rand_d(nx, 1), T.W = rand_d(nw, 0.5), T.b = with_bias ? rand_d(T.out, 0.5) : NULL;
    T.r = rand_d(ny, 1), T.y = zeros_d(ny);
    double *dx = zeros_d(nx), *dW = zeros_d(nw), *db = zeros_d(T.out);
    ref_linear_bwd(dx, dW, with_bias ? db : NULL, T.r, T.x, T.W, T.N, T.in, T.out);
    CHECK_FD(loss_linear, T.x, nx, dx);
    CHECK_FD(loss_linear, T.W, nw, dW);
    if (with_bias) CHECK_FD(loss_linear, T.b, T.out, db);

    loss_linear();
    float *fx = to_f(T.x, nx), *fW = to_f(T.W, nw), *fb = with_bias ? to_f(T.b, T.out) : NULL;
    float *fy = filled_f(ny, 9.0f), *fr = to_f(T.r, ny);
    ptrag_linear_forward(NULL, fy, fx, fW, fb, T.N, T.in, T.out, 0);
    CHECK_F32(fy, 0.0f, T.y, ny, F32_TOL);
    /* accumulate adds on top of what is there */
    float *facc = filled_f(ny, 1.5f);
    ptrag_linear_forward(NULL, facc, fx, fW, fb, T.N, T.in, T.out, 1);
    CHECK_F32(facc, 1.5f, T.y, ny, F32_TOL);
    float *fdx = filled_f(nx, PREFILL), *fdW = filled_f(nw, PREFILL),
          *fdb = filled_f(T.out, PREFILL);
    ptrag_linear_backward(NULL, fdx, fdW, with_bias ? fdb : NULL, fr, fx, fW, T.N, T.in, T.out);
    CHECK_F32(fdx, PREFILL, dx, nx, F32_TOL);
    CHECK_F32(fdW, PREFILL, dW, nw, F32_TOL);
    if (with_bias) CHECK_F32(fdb, PREFILL, db, T.out, F32_TOL);
    else CHECK(fdb[0] == PREFILL);
    /* frozen weights: NULL gradients leave dx intact */
    float *fdx2 = filled_f(nx, 0.0f);
    ptrag_linear_backward(NULL, fdx2, NULL, NULL, fr, fx, fW, T.N, T.in, T.out);
    CHECK_F32(fdx2, 0.0f, dx, nx, F32_TOL);
    /* backward_dx overwrites */
    float *fdx3 = filled_f(nx, PREFILL);
    ptrag_linear_backward_dx(NULL, fdx3, fr, fW, T.N, T.in, T.out);
    CHECK_F32(fdx3, 0.0f, dx, nx, F32_TOL);
    tfree_all();
}

static void test_linear_bias(void) { check_linear(1); }
static void test_linear_nobias(void) { check_linear(0); }

/* ------------------------------------------------------------ embedding, add */

static double loss_embedding(void) {
    ref_embedding_fwd(T.y, T.W, T.ids, T.N, T.C);
    return dot_d(T.r, T.y, (long)T.N * T.C);
}

static void test_embedding(void) {
    int rows = 4;
    T.N = 7, T.C = 5;
    static int ids[7] = {3, 0, 3, 1, 3, 0, 2};
    T.ids = ids;
    T.W = rand_d(rows * T.C, 1), T.r = rand_d(T.N * T.C, 1), T.y = zeros_d(T.N * T.C);
    double *dt = zeros_d(rows * T.C);
    ref_embedding_bwd(dt, T.r, ids, T.N, T.C);
    CHECK_FD(loss_embedding, T.W, rows * T.C, dt);
    loss_embedding();
    float *ft = to_f(T.W, rows * T.C), *fy = filled_f(T.N * T.C, PREFILL), *fr = to_f(T.r, T.N * T.C);
    ptrag_embedding_forward(fy, ft, ids, T.N, T.C); /* adds into y */
    CHECK_F32(fy, PREFILL, T.y, T.N * T.C, 1e-7);
    float *fdt = filled_f(rows * T.C, PREFILL);
    ptrag_embedding_backward(fdt, fr, ids, T.N, T.C);
    CHECK_F32(fdt, PREFILL, dt, rows * T.C, F32_TOL);
    tfree_all();
}

static double loss_add(void) {
    long n = T.N;
    for (long i = 0; i < n; i++) T.y[i] = T.x[i] + T.x2[i];
    return dot_d(T.r, T.y, n);
}

static void test_add(void) {
    T.N = 11;
    T.x = rand_d(T.N, 1), T.x2 = rand_d(T.N, 1), T.r = rand_d(T.N, 1), T.y = zeros_d(T.N);
    CHECK_FD(loss_add, T.x, T.N, T.r);
    CHECK_FD(loss_add, T.x2, T.N, T.r);
    loss_add();
    float *fa = to_f(T.x, T.N), *fb = to_f(T.x2, T.N), *fr = to_f(T.r, T.N);
    float *fy = filled_f(T.N, 0);
    ptrag_add_forward(fy, fa, fb, T.N);
    CHECK_F32(fy, 0.0f, T.y, T.N, 1e-7);
    /* backward: each input's gradient accumulates the upstream one */
    float *da = filled_f(T.N, PREFILL), *db = filled_f(T.N, PREFILL);
    ptrag_accumulate(da, fr, T.N);
    ptrag_accumulate(db, fr, T.N);
    CHECK_F32(da, PREFILL, T.r, T.N, 1e-7);
    CHECK_F32(db, PREFILL, T.r, T.N, 1e-7);
    /* residual form: y aliases a */
    ptrag_add_forward(fa, fa, fb, T.N);
    CHECK_F32(fa, 0.0f, T.y, T.N, 1e-7);
    tfree_all();
}

/* ------------------------------------------------------------ norms */

static double loss_rmsnorm(void) {
    ref_rmsnorm_fwd(T.y, T.x, T.w, T.N, T.C, T.eps);
    return dot_d(T.r, T.y, (long)T.N * T.C);
}

static void test_rmsnorm(void) {
    T.N = 4, T.C = 10, T.eps = 1e-6;
    long n = T.N * T.C;
    T.x = rand_d(n, 1.5), T.w = rand_d(T.C, 1), T.r = rand_d(n, 1), T.y = zeros_d(n);
    double *dx = zeros_d(n), *dw = zeros_d(T.C);
    ref_rmsnorm_bwd(dx, dw, T.r, T.x, T.w, T.N, T.C, T.eps);
    CHECK_FD(loss_rmsnorm, T.x, n, dx);
    CHECK_FD(loss_rmsnorm, T.w, T.C, dw);
    loss_rmsnorm();
    float *fx = to_f(T.x, n), *fw = to_f(T.w, T.C), *fr = to_f(T.r, n);
    float *fy = filled_f(n, 0), *rstd = filled_f(T.N, 0);
    ptrag_rmsnorm_forward(fy, rstd, fx, fw, T.N, T.C, (float)T.eps);
    CHECK_F32(fy, 0.0f, T.y, n, F32_TOL);
    float *fdx = filled_f(n, PREFILL), *fdw = filled_f(T.C, PREFILL);
    ptrag_rmsnorm_backward(fdx, fdw, fr, fx, fw, rstd, T.N, T.C);
    CHECK_F32(fdx, PREFILL, dx, n, F32_TOL);
    CHECK_F32(fdw, PREFILL, dw, T.C, F32_TOL);
    tfree_all();
}

/* ------------------------------------------------------------ RoPE */

static double loss_rope(void) {
    ref_rope_fwd(T.y, T.x, T.B, T.S, T.nh, T.dh, 10000.0);
    return dot_d(T.r, T.y, (long)T.B * T.S * T.nh * T.dh);
}

static void test_rope(void) {
    /* head dim 10 (not a power of two), positions up to 6, 2 sets */
    T.B = 2, T.S = 7, T.nh = 3, T.dh = 10;
    int A = T.nh * T.dh, rows = T.B * T.S;
    long n = (long)rows * A;
    T.x = rand_d(n, 1), T.r = rand_d(n, 1), T.y = zeros_d(n);
    double *dx = zeros_d(n);
    ref_rope_bwd(dx, T.r, T.B, T.S, T.nh, T.dh, 10000.0);
    CHECK_FD(loss_rope, T.x, n, dx);
    loss_rope();

    /* float kernel on a fused [rows, 3A] QKV buffer: Q (= x) and K (= 2x) rotate, V stays */
    float *ct = filled_f(T.S * T.dh / 2, 0), *st = filled_f(T.S * T.dh / 2, 0);
    ptrag_error err;
    CHECK_INT(ptrag_rope_table(ct, st, T.S, T.dh, 10000.0, &err), 0);
    float *qkv = filled_f(n * 3, 0), *dqkv = filled_f(n * 3, 0);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < A; j++) {
            qkv[r * 3 * A + j] = (float)T.x[r * A + j];
            qkv[r * 3 * A + A + j] = 2.0f * (float)T.x[r * A + j];
            qkv[r * 3 * A + 2 * A + j] = 7.0f;
            dqkv[r * 3 * A + j] = (float)T.r[r * A + j];
            dqkv[r * 3 * A + A + j] = 2.0f * (float)T.r[r * A + j];
            dqkv[r * 3 * A + 2 * A + j] = 5.0f;
        }
    ptrag_rope_forward(qkv, ct, st, T.B, T.S, 2 * T.nh, T.dh, 3 * A);
    ptrag_rope_backward(dqkv, ct, st, T.B, T.S, 2 * T.nh, T.dh, 3 * A);
    double eq = 0, ek = 0, edq = 0, edk = 0, den = 0, dden = 0;
    int v_intact = 1;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < A; j++) {
            eq = fmax(eq, fabs(qkv[r * 3 * A + j] - T.y[r * A + j]));
            ek = fmax(ek, fabs(qkv[r * 3 * A + A + j] - 2 * T.y[r * A + j]));
            edq = fmax(edq, fabs(dqkv[r * 3 * A + j] - dx[r * A + j]));
            edk = fmax(edk, fabs(dqkv[r * 3 * A + A + j] - 2 * dx[r * A + j]));
            den = fmax(den, fabs(T.y[r * A + j]));
            dden = fmax(dden, fabs(dx[r * A + j]));
            v_intact &= qkv[r * 3 * A + 2 * A + j] == 7.0f && dqkv[r * 3 * A + 2 * A + j] == 5.0f;
        }
    CHECK_MSG(eq / den < F32_TOL && ek / den < 2 * F32_TOL, "rope fwd %.3g %.3g", eq / den, ek / den);
    CHECK_MSG(edq / dden < F32_TOL && edk / dden < 2 * F32_TOL, "rope bwd %.3g %.3g", edq, edk);
    CHECK(v_intact);
    /* position 0 is the identity */
    CHECK(ct[0] == 1.0f && st[0] == 0.0f && ct[T.dh / 2 - 1] == 1.0f);
    tfree_all();
}

static void test_rope_bad_head_dim(void) {
    float c[8], s[8];
    ptrag_error err;
    ptrag_error_clear(&err);
    CHECK_INT(ptrag_rope_table(c, s, 2, 7, 10000.0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "head_dim=7");
    CHECK_CONTAINS(err.msg, "even");
}

/* ------------------------------------------------------------ attention */

static double loss_attention(void) {
    ref_attention_fwd(T.y, T.x, T.B, T.S, T.nh, T.dh, T.causal);
    return dot_d(T.r, T.y, (long)T.B * T.S * T.nh * T.dh);
}

static void check_attention(int causal) {
    T.B = 2, T.S = 5, T.nh = 3, T.dh = 6, T.causal = causal;
    int A = T.nh * T.dh;
    long nqkv = (long)T.B * T.S * 3 * A, nout = (long)T.B * T.S * A;
    T.x = rand_d(nqkv, 1), T.r = rand_d(nout, 1), T.y = zeros_d(nout);
    double *dqkv = zeros_d(nqkv);
    ref_attention_bwd(dqkv, T.r, T.x, T.B, T.S, T.nh, T.dh, causal);
    CHECK_FD(loss_attention, T.x, nqkv, dqkv);
    loss_attention();
    long np = (long)T.B * T.nh * T.S * T.S;
    float *fq = to_f(T.x, nqkv), *fr = to_f(T.r, nout), *fo = filled_f(nout, 0);
    float *probs = filled_f(np, -1), *scratch = filled_f(np, 3);
    ptrag_attention_forward(NULL, fo, probs, fq, T.B, T.S, T.nh, T.dh, causal);
    CHECK_F32(fo, 0.0f, T.y, nout, F32_TOL);
    if (causal) CHECK(probs[0 * T.S + 1] == 0.0f && probs[0] > 0.99999f); /* row 0 sees only key 0 */
    float *fd = filled_f(nqkv, PREFILL);
    ptrag_attention_backward(NULL, fd, scratch, fr, fq, probs, T.B, T.S, T.nh, T.dh); /* overwrites */
    CHECK_F32(fd, 0.0f, dqkv, nqkv, F32_TOL);
    tfree_all();
}

static void test_attention_causal(void) { check_attention(1); }
static void test_attention_bidirectional(void) { check_attention(0); }

/* ------------------------------------------------------------ activations */

enum { ACT_RELU, ACT_GELU };
static int act_kind;

static double act_f(double v) { return act_kind == ACT_RELU ? (v > 0 ? v : 0) : ref_gelu(v); }
static double act_g(double v) { return act_kind == ACT_RELU ? (v > 0) : ref_gelu_grad(v); }

static double loss_act(void) {
    for (int i = 0; i < T.N; i++) T.y[i] = act_f(T.x[i]);
    return dot_d(T.r, T.y, T.N);
}

static void check_activation(int kind) {
    act_kind = kind;
    T.N = 40;
    T.x = rand_d(T.N, 2), T.r = rand_d(T.N, 1), T.y = zeros_d(T.N);
    double *dx = zeros_d(T.N);
    for (int i = 0; i < T.N; i++) dx[i] = T.r[i] * act_g(T.x[i]);
    CHECK_FD(loss_act, T.x, T.N, dx);
    loss_act();
    float *fx = to_f(T.x, T.N), *fr = to_f(T.r, T.N), *fy = filled_f(T.N, 0);
    float *fd = filled_f(T.N, PREFILL);
    /* both backwards overwrite; ReLU's reads the output */
    if (kind == ACT_RELU) {
        ptrag_relu_forward(fy, fx, T.N);
        ptrag_relu_backward(fd, fr, fy, T.N);
    } else {
        ptrag_gelu_forward(fy, fx, T.N);
        ptrag_gelu_backward(fd, fr, fx, T.N);
    }
    CHECK_F32(fy, 0.0f, T.y, T.N, F32_TOL);
    CHECK_F32(fd, 0.0f, dx, T.N, F32_TOL);
    /* in place, as the model calls them */
    float *fin = to_f(T.x, T.N), *gin = to_f(T.r, T.N);
    if (kind == ACT_RELU) {
        ptrag_relu_forward(fin, fin, T.N);
        ptrag_relu_backward(gin, gin, fin, T.N);
    } else {
        ptrag_gelu_backward(gin, gin, fin, T.N);
        ptrag_gelu_forward(fin, fin, T.N);
    }
    CHECK(memcmp(fin, fy, sizeof(float) * (size_t)T.N) == 0);
    CHECK(memcmp(gin, fd, sizeof(float) * (size_t)T.N) == 0);
    tfree_all();
}

static void test_relu(void) {
    check_activation(ACT_RELU);
    float x0 = 0.0f, y0 = 1.0f, dy = 1.0f, dx = 0.0f;
    ptrag_relu_forward(&y0, &x0, 1);
    ptrag_relu_backward(&dx, &dy, &y0, 1);
    CHECK(y0 == 0.0f && dx == 0.0f); /* f'(0) = 0, like torch */
}
static void test_gelu(void) { check_activation(ACT_GELU); }

static double loss_swiglu(void) {
    ref_swiglu_fwd(T.y, T.x, T.N, T.F);
    return dot_d(T.r, T.y, (long)T.N * T.F);
}

static void test_swiglu(void) {
    T.N = 4, T.F = 7;
    long ngu = T.N * 2 * T.F, nh = T.N * T.F;
    T.x = rand_d(ngu, 1.5), T.r = rand_d(nh, 1), T.y = zeros_d(nh);
    double *dgu = zeros_d(ngu);
    ref_swiglu_bwd(dgu, T.r, T.x, T.N, T.F);
    CHECK_FD(loss_swiglu, T.x, ngu, dgu);
    loss_swiglu();
    float *fgu = to_f(T.x, ngu), *fr = to_f(T.r, nh), *fh = filled_f(nh, 0), *fd = filled_f(ngu, PREFILL);
    ptrag_swiglu_forward(fh, fgu, T.N, T.F);
    ptrag_swiglu_backward(fd, fr, fgu, T.N, T.F); /* overwrites */
    CHECK_F32(fh, 0.0f, T.y, nh, F32_TOL);
    CHECK_F32(fd, 0.0f, dgu, ngu, F32_TOL);
    tfree_all();
}

/* ------------------------------------------------------------ dropout */

static double loss_dropout(void) {
    double p = 0.3;
    for (int i = 0; i < T.N; i++)
        T.y[i] = ref_dropout_keep(T.seed, T.stream, i, p) ? T.x[i] / (1 - p) : 0;
    return dot_d(T.r, T.y, T.N);
}

static void test_dropout(void) {
    T.N = 50, T.seed = 99, T.stream = 4;
    T.x = rand_d(T.N, 1), T.r = rand_d(T.N, 1), T.y = zeros_d(T.N);
    double *dx = zeros_d(T.N);
    for (int i = 0; i < T.N; i++)
        dx[i] = ref_dropout_keep(T.seed, T.stream, i, 0.3) ? T.r[i] / 0.7 : 0;
    CHECK_FD(loss_dropout, T.x, T.N, dx);
    loss_dropout();
    float *fx = to_f(T.x, T.N), *fr = to_f(T.r, T.N), *fy = filled_f(T.N, 0), *fd = filled_f(T.N, PREFILL);
    unsigned char *keep = talloc((size_t)T.N);
    ptrag_dropout_forward(fy, keep, fx, T.N, 0.3f, T.seed, T.stream, 0);
    ptrag_dropout_backward(fd, fr, keep, T.N, 0.3f); /* overwrites */
    CHECK_F32(fy, 0.0f, T.y, T.N, F32_TOL);
    CHECK_F32(fd, 0.0f, dx, T.N, F32_TOL);
    /* p = 0 is the identity, both ways */
    float *id = filled_f(T.N, 0), *gd = filled_f(T.N, 0);
    ptrag_dropout_forward(id, NULL, fx, T.N, 0.0f, T.seed, T.stream, 0);
    ptrag_dropout_backward(gd, fr, NULL, T.N, 0.0f);
    CHECK(memcmp(id, fx, sizeof(float) * T.N) == 0);
    CHECK(memcmp(gd, fr, sizeof(float) * T.N) == 0);
    /* counters start at `first`: the tail of a call equals a call from there */
    float *tail = filled_f(T.N, 0);
    ptrag_dropout_forward(tail, NULL, fx + 10, T.N - 10, 0.3f, T.seed, T.stream, 10);
    CHECK(memcmp(tail, fy + 10, sizeof(float) * (size_t)(T.N - 10)) == 0);

    /* keep rate and independence from the thread count */
    long n = 200000;
    float *ones = filled_f(n, 1.0f), *y1 = filled_f(n, 0), *y2 = filled_f(n, 0);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ptrag_dropout_forward(y1, NULL, ones, n, 0.25f, 7, 1, 0);
    omp_set_num_threads(saved > 1 ? saved : 2);
    ptrag_dropout_forward(y2, NULL, ones, n, 0.25f, 7, 1, 0);
    omp_set_num_threads(saved);
    CHECK(memcmp(y1, y2, sizeof(float) * (size_t)n) == 0);
    long kept = 0;
    for (long i = 0; i < n; i++) kept += y1[i] != 0.0f;
    CHECK_NEAR((double)kept / n, 0.75, 0.005); /* ~5 sd of a binomial */
    /* a different stream gives a different mask */
    ptrag_dropout_forward(y2, NULL, ones, n, 0.25f, 7, 2, 0);
    CHECK(memcmp(y1, y2, sizeof(float) * (size_t)n) != 0);
    tfree_all();
}

/* ------------------------------------------------------------ softmax */

static double loss_softmax(void) {
    ref_softmax_fwd(T.y, T.x, T.N, T.C);
    return dot_d(T.r, T.y, (long)T.N * T.C);
}

static void test_softmax(void) {
    T.N = 5, T.C = 6;
    long n = T.N * T.C;
    const float scale = 0.375f; /* the factor attention folds in */
    T.x = rand_d(n, 2), T.r = rand_d(n, 1), T.y = zeros_d(n);
    double *dx = zeros_d(n);
    ref_softmax_bwd_from_x(dx, T.r, T.x, T.N, T.C, 1.0);
    CHECK_FD(loss_softmax, T.x, n, dx);
    loss_softmax();
    float *fx = to_f(T.x, n), *fr = to_f(T.r, n), *fy = filled_f(n, 0), *fd = filled_f(n, PREFILL);
    ptrag_softmax_forward(fy, fx, T.N, T.C);
    ptrag_softmax_backward(fd, fr, fy, T.N, T.C, scale); /* overwrites */
    CHECK_F32(fy, 0.0f, T.y, n, F32_TOL);
    for (long i = 0; i < n; i++) dx[i] *= scale;
    CHECK_F32(fd, 0.0f, dx, n, F32_TOL);
    /* in place, as attention and retrieval call it */
    ptrag_softmax_forward(fx, fx, T.N, T.C);
    ptrag_softmax_backward(fr, fr, fx, T.N, T.C, scale);
    CHECK(memcmp(fx, fy, sizeof(float) * (size_t)n) == 0);
    CHECK(memcmp(fr, fd, sizeof(float) * (size_t)n) == 0);
    tfree_all();
}

/* ------------------------------------------------------------ Gumbel selection */

/* The straight-through gradient is the gradient of the soft sample's keep
 * column: with upstream [0, dw] per pair. */
static double loss_gumbel_soft(void) {
    long n = (long)T.N * 2;
    ref_gumbel_fwd(T.x2, T.y, T.x, T.N, 2, T.tau, T.seed, T.stream);
    double L = 0;
    for (long i = 0; i < n; i++) L += T.r[i] * T.y[i];
    return L;
}

static void test_gumbel_select(void) {
    T.N = 9, T.tau = 0.5, T.seed = 42, T.stream = 11;
    long n = T.N * 2;
    T.x = rand_d(n, 1), T.r = zeros_d(n), T.y = zeros_d(n), T.x2 = zeros_d(n);
    double *dw = rand_d(T.N, 1), *dx = zeros_d(n), *hard = zeros_d(n);
    for (int i = 0; i < T.N; i++) T.r[2 * i + 1] = dw[i];
    ref_gumbel_bwd(dx, T.r, T.x, T.N, 2, T.tau, T.seed, T.stream);
    CHECK_FD(loss_gumbel_soft, T.x, n, dx);
    ref_gumbel_fwd(hard, T.y, T.x, T.N, 2, T.tau, T.seed, T.stream);
    float *fl = to_f(T.x, n), *fdw = to_f(dw, T.N), *fw = filled_f(T.N, 9), *fs = filled_f(n, 0);
    float *fd = filled_f(n, PREFILL);
    ptrag_gumbel_select_forward(fw, fs, fl, T.N, (float)T.tau, 1, 1, NULL, T.seed, T.stream);
    ptrag_gumbel_select_backward(fd, fdw, fs, T.N, (float)T.tau); /* overwrites */
    CHECK_F32(fs, 0.0f, T.y, n, F32_TOL);
    CHECK_F32(fd, 0.0f, dx, n, 1e-4); /* 1/tau amplifies rounding a little */
    for (int i = 0; i < T.N; i++) CHECK(fw[i] == (float)hard[2 * i + 1]); /* exactly 0 or 1 */
    /* given noise = the hash's draws: the same result */
    float *noise = filled_f(n, 0), *fw2 = filled_f(T.N, 0), *fs2 = filled_f(n, 0);
    for (long i = 0; i < n; i++) noise[i] = (float)ref_gumbel(T.seed, T.stream, i);
    ptrag_gumbel_select_forward(fw2, fs2, fl, T.N, (float)T.tau, 1, 1, noise, 0, 0);
    CHECK(memcmp(fw, fw2, sizeof(float) * (size_t)T.N) == 0);
    CHECK_F32(fs2, 0.0f, T.y, n, F32_TOL);
    /* expected weight: no noise, soft keep probability (in place on y) */
    ptrag_gumbel_select_forward(fw, fl, fl, T.N, 1.0f, 0, 0, NULL, 0, 0);
    for (int i = 0; i < T.N; i++)
        CHECK_NEAR(fw[i], 1.0 / (1.0 + exp(T.x[2 * i] - T.x[2 * i + 1])), 1e-6);
    tfree_all();
}

/* Forward draw: class 1 is chosen with probability sigmoid(a1 - a0),
 * whatever tau is (reference-model.md 3.3). */
static void test_gumbel_selection_rate(void) {
    int N = 100000;
    float *logits = filled_f(2L * N, 0), *w = filled_f(N, 0), *soft = filled_f(2L * N, 0);
    for (int i = 0; i < N; i++) logits[2 * i] = 0.3f, logits[2 * i + 1] = 1.1f;
    for (int t = 0; t < 2; t++) {
        float tau = t ? 2.0f : 0.5f;
        ptrag_gumbel_select_forward(w, soft, logits, N, tau, 1, 1, NULL, 5, 3);
        long sel = 0;
        for (int i = 0; i < N; i++) sel += w[i] == 1.0f;
        CHECK_NEAR((double)sel / N, 1.0 / (1.0 + exp(-(1.1 - 0.3))), 0.007);
    }
    tfree_all();
}

/* ------------------------------------------------------------ std-normalisation */

static double loss_stdnorm(void) {
    ref_stdnorm_fwd(T.y, T.x, T.N);
    return dot_d(T.r, T.y, T.N);
}

static void test_stdnorm(void) {
    T.N = 24;
    T.x = rand_d(T.N, 3), T.r = rand_d(T.N, 1), T.y = zeros_d(T.N);
    for (int i = 0; i < T.N; i++) T.x[i] += 0.7; /* nonzero mean */
    double *dx = zeros_d(T.N);
    ref_stdnorm_bwd(dx, T.r, T.x, T.N);
    CHECK_FD(loss_stdnorm, T.x, T.N, dx);
    double sigma = ref_stdnorm_fwd(T.y, T.x, T.N);
    float *fx = to_f(T.x, T.N), *fr = to_f(T.r, T.N), *fy = filled_f(T.N, 0), *fd = filled_f(T.N, PREFILL);
    ptrag_stdnorm_stats st;
    ptrag_stdnorm_forward(fy, &st, fx, T.N);
    CHECK_NEAR(st.sigma, sigma, 1e-5 * sigma);
    ptrag_stdnorm_backward(fd, fr, fx, &st, T.N); /* overwrites */
    CHECK_F32(fy, 0.0f, T.y, T.N, F32_TOL);
    CHECK_F32(fd, 0.0f, dx, T.N, F32_TOL);
    /* in place on the gradient, as the model calls it */
    ptrag_stdnorm_backward(fr, fr, fx, &st, T.N);
    CHECK(memcmp(fr, fd, sizeof(float) * (size_t)T.N) == 0);
    /* constant input: the clamp (1e-6) holds and no gradient flows through std */
    float c[4] = {2, 2, 2, 2}, cy[4], cd[4] = {7, 7, 7, 7}, one[4] = {1, 1, 1, 1};
    ptrag_stdnorm_forward(cy, &st, c, 4);
    CHECK(st.sigma == 1e-6 && st.std == 0.0);
    ptrag_stdnorm_backward(cd, one, c, &st, 4);
    CHECK_NEAR(cd[0], 1e6, 1);
    tfree_all();
}

/* ------------------------------------------------------------ losses */

/* ------------------------------------------------------------ losses */

static double loss_sparsity(void) {
    double s = 0;
    for (int i = 0; i < T.N; i++) s += fabs(T.x[i]);
    return s / T.N;
}

static void test_sparsity(void) {
    T.N = 20;
    T.x = rand_d(T.N, 1);
    double *dx = zeros_d(T.N);
    for (int i = 0; i < T.N; i++) dx[i] = (T.x[i] > 0 ? 1.0 : -1.0) / T.N;
    CHECK_FD(loss_sparsity, T.x, T.N, dx);
    /* Gumbel-style weights: exact zeros get no gradient (sign(0) = 0) */
    float w[6] = {0, 1, 0, 1, 0, 0}, dw[6] = {0};
    CHECK_NEAR(ptrag_sparsity_forward(w, 6), 2.0 / 6, 1e-7);
    ptrag_sparsity_backward(dw, 0.1, w, 6);
    CHECK(dw[0] == 0.0f && dw[2] == 0.0f && dw[4] == 0.0f && dw[5] == 0.0f);
    CHECK_NEAR(dw[1], 0.1 / 6, 1e-8);
    float *fx = to_f(T.x, T.N), *fd = filled_f(T.N, PREFILL);
    CHECK_NEAR(ptrag_sparsity_forward(fx, T.N), loss_sparsity(), 1e-6);
    ptrag_sparsity_backward(fd, 1.0, fx, T.N);
    CHECK_F32(fd, PREFILL, dx, T.N, F32_TOL);
    /* for weights >= 0 it is the fixed-order sum, bit for bit */
    long n = 50000;
    float *ws = filled_f(n, 0);
    for (long i = 0; i < n; i++) ws[i] = (float)fabs(ptrag_rng_normal(&rng));
    CHECK(ptrag_sparsity_forward(ws, n) == ptrag_sum_fixed(ws, n) / (double)n);
    tfree_all();
}

static double loss_energy(void) {
    double *l = T.y;
    ref_energy_fwd(l, T.x, T.x2, T.B, T.S, T.C);
    return dot_d(T.r, l, T.B);
}

/* coincide: makes point 1 of set 0 equal to point 3 (a zero-gradient pair) and
 * one predicted point equal to a target point. */
static void check_energy(int coincide) {
    T.B = 3, T.S = 5, T.C = 7; /* C = genes */
    long n = (long)T.B * T.S * T.C;
    T.x = rand_d(n, 1), T.x2 = rand_d(n, 1), T.r = rand_d(T.B, 1), T.y = zeros_d(T.B);
    for (int c = 0; c < T.C; c++) T.x2[c] += 0.5; /* shift one target cloud */
    if (coincide)
        for (int c = 0; c < T.C; c++) {
            T.x[1 * T.C + c] = T.x[3 * T.C + c];
            T.x[2 * T.C + c] = T.x2[4 * T.C + c];
        }
    double *dX = zeros_d(n);
    ref_energy_bwd(dX, T.r, T.x, T.x2, T.B, T.S, T.C);
    CHECK_FD(loss_energy, T.x, n, dX);
    loss_energy();
    float *fX = to_f(T.x, n), *fY = to_f(T.x2, n), *fr = to_f(T.r, T.B), *fl = filled_f(T.B, 0);
    float *scratch = filled_f(ptrag_energy_scratch_floats(T.B, T.S), 0), *fd = filled_f(n, PREFILL);
    ptrag_energy_forward(fl, scratch, fX, fY, T.B, T.S, T.C);
    ptrag_energy_backward(fd, fr, scratch, fX, fY, T.B, T.S, T.C);
    CHECK_F32(fl, 0.0f, T.y, T.B, 1e-5);
    CHECK_F32(fd, PREFILL, dX, n, 1e-4);
    /* energy of a set against itself is 0 (1e-4 clamp constants cancel) */
    float same;
    ptrag_energy_forward(&same, scratch, fX, fX, 1, T.S, T.C);
    CHECK_NEAR(same, 0.0, 1e-5);
    tfree_all();
}

static void test_energy(void) { check_energy(0); }
static void test_energy_coincident_points(void) { check_energy(1); }

/* With enough sets to take the OpenMP path (64) and realistic G, the float
 * kernel still matches the double reference. */
static void test_energy_many_sets(void) {
    int B = 64, S = 6, G = 40;
    long n = (long)B * S * G;
    double *X = rand_d(n, 1), *Y = rand_d(n, 1), *l = zeros_d(B), *dl = rand_d(B, 1), *dX = zeros_d(n);
    ref_energy_fwd(l, X, Y, B, S, G);
    ref_energy_bwd(dX, dl, X, Y, B, S, G);
    float *fX = to_f(X, n), *fY = to_f(Y, n), *fdl = to_f(dl, B), *fl = filled_f(B, 0);
    float *scratch = filled_f(ptrag_energy_scratch_floats(B, S), 0), *fd = filled_f(n, 0);
    ptrag_energy_forward(fl, scratch, fX, fY, B, S, G);
    ptrag_energy_backward(fd, fdl, scratch, fX, fY, B, S, G);
    CHECK_F32(fl, 0.0f, l, B, 1e-5);
    CHECK_F32(fd, 0.0f, dX, n, 1e-4);
    tfree_all();
}

/* Set-mean MSE: double reference written out here, FD-checked, then the
 * float kernel against it (also on the OpenMP path with 16 sets). */
static double loss_set_mean_mse(void) {
    double L = 0;
    for (int b = 0; b < T.B; b++) {
        double s = 0;
        for (int c = 0; c < T.C; c++) {
            double d = 0;
            for (int i = 0; i < T.S; i++) {
                long k = ((long)b * T.S + i) * T.C + c;
                d += T.x[k] - T.x2[k];
            }
            d /= T.S;
            s += d * d;
        }
        T.y[b] = s / T.C;
        L += T.r[b] * T.y[b];
    }
    return L;
}

static void check_set_mean_mse(int B) {
    T.B = B, T.S = 5, T.C = 7;
    long n = (long)T.B * T.S * T.C;
    T.x = rand_d(n, 1), T.x2 = rand_d(n, 1), T.r = rand_d(T.B, 1), T.y = zeros_d(T.B);
    double *dX = zeros_d(n);
    for (int b = 0; b < T.B; b++)
        for (int c = 0; c < T.C; c++) {
            double d = 0;
            for (int i = 0; i < T.S; i++) d += T.x[((long)b * T.S + i) * T.C + c] - T.x2[((long)b * T.S + i) * T.C + c];
            d /= T.S;
            for (int i = 0; i < T.S; i++) dX[((long)b * T.S + i) * T.C + c] = T.r[b] * 2.0 * d / (T.C * T.S);
        }
    CHECK_FD(loss_set_mean_mse, T.x, n, dX);
    loss_set_mean_mse();
    float *fX = to_f(T.x, n), *fY = to_f(T.x2, n), *fr = to_f(T.r, T.B), *fl = filled_f(T.B, 0);
    float *fd = filled_f(n, PREFILL);
    ptrag_set_mean_mse_forward(fl, fX, fY, T.B, T.S, T.C);
    ptrag_set_mean_mse_backward(fd, fr, fX, fY, T.B, T.S, T.C);
    CHECK_F32(fl, 0.0f, T.y, T.B, 1e-5);
    CHECK_F32(fd, PREFILL, dX, n, 1e-5);
    /* a set against itself: zero loss */
    float same;
    ptrag_set_mean_mse_forward(&same, fX, fX, 1, T.S, T.C);
    CHECK(same == 0.0f);
    tfree_all();
}

static void test_set_mean_mse(void) { check_set_mean_mse(3); }
static void test_set_mean_mse_many_sets(void) { check_set_mean_mse(16); }

/* ------------------------------------------------------------ fixed blocks */

/* ptrag_gemm against a double product, every transpose, with an M and an N
 * over several blocks and leading dimensions wider than the views. */
static void test_gemm(void) {
    const int M = 300, N = 70, K = 33, pad = 3;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            float *A = to_f(rand_d((long)(ta ? K : M) * lda, 1), (long)(ta ? K : M) * lda);
            float *Bm = to_f(rand_d((long)(tb ? N : K) * ldb, 1), (long)(tb ? N : K) * ldb);
            float *C = filled_f((long)M * ldc, 0.5f);
            double *ref = zeros_d((long)M * N);
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double acc = 0;
                    for (int k = 0; k < K; k++)
                        acc += (double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                               (tb ? Bm[(size_t)j * ldb + k] : Bm[(size_t)k * ldb + j]);
                    ref[(size_t)i * N + j] = 2.0 * acc + 0.5 * 0.5; /* alpha 2, beta 0.5 on 0.5 */
                }
            ptrag_gemm(NULL, ta, tb, M, N, K, 2.0f, A, lda, Bm, ldb, 0.5f, C, ldc);
            double num = 0, den = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    num = fmax(num, fabs(C[(size_t)i * ldc + j] - ref[(size_t)i * N + j]));
                    den = fmax(den, fabs(ref[(size_t)i * N + j]));
                }
            worst_f32 = fmax(worst_f32, num / den);
            CHECK_MSG(num / den < F32_TOL, "gemm ta=%d tb=%d rel err %.3g", ta, tb, num / den);
            CHECK(C[N] == 0.5f); /* the padding column is not touched */
            /* ptrag_mm (alpha 1, one call) gives the same product */
            float *C1 = filled_f((long)M * ldc, 0.0f), *C2 = filled_f((long)M * ldc, 0.0f);
            ptrag_mm(NULL, ta, tb, M, N, K, A, lda, Bm, ldb, 0.0f, C1, ldc);
            ptrag_gemm(NULL, ta, tb, M, N, K, 1.0f, A, lda, Bm, ldb, 0.0f, C2, ldc);
            double e = 0;
            for (long i = 0; i < (long)M * ldc; i++) e = fmax(e, fabs(C1[i] - C2[i]));
            CHECK_MSG(e < 1e-4, "mm vs gemm %.3g", e);
        }
    tfree_all();
}

/* The same bits with 1 and 2 threads: products, bias sums, norms, reductions
 * and the energy loss, on sizes that take their parallel paths. */
static void test_thread_count_independence(void) {
    const int N = 700, in = 96, out = 130, B = 12, S = 8, G = 40;
    long nx = (long)N * in, nw = (long)in * out, ny = (long)N * out, ne = (long)B * S * G;
    float *x = to_f(rand_d(nx, 1), nx), *W = to_f(rand_d(nw, 0.3), nw), *b = to_f(rand_d(out, 1), out);
    float *dy = to_f(rand_d(ny, 1), ny), *rw = to_f(rand_d(in, 1), in);
    float *X = to_f(rand_d(ne, 1), ne), *Y = to_f(rand_d(ne, 1), ne), *dl = filled_f(B, 1.0f / B);
    long big = 300000;
    float *v = to_f(rand_d(big, 1), big);
    float *y[2], *dx[2], *dW[2], *db[2], *rn[2], *rs[2], *rdx[2], *rdw[2], *el[2], *es[2], *edX[2];
    double sum[2], dot[2], sq[2];
    int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(t + 1);
        y[t] = filled_f(ny, 0), dx[t] = filled_f(nx, 0), dW[t] = filled_f(nw, 0), db[t] = filled_f(out, 0);
        ptrag_linear_forward(NULL, y[t], x, W, b, N, in, out, 0);
        ptrag_linear_backward(NULL, dx[t], dW[t], db[t], dy, x, W, N, in, out);
        rn[t] = filled_f(nx, 0), rs[t] = filled_f(N, 0), rdx[t] = filled_f(nx, 0), rdw[t] = filled_f(in, 0);
        ptrag_rmsnorm_forward(rn[t], rs[t], x, rw, N, in, 1e-6f);
        ptrag_rmsnorm_backward(rdx[t], rdw[t], x, x, rw, rs[t], N, in);
        el[t] = filled_f(B, 0), es[t] = filled_f(ptrag_energy_scratch_floats(B, S), 0), edX[t] = filled_f(ne, 0);
        ptrag_energy_forward(el[t], es[t], X, Y, B, S, G);
        ptrag_energy_backward(edX[t], dl, es[t], X, Y, B, S, G);
        sum[t] = ptrag_sum_fixed(v, big), dot[t] = ptrag_dot_fixed(v, v, big);
        sq[t] = ptrag_sqdev_fixed(v, big, 0.1);
    }
    omp_set_num_threads(saved);
    CHECK(memcmp(y[0], y[1], sizeof(float) * (size_t)ny) == 0);
    CHECK(memcmp(dx[0], dx[1], sizeof(float) * (size_t)nx) == 0);
    CHECK(memcmp(dW[0], dW[1], sizeof(float) * (size_t)nw) == 0);
    CHECK(memcmp(db[0], db[1], sizeof(float) * (size_t)out) == 0);
    CHECK(memcmp(rn[0], rn[1], sizeof(float) * (size_t)nx) == 0);
    CHECK(memcmp(rdx[0], rdx[1], sizeof(float) * (size_t)nx) == 0);
    CHECK(memcmp(rdw[0], rdw[1], sizeof(float) * (size_t)in) == 0);
    CHECK(memcmp(el[0], el[1], sizeof(float) * (size_t)B) == 0);
    CHECK(memcmp(edX[0], edX[1], sizeof(float) * (size_t)ne) == 0);
    CHECK(sum[0] == sum[1] && dot[0] == dot[1] && sq[0] == sq[1]);
    /* and the reductions are right: against a plain double loop */
    double s = 0, d = 0, q = 0;
    for (long i = 0; i < big; i++) s += v[i], d += (double)v[i] * v[i], q += (v[i] - 0.1) * (v[i] - 0.1);
    CHECK_NEAR(sum[0], s, 1e-9 * big);
    CHECK_NEAR(dot[0], d, 1e-9 * d);
    CHECK_NEAR(sq[0], q, 1e-9 * q);
    tfree_all();
}

int main(void) {
    ptrag_rng_seed(&rng, 20240605);
    RUN(test_linear_bias);
    RUN(test_linear_nobias);
    RUN(test_embedding);
    RUN(test_add);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_rope_bad_head_dim);
    RUN(test_attention_causal);
    RUN(test_attention_bidirectional);
    RUN(test_relu);
    RUN(test_gelu);
    RUN(test_swiglu);
    RUN(test_dropout);
    RUN(test_softmax);
    RUN(test_gumbel_select);
    RUN(test_gumbel_selection_rate);
    RUN(test_stdnorm);
    RUN(test_sparsity);
    RUN(test_energy);
    RUN(test_energy_coincident_points);
    RUN(test_energy_many_sets);
    RUN(test_set_mean_mse);
    RUN(test_set_mean_mse_many_sets);
    RUN(test_gemm);
    RUN(test_thread_count_independence);
    printf("worst finite-difference rel err (double reference): %.3g\n", worst_fd);
    printf("worst float32-kernel vs double-reference rel err: %.3g\n", worst_f32);
    return TEST_SUMMARY();
}
