/* Retrieval scored against a simulation's truth: is what stage 1 retrieved
 * (and what stage 2 kept) in the query perturbation's own module? */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/simulate.h"
#include "ptrag/train.h"

/* AUC of scores: positives vs negatives (ties count one half). */
static double auc(const double *pos, int np, const double *neg, int nn) {
    double s = 0;
    for (int i = 0; i < np; i++)
        for (int j = 0; j < nn; j++) s += pos[i] > neg[j] ? 1.0 : pos[i] == neg[j] ? 0.5 : 0.0;
    return s / ((double)np * nn);
}

int ptrag_retrieval_truth_score(const ptrag_sim_truth *t, const char *const *queries, long n_queries,
                                const char *const *cand, const double *keep, int k, ptrag_retrieval_truth *out,
                                ptrag_error *err) {
    memset(out, 0, sizeof *out);
    if (k < 1) return ptrag_fail(err, PTRAG_E_ARG, "retrieval against truth: k = %d candidates", k);
    double *pos = malloc((size_t)k * sizeof *pos), *neg = malloc((size_t)k * sizeof *neg);
    if (!pos || !neg) {
        free(pos), free(neg);
        return ptrag_fail(err, PTRAG_E_NOMEM, "retrieval against truth: out of memory");
    }
    double s1 = 0, s2 = 0, sa = 0, so = 0;
    long n2 = 0, no = 0;
    for (long q = 0; q < n_queries; q++) {
        int mq = ptrag_sim_truth_module(t, queries[q]);
        if (mq < 0) continue;
        int n = 0, same = 0, np = 0, nn = 0;
        double kept = 0, kept_same = 0; /* keep-probability mass, and its same-module part */
        for (int j = 0; j < k; j++) {
            const char *c = cand[q * k + j];
            /* The query's own perturbation (own_other_celltypes' extra slot)
             * is its own module by definition: scored are the neighbours. */
            if (!c) continue;
            if (strcmp(c, queries[q]) == 0) {
                out->n_own++;
                if (keep && isfinite(keep[q * k + j])) so += keep[q * k + j], no++;
                continue;
            }
            int s = ptrag_sim_truth_module(t, c) == mq;
            n++;
            same += s;
            if (keep) {
                double p = keep[q * k + j];
                if (isfinite(p)) kept += p, kept_same += s * p;
                if (!isfinite(p)) continue;
                if (s) pos[np++] = p;
                else neg[nn++] = p;
            }
        }
        if (n == 0) continue;
        out->n_queries++;
        s1 += (double)same / n;
        if (keep && kept > 0) {
            s2 += kept_same / kept;
            n2++;
        }
        if (keep && np && nn) {
            sa += auc(pos, np, neg, nn);
            out->n_auc++;
        }
    }
    out->stage1_precision = out->n_queries ? s1 / (double)out->n_queries : NAN;
    out->stage2_precision = n2 ? s2 / (double)n2 : NAN;
    out->stage2_auc = out->n_auc ? sa / (double)out->n_auc : NAN;
    out->own_kept = no ? so / (double)no : NAN;
    free(pos), free(neg);
    return 0;
}

int ptrag_retrieval_truth_summary(const ptrag_sim_truth *t, const ptrag_prediction_summary *s,
                                  ptrag_retrieval_truth *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    if (!s->explained || s->n_conditions == 0) return 0;
    int k = 0;
    for (long i = 0; i < s->n_conditions; i++) k = s->explained[i].K > k ? s->explained[i].K : k;
    if (k == 0) return 0;
    long n = s->n_conditions;
    const char **q = malloc((size_t)n * sizeof *q), **cand = calloc((size_t)n * k, sizeof *cand);
    double *keep = malloc((size_t)n * k * sizeof *keep);
    if (!q || !cand || !keep) {
        free(q), free(cand), free(keep);
        return ptrag_fail(err, PTRAG_E_NOMEM, "retrieval against truth: out of memory");
    }
    for (long i = 0; i < n; i++) {
        const ptrag_explained *e = &s->explained[i];
        q[i] = e->perturbation;
        for (int j = 0; j < k; j++) {
            cand[i * k + j] = j < e->K ? e->cand[j] : NULL;
            keep[i * k + j] = j < e->K && e->kept ? (double)e->kept[j] : NAN;
        }
    }
    int rc = ptrag_retrieval_truth_score(t, q, n, cand, keep, k, out, err);
    free(q), free(cand), free(keep);
    return rc;
}
