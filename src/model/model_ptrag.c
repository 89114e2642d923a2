/* PT-RAG stage 2 (reference-model.md §3.3-3.4, §4.2), forward and backward.
 *
 * For cell i of set b and candidate slot k (database row u):
 *   u_ik  = [c_i; p_b; R_u]            R = pert_enc(db rows), encoded once per distinct row
 *   ũ_ik  = LayerNorm_3H(u_ik)         (gamma, beta; eps 1e-5)
 *   z_ik  = scorer1(ũ), a = scorer2(dropout(GELU(z)))      logits [2]
 *   e_ik  = ctx_proj(ũ)
 *   a^    = a / max(std(all logits), 1e-6);  w_ik = selection(a^)   (see model.h)
 *           (scorer_features: a^1 += scorer_feat.w . f_bk, the slot's features)
 *   x0_i  = sum_k w_ik e_ik
 *
 * The two Linear(3H -> H) layers act on a LayerNorm of a concatenation, so
 * with Wg = W diag(gamma), wg = W gamma and cst = W beta + b:
 *   W ũ + b = r (Wg_c c + Wg_p p + Wg_R R - mu wg) + cst
 * where mu, r are the pair's LayerNorm mean and 1/std. The three products are
 * computed once per cell, per set and per distinct row (sgemms of H x 2H),
 * and each (cell, candidate) pair costs O(H) instead of O(3H x 2H). The
 * backward runs the same algebra in reverse: the per-pair gradient r dZ is
 * aggregated per cell, set and row before one sgemm each, and the weight and
 * LayerNorm gradients come from those aggregates (derivation in
 * docs/model.md). Results equal the direct computation up to float rounding
 * (the twin test compares them with PyTorch's direct one). */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"

#define LN_EPS 1e-5
#define STREAM_DROPOUT 0x44524f50u /* "DROP" */
#define STREAM_GUMBEL 0x47554d42u  /* "GUMB" */

/* Per-cell scalars (cell_s, stride 8). */
enum { CELL_AW, CELL_BMU, CELL_WSUM, CELL_KAPPA, CELL_RHO, CELL_T2, CELL_T3, CELL_STRIDE = 8 };
/* Per-pair scalars (pair_s, stride 4). */
enum { PAIR_Q, PAIR_KAPPA, PAIR_RHO, PAIR_STRIDE = 4 };

static float *wrow(const ptrag_model *m, int o) {
    /* Row o of the stacked [scorer1.w; ctx_proj.w], each [H, 3H]. */
    const size_t H3 = 3 * (size_t)m->H;
    return o < m->H ? m->scorer1_w.v + (size_t)o * H3 : m->ctx_proj_w.v + (size_t)(o - m->H) * H3;
}

/* Wg blocks, wg and cst from the current weights. */
static void fold_layernorm(ptrag_model *m) {
    ptrag_acts *pt = &m->pt;
    const int H = m->H, H2 = 2 * H, H3 = 3 * H;
    const float *gam = m->ctx_norm_w.v, *bet = m->ctx_norm_b.v;
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int o = 0; o < H2; o++) {
        const float *W = wrow(m, o);
        double sg = 0.0, sb = 0.0;
        for (int j = 0; j < H3; j++) {
            sg += (double)W[j] * gam[j];
            sb += (double)W[j] * bet[j];
            pt->Wg[(size_t)(j / H) * H2 * H + (size_t)o * H + j % H] = W[j] * gam[j];
        }
        float b = o < H ? m->scorer1_b.v[o] : m->ctx_proj_b.v[o - H];
        pt->wg[o] = (float)sg;
        pt->cst[o] = (float)(sb + b);
    }
}

/* Mean and centred sum of squares of each row of x [n, H] into st [n, 2]. */
static void part_stats(float *st, const float *x, int n, int H) {
#pragma omp parallel for schedule(dynamic, 16) if ((long)n * H > MODEL_PAR_WORK)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * H;
        double s = 0.0;
        for (int j = 0; j < H; j++) s += xi[j];
        double mean = s / H, q = 0.0;
        for (int j = 0; j < H; j++) {
            double d = xi[j] - mean;
            q += d * d;
        }
        st[2 * i] = (float)mean;
        st[2 * i + 1] = (float)q;
    }
}

void ptrag_model_ptrag_forward(ptrag_model *m, float *x0) {
    ptrag_acts *pt = &m->pt;
    const int H = m->H, H2 = 2 * H, K = m->K, S = m->set_len, N = m->N;
    const long NK = (long)N * K;
    const int training = m->batch.training;

    ptrag_model_gather_candidates(m, m->batch.cand, pt->dbU);
    const int U = m->U;
    ptrag_linear_forward(&m->mm, pt->R, pt->dbU, m->pert_w.v, m->pert_b.v, U, m->E, H, 0);
    fold_layernorm(m);
    const size_t blk = (size_t)H2 * H;
    ptrag_linear_forward(&m->mm, pt->Pc, m->c, pt->Wg, NULL, N, H, H2, 0);
    ptrag_linear_forward(&m->mm, pt->Pp, m->p, pt->Wg + blk, NULL, m->n_sets, H, H2, 0);
    ptrag_linear_forward(&m->mm, pt->PR, pt->R, pt->Wg + 2 * blk, NULL, U, H, H2, 0);
    part_stats(pt->stat_c, m->c, N, H);
    part_stats(pt->stat_p, m->p, m->n_sets, H);
    part_stats(pt->stat_r, pt->R, U, H);

    const float p_drop = training ? (float)m->cfg.scorer_dropout : 0.0f;
    const uint64_t pair0 = (uint64_t)m->batch.shard_first * (uint64_t)S * (uint64_t)K; /* a shard's first pair */
    const float *W2 = m->scorer2_w.v, *b2 = m->scorer2_b.v;
    /* Scorer: hidden pre-activation, GELU, dropout, logits. */
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        const int b = i / S;
        const float *pc = pt->Pc + (size_t)i * H2, *pp = pt->Pp + (size_t)b * H2;
        for (int k = 0; k < K; k++) {
            const long n = (long)i * K + k;
            const int u = m->slot_row[b * K + k];
            const float *pr = pt->PR + (size_t)u * H2;
            /* LayerNorm statistics of [c; p; R] from the parts' (Chan's combination). */
            double mc = pt->stat_c[2 * i], mp = pt->stat_p[2 * b], mr = pt->stat_r[2 * u];
            double mu = (mc + mp + mr) / 3.0;
            double q = pt->stat_c[2 * i + 1] + pt->stat_p[2 * b + 1] + pt->stat_r[2 * u + 1] +
                       H * ((mc - mu) * (mc - mu) + (mp - mu) * (mp - mu) + (mr - mu) * (mr - mu));
            float r = (float)(1.0 / sqrt(q / (3.0 * H) + LN_EPS)), muf = (float)mu;
            pt->mu[n] = muf;
            pt->rs[n] = r;
            float *z = pt->h1 + (size_t)n * H, *g = pt->gd + (size_t)n * H;
            for (int o = 0; o < H; o++) z[o] = r * (pc[o] + pp[o] + pr[o] - muf * pt->wg[o]) + pt->cst[o];
            ptrag_gelu_forward(g, z, H);
            /* A shard's draws are those of its pairs' place in the whole batch. */
            ptrag_dropout_forward(g, pt->keepmask + (size_t)n * H, g, H, p_drop, m->batch.noise_seed,
                                  STREAM_DROPOUT, (pair0 + (uint64_t)n) * (uint64_t)H);
            float a0 = b2[0], a1 = b2[1];
            for (int o = 0; o < H; o++) {
                a0 += W2[o] * g[o];
                a1 += W2[H + o] * g[o];
            }
            pt->logits[2 * n] = a0;
            pt->logits[2 * n + 1] = a1;
        }
    }

    /* One std over every logit of the call (gradient flows through it); the
     * normalised logits go to soft, which the selection below overwrites. */
    const long nl = 2 * NK;
    /* A shard of a batch: the std of every shard's logits together. */
    ptrag_stdnorm_forward_shards(pt->soft, &pt->sig, pt->logits, nl, m->batch.shard_sum, m->batch.shard_ctx);
    if (pt->fbias) { /* the candidates' features: one Linear(F -> 1) per slot, shared by the set's cells */
        ptrag_linear_forward(&m->mm, pt->fbias, m->batch.cand_feat, m->scorer_feat_w.v, NULL, m->n_sets * K,
                             PTRAG_CAND_FEATS, 1, 0);
        for (long n = 0; n < NK; n++) pt->soft[2 * n + 1] += pt->fbias[(n / K / S) * K + n % K];
    }
    const int mode = m->selection_used; /* -1: training draw */
    const int expected = mode == PTRAG_SELECT_EXPECTED;
    const int noisy = mode < 0 || mode == PTRAG_SELECT_SAMPLE;
    pt->tau_eff = expected ? 1.0f : (float)m->cfg.gumbel_tau;
    ptrag_gumbel_select_forward_at(pt->w, pt->soft, pt->soft, NK, pt->tau_eff, !expected, noisy, m->batch.gumbel_noise,
                                   m->batch.noise_seed, STREAM_GUMBEL, 2 * pair0);
    /* threshold with keep_threshold t != 1/2 (calibrated on validation,
     * run/calibrate.c): keep where sigmoid(z1 - z0) > t, i.e. where soft1 (at
     * tau) exceeds sigmoid(logit(t) / tau); t = 1/2 is the argmax above. */
    const double t = m->cfg.keep_threshold;
    if (mode == PTRAG_SELECT_THRESHOLD && t != 0.5) {
        const float cut = (float)(1.0 / (1.0 + exp(-log(t / (1.0 - t)) / pt->tau_eff)));
        for (long n = 0; n < NK; n++) pt->w[n] = pt->soft[2 * n + 1] > cut ? 1.0f : 0.0f;
    }

    /* x0_i = Aw (Pc_e + Pp_e) + sum_k w r PR_e - Bmu wg_e + Wsum cst_e */
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        const int b = i / S;
        const float *pc = pt->Pc + (size_t)i * H2 + H, *pp = pt->Pp + (size_t)b * H2 + H;
        float *xi = x0 + (size_t)i * H;
        float aw = 0.0f, bmu = 0.0f, ws = 0.0f;
        memset(xi, 0, sizeof(float) * (size_t)H);
        for (int k = 0; k < K; k++) {
            const long n = (long)i * K + k;
            float wn = pt->w[n];
            if (wn == 0.0f) continue;
            float wr = wn * pt->rs[n];
            aw += wr;
            bmu += wr * pt->mu[n];
            ws += wn;
            const float *pr = pt->PR + (size_t)m->slot_row[b * K + k] * H2 + H;
            for (int o = 0; o < H; o++) xi[o] += wr * pr[o];
        }
        const float *wge = pt->wg + H, *cse = pt->cst + H;
        for (int o = 0; o < H; o++) xi[o] += aw * (pc[o] + pp[o]) - bmu * wge[o] + ws * cse[o];
        float *cs = pt->cell_s + (size_t)i * CELL_STRIDE;
        cs[CELL_AW] = aw, cs[CELL_BMU] = bmu, cs[CELL_WSUM] = ws;
    }
}

static inline float dotf(const float *a, const float *b, int n) {
    float s = 0.0f;
    for (int j = 0; j < n; j++) s += a[j] * b[j];
    return s;
}

void ptrag_model_ptrag_backward(ptrag_model *m, const float *dx0) {
    ptrag_acts *pt = &m->pt;
    const int H = m->H, H2 = 2 * H, H3 = 3 * H, K = m->K, S = m->set_len, N = m->N, B = m->n_sets;
    const int U = m->U;
    const long NK = (long)N * K;

    /* 1. dw = dx0 . e, then + sparsity (sign(0) = 0) and the evidence's share;
     *    dw -> d logits^ through the soft path. */
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        const int b = i / S;
        const float *d = dx0 + (size_t)i * H;
        const float *pc = pt->Pc + (size_t)i * H2 + H, *pp = pt->Pp + (size_t)b * H2 + H;
        float t1 = 0.0f;
        for (int o = 0; o < H; o++) t1 += d[o] * (pc[o] + pp[o]);
        float t2 = dotf(d, pt->wg + H, H), t3 = dotf(d, pt->cst + H, H);
        float *cs = pt->cell_s + (size_t)i * CELL_STRIDE;
        cs[CELL_T2] = t2, cs[CELL_T3] = t3;
        for (int k = 0; k < K; k++) {
            const long n = (long)i * K + k;
            const float *pr = pt->PR + (size_t)m->slot_row[b * K + k] * H2 + H;
            float q = pt->rs[n] * (t1 + dotf(d, pr, H) - pt->mu[n] * t2);
            pt->pair_s[n * PAIR_STRIDE + PAIR_Q] = q;
            pt->dw[n] = q + t3;
        }
    }
    /* A shard: its share of the mean over the whole batch's pairs. */
    const int Bt = model_total_sets(m);
    ptrag_sparsity_backward(pt->dw, Bt == B ? m->cfg.sparsity : m->cfg.sparsity * ((double)B / Bt), pt->w, NK);
    if (pt->dw_ev) ptrag_accumulate(pt->dw, pt->dw_ev, NK);
    ptrag_gumbel_select_backward(pt->dlog, pt->dw, pt->soft, NK, pt->tau_eff);
    if (pt->fbias && m->scorer_feat_w.g) { /* d a^1 summed over each slot's cells, then the Linear */
        memset(pt->dfbias, 0, sizeof(float) * (size_t)m->n_sets * K);
        for (long n = 0; n < NK; n++) pt->dfbias[(n / K / S) * K + n % K] += pt->dlog[2 * n + 1];
        ptrag_linear_backward(&m->mm, NULL, m->scorer_feat_w.g, NULL, pt->dfbias, m->batch.cand_feat,
                              m->scorer_feat_w.v, m->n_sets * K, PTRAG_CAND_FEATS, 1);
    }

    /* 2. std-normalisation, in place: d logits^ -> d logits. */
    const long nl = 2 * NK;
    ptrag_stdnorm_backward_shards(pt->dlog, pt->dlog, pt->logits, &pt->sig, nl, m->batch.shard_sum,
                                  m->batch.shard_ctx);

    /* 3. scorer2: dW2 += da^T gd, db2 += sum da. */
    if (m->scorer2_w.g)
        ptrag_gemm(&m->mm, 1, 0, 2, H, (int)NK, 1.0f, pt->dlog, 2, pt->gd, H, 1.0f, m->scorer2_w.g, H);
    if (m->scorer2_b.g) {
        double s0 = 0.0, s1 = 0.0;
        for (long n = 0; n < NK; n++) s0 += pt->dlog[2 * n], s1 += pt->dlog[2 * n + 1];
        m->scorer2_b.g[0] += (float)s0;
        m->scorer2_b.g[1] += (float)s1;
    }

    /* 4. per pair: dz = (da W2) * mask * GELU'(z) (into h1), LayerNorm scalars;
     *    per cell: Dc = sum_k r dZ, Sc = [sum_k dz, sum_k r mu dz]. */
    const float p_drop = m->batch.training ? (float)m->cfg.scorer_dropout : 0.0f;
    const float *W2 = m->scorer2_w.v;
    const float inv3H = 1.0f / (float)H3;
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        float *cs = pt->cell_s + (size_t)i * CELL_STRIDE;
        float *dc = pt->Dc + (size_t)i * H2, *sc = pt->Sc + (size_t)i * H2;
        memset(dc, 0, sizeof(float) * (size_t)H);
        memset(sc, 0, sizeof(float) * (size_t)H2);
        float kap = 0.0f, rho = 0.0f;
        for (int k = 0; k < K; k++) {
            const long n = (long)i * K + k;
            float *z = pt->h1 + (size_t)n * H;
            const unsigned char *mk = pt->keepmask + (size_t)n * H;
            float da0 = pt->dlog[2 * n], da1 = pt->dlog[2 * n + 1];
            float g[512]; /* H <= 512 is checked at model creation */
            for (int o = 0; o < H; o++) g[o] = da0 * W2[o] + da1 * W2[H + o];
            ptrag_dropout_backward(g, g, mk, H, p_drop);
            ptrag_gelu_backward(g, g, z, H);
            float ds_wg = 0.0f, ds_z = 0.0f;
            for (int o = 0; o < H; o++) {
                ds_wg += g[o] * pt->wg[o];
                ds_z += g[o] * (z[o] - pt->cst[o]);
            }
            memcpy(z, g, sizeof(float) * (size_t)H); /* h1 now holds dz */
            float r = pt->rs[n], mu = pt->mu[n], wn = pt->w[n];
            float alpha = (ds_wg + wn * cs[CELL_T2]) * inv3H;
            float beta = (ds_z + wn * pt->pair_s[n * PAIR_STRIDE + PAIR_Q]) * inv3H;
            float kn = r * alpha - r * r * beta * mu, rn = r * r * beta;
            pt->pair_s[n * PAIR_STRIDE + PAIR_KAPPA] = kn;
            pt->pair_s[n * PAIR_STRIDE + PAIR_RHO] = rn;
            kap += kn, rho += rn;
            float rmu = r * mu;
            for (int o = 0; o < H; o++) {
                dc[o] += r * g[o];
                sc[o] += g[o];
                sc[H + o] += rmu * g[o];
            }
        }
        const float *d = dx0 + (size_t)i * H;
        for (int o = 0; o < H; o++) dc[H + o] = cs[CELL_AW] * d[o];
        cs[CELL_KAPPA] = kap, cs[CELL_RHO] = rho;
    }

    /* 5. per slot (set b, candidate k): DRs = sum over the set's cells of r dZ. */
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int slot = 0; slot < B * K; slot++) {
        const int b = slot / K, k = slot % K;
        float *dr = pt->DRs + (size_t)slot * H2;
        memset(dr, 0, sizeof(float) * (size_t)H2);
        float kap = 0.0f, rho = 0.0f;
        for (int s = 0; s < S; s++) {
            const int i = b * S + s;
            const long n = (long)i * K + k;
            const float r = pt->rs[n], wr = pt->w[n] * r;
            const float *dz = pt->h1 + (size_t)n * H, *d = dx0 + (size_t)i * H;
            for (int o = 0; o < H; o++) dr[o] += r * dz[o];
            if (wr != 0.0f)
                for (int o = 0; o < H; o++) dr[H + o] += wr * d[o];
            kap += pt->pair_s[n * PAIR_STRIDE + PAIR_KAPPA];
            rho += pt->pair_s[n * PAIR_STRIDE + PAIR_RHO];
        }
        pt->slot_s[2 * slot] = kap, pt->slot_s[2 * slot + 1] = rho;
    }

    /* 6. per set: Dp = sum of its cells' Dc; per row: the sum of its slots (in
     *    slot order, so the result is independent of threads). */
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int b = 0; b < B; b++) {
        float *dp = pt->Dp + (size_t)b * H2;
        memset(dp, 0, sizeof(float) * (size_t)H2);
        float kap = 0.0f, rho = 0.0f;
        for (int s = 0; s < S; s++) {
            const int i = b * S + s;
            const float *dc = pt->Dc + (size_t)i * H2;
            for (int o = 0; o < H2; o++) dp[o] += dc[o];
            kap += pt->cell_s[(size_t)i * CELL_STRIDE + CELL_KAPPA];
            rho += pt->cell_s[(size_t)i * CELL_STRIDE + CELL_RHO];
        }
        pt->set_s[2 * b] = kap, pt->set_s[2 * b + 1] = rho;
    }
    memset(pt->DRu, 0, sizeof(float) * (size_t)U * H2);
    memset(pt->row_s, 0, sizeof(float) * 2 * (size_t)U);
    for (int slot = 0; slot < B * K; slot++) {
        const int u = m->slot_row[slot];
        float *dst = pt->DRu + (size_t)u * H2;
        const float *src = pt->DRs + (size_t)slot * H2;
        for (int o = 0; o < H2; o++) dst[o] += src[o];
        pt->row_s[2 * u] += pt->slot_s[2 * slot];
        pt->row_s[2 * u + 1] += pt->slot_s[2 * slot + 1];
    }

    /* 7. input gradients: d part = D Wg_part - kappa 1 - rho part. */
    const size_t blk = (size_t)H2 * H;
    ptrag_linear_backward(&m->mm, m->dc, NULL, NULL, pt->Dc, NULL, pt->Wg, N, H, H2);
    ptrag_linear_backward(&m->mm, m->dp, NULL, NULL, pt->Dp, NULL, pt->Wg + blk, B, H, H2);
    memset(pt->dR, 0, sizeof(float) * (size_t)U * H);
    ptrag_linear_backward(&m->mm, pt->dR, NULL, NULL, pt->DRu, NULL, pt->Wg + 2 * blk, U, H, H2);
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        const float *cs = pt->cell_s + (size_t)i * CELL_STRIDE, *c = m->c + (size_t)i * H;
        float *d = m->dc + (size_t)i * H;
        for (int o = 0; o < H; o++) d[o] -= cs[CELL_KAPPA] + cs[CELL_RHO] * c[o];
    }
    for (int b = 0; b < B; b++) {
        const float *p = m->p + (size_t)b * H;
        float *d = m->dp + (size_t)b * H;
        for (int o = 0; o < H; o++) d[o] -= pt->set_s[2 * b] + pt->set_s[2 * b + 1] * p[o];
    }
    for (int u = 0; u < U; u++) {
        const float *R = pt->R + (size_t)u * H;
        float *d = pt->dR + (size_t)u * H;
        for (int o = 0; o < H; o++) d[o] -= pt->row_s[2 * u] + pt->row_s[2 * u + 1] * R[o];
    }

    /* 8. weights of scorer1 / ctx_proj and the LayerNorm's gamma, beta. */
    const int need_w = m->scorer1_w.g || m->ctx_proj_w.g || m->ctx_norm_w.g;
    const int need_sz = need_w || m->scorer1_b.g || m->ctx_proj_b.g || m->ctx_norm_b.g;
    if (need_sz) {
        /* Sz = sum_n dZ_n and Smu = sum_n r mu dZ_n, in cell order. */
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
        for (int o = 0; o < H2; o++) {
            double sz = 0.0, smu = 0.0;
            if (o < H) {
                for (int i = 0; i < N; i++) {
                    sz += pt->Sc[(size_t)i * H2 + o];
                    smu += pt->Sc[(size_t)i * H2 + H + o];
                }
            } else {
                for (int i = 0; i < N; i++) {
                    const float *cs = pt->cell_s + (size_t)i * CELL_STRIDE;
                    float d = dx0[(size_t)i * H + o - H];
                    sz += cs[CELL_WSUM] * d;
                    smu += cs[CELL_BMU] * d;
                }
            }
            pt->Sz[o] = (float)sz;
            pt->Smu[o] = (float)smu;
        }
    }
    if (need_w) {
        /* Mx = sum_n r dZ (u - mu) = [Dc^T c | Dp^T p | DRu^T R] - Smu 1^T. */
        memset(pt->Mx, 0, sizeof(float) * 3 * blk);
        ptrag_linear_backward(&m->mm, NULL, pt->Mx, NULL, pt->Dc, m->c, NULL, N, H, H2);
        ptrag_linear_backward(&m->mm, NULL, pt->Mx + blk, NULL, pt->Dp, m->p, NULL, B, H, H2);
        ptrag_linear_backward(&m->mm, NULL, pt->Mx + 2 * blk, NULL, pt->DRu, pt->R, NULL, U, H, H2);
        const float *gam = m->ctx_norm_w.v, *bet = m->ctx_norm_b.v;
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
        for (int o = 0; o < H2; o++) {
            float *dW = o < H ? m->scorer1_w.g : m->ctx_proj_w.g;
            if (!dW) continue;
            dW += (size_t)(o < H ? o : o - H) * H3;
            for (int j = 0; j < H3; j++) {
                float mx = pt->Mx[(size_t)(j / H) * blk + (size_t)o * H + j % H] - pt->Smu[o];
                dW[j] += mx * gam[j] + pt->Sz[o] * bet[j];
            }
        }
        if (m->ctx_norm_w.g) {
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
            for (int j = 0; j < H3; j++) {
                double s = 0.0;
                for (int o = 0; o < H2; o++) {
                    float mx = pt->Mx[(size_t)(j / H) * blk + (size_t)o * H + j % H] - pt->Smu[o];
                    s += (double)wrow(m, o)[j] * mx;
                }
                m->ctx_norm_w.g[j] += (float)s;
            }
        }
    }
    if (need_sz) {
        for (int o = 0; o < H; o++) {
            if (m->scorer1_b.g) m->scorer1_b.g[o] += pt->Sz[o];
            if (m->ctx_proj_b.g) m->ctx_proj_b.g[o] += pt->Sz[H + o];
        }
        if (m->ctx_norm_b.g) {
#pragma omp parallel for schedule(dynamic, 16) if (MODEL_BIG(m))
            for (int j = 0; j < H3; j++) {
                double s = 0.0;
                for (int o = 0; o < H2; o++) s += (double)pt->Sz[o] * wrow(m, o)[j];
                m->ctx_norm_b.g[j] += (float)s;
            }
        }
    }

    /* 9. the candidate rows' encoder: pert_enc over the gathered rows. */
    if (m->pert_w.g || m->pert_b.g)
        ptrag_linear_backward(&m->mm, NULL, m->pert_w.g, m->pert_b.g, pt->dR, pt->dbU, m->pert_w.v, U, m->E, H);
}
