/* Readable tables: one run's summary, and several models side by side. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/strbuf.h"
#include "ptrag/metrics.h"

static const char *best_word(int best) {
    return best == PTRAG_BEST_HIGH ? "high" : best == PTRAG_BEST_LOW ? "low" : "-";
}

/* "%.4g" or "-" for a missing value, into buf. */
static void fmt_value(char *buf, size_t n, double v) {
    if (isfinite(v))
        snprintf(buf, n, "%.4g", v);
    else
        snprintf(buf, n, "-");
}

static int finish(strbuf *sb, char **text, ptrag_error *err) {
    if (sb->failed) {
        ptrag_sb_free(sb);
        *text = NULL;
        return ptrag_fail(err, PTRAG_E_NOMEM, "report table: out of memory");
    }
    if (!sb->s) ptrag_sb_printf(sb, "%s", "");
    *text = sb->s;
    return 0;
}

int ptrag_eval_format_summary(const ptrag_eval_result *r, char **text, ptrag_error *err) {
    strbuf sb = {0};
    int name_w = 6;
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        int l = (int)strlen(ptrag_metric_info_of(m)->name);
        if (l > name_w) name_w = l;
    }
    ptrag_sb_printf(&sb, "%-*s  %4s  %11s  %11s  %6s\n", name_w, "metric", "best", "mean", "sd", "n");
    ptrag_sb_repeat(&sb, '-', name_w + 2 + 4 + 2 + 11 + 2 + 11 + 2 + 6);
    ptrag_sb_printf(&sb, "\n");
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        const ptrag_metric_info *info = ptrag_metric_info_of(m);
        char mean[32], sd[32];
        fmt_value(mean, sizeof mean, r->summary[m].mean);
        fmt_value(sd, sizeof sd, r->summary[m].sd);
        ptrag_sb_printf(&sb, "%-*s  %4s  %11s  %11s  %6ld\n", name_w, info->name, best_word(info->best),
                  mean, sd, r->summary[m].n);
    }
    ptrag_sb_printf(&sb, "%ld condition(s); PCA components: %d\n", r->n_conditions, r->n_pca_components);
    if (r->n_pearson_degenerate)
        ptrag_sb_printf(&sb,
                  "note: pearson_delta set to 0 for %ld of %ld condition(s): a delta was constant "
                  "(e.g. a control-mean prediction)\n",
                  r->n_pearson_degenerate, r->n_conditions);
    if (r->n_groups_pred_ctrl_fallback)
        ptrag_sb_printf(&sb,
                  "note: %ld cell type(s) had no predicted control cells: the real controls were "
                  "used for the predicted deltas and DE\n",
                  r->n_groups_pred_ctrl_fallback);
    return finish(&sb, text, err);
}

int ptrag_eval_print_summary(const ptrag_eval_result *r, FILE *fp, ptrag_error *err) {
    char *text;
    int rc = ptrag_eval_format_summary(r, &text, err);
    if (rc) return rc;
    int bad = fputs(text, fp) < 0;
    free(text);
    if (bad) return ptrag_fail(err, PTRAG_E_IO, "summary table: write failed");
    return 0;
}

/* "mean +- sd" (text) or "mean ± sd" (markdown); "-" when missing. */
static void fmt_cell(char *buf, size_t n, const ptrag_metric_summary *s, int markdown) {
    char mean[32], sd[32];
    fmt_value(mean, sizeof mean, s->mean);
    fmt_value(sd, sizeof sd, s->sd);
    if (!isfinite(s->mean))
        snprintf(buf, n, "-");
    else if (!isfinite(s->sd))
        snprintf(buf, n, "%s", mean);
    else
        snprintf(buf, n, "%s %s %s", mean, markdown ? "\xc2\xb1" : "+-", sd);
}

/* Columns a cell takes on screen: UTF-8 continuation bytes take none. */
static int display_width(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* 1 when model i has the best mean of metric m among all models. */
static int is_best(const ptrag_model_summary *models, int n_models, int i, int m) {
    const ptrag_metric_info *info = ptrag_metric_info_of(m);
    double v = models[i].m[m].mean;
    if (info->best == PTRAG_BEST_NONE || !isfinite(v) || n_models < 2) return 0;
    for (int j = 0; j < n_models; j++) {
        double w = models[j].m[m].mean;
        if (!isfinite(w)) continue;
        if (info->best == PTRAG_BEST_HIGH ? w > v : w < v) return 0;
    }
    return 1;
}

int ptrag_eval_format_comparison(const ptrag_model_summary *models, int n_models,
                                 const int *metrics, int n_metrics, int style, char **text,
                                 ptrag_error *err) {
    *text = NULL;
    int all[PTRAG_M_COUNT];
    if (!metrics) {
        for (int m = 0; m < PTRAG_M_COUNT; m++) all[m] = m;
        metrics = all;
        n_metrics = PTRAG_M_COUNT;
    }
    for (int c = 0; c < n_metrics; c++)
        if (!ptrag_metric_info_of(metrics[c]))
            return ptrag_fail(err, PTRAG_E_ARG, "comparison table: metric id %d out of range", metrics[c]);
    if (n_models < 0 || (n_models > 0 && !models))
        return ptrag_fail(err, PTRAG_E_ARG, "comparison table: models: none given");

    strbuf sb = {0};
    if (style == PTRAG_TABLE_CSV) {
        ptrag_sb_printf(&sb, "model");
        for (int c = 0; c < n_metrics; c++) {
            const char *nm = ptrag_metric_info_of(metrics[c])->name;
            ptrag_sb_printf(&sb, ",%s_mean,%s_sd,%s_n", nm, nm, nm);
        }
        ptrag_sb_printf(&sb, "\n");
        for (int i = 0; i < n_models; i++) {
            ptrag_sb_csv_field(&sb, models[i].model);
            for (int c = 0; c < n_metrics; c++) {
                const ptrag_metric_summary *s = &models[i].m[metrics[c]];
                ptrag_sb_printf(&sb, ",");
                ptrag_sb_number(&sb, s->mean);
                ptrag_sb_printf(&sb, ",");
                ptrag_sb_number(&sb, s->sd);
                ptrag_sb_printf(&sb, ",%ld", s->n);
            }
            ptrag_sb_printf(&sb, "\n");
        }
        return finish(&sb, text, err);
    }
    if (style != PTRAG_TABLE_TEXT && style != PTRAG_TABLE_MARKDOWN)
        return ptrag_fail(err, PTRAG_E_ARG, "comparison table: unknown style %d", style);
    int md = style == PTRAG_TABLE_MARKDOWN;

    /* Column widths from the header and every cell (display width: the
     * two-byte "±" counts as one column). */
    int model_w = 5;
    for (int i = 0; i < n_models; i++) {
        int l = (int)strlen(models[i].model ? models[i].model : "");
        if (l > model_w) model_w = l;
    }
    int *width = calloc((size_t)(n_metrics ? n_metrics : 1), sizeof *width);
    if (!width) return ptrag_fail(err, PTRAG_E_NOMEM, "comparison table: out of memory");
    char cell[96];
    for (int c = 0; c < n_metrics; c++) {
        width[c] = (int)strlen(ptrag_metric_info_of(metrics[c])->name);
        for (int i = 0; i < n_models; i++) {
            fmt_cell(cell, sizeof cell, &models[i].m[metrics[c]], md);
            int l = display_width(cell) + (md && is_best(models, n_models, i, metrics[c]) ? 4 : 0);
            if (l > width[c]) width[c] = l;
        }
    }
    if (md) {
        ptrag_sb_printf(&sb, "| %-*s |", model_w, "model");
        for (int c = 0; c < n_metrics; c++)
            ptrag_sb_printf(&sb, " %*s |", width[c], ptrag_metric_info_of(metrics[c])->name);
        ptrag_sb_printf(&sb, "\n|");
        ptrag_sb_repeat(&sb, '-', model_w + 2);
        ptrag_sb_printf(&sb, "|");
        for (int c = 0; c < n_metrics; c++) {
            ptrag_sb_repeat(&sb, '-', width[c] + 1);
            ptrag_sb_printf(&sb, ":|");
        }
        ptrag_sb_printf(&sb, "\n");
    } else {
        ptrag_sb_printf(&sb, "%-*s", model_w, "model");
        for (int c = 0; c < n_metrics; c++)
            ptrag_sb_printf(&sb, "  %*s", width[c], ptrag_metric_info_of(metrics[c])->name);
        ptrag_sb_printf(&sb, "\n");
    }
    for (int i = 0; i < n_models; i++) {
        const char *name = models[i].model ? models[i].model : "";
        if (md)
            ptrag_sb_printf(&sb, "| %-*s |", model_w, name);
        else
            ptrag_sb_printf(&sb, "%-*s", model_w, name);
        for (int c = 0; c < n_metrics; c++) {
            fmt_cell(cell, sizeof cell, &models[i].m[metrics[c]], md);
            if (md) {
                int bold = is_best(models, n_models, i, metrics[c]);
                int shown = display_width(cell) + (bold ? 4 : 0);
                ptrag_sb_printf(&sb, " ");
                ptrag_sb_repeat(&sb, ' ', width[c] - shown);
                ptrag_sb_printf(&sb, bold ? "**%s** |" : "%s |", cell);
            } else {
                ptrag_sb_printf(&sb, "  %*s", width[c], cell);
            }
        }
        ptrag_sb_printf(&sb, "\n");
    }
    free(width);
    return finish(&sb, text, err);
}
