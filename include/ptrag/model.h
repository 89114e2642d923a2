/* The models: STATE transition (state), vanilla retrieval (rag) and PT-RAG
 * (ptrag), as forward and backward passes over a batch of cell sets.
 * Mathematics: ../shared/docs/reference-model.md §3-4 and the PyTorch twin
 * dev/twin_model.py (same parameter names).
 *
 *   c  = basal_enc(x_ctrl)                     per cell   [H]
 *   p  = pert_enc(feature of the set's pert)   per set    [H]
 *   state: x0 = c + p
 *   ptrag: u_k = LN([c; p; pert_enc(db[cand_k])]), w_k = hard Gumbel keep of
 *          scorer(u_k) / std, x0 = sum_k w_k ctx_proj(u_k)
 *   rag:   x0 = cross-attention of query(c + p) over key/value(cand_proj(db[cand]))
 *   x0 += batch_emb[batch]  (when the config has batches)
 *   y  = LLaMA(x0) (L layers, RMSNorm, RoPE, causal or bidirectional MHA, SwiGLU)
 *   pred = ReLU(out(y + c));  loss = mean over sets of energy(pred, target)
 *          (+ sparsity * mean(w) for ptrag)
 *
 * Activations live in one arena sized at creation for cfg batch x set_size
 * cells; nothing is allocated inside forward/backward. */
#ifndef PTRAG_MODEL_H
#define PTRAG_MODEL_H

#include <stdint.h>

#include "ptrag/config.h"
#include "ptrag/error.h"
#include "ptrag/params.h"

typedef struct ptrag_model ptrag_model;

typedef struct ptrag_model_batch {
    int n_sets;              /* 1 .. cfg batch */
    int set_len;             /* 1 .. cfg set_size, the same for every set */
    const float *x_ctrl;     /* [n_sets * set_len * G] paired control cells */
    const float *target;     /* [n_sets * set_len * G] real cells, or NULL (no loss) */
    const float *pert_feat;  /* [n_sets * E] perturbation features (embedding mode) */
    const int32_t *pert_id;  /* [n_sets] perturbation ids (one-hot mode), else NULL */
    const int32_t *batch_id; /* [n_sets * set_len] batch ids, or NULL */
    const int32_t *cand;     /* rag/ptrag: [n_sets * K] database rows retrieved by stage 1 */
    uint64_t noise_seed;     /* Gumbel and dropout draws: counter-based from this seed */
    int training;            /* 1: dropout on, Gumbel-sampled selection; 0: cfg selection mode */
} ptrag_model_batch;

typedef struct ptrag_model_losses {
    double loss;          /* energy + sparsity * sparsity_term */
    double energy;        /* mean over sets */
    double sparsity;      /* mean keep weight (ptrag), else 0 */
    double kept_fraction; /* fraction of (cell, candidate) pairs kept (ptrag) */
} ptrag_model_losses;

/* Registers the parameters for `cfg` (dims must be complete), lays them out
 * and allocates activations. Parameters are not initialised: call
 * ptrag_params_init(ptrag_model_params(m), seed, err). */
int ptrag_model_new(const ptrag_config *cfg, ptrag_model **out, ptrag_error *err);
void ptrag_model_free(ptrag_model *m);
ptrag_params *ptrag_model_params(ptrag_model *m);
const ptrag_config *ptrag_model_config(const ptrag_model *m);

/* rag/ptrag: the retrieval database, P rows of E features (copied). */
int ptrag_model_set_database(ptrag_model *m, const float *db, long P, ptrag_error *err);

/* Forward pass; fills `out` when batch->target is given. */
int ptrag_model_forward(ptrag_model *m, const ptrag_model_batch *batch, ptrag_model_losses *out,
                        ptrag_error *err);
/* Backward of the last forward (which needed a target): accumulates into the
 * parameter gradients (frozen tensors get none). */
int ptrag_model_backward(ptrag_model *m, ptrag_error *err);

/* Predictions of the last forward: [n_sets * set_len * G]. */
const float *ptrag_model_output(const ptrag_model *m);
/* ptrag: keep weights of the last forward [n_sets * set_len * K] (0/1 when
 * sampled or thresholded; probabilities with selection "expected"); else NULL. */
const float *ptrag_model_keep(const ptrag_model *m);

/* Floating-point operations of one training step (forward + backward) and of
 * one forward, counted from the shapes, for benchmarks. */
double ptrag_model_flops(const ptrag_config *cfg, int n_sets, int set_len, long P, int backward);

#endif
