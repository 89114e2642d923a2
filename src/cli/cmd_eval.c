/* ptrag eval: score a prediction .h5ad against the real cells. */
#include <stdio.h>

#include "cli/cli.h"
#include "ptrag/eval_files.h"

static const cli_opt opts[] = {
    {"--pred", "PRED.h5ad", "predicted cells (ptrag predict / ptrag baseline)"},
    {"--real", "REAL.h5ad", "real cells of the same conditions (ptrag predict --write-real)"},
    {"--out", "DIR", "write DIR/per_condition.csv, summary.csv and cell-eval's results.csv, agg_results.csv"},
    {"--pert-col", "NAME", "obs column with the perturbation (default: gene)"},
    {"--control", "LABEL", "control label (default: non-targeting)"},
    {"--celltype-col", "NAME", "obs column with the cell type (default: cell_type)"},
    {"--no-de", NULL, "skip the differential-expression metrics (faster)"},
    {"--no-distributional", NULL, "skip the PCA and energy-distance metrics (faster)"},
};

int cmd_eval(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv, "ptrag eval --pred PRED.h5ad --real REAL.h5ad [--out DIR] [column flags]",
                       "Scores every held-out (cell type, perturbation) condition of REAL (controls\n"
                       "excluded) with the cell-eval and distributional metrics (docs/metrics.md).",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    const char *pred = cli_get(&a, "--pred", NULL), *real = cli_get(&a, "--real", NULL);
    if (!pred || !real) return cli_usage_error("eval", "--pred and --real are required");
    ptrag_eval_files_opts o;
    ptrag_eval_files_opts_default(&o);
    o.pert_col = cli_get(&a, "--pert-col", o.pert_col);
    o.control = cli_get(&a, "--control", o.control);
    o.celltype_col = cli_get(&a, "--celltype-col", o.celltype_col);
    o.metrics.skip_de = cli_has(&a, "--no-de");
    o.metrics.skip_distributional = cli_has(&a, "--no-distributional");
    ptrag_error err;
    ptrag_eval_result res;
    if (ptrag_eval_files(pred, real, &o, &res, &err)) return cli_report("eval", &err);
    const char *out = cli_get(&a, "--out", NULL);
    rc = 0;
    if (out && (ptrag_eval_write_csv(&res, out, &err) || ptrag_eval_write_cell_eval(&res, out, &err)))
        rc = cli_report("eval", &err);
    if (!rc && ptrag_eval_print_summary(&res, stdout, &err)) rc = cli_report("eval", &err);
    ptrag_eval_result_free(&res);
    return rc;
}
