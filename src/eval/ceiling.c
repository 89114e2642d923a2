/* Split-half ceiling of every metric: see ptrag_eval_ceiling in
 * include/ptrag/metrics.h and docs/evaluation.md. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/metrics.h"
#include "ptrag/report.h"
#include "ptrag/rng.h"

enum { STREAM_CEILING = 0xCE11 };

/* Shuffles n rows of x (n x g) in place, then copies the first half to a
 * and the rest to b (a single row goes to both: nothing to split). */
static void split_rows(ptrag_rng *rng, const float *x, long n, long g, long *perm, float *a, long *na, float *b,
                       long *nb) {
    for (long i = 0; i < n; i++) perm[i] = i;
    for (long i = n - 1; i > 0; i--) {
        long j = (long)ptrag_rng_below(rng, (uint64_t)i + 1), t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    *na = n >= 2 ? n / 2 : n;
    *nb = n >= 2 ? n - *na : n;
    for (long i = 0; i < *na; i++) memcpy(a + (size_t)i * g, x + (size_t)perm[i] * g, (size_t)g * sizeof *a);
    for (long i = 0; i < *nb; i++)
        memcpy(b + (size_t)i * g, x + (size_t)perm[n - *nb + i] * g, (size_t)g * sizeof *b);
}

int ptrag_eval_ceiling(const ptrag_eval_group *groups, long n_groups, long g, const char *const *gene_names,
                       const ptrag_eval_options *opt, int n_splits, uint64_t seed,
                       ptrag_metric_summary out[PTRAG_M_COUNT], ptrag_error *err) {
    for (int m = 0; m < PTRAG_M_COUNT; m++) out[m] = (ptrag_metric_summary){NAN, NAN, 0};
    if (n_splits < 1) return ptrag_fail(err, PTRAG_E_ARG, "ceiling: splits %d must be >= 1", n_splits);
    long n_conds = 0, cells = 0, max_n = 1;
    for (long gi = 0; gi < n_groups; gi++) {
        n_conds += groups[gi].n_conds;
        cells += groups[gi].n_real_ctrl;
        if (groups[gi].n_real_ctrl > max_n) max_n = groups[gi].n_real_ctrl;
        for (long c = 0; c < groups[gi].n_conds; c++) {
            cells += groups[gi].conds[c].n_real;
            if (groups[gi].conds[c].n_real > max_n) max_n = groups[gi].conds[c].n_real;
        }
    }
    /* Both halves of every matrix: at most the cells, plus a row for each
     * single-cell matrix that goes to both. */
    size_t slots = (size_t)(cells + n_conds + n_groups + 1) * (size_t)g;
    float *buf = malloc(slots * sizeof *buf);
    long *perm = malloc((size_t)max_n * sizeof *perm);
    ptrag_eval_group *gs = calloc((size_t)n_groups + 1, sizeof *gs);
    ptrag_eval_condition *cs = calloc((size_t)n_conds + 1, sizeof *cs);
    ptrag_metric_summary(*per)[PTRAG_M_COUNT] = calloc((size_t)n_splits, sizeof *per);
    int rc = 0;
    if (!buf || !perm || !gs || !cs || !per)
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "ceiling: out of memory for %ld cells x %ld genes", cells, g);
    for (int r = 0; r < n_splits && !rc; r++) {
        ptrag_rng rng;
        ptrag_rng_seed(&rng, ptrag_hash_u64(seed, STREAM_CEILING, (uint64_t)r));
        float *p = buf;
        long ci = 0;
        for (long gi = 0; gi < n_groups; gi++) {
            const ptrag_eval_group *G = &groups[gi];
            ptrag_eval_group *H = &gs[gi];
            *H = *G;
            long na, nb;
            float *a = p, *b = p + (size_t)(G->n_real_ctrl / 2 + 1) * g;
            split_rows(&rng, G->real_ctrl, G->n_real_ctrl, g, perm, a, &na, b, &nb);
            p = b + (size_t)nb * g;
            H->pred_ctrl = a;
            H->n_pred_ctrl = na;
            H->real_ctrl = b;
            H->n_real_ctrl = nb;
            H->conds = cs + ci;
            for (long c = 0; c < G->n_conds; c++, ci++) {
                const ptrag_eval_condition *C = &G->conds[c];
                cs[ci] = *C;
                a = p;
                b = p + (size_t)(C->n_real / 2 + 1) * g;
                split_rows(&rng, C->real, C->n_real, g, perm, a, &na, b, &nb);
                p = b + (size_t)nb * g;
                cs[ci].pred = a;
                cs[ci].n_pred = na;
                cs[ci].real = b;
                cs[ci].n_real = nb;
            }
        }
        ptrag_eval_result res;
        if ((rc = ptrag_evaluate(gs, n_groups, g, gene_names, NULL, opt, &res, err))) break;
        memcpy(per[r], res.summary, sizeof res.summary);
        ptrag_eval_result_free(&res);
    }
    if (!rc) ptrag_report_combine_seeds((const ptrag_metric_summary(*)[PTRAG_M_COUNT])per, n_splits, out);
    free(buf);
    free(perm);
    free(gs);
    free(cs);
    free(per);
    return rc ? ptrag_error_prefix(err, "ceiling") : 0;
}
