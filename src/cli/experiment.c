/* The experiment driver: see experiment.h and cmd_experiment.c. */
#define _POSIX_C_SOURCE 200809L
#include "cli/experiment.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "ptrag/baselines.h"
#include "ptrag/checksum.h"
#include "ptrag/checkpoint.h"
#include "ptrag/dist.h"
#include "ptrag/eval_files.h"
#include "ptrag/fsutil.h"
#include "ptrag/pred_plan.h"
#include "ptrag/progress.h"
#include "ptrag/report.h"
#include "ptrag/run_record.h"
#include "ptrag/simulate.h"
#include "ptrag/train.h"
#include "cli/experiment_report.h"

#define PRED_SEED 42

/* snprintf into a 4096-byte path buffer (paths longer than that are cut). */
static void pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, 4096, fmt, ap);
    va_end(ap);
}

static const char *const selection_names[3] = {"expected", "threshold", "sample"};

static void row_init(exp_row *r, const char *name, int n_seeds) {
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->per_seed = calloc((size_t)n_seeds, sizeof *r->per_seed);
}

/* Mean +- sd over seeds of each metric's mean over conditions. */
static void row_aggregate(exp_row *r) {
    ptrag_report_combine_seeds((const ptrag_metric_summary(*)[PTRAG_M_COUNT])r->per_seed, r->n_seeds, r->summary);
}

/* Scores `pred` into DIR/summary.csv and DIR/per_condition.csv, or reuses
 * them when `record_dir`'s record holds them for these very pred and real
 * bytes and metric set. Every score uses the experiment's pert_ref.h5ad. */
static int score(const char *pred, const char *real, const char *dir, const char *record_dir,
                 const ptrag_experiment *ex, ptrag_metric_summary out[PTRAG_M_COUNT], ptrag_error *err) {
    const ptrag_dataset_opts *dopts = &ex->data_opts;
    char summary[4096], per_cond[4096], key[256], ref[4096];
    pathf(ref, "%s/pert_ref.h5ad", ex->dir);
    pathf(summary, "%s/summary.csv", dir);
    pathf(per_cond, "%s/per_condition.csv", dir);
    ptrag_eval_files_opts o;
    ptrag_eval_files_opts_default(&o);
    o.pert_col = dopts->pert_col;
    o.control = dopts->control;
    o.celltype_col = dopts->celltype_col;
    o.pert_ref = ref;
    int rc = ptrag_score_key(pred, real, &o.metrics, key, sizeof key, err);
    if (rc) return rc;
    if (ptrag_run_record_is_current(record_dir, summary, key)) return ptrag_eval_read_summary_csv(summary, out, err);
    ptrag_eval_result res;
    rc = ptrag_eval_files(pred, real, &o, &res, err);
    if (rc) return rc;
    rc = ptrag_eval_write_csv(&res, dir, err);
    memcpy(out, res.summary, sizeof res.summary);
    ptrag_eval_result_free(&res);
    if (!rc) rc = ptrag_run_record_note(record_dir, per_cond, "experiment", key, err);
    if (!rc) rc = ptrag_run_record_note(record_dir, summary, "experiment", key, err);
    return rc;
}

/* The key of the experiment's real cells (DIR/real.h5ad, DIR/val_real.h5ad)
 * and baselines: the data they come from. */
static int data_key(const ptrag_experiment *ex, const ptrag_dataset *d, const char *what, char *key, size_t n,
                    ptrag_error *err) {
    char *text;
    uint32_t digest;
    int rc = ptrag_data_settings_files(&ex->data_opts, ex->split, (const char *const *)d->files,
                                       d->n_files, &text, &digest, err);
    if (rc) return rc;
    free(text);
    snprintf(key, n, "%s,data=%08x", what, (unsigned)digest);
    return 0;
}

/* The settings (record.txt) of seed `seed_i` of model `mi`, and its folder. */
static int run_settings_of(const ptrag_experiment *ex, const ptrag_dataset *d, int mi, int seed_i, char *run,
                           char **settings, uint32_t *digest, ptrag_error *err) {
    ptrag_config cfg = ex->cfg[mi];
    cfg.seed += (uint64_t)seed_i;
    pathf(run, "%s/runs/%s-seed%llu", ex->dir, ex->model_names[mi], (unsigned long long)cfg.seed);
    return ptrag_run_settings_files(&cfg, &ex->data_opts, ex->split, (const char *const *)d->files, d->n_files,
                                    settings, digest, err);
}

/* Before any work: each run folder that exists must hold the run this
 * command asks for. Without --overwrite, one that does not stops the
 * experiment, naming what differs, so old results are never replaced
 * unasked and never reported as new ones. */
static int check_runs(const ptrag_experiment *ex, const ptrag_dataset *d, ptrag_error *err) {
    int n_bad = 0, rc = 0;
    for (int mi = 0; mi < ex->n_models && !rc; mi++)
        for (int s = 0; s < ex->n_seeds && !rc; s++) {
            char run[4096], why[3072], *settings;
            uint32_t digest;
            if ((rc = run_settings_of(ex, d, mi, s, run, &settings, &digest, err))) break;
            int m = ptrag_run_dir_match(run, settings, why, sizeof why);
            free(settings);
            if (m != PTRAG_RUN_DIFFERS) continue;
            if (!ex->overwrite) fprintf(stderr, "ptrag experiment: %s holds another run: %s\n", run, why);
            else fprintf(stderr, "--overwrite: %s will be retrained (%s)\n", run, why);
            n_bad++;
        }
    if (!rc && n_bad && !ex->overwrite)
        rc = ptrag_fail(err, PTRAG_E_STATE,
                        "%s: %d run folder(s) hold runs with other settings than this command's, or without a "
                        "record (above); their results would not describe this command. Use a new --out, or "
                        "pass --overwrite to retrain them (deleting their old files)",
                        ex->dir, n_bad);
    return rc;
}

/* Steps already done by a run (0 when it has no last.ckpt). */
static long run_steps_done(const char *run) {
    char path[4096];
    pathf(path, "%s/last.ckpt", run);
    if (!ptrag_path_exists(path)) return 0;
    ptrag_ckpt *ck;
    ptrag_error err;
    if (ptrag_ckpt_open(path, &ck, &err)) return 0;
    long s = (long)ptrag_ckpt_step(ck);
    ptrag_ckpt_close(ck);
    return s;
}

/* Training options of run `run` (seed seed_i of model mi). */
static void train_opts_of(const ptrag_experiment *ex, int mi, int seed_i, const char *run, ptrag_train_opts *to) {
    memset(to, 0, sizeof *to);
    to->cfg = ex->cfg[mi];
    to->cfg.seed += (uint64_t)seed_i;
    to->run_dir = run;
    to->progress = ex->quiet ? NULL : stderr;
    to->progress_tty = cli_stderr_is_tty();
    to->argc = ex->argc;
    to->argv = ex->argv;
    to->split_path = ex->split;
    to->data_opts = &ex->data_opts;
}

/* Under mpirun (docs/distributed.md) rank 0 runs the experiment and the
 * other ranks only join its trainings: before each, rank 0 sends which run
 * and how (its decisions read the run folders, which only it writes);
 * mi = -1 ends the experiment. */
typedef struct train_order {
    int mi, seed_i, resume, overwrite;
} train_order;

static int send_order(train_order o, ptrag_error *err) { return ptrag_dist_bcast(&o, sizeof o, 0, err); }

static int experiment_worker(const ptrag_experiment *ex) {
    ptrag_error err;
    ptrag_dataset *d;
    if (ptrag_dataset_load(ex->split, &ex->data_opts, &d, &err)) return cli_report("experiment", &err);
    int rc = 0;
    for (;;) {
        train_order o;
        if ((rc = ptrag_dist_bcast(&o, sizeof o, 0, &err)) || o.mi < 0) break;
        char run[4096], *settings;
        uint32_t digest;
        if ((rc = run_settings_of(ex, d, o.mi, o.seed_i, run, &settings, &digest, &err))) break;
        free(settings);
        ptrag_train_opts to;
        train_opts_of(ex, o.mi, o.seed_i, run, &to);
        to.resume = o.resume;
        to.overwrite = o.overwrite;
        ptrag_train_result tr;
        if ((rc = ptrag_train(d, &to, &tr, &err))) break;
    }
    ptrag_dataset_free(d);
    return rc ? cli_report("experiment", &err) : 0;
}

typedef struct progress_clock {
    double t0;
    int done, total;
} progress_clock;

static void announce(progress_clock *pc, const char *what) {
    double el = ptrag_monotonic_seconds() - pc->t0;
    char e[32], eta[32] = "?";
    ptrag_format_duration(el, e, sizeof e);
    if (pc->done > 0) ptrag_format_duration(el / pc->done * (pc->total - pc->done), eta, sizeof eta);
    fprintf(stderr, "[%d/%d] %s (elapsed %s, ETA %s)\n", pc->done + 1, pc->total, what, e, eta);
}

/* Trains (or resumes, or reuses) one run and scores its predictions. */
static int run_model(const ptrag_experiment *ex, const ptrag_dataset *d, int mi, int seed_i, exp_row *rows,
                     exp_curves *curves, ptrag_prediction_summary *explained, ptrag_error *err) {
    ptrag_config cfg = ex->cfg[mi];
    cfg.seed += (uint64_t)seed_i;
    char run[4096], pred[4096], evald[4096], real[4096], vreal[4096], *settings;
    uint32_t digest;
    int rc = run_settings_of(ex, d, mi, seed_i, run, &settings, &digest, err);
    if (rc) return rc;
    char why[3072];
    int match = ptrag_run_dir_match(run, settings, why, sizeof why);
    free(settings);
    if (match == PTRAG_RUN_DIFFERS && !ex->overwrite) /* check_runs stops before this */
        return ptrag_fail(err, PTRAG_E_STATE, "%s: holds another run: %s", run, why);
    pathf(real, "%s/real.h5ad", ex->dir);
    pathf(vreal, "%s/val_real.h5ad", ex->dir);
    char real_key[2][128];
    if ((rc = data_key(ex, d, "real=test", real_key[0], sizeof real_key[0], err))) return rc;
    if ((rc = data_key(ex, d, "real=val", real_key[1], sizeof real_key[1], err))) return rc;
    long done = match == PTRAG_RUN_SAME ? run_steps_done(run) : 0;
    if (done >= cfg.steps) fprintf(stderr, "reusing %s (settings %08x, %ld steps)\n", run, (unsigned)digest, done);
    if (done < cfg.steps) {
        ptrag_train_opts to;
        train_opts_of(ex, mi, seed_i, run, &to);
        to.resume = done > 0;
        to.overwrite = match == PTRAG_RUN_DIFFERS;
        if (done > 0) fprintf(stderr, "resuming %s at step %ld (settings %08x)\n", run, done, (unsigned)digest);
        ptrag_train_result tr;
        if ((rc = send_order((train_order){mi, seed_i, to.resume, to.overwrite}, err))) return rc;
        if ((rc = ptrag_train(d, &to, &tr, err))) return rc;
    }
    exp_curves_read(curves, run, ex->model_names[mi], (unsigned long long)cfg.seed);
    int is_ptrag = cfg.model == PTRAG_MODEL_PTRAG;
    int n_sel = is_ptrag ? 3 : 1;
    for (int si = 0; si < n_sel && !rc; si++) {
        for (int split = 0; split < 2 && !rc; split++) {
            int val = split == 1;
            if (val && !is_ptrag) continue; /* validation scores choose the PT-RAG selection mode */
            if (val && d->assign->n_conditions_split[PTRAG_SPLIT_VAL] == 0) continue;
            const char *suffix = is_ptrag ? selection_names[si] : "";
            pathf(pred, "%s/%spred%s%s.h5ad", run, val ? "val-" : "", *suffix ? "-" : "", suffix);
            pathf(evald, "%s/%seval%s%s", run, val ? "val-" : "", *suffix ? "-" : "", suffix);
            const char *real_path = val ? vreal : real, *rkey = real_key[val];
            int need_real = !ptrag_run_record_is_current(ex->dir, real_path, rkey);
            ptrag_predict_opts po;
            ptrag_predict_opts_default(&po);
            po.run_dir = run;
            po.out_path = pred;
            po.real_path = need_real ? real_path : NULL;
            po.split = val ? PTRAG_SPLIT_VAL : PTRAG_SPLIT_TEST;
            po.selection = is_ptrag ? si : -1;
            po.seed = PRED_SEED;
            po.pairing = ex->pairing;
            po.pool_cells = ex->pool_cells;
            /* Predictions are reused only when the run's record holds them
             * for this very checkpoint, split, selection mode and pairing. */
            char pkey[512];
            if ((rc = ptrag_predict_key(&po, pkey, sizeof pkey, err))) break;
            if (need_real || !ptrag_run_record_is_current(run, pred, pkey) ||
                (!val && si == 0 && explained && !explained->explained && is_ptrag)) {
                char rpath[4096];
                pathf(rpath, "%s/RETRIEVAL%s%s.tsv", run, *suffix ? "-" : "", suffix);
                po.retrieval_path = val ? NULL : rpath;
                ptrag_prediction_summary ps;
                if ((rc = ptrag_predict(d, &po, &ps, err))) break;
                /* Keep the first PT-RAG seed's explanations for the report. */
                if (!val && si == 0 && explained && !explained->explained && ps.explained) *explained = ps;
                else ptrag_prediction_summary_free(&ps);
                if (need_real && (rc = ptrag_run_record_note(ex->dir, real_path, "experiment", rkey, err))) break;
            }
            ptrag_metric_summary m[PTRAG_M_COUNT];
            if ((rc = score(pred, real_path, evald, run, ex, m, err))) break;
            exp_row *r = &rows[val * 3 + si];
            memcpy(r->per_seed[r->n_seeds++], m, sizeof m);
            exp_row_add_source(r, ex->dir, run, digest);
        }
    }
    return rc;
}

/* DIR/pert_ref.h5ad, the reference of pearson_delta_pert, (re)written unless
 * the record holds it for this data. */
static int write_pert_ref(const ptrag_experiment *ex, const ptrag_dataset *d, ptrag_error *err) {
    char path[4096], key[128];
    pathf(path, "%s/pert_ref.h5ad", ex->dir);
    int rc = data_key(ex, d, "pert_ref", key, sizeof key, err);
    if (rc || ptrag_run_record_is_current(ex->dir, path, key)) return rc;
    if (!(rc = ptrag_pert_reference_write(d, path, err))) rc = ptrag_run_record_note(ex->dir, path, "experiment", key, err);
    return rc;
}

/* The split-half ceiling of the real test cells (written first if no
 * prediction wrote them), as one row with its mean +- sd over splits. */
static int ceiling_row(const ptrag_experiment *ex, const ptrag_dataset *d, const char *real, exp_row *row,
                       ptrag_error *err) {
    char rkey[128];
    int rc = data_key(ex, d, "real=test", rkey, sizeof rkey, err);
    if (!rc && !ptrag_run_record_is_current(ex->dir, real, rkey)) {
        ptrag_pred_plan plan;
        ptrag_pred_plan_opts po;
        ptrag_pred_plan_opts_default(&po);
        if (!(rc = ptrag_pred_plan_build(d, &po, &plan, err))) rc = ptrag_plan_write_real(d, &plan, real, err);
        ptrag_pred_plan_free(&plan);
        if (!rc) rc = ptrag_run_record_note(ex->dir, real, "experiment", rkey, err);
    }
    ptrag_eval_files_opts o;
    ptrag_eval_files_opts_default(&o);
    o.pert_col = ex->data_opts.pert_col;
    o.control = ex->data_opts.control;
    o.celltype_col = ex->data_opts.celltype_col;
    char ref[4096];
    pathf(ref, "%s/pert_ref.h5ad", ex->dir);
    o.pert_ref = ref;
    row_init(row, "ceiling (split-half)", 1);
    if (!rc) rc = ptrag_eval_files_ceiling(real, &o, ex->ceiling_splits, PRED_SEED, row->per_seed[0], err);
    if (!rc) row->n_seeds = 1;
    return rc;
}

static int experiment_main(const ptrag_experiment *ex);

int ptrag_experiment_run(const ptrag_experiment *ex) {
    if (ptrag_dist_rank() != 0) return experiment_worker(ex);
    int shared0 = ptrag_dist_failures_shared();
    int rc = experiment_main(ex);
    /* The workers wait for the next order unless a training failure ended
     * them too. */
    ptrag_error err;
    if (ptrag_dist_failures_shared() == shared0 && send_order((train_order){-1, 0, 0, 0}, &err) && !rc)
        rc = cli_report("experiment", &err);
    return rc;
}

static int experiment_main(const ptrag_experiment *ex) {
    ptrag_error err;
    char path[4096];
    pathf(path, "%s/runs", ex->dir);
    if (ptrag_mkdir_p(path, &err)) return cli_report("experiment", &err);
    pathf(path, "%s/baselines", ex->dir);
    if (ptrag_mkdir_p(path, &err)) return cli_report("experiment", &err);
    fprintf(stderr, "loading %s\n", ex->split);
    ptrag_dataset *d;
    if (ptrag_dataset_load(ex->split, &ex->data_opts, &d, &err)) return cli_report("experiment", &err);
    if (check_runs(ex, d, &err) || write_pert_ref(ex, d, &err)) {
        ptrag_dataset_free(d);
        return cli_report("experiment", &err);
    }

    /* Rows: per model 1 (or 3 selection modes + 3 validation rows for ptrag). */
    exp_results res;
    memset(&res, 0, sizeof res);
    exp_row model_rows[PTRAG_EXP_MAX][6];
    exp_curves curves;
    exp_curves_init(&curves);
    ptrag_prediction_summary explained;
    memset(&explained, 0, sizeof explained);
    progress_clock pc = {ptrag_monotonic_seconds(), 0,
                         ex->n_models * ex->n_seeds + ex->n_baselines + (ex->ceiling_splits > 0)};
    int rc = 0;
    for (int mi = 0; mi < ex->n_models && !rc; mi++) {
        for (int k = 0; k < 6; k++) {
            char name[96];
            if (ex->cfg[mi].model == PTRAG_MODEL_PTRAG)
                snprintf(name, sizeof name, "%s (%s)", ex->model_names[mi], selection_names[k % 3]);
            else snprintf(name, sizeof name, "%s", ex->model_names[mi]);
            row_init(&model_rows[mi][k], name, ex->n_seeds);
        }
        for (int s = 0; s < ex->n_seeds && !rc; s++) {
            char what[128];
            snprintf(what, sizeof what, "%s, seed %llu", ex->model_names[mi],
                     (unsigned long long)(ex->cfg[mi].seed + (uint64_t)s));
            announce(&pc, what);
            rc = run_model(ex, d, mi, s, model_rows[mi], &curves,
                           ex->cfg[mi].model == PTRAG_MODEL_PTRAG ? &explained : NULL, &err);
            pc.done++;
        }
    }
    /* Baselines: deterministic, scored once on the same real cells. */
    exp_row base_rows[PTRAG_EXP_MAX + 1]; /* baselines, then the ceiling */
    memset(base_rows, 0, sizeof base_rows);
    int set_size = ex->n_models ? ex->cfg[0].set_size : 64;
    uint32_t data_digest = 0;
    char *data_text;
    if (!rc && !(rc = ptrag_data_settings_files(&ex->data_opts, ex->split, (const char *const *)d->files,
                                                  d->n_files, &data_text, &data_digest, &err)))
        free(data_text);
    char real[4096];
    pathf(real, "%s/real.h5ad", ex->dir);
    for (int b = 0; b < ex->n_baselines && !rc; b++) {
        announce(&pc, ex->baselines[b]);
        char name[96], pred[4096], dir[4096];
        int is_truth = strcmp(ex->baselines[b], "truth") == 0; /* the oracle of a simulation */
        snprintf(name, sizeof name, is_truth ? "%s" : "baseline: %s", ex->baselines[b]);
        row_init(&base_rows[b], name, 1);
        pathf(dir, "%s/baselines/%s", ex->dir, ex->baselines[b]);
        pathf(pred, "%s/pred.h5ad", dir);
        if ((rc = ptrag_mkdir_p(dir, &err))) break;
        ptrag_baseline_opts bo;
        ptrag_baseline_opts_default(&bo);
        bo.kind = is_truth ? 0 : ptrag_baseline_from_name(ex->baselines[b]);
        if (is_truth && !ex->truth) {
            rc = ptrag_fail(&err, PTRAG_E_ARG, "--baselines: 'truth' needs --truth FILE (a simulation's truth.h5ad)");
            break;
        }
        bo.knn_k = ex->knn_k;
        if (bo.kind < 0) {
            rc = ptrag_fail(&err, PTRAG_E_ARG, "--baselines: unknown baseline '%s' (%s)", ex->baselines[b],
                            ptrag_baseline_names());
            break;
        }
        /* A baseline is a function of the data, its kind and options, the set size and the pairing. */
        ptrag_pred_plan_opts po;
        ptrag_pred_plan_opts_default(&po);
        po.set_size = set_size;
        po.seed = PRED_SEED;
        po.pairing = ex->pairing;
        po.pool_cells = ex->pool_cells;
        char what[200], bkey[256], rkey[128];
        snprintf(what, sizeof what, "baseline=%s,set_size=%d,seed=%d,pairing=%s,pool_cells=%ld,knn_k=%d",
                 ex->baselines[b], set_size, PRED_SEED, ptrag_pairing_name(ex->pairing), ex->pool_cells, ex->knn_k);
        if (is_truth) { /* the truth row also depends on the truth file's content */
            uint32_t crc;
            uint64_t size;
            if ((rc = ptrag_file_crc32(ex->truth, &crc, &size, &err))) break;
            snprintf(what + strlen(what), sizeof what - strlen(what), ",truth=%08x", (unsigned)crc);
        }
        if ((rc = data_key(ex, d, what, bkey, sizeof bkey, &err))) break;
        if ((rc = data_key(ex, d, "real=test", rkey, sizeof rkey, &err))) break;
        int need_real = !ptrag_run_record_is_current(ex->dir, real, rkey);
        if (need_real || !ptrag_run_record_is_current(ex->dir, pred, bkey)) {
            const char *real_out = need_real ? real : NULL;
            if ((rc = is_truth ? ptrag_truth_baseline_write(d, ex->truth, &po, pred, real_out, &err)
                               : ptrag_baseline_write(d, &bo, &po, pred, real_out, &err)))
                break;
            if ((rc = ptrag_run_record_note(ex->dir, pred, "experiment", bkey, &err))) break;
            if (need_real && (rc = ptrag_run_record_note(ex->dir, real, "experiment", rkey, &err))) break;
        }
        ptrag_metric_summary m[PTRAG_M_COUNT];
        if ((rc = score(pred, real, dir, ex->dir, ex, m, &err))) break;
        exp_row_add_source(&base_rows[b], ex->dir, dir, data_digest);
        memcpy(base_rows[b].per_seed[base_rows[b].n_seeds++], m, sizeof m);
        pc.done++;
    }
    /* Ceiling: one half of the real test cells scored as the other half. */
    int n_base = ex->n_baselines;
    if (!rc && ex->ceiling_splits > 0) {
        announce(&pc, "ceiling");
        if (!(rc = ceiling_row(ex, d, real, &base_rows[n_base], &err))) n_base++;
        pc.done++;
    }
    if (!rc) {
        /* Test rows: models (each PT-RAG selection mode), then baselines;
         * validation rows of PT-RAG's selection modes go to their own table. */
        for (int mi = 0; mi < ex->n_models; mi++) {
            int n = ex->cfg[mi].model == PTRAG_MODEL_PTRAG ? 3 : 1;
            for (int k = 0; k < n; k++) {
                row_aggregate(&model_rows[mi][k]);
                res.test[res.n_test++] = model_rows[mi][k];
            }
            if (ex->cfg[mi].model == PTRAG_MODEL_PTRAG)
                for (int k = 3; k < 6; k++)
                    if (model_rows[mi][k].n_seeds) {
                        row_aggregate(&model_rows[mi][k]);
                        res.val[res.n_val++] = model_rows[mi][k];
                    }
        }
        for (int b = 0; b < n_base; b++) {
            row_aggregate(&base_rows[b]);
            /* The ceiling row holds its mean +- sd over splits already. */
            if (b >= ex->n_baselines) memcpy(base_rows[b].summary, base_rows[b].per_seed[0], sizeof base_rows[b].summary);
            res.test[res.n_test++] = base_rows[b];
        }
        res.n_seeds = ex->n_seeds;
        rc = exp_write_results(ex, d, &res, &curves, &explained, &err);
    }
    if (rc) cli_report("experiment", &err);
    for (int mi = 0; mi < ex->n_models; mi++)
        for (int k = 0; k < 6; k++) free(model_rows[mi][k].per_seed);
    for (int b = 0; b <= PTRAG_EXP_MAX; b++) free(base_rows[b].per_seed);
    exp_curves_free(&curves);
    ptrag_prediction_summary_free(&explained);
    ptrag_dataset_free(d);
    return rc ? 1 : 0;
}
