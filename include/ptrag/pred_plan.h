/* What a prediction covers, shared by `ptrag predict` and every baseline so
 * that their files line up row for row with the real file: every cell of the
 * split's held-out conditions (test by default), plus the control cells of the
 * held-out cell types, in sets of at most S cells of one condition; each cell
 * is paired with a random control cell of its cell type (the input the model
 * transforms). Built from the EVAL-mode sampler, so a seed fixes it. */
#ifndef PTRAG_PRED_PLAN_H
#define PTRAG_PRED_PLAN_H

#include <stdint.h>

#include "ptrag/dataset.h"
#include "ptrag/error.h"

typedef struct ptrag_pred_plan {
    long n_cells;
    long *target_rows;   /* [n_cells] real cells (dataset rows) being predicted */
    long *control_rows;  /* [n_cells] paired control cells (dataset rows) */
    long n_sets;
    long *set_start;     /* [n_sets + 1] cell offsets of each set */
    int32_t *set_condition; /* [n_sets] index into d->assign->conditions */
    int32_t *set_pert;   /* [n_sets] perturbation code */
    int32_t *set_ct;     /* [n_sets] cell-type code */
    int32_t *set_is_control;
} ptrag_pred_plan;

/* split: PTRAG_SPLIT_TEST or PTRAG_SPLIT_VAL; set_size: S. */
int ptrag_pred_plan_build(const ptrag_dataset *d, int split, int set_size, uint64_t seed, ptrag_pred_plan *out,
                          ptrag_error *err);
void ptrag_pred_plan_free(ptrag_pred_plan *p);

#endif
