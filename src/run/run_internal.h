/* Pieces shared by training and prediction (not public API): model batches
 * (model_batch.c), genes.txt (run_genes.c), evidence and validation
 * statistics (train_response.c). */
#ifndef PTRAG_RUN_INTERNAL_H
#define PTRAG_RUN_INTERNAL_H

#include "ptrag/config.h"
#include "ptrag/dataset.h"
#include "ptrag/model.h"
#include "ptrag/retrieval.h"
#include "ptrag/sampler.h"
#include "ptrag/train.h"

/* Host buffers for one model batch, sized for cfg batch x set_size cells. */
typedef struct ptrag_step_buffers {
    float *x_ctrl, *target, *pert_feat;
    int32_t *batch_id, *cand;
    uint8_t *set_control;
    float *cand_shift; /* evidence: [B * K * G] */
} ptrag_step_buffers;

/* Evidence table (train_response.c): for each cell type and database row, the
 * row's measured mean shift: in that cell type where (cell type, row) is a
 * training condition (same_ct = 1), else the mean over the other cell types
 * where it is one (same_ct = 0), else zero. Built from training conditions
 * only, so a validation or test condition's own response is never in it. */
typedef struct ptrag_evidence {
    int n_ct;
    long P, G;
    float *shift;     /* [n_ct, P, G] */
    uint8_t *same_ct; /* [n_ct, P] */
} ptrag_evidence;

int ptrag_evidence_build(const ptrag_dataset *d, const ptrag_retrieval *r, ptrag_evidence *ev, ptrag_error *err);
void ptrag_evidence_free(ptrag_evidence *ev);

int ptrag_step_buffers_new(ptrag_step_buffers *b, const ptrag_config *cfg, ptrag_error *err);
void ptrag_step_buffers_free(ptrag_step_buffers *b);

/* genes.txt of a run (run_genes.c): the genes it was trained on, and the
 * check that a dataset provides the same ones in the same order. */
int ptrag_run_write_genes(const char *run_dir, const ptrag_dataset *d, ptrag_error *err);
int ptrag_run_check_genes(const char *run_dir, const ptrag_dataset *d, ptrag_error *err);

/* Sets the data-derived dims of cfg (genes, feature dim, batches, one-hot). */
int ptrag_fill_data_dims(ptrag_config *cfg, const ptrag_dataset *d, ptrag_error *err);

/* Fills a model batch of n_sets sets of set_len cells from dataset rows:
 * control and target expression, perturbation features, batch ids and
 * stage-1 candidates (r may be NULL for the state model) and, with evidence
 * (ev, set_ct: the sets' cell types), the candidates' shifts. target_rows may be
 * NULL (prediction). */
int ptrag_fill_model_batch(const ptrag_dataset *d, const ptrag_config *cfg, const ptrag_retrieval *r,
                           const ptrag_evidence *ev, const int32_t *set_ct, const int32_t *set_pert, int n_sets, int set_len, const long *target_rows,
                           const long *control_rows, const int32_t *batch_ids, int faithful_batch,
                           ptrag_step_buffers *b, ptrag_model_batch *mb, ptrag_error *err);

/* Learning-rate multiplier before Adam step `step` (0-based): linear warm-up
 * over cfg->warmup steps, then constant or cosine decay to 0 at cfg->steps. */
double ptrag_lr_factor(const ptrag_config *cfg, long step);

/* Mean over training conditions of (condition mean - its cell type's
 * control mean), into shift[n_genes] (train_response.c). */
int ptrag_mean_training_shift(const ptrag_dataset *d, float *shift, ptrag_error *err);

/* Validation pearson_delta accumulated over one validation pass. */
typedef struct ptrag_val_pearson {
    long G;
    int n;        /* validation conditions */
    int *slot;    /* condition index -> 0..n-1, or -1 */
    double *sums; /* [n, 3, G]: predicted, real, paired control */
    long *count;
    const ptrag_assignment *a;
    int *ct_of;        /* [n] cell type of each validation condition */
    double *ctrl_sums; /* [n_ct, 2, G]: predicted and real cells of control sets */
    long *ctrl_count;  /* [n_ct] */
} ptrag_val_pearson;

int ptrag_val_pearson_new(ptrag_val_pearson *v, const ptrag_dataset *d, ptrag_error *err);
void ptrag_val_pearson_free(ptrag_val_pearson *v);
void ptrag_val_pearson_reset(ptrag_val_pearson *v);
void ptrag_val_pearson_add(ptrag_val_pearson *v, const int32_t *set_condition, int n_sets, int set_len,
                           const float *pred, const float *target, const float *ctrl);
/* Mean over conditions of the Pearson correlation of the mean shifts (NaN if
 * none). As `ptrag eval`: the predicted shift is measured from the model's own
 * prediction of the cell type's control cells, the real one from the real
 * control cells (the validation control sets); a cell type without control
 * sets falls back to the paired control cells. */
double ptrag_val_pearson_result(const ptrag_val_pearson *v);

#endif
