/* ptrag explain: which perturbations PT-RAG retrieved and selected for one condition. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/run_opts.h"
#include "ptrag/simulate.h"
#include "ptrag/train.h"

static const cli_opt opts[] = {
    {"--run", "RUN_DIR", "a rag or ptrag run"},
    {"--perturbation", "LABEL", "the perturbation to explain"},
    {"--cell-type", "NAME", "its cell type"},
    {"--checkpoint", "WHICH", "best (default) or last"},
    {"--selection", "MODE", "expected|threshold|sample (default: the run's)"},
    {"--val", NULL, "look among the validation conditions instead of the test ones"},
    {"--truth", "FILE", "truth.h5ad of a simulation: each candidate's module, precision and AUC against it"},
    {"--json", NULL, "machine-readable output"},
};

int cmd_explain(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv, "ptrag explain --run RUN_DIR --perturbation LABEL --cell-type NAME",
                       "Prints the K perturbations stage 1 retrieved for a held-out condition, their similarity\n"
                       "(the embedding cosine, or with --response-retrieval W the mix of it and the response\n"
                       "correlation; column \"cosine\"), and the fraction of the condition's cells whose stage-2 selection kept each.\n"
                       "With --truth (simulated data): each candidate's module, and stage-1 precision, stage-2\n"
                       "precision and AUC against the query's module (docs/simulate.md).",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    const char *pert = cli_get(&a, "--perturbation", NULL), *ct = cli_get(&a, "--cell-type", NULL);
    ptrag_predict_opts o;
    ptrag_predict_opts_default(&o);
    o.run_dir = cli_get(&a, "--run", NULL);
    if (!o.run_dir || !pert || !ct)
        return cli_usage_error("explain", "--run, --perturbation and --cell-type are required");
    o.checkpoint = cli_get(&a, "--checkpoint", "best");
    if (cli_has(&a, "--val")) o.split = PTRAG_SPLIT_VAL;
    if ((rc = cli_selection("explain", cli_get(&a, "--selection", NULL), &o.selection))) return rc;
    ptrag_dataset *d;
    if ((rc = cli_load_run_dataset("explain", o.run_dir, NULL, &d))) return rc;
    ptrag_error err;
    ptrag_prediction_summary s;
    rc = ptrag_predict(d, &o, &s, &err);
    ptrag_dataset_free(d);
    if (rc) return cli_report("explain", &err);
    if (!s.explained) {
        ptrag_prediction_summary_free(&s);
        fprintf(stderr, "ptrag explain: error: %s is a state run: it retrieves nothing\n", o.run_dir);
        return 1;
    }
    const ptrag_explained *e = NULL;
    for (long i = 0; i < s.n_conditions; i++)
        if (strcmp(s.explained[i].perturbation, pert) == 0 && strcmp(s.explained[i].cell_type, ct) == 0)
            e = &s.explained[i];
    if (!e) {
        fprintf(stderr, "ptrag explain: error: (%s, %s) is not a held-out %s condition of this run; held out:", ct,
                pert, o.split == PTRAG_SPLIT_VAL ? "validation" : "test");
        for (long i = 0; i < s.n_conditions; i++)
            fprintf(stderr, "%s %s/%s", i ? "," : "", s.explained[i].cell_type, s.explained[i].perturbation);
        fprintf(stderr, "\n");
        ptrag_prediction_summary_free(&s);
        return 1;
    }
    /* Retrieval against a simulation's truth: modules of the query and each candidate. */
    const char *truth_path = cli_get(&a, "--truth", NULL);
    ptrag_sim_truth *truth = NULL;
    ptrag_retrieval_truth rt;
    int qmod = -1;
    if (truth_path) {
        ptrag_prediction_summary one = {0};
        one.n_conditions = 1;
        one.explained = (ptrag_explained *)e;
        if (ptrag_sim_truth_load(truth_path, &truth, &err) || ptrag_retrieval_truth_summary(truth, &one, &rt, &err)) {
            ptrag_sim_truth_free(truth);
            ptrag_prediction_summary_free(&s);
            return cli_report("explain", &err);
        }
        qmod = ptrag_sim_truth_module(truth, e->perturbation);
    }
    if (cli_has(&a, "--json")) {
        printf("{\"cell_type\": \"%s\", \"perturbation\": \"%s\", \"n_cells\": %ld, \"candidates\": [", e->cell_type,
               e->perturbation, e->n_cells);
        for (int k = 0; k < e->K; k++) {
            printf("%s{\"rank\": %d, \"perturbation\": \"%s\", \"cosine\": %.6f, \"kept_fraction\": ", k ? ", " : "",
                   k + 1, e->cand[k], e->cosine[k]);
            if (isfinite(e->kept[k])) printf("%.4f", e->kept[k]);
            else printf("null");
            if (truth) printf(", \"module\": %d", ptrag_sim_truth_module(truth, e->cand[k]));
            printf("}");
        }
        printf("]");
        if (truth)
            printf(", \"module\": %d, \"stage1_precision\": %.6f, \"stage2_precision\": %.6f, \"stage2_auc\": %.6f",
                   qmod, rt.stage1_precision, rt.stage2_precision, rt.stage2_auc);
        printf("}\n");
    } else {
        printf("%s in %s (%ld cells): %d retrieved perturbations\n", e->perturbation, e->cell_type, e->n_cells, e->K);
        if (truth) printf("module of %s: %d (truth %s)\n", e->perturbation, qmod, truth_path);
        printf("%4s  %-24s %8s %8s%s\n", "rank", "candidate", "cosine", "kept", truth ? "  module" : "");
        for (int k = 0; k < e->K; k++) {
            printf("%4d  %-24s %8.4f ", k + 1, e->cand[k], e->cosine[k]);
            if (isfinite(e->kept[k])) printf("%7.1f%%  ", 100 * e->kept[k]);
            else printf("%8s  ", "-");
            if (truth) { /* '*' marks the query's own module */
                int m = ptrag_sim_truth_module(truth, e->cand[k]);
                printf("%5d%c  ", m, m == qmod && m >= 0 ? '*' : ' ');
            }
            int bars = isfinite(e->kept[k]) ? (int)(e->kept[k] * 20 + 0.5) : 0;
            for (int b = 0; b < bars; b++) putchar('#');
            putchar('\n');
        }
        if (truth)
            printf("against truth: stage-1 precision %.3f (share of the %d in module %d), stage-2 precision %.3f "
                   "(kept-weighted), stage-2 AUC %.3f\n",
                   rt.stage1_precision, e->K, qmod, rt.stage2_precision, rt.stage2_auc);
        if (truth && rt.n_own) printf("(the query's own perturbation is a candidate: scored are the others)\n");
    }
    ptrag_sim_truth_free(truth);
    ptrag_prediction_summary_free(&s);
    return 0;
}
