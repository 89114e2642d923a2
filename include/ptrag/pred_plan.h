/* What a prediction covers, shared by `ptrag predict` and every baseline so
 * that their files line up with the real file: every cell of the split's
 * held-out conditions (test by default), plus the control cells of the
 * held-out cell types, in sets of at most S cells of one condition. Each
 * predicted cell is made from a control cell of its cell type (the input the
 * model transforms); how those are chosen is the pairing:
 *
 *  - PTRAG_PAIRING_POOL (default): every condition of a cell type is predicted
 *    from the same control cells, the cell type's whole control pool (in a
 *    seeded order, cut into the same sets of S for every condition; at most
 *    pool_cells of them when that is > 0). A condition then gets one predicted
 *    cell per pool cell, and the plan's control sets are the pool cells
 *    themselves (input = target), so a predicted delta (mean of a condition's
 *    predicted cells minus mean of the predicted controls) carries no
 *    resampling noise of the control draw. The predicted cells of a condition
 *    carry the labels of its real cells taken in turn (target_rows cycles
 *    through them), which fixes their batch label.
 *  - PTRAG_PAIRING_RANDOM: each real cell is predicted from one control cell of
 *    its cell type drawn at random (the sampler's EVAL mode); one predicted
 *    cell per real cell, row for row (target_rows == real_rows).
 *
 * The real cells (real_rows) are the same set under both pairings: the file a
 * prediction is scored against does not depend on it (ptrag eval groups cells
 * by their labels, so predicted and real counts per condition may differ). */
#ifndef PTRAG_PRED_PLAN_H
#define PTRAG_PRED_PLAN_H

#include <stdint.h>

#include "ptrag/dataset.h"
#include "ptrag/error.h"

typedef enum { PTRAG_PAIRING_POOL = 0, PTRAG_PAIRING_RANDOM = 1, PTRAG_PAIRING_COUNT } ptrag_pairing;

/* "pool", "random" (or "?"); kind of a name, or -1. */
const char *ptrag_pairing_name(int pairing);
int ptrag_pairing_from_name(const char *name);

typedef struct ptrag_pred_plan_opts {
    int split;       /* PTRAG_SPLIT_TEST (default) or PTRAG_SPLIT_VAL */
    int set_size;    /* S (default 64) */
    uint64_t seed;   /* random pairing / pool order (default 42) */
    int pairing;     /* ptrag_pairing (default PTRAG_PAIRING_POOL) */
    long pool_cells; /* pool: control cells used per cell type, 0 = all (default) */
} ptrag_pred_plan_opts;

void ptrag_pred_plan_opts_default(ptrag_pred_plan_opts *o);

typedef struct ptrag_pred_plan {
    long n_cells;        /* predicted cells */
    long *target_rows;   /* [n_cells] dataset row whose labels the predicted cell carries
                            (random pairing: the real cell it predicts) */
    long *control_rows;  /* [n_cells] input control cell (dataset row) */
    long n_sets;
    long *set_start;     /* [n_sets + 1] cell offsets of each set */
    int32_t *set_condition; /* [n_sets] index into d->assign->conditions */
    int32_t *set_pert;   /* [n_sets] perturbation code */
    int32_t *set_ct;     /* [n_sets] cell-type code */
    int32_t *set_is_control;
    long n_real;         /* real cells of the held-out conditions and control sets */
    long *real_rows;     /* [n_real] dataset rows, condition by condition */
    int pairing;
} ptrag_pred_plan;

int ptrag_pred_plan_build(const ptrag_dataset *d, const ptrag_pred_plan_opts *o, ptrag_pred_plan *out,
                          ptrag_error *err);
void ptrag_pred_plan_free(ptrag_pred_plan *p);

#endif
