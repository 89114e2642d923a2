/* The report's markdown version (the tables under docs/results/), the default key metrics,
 * and combining per-seed summaries: see include/ptrag/report.h. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/strbuf.h"
#include "ptrag/fsutil.h"
#include "ptrag/report.h"

static const int key_metrics[] = {PTRAG_M_PEARSON_DELTA, PTRAG_M_PEARSON_DELTA_PERT, PTRAG_M_MSE,       PTRAG_M_MAE,
                                  PTRAG_M_DISCRIMINATION_L1, PTRAG_M_OVERLAP_AT_N, PTRAG_M_W1_PCA,
                                  PTRAG_M_W2_PCA,        PTRAG_M_MMD_PCA,   PTRAG_M_ENERGY_PCA,
                                  PTRAG_M_ENERGY_GENES};

int ptrag_report_key_metrics(const int **ids) {
    *ids = key_metrics;
    return (int)(sizeof key_metrics / sizeof key_metrics[0]);
}

void ptrag_report_combine_seeds(const ptrag_metric_summary (*per_seed)[PTRAG_M_COUNT], int n_seeds,
                                ptrag_metric_summary out[PTRAG_M_COUNT]) {
    double *v = malloc((size_t)(n_seeds > 0 ? n_seeds : 1) * sizeof *v);
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        if (!v) {
            out[m].mean = out[m].sd = NAN;
            out[m].n = 0;
            continue;
        }
        for (int s = 0; s < n_seeds; s++) v[s] = per_seed[s][m].mean;
        ptrag_metric_summarize(v, n_seeds > 0 ? n_seeds : 0, 1, &out[m]);
    }
    free(v);
}

/* Markdown table cells cannot hold '|' or a newline; '<' would start HTML. */
static char *md_cell_text(const char *s, const char *suffix) {
    strbuf sb = {0};
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '|') ptrag_sb_printf(&sb, "\\|");
        else if (*p == '<') ptrag_sb_printf(&sb, "&lt;");
        else if (*p == '>') ptrag_sb_printf(&sb, "&gt;");
        else if (*p == '\n' || *p == '\r') ptrag_sb_printf(&sb, " ");
        else ptrag_sb_printf(&sb, "%c", *p);
    }
    ptrag_sb_printf(&sb, "%s", suffix);
    if (sb.failed) {
        ptrag_sb_free(&sb);
        return NULL;
    }
    return sb.s;
}

int ptrag_report_format_markdown(const ptrag_report *r, char **md, ptrag_error *err) {
    *md = NULL;
    if (!r) return ptrag_fail(err, PTRAG_E_ARG, "report: no report given");
    if (r->n_models < 0 || (r->n_models > 0 && !r->models))
        return ptrag_fail(err, PTRAG_E_ARG, "report: models: %d given but no array", r->n_models);
    const int *metrics = r->metrics;
    int n_metrics = r->n_metrics;
    if (!metrics) n_metrics = ptrag_report_key_metrics(&metrics);
    ptrag_model_summary *rows = calloc((size_t)(r->n_models ? r->n_models : 1), sizeof *rows);
    char **names = calloc((size_t)(r->n_models ? r->n_models : 1), sizeof *names);
    int rc = (!rows || !names) ? ptrag_fail(err, PTRAG_E_NOMEM, "report: out of memory") : 0;
    for (int i = 0; !rc && i < r->n_models; i++) {
        if (!r->models[i].name) {
            rc = ptrag_fail(err, PTRAG_E_ARG, "report: models[%d].name: missing", i);
            break;
        }
        names[i] = md_cell_text(r->models[i].name, r->models[i].is_baseline ? " (baseline)" : "");
        if (!names[i]) rc = ptrag_fail(err, PTRAG_E_NOMEM, "report: out of memory");
        rows[i].model = names[i];
        rows[i].m = r->models[i].m;
    }
    char *table = NULL;
    if (!rc)
        rc = ptrag_eval_format_comparison(rows, r->n_models, metrics, n_metrics, PTRAG_TABLE_MARKDOWN, &table, err);
    strbuf sb = {0};
    if (!rc) {
        ptrag_sb_printf(&sb, "# %s\n\n", r->title ? r->title : "ptrag report");
        if (r->command) {
            /* a fence longer than any backtick run in the command */
            int run = 0, longest = 0;
            for (const char *p = r->command; *p; p++) {
                run = *p == '`' ? run + 1 : 0;
                if (run > longest) longest = run;
            }
            int fence = longest >= 3 ? longest + 1 : 3;
            ptrag_sb_printf(&sb, "Command:\n\n");
            ptrag_sb_repeat(&sb, '`', fence);
            ptrag_sb_printf(&sb, "sh\n%s\n", r->command);
            ptrag_sb_repeat(&sb, '`', fence);
            ptrag_sb_printf(&sb, "\n\n");
        }
        if (r->notes) ptrag_sb_printf(&sb, "%s\n\n", r->notes);
        ptrag_sb_printf(&sb, "%s\n", table);
        ptrag_sb_printf(&sb, "Mean over held-out (cell type, perturbation) conditions, then mean \xc2\xb1 sd over "
                       "seeds; best per metric in bold.");
        for (int dir = PTRAG_BEST_HIGH; dir >= PTRAG_BEST_LOW; dir -= 2) {
            int k = 0;
            for (int c = 0; c < n_metrics; c++) {
                const ptrag_metric_info *info = ptrag_metric_info_of(metrics[c]);
                if (!info || info->best != dir) continue;
                ptrag_sb_printf(&sb, "%s%s", k++ ? ", " : dir == PTRAG_BEST_HIGH ? " Higher is better: " : " Lower is better: ",
                          info->name);
            }
            if (k) ptrag_sb_printf(&sb, ".");
        }
        ptrag_sb_printf(&sb, " Runs per model:");
        for (int i = 0; i < r->n_models; i++)
            ptrag_sb_printf(&sb, "%s %s %d", i ? "," : "", names[i], r->models[i].n_seeds);
        ptrag_sb_printf(&sb, ".\n");
        if (sb.failed) rc = ptrag_fail(err, PTRAG_E_NOMEM, "report: out of memory");
    }
    free(table);
    for (int i = 0; names && i < r->n_models; i++) free(names[i]);
    free(names);
    free(rows);
    if (rc) {
        ptrag_sb_free(&sb);
        return rc;
    }
    *md = sb.s;
    return 0;
}

int ptrag_report_write_markdown(const ptrag_report *r, const char *path, ptrag_error *err) {
    char *md;
    int rc = ptrag_report_format_markdown(r, &md, err);
    if (rc) return rc;
    rc = ptrag_write_file_atomic(path, md, strlen(md), err);
    free(md);
    return rc;
}
