/* The "Retrieval against truth" section of an experiment on simulated data. */
#include <math.h>
#include <stdio.h>

#include "cli/experiment_report.h"
#include "ptrag/simulate.h"

void exp_truth_retrieval_md(FILE *f, const char *truth_path, const ptrag_prediction_summary *explained) {
    fprintf(f, "## Retrieval against truth\n\n");
    if (!explained || !explained->explained || explained->n_conditions == 0) {
        fprintf(f, "No rag/ptrag run: nothing retrieved to score.\n\n");
        return;
    }
    ptrag_sim_truth *t;
    ptrag_error err;
    ptrag_retrieval_truth r;
    if (ptrag_sim_truth_load(truth_path, &t, &err) || ptrag_retrieval_truth_summary(t, explained, &r, &err)) {
        fprintf(f, "Not computed: %s\n\n", err.msg);
        return;
    }
    ptrag_sim_truth_free(t);
    fprintf(f,
            "Modules from `%s`; the first PT-RAG run's %ld test conditions (first seed, expected selection; stage 2: the kept "
            "fraction of each candidate; docs/simulate.md).\n\n"
            "| stage-1 precision | stage-2 precision | stage-2 AUC |\n|---:|---:|---:|\n"
            "| %.3f | %.3f | %.3f (%ld conditions) |\n\n",
            truth_path, r.n_queries, r.stage1_precision, r.stage2_precision, r.stage2_auc, r.n_auc);
    printf("retrieval against truth: stage-1 precision %.3f, stage-2 precision %.3f, stage-2 AUC %.3f\n",
           r.stage1_precision, r.stage2_precision, r.stage2_auc);
}
