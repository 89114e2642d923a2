/* The `truth` predictor of a simulated experiment: each test cell is its
 * paired control cell plus the true mean shift of its condition (read from
 * the simulation's truth.h5ad). Same plan, pairing and clip as the other
 * baselines (baselines.c), so it is the oracle the table's models face. */
#include <stdlib.h>
#include <string.h>

#include "ptrag/baselines.h"
#include "ptrag/dataset.h"
#include "ptrag/pred_plan.h"
#include "ptrag/simulate.h"

/* Truth gene of each dataset gene (by name). */
static int map_genes(const ptrag_dataset *d, const ptrag_sim_truth *t, const char *truth_path, long *map,
                     ptrag_error *err) {
    for (long j = 0; j < d->n_genes; j++) {
        map[j] = -1;
        for (long g = 0; g < t->n_genes && map[j] < 0; g++)
            if (strcmp(t->genes[g], d->gene_names[j]) == 0) map[j] = g;
        if (map[j] < 0)
            return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: /var/_index: no gene '%s' (a gene of %s)", truth_path,
                              d->gene_names[j], d->h5ad_path);
    }
    return 0;
}

static int predict(const ptrag_dataset *d, const ptrag_sim_truth *t, const char *truth_path,
                   const ptrag_pred_plan *plan, const long *map, float *pred, ptrag_error *err) {
    long g = d->n_genes;
    int clip = 1;
    for (size_t i = 0; i < (size_t)d->n_resident * (size_t)g && clip; i++) clip = d->x[i] >= 0;
    for (long s = 0; s < plan->n_sets; s++) {
        const float *shift = NULL;
        if (!plan->set_is_control[s]) {
            const char *ct = d->ct_names[plan->set_ct[s]], *pe = d->pert_names[plan->set_pert[s]];
            long row = ptrag_sim_truth_find(t, ct, pe);
            if (row < 0)
                return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: no condition (%s, %s) (cell_type, perturbation)",
                                  truth_path, ct, pe);
            shift = t->shift + (size_t)row * (size_t)t->n_genes;
        }
        for (long i = plan->set_start[s]; i < plan->set_start[s + 1]; i++) {
            long row = plan->control_rows[i];
            if (row < 0 || d->row_slot[row] < 0)
                return ptrag_fail(err, PTRAG_E_STATE, "%s: truth: paired control row %ld is not resident",
                                  d->split_path, row);
            const float *x = ptrag_dataset_row(d, row);
            float *p = pred + (size_t)i * g;
            for (long j = 0; j < g; j++) {
                float v = x[j] + (shift ? shift[map[j]] : 0.0f);
                p[j] = clip && v < 0 ? 0.0f : v;
            }
        }
    }
    return 0;
}

int ptrag_truth_baseline_write(const ptrag_dataset *d, const char *truth_path, const ptrag_pred_plan_opts *po,
                               const char *pred_path, const char *real_path, ptrag_error *err) {
    ptrag_sim_truth *t = NULL;
    ptrag_pred_plan plan;
    memset(&plan, 0, sizeof plan);
    float *pred = NULL;
    long *map = malloc(((size_t)d->n_genes + 1) * sizeof *map);
    if (!map) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", truth_path);
    int rc = ptrag_sim_truth_load(truth_path, &t, err);
    if (!rc && d->normalized && !t->log1p)
        rc = ptrag_fail(err, PTRAG_E_ARG,
                        "%s: the true shifts are in raw counts but %s was normalised to log1p on loading "
                        "(simulate with --output log1p, or load with --no-normalize)",
                        truth_path, d->h5ad_path);
    if (!rc) rc = map_genes(d, t, truth_path, map, err);
    if (!rc) rc = ptrag_pred_plan_build(d, po, &plan, err);
    if (!rc) {
        size_t cells = (size_t)plan.n_cells * (size_t)d->n_genes;
        if (!(pred = malloc((cells ? cells : 1) * sizeof *pred)))
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory for %ld predicted cells", pred_path, plan.n_cells);
    }
    if (!rc) rc = predict(d, t, truth_path, &plan, map, pred, err);
    if (!rc) rc = ptrag_dataset_write_cells(d, pred_path, plan.target_rows, plan.n_cells, pred, "pred", err);
    if (!rc && real_path) rc = ptrag_plan_write_real(d, &plan, real_path, err);
    free(pred);
    free(map);
    ptrag_pred_plan_free(&plan);
    ptrag_sim_truth_free(t);
    return rc;
}
