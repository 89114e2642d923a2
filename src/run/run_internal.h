/* Pieces shared by training and prediction (not public API): model batches
 * (model_batch.c), genes.txt (run_genes.c), evidence and validation
 * statistics (train_response.c). */
#ifndef PTRAG_RUN_INTERNAL_H
#define PTRAG_RUN_INTERNAL_H

#include <stdio.h>

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
    float *cand_feat;  /* scorer_features: [B * K * PTRAG_CAND_FEATS] */
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
    /* With r->own_slot: for each cell type ct and row, the mean of the row's
     * shifts over the training conditions of the cell types OTHER than ct
     * (never ct's own, even where (ct, row) is a training condition: that is
     * the target of its own sets), and whether there was any. */
    float *other_ct;    /* [n_ct, P, G] or NULL */
    uint8_t *has_other; /* [n_ct, P] or NULL */
    /* With response_retrieval > 0 (response_retrieval.c): per (cell type,
     * perturbation code) of the dataset's perturbed conditions, stage 1's
     * resp_K rows and similarities by embedding and measured response. */
    int n_perts, resp_K;
    /* With the other-cell-type table: per cell type, the mean response of
     * the rows measured in other cell types (other_ct) and of the rows
     * measured in that cell type only (shift), which centre the response
     * correlations (response_retrieval.c, candidate_features.c). */
    float *resp_mean;   /* [n_ct, 2, G] or NULL */
    int32_t *resp_rows; /* [n_ct, n_perts, resp_K] or NULL */
    float *resp_sim;    /* [n_ct, n_perts, resp_K] or NULL */
    uint8_t *resp_has;  /* [n_ct, n_perts] or NULL */
} ptrag_evidence;

/* cfg: what else to build (own-slot table, response retrieval, scorer
 * features); NULL: the shift table only, plus the own-slot table when
 * r->own_slot. */
int ptrag_evidence_build(const ptrag_dataset *d, const ptrag_retrieval *r, const ptrag_config *cfg, ptrag_evidence *ev,
                         ptrag_error *err);
void ptrag_evidence_free(ptrag_evidence *ev);

/* The response of row j in the basis of cell type ct (its other cell types'
 * mean, else its shift in ct where it was measured there only, else NULL),
 * and the mean to centre it with (response_retrieval.c). */
const float *ptrag_row_response(const ptrag_evidence *ev, int ct, long j, const float **mean);
/* Fills ev->resp_mean (needs ev->other_ct). */
int ptrag_response_means(ptrag_evidence *ev, ptrag_error *err);
/* Stage 1 by measured response (response_retrieval.c): fills ev->resp_rows,
 * resp_sim, resp_has (needs ev->resp_mean). */
int ptrag_response_retrieval_build(const ptrag_dataset *d, const ptrag_retrieval *r, double w, ptrag_evidence *ev,
                                   ptrag_error *err);
/* Stage 1's r->K rows (and similarities, when sims is not NULL) for a set of
 * perturbation `pert` in cell type ct: the response ranking where there is
 * one, else the embedding ranking r->topk. */
const int32_t *ptrag_stage1_rows(const ptrag_retrieval *r, const ptrag_evidence *ev, int ct, int pert,
                                 const float **sims);

/* The own-perturbation candidate of a set of perturbation `pert` in cell type
 * ct (model_batch.c): its database row where the retrieval reserves the slot
 * (r->own_slot) and the evidence has its response in another cell type,
 * else -1 (the slot keeps its spare neighbour). */
long ptrag_own_candidate(const ptrag_retrieval *r, const ptrag_evidence *ev, int ct, int pert);

/* scorer_features (candidate_features.c): the PTRAG_CAND_FEATS features of
 * the K candidates rows[0..K) of a set of perturbation `pert` in cell type ct
 * into out[K * PTRAG_CAND_FEATS]; own_last: slot K-1 holds the query's own
 * row (the own slot). Zeros for a control set. */
void ptrag_candidate_features(const ptrag_dataset *d, const ptrag_retrieval *r, const ptrag_evidence *ev, int ct,
                              int pert, const int32_t *rows, int K, int own_last, float *out);

/* K: the retrieval's r->K (0 for the state model). */
int ptrag_step_buffers_new(ptrag_step_buffers *b, const ptrag_config *cfg, int K, ptrag_error *err);
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

/* One rank's share of each training batch under MPI (train_dist.c,
 * docs/distributed.md); with one process the whole batch. */
typedef struct ptrag_train_shard {
    int rank, ranks;
    int batch_sets;     /* of a full batch */
    int first, n;       /* this rank's sets of the current batch */
    int expected_sums;  /* shard_sum calls per training step (model.h) */
    int sums_done;      /* ... made in this step */
    int sum_failed;
    ptrag_error sum_err;
    ptrag_config model_cfg; /* see ptrag_shard_model_config */
    /* rank 0's clock, for ptrag_shard_report */
    long steps, grad_floats;
    double t_reduce, t_stats, t_wait;
} ptrag_train_shard;

/* One line for the progress stream: the time per step spent in the
 * exchanges (none with one process). */
void ptrag_shard_report(const ptrag_train_shard *sh, FILE *f, double seconds);

/* Fails when cfg's batch has fewer sets than there are ranks. */
int ptrag_shard_init(ptrag_train_shard *sh, const ptrag_config *cfg, ptrag_error *err);
/* out = this rank's sets of `whole` (the step's full batch, K_used candidates
 * per set: the retrieval's K, 0 for state), wired to sum the batch-wide
 * statistics over the ranks. One process: out = *whole. */
void ptrag_shard_batch(ptrag_train_shard *sh, const ptrag_config *cfg, int K_used, const ptrag_model_batch *whole,
                       ptrag_model_batch *out);
/* The config a rank other than 0 builds its model with: activations for
 * its share of a batch only (rank 0 needs whole batches: it validates and
 * saves its model's config). One process: cfg. */
const ptrag_config *ptrag_shard_model_config(ptrag_train_shard *sh, const ptrag_config *cfg);
/* MPI: fails on every rank unless each loaded data of rank 0's shape. */
int ptrag_shard_same_data(const ptrag_dataset *d, ptrag_error *err);
/* After this rank's forward + backward (rc: its status): every rank learns
 * of any rank's failure (and returns it), then the losses l and the
 * gradients of ps become the batch's, summed over the ranks in rank order.
 * One process: returns rc. */
int ptrag_shard_step_end(ptrag_train_shard *sh, int rc, ptrag_params *ps, ptrag_model_losses *l,
                         ptrag_error *err);

/* One pass over the validation sets (train.c): mean energy loss and
 * pearson_delta (NaN if there is no validation split). */
int ptrag_validate_pass(const ptrag_dataset *d, ptrag_model *m, const ptrag_retrieval *r, const ptrag_evidence *ev,
                        const ptrag_sampler *val, ptrag_set_batch *sb, ptrag_step_buffers *buf,
                        ptrag_val_pearson *vp, double *out, double *pearson, ptrag_error *err);

/* Calibrates `threshold` selection (calibrate.c): validation pearson_delta of
 * best.ckpt under each keep_threshold of a fixed grid; the best one goes to
 * the run's threshold.txt with the checkpoint's digest and the whole curve. */
int ptrag_calibrate_threshold(const ptrag_dataset *d, const char *run_dir, const ptrag_retrieval *r,
                              const ptrag_evidence *ev, const ptrag_sampler *val, ptrag_set_batch *sb,
                              ptrag_step_buffers *buf, ptrag_val_pearson *vp, ptrag_error *err);

/* The run's calibrated keep_threshold for checkpoint file ckpt_path: 1 and
 * *t when threshold.txt names that checkpoint's digest, 0 when there is no
 * calibration for it (then 0.5, the published argmax, applies); a negative
 * ptrag_status on a read error. */
int ptrag_run_calibrated_threshold(const char *run_dir, const char *ckpt_path, double *t, ptrag_error *err);

#endif
