/* ptrag experiment: train, predict and score several models over seeds, beside
 * the baselines, and write the results table and report.
 *
 * DIR/
 *   real.h5ad, val_real.h5ad     the held-out real cells (test, validation)
 *   runs/<model>-seed<N>/        one training run each (ptrag train layout),
 *     pred-*.h5ad, eval-*: its predictions and their scores
 *   baselines/<kind>/            baseline predictions and scores
 *   pert_ref.h5ad                the reference profiles of pearson_delta_pert
 *   results.csv, results.md, report.html
 * Each folder's record.txt says what it was computed from; a run, prediction
 * or score is reused only when that matches this command (docs/runs.md), so
 * an interrupted experiment can be re-run with the same command and a changed
 * one never reports the old numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"
#include "cli/experiment.h"
#include "cli/run_opts.h"
#include "ptrag/fsutil.h"
#include "ptrag/pred_plan.h"
#include "ptrag/progress.h"
#include "ptrag/train.h"

static const cli_opt opts[] = {
    {"--split", "FILE", "STATE split file (.toml)"},
    {"--models", "LIST", "comma-separated: state,rag,ptrag (default: all three; 'none': baselines only)"},
    {"--seeds", "N", "seeds per model (default 3: seed, seed+1, ...)"},
    {"--baselines", "LIST", "control,pert-mean,linear,celleval-mean,context-mean,perturb-mean,knn (default: all"
                            " seven; also oracle; 'none' for none)"},
    {"--knn-k", "K", "knn baseline: training conditions averaged (default 5)"},
    {"--pairing", "MODE", "pool (default: every condition from the same control cells) | random"},
    {"--pool-cells", "N", "pool pairing: control cells per cell type (default 256; 0 = all)"},
    {"--ceiling", "N", "split-half ceiling row over N random splits (default 5; 0 = none)"},
    {"--truth", "FILE", "truth.h5ad of a simulated experiment: adds a truth row and retrieval against truth"},
    {"--out", "DIR", "experiment directory"},
    CLI_DATASET_OPTS,
    CLI_MODEL_OPTS,
    {"--overwrite", NULL, "retrain run folders that hold runs with other settings (deletes their files)"},
    {"--quiet", NULL, "no training progress bars"},
};

static int split_list(char *s, char **items, int max) {
    int n = 0;
    for (char *t = strtok(s, ","); t && n < max; t = strtok(NULL, ",")) items[n++] = t;
    return n;
}

int cmd_experiment(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv,
                       "ptrag experiment --split FILE.toml [--embeddings FILE] [--models state,rag,ptrag]\n"
                       "       [--seeds 3] --out DIR [train flags] [column flags]",
                       "Trains each model with each seed, predicts the test conditions, scores them with\n"
                       "ptrag eval beside the baselines, and writes DIR/results.csv, DIR/results.md and\n"
                       "DIR/report.html. For ptrag every selection mode is scored on validation and test.\n"
                       "A run folder is reused (or an interrupted run resumed) only when its record.txt has\n"
                       "the settings digest of this command (data CRCs, split, model flags, seed, steps,\n"
                       "checkpoint format); predictions and scores only when recorded for the same checkpoint,\n"
                       "selection, pairing seed and metric set. A folder with other settings stops the command,\n"
                       "naming what differs; --overwrite retrains it instead. See docs/runs.md.\n"
                       "Under `mpirun -np N` each training is split over the N processes; rank 0 does the rest\n"
                       "(docs/distributed.md).",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    const char *split = cli_get(&a, "--split", NULL), *out = cli_get(&a, "--out", NULL);
    if (!split || !out) return cli_usage_error("experiment", "--split and --out are required");
    ptrag_experiment ex;
    memset(&ex, 0, sizeof ex);
    ex.split = split;
    ex.dir = out;
    ex.argc = argc;
    ex.argv = argv;
    ex.quiet = cli_has(&a, "--quiet");
    ex.overwrite = cli_has(&a, "--overwrite");
    if ((rc = cli_dataset_opts("experiment", &a, &ex.data_opts))) return rc;
    long seeds;
    if (cli_get_long(&a, "--seeds", 3, 1, 100, &seeds)) return 2;
    ex.n_seeds = (int)seeds;
    long knn_k, ceiling;
    if (cli_get_long(&a, "--knn-k", 5, 1, 100000, &knn_k)) return 2;
    if (cli_get_long(&a, "--ceiling", 5, 0, 1000, &ceiling)) return 2;
    ex.knn_k = (int)knn_k;
    ex.ceiling_splits = (int)ceiling;
    ex.pairing = PTRAG_PAIRING_POOL;
    if (cli_get_long(&a, "--pool-cells", PTRAG_POOL_CELLS_DEFAULT, 0, 0x7fffffffL, &ex.pool_cells)) return 2;
    if ((rc = cli_pairing("experiment", cli_get(&a, "--pairing", NULL), &ex.pairing))) return rc;

    char models_buf[256], base_buf[256];
    snprintf(models_buf, sizeof models_buf, "%s", cli_get(&a, "--models", "state,rag,ptrag"));
    snprintf(base_buf, sizeof base_buf, "%s", cli_get(&a, "--baselines", "control,pert-mean,linear,celleval-mean,context-mean,perturb-mean,knn"));
    char *models[8], *bases[8];
    int n_models = strcmp(models_buf, "none") == 0 ? 0 : split_list(models_buf, models, 8);
    int n_bases = strcmp(base_buf, "none") == 0 ? 0 : split_list(base_buf, bases, 8);
    for (int i = 0; i < n_models; i++) {
        if ((rc = cli_model_config("experiment", &a, models[i], &ex.cfg[i]))) return rc;
        ex.model_names[i] = models[i];
    }
    ex.n_models = n_models;
    for (int i = 0; i < n_bases; i++) ex.baselines[i] = bases[i];
    ex.n_baselines = n_bases;
    ex.truth = cli_get(&a, "--truth", NULL);
    int has_truth = 0;
    for (int i = 0; i < n_bases; i++) has_truth |= strcmp(bases[i], "truth") == 0;
    if (ex.truth && !has_truth) {
        if (ex.n_baselines >= PTRAG_EXP_MAX) return cli_usage_error("experiment", "too many baselines");
        ex.baselines[ex.n_baselines++] = "truth";
    }
    return ptrag_experiment_run(&ex);
}
