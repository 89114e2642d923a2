/* PyTorch twin: runs dev/twin_block.py (Debian /usr/bin/python3 + torch) into
 * a scratch file, rebuilds the same small STATE-style model (encoders, LLaMA
 * block stack with RMSNorm, RoPE, causal fused-QKV attention, SwiGLU; ReLU
 * head; energy + MSE loss) from ptrag's C ops, and compares:
 *   forward activations and loss      max rel err <= 1e-4
 *   every gradient                    max rel err <= 1e-3
 *   10 Adam steps (clipping, frozen head): losses, grad norms, final weights.
 * Relative error of a tensor = max|c - torch| / max|torch|.
 * Skips (exit 77) when /usr/bin/python3 cannot import torch. */
#include <math.h>
#include <stdint.h>

#include "ptrag/nn.h"
#include "ptrag/optim.h"
#include "testlib.h"
#include "twin_file.h"

#define FWD_TOL 1e-4
#define GRAD_TOL 1e-3
#define MAXL 4

/* ------------------------------------------------------------ model */

/* The twin's auxiliary loss mean((x - y)^2) (test scaffolding: the product
 * trains on the energy distance and the set-mean MSE of nn.h). */
static double mse_forward(const float *x, const float *y, long n) {
    double s = 0.0;
    for (long i = 0; i < n; i++) s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return s / (double)n;
}

static void mse_backward(float *dx, double dloss, const float *x, const float *y, long n) {
    const float k = (float)(2.0 * dloss / (double)n);
    for (long i = 0; i < n; i++) dx[i] += k * (x[i] - y[i]);
}

typedef struct cfg {
    int B, S, G, E, NB, H, NH, DH, F, L, N, A;
} cfg;

/* Parameter tensors of the C model, in one arena. The fused tensors qkv
 * ([q; k; v], 3A x H) and gu ([gate; up], 2F x H) hold the twin's separate
 * HF weights back to back. */
enum { P_BASAL_W, P_BASAL_B, P_PERT_W, P_PERT_B, P_EMB, P_FINAL, P_OUT_W, P_OUT_B, P_GLOBAL };
enum { PL_LN1, PL_QKV, PL_O, PL_LN2, PL_GU, PL_DOWN, PL_COUNT };
#define NPARAMS (P_GLOBAL + MAXL * PL_COUNT)

typedef struct model {
    cfg c;
    int np;
    ptrag_param_tensor t[NPARAMS];
    float *arena; /* params | grads | m | v */
} model;

static int lp(int l, int k) { return P_GLOBAL + l * PL_COUNT + k; }

static long param_size(const cfg *c, int i) {
    switch (i) {
    case P_BASAL_W: return (long)c->H * c->G;
    case P_BASAL_B: return c->H;
    case P_PERT_W: return (long)c->H * c->E;
    case P_PERT_B: return c->H;
    case P_EMB: return (long)c->NB * c->H;
    case P_FINAL: return c->H;
    case P_OUT_W: return (long)c->G * c->H;
    case P_OUT_B: return c->G;
    }
    switch ((i - P_GLOBAL) % PL_COUNT) {
    case PL_LN1: case PL_LN2: return c->H;
    case PL_QKV: return 3L * c->A * c->H;
    case PL_O: return (long)c->H * c->A;
    case PL_GU: return 2L * c->F * c->H;
    default: return (long)c->H * c->F;
    }
}

static void model_init(model *m, const cfg *c) {
    m->c = *c;
    m->np = P_GLOBAL + c->L * PL_COUNT;
    long total = 0;
    for (int i = 0; i < m->np; i++) total += param_size(c, i);
    m->arena = calloc(4 * (size_t)total, sizeof(float));
    long off = 0;
    for (int i = 0; i < m->np; i++) {
        long n = param_size(c, i);
        m->t[i] = (ptrag_param_tensor){m->arena + off, m->arena + total + off,
                                       m->arena + 2 * total + off, m->arena + 3 * total + off, n, 0};
        off += n;
    }
}

/* Activations kept for backward, plus gradient work buffers; one arena. */
typedef struct acts {
    float *c, *x0, *emb, *h[MAXL + 1], *hmid[MAXL], *n1[MAXL], *n2[MAXL], *r1[MAXL], *r2[MAXL];
    float *qkv[MAXL], *att[MAXL], *probs[MAXL], *gu[MAXL], *hm[MAXL];
    float *y, *rf, *yc, *pre, *pred, *eloss, *escratch, *cos_t, *sin_t;
    /* gradients */
    float *dpred, *dpre, *dyc, *dc, *dh, *dhmid, *dn, *datt, *dqkv, *dgu, *dhm, *ascratch, *dXc;
    float *base;
} acts;

static void acts_init(acts *a, const cfg *c) {
    long N = c->N, H = c->H, A = c->A, F = c->F, G = c->G, P = (long)c->B * c->NH * c->S * c->S;
    long total = 0;
    float **slots[256];
    long sizes[256];
    int k = 0;
#define SLOT(ptr, n) (slots[k] = &(ptr), sizes[k++] = (n), total += (n))
    SLOT(a->c, N * H), SLOT(a->x0, N * H), SLOT(a->emb, N * H);
    for (int l = 0; l <= c->L; l++) SLOT(a->h[l], N * H);
    for (int l = 0; l < c->L; l++) {
        SLOT(a->hmid[l], N * H), SLOT(a->n1[l], N * H), SLOT(a->n2[l], N * H);
        SLOT(a->r1[l], N), SLOT(a->r2[l], N), SLOT(a->qkv[l], N * 3 * A), SLOT(a->att[l], N * A);
        SLOT(a->probs[l], P), SLOT(a->gu[l], N * 2 * F), SLOT(a->hm[l], N * F);
    }
    SLOT(a->y, N * H), SLOT(a->rf, N), SLOT(a->yc, N * H), SLOT(a->pre, N * G), SLOT(a->pred, N * G);
    SLOT(a->eloss, c->B), SLOT(a->escratch, ptrag_energy_scratch_floats(c->B, c->S));
    SLOT(a->cos_t, c->S * c->DH / 2), SLOT(a->sin_t, c->S * c->DH / 2);
    SLOT(a->dpred, N * G), SLOT(a->dpre, N * G), SLOT(a->dyc, N * H), SLOT(a->dc, N * H);
    SLOT(a->dh, N * H), SLOT(a->dhmid, N * H), SLOT(a->dn, N * H), SLOT(a->datt, N * A);
    SLOT(a->dqkv, N * 3 * A), SLOT(a->dgu, N * 2 * F), SLOT(a->dhm, N * F), SLOT(a->ascratch, P);
    SLOT(a->dXc, N * G);
#undef SLOT
    a->base = calloc((size_t)total, sizeof(float));
    long off = 0;
    for (int i = 0; i < k; i++) *slots[i] = a->base + off, off += sizes[i];
}

typedef struct inputs {
    const float *Xc, *P, *Y;
    const int *ids;
} inputs;

static double forward(const model *m, acts *a, const inputs *in) {
    const cfg *c = &m->c;
    const int N = c->N, H = c->H, A = c->A, F = c->F;
#define W(i) (m->t[i].param)
    ptrag_linear_forward(NULL, a->c, in->Xc, W(P_BASAL_W), W(P_BASAL_B), N, c->G, H, 0);
    ptrag_linear_forward(NULL, a->x0, in->P, W(P_PERT_W), W(P_PERT_B), N, c->E, H, 0);
    ptrag_add_forward(a->x0, a->x0, a->c, (long)N * H);
    memset(a->emb, 0, sizeof(float) * (size_t)N * H);
    ptrag_embedding_forward(a->emb, W(P_EMB), in->ids, N, H); /* adds */
    ptrag_add_forward(a->h[0], a->x0, a->emb, (long)N * H);
    for (int l = 0; l < c->L; l++) {
        ptrag_rmsnorm_forward(a->n1[l], a->r1[l], a->h[l], W(lp(l, PL_LN1)), N, H, 1e-6f);
        ptrag_linear_forward(NULL, a->qkv[l], a->n1[l], W(lp(l, PL_QKV)), NULL, N, H, 3 * A, 0);
        ptrag_rope_forward(a->qkv[l], a->cos_t, a->sin_t, c->B, c->S, 2 * c->NH, c->DH, 3 * A);
        ptrag_attention_forward(NULL, a->att[l], a->probs[l], a->qkv[l], c->B, c->S, c->NH, c->DH, 1);
        memcpy(a->hmid[l], a->h[l], sizeof(float) * N * H);
        ptrag_linear_forward(NULL, a->hmid[l], a->att[l], W(lp(l, PL_O)), NULL, N, A, H, 1);
        ptrag_rmsnorm_forward(a->n2[l], a->r2[l], a->hmid[l], W(lp(l, PL_LN2)), N, H, 1e-6f);
        ptrag_linear_forward(NULL, a->gu[l], a->n2[l], W(lp(l, PL_GU)), NULL, N, H, 2 * F, 0);
        ptrag_swiglu_forward(a->hm[l], a->gu[l], N, F);
        memcpy(a->h[l + 1], a->hmid[l], sizeof(float) * N * H);
        ptrag_linear_forward(NULL, a->h[l + 1], a->hm[l], W(lp(l, PL_DOWN)), NULL, N, F, H, 1);
    }
    ptrag_rmsnorm_forward(a->y, a->rf, a->h[c->L], W(P_FINAL), N, H, 1e-6f);
    ptrag_add_forward(a->yc, a->y, a->c, (long)N * H);
    ptrag_linear_forward(NULL, a->pre, a->yc, W(P_OUT_W), W(P_OUT_B), N, H, c->G, 0);
    ptrag_relu_forward(a->pred, a->pre, (long)N * c->G);
    ptrag_energy_forward(a->eloss, a->escratch, a->pred, in->Y, c->B, c->S, c->G);
    double e = 0;
    for (int b = 0; b < c->B; b++) e += a->eloss[b];
    return e / c->B + 0.5 * mse_forward(a->pred, in->Y, (long)N * c->G);
}

/* Gradients of the loss into m->t[i].grad (accumulated: zero them first)
 * and, when dXc is wanted, into a->dXc. */
static void backward(model *m, acts *a, const inputs *in, int want_dXc) {
    const cfg *c = &m->c;
    const int N = c->N, H = c->H, A = c->A, F = c->F;
    const long NH = (long)N * H;
#define D(i) (m->t[i].frozen ? NULL : m->t[i].grad)
    memset(a->dpred, 0, sizeof(float) * N * c->G);
    float dl[64];
    for (int b = 0; b < c->B; b++) dl[b] = 1.0f / c->B;
    ptrag_energy_backward(a->dpred, dl, a->escratch, a->pred, in->Y, c->B, c->S, c->G);
    mse_backward(a->dpred, 0.5, a->pred, in->Y, (long)N * c->G);
    memset(a->dpre, 0, sizeof(float) * N * c->G);
    ptrag_relu_backward(a->dpre, a->dpred, a->pred, (long)N * c->G);
    memset(a->dyc, 0, sizeof(float) * NH);
    ptrag_linear_backward(NULL, a->dyc, D(P_OUT_W), D(P_OUT_B), a->dpre, a->yc, W(P_OUT_W), N, H, c->G);
    memset(a->dc, 0, sizeof(float) * NH);
    memset(a->dh, 0, sizeof(float) * NH);
    ptrag_accumulate(a->dc, a->dyc, NH); /* yc = y + c */
    ptrag_rmsnorm_backward(a->dh, D(P_FINAL), a->dyc, a->h[c->L], W(P_FINAL), a->rf, N, H);
    for (int l = c->L - 1; l >= 0; l--) {
        /* h[l+1] = hmid + down(swiglu(gu(rms(hmid)))) */
        memcpy(a->dhmid, a->dh, sizeof(float) * NH);
        memset(a->dhm, 0, sizeof(float) * N * F);
        ptrag_linear_backward(NULL, a->dhm, D(lp(l, PL_DOWN)), NULL, a->dh, a->hm[l], W(lp(l, PL_DOWN)), N, F, H);
        memset(a->dgu, 0, sizeof(float) * N * 2 * F);
        ptrag_swiglu_backward(a->dgu, a->dhm, a->gu[l], N, F);
        memset(a->dn, 0, sizeof(float) * NH);
        ptrag_linear_backward(NULL, a->dn, D(lp(l, PL_GU)), NULL, a->dgu, a->n2[l], W(lp(l, PL_GU)), N, H, 2 * F);
        ptrag_rmsnorm_backward(a->dhmid, D(lp(l, PL_LN2)), a->dn, a->hmid[l], W(lp(l, PL_LN2)), a->r2[l], N, H);
        /* hmid = h[l] + o(attn(rope(qkv(rms(h[l]))))) */
        memcpy(a->dh, a->dhmid, sizeof(float) * NH);
        memset(a->datt, 0, sizeof(float) * N * A);
        ptrag_linear_backward(NULL, a->datt, D(lp(l, PL_O)), NULL, a->dhmid, a->att[l], W(lp(l, PL_O)), N, A, H);
        memset(a->dqkv, 0, sizeof(float) * N * 3 * A);
        ptrag_attention_backward(NULL, a->dqkv, a->ascratch, a->datt, a->qkv[l], a->probs[l], c->B, c->S, c->NH, c->DH);
        ptrag_rope_backward(a->dqkv, a->cos_t, a->sin_t, c->B, c->S, 2 * c->NH, c->DH, 3 * A);
        memset(a->dn, 0, sizeof(float) * NH);
        ptrag_linear_backward(NULL, a->dn, D(lp(l, PL_QKV)), NULL, a->dqkv, a->n1[l], W(lp(l, PL_QKV)), N, H, 3 * A);
        ptrag_rmsnorm_backward(a->dh, D(lp(l, PL_LN1)), a->dn, a->h[l], W(lp(l, PL_LN1)), a->r1[l], N, H);
    }
    /* h[0] = pert(P) + c + emb[ids] */
    ptrag_linear_backward(NULL, NULL, D(P_PERT_W), D(P_PERT_B), a->dh, in->P, W(P_PERT_W), N, c->E, H);
    ptrag_embedding_backward(D(P_EMB), a->dh, in->ids, N, H);
    ptrag_accumulate(a->dc, a->dh, NH);
    if (want_dXc) memset(a->dXc, 0, sizeof(float) * N * c->G);
    ptrag_linear_backward(NULL, want_dXc ? a->dXc : NULL, D(P_BASAL_W), D(P_BASAL_B), a->dc, in->Xc,
                          W(P_BASAL_W), N, c->G, H);
#undef D
#undef W
}

/* ------------------------------------------------------------ comparison */

static double worst_fwd, worst_grad;

static double rel_err(const float *c, const float *ref, long n) {
    double num = 0, den = 0;
    for (long i = 0; i < n; i++) {
        num = fmax(num, fabs((double)c[i] - ref[i]));
        den = fmax(den, fabs((double)ref[i]));
    }
    return den > 0 ? num / den : num;
}

static const float *ref_f(const twin_file *tf, const char *name, long n) {
    ptrag_error err;
    const twin_tensor *t = twin_get(tf, name, n, 0, &err);
    CHECK_MSG(t != NULL, "%s", err.msg);
    return t ? t->data : NULL;
}

static void compare(const twin_file *tf, const char *name, const float *c, long n, double tol,
                    double *worst) {
    const float *r = ref_f(tf, name, n);
    if (!r) return;
    double e = rel_err(c, r, n);
    *worst = fmax(*worst, e);
    printf("  %-32s rel err %.2e\n", name, e);
    CHECK_MSG(e <= tol, "%s: rel err %.3g > %.g", name, e, tol);
}

/* Torch name <-> C tensor (and offset inside fused tensors). */
typedef struct name_map {
    char name[64];
    int tensor;
    long offset, n;
} name_map;

static int build_name_map(const cfg *c, name_map *nm) {
    int k = 0;
    long AH = (long)c->A * c->H, FH = (long)c->F * c->H;
#define MAP(nmstr, t, off, cnt) (snprintf(nm[k].name, 64, "%s", nmstr), nm[k].tensor = (t), nm[k].offset = (off), nm[k].n = (cnt), k++)
    MAP("basal.weight", P_BASAL_W, 0, (long)c->H * c->G);
    MAP("basal.bias", P_BASAL_B, 0, c->H);
    MAP("pert.weight", P_PERT_W, 0, (long)c->H * c->E);
    MAP("pert.bias", P_PERT_B, 0, c->H);
    MAP("batch_emb", P_EMB, 0, (long)c->NB * c->H);
    MAP("final_norm", P_FINAL, 0, c->H);
    MAP("out.weight", P_OUT_W, 0, (long)c->G * c->H);
    MAP("out.bias", P_OUT_B, 0, c->G);
    for (int l = 0; l < c->L; l++) {
        char s[64];
#define LMAP(suffix, t, off, cnt) (snprintf(s, 64, "layers.%d.%s", l, suffix), MAP(s, t, off, cnt))
        LMAP("ln1", lp(l, PL_LN1), 0, c->H);
        LMAP("q.weight", lp(l, PL_QKV), 0, AH);
        LMAP("k.weight", lp(l, PL_QKV), AH, AH);
        LMAP("v.weight", lp(l, PL_QKV), 2 * AH, AH);
        LMAP("o.weight", lp(l, PL_O), 0, AH);
        LMAP("ln2", lp(l, PL_LN2), 0, c->H);
        LMAP("gate.weight", lp(l, PL_GU), 0, FH);
        LMAP("up.weight", lp(l, PL_GU), FH, FH);
        LMAP("down.weight", lp(l, PL_DOWN), 0, FH);
#undef LMAP
    }
#undef MAP
    return k;
}

/* ------------------------------------------------------------ the test */

static twin_file *tf;

static void check_against_twin(void) {
    ptrag_error err;
    const twin_tensor *ct = twin_get(tf, "config", 10, 1, &err);
    CHECK_MSG(ct != NULL, "%s", err.msg);
    if (!ct) return;
    const int *cv = ct->data;
    cfg c = {cv[0], cv[1], cv[2], cv[3], cv[4], cv[5], cv[6], cv[7], cv[8], cv[9], 0, 0};
    c.N = c.B * c.S, c.A = c.NH * c.DH;
    CHECK(c.L <= MAXL && c.B <= 64);
    const float *hyper = ref_f(tf, "hyper", 4);
    if (!hyper || c.L > MAXL || c.B > 64) return;

    model m;
    model_init(&m, &c);
    name_map nm[P_GLOBAL + MAXL * 9];
    int nnames = build_name_map(&c, nm);
    char key[96];
    for (int i = 0; i < nnames; i++) {
        snprintf(key, sizeof key, "param.%.63s", nm[i].name);
        const float *r = ref_f(tf, key, nm[i].n);
        if (r) memcpy(m.t[nm[i].tensor].param + nm[i].offset, r, sizeof(float) * nm[i].n);
    }
    inputs in = {ref_f(tf, "in.Xc", (long)c.N * c.G), ref_f(tf, "in.P", (long)c.N * c.E),
                 ref_f(tf, "in.Y", (long)c.N * c.G), NULL};
    const twin_tensor *ids = twin_get(tf, "in.ids", c.N, 1, &err);
    CHECK_MSG(ids != NULL, "%s", err.msg);
    if (!ids || !in.Xc || !in.P || !in.Y) goto done_model;
    in.ids = ids->data;

    acts a;
    acts_init(&a, &c);
    CHECK_INT(ptrag_rope_table(a.cos_t, a.sin_t, c.S, c.DH, 10000.0, &err), 0);

    /* forward */
    double loss = forward(&m, &a, &in);
    printf("forward (tolerance %.0e):\n", FWD_TOL);
    compare(tf, "act.x0", a.h[0], (long)c.N * c.H, FWD_TOL, &worst_fwd);
    for (int l = 0; l < c.L; l++) {
        snprintf(key, sizeof key, "act.h%d", l);
        compare(tf, key, a.h[l + 1], (long)c.N * c.H, FWD_TOL, &worst_fwd);
    }
    compare(tf, "act.pred", a.pred, (long)c.N * c.G, FWD_TOL, &worst_fwd);
    compare(tf, "act.energy", a.eloss, c.B, FWD_TOL, &worst_fwd);
    float lossf = (float)loss;
    compare(tf, "act.loss", &lossf, 1, FWD_TOL, &worst_fwd);

    /* backward */
    ptrag_zero_grads(m.t, m.np);
    backward(&m, &a, &in, 1);
    printf("gradients (tolerance %.0e):\n", GRAD_TOL);
    compare(tf, "grad.Xc", a.dXc, (long)c.N * c.G, GRAD_TOL, &worst_grad);
    for (int i = 0; i < nnames; i++) {
        snprintf(key, sizeof key, "grad.%.63s", nm[i].name);
        compare(tf, key, m.t[nm[i].tensor].grad + nm[i].offset, nm[i].n, GRAD_TOL, &worst_grad);
    }

    /* Adam phase: frozen head, clipping, 10 steps */
    m.t[P_OUT_W].frozen = m.t[P_OUT_B].frozen = m.t[P_FINAL].frozen = 1;
    ptrag_adam_config cfg = ptrag_adam_defaults(hyper[0]);
    int steps = (int)hyper[3];
    float losses[64], norms[64];
    for (int s = 0; s < steps && s < 64; s++) {
        ptrag_zero_grads(m.t, m.np);
        losses[s] = (float)forward(&m, &a, &in);
        backward(&m, &a, &in, 0);
        norms[s] = (float)ptrag_clip_grad_norm(m.t, m.np, hyper[1]);
        ptrag_adam_step(m.t, m.np, &cfg, s + 1);
    }
    printf("Adam, %d steps:\n", steps);
    double worst_adam = 0;
    compare(tf, "adam.loss", losses, steps, FWD_TOL * 10, &worst_adam);
    compare(tf, "adam.grad_norm", norms, steps, GRAD_TOL, &worst_adam);
    for (int i = 0; i < nnames; i++) {
        snprintf(key, sizeof key, "adam.final.%.63s", nm[i].name);
        compare(tf, key, m.t[nm[i].tensor].param + nm[i].offset, nm[i].n, GRAD_TOL, &worst_adam);
    }
    const float *rl = ref_f(tf, "adam.loss", steps);
    if (rl) {
        printf("  step  loss(C)     loss(torch)\n");
        for (int s = 0; s < steps; s++) printf("  %4d  %.6f  %.6f\n", s, losses[s], rl[s]);
        CHECK(losses[steps - 1] < losses[0]); /* it trains */
    }
    printf("worst forward rel err %.2e, worst gradient rel err %.2e, worst Adam rel err %.2e\n",
           worst_fwd, worst_grad, worst_adam);
    free(a.base);
done_model:
    free(m.arena);
}

static void test_twin(void) {
    ptrag_error err;
    const char *out = tl_tmp("test_nn_twin.bin");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/dev/twin_block.py' '%s'", PTRAG_SOURCE_DIR, out);
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "twin script failed: %s", cmd);
    if (rc != 0) return;
    tf = twin_file_read(out, &err);
    CHECK_MSG(tf != NULL, "%s", err.msg);
    remove(out);
    if (!tf) return;
    check_against_twin();
    twin_file_free(tf);
}

/* The reader names the file and the tensor when the file is bad. */
static void test_twin_file_errors(void) {
    const char *path = tl_tmp("test_nn_twin_bad.bin");
    ptrag_error err;
    FILE *f = fopen(path, "wb");
    fwrite("NOTMAGIC", 1, 8, f);
    fclose(f);
    CHECK(twin_file_read(path, &err) == NULL);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "magic");
    /* one tensor whose data is cut short */
    f = fopen(path, "wb");
    uint32_t hdr[] = {1, 3}, meta[] = {0, 1, 5};
    fwrite("PTRAGTW1", 1, 8, f);
    fwrite(&hdr[0], 4, 1, f);
    fwrite(&hdr[1], 4, 1, f);
    fwrite("abc", 1, 3, f);
    fwrite(meta, 4, 3, f);
    float two[2] = {1, 2};
    fwrite(two, 4, 2, f);
    fclose(f);
    CHECK(twin_file_read(path, &err) == NULL);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "'abc'");
    CHECK_CONTAINS(err.msg, "truncated");
    /* complete file, then asking for a missing or mis-sized tensor */
    f = fopen(path, "wb");
    fwrite("PTRAGTW1", 1, 8, f);
    fwrite(&hdr[0], 4, 1, f);
    fwrite(&hdr[1], 4, 1, f);
    fwrite("abc", 1, 3, f);
    fwrite(meta, 4, 3, f);
    float five[5] = {1, 2, 3, 4, 5};
    fwrite(five, 4, 5, f);
    fclose(f);
    twin_file *ok = twin_file_read(path, &err);
    CHECK(ok != NULL);
    if (!ok) return;
    CHECK(twin_get(ok, "abc", 5, 0, &err) != NULL);
    CHECK(twin_get(ok, "abc", 6, 0, &err) == NULL);
    CHECK_CONTAINS(err.msg, "'abc': expected 6 float32 values, found 5");
    CHECK(twin_get(ok, "zzz", 1, 0, &err) == NULL);
    CHECK_CONTAINS(err.msg, "'zzz': not in file");
    twin_file_free(ok);
    remove(path);
}

int main(void) {
    RUN(test_twin_file_errors);
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("SKIP: /usr/bin/python3 cannot import torch (install python3-torch); "
               "the PyTorch twin comparison did not run\n");
        return 77;
    }
    RUN(test_twin);
    return TEST_SUMMARY();
}
