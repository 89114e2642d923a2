/* Adam/AdamW against a double-precision transcription of torch.optim's
 * update, clipping and freezing semantics, and the init distributions. */
#include <math.h>

#include "../src/run/run_internal.h"
#include "ptrag/nn.h"
#include "ptrag/optim.h"
#include "testlib.h"

/* torch.optim.Adam/AdamW single-tensor step in double. */
static void adam_ref(double *p, const double *g, double *m, double *v, int n, double lr,
                     double b1, double b2, double eps, double wd, int decoupled, int step) {
    for (int i = 0; i < n; i++) {
        double pi = decoupled ? p[i] * (1 - lr * wd) : p[i];
        double gi = decoupled ? g[i] : g[i] + wd * pi;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        double denom = sqrt(v[i]) / sqrt(1 - pow(b2, step)) + eps;
        p[i] = pi - lr / (1 - pow(b1, step)) * m[i] / denom;
    }
}

static void check_adam_variant(float wd, int decoupled) {
    enum { N = 9 };
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 3);
    float p[N], g[N], m[N] = {0}, v[N] = {0};
    double pd[N], gd[N], md[N] = {0}, vd[N] = {0};
    for (int i = 0; i < N; i++) pd[i] = p[i] = (float)ptrag_rng_normal(&rng);
    ptrag_adam_config cfg = ptrag_adam_defaults(1e-2f);
    cfg.weight_decay = wd;
    cfg.decoupled = decoupled;
    double worst = 0;
    for (int step = 1; step <= 5; step++) {
        for (int i = 0; i < N; i++) gd[i] = g[i] = (float)(ptrag_rng_normal(&rng) * (i + 1) * 0.1);
        ptrag_adam_update(p, g, m, v, N, &cfg, step);
        adam_ref(pd, gd, md, vd, N, (double)cfg.lr, (double)cfg.beta1, (double)cfg.beta2,
                 (double)cfg.eps, (double)wd, decoupled, step);
        for (int i = 0; i < N; i++) worst = fmax(worst, fabs(p[i] - pd[i]));
    }
    CHECK_MSG(worst < 1e-6, "max |p - p_ref| = %g", worst);
}

static void test_adam(void) { check_adam_variant(0.0f, 0); }
static void test_adam_l2(void) { check_adam_variant(0.1f, 0); }
static void test_adamw(void) { check_adam_variant(0.1f, 1); }

/* First Adam step: m_hat / sqrt(v_hat) = sign(g), so p moves by ~lr. */
static void test_adam_first_step_size(void) {
    float p[3] = {1, 1, 1}, g[3] = {5, -0.001f, 0}, m[3] = {0}, v[3] = {0};
    ptrag_adam_config cfg = ptrag_adam_defaults(1e-3f);
    ptrag_adam_update(p, g, m, v, 3, &cfg, 1);
    CHECK_NEAR(p[0], 1 - 1e-3, 1e-7);
    CHECK_NEAR(p[1], 1 + 1e-3, 1e-6);
    CHECK(p[2] == 1.0f);
}

/* AdamW decays even with a zero gradient; Adam (L2) with wd and zero grad
 * moves by ~lr in the direction of -p. */
static void test_weight_decay_forms(void) {
    float p[1] = {2}, g[1] = {0}, m[1] = {0}, v[1] = {0};
    ptrag_adam_config cfg = ptrag_adam_defaults(0.1f);
    cfg.weight_decay = 0.5f;
    cfg.decoupled = 1;
    ptrag_adam_update(p, g, m, v, 1, &cfg, 1);
    CHECK_NEAR(p[0], 2 * (1 - 0.05), 1e-6);
    float q[1] = {2}, mq[1] = {0}, vq[1] = {0};
    cfg.decoupled = 0;
    ptrag_adam_update(q, g, mq, vq, 1, &cfg, 1);
    CHECK_NEAR(q[0], 2 - 0.1, 1e-6);
}

static void test_clip_and_freeze(void) {
    float p1[2] = {1, 1}, g1[2] = {3, 0}, m1[2] = {0}, v1[2] = {0};
    float p2[2] = {1, 1}, g2[2] = {0, 4}, m2[2] = {0}, v2[2] = {0};
    float p3[1] = {1}, g3[1] = {100}, m3[1] = {0}, v3[1] = {0};
    ptrag_param_tensor t[3] = {{p1, g1, m1, v1, 2, 0}, {p2, g2, m2, v2, 2, 0}, {p3, g3, m3, v3, 1, 1}};
    /* frozen tensor 3 is not in the norm: sqrt(9 + 16) = 5 */
    CHECK_NEAR(ptrag_grad_norm(t, 3), 5.0, 1e-12);
    /* below the limit: untouched */
    CHECK_NEAR(ptrag_clip_grad_norm(t, 3, 10.0), 5.0, 1e-12);
    CHECK(g1[0] == 3.0f && g2[1] == 4.0f);
    /* above: scaled by max/(norm + 1e-6); the frozen gradient is left alone */
    CHECK_NEAR(ptrag_clip_grad_norm(t, 3, 2.5), 5.0, 1e-12);
    CHECK_NEAR(g1[0], 3 * 2.5 / (5 + 1e-6), 1e-6);
    CHECK_NEAR(g2[1], 4 * 2.5 / (5 + 1e-6), 1e-6);
    CHECK(g3[0] == 100.0f);
    CHECK_NEAR(ptrag_grad_norm(t, 3), 2.5, 1e-5);
    ptrag_adam_config cfg = ptrag_adam_defaults(0.1f);
    ptrag_adam_step(t, 3, &cfg, 1);
    CHECK(p3[0] == 1.0f && m3[0] == 0.0f && v3[0] == 0.0f); /* frozen: skipped */
    CHECK_NEAR(p1[0], 0.9, 1e-6);
    CHECK(p1[1] == 1.0f); /* zero gradient: no move */
    ptrag_zero_grads(t, 3);
    CHECK(g1[0] == 0.0f && g2[1] == 0.0f && g3[0] == 0.0f);
}

static void moments(const float *w, long n, double *mean, double *sd, double *maxabs) {
    double s = 0, ss = 0, mx = 0;
    for (long i = 0; i < n; i++) s += w[i], mx = fmax(mx, fabs(w[i]));
    *mean = s / n;
    for (long i = 0; i < n; i++) ss += (w[i] - *mean) * (w[i] - *mean);
    *sd = sqrt(ss / (n - 1));
    *maxabs = mx;
}

/* The one init path (nn.h, called by ptrag_params_init) draws PyTorch's
 * distributions. */
static void test_init_distributions(void) {
    enum { IN = 400, OUT = 300 };
    static float W[IN * OUT], b[OUT];
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 11);
    double mean, sd, mx, bound = 1 / sqrt((double)IN);
    /* nn.Linear: weight and bias U(-1/sqrt(in), 1/sqrt(in)) */
    ptrag_init_kaiming_uniform(W, (long)IN * OUT, IN, &rng);
    ptrag_init_kaiming_uniform(b, OUT, IN, &rng);
    moments(W, (long)IN * OUT, &mean, &sd, &mx);
    CHECK(mx <= bound);
    CHECK_NEAR(mx, bound, bound * 1e-3);
    CHECK_NEAR(mean, 0, 0.01 * bound);
    CHECK_NEAR(sd, bound / sqrt(3.0), 0.01 * bound); /* U(-a, a): sd = a/sqrt3 */
    moments(b, OUT, &mean, &sd, &mx);
    CHECK(mx <= bound && mx > 0.9 * bound);
    /* LLaMA linear: N(0, 0.02^2), bias 0 */
    ptrag_init_normal(W, (long)IN * OUT, 0.02, &rng);
    ptrag_init_const(b, OUT, 0.0f);
    moments(W, (long)IN * OUT, &mean, &sd, &mx);
    CHECK_NEAR(sd, 0.02, 0.0003);
    CHECK_NEAR(mean, 0, 0.0003);
    CHECK(b[0] == 0.0f && b[OUT - 1] == 0.0f);
    /* nn.Embedding: N(0, 1) */
    ptrag_init_normal(W, (long)IN * OUT, 1.0, &rng);
    moments(W, (long)IN * OUT, &mean, &sd, &mx);
    CHECK_NEAR(sd, 1.0, 0.01);
    ptrag_init_const(b, OUT, 1.0f);
    CHECK(b[7] == 1.0f);
    /* same seed, same draws */
    float a1[5], a2[5];
    ptrag_rng_seed(&rng, 5);
    ptrag_init_normal(a1, 5, 1.0, &rng);
    ptrag_rng_seed(&rng, 5);
    ptrag_init_normal(a2, 5, 1.0, &rng);
    CHECK(memcmp(a1, a2, sizeof a1) == 0);
}

/* Learning-rate multiplier: linear warm-up, then constant or cosine to 0. */
static void test_lr_schedule(void) {
    ptrag_config c;
    ptrag_config_default(&c);
    c.steps = 1000;
    c.warmup = 0;
    c.lr_schedule = PTRAG_LR_CONSTANT;
    CHECK_NEAR(ptrag_lr_factor(&c, 0), 1.0, 0);
    CHECK_NEAR(ptrag_lr_factor(&c, 999), 1.0, 0);
    c.warmup = 100;
    CHECK_NEAR(ptrag_lr_factor(&c, 0), 0.01, 1e-12);
    CHECK_NEAR(ptrag_lr_factor(&c, 49), 0.5, 1e-12);
    CHECK_NEAR(ptrag_lr_factor(&c, 100), 1.0, 0);
    c.lr_schedule = PTRAG_LR_COSINE;
    CHECK_NEAR(ptrag_lr_factor(&c, 100), 1.0, 1e-12);
    CHECK_NEAR(ptrag_lr_factor(&c, 550), 0.5, 1e-12);  /* half-way through the decay */
    CHECK_NEAR(ptrag_lr_factor(&c, 1000), 0.0, 1e-12);
    CHECK(ptrag_lr_factor(&c, 300) > ptrag_lr_factor(&c, 301));
}

int main(void) {
    RUN(test_adam);
    RUN(test_lr_schedule);
    RUN(test_adam_l2);
    RUN(test_adamw);
    RUN(test_adam_first_step_size);
    RUN(test_weight_decay_forms);
    RUN(test_clip_and_freeze);
    RUN(test_init_distributions);
    return TEST_SUMMARY();
}
