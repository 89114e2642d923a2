/* Pieces shared by training and prediction (not public API). */
#ifndef PTRAG_TRAIN_INTERNAL_H
#define PTRAG_TRAIN_INTERNAL_H

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
} ptrag_step_buffers;

int ptrag_step_buffers_new(ptrag_step_buffers *b, const ptrag_config *cfg, ptrag_error *err);
void ptrag_step_buffers_free(ptrag_step_buffers *b);

/* genes.txt of a run: the genes it was trained on (checked by predict). */
int ptrag_run_write_genes(const char *run_dir, const ptrag_dataset *d, ptrag_error *err);

/* Sets the data-derived dims of cfg (genes, feature dim, batches, one-hot). */
int ptrag_fill_data_dims(ptrag_config *cfg, const ptrag_dataset *d, ptrag_error *err);

/* Fills a model batch of n_sets sets of set_len cells from dataset rows:
 * control and target expression, perturbation features, batch ids and
 * stage-1 candidates (r may be NULL for the state model). target_rows may be
 * NULL (prediction). */
int ptrag_fill_model_batch(const ptrag_dataset *d, const ptrag_config *cfg, const ptrag_retrieval *r,
                           const int32_t *set_pert, int n_sets, int set_len, const long *target_rows,
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
} ptrag_val_pearson;

int ptrag_val_pearson_new(ptrag_val_pearson *v, const ptrag_dataset *d, ptrag_error *err);
void ptrag_val_pearson_free(ptrag_val_pearson *v);
void ptrag_val_pearson_reset(ptrag_val_pearson *v);
void ptrag_val_pearson_add(ptrag_val_pearson *v, const int32_t *set_condition, int n_sets, int set_len,
                           const float *pred, const float *target, const float *ctrl);
/* Mean over conditions of the Pearson correlation of the mean shifts (NaN if none). */
double ptrag_val_pearson_result(const ptrag_val_pearson *v);

#endif
