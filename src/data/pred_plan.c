/* Prediction plans: see include/ptrag/pred_plan.h. */
#include "ptrag/pred_plan.h"

#include <stdlib.h>
#include <string.h>

#include "ptrag/sampler.h"

int ptrag_pred_plan_build(const ptrag_dataset *d, int split, int set_size, uint64_t seed, ptrag_pred_plan *out,
                          ptrag_error *err) {
    memset(out, 0, sizeof *out);
    ptrag_sampler_opts o;
    ptrag_sampler_opts_default(&o);
    o.split = split;
    o.mode = PTRAG_SETS_EVAL;
    o.set_size = set_size;
    o.batch_sets = 1;
    o.seed = seed;
    o.include_control_sets = 1;
    ptrag_sampler *s = NULL;
    int rc = ptrag_sampler_new(d->assign, &o, &s, err);
    if (rc) return rc;
    long n_sets = ptrag_sampler_batches_per_epoch(s);
    long n_cells = ptrag_sampler_n_cells(s);
    out->target_rows = malloc((size_t)(n_cells ? n_cells : 1) * sizeof *out->target_rows);
    out->control_rows = malloc((size_t)(n_cells ? n_cells : 1) * sizeof *out->control_rows);
    out->set_start = malloc((size_t)(n_sets + 1) * sizeof *out->set_start);
    out->set_condition = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_condition);
    out->set_pert = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_pert);
    out->set_ct = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_ct);
    out->set_is_control = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_is_control);
    ptrag_set_batch b;
    memset(&b, 0, sizeof b);
    if (!out->target_rows || !out->control_rows || !out->set_start || !out->set_condition || !out->set_pert ||
        !out->set_ct || !out->set_is_control)
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory for a prediction plan of %ld cells", n_cells);
    if (!rc) rc = ptrag_set_batch_alloc(&b, 1, set_size, err);
    long k = 0;
    for (long i = 0; i < n_sets && !rc; i++) {
        if ((rc = ptrag_sampler_batch(s, i, &b, err))) break;
        out->set_start[i] = k;
        out->set_condition[i] = b.set_condition[0];
        out->set_pert[i] = b.set_pert[0];
        out->set_ct[i] = b.set_celltype[0];
        out->set_is_control[i] = b.set_is_control[0];
        for (int j = 0; j < b.set_n[0]; j++, k++) {
            out->target_rows[k] = b.target_rows[j];
            out->control_rows[k] = b.control_rows[j];
        }
    }
    if (!rc) {
        out->set_start[n_sets] = k;
        out->n_sets = n_sets;
        out->n_cells = k;
    }
    ptrag_set_batch_free(&b);
    ptrag_sampler_free(s);
    if (rc) ptrag_pred_plan_free(out);
    return rc;
}

void ptrag_pred_plan_free(ptrag_pred_plan *p) {
    free(p->target_rows);
    free(p->control_rows);
    free(p->set_start);
    free(p->set_condition);
    free(p->set_pert);
    free(p->set_ct);
    free(p->set_is_control);
    memset(p, 0, sizeof *p);
}
