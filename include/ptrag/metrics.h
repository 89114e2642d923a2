/* Stage src/eval of the pipeline (include/ptrag.h, README "Layout"): scoring; uses sim (truth), data, nn.
 *
 * Evaluation metrics for perturbation predictions (design.md section 4,
 * reference-metrics.md sections 2-3; exact definitions in docs/metrics.md).
 *
 * Everything works on in-memory dense float32 matrices, row-major, one row per
 * cell, all in the same gene order. Reading files and grouping cells into
 * (cell type, perturbation) conditions is the caller's job.
 *
 * Two layers:
 *  - building blocks (column means, Pearson, Mann-Whitney U, BH FDR, DE,
 *    1-D distances, energy distance, PCA), each usable and testable alone;
 *  - ptrag_evaluate(): scores every held-out condition of one or more cell
 *    types, then summaries, CSV output and readable tables.
 *
 * Conventions: results do not depend on the OpenMP thread count (parallel
 * loops write per-gene / per-component slots that are reduced in index
 * order); statistics are accumulated in double; nothing here prints. */
#ifndef PTRAG_METRICS_H
#define PTRAG_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "ptrag/error.h"

/* ------------------------------------------------------------------ */
/* The metric table                                                    */
/* ------------------------------------------------------------------ */

typedef enum {
    PTRAG_M_PEARSON_DELTA = 0,        /* Pearson(pred delta, real delta); best 1 */
    PTRAG_M_PEARSON_DELTA_DEGENERATE, /* 1 when a delta was constant (scored 0) */
    PTRAG_M_MSE,                      /* mean profiles; best 0 */
    PTRAG_M_MAE,
    PTRAG_M_MSE_DELTA,                /* deltas from the respective control; best 0 */
    PTRAG_M_MAE_DELTA,
    PTRAG_M_DISCRIMINATION_L1,        /* 1 - rank/N within the cell type; best 1 */
    PTRAG_M_OVERLAP_AT_N,             /* DE top-k overlap, k = #real significant; best 1 */
    PTRAG_M_PRECISION_AT_N,           /* same, k = #pred significant; best 1 */
    PTRAG_M_DE_DIRECTION_MATCH,       /* sign agreement on real-significant genes; best 1 */
    PTRAG_M_DE_SIG_RECALL,            /* |sig_real & sig_pred| / |sig_real|; best 1 */
    PTRAG_M_DE_NSIG_REAL,             /* counts of significant genes (information) */
    PTRAG_M_DE_NSIG_PRED,
    PTRAG_M_W1_PCA,                   /* per-PC 1-D distances, averaged over PCs; best 0 */
    PTRAG_M_W2_PCA,
    PTRAG_M_MMD_PCA,
    PTRAG_M_ENERGY_PCA,
    PTRAG_M_ENERGY_GENES,             /* multivariate energy distance in gene space; best 0 */
    PTRAG_M_PEARSON_DELTA_PERT,       /* Pearson of shifts from the training perturbed mean; best 1 */
    PTRAG_M_COUNT
} ptrag_metric_id;

typedef enum { PTRAG_BEST_LOW = -1, PTRAG_BEST_NONE = 0, PTRAG_BEST_HIGH = 1 } ptrag_metric_best;

typedef struct ptrag_metric_info {
    const char *name;   /* column name in the CSV files ("pearson_delta", ...) */
    int best;           /* ptrag_metric_best: which direction is better */
    double best_value;  /* value of a perfect prediction (NaN for counts) */
    const char *what;   /* one-line description */
} ptrag_metric_info;

/* Info of metric `id`, or NULL when out of range. */
const ptrag_metric_info *ptrag_metric_info_of(int id);
/* Id of a metric name, or -1. */
int ptrag_metric_by_name(const char *name);

/* ------------------------------------------------------------------ */
/* Mean profiles                                                       */
/* ------------------------------------------------------------------ */

/* Column means of an n x g matrix (the pseudobulk), in double. n >= 1. */
void ptrag_col_means(const float *x, long n, long g, double *mean);

/* Pearson correlation of a and b over n values. When either side is constant
 * (zero centred sum of squares) or n < 2, returns 0 and sets *degenerate = 1
 * (otherwise 0); `degenerate` may be NULL. */
double ptrag_pearson(const double *a, const double *b, long n, int *degenerate);

typedef struct ptrag_profile_scores {
    double pearson_delta;
    int pearson_degenerate; /* a delta was constant: pearson_delta = 0 */
    double mse, mae;        /* pred mean vs real mean */
    double mse_delta, mae_delta;
} ptrag_profile_scores;

/* Profile metrics of one condition from the four mean profiles (g values each):
 * pred delta = mean_pred - mean_pred_ctrl, real delta = mean_real - mean_real_ctrl.
 * A delta counts as constant when max_j |d_j - mean(d)| <= 1e-6 * the largest
 * |value| of its two mean profiles: a prediction that copies the control mean
 * (rounded to float32) has a pure rounding-noise delta and is scored 0, not a
 * correlation of noise. */
void ptrag_profile_scores_compute(const double *mean_pred, const double *mean_pred_ctrl,
                                  const double *mean_real, const double *mean_real_ctrl, long g,
                                  ptrag_profile_scores *out);

/* Pearson of (mean_pred - ref) and (mean_real - ref) over g genes: the
 * shifts measured from a reference profile instead of from control
 * (pearson_delta_pert, ref = mean of the cell type's perturbed training
 * cells; Systema). Same constant-shift rule as pearson_delta: 0 and
 * *degenerate = 1 (may be NULL) when either shift is constant. */
double ptrag_pearson_shift(const double *mean_pred, const double *mean_real, const double *ref, long g,
                           int *degenerate);

/* ------------------------------------------------------------------ */
/* Discrimination score (cell-eval discrimination_score_l1)            */
/* ------------------------------------------------------------------ */

/* Marks mask[j] = 1 for every gene j whose name equals the perturbation label
 * or one of its '+'-separated parts ("A+B" marks A and B); others 0. Returns
 * the number of marked columns. */
long ptrag_target_gene_mask(const char *perturbation, const char *const *gene_names, long g,
                            unsigned char *mask);

/* n conditions of one cell type, deltas n x g (double, row-major). For each p:
 * d_q = L1(pred_delta[p], real_delta[q]) over the columns not excluded for p
 * (exclude: n x g bytes, 1 = skip, or NULL); rank = #{q: d_q < d_p} +
 * #{q < p: d_q == d_p}; score[p] = 1 - rank / n. */
void ptrag_discrimination_l1(const double *pred_delta, const double *real_delta, long n, long g,
                             const unsigned char *exclude, double *score);

/* ------------------------------------------------------------------ */
/* Differential expression                                             */
/* ------------------------------------------------------------------ */

/* Two-sided Mann-Whitney U test (scipy.stats.mannwhitneyu with
 * method="asymptotic", use_continuity=True) of x vs y, both sorted ascending.
 * Average ranks for ties, tie-corrected variance, normal approximation.
 * Returns the p-value in [0, 1]; 1 when every value is tied. *u1 (may be NULL)
 * receives U of x. nx, ny >= 1. */
double ptrag_mann_whitney_sorted(const float *x, long nx, const float *y, long ny, double *u1);

/* Benjamini-Hochberg adjusted p-values (scipy false_discovery_control,
 * method "bh"): q_i = min over ranks >= rank(i) of p * m / rank, clipped to 1.
 * `order` is scratch of m longs. */
void ptrag_bh_fdr(const double *p, long m, double *q, long *order);

typedef struct ptrag_de_options {
    double fdr;      /* significance threshold on BH FDR (0.05) */
    int log1p_input; /* 1: values are log1p(normalised counts); fold changes on
                        expm1(mean) as pdex/cell-eval. 0: on the plain means. */
    double lfc_eps;  /* pseudocount in log2((a + eps) / (b + eps)) (1e-9) */
} ptrag_de_options;

void ptrag_de_options_default(ptrag_de_options *o);

/* Control cells of one cell type, sorted per gene once and reused for every
 * condition tested against them. */
typedef struct ptrag_de_reference ptrag_de_reference;

int ptrag_de_reference_new(const float *ctrl, long n, long g, ptrag_de_reference **out,
                           ptrag_error *err);
void ptrag_de_reference_free(ptrag_de_reference *ref);

typedef struct ptrag_de_result {
    long g;
    double *pvalue;       /* g: Mann-Whitney p */
    double *fdr;          /* g: BH over the g genes */
    double *log2fc;       /* g: condition vs control (NaN-free: undefined ratios are 0) */
    unsigned char *sig;   /* g: fdr < threshold */
    long n_sig;
    long *ranked;         /* n_sig gene indices: |log2fc| descending, index ascending */
} ptrag_de_result;

/* Tests every gene of x (n x g, n >= 1) against the reference controls.
 * Parallel over genes; `out` is allocated here (free with ptrag_de_result_free). */
int ptrag_de_test(const ptrag_de_reference *ref, const float *x, long n,
                  const ptrag_de_options *opt, ptrag_de_result *out, ptrag_error *err);
void ptrag_de_result_free(ptrag_de_result *r);

typedef struct ptrag_de_scores {
    double overlap_at_n;    /* |top_k(real) & top_k(pred)| / k, k = n_sig_real; 0 if either has none */
    double precision_at_n;  /* same with k = n_sig_pred; 0 if either has none */
    double direction_match; /* NaN when real has no significant gene */
    double sig_recall;      /* NaN when real has no significant gene */
    long nsig_real, nsig_pred;
} ptrag_de_scores;

void ptrag_de_compare(const ptrag_de_result *real, const ptrag_de_result *pred,
                      ptrag_de_scores *out);

/* ------------------------------------------------------------------ */
/* Distribution distances                                              */
/* ------------------------------------------------------------------ */

/* 1-D distances between two samples sorted ascending (n, m >= 1), equal weights.
 * W1 and W2 are exact (quantile coupling, any sizes); W2 is the true W2,
 * sqrt(int_0^1 (F^-1 - G^-1)^2), not 1/2 W2^2. Energy is the full energy
 * distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (V-statistic), clipped at >= 0. */
double ptrag_w1_sorted(const double *x, long n, const double *y, long m);
double ptrag_w2_sorted(const double *x, long n, const double *y, long m);
double ptrag_energy_1d_sorted(const double *x, long n, const double *y, long m);

/* Median of the non-zero |a_i - a_j| (i < j) of a sorted sample (numpy median:
 * mean of the two middle values for an even count); 0 when none is non-zero. */
double ptrag_median_pairwise_distance(const double *a_sorted, long n);

/* Unbiased squared MMD with RBF kernel exp(-(x-y)^2 / (2 sigma^2)) between x
 * and y, both sorted ascending; sigma = median heuristic
 * (ptrag_median_pairwise_distance) over the pooled sample (1.0 when that
 * median is 0), clipped
 * at >= 0 (GGE convention). NaN when n < 2 or m < 2. `pooled` is scratch of
 * n + m doubles; *sigma (may be NULL) receives the bandwidth. */
double ptrag_mmd_rbf_1d(const double *x, long n, const double *y, long m, double *pooled,
                        double *sigma);

typedef struct ptrag_dist_scores {
    double w1, w2, mmd, energy;
} ptrag_dist_scores;

/* The four 1-D distances per column of x (n x d) vs y (m x d), then averaged
 * over columns ignoring NaN (GGE's nanmean). per_feature: d entries or NULL.
 * Parallel over columns. */
int ptrag_feature_distances(const float *x, long n, const float *y, long m, long d,
                            ptrag_dist_scores *mean, ptrag_dist_scores *per_feature,
                            ptrag_error *err);

/* Multivariate energy distance 2E|X-Y| - E|X-X'| - E|Y-Y'| (Euclidean,
 * V-statistic, diagonal included, as cell-eval's edistance) between x (n x g)
 * and y (m x g); Gram matrices by sgemm on data centred by the pooled mean;
 * clipped at >= 0. */
int ptrag_energy_distance(const float *x, long n, const float *y, long m, long g, double *out,
                          ptrag_error *err);

/* ------------------------------------------------------------------ */
/* PCA                                                                 */
/* ------------------------------------------------------------------ */

typedef struct ptrag_pca {
    long g;              /* input dimension */
    int k;               /* components kept */
    long n_fit;          /* rows it was fitted on */
    double *mean;        /* g */
    float *components;   /* g x k row-major: column c is component c (unit norm) */
    double *variance;    /* k: explained variance (eigenvalues, n-1 denominator), descending */
    double total_variance; /* trace of the covariance */
} ptrag_pca;

/* Streaming fit: add row blocks in a fixed order, then finish. The covariance
 * is accumulated in double from sgemm products of shifted blocks. */
typedef struct ptrag_pca_accum ptrag_pca_accum;

int ptrag_pca_accum_new(long g, ptrag_pca_accum **out, ptrag_error *err);
int ptrag_pca_accum_add(ptrag_pca_accum *a, const float *x, long n, ptrag_error *err);
/* k = min(k_max, n - 1, g - 1) components by LAPACK dsyevr on the g x g
 * covariance; each component's largest-|loading| entry is made positive
 * (lowest index on ties), as sklearn's svd_flip. Needs n >= 2 and g >= 2. */
int ptrag_pca_accum_finish(ptrag_pca_accum *a, int k_max, ptrag_pca *out, ptrag_error *err);
void ptrag_pca_accum_free(ptrag_pca_accum *a);

/* One-shot fit on an n x g matrix. */
int ptrag_pca_fit(const float *x, long n, long g, int k_max, ptrag_pca *out, ptrag_error *err);
/* out (n x k) = (x - mean) * components. */
int ptrag_pca_project(const ptrag_pca *pca, const float *x, long n, float *out, ptrag_error *err);
void ptrag_pca_free(ptrag_pca *pca);

/* ------------------------------------------------------------------ */
/* Whole evaluation                                                    */
/* ------------------------------------------------------------------ */

typedef struct ptrag_eval_condition {
    const char *perturbation; /* label, e.g. "TP53" or "A+B" (never the control) */
    const float *real;        /* n_real x g, real perturbed cells */
    long n_real;
    const float *pred;        /* n_pred x g, predicted cells */
    long n_pred;
} ptrag_eval_condition;

/* All held-out conditions of one cell type with that cell type's controls. */
typedef struct ptrag_eval_group {
    const char *cell_type;
    const float *real_ctrl;   /* n_real_ctrl x g, real control cells (required) */
    long n_real_ctrl;
    const float *pred_ctrl;   /* n_pred_ctrl x g, predicted control cells, or NULL:
                                 then the real controls stand in for them */
    long n_pred_ctrl;
    const ptrag_eval_condition *conds;
    long n_conds;
    const double *pert_ref;   /* g values: mean of the cell type's perturbed training
                                 cells (pearson_delta_pert), or NULL: that metric is NaN */
} ptrag_eval_group;

typedef struct ptrag_eval_options {
    int n_pca;              /* PCA components requested (50) */
    ptrag_de_options de;    /* DE test settings */
    int skip_de;            /* 1: DE metrics are NaN (faster) */
    int skip_distributional;/* 1: PCA and energy metrics are NaN (faster) */
} ptrag_eval_options;

void ptrag_eval_options_default(ptrag_eval_options *o);

typedef struct ptrag_metric_summary {
    double mean; /* over conditions, NaN ignored; NaN when n == 0 */
    double sd;   /* sample sd (n - 1); NaN when n < 2 */
    long n;      /* conditions with a finite value */
} ptrag_metric_summary;

typedef struct ptrag_condition_scores {
    char *cell_type;
    char *perturbation;
    long n_real, n_pred;
    double v[PTRAG_M_COUNT]; /* indexed by ptrag_metric_id; NaN = not defined */
} ptrag_condition_scores;

typedef struct ptrag_eval_result {
    long n_conditions;
    ptrag_condition_scores *conditions;        /* groups in order, conditions in order */
    ptrag_metric_summary summary[PTRAG_M_COUNT];
    int n_pca_components;                      /* 0 when skipped */
    long n_pearson_degenerate;                 /* conditions whose pearson_delta was set to 0 */
    long n_groups_pred_ctrl_fallback;          /* groups scored with real controls for pred */
} ptrag_eval_result;

/* Scores every condition. `gene_names` (g names, may be NULL) lets the
 * discrimination score drop the perturbation's own gene. `pca` is the basis
 * for the per-PC distances; NULL fits PCA (opt->n_pca) on all real perturbed
 * cells of all groups. Every matrix must be finite; a condition needs
 * n_real >= 1 and n_pred >= 1; a group needs n_real_ctrl >= 1. */
int ptrag_evaluate(const ptrag_eval_group *groups, long n_groups, long g,
                   const char *const *gene_names, const ptrag_pca *pca,
                   const ptrag_eval_options *opt, ptrag_eval_result *out, ptrag_error *err);
void ptrag_eval_result_free(ptrag_eval_result *r);

/* Split-half ceiling: each condition's real cells (and each group's real
 * controls) are split at random into two halves; one half is scored as the
 * prediction of the other with ptrag_evaluate (the `pred` matrices of the
 * groups are ignored), over n_splits random splits (seeded). out: per metric,
 * mean over splits of the condition mean, sd over splits (as seeds in
 * ptrag_report_combine_seeds). A matrix of one cell is used for both halves.
 * Memory: about twice the real cells. */
int ptrag_eval_ceiling(const ptrag_eval_group *groups, long n_groups, long g, const char *const *gene_names,
                       const ptrag_eval_options *opt, int n_splits, uint64_t seed,
                       ptrag_metric_summary out[PTRAG_M_COUNT], ptrag_error *err);

/* Mean, sample sd and count of the finite values among v[0], v[stride], ... */
void ptrag_metric_summarize(const double *v, long n, long stride, ptrag_metric_summary *out);
/* (Re)computes r->summary from r->conditions. */
void ptrag_eval_summarize(ptrag_eval_result *r);

/* Writes DIR/per_condition.csv (cell_type, perturbation, n_real, n_pred, one
 * column per metric) and DIR/summary.csv (metric, mean, sd, n), each
 * atomically; creates DIR. Missing values are written as "nan". */
int ptrag_eval_write_csv(const ptrag_eval_result *r, const char *dir, ptrag_error *err);
/* Writes cell-eval's files to DIR: results.csv (a `perturbation` column, then
 * one column per metric under cell-eval's name where the metric is the same:
 * de_sig_genes_recall, de_nsig_counts_real/_pred; ptrag's own names
 * otherwise) and agg_results.csv (a `statistic` column: count, null_count,
 * mean, std, min, 25%, 50%, 75%, max of each metric column, as polars'
 * describe() computes them: nulls skipped, std with n - 1, quantiles by the
 * nearest rank round((n - 1) q)). Undefined values are empty fields (nulls).
 * When the result holds several cell types the label is "CELLTYPE:PERT". */
int ptrag_eval_write_cell_eval(const ptrag_eval_result *r, const char *dir, ptrag_error *err);
/* Name of metric `id` in cell-eval's files. */
const char *ptrag_metric_cell_eval_name(int id);

/* Reads a summary.csv written above (for reusing finished runs). Metrics not
 * in the file get mean = sd = NaN, n = 0. */
int ptrag_eval_read_summary_csv(const char *path, ptrag_metric_summary out[PTRAG_M_COUNT],
                                ptrag_error *err);

/* Readable fixed-width summary table (metric, best, mean, sd, n) plus a note
 * on degenerate Pearson deltas, as a malloc'ed string / written to fp. */
int ptrag_eval_format_summary(const ptrag_eval_result *r, char **text, ptrag_error *err);
int ptrag_eval_print_summary(const ptrag_eval_result *r, FILE *fp, ptrag_error *err);

typedef enum {
    PTRAG_TABLE_TEXT = 0,     /* fixed-width columns, "mean +- sd" */
    PTRAG_TABLE_MARKDOWN = 1, /* GitHub table, "mean ± sd", best model in bold */
    PTRAG_TABLE_CSV = 2       /* model,<metric>_mean,<metric>_sd,<metric>_n,... */
} ptrag_table_style;

typedef struct ptrag_model_summary {
    const char *model;
    const ptrag_metric_summary *m; /* PTRAG_M_COUNT entries */
} ptrag_model_summary;

/* Models (rows) x metrics (columns). metrics: ids to show, or NULL for all. */
int ptrag_eval_format_comparison(const ptrag_model_summary *models, int n_models,
                                 const int *metrics, int n_metrics, int style, char **text,
                                 ptrag_error *err);

#endif
