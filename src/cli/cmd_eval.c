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
    {"--pert-ref", "REF.h5ad", "reference of pearson_delta_pert (ptrag baseline --write-pert-ref); else NaN"},
    {"--ceiling", "N", "instead of --pred: the split-half ceiling of REAL over N random splits"},
    {"--seed", "N", "seed of the ceiling's splits (default 42)"},
    {"--no-de", NULL, "skip the differential-expression metrics (faster)"},
    {"--no-distributional", NULL, "skip the PCA and energy-distance metrics (faster)"},
};

int cmd_eval(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv,
                       "ptrag eval --pred PRED.h5ad --real REAL.h5ad [--pert-ref REF.h5ad] [--out DIR] [column flags]\n"
                       "       ptrag eval --ceiling N --real REAL.h5ad [--pert-ref REF.h5ad] [column flags]",
                       "Scores every held-out (cell type, perturbation) condition of REAL (controls\n"
                       "excluded) with the cell-eval and distributional metrics (docs/metrics.md).\n"
                       "--ceiling N instead scores one random half of REAL's cells as the prediction of the\n"
                       "other half (controls likewise), averaged over N splits: the agreement of two\n"
                       "half-size replicates, not an upper bound (docs/evaluation.md, \"The ceiling row\").",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    const char *pred = cli_get(&a, "--pred", NULL), *real = cli_get(&a, "--real", NULL);
    long ceiling = 0, seed = 42;
    if (cli_get_long(&a, "--ceiling", 0, 1, 1000, &ceiling)) return 2;
    if (cli_get_long(&a, "--seed", 42, 0, 0x7fffffffL, &seed)) return 2;
    if (!real || (!pred && !ceiling) || (pred && ceiling))
        return cli_usage_error("eval", "give --real and either --pred or --ceiling N");
    ptrag_eval_files_opts o;
    ptrag_eval_files_opts_default(&o);
    o.pert_col = cli_get(&a, "--pert-col", o.pert_col);
    o.control = cli_get(&a, "--control", o.control);
    o.celltype_col = cli_get(&a, "--celltype-col", o.celltype_col);
    o.metrics.skip_de = cli_has(&a, "--no-de");
    o.metrics.skip_distributional = cli_has(&a, "--no-distributional");
    o.pert_ref = cli_get(&a, "--pert-ref", NULL);
    ptrag_error err;
    if (ceiling) {
        ptrag_metric_summary m[PTRAG_M_COUNT];
        if (ptrag_eval_files_ceiling(real, &o, (int)ceiling, (uint64_t)seed, m, &err)) return cli_report("eval", &err);
        printf("split-half ceiling of %s over %ld splits (mean over conditions, mean +- sd over splits)\n", real,
               ceiling);
        for (int k = 0; k < PTRAG_M_COUNT; k++)
            printf("  %-26s %10.4f +- %.4f\n", ptrag_metric_info_of(k)->name, m[k].mean, m[k].sd);
        return 0;
    }
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
