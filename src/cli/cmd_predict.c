/* ptrag predict: predict the held-out conditions with a trained run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"
#include "cli/run_opts.h"
#include "ptrag/fsutil.h"
#include "ptrag/train.h"

static const cli_opt opts[] = {
    {"--run", "RUN_DIR", "a directory written by ptrag train"},
    {"--checkpoint", "WHICH", "best (default) or last"},
    {"--split", "FILE", "split file (default: the one the run was trained on)"},
    {"--out", "PRED.h5ad", "predicted cells"},
    {"--write-real", "REAL.h5ad", "also write the matching real cells"},
    {"--retrieval", "FILE", "retrieval explanations (default: RETRIEVAL.tsv beside --out)"},
    {"--selection", "MODE", "PT-RAG selection: expected|threshold|sample (default: the run's)"},
    {"--keep-threshold", "P", "threshold selection: keep probability above P (default: the run's validation-calibrated value, threshold.txt; else 0.5)"},
    {"--val", NULL, "predict the validation conditions instead of the test ones"},
    {"--seed", "N", "control pairing and inference noise (default 42)"},
    {"--precision", "P", "fp32 | bf16 | auto matrix products (default: the run's; see ptrag doctor)"},
    {"--pairing", "MODE", "pool (default: every condition from the whole control pool) | random"},
    {"--pool-cells", "N", "pool pairing: control cells per cell type (default 256; 0 = all)"},
};

/* Loads the dataset a run was trained on (or another split with the same flags). */
int cli_load_run_dataset(const char *cmd, const char *run, const char *split, ptrag_dataset **d) {
    ptrag_error err;
    ptrag_run_data rd;
    if (ptrag_run_data_read(run, &rd, &err)) return cli_report(cmd, &err);
    const ptrag_command_hooks *hooks = cli_hooks();
    rd.opts.source = hooks ? hooks->input : NULL;
    if (ptrag_dataset_load(split ? split : rd.split, &rd.opts, d, &err)) return cli_report(cmd, &err);
    return 0;
}

int cmd_predict(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv,
                       "ptrag predict --run RUN_DIR [--checkpoint best|last] [--split FILE.toml] --out PRED.h5ad\n"
                       "       [--write-real REAL.h5ad]",
                       "Predicts the held-out conditions and the held-out cell types' control cells from\n"
                       "control cells of their cell type: with --pairing pool (default) every condition from\n"
                       "the same whole control pool, with --pairing random each real cell from a random one. For rag/ptrag runs it also\n"
                       "writes RETRIEVAL.tsv: per condition, the candidates, their stage-1 similarity (column cosine) and the\n"
                       "fraction of cells that selected each.",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    ptrag_predict_opts o;
    ptrag_predict_opts_default(&o);
    o.run_dir = cli_get(&a, "--run", NULL);
    o.out_path = cli_get(&a, "--out", NULL);
    if (!o.run_dir || !o.out_path) return cli_usage_error("predict", "--run and --out are required");
    o.checkpoint = cli_get(&a, "--checkpoint", "best");
    o.real_path = cli_get(&a, "--write-real", NULL);
    if (cli_has(&a, "--val")) o.split = PTRAG_SPLIT_VAL;
    long seed;
    if (cli_get_long(&a, "--seed", 42, 0, 0x7fffffffL, &seed)) return 2;
    o.seed = (uint64_t)seed;
    if ((rc = cli_pairing("predict", cli_get(&a, "--pairing", NULL), &o.pairing))) return rc;
    if (cli_get_long(&a, "--pool-cells", PTRAG_POOL_CELLS_DEFAULT, 0, 0x7fffffffL, &o.pool_cells)) return 2;
    if ((rc = cli_selection("predict", cli_get(&a, "--selection", NULL), &o.selection))) return rc;
    const char *kt = cli_get(&a, "--keep-threshold", NULL);
    if (kt) {
        char *end;
        o.keep_threshold = strtod(kt, &end);
        if (*end || !(o.keep_threshold > 0 && o.keep_threshold < 1))
            return cli_usage_error("predict", "--keep-threshold: expected a number in (0, 1), got '%s'", kt);
    }
    if ((rc = cli_precision("predict", cli_get(&a, "--precision", NULL), &o.precision))) return rc;
    char retrieval[4200];
    const char *rpath = cli_get(&a, "--retrieval", NULL);
    if (!rpath) {
        char dir[4096];
        ptrag_dirname(o.out_path, dir, sizeof dir);
        snprintf(retrieval, sizeof retrieval, "%s/RETRIEVAL.tsv", dir);
        rpath = retrieval;
    }
    o.retrieval_path = rpath;
    if (cli_hooks()) {
        o.on_set = cli_hooks()->on_step;
        o.on_set_ctx = cli_hooks()->ctx;
    }
    ptrag_dataset *d;
    if ((rc = cli_load_run_dataset("predict", o.run_dir, cli_get(&a, "--split", NULL), &d))) return rc;
    ptrag_error err;
    ptrag_prediction_summary s;
    rc = ptrag_predict(d, &o, &s, &err);
    ptrag_dataset_free(d);
    if (rc) return cli_report("predict", &err);
    printf("predicted %ld cells -> %s%s%s%s%s\n", s.n_cells, o.out_path, o.real_path ? " (real: " : "",
           o.real_path ? o.real_path : "", o.real_path ? ")" : "", s.explained ? "" : "");
    if (s.explained) printf("retrieval explanations -> %s\n", rpath);
    ptrag_prediction_summary_free(&s);
    return 0;
}
