/* Data-parallel training steps (docs/distributed.md): the pieces of a step
 * that differ when `mpirun -np N` runs N ranks, so train.c keeps one loop.
 *
 * Every rank fills the whole batch of the step (the sampler is a pure
 * function of the seed and the step, so all ranks fill the same one), runs
 * forward and backward on its contiguous share of the sets (rank r of N:
 * sets [r n / N, (r + 1) n / N) of the batch's n), and then the ranks sum
 * their losses and gradients in rank order (ptrag_dist_sum_*). Each share is
 * divided by the whole batch's set count, so the sums are the one-process
 * batch's means whatever the split.
 * Filling the whole batch costs a copy of B x set_size cells per rank, and
 * keeps what is batch-wide (--faithful's retrieval, which excludes set 0's
 * perturbation for all sets) the same as in one process. */
#include <stdio.h>
#include <string.h>

#include "ptrag/dist.h"
#include "ptrag/progress.h"
#include "run_internal.h"

int ptrag_shard_init(ptrag_train_shard *sh, const ptrag_config *cfg, ptrag_error *err) {
    memset(sh, 0, sizeof *sh);
    sh->ranks = ptrag_dist_size();
    sh->rank = ptrag_dist_rank();
    sh->n = sh->batch_sets = cfg->batch_sets;
    if (sh->ranks == 1) return 0;
    if (cfg->batch_sets < sh->ranks)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "batch_sets = %d is smaller than the %d MPI processes: each rank needs at least one set of "
                          "every batch (use fewer processes or a larger --batch)",
                          cfg->batch_sets, sh->ranks);
    sh->first = (int)((long)sh->rank * cfg->batch_sets / sh->ranks);
    sh->n = (int)((long)(sh->rank + 1) * cfg->batch_sets / sh->ranks) - sh->first;
    /* PT-RAG's forward and backward each sum the logit statistics over the
     * shards (model.h shard_sum): 2 calls in forward, 1 in backward. */
    sh->expected_sums = cfg->model == PTRAG_MODEL_PTRAG ? 3 : 0;
    return 0;
}

const ptrag_config *ptrag_shard_model_config(ptrag_train_shard *sh, const ptrag_config *cfg) {
    sh->model_cfg = *cfg;
    /* No rank gets more than ceil(batch / N) sets of a batch. */
    if (sh->ranks > 1) sh->model_cfg.batch_sets = (cfg->batch_sets + sh->ranks - 1) / sh->ranks;
    return &sh->model_cfg;
}

/* The model's shard_sum: sums over ranks, always 2 values (padded), so
 * every call of every rank has one message size. */
static void shard_sum(void *ctx, double *v, int n) {
    ptrag_train_shard *sh = ctx;
    double w[2] = {n > 0 ? v[0] : 0.0, n > 1 ? v[1] : 0.0};
    sh->sums_done++;
    double t0 = ptrag_monotonic_seconds();
    if (ptrag_dist_sum_f64(w, 2, &sh->sum_err) && !sh->sum_failed) sh->sum_failed = 1;
    sh->t_stats += ptrag_monotonic_seconds() - t0;
    for (int i = 0; i < n && i < 2; i++) v[i] = w[i];
}

void ptrag_shard_batch(ptrag_train_shard *sh, const ptrag_config *cfg, int K_used, const ptrag_model_batch *whole,
                       ptrag_model_batch *out) {
    *out = *whole;
    sh->sums_done = 0;
    if (sh->ranks == 1) return;
    /* Rank r: sets [r n / N, (r + 1) n / N) of the batch's n (the last batch
     * of an epoch may be short; a rank may then get none). */
    const int n = whole->n_sets;
    sh->first = (int)((long)sh->rank * n / sh->ranks);
    sh->n = (int)((long)(sh->rank + 1) * n / sh->ranks) - sh->first;
    const size_t f = (size_t)sh->first, S = (size_t)whole->set_len, G = (size_t)cfg->n_genes,
                 K = (size_t)(K_used > 0 ? K_used : 0);
    out->n_sets = sh->n;
    out->shard_first = sh->first;
    out->shard_total_sets = n;
    out->shard_sum = shard_sum;
    out->shard_ctx = sh;
    out->x_ctrl = whole->x_ctrl + f * S * G;
    if (whole->target) out->target = whole->target + f * S * G;
    if (whole->pert_feat) out->pert_feat = whole->pert_feat + f * (size_t)cfg->pert_dim;
    if (whole->pert_id) out->pert_id = whole->pert_id + f;
    if (whole->batch_id) out->batch_id = whole->batch_id + f * S;
    if (whole->cand) out->cand = whole->cand + f * K;
    if (whole->set_control) out->set_control = whole->set_control + f;
    if (whole->cand_shift) out->cand_shift = whole->cand_shift + f * K * G;
}

int ptrag_shard_step_end(ptrag_train_shard *sh, int rc, ptrag_params *ps, ptrag_model_losses *l,
                         ptrag_error *err) {
    if (sh->ranks == 1) return rc;
    /* A rank that failed part-way through forward or backward still makes
     * the statistic sums its peers are waiting in, then everyone agrees. */
    while (sh->sums_done < sh->expected_sums) {
        double pad[2] = {0.0, 0.0};
        shard_sum(sh, pad, 2);
    }
    sh->sums_done = 0; /* the next step's count (also when it fails before its forward) */
    if (!rc && sh->sum_failed) {
        rc = sh->sum_err.code;
        if (err) *err = sh->sum_err;
    }
    double t0 = ptrag_monotonic_seconds();
    rc = ptrag_dist_agree(rc, err);
    double t1 = ptrag_monotonic_seconds();
    sh->t_wait += t1 - t0; /* mostly waiting for the slowest rank */
    if (rc) return rc;
    /* Each rank's losses and gradients are its share of the batch's means
     * (model.h shard_total_sets): the batch's are their sums. */
    double v[5] = {l->loss, l->energy, l->mean_mse, l->sparsity, l->kept_fraction};
    if ((rc = ptrag_dist_sum_f64(v, 5, err))) return rc;
    l->loss = v[0], l->energy = v[1], l->mean_mse = v[2], l->sparsity = v[3], l->kept_fraction = v[4];
    rc = ptrag_dist_sum_f32(ptrag_params_grads(ps), (long)ptrag_params_trainable(ps), 1.0, err);
    sh->t_reduce += ptrag_monotonic_seconds() - t1;
    sh->grad_floats = (long)ptrag_params_trainable(ps);
    sh->steps++;
    return rc;
}

void ptrag_shard_report(const ptrag_train_shard *sh, FILE *f, double seconds) {
    if (sh->ranks == 1 || sh->steps == 0 || !f) return;
    const double n = (double)sh->steps, step = seconds / n;
    const double ex = (sh->t_reduce + sh->t_stats) / n;
    fprintf(f,
            "MPI: %d ranks, %d sets a batch; %.3f s per step, of which the gradient all-reduce (%.1f MB) %.1f ms "
            "and the logit statistics %.1f ms (%.1f %% of the step); waiting for the slowest rank %.1f ms\n",
            sh->ranks, sh->batch_sets, step, (double)sh->grad_floats * 4e-6, 1e3 * sh->t_reduce / n, 1e3 * sh->t_stats / n,
            step > 0 ? 100.0 * ex / step : 0.0, 1e3 * sh->t_wait / n);
}

int ptrag_shard_same_data(const ptrag_dataset *d, ptrag_error *err) {
    if (ptrag_dist_size() == 1) return 0;
    /* What each rank loaded must be what rank 0 loaded (each reads the shared
     * file system on its own node): compare the shapes. */
    long mine[8] = {d->n_cells, d->n_genes, d->feat_dim, d->n_perts, d->n_ct, d->n_batches,
                    d->assign ? d->assign->n_conditions_split[PTRAG_SPLIT_TRAIN] : -1,
                    d->assign ? d->assign->n_conditions_split[PTRAG_SPLIT_VAL] : -1};
    long root[8];
    memcpy(root, mine, sizeof root);
    int rc = ptrag_dist_bcast(root, sizeof root, 0, err);
    if (!rc && memcmp(root, mine, sizeof root) != 0)
        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                        "this rank loaded other data than rank 0 (cells %ld vs %ld, genes %ld vs %ld, feature dim "
                        "%ld vs %ld, training conditions %ld vs %ld): every rank must read the same files",
                        mine[0], root[0], mine[1], root[1], mine[2], root[2], mine[6], root[6]);
    return ptrag_dist_agree(rc, err);
}
