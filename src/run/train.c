/* The training loop: see include/ptrag/train.h.
 *
 * Each step: batch `step` of the training sampler (a pure function of the
 * seed and the step) -> gather control and target cells -> stage-1
 * candidates -> forward, backward -> clip -> Adam. Every log_every steps a
 * train_log.csv row; every val_every steps the validation loss, last.ckpt and,
 * when it improved, best.ckpt. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ptrag/blob.h"
#include "ptrag/checkpoint.h"
#include "ptrag/dist.h"
#include "ptrag/fsutil.h"
#include "ptrag/optim.h"
#include "ptrag/progress.h"
#include "ptrag/rng.h"
#include "ptrag/run_dir.h"
#include "ptrag/run_lock.h"
#include "ptrag/run_record.h"
#include "ptrag/train_log.h"
#include "run_internal.h"

/* Streams of the counter-based RNG (noise seeds of steps and validation). */
#define STREAM_TRAIN_NOISE 0x7452u
#define STREAM_VAL_NOISE 0x7653u
#define VAL_SEED_SALT 0x56414cULL


/* Everything the loop carries from step to step; saved in checkpoints so a
 * resumed run continues exactly. */
typedef struct loop_state {
    long step;          /* steps done */
    long adam_step;
    double best_val;
    long best_step;
    double win_loss, win_sparsity, win_kept; /* sums since the last log row */
    long win_n;
    double seconds;     /* training time so far (not saved: from the log on resume) */
    double best_vloss;  /* validation loss at best_step (not saved: only for the summary) */
} loop_state;

static int state_save(const loop_state *s, ptrag_blob *b) {
    int rc = ptrag_blob_put_i64(b, s->best_step);
    rc |= ptrag_blob_put_f64(b, s->best_val);
    rc |= ptrag_blob_put_f64(b, s->win_loss);
    rc |= ptrag_blob_put_f64(b, s->win_sparsity);
    rc |= ptrag_blob_put_f64(b, s->win_kept);
    rc |= ptrag_blob_put_i64(b, s->win_n);
    return rc; /* not the wall-clock seconds: checkpoints stay bit-identical across resumes */
}

static int state_load(loop_state *s, const void *data, size_t len, ptrag_error *err) {
    ptrag_blob b;
    ptrag_blob_view(&b, data, len);
    int64_t best_step = 0, win_n = 0; /* a short blob fails part-way: never copy garbage */
    int rc = ptrag_blob_get_i64(&b, &best_step, err);
    if (!rc) rc = ptrag_blob_get_f64(&b, &s->best_val, err);
    if (!rc) rc = ptrag_blob_get_f64(&b, &s->win_loss, err);
    if (!rc) rc = ptrag_blob_get_f64(&b, &s->win_sparsity, err);
    if (!rc) rc = ptrag_blob_get_f64(&b, &s->win_kept, err);
    if (!rc) rc = ptrag_blob_get_i64(&b, &win_n, err);
    s->best_step = (long)best_step;
    s->win_n = (long)win_n;
    return rc;
}

static int save_checkpoint(const char *run_dir, const char *which, ptrag_model *m, const loop_state *s,
                           ptrag_error *err) {
    if (ptrag_dist_rank() != 0) return 0; /* MPI: rank 0 writes the run's files */
    char path[4096];
    int rc = ptrag_run_path(run_dir, which, path, sizeof path, err);
    if (rc) return rc;
    ptrag_blob b;
    ptrag_blob_init(&b);
    if (state_save(s, &b)) {
        ptrag_blob_free(&b);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    }
    rc = ptrag_ckpt_save(path, ptrag_model_config(m), ptrag_model_params(m), s->step, s->adam_step, b.data, b.len,
                         err);
    ptrag_blob_free(&b);
    if (!rc) rc = ptrag_run_record_note(run_dir, path, "train", NULL, err);
    return rc;
}

double ptrag_lr_factor(const ptrag_config *cfg, long step) {
    double f = 1.0;
    if (cfg->warmup > 0 && step < cfg->warmup) f = (double)(step + 1) / (double)cfg->warmup;
    if (cfg->lr_schedule == PTRAG_LR_COSINE) {
        long span = cfg->steps - cfg->warmup;
        double t = span > 0 ? (double)(step - cfg->warmup) / (double)span : 1.0;
        if (t < 0) t = 0;
        if (t > 1) t = 1;
        f *= 0.5 * (1.0 + cos(3.14159265358979323846 * t));
    }
    return f;
}

/* Clip the global gradient norm of the trainable parameters (one tensor: the
 * trainable prefix of the arena; a fixed-order norm, so the step does not
 * depend on the thread count), then Adam. */
static void optimizer_step(ptrag_model *m, loop_state *s) {
    const ptrag_config *cfg = ptrag_model_config(m);
    ptrag_params *ps = ptrag_model_params(m);
    long n = (long)ptrag_params_trainable(ps);
    if (n == 0) return;
    float *g = ptrag_params_grads(ps);
    ptrag_param_tensor all = {ptrag_params_values(ps), g, ptrag_params_adam_m(ps), ptrag_params_adam_v(ps), n, 0};
    ptrag_clip_grad_norm(&all, 1, cfg->clip_norm);
    ptrag_adam_config ac = ptrag_adam_defaults((float)(cfg->lr * ptrag_lr_factor(cfg, s->adam_step)));
    ac.beta1 = (float)cfg->beta1;
    ac.beta2 = (float)cfg->beta2;
    ac.eps = (float)cfg->adam_eps;
    ac.weight_decay = (float)cfg->weight_decay;
    ac.decoupled = cfg->weight_decay > 0;
    s->adam_step++;
    ptrag_adam_update(ptrag_params_values(ps), g, ptrag_params_adam_m(ps), ptrag_params_adam_v(ps), n, &ac,
                      s->adam_step);
}

/* Mean energy loss and pearson_delta over one pass of the validation sets
 * (NaN if none). */
int ptrag_validate_pass(const ptrag_dataset *d, ptrag_model *m, const ptrag_retrieval *r, const ptrag_evidence *ev,
                        const ptrag_sampler *val, ptrag_set_batch *sb, ptrag_step_buffers *buf,
                        ptrag_val_pearson *vp, double *out, double *pearson, ptrag_error *err) {
    *out = *pearson = NAN;
    if (!val) return 0;
    ptrag_val_pearson_reset(vp);
    const ptrag_config *cfg = ptrag_model_config(m);
    double sum = 0;
    long sets = 0;
    for (long i = 0; i < ptrag_sampler_batches_per_epoch(val); i++) {
        int rc = ptrag_sampler_batch(val, i, sb, err);
        ptrag_model_batch mb;
        if (!rc)
            rc = ptrag_fill_model_batch(d, cfg, r, ev, sb->set_celltype, sb->set_pert, sb->n_sets, cfg->set_size, sb->target_rows,
                                        sb->control_rows, sb->batch_ids, 0, buf, &mb, err);
        if (rc) return rc;
        mb.noise_seed = ptrag_hash_u64(cfg->seed, STREAM_VAL_NOISE, (uint64_t)i);
        mb.training = 0;
        ptrag_model_losses l;
        if ((rc = ptrag_model_forward(m, &mb, &l, err))) return rc;
        ptrag_val_pearson_add(vp, sb->set_condition, sb->n_sets, cfg->set_size, ptrag_model_output(m), mb.target,
                              mb.x_ctrl);
        sum += l.energy * sb->n_sets;
        sets += sb->n_sets;
    }
    *out = sets ? sum / sets : NAN;
    *pearson = ptrag_val_pearson_result(vp);
    return 0;
}

/* The `seconds` of the log row at `step` (0 if none): a resumed run's clock
 * continues from there. */
static double last_logged_seconds(const char *log_path, long step) {
    char *text = NULL;
    double secs = 0;
    if (ptrag_read_file(log_path, &text, NULL, NULL)) return 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *end;
        long st = strtol(line, &end, 10);
        if (end == line || *end != ',' || st != step) continue;
        const char *f = end;
        for (int comma = 0; comma < 2 && f; comma++) f = strchr(f + 1, ',');
        if (f) secs = strtod(f + 1, NULL);
    }
    free(text);
    return secs;
}

static int make_sampler(const ptrag_dataset *d, const ptrag_config *cfg, int split, uint64_t seed,
                        ptrag_sampler **out, ptrag_error *err) {
    ptrag_sampler_opts so;
    ptrag_sampler_opts_default(&so);
    so.split = split;
    so.mode = PTRAG_SETS_TRAIN;
    so.set_size = cfg->set_size;
    so.batch_sets = cfg->batch_sets;
    so.seed = seed;
    so.include_control_sets = 1;
    return ptrag_sampler_new(d->assign, &so, out, err);
}

/* The input files whose checksums meta.txt records (and --resume re-checks):
 * the split, each data file ("data", then "data2", "data3", ... when the split
 * names several) and the embeddings. `in` and `roles` hold 2 + d->n_files. */
static int run_inputs(const ptrag_dataset *d, const ptrag_train_opts *o, ptrag_run_input *in, char (*roles)[16]) {
    int n = 0;
    in[n++] = (ptrag_run_input){"split", o->split_path ? o->split_path : d->split_path};
    for (int k = 0; k < d->n_files && !d->in_memory; k++) { /* in memory: no file to checksum */
        if (k) snprintf(roles[k], sizeof roles[k], "data%d", k + 1);
        in[n++] = (ptrag_run_input){k ? roles[k] : "data", d->files[k]};
    }
    if (o->data_opts && o->data_opts->embeddings) in[n++] = (ptrag_run_input){"embeddings", o->data_opts->embeddings};
    return n;
}

/* Records in the run's record.txt the files `names` of RUN_DIR, written by train. */
static int note_run_files(const char *run_dir, const char *const *names, int n, ptrag_error *err) {
    if (ptrag_dist_rank() != 0) return 0;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        char path[4096];
        rc = ptrag_run_path(run_dir, names[i], path, sizeof path, err);
        if (!rc && ptrag_path_exists(path)) rc = ptrag_run_record_note(run_dir, path, "train", NULL, err);
    }
    return rc;
}

/* The settings of this run (record.txt): what the caller asked for, so an
 * experiment can compare them before training (see run_record.h). */
static int run_settings(const ptrag_dataset *d, const ptrag_train_opts *o, char **text, uint32_t *digest,
                        ptrag_error *err) {
    /* In-memory data (the Python binding) has no file to checksum: "none". */
    return ptrag_run_settings_files(&o->cfg, o->data_opts, o->split_path ? o->split_path : d->split_path,
                                    (const char *const *)d->files, d->in_memory ? 0 : d->n_files, text, digest,
                                    err);
}

/* On resume: the record's settings with steps = cfg->steps. */
static int resume_settings(const ptrag_dataset *d, const ptrag_train_opts *o, const ptrag_config *cfg,
                           ptrag_error *err) {
    if (ptrag_dist_rank() != 0) return 0;
    ptrag_run_record rec;
    int rc = ptrag_run_record_read(o->run_dir, &rec, err);
    if (rc) return rc;
    char *settings = NULL;
    uint32_t digest;
    if (rec.settings) {
        char steps[64];
        snprintf(steps, sizeof steps, "%ld", cfg->steps);
        rc = ptrag_run_settings_replace(rec.settings, "steps", steps, &settings, err);
    } else {
        ptrag_train_opts ro = *o;
        ro.cfg = *cfg;
        rc = run_settings(d, &ro, &settings, &digest, err);
    }
    ptrag_run_record_free(&rec);
    if (!rc) rc = ptrag_run_record_set_settings(o->run_dir, settings, err);
    free(settings);
    return rc;
}

static int write_run_files(const ptrag_dataset *d, const ptrag_train_opts *o, const ptrag_config *cfg,
                           ptrag_error *err) {
    if (ptrag_dist_rank() != 0) return 0;
    char *settings;
    uint32_t digest;
    int rc = run_settings(d, o, &settings, &digest, err);
    if (rc) return rc;
    /* A fresh run never mixes its files with another run's: a directory that
     * holds files is only trained into when its record has these very
     * settings (an interrupted start), or after o->overwrite cleared it. */
    if (o->overwrite && ptrag_dir_nonempty(o->run_dir)) {
        rc = ptrag_run_dir_clear(o->run_dir, err);
        if (!rc && o->progress) fprintf(o->progress, "--overwrite: deleted the old run's files in %s\n", o->run_dir);
    }
    /* A run resumed before its first checkpoint is this run (resume_settings
     * already updated its record). */
    if (!rc && !o->resume && ptrag_dir_nonempty(o->run_dir)) {
        ptrag_run_record old;
        rc = ptrag_run_record_read(o->run_dir, &old, err);
        if (!rc && (!old.settings || old.digest != digest)) {
            char diff[1024] = "";
            if (old.settings) ptrag_run_settings_diff(old.settings, settings, diff, sizeof diff);
            rc = ptrag_fail(err, PTRAG_E_STATE,
                            "%s: already holds %s%s%s; resume it, choose another directory, or overwrite it", o->run_dir,
                            old.settings ? "a run with other settings (" : "files of another run",
                            diff, old.settings ? ")" : "");
        }
        ptrag_run_record_free(&old);
    }
    if (!rc) rc = ptrag_run_dir_create(o->run_dir, 0, err);
    if (!rc && !o->resume) rc = ptrag_run_record_set_settings(o->run_dir, settings, err);
    free(settings);
    if (rc) return rc;
    /* A run resumed before its first checkpoint keeps its own command line. */
    if (!rc && o->argc > 0 && !o->resume) rc = ptrag_run_write_command(o->run_dir, o->argc, o->argv, err);
    if (!rc) rc = ptrag_run_write_config(o->run_dir, cfg, err);
    if (!rc) rc = ptrag_run_write_genes(o->run_dir, d, err);
    if (!rc && o->split_path && o->data_opts) {
        ptrag_dataset_opts dopts = *o->data_opts;
        dopts.batch_col = d->batch_col; /* the column actually used (NULL when absent) */
        rc = ptrag_run_data_write(o->run_dir, o->split_path, &dopts, err);
    }
    if (!rc) {
        ptrag_run_input *in = calloc((size_t)d->n_files + 2, sizeof *in);
        char(*roles)[16] = calloc((size_t)d->n_files + 1, sizeof *roles);
        if (!in || !roles) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        if (!rc) rc = ptrag_run_write_meta(o->run_dir, cfg->seed, in, run_inputs(d, o, in, roles), time(NULL), err);
        free(in);
        free(roles);
    }
    const char *written[] = {PTRAG_RUN_COMMAND, PTRAG_RUN_CONFIG, "genes.txt", "data.txt", PTRAG_RUN_META};
    if (!rc) rc = note_run_files(o->run_dir, written, 5, err);
    return rc;
}

int ptrag_train(const ptrag_dataset *d, const ptrag_train_opts *o, ptrag_train_result *res, ptrag_error *err) {
    memset(res, 0, sizeof *res);
    ptrag_config cfg = o->cfg;
    int rc = ptrag_fill_data_dims(&cfg, d, err);
    ptrag_train_shard sh;
    if (!rc) rc = ptrag_shard_init(&sh, &cfg, err); /* MPI: before anything is written */
    /* MPI: every rank gets here before rank 0, the only writer, touches the
     * run directory; the others only compute (docs/distributed.md). */
    const int writer = ptrag_dist_rank() == 0, shared0 = ptrag_dist_failures_shared();
    ptrag_train_opts quiet;
    if (!writer) {
        quiet = *o;
        quiet.progress = NULL;
        o = &quiet;
    }
    if ((rc = ptrag_dist_agree(rc, err)) || (rc = ptrag_shard_same_data(d, err))) return rc;
    ptrag_retrieval *r = NULL;
    ptrag_model *m = NULL;
    ptrag_sampler *train = NULL, *val = NULL;
    ptrag_ckpt *ck = NULL;
    ptrag_train_log *log = NULL;
    ptrag_set_batch sb;
    ptrag_step_buffers buf;
    memset(&sb, 0, sizeof sb);
    memset(&buf, 0, sizeof buf);
    loop_state s = {.best_val = INFINITY, .best_step = -1, .best_vloss = NAN};
    ptrag_run_lock lock = {-1};
    ptrag_val_pearson vp;
    memset(&vp, 0, sizeof vp);
    ptrag_evidence ev;
    memset(&ev, 0, sizeof ev);
    int setup_shared = 0, io_pending = 0;

    if (cfg.model != PTRAG_MODEL_STATE) {
        if ((rc = ptrag_retrieval_build(d, cfg.db, cfg.top_k, cfg.own_other_celltypes, &r, err))) goto done;
        if (r->K != cfg.top_k + r->own_slot && o->progress)
            fprintf(o->progress, "note: top_k %d%s is capped at %d (database of %ld perturbations)\n", cfg.top_k,
                    r->own_slot ? " + the own slot" : "", r->K, r->P);
    }
    /* One process per run directory, taken before anything is written. */
    if (writer && !o->resume && (rc = ptrag_run_dir_create(o->run_dir, 0, err))) goto done;
    if (writer && (rc = ptrag_run_lock_acquire(o->run_dir, &lock, err))) goto done;
    int from_checkpoint = o->resume;
    if (o->resume) {
        /* A run killed before its first checkpoint has nothing to continue
         * from: it starts again at step 0 with its own settings, which gives
         * the same run as if it had never stopped. */
        char last[4096];
        if ((rc = ptrag_run_path(o->run_dir, PTRAG_RUN_LAST, last, sizeof last, err))) goto done;
        from_checkpoint = ptrag_path_exists(last);
        if (!from_checkpoint && o->progress)
            fprintf(o->progress, "note: %s has no checkpoint yet: starting it from step 0\n", o->run_dir);
    }
    if (from_checkpoint) {
        /* The data must be the bytes the run started on (meta.txt checksums). */
        ptrag_run_input *in = calloc((size_t)d->n_files + 2, sizeof *in);
        char(*roles)[16] = calloc((size_t)d->n_files + 1, sizeof *roles);
        int n_in = in && roles ? run_inputs(d, o, in, roles) : 0;
        if (!in || !roles) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        for (int i = 0; i < n_in && !rc; i++) {
            rc = ptrag_run_check_inputs(o->run_dir, &in[i], 1, err);
            /* A run started on in-memory data (Python) has no data checksum. */
            if (rc == PTRAG_E_NOTFOUND && strcmp(in[i].role, "data") == 0) rc = 0;
        }
        free(in);
        free(roles);
        if (rc) goto done;
        char path[4096];
        if ((rc = ptrag_run_checkpoint_path(o->run_dir, "last", path, sizeof path, err))) goto done;
        if ((rc = ptrag_ckpt_open(path, &ck, err))) goto done;
        ptrag_config saved;
        if ((rc = ptrag_ckpt_config(ck, &saved, err))) goto done;
        if ((rc = ptrag_config_check_compatible(&saved, &cfg, "checkpoint", err))) goto done;
        long steps = cfg.steps;
        cfg = saved; /* the run's own settings; only the step budget changes */
        cfg.steps = steps;
    } else {
        /* Resumed from step 0: the record first takes the new step budget,
         * so write_run_files sees the run's own settings. */
        if (o->resume && (rc = resume_settings(d, o, &cfg, err))) goto done;
        if ((rc = write_run_files(d, o, &cfg, err))) goto done;
    }
    if ((rc = ptrag_model_new(writer ? &cfg : ptrag_shard_model_config(&sh, &cfg), r, &m, err))) goto done;
    if (ck) {
        size_t len;
        const void *st = ptrag_ckpt_state(ck, &len);
        if ((rc = ptrag_ckpt_restore(ck, &cfg, ptrag_model_params(m), 1, err))) goto done;
        if ((rc = state_load(&s, st, len, err))) goto done;
        s.step = (long)ptrag_ckpt_step(ck);
        s.adam_step = (long)ptrag_ckpt_adam_step(ck);
        if (writer && (rc = ptrag_run_write_config(o->run_dir, &cfg, err))) goto done;
        /* The record now describes the longer run: its settings with the new
         * step budget (a run from before records gets one from its config). */
        if ((rc = resume_settings(d, o, &cfg, err))) goto done;
        const char *cfg_file[] = {PTRAG_RUN_CONFIG};
        if (!rc) rc = note_run_files(o->run_dir, cfg_file, 1, err);
        if (rc) goto done;
    } else if ((rc = ptrag_params_init(ptrag_model_params(m), cfg.seed, err))) {
        goto done;
    } else if (cfg.residual == PTRAG_RESIDUAL_GENES) {
        ptrag_params *ps = ptrag_model_params(m);
        if ((rc = ptrag_mean_training_shift(d, ptrag_params_value(ps, ptrag_params_find(ps, "out.b")), err)))
            goto done;
    }
    if ((rc = ptrag_val_pearson_new(&vp, d, err))) goto done;
    if (cfg.evidence && (rc = ptrag_evidence_build(d, r, &cfg, &ev, err))) goto done;

    if ((rc = make_sampler(d, &cfg, PTRAG_SPLIT_TRAIN, cfg.seed, &train, err))) goto done;
    if (d->assign->n_conditions_split[PTRAG_SPLIT_VAL] > 0 &&
        (rc = make_sampler(d, &cfg, PTRAG_SPLIT_VAL, cfg.seed ^ VAL_SEED_SALT, &val, err)))
        goto done;
    if ((rc = ptrag_set_batch_alloc(&sb, cfg.batch_sets, cfg.set_size, err))) goto done;
    if ((rc = ptrag_step_buffers_new(&buf, &cfg, r ? r->K : 0, err))) goto done;

    /* val_pearson_delta last: readers find kept_fraction at column 6 */
    const char *extra_ptrag[3] = {"sparsity_loss", "kept_fraction", "val_pearson_delta"};
    const char *extra_other[1] = {"val_pearson_delta"};
    const char *const *extra = cfg.model == PTRAG_MODEL_PTRAG ? extra_ptrag : extra_other;
    int n_extra = cfg.model == PTRAG_MODEL_PTRAG ? 3 : 1;
    char log_path[4096];
    if ((rc = ptrag_run_path(o->run_dir, PTRAG_RUN_LOG, log_path, sizeof log_path, err))) goto done;
    if (ck) s.seconds = last_logged_seconds(log_path, s.step);
    if (writer && (rc = ptrag_train_log_open(log_path, extra, n_extra, ck ? s.step : -1, &log, err))) goto done;
    ptrag_ckpt_close(ck);
    ck = NULL;
    /* MPI: a rank that failed above stops every rank here (see done:). */
    setup_shared = 1;
    if ((rc = ptrag_dist_agree(0, err))) goto done;

    long log_every = cfg.val_every > 0 ? (cfg.val_every < 50 ? cfg.val_every : 50) : 50;
    ptrag_progress prog;
    double t0 = ptrag_monotonic_seconds(), seconds0 = s.seconds;
    if (o->progress) ptrag_progress_start(&prog, o->progress, o->progress_tty, s.step, cfg.steps, log_every, t0);
    while (s.step < cfg.steps) {
        long step = s.step;
        ptrag_model_batch whole, mb;
        ptrag_model_losses l = {0};
        rc = ptrag_sampler_batch(train, step, &sb, err);
        if (!rc)
            rc = ptrag_fill_model_batch(d, &cfg, r, &ev, sb.set_celltype, sb.set_pert, sb.n_sets, cfg.set_size,
                                        sb.target_rows, sb.control_rows, sb.batch_ids, cfg.faithful, &buf, &whole, err);
        if (!rc) {
            whole.noise_seed = ptrag_hash_u64(cfg.seed, STREAM_TRAIN_NOISE, (uint64_t)step);
            whole.training = 1;
            ptrag_shard_batch(&sh, &cfg, r ? r->K : 0, &whole, &mb); /* MPI: this rank's sets; else the batch */
            ptrag_params_zero_grad(ptrag_model_params(m));
            if (mb.n_sets > 0) rc = ptrag_model_forward(m, &mb, &l, err); /* MPI: a short batch may leave none */
        }
        if (!rc && mb.n_sets > 0 && isfinite(l.loss)) rc = ptrag_model_backward(m, err);
        /* MPI: the batch's loss and gradient, summed over the ranks. */
        if ((rc = ptrag_shard_step_end(&sh, rc, ptrag_model_params(m), &l, err))) break;
        if (!isfinite(l.loss)) {
            rc = ptrag_fail(err, PTRAG_E_NUMERIC,
                            "training diverged at step %ld: the loss is %g; %s/last.ckpt keeps the last good "
                            "weights",
                            step + 1, l.loss, o->run_dir);
            break;
        }
        optimizer_step(m, &s);
        s.step = step + 1;
        s.win_loss += l.loss;
        s.win_sparsity += l.sparsity;
        s.win_kept += l.kept_fraction;
        s.win_n++;
        double now = ptrag_monotonic_seconds();
        s.seconds = seconds0 + (now - t0);
        if (o->progress) ptrag_progress_update(&prog, s.step, l.loss, now);

        int do_val = cfg.val_every > 0 && (s.step % cfg.val_every == 0 || s.step == cfg.steps);
        int do_log = s.step % log_every == 0 || s.step == cfg.steps;
        /* MPI: rank 0 validates and writes; a failure there is shared below. */
        io_pending = do_val || do_log || s.step == cfg.steps;
        if ((do_val || do_log) && ptrag_params_check_finite(ptrag_model_params(m), NULL)) {
            rc = ptrag_fail(err, PTRAG_E_NUMERIC,
                            "training diverged by step %ld: parameters became non-finite; %s/last.ckpt keeps the "
                            "last good weights",
                            s.step, o->run_dir);
            break;
        }
        double vloss = NAN, vpearson = NAN;
        if (do_val && writer) {
            if ((rc = ptrag_validate_pass(d, m, r, &ev, val, &sb, &buf, &vp, &vloss, &vpearson, err))) break;
            /* best_val: the selection score, lower is better */
            double score = cfg.select_by == PTRAG_SELECT_BY_PEARSON ? -vpearson : vloss;
            int improved = isfinite(score) && score < s.best_val;
            if (improved) {
                s.best_val = score;
                s.best_step = s.step;
                s.best_vloss = vloss;
            }
            if (o->progress && isfinite(vloss))
                ptrag_progress_message(&prog, "step %ld: val_loss %.5f, val pearson_delta %.4f%s", s.step, vloss,
                                       vpearson, improved ? " (best)" : "");
            /* best.ckpt: the best validation loss so far (or the latest
             * weights when there is no validation split). */
            if ((improved || !val) && (rc = save_checkpoint(o->run_dir, PTRAG_RUN_BEST, m, &s, err))) break;
        }
        if (do_log) {
            double mean = s.win_n ? s.win_loss / s.win_n : NAN;
            double ex[3] = {s.win_n ? s.win_sparsity / s.win_n : NAN, s.win_n ? s.win_kept / s.win_n : NAN, vpearson};
            if (cfg.model != PTRAG_MODEL_PTRAG) ex[0] = vpearson;
            if (log && (rc = ptrag_train_log_row(log, s.step, mean, vloss, s.seconds, ex, err))) break;
            res->final_train_loss = mean;
            s.win_loss = s.win_sparsity = s.win_kept = 0;
            s.win_n = 0;
        }
        if (do_val || s.step == cfg.steps) {
            if ((rc = save_checkpoint(o->run_dir, PTRAG_RUN_LAST, m, &s, err))) break;
            if (!val && !do_val && (rc = save_checkpoint(o->run_dir, PTRAG_RUN_BEST, m, &s, err))) break;
        }
        if (io_pending) {
            io_pending = 0;
            if ((rc = ptrag_dist_agree(0, err))) break;
        }
        if (o->on_step && o->on_step(o->on_step_ctx, s.step, cfg.steps, l.loss) && s.step < cfg.steps) {
            /* Stopped on request: keep this step so --resume continues it. */
            if (!(rc = save_checkpoint(o->run_dir, PTRAG_RUN_LAST, m, &s, err)))
                rc = ptrag_fail(err, PTRAG_E_CANCELLED,
                                "%s: training stopped at step %ld of %ld; last.ckpt holds it (continue with "
                                "ptrag train --resume %s --steps %ld)",
                                o->run_dir, s.step, cfg.steps, o->run_dir, cfg.steps);
            break;
        }
    }
    if (io_pending) rc = ptrag_dist_agree(rc, err); /* rank 0 broke out while writing */
    if (o->progress) ptrag_progress_finish(&prog);
    ptrag_shard_report(&sh, o->progress, s.seconds - seconds0);
    /* threshold selection's keep_threshold, chosen on validation for best.ckpt */
    if (!rc && writer && cfg.model == PTRAG_MODEL_PTRAG && val && s.step == cfg.steps && s.best_step >= 0) {
        if (o->progress) fprintf(o->progress, "calibrating keep_threshold on the validation conditions\n");
        rc = ptrag_calibrate_threshold(d, o->run_dir, r, &ev, val, &sb, &buf, &vp, err);
        const char *th_file[] = {PTRAG_RUN_THRESHOLD};
        if (!rc) rc = note_run_files(o->run_dir, th_file, 1, err);
    }
    res->steps = s.step;
    res->best_val_loss = cfg.select_by == PTRAG_SELECT_BY_LOSS ? (isfinite(s.best_val) ? s.best_val : NAN)
                                                                 : s.best_vloss;
    res->best_step = s.best_step;
    res->seconds = s.seconds;
done:
    /* MPI: pairs with the others' agreement after setup. */
    if (!setup_shared) rc = ptrag_dist_agree(rc, err);
    if (log) {
        ptrag_error e2;
        if (ptrag_train_log_close(log, &e2) && !rc) {
            rc = e2.code;
            if (err) *err = e2;
        }
        const char *log_file[] = {PTRAG_RUN_LOG};
        if (!rc) rc = note_run_files(o->run_dir, log_file, 1, err);
    }
    ptrag_run_lock_release(&lock);
    ptrag_ckpt_close(ck);
    ptrag_val_pearson_free(&vp);
    ptrag_evidence_free(&ev);
    ptrag_set_batch_free(&sb);
    ptrag_step_buffers_free(&buf);
    ptrag_sampler_free(train);
    ptrag_sampler_free(val);
    ptrag_model_free(m);
    ptrag_retrieval_free(r);
    /* MPI: a failure of rank 0's last writes (log, record) stops everyone. */
    if (ptrag_dist_failures_shared() == shared0) rc = ptrag_dist_agree(rc, err);
    return rc;
}
