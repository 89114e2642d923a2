/* ptrag_evaluate: every metric for every held-out condition, group by group
 * (a group = one cell type with its control cells). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/metrics.h"

void ptrag_eval_options_default(ptrag_eval_options *o) {
    memset(o, 0, sizeof *o);
    o->n_pca = 50;
    ptrag_de_options_default(&o->de);
}

static char *copy_string(const char *s) {
    if (!s) s = "";
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

void ptrag_eval_result_free(ptrag_eval_result *r) {
    if (!r) return;
    for (long i = 0; i < r->n_conditions; i++) {
        free(r->conditions[i].cell_type);
        free(r->conditions[i].perturbation);
    }
    free(r->conditions);
    memset(r, 0, sizeof *r);
}

/* Every value finite; the message names the group, condition and matrix. */
static int check_finite(const float *x, long n, long g, const char *cell_type, const char *pert,
                        const char *what, const char *const *gene_names, ptrag_error *err) {
    for (long i = 0; i < n; i++)
        for (long j = 0; j < g; j++)
            if (!isfinite(x[i * g + j]))
                return ptrag_fail(err, PTRAG_E_NUMERIC,
                                  "evaluation: cell type '%s', condition '%s': %s: non-finite value "
                                  "at row %ld, gene %ld%s%s%s",
                                  cell_type, pert, what, i, j, gene_names ? " (" : "",
                                  gene_names && gene_names[j] ? gene_names[j] : "",
                                  gene_names ? ")" : "");
    return 0;
}

static int validate(const ptrag_eval_group *groups, long n_groups, long g,
                    const char *const *gene_names, ptrag_error *err) {
    if (g < 1) return ptrag_fail(err, PTRAG_E_ARG, "evaluation: genes: need >= 1 (got %ld)", g);
    if (n_groups < 0 || (n_groups > 0 && !groups))
        return ptrag_fail(err, PTRAG_E_ARG, "evaluation: groups: none given");
    for (long gi = 0; gi < n_groups; gi++) {
        const ptrag_eval_group *G = &groups[gi];
        const char *ct = G->cell_type ? G->cell_type : "";
        if (!G->real_ctrl || G->n_real_ctrl < 1)
            return ptrag_fail(err, PTRAG_E_ARG, "evaluation: cell type '%s': real control cells: need >= 1 (got %ld)", ct, G->n_real_ctrl);
        int rc = check_finite(G->real_ctrl, G->n_real_ctrl, g, ct, "(control)", "real control cells", gene_names, err);
        if (rc) return rc;
        if (G->pred_ctrl && G->n_pred_ctrl > 0) {
            rc = check_finite(G->pred_ctrl, G->n_pred_ctrl, g, ct, "(control)", "predicted control cells", gene_names, err);
            if (rc) return rc;
        }
        if (G->n_conds < 0 || (G->n_conds > 0 && !G->conds))
            return ptrag_fail(err, PTRAG_E_ARG, "evaluation: cell type '%s': conditions: none given", ct);
        for (long c = 0; c < G->n_conds; c++) {
            const ptrag_eval_condition *C = &G->conds[c];
            const char *pt = C->perturbation ? C->perturbation : "";
            if (!C->real || C->n_real < 1)
                return ptrag_fail(err, PTRAG_E_ARG, "evaluation: cell type '%s', condition '%s': real cells: need >= 1 (got %ld)", ct, pt, C->n_real);
            if (!C->pred || C->n_pred < 1)
                return ptrag_fail(err, PTRAG_E_ARG, "evaluation: cell type '%s', condition '%s': predicted cells: need >= 1 (got %ld)", ct, pt, C->n_pred);
            rc = check_finite(C->real, C->n_real, g, ct, pt, "real cells", gene_names, err);
            if (!rc) rc = check_finite(C->pred, C->n_pred, g, ct, pt, "predicted cells", gene_names, err);
            if (rc) return rc;
        }
    }
    return 0;
}

/* PCA on all real perturbed cells of all groups, in group/condition order. */
static int fit_pca_on_real(const ptrag_eval_group *groups, long n_groups, long g, int k,
                           ptrag_pca *pca, ptrag_error *err) {
    ptrag_pca_accum *acc;
    int rc = ptrag_pca_accum_new(g, &acc, err);
    if (rc) return rc;
    for (long gi = 0; gi < n_groups && !rc; gi++)
        for (long c = 0; c < groups[gi].n_conds && !rc; c++)
            rc = ptrag_pca_accum_add(acc, groups[gi].conds[c].real, groups[gi].conds[c].n_real, err);
    if (!rc) rc = ptrag_pca_accum_finish(acc, k, pca, err);
    ptrag_pca_accum_free(acc);
    return rc;
}

/* Per-PC and gene-space distances of one condition. */
static int distributional(const ptrag_eval_condition *C, long g, const ptrag_pca *pca, double *v,
                          ptrag_error *err) {
    int rc = 0;
    if (pca) {
        float *pr = malloc((size_t)C->n_real * (size_t)pca->k * sizeof *pr);
        float *pp = malloc((size_t)C->n_pred * (size_t)pca->k * sizeof *pp);
        if (!pr || !pp) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "evaluation: out of memory for PCA projections");
        } else {
            ptrag_dist_scores mean;
            rc = ptrag_pca_project(pca, C->real, C->n_real, pr, err);
            if (!rc) rc = ptrag_pca_project(pca, C->pred, C->n_pred, pp, err);
            /* Order (real, pred) as GGE's (real, generated). */
            if (!rc) rc = ptrag_feature_distances(pr, C->n_real, pp, C->n_pred, pca->k, &mean, NULL, err);
            if (!rc) {
                v[PTRAG_M_W1_PCA] = mean.w1;
                v[PTRAG_M_W2_PCA] = mean.w2;
                v[PTRAG_M_MMD_PCA] = mean.mmd;
                v[PTRAG_M_ENERGY_PCA] = mean.energy;
            }
        }
        free(pr);
        free(pp);
        if (rc) return rc;
    }
    return ptrag_energy_distance(C->real, C->n_real, C->pred, C->n_pred, g, &v[PTRAG_M_ENERGY_GENES], err);
}

static int differential(const ptrag_eval_condition *C, const ptrag_de_reference *ref_real,
                        const ptrag_de_reference *ref_pred, const ptrag_de_options *opt,
                        double *v, ptrag_error *err) {
    ptrag_de_result real, pred;
    int rc = ptrag_de_test(ref_real, C->real, C->n_real, opt, &real, err);
    if (rc) return rc;
    rc = ptrag_de_test(ref_pred, C->pred, C->n_pred, opt, &pred, err);
    if (rc) {
        ptrag_de_result_free(&real);
        return rc;
    }
    ptrag_de_scores s;
    ptrag_de_compare(&real, &pred, &s);
    v[PTRAG_M_OVERLAP_AT_N] = s.overlap_at_n;
    v[PTRAG_M_PRECISION_AT_N] = s.precision_at_n;
    v[PTRAG_M_DE_DIRECTION_MATCH] = s.direction_match;
    v[PTRAG_M_DE_SIG_RECALL] = s.sig_recall;
    v[PTRAG_M_DE_NSIG_REAL] = (double)s.nsig_real;
    v[PTRAG_M_DE_NSIG_PRED] = (double)s.nsig_pred;
    ptrag_de_result_free(&real);
    ptrag_de_result_free(&pred);
    return 0;
}

/* All conditions of one group; rows[] are this group's result rows. */
static int evaluate_group(const ptrag_eval_group *G, long g, const char *const *gene_names,
                          const ptrag_pca *pca, const ptrag_eval_options *opt,
                          ptrag_condition_scores *rows, ptrag_eval_result *res, ptrag_error *err) {
    long nc = G->n_conds;
    int fallback = !(G->pred_ctrl && G->n_pred_ctrl > 0);
    const float *pred_ctrl = fallback ? G->real_ctrl : G->pred_ctrl;
    long n_pred_ctrl = fallback ? G->n_real_ctrl : G->n_pred_ctrl;
    if (fallback) res->n_groups_pred_ctrl_fallback++;

    int rc = 0;
    ptrag_de_reference *ref_real = NULL, *ref_pred = NULL;
    double *m_rc = malloc((size_t)g * sizeof(double));
    double *m_pc = malloc((size_t)g * sizeof(double));
    double *m_r = malloc((size_t)g * sizeof(double));
    double *m_p = malloc((size_t)g * sizeof(double));
    double *real_delta = malloc((size_t)(nc ? nc : 1) * (size_t)g * sizeof(double));
    double *pred_delta = malloc((size_t)(nc ? nc : 1) * (size_t)g * sizeof(double));
    unsigned char *exclude = calloc((size_t)(nc ? nc : 1) * (size_t)g, 1);
    double *disc = malloc((size_t)(nc ? nc : 1) * sizeof(double));
    if (!m_rc || !m_pc || !m_r || !m_p || !real_delta || !pred_delta || !exclude || !disc) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "evaluation: out of memory for %ld conditions x %ld genes", nc, g);
        goto done;
    }
    ptrag_col_means(G->real_ctrl, G->n_real_ctrl, g, m_rc);
    ptrag_col_means(pred_ctrl, n_pred_ctrl, g, m_pc);
    if (!opt->skip_de) {
        rc = ptrag_de_reference_new(G->real_ctrl, G->n_real_ctrl, g, &ref_real, err);
        if (!rc && !fallback) rc = ptrag_de_reference_new(pred_ctrl, n_pred_ctrl, g, &ref_pred, err);
        if (rc) goto done;
    }

    for (long c = 0; c < nc; c++) {
        const ptrag_eval_condition *C = &G->conds[c];
        double *v = rows[c].v;
        ptrag_col_means(C->real, C->n_real, g, m_r);
        ptrag_col_means(C->pred, C->n_pred, g, m_p);
        ptrag_profile_scores ps;
        ptrag_profile_scores_compute(m_p, m_pc, m_r, m_rc, g, &ps);
        v[PTRAG_M_PEARSON_DELTA] = ps.pearson_delta;
        v[PTRAG_M_PEARSON_DELTA_DEGENERATE] = ps.pearson_degenerate;
        res->n_pearson_degenerate += ps.pearson_degenerate;
        v[PTRAG_M_MSE] = ps.mse;
        v[PTRAG_M_MAE] = ps.mae;
        v[PTRAG_M_MSE_DELTA] = ps.mse_delta;
        v[PTRAG_M_MAE_DELTA] = ps.mae_delta;
        if (G->pert_ref) v[PTRAG_M_PEARSON_DELTA_PERT] = ptrag_pearson_shift(m_p, m_r, G->pert_ref, g, NULL);
        for (long j = 0; j < g; j++) {
            real_delta[c * g + j] = m_r[j] - m_rc[j];
            pred_delta[c * g + j] = m_p[j] - m_pc[j];
        }
        if (gene_names) ptrag_target_gene_mask(C->perturbation, gene_names, g, exclude + c * g);

        if (!opt->skip_de) {
            rc = differential(C, ref_real, fallback ? ref_real : ref_pred, &opt->de, v, err);
            if (rc) goto cond_error;
        }
        if (!opt->skip_distributional) {
            rc = distributional(C, g, pca, v, err);
            if (rc) goto cond_error;
        }
    }
    ptrag_discrimination_l1(pred_delta, real_delta, nc, g, exclude, disc);
    for (long c = 0; c < nc; c++) rows[c].v[PTRAG_M_DISCRIMINATION_L1] = disc[c];
    goto done;
cond_error:
    ptrag_error_prefix(err, "cell type '%s'", G->cell_type ? G->cell_type : "");
done:
    ptrag_de_reference_free(ref_real);
    ptrag_de_reference_free(ref_pred);
    free(m_rc);
    free(m_pc);
    free(m_r);
    free(m_p);
    free(real_delta);
    free(pred_delta);
    free(exclude);
    free(disc);
    return rc;
}

int ptrag_evaluate(const ptrag_eval_group *groups, long n_groups, long g,
                   const char *const *gene_names, const ptrag_pca *pca,
                   const ptrag_eval_options *opt_in, ptrag_eval_result *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    ptrag_eval_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        ptrag_eval_options_default(&opt);
    int rc = validate(groups, n_groups, g, gene_names, err);
    if (rc) return rc;
    if (pca && pca->g != g)
        return ptrag_fail(err, PTRAG_E_ARG, "evaluation: PCA: fitted on %ld columns, data have %ld genes", pca->g, g);

    long total = 0, n_real_cells = 0;
    for (long gi = 0; gi < n_groups; gi++) {
        total += groups[gi].n_conds;
        for (long c = 0; c < groups[gi].n_conds; c++) n_real_cells += groups[gi].conds[c].n_real;
    }
    out->conditions = calloc((size_t)(total ? total : 1), sizeof *out->conditions);
    if (!out->conditions) return ptrag_fail(err, PTRAG_E_NOMEM, "evaluation: out of memory");
    out->n_conditions = total;
    long row = 0;
    for (long gi = 0; gi < n_groups; gi++)
        for (long c = 0; c < groups[gi].n_conds; c++, row++) {
            ptrag_condition_scores *s = &out->conditions[row];
            s->cell_type = copy_string(groups[gi].cell_type);
            s->perturbation = copy_string(groups[gi].conds[c].perturbation);
            s->n_real = groups[gi].conds[c].n_real;
            s->n_pred = groups[gi].conds[c].n_pred;
            for (int m = 0; m < PTRAG_M_COUNT; m++) s->v[m] = NAN;
            if (!s->cell_type || !s->perturbation) {
                ptrag_eval_result_free(out);
                return ptrag_fail(err, PTRAG_E_NOMEM, "evaluation: out of memory");
            }
        }

    /* The PCA basis: given, or fitted once on every real perturbed cell. With
     * fewer than 2 cells or genes there is no basis: per-PC metrics stay NaN. */
    ptrag_pca own = {0};
    const ptrag_pca *basis = NULL;
    if (!opt.skip_distributional) {
        if (pca) {
            basis = pca;
        } else if (n_real_cells >= 2 && g >= 2 && opt.n_pca >= 1) {
            rc = fit_pca_on_real(groups, n_groups, g, opt.n_pca, &own, err);
            if (rc) {
                ptrag_eval_result_free(out);
                return ptrag_error_prefix(err, "evaluation");
            }
            basis = &own;
        }
        out->n_pca_components = basis ? basis->k : 0;
    }

    row = 0;
    for (long gi = 0; gi < n_groups; gi++) {
        rc = evaluate_group(&groups[gi], g, gene_names, basis, &opt, out->conditions + row, out, err);
        if (rc) break;
        row += groups[gi].n_conds;
    }
    ptrag_pca_free(&own);
    if (rc) {
        ptrag_eval_result_free(out);
        return rc;
    }
    ptrag_eval_summarize(out);
    return 0;
}
