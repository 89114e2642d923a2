/* ptrag baseline: a simple baseline written as a prediction file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"
#include "ptrag/baselines.h"
#include "ptrag/simulate.h"

static const cli_opt opts[] = {
    {"--kind", "KIND", "control|pert-mean|linear|celleval-mean|context-mean|perturb-mean|knn|oracle|truth"},
    {"--split", "FILE", "STATE split file (.toml)"},
    CLI_DATASET_OPTS,
    {"--seed", "N", "seed of the prediction plan (control pairing; default 42)"},
    {"--set-size", "S", "cells per set of the prediction plan (default 64)"},
    {"--pairing", "MODE", "pool (default: every condition from the whole control pool) | random"},
    {"--pool-cells", "N", "pool pairing: control cells per cell type (default 0 = all)"},
    {"--val", NULL, "predict the validation conditions instead of the test ones"},
    {"--ridge", "LAMBDA", "linear: ridge penalty in units of trace(X^T X)/E (default 1.0)"},
    {"--knn-k", "K", "knn: training conditions averaged (default 5)"},
    {"--faithful", NULL, "perturb-mean: zero offset for a perturbation no training cell type has (STATE)"},
    {"--write-pert-ref", "FILE.h5ad", "also write the pearson_delta_pert reference (ptrag eval --pert-ref)"},
    {"--truth", "FILE", "truth.h5ad of a simulation (for --kind truth: input control + true shift)"},
    {"--out", "PRED.h5ad", "predicted cells"},
    {"--write-real", "REAL.h5ad", "also write the real cells (the file to score against)"},
};

int cmd_baseline(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv,
                       "ptrag baseline --kind KIND --split FILE.toml [column flags] "
                       "--out PRED.h5ad [--write-real REAL.h5ad] [--write-pert-ref REF.h5ad]",
                       "Predicts the held-out test cells of a split with a simple baseline and writes them\n"
                       "like `ptrag predict` does (same plan: cells, input controls, order), so `ptrag eval`\n"
                       "scores them the same way. Shift kinds move each input control cell by a\n"
                       "per-condition shift: control = none; pert-mean = the cell type's mean training\n"
                       "shift; linear = ridge regression from embeddings; perturb-mean = STATE's PerturbMean\n"
                       "(the perturbation's shift in the other cell types); knn = mean shift of the K most\n"
                       "similar training perturbations (embedding cosine). Profile kinds predict one\n"
                       "profile per condition beside the real controls: celleval-mean = cell-eval's\n"
                       "baseline, context-mean = STATE's ContextMean. oracle (not a baseline) uses the\n"
                       "held-out cells' true shift; truth = the true shift of a simulated experiment\n"
                       "(--truth FILE, docs/simulate.md). linear and knn need --embeddings. docs/evaluation.md.",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    const char *kind_name = cli_get(&a, "--kind", NULL);
    const char *split = cli_get(&a, "--split", NULL);
    const char *out = cli_get(&a, "--out", NULL);
    if (!kind_name) return cli_usage_error("baseline", "--kind %s is required", ptrag_baseline_names());
    if (!split) return cli_usage_error("baseline", "--split FILE.toml is required");
    if (!out) return cli_usage_error("baseline", "--out PRED.h5ad is required");
    ptrag_baseline_opts bo;
    ptrag_baseline_opts_default(&bo);
    int is_truth = strcmp(kind_name, "truth") == 0;
    const char *truth = cli_get(&a, "--truth", NULL);
    if (is_truth && !truth) return cli_usage_error("baseline", "--kind truth needs --truth FILE (a simulation's truth.h5ad)");
    bo.kind = is_truth ? 0 : ptrag_baseline_from_name(kind_name);
    if (bo.kind < 0)
        return cli_usage_error("baseline", "--kind: expected %s, got '%s'", ptrag_baseline_names(), kind_name);
    long seed = 42, set_size = 64, knn_k = 5;
    ptrag_pred_plan_opts po;
    ptrag_pred_plan_opts_default(&po);
    if (cli_get_long(&a, "--seed", 42, 0, 0x7fffffffL, &seed)) return 2;
    if (cli_get_long(&a, "--set-size", 64, 1, 1000000, &set_size)) return 2;
    if (cli_get_long(&a, "--pool-cells", 0, 0, 0x7fffffffL, &po.pool_cells)) return 2;
    if (cli_get_double(&a, "--ridge", 1.0, 0.0, 1e300, &bo.ridge)) return 2;
    if (cli_get_long(&a, "--knn-k", 5, 1, 100000, &knn_k)) return 2;
    if ((rc = cli_pairing("baseline", cli_get(&a, "--pairing", NULL), &po.pairing))) return rc;
    bo.knn_k = (int)knn_k;
    bo.faithful = cli_has(&a, "--faithful");
    po.seed = (uint64_t)seed;
    po.set_size = (int)set_size;
    if (cli_has(&a, "--val")) po.split = PTRAG_SPLIT_VAL;
    ptrag_dataset_opts o;
    if ((rc = cli_dataset_opts("baseline", &a, &o))) return rc;
    ptrag_error err;
    ptrag_dataset *d;
    if (ptrag_dataset_load(split, &o, &d, &err)) return cli_report("baseline", &err);
    const char *real = cli_get(&a, "--write-real", NULL), *ref = cli_get(&a, "--write-pert-ref", NULL);
    rc = 0;
    if ((is_truth ? ptrag_truth_baseline_write(d, truth, &po, out, real, &err)
                  : ptrag_baseline_write(d, &bo, &po, out, real, &err)) ||
        (ref && ptrag_pert_reference_write(d, ref, &err)))
        rc = cli_report("baseline", &err);
    else
        fprintf(stderr, "ptrag baseline: %s baseline (%s pairing) -> %s%s%s%s%s\n", kind_name,
                ptrag_pairing_name(po.pairing), out, real ? ", real cells -> " : "", real ? real : "",
                ref ? ", pert reference -> " : "", ref ? ref : "");
    ptrag_dataset_free(d);
    return rc;
}
