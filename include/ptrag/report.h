/* The experiment report: a self-contained HTML page (inline CSS and SVG, no
 * script, no network reference) and a markdown summary, written from data the
 * caller holds in memory:
 *  - a results table, models x metrics, "mean ± sd" over seeds, the best
 *    model per metric highlighted (direction from ptrag_metric_info_of);
 *  - one bar chart with sd error bars per key metric, every model and
 *    baseline a bar;
 *  - training curves (train and val loss vs step, one line per model x seed;
 *    optional PT-RAG kept-fraction curves);
 *  - retrieval explanations: per held-out condition, the candidate
 *    perturbations with cosine similarity and the fraction of cells that
 *    selected each (a small horizontal bar).
 * Every caller string is escaped. Nothing here reads files or prints. */
#ifndef PTRAG_REPORT_H
#define PTRAG_REPORT_H

#include "ptrag/error.h"
#include "ptrag/metrics.h"

/* One row of the table / one bar per chart. */
typedef struct ptrag_report_model {
    const char *name;     /* "ptrag", "state", "pert-mean", ... */
    int is_baseline;      /* drawn in greys and marked "baseline" */
    int n_seeds;          /* runs behind the numbers (shown in the table) */
    ptrag_metric_summary m[PTRAG_M_COUNT]; /* mean and sd over seeds; NaN mean = missing */
} ptrag_report_model;

/* One training run's curves; arrays of n points (NaN = no value at that
 * step: the line joins the finite points, e.g. val loss every k steps). */
typedef struct ptrag_report_curve {
    const char *model;    /* curves of the same model share a colour */
    const char *label;    /* legend text, e.g. "ptrag seed 2" */
    long n;
    const double *step;   /* n, increasing */
    const double *train;  /* n training loss, or NULL */
    const double *val;    /* n validation loss, or NULL */
    const double *kept;   /* n PT-RAG kept fraction in [0, 1], or NULL */
    const double *val_pearson; /* n validation pearson_delta (what picks best.ckpt by default), or NULL */
} ptrag_report_curve;

/* Retrieval explanation of one held-out condition. */
typedef struct ptrag_report_explanation {
    const char *condition;          /* "A172 / MAPK1" */
    int n;                          /* candidates */
    const char *const *candidate;   /* n perturbation names */
    const double *cosine;           /* n cosine similarities to the held-out perturbation */
    const double *fraction;         /* n fractions of cells that selected it, in [0, 1] */
} ptrag_report_explanation;

typedef struct ptrag_report {
    const char *title;
    const char *command;  /* the exact command that produced the results */
    const char *notes;    /* optional paragraph (data, split, ...), or NULL */
    const ptrag_report_model *models;
    int n_models;
    const int *metrics;   /* table columns and charts (metric ids), or NULL: the key metrics */
    int n_metrics;
    const ptrag_report_curve *curves;
    int n_curves;
    const ptrag_report_explanation *explanations;
    int n_explanations;
} ptrag_report;

/* The key metrics shown by default: pearson_delta, mse, mae,
 * discrimination_score_l1, overlap_at_N, w1_pca, w2_pca, mmd_pca,
 * energy_pca, energy_genes. Returns their count; *ids points to a static array. */
int ptrag_report_key_metrics(const int **ids);

/* Mean and sample sd over seeds of each metric's per-seed mean
 * (per_seed[s][m].mean, NaN ignored); out[m].n = seeds with a finite value. */
void ptrag_report_combine_seeds(const ptrag_metric_summary (*per_seed)[PTRAG_M_COUNT], int n_seeds,
                                ptrag_metric_summary out[PTRAG_M_COUNT]);

/* The page as a malloc'ed string / written atomically to `path`. Errors:
 * PTRAG_E_ARG for inconsistent input (named field), PTRAG_E_NOMEM, PTRAG_E_IO. */
int ptrag_report_format_html(const ptrag_report *r, char **html, ptrag_error *err);
int ptrag_report_write_html(const ptrag_report *r, const char *path, ptrag_error *err);

/* Markdown: title, the command in a code block, the results table
 * (ptrag_eval_format_comparison, best in bold) and the seed counts. */
int ptrag_report_format_markdown(const ptrag_report *r, char **md, ptrag_error *err);
int ptrag_report_write_markdown(const ptrag_report *r, const char *path, ptrag_error *err);

#endif
