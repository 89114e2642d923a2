/* results.csv and agg_results.csv in cell-eval's layout (ArcInstitute/cell-eval:
 * MetricPipeline.get_results() pivots one row per perturbation, one column per
 * metric; get_agg_results() is polars' DataFrame.describe() of those columns),
 * so scripts written for cell-eval read ptrag's scores unchanged. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/strbuf.h"
#include "ptrag/fsutil.h"
#include "ptrag/metrics.h"

const char *ptrag_metric_cell_eval_name(int id) {
    /* cell-eval's names for the metrics it computes the same way; DENsigCounts
     * returns {real, pred}, which its pipeline flattens to name_real/name_pred. */
    switch (id) {
    case PTRAG_M_DE_SIG_RECALL: return "de_sig_genes_recall";
    case PTRAG_M_DE_NSIG_REAL: return "de_nsig_counts_real";
    case PTRAG_M_DE_NSIG_PRED: return "de_nsig_counts_pred";
    default: {
        const ptrag_metric_info *m = ptrag_metric_info_of(id);
        return m ? m->name : NULL;
    }
    }
}

/* Full precision: these files are compared value for value. NaN is a null. */
static void put_value(strbuf *sb, double v) {
    if (isfinite(v)) ptrag_sb_printf(sb, "%.17g", v);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int write_text(const char *dir, const char *name, strbuf *sb, ptrag_error *err) {
    char path[4096];
    ptrag_path_join(dir, name, path, sizeof path);
    int rc = sb->failed ? ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory while formatting", path)
                        : ptrag_write_file_atomic(path, sb->s ? sb->s : "", sb->len, err);
    ptrag_sb_free(sb);
    return rc;
}

/* One column's describe() statistics, in cell-eval's row order. */
enum { ST_COUNT, ST_NULLS, ST_MEAN, ST_STD, ST_MIN, ST_Q25, ST_Q50, ST_Q75, ST_MAX, ST_N };
static const char *const stat_names[ST_N] = {"count", "null_count", "mean", "std", "min",
                                             "25%",   "50%",        "75%",  "max"};

static void describe(const double *col, long n, double *sorted, double st[ST_N]) {
    long k = 0;
    double sum = 0;
    for (long i = 0; i < n; i++)
        if (isfinite(col[i])) {
            sorted[k++] = col[i];
            sum += col[i];
        }
    for (int s = 0; s < ST_N; s++) st[s] = NAN;
    st[ST_COUNT] = (double)k;
    st[ST_NULLS] = (double)(n - k);
    if (k == 0) return;
    qsort(sorted, (size_t)k, sizeof *sorted, cmp_double);
    double mean = sum / (double)k, ss = 0;
    for (long i = 0; i < k; i++) ss += (sorted[i] - mean) * (sorted[i] - mean);
    st[ST_MEAN] = mean;
    if (k > 1) st[ST_STD] = sqrt(ss / (double)(k - 1));
    st[ST_MIN] = sorted[0];
    st[ST_MAX] = sorted[k - 1];
    const double q[3] = {0.25, 0.5, 0.75};
    for (int j = 0; j < 3; j++) st[ST_Q25 + j] = sorted[(long)round((double)(k - 1) * q[j])];
}

int ptrag_eval_write_cell_eval(const ptrag_eval_result *r, const char *dir, ptrag_error *err) {
    int rc = ptrag_mkdir_p(dir, err);
    if (rc) return rc;
    int several_types = 0;
    for (long i = 1; i < r->n_conditions; i++)
        several_types |= strcmp(r->conditions[i].cell_type, r->conditions[0].cell_type) != 0;

    strbuf sb = {0};
    ptrag_sb_printf(&sb, "perturbation");
    for (int m = 0; m < PTRAG_M_COUNT; m++) ptrag_sb_printf(&sb, ",%s", ptrag_metric_cell_eval_name(m));
    ptrag_sb_printf(&sb, "\n");
    for (long i = 0; i < r->n_conditions; i++) {
        const ptrag_condition_scores *c = &r->conditions[i];
        char label[600];
        if (several_types) snprintf(label, sizeof label, "%s:%s", c->cell_type, c->perturbation);
        else snprintf(label, sizeof label, "%s", c->perturbation);
        ptrag_sb_csv_field(&sb, label);
        for (int m = 0; m < PTRAG_M_COUNT; m++) {
            ptrag_sb_printf(&sb, ",");
            put_value(&sb, c->v[m]);
        }
        ptrag_sb_printf(&sb, "\n");
    }
    if ((rc = write_text(dir, "results.csv", &sb, err))) return rc;

    long n = r->n_conditions;
    double *col = malloc((size_t)(n ? n : 1) * sizeof *col), *sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
    double (*st)[ST_N] = malloc(sizeof *st * PTRAG_M_COUNT);
    if (!col || !sorted || !st) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", dir);
    for (int m = 0; !rc && m < PTRAG_M_COUNT; m++) {
        for (long i = 0; i < n; i++) col[i] = r->conditions[i].v[m];
        describe(col, n, sorted, st[m]);
    }
    if (!rc) {
        ptrag_sb_printf(&sb, "statistic");
        for (int m = 0; m < PTRAG_M_COUNT; m++) ptrag_sb_printf(&sb, ",%s", ptrag_metric_cell_eval_name(m));
        ptrag_sb_printf(&sb, "\n");
        for (int s = 0; s < ST_N; s++) {
            ptrag_sb_printf(&sb, "%s", stat_names[s]);
            for (int m = 0; m < PTRAG_M_COUNT; m++) {
                ptrag_sb_printf(&sb, ",");
                put_value(&sb, st[m][s]);
            }
            ptrag_sb_printf(&sb, "\n");
        }
        rc = write_text(dir, "agg_results.csv", &sb, err);
    }
    free(col);
    free(sorted);
    free(st);
    return rc;
}
