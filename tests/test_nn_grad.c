/* Gradient checks for every nn op, in two steps:
 *  1. the double-precision reference (tests/nn_ref.h) backward agrees with
 *     central finite differences of its forward: relative error < 1e-6;
 *  2. the float32 kernels (ptrag/nn.h) agree with the reference, forward and
 *     backward, to float tolerance. Kernel gradients are pre-filled with a
 *     constant so the check also proves that backward accumulates (+=).
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
    ptrag_linear_forward(fy, fx, fW, fb, T.N, T.in, T.out);
    CHECK_F32(fy, 0.0f, T.y, ny, F32_TOL);
    /* forward_acc adds on top of what is there */
    float *facc = filled_f(ny, 1.5f);
    ptrag_linear_forward_acc(facc, fx, fW, fb, T.N, T.in, T.out);
    CHECK_F32(facc, 1.5f, T.y, ny, F32_TOL);
    float *fdx = filled_f(nx, PREFILL), *fdW = filled_f(nw, PREFILL),
          *fdb = filled_f(T.out, PREFILL);
    ptrag_linear_backward(fdx, fdW, with_bias ? fdb : NULL, fr, fx, fW, T.N, T.in, T.out);
    CHECK_F32(fdx, PREFILL, dx, nx, F32_TOL);
    CHECK_F32(fdW, PREFILL, dW, nw, F32_TOL);
    if (with_bias) CHECK_F32(fdb, PREFILL, db, T.out, F32_TOL);
    else CHECK(fdb[0] == PREFILL);
    /* frozen weights: NULL gradients leave dx intact */
    float *fdx2 = filled_f(nx, 0.0f);
    ptrag_linear_backward(fdx2, NULL, NULL, fr, fx, fW, T.N, T.in, T.out);
    CHECK_F32(fdx2, 0.0f, dx, nx, F32_TOL);
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
    float *ft = to_f(T.W, rows * T.C), *fy = filled_f(T.N * T.C, 0), *fr = to_f(T.r, T.N * T.C);
    ptrag_embedding_forward(fy, ft, ids, T.N, T.C);
    CHECK_F32(fy, 0.0f, T.y, T.N * T.C, 1e-7);
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
    float *da = filled_f(T.N, PREFILL), *db = filled_f(T.N, PREFILL);
    ptrag_add_backward(da, db, fr, T.N);
    CHECK_F32(da, PREFILL, T.r, T.N, 1e-7);
    CHECK_F32(db, PREFILL, T.r, T.N, 1e-7);
    /* residual form: y aliases a */
    ptrag_add_forward(fa, fa, fb, T.N);
    CHECK_F32(fa, 0.0f, T.y, T.N, 1e-7);
    tfree_all();
}

/* ------------------------------------------------------------ norms */

static double loss_layernorm(void) {
    ref_layernorm_fwd(T.y, T.x, T.w, T.b, T.N, T.C, T.eps);
    return dot_d(T.r, T.y, (long)T.N * T.C);
}

static void test_layernorm(void) {
    T.N = 4, T.C = 9, T.eps = 1e-5;
    long n = T.N * T.C;
    T.x = rand_d(n, 1.5), T.w = rand_d(T.C, 1), T.b = rand_d(T.C, 1);
    T.r = rand_d(n, 1), T.y = zeros_d(n);
    double *dx = zeros_d(n), *dw = zeros_d(T.C), *db = zeros_d(T.C);
    ref_layernorm_bwd(dx, dw, db, T.r, T.x, T.w, T.N, T.C, T.eps);
    CHECK_FD(loss_layernorm, T.x, n, dx);
    CHECK_FD(loss_layernorm, T.w, T.C, dw);
    CHECK_FD(loss_layernorm, T.b, T.C, db);
    loss_layernorm();
    float *fx = to_f(T.x, n), *fw = to_f(T.w, T.C), *fb = to_f(T.b, T.C), *fr = to_f(T.r, n);
    float *fy = filled_f(n, 0), *mean = filled_f(T.N, 0), *rstd = filled_f(T.N, 0);
    ptrag_layernorm_forward(fy, mean, rstd, fx, fw, fb, T.N, T.C, (float)T.eps);
    CHECK_F32(fy, 0.0f, T.y, n, F32_TOL);
    float *fdx = filled_f(n, PREFILL), *fdw = filled_f(T.C, PREFILL), *fdb = filled_f(T.C, PREFILL);
    ptrag_layernorm_backward(fdx, fdw, fdb, fr, fx, fw, mean, rstd, T.N, T.C);
    CHECK_F32(fdx, PREFILL, dx, n, F32_TOL);
    CHECK_F32(fdw, PREFILL, dw, T.C, F32_TOL);
    CHECK_F32(fdb, PREFILL, db, T.C, F32_TOL);
    tfree_all();
}

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
    ptrag_attention_forward(fo, probs, fq, T.B, T.S, T.nh, T.dh, causal);
    CHECK_F32(fo, 0.0f, T.y, nout, F32_TOL);
    if (causal) CHECK(probs[0 * T.S + 1] == 0.0f && probs[0] > 0.99999f); /* row 0 sees only key 0 */
    float *fd = filled_f(nqkv, PREFILL);
    ptrag_attention_backward(fd, scratch, fr, fq, probs, T.B, T.S, T.nh, T.dh);
    CHECK_F32(fd, PREFILL, dqkv, nqkv, F32_TOL);
    tfree_all();
}

static void test_attention_causal(void) { check_attention(1); }
static void test_attention_bidirectional(void) { check_attention(0); }

/* ------------------------------------------------------------ activations */

enum { ACT_RELU, ACT_GELU, ACT_SILU };
static int act_kind;

static double act_f(double v) {
    return act_kind == ACT_RELU ? (v > 0 ? v : 0) : act_kind == ACT_GELU ? ref_gelu(v) : ref_silu(v);
}
static double act_g(double v) {
    return act_kind == ACT_RELU ? (v > 0) : act_kind == ACT_GELU ? ref_gelu_grad(v) : ref_silu_grad(v);
}

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
    if (kind == ACT_RELU) {
        ptrag_relu_forward(fy, fx, T.N);
        ptrag_relu_backward(fd, fr, fx, T.N);
    } else if (kind == ACT_GELU) {
        ptrag_gelu_forward(fy, fx, T.N);
        ptrag_gelu_backward(fd, fr, fx, T.N);
    } else {
        ptrag_silu_forward(fy, fx, T.N);
        ptrag_silu_backward(fd, fr, fx, T.N);
    }
    CHECK_F32(fy, 0.0f, T.y, T.N, F32_TOL);
    CHECK_F32(fd, PREFILL, dx, T.N, F32_TOL);
    tfree_all();
}

static void test_relu(void) {
    check_activation(ACT_RELU);
    float x0 = 0.0f, y0 = 1.0f, dy = 1.0f, dx = 0.0f;
    ptrag_relu_forward(&y0, &x0, 1);
    ptrag_relu_backward(&dx, &dy, &x0, 1);
    CHECK(y0 == 0.0f && dx == 0.0f); /* f'(0) = 0, like torch */
}
static void test_gelu(void) { check_activation(ACT_GELU); }
static void test_silu(void) { check_activation(ACT_SILU); }

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
    ptrag_swiglu_backward(fd, fr, fgu, T.N, T.F);
    CHECK_F32(fh, 0.0f, T.y, nh, F32_TOL);
    CHECK_F32(fd, PREFILL, dgu, ngu, F32_TOL);
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
    ptrag_dropout_forward(fy, fx, T.N, 0.3f, T.seed, T.stream);
    ptrag_dropout_backward(fd, fr, T.N, 0.3f, T.seed, T.stream);
    CHECK_F32(fy, 0.0f, T.y, T.N, F32_TOL);
    CHECK_F32(fd, PREFILL, dx, T.N, F32_TOL);
    /* p = 0 is the identity */
    float *id = filled_f(T.N, 0);
    ptrag_dropout_forward(id, fx, T.N, 0.0f, T.seed, T.stream);
    CHECK(memcmp(id, fx, sizeof(float) * T.N) == 0);

    /* keep rate and independence from the thread count */
    long n = 200000;
    float *ones = filled_f(n, 1.0f), *y1 = filled_f(n, 0), *y2 = filled_f(n, 0);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    ptrag_dropout_forward(y1, ones, n, 0.25f, 7, 1);
    omp_set_num_threads(saved > 1 ? saved : 2);
    ptrag_dropout_forward(y2, ones, n, 0.25f, 7, 1);
    omp_set_num_threads(saved);
    CHECK(memcmp(y1, y2, sizeof(float) * (size_t)n) == 0);
    long kept = 0;
    for (long i = 0; i < n; i++) kept += y1[i] != 0.0f;
    CHECK_NEAR((double)kept / n, 0.75, 0.005); /* ~5 sd of a binomial */
    /* a different stream gives a different mask */
    ptrag_dropout_forward(y2, ones, n, 0.25f, 7, 2);
    CHECK(memcmp(y1, y2, sizeof(float) * (size_t)n) != 0);
    tfree_all();
}

/* ------------------------------------------------------------ softmax */

static double loss_softmax(void) {
    ref_softmax_fwd(T.y, T.x, T.N, T.C);
    return dot_d(T.r, T.y, (long)T.N * T.C);
}

static double loss_log_softmax(void) {
    ref_log_softmax_fwd(T.y, T.x, T.N, T.C);
    return dot_d(T.r, T.y, (long)T.N * T.C);
}

static void check_softmax(int log_form) {
    T.N = 5, T.C = 6;
    long n = T.N * T.C;
    T.x = rand_d(n, 2), T.r = rand_d(n, 1), T.y = zeros_d(n);
    double *dx = zeros_d(n);
    if (log_form) ref_log_softmax_bwd(dx, T.r, T.x, T.N, T.C);
    else ref_softmax_bwd_from_x(dx, T.r, T.x, T.N, T.C, 1.0);
    CHECK_FD(log_form ? loss_log_softmax : loss_softmax, T.x, n, dx);
    (log_form ? loss_log_softmax : loss_softmax)();
    float *fx = to_f(T.x, n), *fr = to_f(T.r, n), *fy = filled_f(n, 0), *fd = filled_f(n, PREFILL);
    if (log_form) {
        ptrag_log_softmax_forward(fy, fx, T.N, T.C);
        ptrag_log_softmax_backward(fd, fr, fy, T.N, T.C);
    } else {
        ptrag_softmax_forward(fy, fx, T.N, T.C);
        ptrag_softmax_backward(fd, fr, fy, T.N, T.C);
    }
    CHECK_F32(fy, 0.0f, T.y, n, F32_TOL);
    CHECK_F32(fd, PREFILL, dx, n, F32_TOL);
    tfree_all();
}

static void test_softmax(void) { check_softmax(0); }
static void test_log_softmax(void) { check_softmax(1); }

/* ------------------------------------------------------------ Gumbel ST */

/* The straight-through gradient is the gradient of the soft sample. */
static double loss_gumbel_soft(void) {
    long n = (long)T.N * T.C;
    ref_gumbel_fwd(T.x2, T.y, T.x, T.N, T.C, T.tau, T.seed, T.stream);
    return dot_d(T.r, T.y, n);
}

static void check_gumbel(int C) {
    T.N = 6, T.C = C, T.tau = 0.5, T.seed = 42, T.stream = 11;
    long n = T.N * T.C;
    T.x = rand_d(n, 1), T.r = rand_d(n, 1), T.y = zeros_d(n), T.x2 = zeros_d(n);
    double *dx = zeros_d(n), *hard = zeros_d(n);
    ref_gumbel_bwd(dx, T.r, T.x, T.N, T.C, T.tau, T.seed, T.stream);
    CHECK_FD(loss_gumbel_soft, T.x, n, dx);
    ref_gumbel_fwd(hard, T.y, T.x, T.N, T.C, T.tau, T.seed, T.stream);
    float *fl = to_f(T.x, n), *fr = to_f(T.r, n), *fy = filled_f(n, 9), *fs = filled_f(n, 0);
    float *fd = filled_f(n, PREFILL);
    ptrag_gumbel_softmax_forward(fy, fs, fl, T.N, T.C, (float)T.tau, T.seed, T.stream);
    ptrag_gumbel_softmax_backward(fd, fr, fs, T.N, T.C, (float)T.tau);
    CHECK_F32(fs, 0.0f, T.y, n, F32_TOL);
    CHECK_F32(fd, PREFILL, dx, n, 1e-4); /* 1/tau amplifies rounding a little */
    for (long i = 0; i < n; i++) CHECK(fy[i] == (float)hard[i]); /* exact 0/1 one-hot */
    tfree_all();
}

static void test_gumbel_two_classes(void) { check_gumbel(2); }
static void test_gumbel_five_classes(void) { check_gumbel(5); }

/* Forward draw: class 1 is chosen with probability sigmoid(a1 - a0),
 * whatever tau is (reference-model.md 3.3). */
static void test_gumbel_selection_rate(void) {
    int N = 100000;
    float *logits = filled_f(2L * N, 0), *y = filled_f(2L * N, 0), *soft = filled_f(2L * N, 0);
    for (int i = 0; i < N; i++) logits[2 * i] = 0.3f, logits[2 * i + 1] = 1.1f;
    for (int t = 0; t < 2; t++) {
        float tau = t ? 2.0f : 0.5f;
        ptrag_gumbel_softmax_forward(y, soft, logits, N, 2, tau, 5, 3);
        long sel = 0;
        for (int i = 0; i < N; i++) sel += y[2 * i + 1] == 1.0f;
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
    ptrag_stdnorm_backward(fd, fr, fx, &st, T.N);
    CHECK_F32(fy, 0.0f, T.y, T.N, F32_TOL);
    CHECK_F32(fd, PREFILL, dx, T.N, F32_TOL);
    /* constant input: the clamp (1e-6) holds and no gradient flows through std */
    float c[4] = {2, 2, 2, 2}, cy[4], cd[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1};
    ptrag_stdnorm_forward(cy, &st, c, 4);
    CHECK(st.sigma == 1e-6 && st.std == 0.0);
    ptrag_stdnorm_backward(cd, one, c, &st, 4);
    CHECK_NEAR(cd[0], 1e6, 1);
    tfree_all();
}

/* ------------------------------------------------------------ losses */

static double loss_mse(void) {
    double s = 0;
    for (int i = 0; i < T.N; i++) s += (T.x[i] - T.x2[i]) * (T.x[i] - T.x2[i]);
    return s / T.N;
}

static void test_mse(void) {
    T.N = 30;
    T.x = rand_d(T.N, 1), T.x2 = rand_d(T.N, 1);
    double *dx = zeros_d(T.N), *dt = zeros_d(T.N);
    for (int i = 0; i < T.N; i++) dx[i] = 2 * (T.x[i] - T.x2[i]) / T.N, dt[i] = -dx[i];
    CHECK_FD(loss_mse, T.x, T.N, dx);
    CHECK_FD(loss_mse, T.x2, T.N, dt);
    float *fx = to_f(T.x, T.N), *ft = to_f(T.x2, T.N), *fd = filled_f(T.N, PREFILL), *fdt = filled_f(T.N, PREFILL);
    CHECK_NEAR(ptrag_mse_forward(fx, ft, T.N), loss_mse(), 1e-5 * loss_mse());
    ptrag_mse_backward(fd, fdt, 1.0, fx, ft, T.N);
    CHECK_F32(fd, PREFILL, dx, T.N, F32_TOL);
    CHECK_F32(fdt, PREFILL, dt, T.N, F32_TOL);
    tfree_all();
}

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

int main(void) {
    ptrag_rng_seed(&rng, 20240605);
    RUN(test_linear_bias);
    RUN(test_linear_nobias);
    RUN(test_embedding);
    RUN(test_add);
    RUN(test_layernorm);
    RUN(test_rmsnorm);
    RUN(test_rope);
    RUN(test_rope_bad_head_dim);
    RUN(test_attention_causal);
    RUN(test_attention_bidirectional);
    RUN(test_relu);
    RUN(test_gelu);
    RUN(test_silu);
    RUN(test_swiglu);
    RUN(test_dropout);
    RUN(test_softmax);
    RUN(test_log_softmax);
    RUN(test_gumbel_two_classes);
    RUN(test_gumbel_five_classes);
    RUN(test_gumbel_selection_rate);
    RUN(test_stdnorm);
    RUN(test_mse);
    RUN(test_sparsity);
    RUN(test_energy);
    RUN(test_energy_coincident_points);
    RUN(test_energy_many_sets);
    RUN(test_set_mean_mse);
    RUN(test_set_mean_mse_many_sets);
    printf("worst finite-difference rel err (double reference): %.3g\n", worst_fd);
    printf("worst float32-kernel vs double-reference rel err: %.3g\n", worst_f32);
    return TEST_SUMMARY();
}
