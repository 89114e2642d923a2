/* Results of an experiment: rows of per-seed metric summaries, training
 * curves, and the writers of results.csv, results.md and report.html. */
#ifndef PTRAG_CLI_EXPERIMENT_REPORT_H
#define PTRAG_CLI_EXPERIMENT_REPORT_H

#include "cli/experiment.h"
#include "ptrag/metrics.h"
#include "ptrag/train.h"

/* A model (a PT-RAG selection mode, or a baseline) and its scores. */
typedef struct exp_row {
    char name[96];
    int n_seeds;
    ptrag_metric_summary (*per_seed)[PTRAG_M_COUNT]; /* each seed's mean over conditions */
    ptrag_metric_summary summary[PTRAG_M_COUNT];      /* mean +- sd over seeds */
    char sources[1024]; /* the folders the scores came from: "runs/state-seed42 (settings 1a2b3c4d), ..." */
} exp_row;

/* Appends folder `dir` (shown relative to the experiment directory) and its
 * settings digest to the row's sources. */
void exp_row_add_source(exp_row *r, const char *exp_dir, const char *dir, uint32_t digest);

#define EXP_MAX_ROWS 32

typedef struct exp_results {
    int n_seeds;
    int n_test, n_val;
    exp_row test[EXP_MAX_ROWS]; /* test conditions: models, then baselines */
    exp_row val[EXP_MAX_ROWS];  /* validation conditions: PT-RAG selection modes */
} exp_results;

/* Training curves read from each run's train_log.csv. */
typedef struct exp_curve {
    char label[96];
    int n;
    double *step, *train, *val, *kept, *val_pearson;
} exp_curve;

typedef struct exp_curves {
    int n;
    exp_curve c[64];
} exp_curves;

void exp_curves_init(exp_curves *c);
void exp_curves_free(exp_curves *c);
/* Appends the curve of one run (silently skips an unreadable log). */
void exp_curves_read(exp_curves *c, const char *run_dir, const char *model, unsigned long long seed);

/* Writes DIR/results.csv, DIR/results.md, DIR/report.html and prints the
 * table to stdout. */
int exp_write_results(const ptrag_experiment *ex, const ptrag_dataset *d, const exp_results *res,
                      const exp_curves *curves, const ptrag_prediction_summary *explained, ptrag_error *err);

/* DIR/report.html from the same data (experiment_html.c). */
int exp_write_html(const ptrag_experiment *ex, const ptrag_dataset *d, const exp_results *res,
                   const exp_curves *curves, const ptrag_prediction_summary *explained, const char *command,
                   ptrag_error *err);

/* "## Retrieval against truth" (experiment_truth.c): stage-1/2 precision and
 * stage-2 AUC of the explained PT-RAG conditions against a simulation's
 * modules; a line saying why when they cannot be computed. */
void exp_truth_retrieval_md(FILE *f, const char *truth_path, const ptrag_prediction_summary *explained);
/* The same as one sentence (leading space) for report.html's notes. */
void exp_truth_retrieval_note(const char *truth_path, const ptrag_prediction_summary *explained, char *buf,
                              size_t n);

#endif
