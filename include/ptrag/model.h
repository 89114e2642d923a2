/* Stage src/model of the pipeline (include/ptrag.h, README "Layout"): the network; uses rag, nn, optim, data.
 *
 * The models: STATE transition (state), vanilla retrieval (rag) and PT-RAG
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
 * cells; nothing is allocated inside forward/backward.
 *
 * Threads: OpenMP (OMP_NUM_THREADS) is the only pool; OpenBLAS runs
 * single-threaded inside it (see nn.h). Do not call forward/backward from
 * inside your own parallel region. Results (loss, predictions, gradients) have
 * the same bits for any thread count. Parameter names, the derivation of the
 * folded PT-RAG stage 2 and the tests: docs/model.md. */
#ifndef PTRAG_MODEL_H
#define PTRAG_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ptrag/config.h"
#include "ptrag/error.h"
#include "ptrag/params.h"
#include "ptrag/retrieval.h"

typedef struct ptrag_model ptrag_model;

/* Features per candidate of scorer_features (order: embedding cosine z-score,
 * response correlation z-score, same cell type, own slot). */
#define PTRAG_CAND_FEATS 4

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
    /* Optional (parity tests): Gumbel noise g [n_sets * set_len * K * 2] used
     * instead of the draws from noise_seed wherever noise is drawn (training,
     * and selection "sample"). NULL in normal use. */
    const float *gumbel_noise;
    /* [n_sets] 1 for a control -> control set, or NULL (none): with residual =
     * genes such a set predicts its paired control cells (zero shift). */
    const uint8_t *set_control;
    /* evidence (ptrag): [n_sets * K * G] the measured mean shift of each
     * set's candidates (train_response.c builds them from training conditions) */
    const float *cand_shift;
    /* scorer_features (ptrag): [n_sets * K * PTRAG_CAND_FEATS] features of
     * each set's candidates; stage 2 adds scorer_feat.w . f to the keep logit
     * a^1 (after the std-normalisation). */
    const float *cand_feat;
    /* Data-parallel training (docs/distributed.md): this batch is the sets
     * shard_first .. shard_first + n_sets - 1 of a batch of shard_total_sets
     * sets split over processes. Noise counters then start at the sets'
     * global position; losses and gradients are this shard's share of the
     * whole batch's means (divided by shard_total_sets, not n_sets), so the
     * shards' sum is the batch's; and the one batch-wide statistic (PT-RAG's
     * logit std) is summed over the shards by shard_sum (v[0..n-1] replaced
     * by the sums over every shard; every shard makes the same calls in the
     * same order: 2 in forward, 1 in backward, ptrag only). 0 and NULL: a
     * whole batch. */
    long shard_first;
    int shard_total_sets;
    void (*shard_sum)(void *ctx, double *v, int n);
    void *shard_ctx;
} ptrag_model_batch;

typedef struct ptrag_model_losses {
    double loss;          /* energy + mean_loss * mean_mse + sparsity * sparsity_term */
    double energy;        /* mean over sets */
    double mean_mse;      /* set-mean MSE, mean over sets (0 when mean_loss = 0) */
    double sparsity;      /* mean keep weight (ptrag), else 0 */
    double kept_fraction; /* fraction of (cell, candidate) pairs kept (ptrag) */
} ptrag_model_losses;

/* Registers the parameters for `cfg` (dims must be complete), lays them out
 * and allocates activations. Parameters are not initialised: call
 * ptrag_params_init(ptrag_model_params(m), seed, err).
 * r: the stage-1 retrieval of a rag/ptrag model, the one source of its K
 * (r->K, the config's top_k capped by the database) and of its database
 * (ptrag_model_set_database is applied). NULL for state, or for callers that
 * supply the candidates of every batch and their database themselves (tests,
 * the twin): K is then cfg->top_k. */
int ptrag_model_new(const ptrag_config *cfg, const ptrag_retrieval *r, ptrag_model **out, ptrag_error *err);
void ptrag_model_free(ptrag_model *m);
ptrag_params *ptrag_model_params(ptrag_model *m);
const ptrag_config *ptrag_model_config(const ptrag_model *m);

/* rag/ptrag: the retrieval database, P rows of E features (copied). */
int ptrag_model_set_database(ptrag_model *m, const float *db, long P, ptrag_error *err);

/* Forward pass; fills `out` (may be NULL) when batch->target is given.
 * The batch's arrays are read again by ptrag_model_backward: keep them alive
 * and unchanged until then.
 *
 * Stage-2 selection (ptrag), with a = scorer logits [.., 2] and
 * sigma = max(std_unbiased(all logits of the call), 1e-6), a^ = a / sigma:
 *   training, or selection "sample": w = 1 iff a^1 + g1 > a^0 + g0, g Gumbel
 *       noise from noise_seed; gradient straight through
 *       soft = softmax((a^ + g) / tau) (w = hard - stopgrad(soft) + soft);
 *   "threshold": the same with g = 0 (w = 1 iff a1 > a0); with cfg
 *       keep_threshold t != 1/2: w = 1 iff sigmoid(a^1 - a^0) > t;
 *   "expected": w = sigmoid(a^1 - a^0) = P(w = 1 under the Gumbel draw),
 *       i.e. softmax(a^)[1] without noise and without tau (tau changes the
 *       surrogate gradient, never the draw); exact gradient.
 * Dropout in the scorer is active only when training. */
int ptrag_model_forward(ptrag_model *m, const ptrag_model_batch *batch, ptrag_model_losses *out,
                        ptrag_error *err);
/* Backward of the last forward (which needed a target): accumulates into the
 * parameter gradients (frozen tensors get none; their weight-gradient
 * products are skipped). Works after any forward mode (see above). */
int ptrag_model_backward(ptrag_model *m, ptrag_error *err);

/* Predictions of the last forward: [n_sets * set_len * G]. */
const float *ptrag_model_output(const ptrag_model *m);
/* ptrag: keep weights of the last forward [n_sets * set_len * K] (0/1 when
 * sampled or thresholded; probabilities with selection "expected"); else NULL. */
const float *ptrag_model_keep(const ptrag_model *m);

/* Bytes allocated at creation for activations, gradients of activations,
 * dropout masks and candidate indices (the parameters are extra:
 * 4 x ptrag_params_total floats). Constant over the model's life. */
size_t ptrag_model_activation_bytes(const ptrag_model *m);

/* Floating-point operations this implementation performs for one forward
 * (backward = 0) or one forward + backward (backward = 1), counted from the
 * shapes (multiply-add = 2), for benchmarks. A frozen backbone skips its
 * weight-gradient products, which the count reflects. */
double ptrag_model_flops(const ptrag_config *cfg, int n_sets, int set_len, long P, int backward);
/* The same for the direct formulation that the PyTorch twin computes (ptrag's
 * stage 2 as two Linear(3H -> H) per (cell, candidate) pair; this library
 * folds the LayerNorm into per-cell, per-set and per-row products instead, see
 * src/model/model_ptrag.c). Equal to ptrag_model_flops for state and rag. */
double ptrag_model_flops_dense(const ptrag_config *cfg, int n_sets, int set_len, long P, int backward);

#endif
