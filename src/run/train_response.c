/* Response statistics the trainer needs besides the loss (internal):
 *  - the mean training shift, which starts the gene-space residual's output
 *    bias (so step 0 predicts each paired control cell plus that shift);
 *  - validation pearson_delta: per validation condition, the Pearson
 *    correlation over genes of the predicted and the real mean shift (both
 *    from the mean of the paired control cells of its sets), averaged over
 *    conditions. The energy loss on sets of a few dozen cells is dominated by
 *    cell-to-cell distances and is a noisy guide to the response itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

#define GATHER_ROWS 256

/* Mean of the rows of `rows` into out[G] (double), gathering in chunks. */
static int rows_mean(const ptrag_dataset *d, const long *rows, long n, double *out, float *buf) {
    const long G = d->n_genes;
    memset(out, 0, sizeof(double) * (size_t)G);
    for (long r0 = 0; r0 < n; r0 += GATHER_ROWS) {
        long k = n - r0 < GATHER_ROWS ? n - r0 : GATHER_ROWS;
        ptrag_dataset_gather(d, rows + r0, k, buf);
        for (long i = 0; i < k; i++)
            for (long g = 0; g < G; g++) out[g] += buf[(size_t)i * G + g];
    }
    for (long g = 0; g < G; g++) out[g] /= (double)(n > 0 ? n : 1);
    return 0;
}

int ptrag_mean_training_shift(const ptrag_dataset *d, float *shift, ptrag_error *err) {
    const ptrag_assignment *a = d->assign;
    const long G = d->n_genes;
    double *ctrl = calloc((size_t)G * (size_t)(a->n_ct > 0 ? a->n_ct : 1), sizeof(double));
    double *m = malloc(sizeof(double) * (size_t)G), *acc = calloc((size_t)G, sizeof(double));
    float *buf = malloc(sizeof(float) * (size_t)G * GATHER_ROWS);
    if (!ctrl || !m || !acc || !buf) {
        free(ctrl), free(m), free(acc), free(buf);
        return ptrag_fail(err, PTRAG_E_NOMEM, "mean training shift: out of memory (%ld genes)", G);
    }
    for (int ct = 0; ct < a->n_ct; ct++) rows_mean(d, a->ctrl[ct].rows, a->ctrl[ct].n_rows, ctrl + (size_t)ct * G, buf);
    long n = 0;
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        if (cd->is_control || !(cd->splits & PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN)) || cd->n_rows == 0) continue;
        if (a->ctrl[cd->ct].n_rows == 0) continue;
        rows_mean(d, cd->rows, cd->n_rows, m, buf);
        for (long g = 0; g < G; g++) acc[g] += m[g] - ctrl[(size_t)cd->ct * G + g];
        n++;
    }
    for (long g = 0; g < G; g++) shift[g] = n ? (float)(acc[g] / (double)n) : 0.0f;
    free(ctrl), free(m), free(acc), free(buf);
    return 0;
}

int ptrag_val_pearson_new(ptrag_val_pearson *v, const ptrag_dataset *d, ptrag_error *err) {
    memset(v, 0, sizeof *v);
    const ptrag_assignment *a = d->assign;
    v->G = d->n_genes;
    v->a = a;
    v->slot = malloc(sizeof(int) * (size_t)(a->n_conditions > 0 ? a->n_conditions : 1));
    v->ct_of = malloc(sizeof(int) * (size_t)(a->n_conditions > 0 ? a->n_conditions : 1));
    v->ctrl_sums = calloc((size_t)(a->n_ct > 0 ? a->n_ct : 1) * 2 * (size_t)v->G, sizeof(double));
    v->ctrl_count = calloc((size_t)(a->n_ct > 0 ? a->n_ct : 1), sizeof(long));
    if (!v->slot || !v->ct_of || !v->ctrl_sums || !v->ctrl_count) {
        ptrag_val_pearson_free(v);
        return ptrag_fail(err, PTRAG_E_NOMEM, "validation pearson: out of memory");
    }
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        v->slot[c] = !cd->is_control && (cd->splits & PTRAG_SPLIT_MASK(PTRAG_SPLIT_VAL)) ? v->n++ : -1;
        if (v->slot[c] >= 0) v->ct_of[v->slot[c]] = cd->ct;
    }
    /* per condition: sums of predicted, real and paired control cells */
    v->sums = calloc((size_t)v->n * 3 * (size_t)v->G + 1, sizeof(double));
    v->count = calloc((size_t)v->n + 1, sizeof(long));
    if (!v->sums || !v->count) {
        ptrag_val_pearson_free(v);
        return ptrag_fail(err, PTRAG_E_NOMEM, "validation pearson: out of memory (%d conditions x %ld genes)",
                          v->n, v->G);
    }
    return 0;
}

void ptrag_val_pearson_free(ptrag_val_pearson *v) {
    free(v->slot), free(v->sums), free(v->count), free(v->ct_of), free(v->ctrl_sums), free(v->ctrl_count);
    memset(v, 0, sizeof *v);
}

void ptrag_val_pearson_reset(ptrag_val_pearson *v) {
    memset(v->sums, 0, sizeof(double) * (size_t)v->n * 3 * (size_t)v->G);
    memset(v->count, 0, sizeof(long) * (size_t)v->n);
    int nct = v->a->n_ct > 0 ? v->a->n_ct : 1;
    memset(v->ctrl_sums, 0, sizeof(double) * (size_t)nct * 2 * (size_t)v->G);
    memset(v->ctrl_count, 0, sizeof(long) * (size_t)nct);
}

void ptrag_val_pearson_add(ptrag_val_pearson *v, const int32_t *set_condition, int n_sets, int set_len,
                           const float *pred, const float *target, const float *ctrl) {
    const long G = v->G;
    for (int s = 0; s < n_sets; s++) {
        const ptrag_condition *cd = &v->a->conditions[set_condition[s]];
        if (cd->is_control) {
            double *cp = v->ctrl_sums + (size_t)cd->ct * 2 * G, *cr = cp + G;
            for (int i = 0; i < set_len; i++) {
                size_t o = ((size_t)s * set_len + i) * (size_t)G;
                for (long g = 0; g < G; g++) cp[g] += pred[o + g], cr[g] += target[o + g];
            }
            v->ctrl_count[cd->ct] += set_len;
            continue;
        }
        int k = v->slot[set_condition[s]];
        if (k < 0) continue;
        double *sp = v->sums + (size_t)k * 3 * G, *sr = sp + G, *sc = sr + G;
        for (int i = 0; i < set_len; i++) {
            size_t o = ((size_t)s * set_len + i) * (size_t)G;
            for (long g = 0; g < G; g++) sp[g] += pred[o + g], sr[g] += target[o + g], sc[g] += ctrl[o + g];
        }
        v->count[k] += set_len;
    }
}

double ptrag_val_pearson_result(const ptrag_val_pearson *v) {
    const long G = v->G;
    double total = 0;
    int n = 0;
    for (int k = 0; k < v->n; k++) {
        if (v->count[k] == 0) continue;
        const double *sp = v->sums + (size_t)k * 3 * G, *sr = sp + G, *sc = sr + G;
        const double nk = (double)v->count[k];
        /* reference means of predicted and real controls */
        const long nc = v->ctrl_count[v->ct_of[k]];
        const double *cp = nc ? v->ctrl_sums + (size_t)v->ct_of[k] * 2 * G : sc, *cr = nc ? cp + G : sc;
        const double ncd = nc ? (double)nc : nk;
        double mp = 0, mr = 0;
        for (long g = 0; g < G; g++) mp += sp[g] / nk - cp[g] / ncd, mr += sr[g] / nk - cr[g] / ncd;
        mp /= G, mr /= G;
        double xy = 0, xx = 0, yy = 0;
        for (long g = 0; g < G; g++) {
            double x = sp[g] / nk - cp[g] / ncd - mp, y = sr[g] / nk - cr[g] / ncd - mr;
            xy += x * y, xx += x * x, yy += y * y;
        }
        total += xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0.0; /* degenerate: 0, as ptrag eval */
        n++;
    }
    return n ? total / n : NAN;
}

/* The mean of the row's measured training shifts (same_ct = 1) over the cell
 * types other than ct into out[G] (zeros when there is none; acc: G doubles
 * of scratch); returns how many cell types it averaged. Step 2 of the shift
 * table and the own-candidate table both use it. Entries with same_ct = 0 are
 * never read, so step 2 may write them while it runs. */
static int other_celltypes_mean(const ptrag_evidence *ev, int ct, long row, double *acc, float *out) {
    const long P = ev->P, G = ev->G;
    int n = 0;
    memset(acc, 0, sizeof(double) * (size_t)G);
    for (int c2 = 0; c2 < ev->n_ct; c2++) {
        if (c2 == ct || !ev->same_ct[(size_t)c2 * P + row]) continue;
        const float *s = ev->shift + ((size_t)c2 * P + row) * G;
        for (long g = 0; g < G; g++) acc[g] += s[g];
        n++;
    }
    for (long g = 0; g < G; g++) out[g] = n ? (float)(acc[g] / n) : 0.0f;
    return n;
}

/* The own-candidate table: per (ct, row), the mean of the measured training
 * shifts of the row in the cell types other than ct (step 1's entries with
 * same_ct = 1; ct's own entry never enters). */
static int own_other_build(ptrag_evidence *ev, ptrag_error *err) {
    const long P = ev->P, G = ev->G;
    const int nct = ev->n_ct;
    ev->other_ct = calloc((size_t)nct * (size_t)P * (size_t)G + 1, sizeof(float));
    ev->has_other = calloc((size_t)nct * (size_t)P + 1, 1);
    double *acc = malloc(sizeof(double) * (size_t)G + 1);
    if (!ev->other_ct || !ev->has_other || !acc) {
        free(acc);
        ptrag_evidence_free(ev);
        return ptrag_fail(err, PTRAG_E_NOMEM, "own-perturbation evidence: out of memory (%d cell types x %ld rows)",
                          nct, P);
    }
    for (long row = 0; row < P; row++)
        for (int ct = 0; ct < nct; ct++)
            ev->has_other[(size_t)ct * P + row] =
                other_celltypes_mean(ev, ct, row, acc, ev->other_ct + ((size_t)ct * P + row) * G) > 0;
    free(acc);
    return 0;
}

int ptrag_evidence_build(const ptrag_dataset *d, const ptrag_retrieval *r, const ptrag_config *cfg, ptrag_evidence *ev,
                         ptrag_error *err) {
    memset(ev, 0, sizeof *ev);
    const ptrag_assignment *a = d->assign;
    const long G = d->n_genes, P = r->P;
    const int nct = a->n_ct > 0 ? a->n_ct : 1;
    ev->n_ct = nct, ev->P = P, ev->G = G;
    ev->shift = calloc((size_t)nct * (size_t)P * (size_t)G + 1, sizeof(float));
    ev->same_ct = calloc((size_t)nct * (size_t)P + 1, 1);
    double *ctrl = calloc((size_t)nct * (size_t)G, sizeof(double)), *m = malloc(sizeof(double) * (size_t)G);
    double *other = calloc((size_t)G, sizeof(double));
    float *buf = malloc(sizeof(float) * (size_t)G * GATHER_ROWS);
    if (!ev->shift || !ev->same_ct || !ctrl || !m || !other || !buf) {
        free(ctrl), free(m), free(other), free(buf);
        ptrag_evidence_free(ev);
        return ptrag_fail(err, PTRAG_E_NOMEM, "evidence: out of memory (%d cell types x %ld rows x %ld genes)", nct,
                          P, G);
    }
    for (int ct = 0; ct < a->n_ct; ct++) rows_mean(d, a->ctrl[ct].rows, a->ctrl[ct].n_rows, ctrl + (size_t)ct * G, buf);
    /* 1. measured in the cell type: training conditions only */
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        if (cd->is_control || !(cd->splits & PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN)) || cd->n_rows == 0) continue;
        long row = r->pert_row[cd->pert];
        if (row < 0 || a->ctrl[cd->ct].n_rows == 0) continue;
        rows_mean(d, cd->rows, cd->n_rows, m, buf);
        float *s = ev->shift + ((size_t)cd->ct * P + row) * G;
        for (long g = 0; g < G; g++) s[g] = (float)(m[g] - ctrl[(size_t)cd->ct * G + g]);
        ev->same_ct[(size_t)cd->ct * P + row] = 1;
    }
    /* 2. elsewhere: the mean over the other cell types where it was measured */
    for (long row = 0; row < P; row++)
        for (int ct = 0; ct < nct; ct++)
            if (!ev->same_ct[(size_t)ct * P + row])
                other_celltypes_mean(ev, ct, row, other, ev->shift + ((size_t)ct * P + row) * G);
    free(ctrl), free(m), free(other), free(buf);
    const double w = cfg ? cfg->response_retrieval : 0.0;
    const int responses = w > 0 || (cfg && cfg->scorer_features);
    int rc = r->own_slot || responses ? own_other_build(ev, err) : 0;
    if (!rc && responses) rc = ptrag_response_means(ev, err);
    if (!rc && w > 0) rc = ptrag_response_retrieval_build(d, r, w, ev, err);
    if (rc) ptrag_evidence_free(ev);
    return rc;
}

void ptrag_evidence_free(ptrag_evidence *ev) {
    free(ev->shift), free(ev->same_ct), free(ev->other_ct), free(ev->has_other);
    free(ev->resp_mean), free(ev->resp_rows), free(ev->resp_sim), free(ev->resp_has);
    memset(ev, 0, sizeof *ev);
}
