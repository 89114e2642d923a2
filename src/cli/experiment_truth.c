/* Retrieval against truth in an experiment on simulated data: the
 * results.md section and the report.html note. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/experiment_report.h"
#include "ptrag/simulate.h"

/* 0 and r filled, or 1 with why[] saying why nothing was scored. */
static int compute(const char *truth_path, const ptrag_prediction_summary *explained, ptrag_retrieval_truth *r,
                   char *why, size_t n) {
    if (!explained || !explained->explained || explained->n_conditions == 0) {
        snprintf(why, n, "no PT-RAG run: nothing retrieved to score");
        return 1;
    }
    ptrag_sim_truth *t = NULL;
    ptrag_error err;
    if (ptrag_sim_truth_load(truth_path, &t, &err) || ptrag_retrieval_truth_summary(t, explained, r, &err)) {
        snprintf(why, n, "not computed: %s", err.msg);
        ptrag_sim_truth_free(t);
        return 1;
    }
    ptrag_sim_truth_free(t);
    return 0;
}

void exp_truth_retrieval_md(FILE *f, const char *truth_path, const ptrag_prediction_summary *explained) {
    ptrag_retrieval_truth r;
    char why[1200];
    fprintf(f, "## Retrieval against truth\n\n");
    if (compute(truth_path, explained, &r, why, sizeof why)) {
        fprintf(f, "%s.\n\n", why);
        return;
    }
    fprintf(f,
            "Modules from `%s`; the first PT-RAG run's %ld test conditions (first seed, expected selection; "
            "stage 2: the kept fraction of each candidate; docs/simulate.md).\n\n"
            "| stage-1 precision | stage-2 precision | stage-2 AUC |\n|---:|---:|---:|\n"
            "| %.3f | %.3f | %.3f (%ld conditions) |\n\n",
            truth_path, r.n_queries, r.stage1_precision, r.stage2_precision, r.stage2_auc, r.n_auc);
    if (r.n_own)
        fprintf(f,
                "The query's own perturbation (`own_other_celltypes`) was a candidate of %ld conditions, mean kept "
                "fraction %.3f; the scores above count the neighbours only.\n\n",
                r.n_own, r.own_kept);
}

void exp_truth_retrieval_note(const char *truth_path, const ptrag_prediction_summary *explained, char *buf,
                              size_t n) {
    ptrag_retrieval_truth r;
    char why[1200];
    const int compute_failed = compute(truth_path, explained, &r, why, sizeof why);
    if (compute_failed)
        snprintf(buf, n, " Retrieval against truth: %s.", why);
    else
        snprintf(buf, n,
                 " Retrieval against truth (%ld conditions): stage-1 precision %.3f, stage-2 precision %.3f, "
                 "stage-2 AUC %.3f (docs/simulate.md).",
                 r.n_queries, r.stage1_precision, r.stage2_precision, r.stage2_auc);
    size_t len = strlen(buf);
    if (!compute_failed && r.n_own && len < n)
        snprintf(buf + len, n - len, " Own perturbation offered to %ld conditions, mean kept fraction %.3f.",
                 r.n_own, r.own_kept);
}
