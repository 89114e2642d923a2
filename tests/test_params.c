/* Parameter registry: arena layout, counts, lookup, initialisation distributions. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/params.h"
#include "testlib.h"

static void moments(const float *x, size_t n, double *mean, double *sd, double *absmax) {
    double s = 0, s2 = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        if (fabs(x[i]) > m) m = fabs(x[i]);
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
    *absmax = m;
}

static void test_layout_puts_trainable_first_and_aligned(void) {
    ptrag_error err;
    ptrag_params *ps;
    CHECK_INT(ptrag_params_new(&ps, &err), 0);
    long long s_emb[2] = {5, 7}, s_norm[1] = {3}, s_big[3] = {2, 3, 11};
    int a = ptrag_params_add(ps, "backbone.norm", 1, s_norm, PTRAG_INIT_ONES, 0, 1, &err);
    int b = ptrag_params_add(ps, "batch_emb", 2, s_emb, PTRAG_INIT_NORMAL, 1.0, 0, &err);
    int c = ptrag_params_add_linear(ps, "basal_encoder", 10, 4, 1, 0, &err);
    int d = ptrag_params_add(ps, "backbone.big", 3, s_big, PTRAG_INIT_NORMAL, 0.02, 0, &err);
    CHECK(a == 0 && b == 1 && c == 2 && d == 4);
    CHECK_INT(ptrag_params_count(ps), 5);
    CHECK_INT(ptrag_params_find(ps, "basal_encoder.bias"), 3);
    CHECK_INT(ptrag_params_find(ps, "basal_encoder"), -1);
    const ptrag_param *w = ptrag_params_get(ps, c);
    CHECK_STR(w->name, "basal_encoder.weight");
    CHECK(w->ndim == 2 && w->shape[0] == 4 && w->shape[1] == 10 && w->numel == 40);
    CHECK(w->init == PTRAG_INIT_KAIMING_UNIFORM && w->init_arg == 10);
    const ptrag_param *bias = ptrag_params_get(ps, 3);
    CHECK(bias->ndim == 1 && bias->shape[0] == 4 && bias->init_arg == 10);
    CHECK(ptrag_params_get(ps, 5) == NULL);

    /* --freeze-backbone style: freeze by prefix before layout. */
    CHECK_INT(ptrag_params_set_frozen_prefix(ps, "backbone.", 1, &err), 2);
    CHECK_INT(ptrag_params_numel_all(ps), 3 + 35 + 40 + 4 + 66);
    CHECK_INT(ptrag_params_numel_trainable(ps), 35 + 40 + 4);
    CHECK(ptrag_params_values(ps) == NULL);
    CHECK(ptrag_params_value(ps, 0) == NULL);

    CHECK_INT(ptrag_params_layout(ps, &err), 0);
    /* Trainable in registration order, then frozen; each on a 16-float boundary. */
    CHECK_INT(ptrag_params_get(ps, b)->offset, 0);
    CHECK_INT(ptrag_params_get(ps, c)->offset, 48);
    CHECK_INT(ptrag_params_get(ps, 3)->offset, 96);
    CHECK_INT(ptrag_params_trainable(ps), 112);
    CHECK_INT(ptrag_params_get(ps, a)->offset, 112);
    CHECK_INT(ptrag_params_get(ps, d)->offset, 128);
    CHECK_INT(ptrag_params_total(ps), 208);
    for (int i = 0; i < ptrag_params_count(ps); i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        CHECK_INT(t->offset % 16, 0);
        CHECK(t->frozen ? t->offset >= ptrag_params_trainable(ps)
                        : t->offset + t->numel <= ptrag_params_trainable(ps));
        CHECK(t->offset + t->numel <= ptrag_params_total(ps));
        CHECK(ptrag_params_value(ps, i) == ptrag_params_values(ps) + t->offset);
        CHECK(ptrag_params_grad(ps, i) == ptrag_params_grads(ps) + t->offset);
    }
    CHECK_INT((uintptr_t)ptrag_params_values(ps) % 64, 0);
    CHECK_INT((uintptr_t)ptrag_params_adam_v(ps) % 64, 0);
    /* Arenas start zeroed. */
    int zero = 1;
    for (size_t i = 0; i < ptrag_params_total(ps); i++)
        zero &= ptrag_params_values(ps)[i] == 0 && ptrag_params_grads(ps)[i] == 0 &&
                ptrag_params_adam_m(ps)[i] == 0 && ptrag_params_adam_v(ps)[i] == 0;
    CHECK(zero);

    /* Registration is closed after layout. */
    CHECK_INT(ptrag_params_add(ps, "late", 1, s_norm, PTRAG_INIT_ZEROS, 0, 0, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "'late'");
    CHECK_INT(ptrag_params_set_frozen_prefix(ps, "x", 1, &err), PTRAG_E_STATE);
    CHECK_INT(ptrag_params_layout(ps, &err), PTRAG_E_STATE);

    /* zero_grad clears the whole gradient arena. */
    for (size_t i = 0; i < ptrag_params_total(ps); i++) ptrag_params_grads(ps)[i] = 1.5f;
    ptrag_params_zero_grad(ps);
    int cleared = 1;
    for (size_t i = 0; i < ptrag_params_total(ps); i++) cleared &= ptrag_params_grads(ps)[i] == 0;
    CHECK(cleared);
    ptrag_params_free(ps);
    ptrag_params_free(NULL);
}

static void test_bad_registrations_are_refused(void) {
    ptrag_error err;
    ptrag_params *ps;
    CHECK_INT(ptrag_params_new(&ps, &err), 0);
    long long ok[2] = {2, 3}, zero[2] = {2, 0};
    CHECK_INT(ptrag_params_add(ps, "w", 2, ok, PTRAG_INIT_ZEROS, 0, 0, &err), 0);
    CHECK_INT(ptrag_params_add(ps, "w", 2, ok, PTRAG_INIT_ZEROS, 0, 0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "'w': registered twice");
    CHECK_INT(ptrag_params_add(ps, "z", 2, zero, PTRAG_INIT_ZEROS, 0, 0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "'z': dimension 1 must be >= 1, got 0");
    CHECK_INT(ptrag_params_add(ps, "n", 5, ok, PTRAG_INIT_ZEROS, 0, 0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "ndim must be 1 to 4, got 5");
    CHECK_INT(ptrag_params_add(ps, "", 1, ok, PTRAG_INIT_ZEROS, 0, 0, &err), PTRAG_E_ARG);
    char longname[80];
    memset(longname, 'x', 79);
    longname[79] = '\0';
    CHECK_INT(ptrag_params_add(ps, longname, 1, ok, PTRAG_INIT_ZEROS, 0, 0, &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_params_add(ps, "k", 1, ok, PTRAG_INIT_KAIMING_UNIFORM, 0, 0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "fan_in >= 1");
    CHECK_INT(ptrag_params_add(ps, "s", 1, ok, PTRAG_INIT_NORMAL, -1, 0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "std >= 0");
    CHECK_INT(ptrag_params_count(ps), 1);
    CHECK_INT(ptrag_params_init(ps, 1, &err), PTRAG_E_STATE); /* before layout */
    ptrag_params_free(ps);
}

static ptrag_params *registry(int with_extra_first, uint64_t seed) {
    ptrag_error err;
    ptrag_params *ps;
    if (ptrag_params_new(&ps, &err)) return NULL;
    long long s_extra[1] = {1000}, s_emb[2] = {300, 127}, s_ln[1] = {384}, s_llama[2] = {512, 128};
    if (with_extra_first) ptrag_params_add(ps, "extra", 1, s_extra, PTRAG_INIT_NORMAL, 1.0, 0, &err);
    ptrag_params_add_linear(ps, "pert_encoder", 400, 256, 1, 0, &err);
    ptrag_params_add(ps, "batch_emb", 2, s_emb, PTRAG_INIT_NORMAL, 1.0, 0, &err);
    ptrag_params_add(ps, "ln.weight", 1, s_ln, PTRAG_INIT_ONES, 0, 0, &err);
    ptrag_params_add(ps, "ln.bias", 1, s_ln, PTRAG_INIT_ZEROS, 0, 0, &err);
    ptrag_params_add(ps, "backbone.q", 2, s_llama, PTRAG_INIT_NORMAL, 0.02, 1, &err);
    if (ptrag_params_layout(ps, &err) || ptrag_params_init(ps, seed, &err)) {
        ptrag_params_free(ps);
        return NULL;
    }
    return ps;
}

static void test_init_distributions(void) {
    ptrag_params *ps = registry(0, 42);
    CHECK(ps != NULL);
    if (!ps) return;
    double mean, sd, mx;
    /* PyTorch Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), sd = bound/sqrt(3). */
    int w = ptrag_params_find(ps, "pert_encoder.weight");
    double bound = 1.0 / sqrt(400.0);
    moments(ptrag_params_value(ps, w), 256 * 400, &mean, &sd, &mx);
    CHECK_NEAR(mean, 0.0, 0.01 * bound);
    CHECK_NEAR(sd, bound / sqrt(3.0), 0.01 * bound);
    CHECK(mx <= bound && mx > 0.99 * bound);
    int b = ptrag_params_find(ps, "pert_encoder.bias");
    moments(ptrag_params_value(ps, b), 256, &mean, &sd, &mx);
    CHECK(mx <= bound);
    CHECK_NEAR(sd, bound / sqrt(3.0), 0.15 * bound); /* 256 draws: loose */
    /* Embedding N(0, 1) and LLaMA N(0, 0.02^2). */
    moments(ptrag_params_value(ps, ptrag_params_find(ps, "batch_emb")), 300 * 127, &mean, &sd, &mx);
    CHECK_NEAR(mean, 0.0, 0.02);
    CHECK_NEAR(sd, 1.0, 0.02);
    CHECK(mx > 3.0); /* a normal, not a uniform, over 38k draws */
    moments(ptrag_params_value(ps, ptrag_params_find(ps, "backbone.q")), 512 * 128, &mean, &sd, &mx);
    CHECK_NEAR(mean, 0.0, 0.0005);
    CHECK_NEAR(sd, 0.02, 0.0004);
    /* Ones and zeros. */
    const float *g = ptrag_params_value(ps, ptrag_params_find(ps, "ln.weight"));
    const float *z = ptrag_params_value(ps, ptrag_params_find(ps, "ln.bias"));
    int ones = 1, zeros = 1;
    for (int i = 0; i < 384; i++) ones &= g[i] == 1.0f, zeros &= z[i] == 0.0f;
    CHECK(ones && zeros);
    /* Padding between tensors stays zero (300 x 127 is not a multiple of 16). */
    int e = ptrag_params_find(ps, "batch_emb");
    const ptrag_param *bt = ptrag_params_get(ps, e);
    const ptrag_param *next = ptrag_params_get(ps, e + 1);
    int pad_zero = 1;
    for (size_t i = bt->offset + bt->numel; i < next->offset; i++)
        pad_zero &= ptrag_params_values(ps)[i] == 0.0f;
    CHECK(next->offset > bt->offset + bt->numel);
    CHECK(pad_zero);
    ptrag_params_free(ps);
}

static void test_init_is_seeded_and_per_tensor(void) {
    ptrag_params *a = registry(0, 42), *a2 = registry(0, 42), *b = registry(0, 43);
    ptrag_params *shifted = registry(1, 42); /* another tensor registered first */
    CHECK(a && a2 && b && shifted);
    if (a && a2 && b && shifted) {
        CHECK(memcmp(ptrag_params_values(a), ptrag_params_values(a2),
                     ptrag_params_total(a) * sizeof(float)) == 0);
        int w = ptrag_params_find(a, "pert_encoder.weight");
        CHECK(memcmp(ptrag_params_value(a, w), ptrag_params_value(b, w), 400 * sizeof(float)) != 0);
        /* Same name, same seed -> same values, wherever the tensor sits. */
        int ws = ptrag_params_find(shifted, "pert_encoder.weight");
        CHECK(ptrag_params_get(shifted, ws)->offset != ptrag_params_get(a, w)->offset);
        CHECK(memcmp(ptrag_params_value(a, w), ptrag_params_value(shifted, ws),
                     256 * 400 * sizeof(float)) == 0);
        /* Different tensors with the same init do not share a stream. */
        int e = ptrag_params_find(a, "batch_emb"), q = ptrag_params_find(a, "backbone.q");
        CHECK(ptrag_params_value(a, e)[0] / 1.0f != ptrag_params_value(a, q)[0] / 0.02f);
    }
    ptrag_params_free(a);
    ptrag_params_free(a2);
    ptrag_params_free(b);
    ptrag_params_free(shifted);
}

static void test_shape_text(void) {
    char buf[64];
    long long s[3] = {64, 500, 2};
    ptrag_shape_text(2, s, buf, sizeof buf);
    CHECK_STR(buf, "[64, 500]");
    ptrag_shape_text(3, s, buf, sizeof buf);
    CHECK_STR(buf, "[64, 500, 2]");
    ptrag_shape_text(3, s, buf, 6);
    CHECK_STR(buf, "[64, ");
}

int main(void) {
    RUN(test_layout_puts_trainable_first_and_aligned);
    RUN(test_bad_registrations_are_refused);
    RUN(test_init_distributions);
    RUN(test_init_is_seeded_and_per_tensor);
    RUN(test_shape_text);
    return TEST_SUMMARY();
}
