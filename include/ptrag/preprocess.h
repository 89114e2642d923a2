/* Expression preprocessing on dense row blocks (float32, row-major, cells x
 * genes): raw-count detection, total-count normalisation + log1p, and
 * highly-variable-gene selection (Seurat v3 flavour) from streamed blocks.
 * Nothing here reads files: the caller streams blocks (e.g. with
 * ptrag_h5ad_read_block) and passes them in. */
#ifndef PTRAG_PREPROCESS_H
#define PTRAG_PREPROCESS_H

#include "ptrag/error.h"

/* 1 if every value of the block is a finite non-negative integer (raw
 * counts), else 0; then *bad_row and *bad_col (may be NULL) give the first value
 * that is not. An all-zero block counts as raw counts. */
int ptrag_looks_like_counts(const float *x, long nrows, long ncols, long *bad_row, long *bad_col);

/* `n` row indices spread evenly over [0, n_obs) (all rows when n >= n_obs),
 * ascending: which rows to check with ptrag_looks_like_counts. Returns the
 * number written. */
long ptrag_sample_rows(long n_obs, long n, long *rows);

/* In place, row by row: x <- log1p(x * target_sum / row_total) (scanpy's
 * normalize_total(target_sum) then log1p; natural log; computed in double).
 * Rows whose total is 0 stay 0. Fails (PTRAG_E_NUMERIC) on a negative or
 * non-finite value, naming its row and column; the block is then unchanged
 * from that row on. */
int ptrag_normalize_log1p(float *x, long nrows, long ncols, double target_sum, ptrag_error *err);

/* ---- highly variable genes, Seurat v3 flavour, on raw counts ----
 *
 * Two streamed passes over the same rows (any block sizes, same total):
 *   pass 1: per-gene mean and variance (ddof 1; Chan/Welford merge, double);
 *   ptrag_hvg_next_pass(): fit log10(variance) ~ log10(mean) over the
 *     non-constant genes with a local quadratic regression (loess, span 0.3,
 *     degree 2, tricube weights over the nearest floor(0.3 n) genes,
 *     evaluated exactly at every gene). Scanpy calls skmisc's loess, which
 *     by default evaluates on a kd-tree and interpolates between vertices
 *     (surface="interpolate"); this direct evaluation is the curve that
 *     interpolation approximates, so fitted values differ slightly (typically
 *     in the 3rd-4th digit) and genes near the cutoff may swap. Constant genes
 *     get a fitted log10 variance of 0, as in scanpy.
 *     expected sd_g = sqrt(10^fit_g); clip_g = mean_g + sd_g * sqrt(N);
 *   pass 2: per-gene sums of min(x, clip_g) and of its square;
 *   ptrag_hvg_finish(): standardised variance
 *     v_g = (N mean_g^2 + sum_sq_g - 2 mean_g sum_g) / ((N - 1) sd_g^2),
 *     genes ranked by v_g descending (ties: lower index first); the top
 *     n_top indices are returned in ascending gene order (the order a
 *     subset keeps). Single batch (scanpy's batch_key=None). */
typedef struct ptrag_hvg ptrag_hvg;

int ptrag_hvg_new(long n_genes, ptrag_hvg **out, ptrag_error *err);
void ptrag_hvg_free(ptrag_hvg *h);
/* Adds rows to the current pass. Values must be finite and >= 0. */
int ptrag_hvg_add_block(ptrag_hvg *h, const float *x, long nrows, ptrag_error *err);
/* Ends pass 1 and fits the trend (needs >= 2 rows and >= 2 non-constant genes). */
int ptrag_hvg_next_pass(ptrag_hvg *h, ptrag_error *err);
/* Ends pass 2 (it must have seen as many rows as pass 1) and writes the top
 * n_top gene indices, ascending, into genes[n_top]. */
int ptrag_hvg_finish(ptrag_hvg *h, long n_top, long *genes, ptrag_error *err);
/* Per-gene statistics (length n_genes), valid after the call that computes
 * them: mean and variance after next_pass; fitted log10 variance after
 * next_pass; standardised variance after finish. NULL before. */
const double *ptrag_hvg_means(const ptrag_hvg *h);
const double *ptrag_hvg_variances(const ptrag_hvg *h);
const double *ptrag_hvg_fitted_log10_var(const ptrag_hvg *h);
const double *ptrag_hvg_scores(const ptrag_hvg *h);

/* The local-regression fit used above, exposed for testing: for points
 * (x[i], y[i]), i < n, writes the loess fit at each x[i] into fit[i]. */
int ptrag_loess_fit(const double *x, const double *y, long n, double span, int degree,
                    double *fit, ptrag_error *err);

#endif
