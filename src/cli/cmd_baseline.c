/* ptrag baseline: a simple baseline written as a prediction file. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"
#include "ptrag/baselines.h"
#include "ptrag/simulate.h"

static const cli_opt opts[] = {
    {"--kind", "KIND", "control | pert-mean | linear"},
    {"--split", "FILE", "STATE split file (.toml)"},
    CLI_DATASET_OPTS,
    {"--seed", "N", "seed of the prediction plan (control pairing; default 42)"},
    {"--set-size", "S", "cells per set of the prediction plan (default 64)"},
    {"--ridge", "LAMBDA", "linear: ridge penalty in units of trace(X^T X)/E (default 1.0)"},
    {"--truth", "FILE", "truth.h5ad of a simulation (for --kind truth: paired control + true shift)"},
    {"--out", "PRED.h5ad", "predicted cells"},
    {"--write-real", "REAL.h5ad", "also write the real cells, row for row (the file to score against)"},
};

int cmd_baseline(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv,
                       "ptrag baseline --kind control|pert-mean|linear --split FILE.toml [column flags] "
                       "--out PRED.h5ad [--write-real REAL.h5ad]",
                       "Predicts the held-out test cells of a split with a simple baseline and writes them\n"
                       "like `ptrag predict` does (same cells, same paired controls, same order), so\n"
                       "`ptrag eval` scores them the same way. Each predicted cell is its paired control\n"
                       "cell plus a per-condition shift: control = no shift; pert-mean = the cell type's\n"
                       "mean training shift; linear = ridge regression from perturbation embeddings to\n"
                       "shifts (needs --embeddings); truth = the true shift of a simulated experiment\n"
                       "(--truth FILE, see docs/simulate.md). Definitions: docs/evaluation.md.",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    const char *kind_name = cli_get(&a, "--kind", NULL);
    const char *split = cli_get(&a, "--split", NULL);
    const char *out = cli_get(&a, "--out", NULL);
    if (!kind_name) return cli_usage_error("baseline", "--kind control|pert-mean|linear is required");
    if (!split) return cli_usage_error("baseline", "--split FILE.toml is required");
    if (!out) return cli_usage_error("baseline", "--out PRED.h5ad is required");
    ptrag_baseline_opts bo;
    ptrag_baseline_opts_default(&bo);
    int is_truth = strcmp(kind_name, "truth") == 0;
    const char *truth = cli_get(&a, "--truth", NULL);
    if (is_truth && !truth) return cli_usage_error("baseline", "--kind truth needs --truth FILE (a simulation's truth.h5ad)");
    bo.kind = is_truth ? 0 : ptrag_baseline_from_name(kind_name);
    if (bo.kind < 0)
        return cli_usage_error("baseline", "--kind: expected control, pert-mean or linear, got '%s'", kind_name);
    long seed = 42, set_size = 64;
    if (cli_get_long(&a, "--seed", 42, 0, 0x7fffffffL, &seed)) return 2;
    if (cli_get_long(&a, "--set-size", 64, 1, 1000000, &set_size)) return 2;
    if (cli_get_double(&a, "--ridge", 1.0, 0.0, 1e300, &bo.ridge)) return 2;
    ptrag_dataset_opts o;
    if ((rc = cli_dataset_opts("baseline", &a, &o))) return rc;
    ptrag_error err;
    ptrag_dataset *d;
    if (ptrag_dataset_load(split, &o, &d, &err)) return cli_report("baseline", &err);
    const char *real = cli_get(&a, "--write-real", NULL);
    rc = 0;
    if (is_truth ? ptrag_truth_baseline_write(d, truth, (int)set_size, (uint64_t)seed, out, real, &err)
                 : ptrag_baseline_write(d, &bo, (int)set_size, (uint64_t)seed, out, real, &err))
        rc = cli_report("baseline", &err);
    else
        fprintf(stderr, "ptrag baseline: %s baseline -> %s%s%s\n", kind_name, out, real ? ", real cells -> " : "",
                real ? real : "");
    ptrag_dataset_free(d);
    return rc;
}
