/* The experiment report as one self-contained HTML page: see
 * include/ptrag/report.h. Layout: command, results table, metric bar charts,
 * training curves, retrieval explanations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/report_svg.h"
#include "eval/strbuf.h"
#include "ptrag/fsutil.h"
#include "ptrag/report.h"

#ifndef PTRAG_VERSION
#define PTRAG_VERSION "?"
#endif

static const char *const model_palette[] = {"#2b6cb0", "#dd6b20", "#2f855a", "#c53030",
                                            "#6b46c1", "#b7791f", "#319795", "#d53f8c"};
static const char *const baseline_palette[] = {"#4a5568", "#8a94a6", "#b3bcc8", "#6f7b8c"};
static const char *const seed_dashes[] = {"", "7 3", "2 3", "9 3 2 3"};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char *const page_css =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a202c;"
    "max-width:1180px;margin:24px auto;padding:0 20px;background:#fff}"
    "h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:30px 0 8px;padding-bottom:4px;"
    "border-bottom:1px solid #e2e8f0}h3{font-size:14px;margin:0 0 6px}"
    ".sub{color:#4a5568;margin:0 0 12px}"
    "pre.cmd{background:#f7fafc;border:1px solid #e2e8f0;border-radius:4px;padding:10px 12px;"
    "white-space:pre-wrap;word-break:break-all;font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace}"
    "p.note{color:#4a5568;font-size:13px}"
    "table.results{border-collapse:collapse;font-size:12.5px;margin:6px 0;display:block;overflow-x:auto}"
    "table.results th,table.results td{padding:4px 6px;border-bottom:1px solid #e2e8f0}"
    "table.results td{white-space:nowrap}.sd{display:block;color:#718096;font-size:11px;line-height:1.2}td.best .sd{color:#276749}"
    "table.results th{background:#f7fafc;text-align:right;vertical-align:bottom;font-weight:600}"
    "table.results th.m,table.results td.m{text-align:left}"
    "table.results td{text-align:right;font-variant-numeric:tabular-nums}"
    "table.results td.best{background:#c6f6d5;font-weight:700}"
    "table.results tr.baseline td.m{color:#4a5568}"
    "th .dir{display:block;font-weight:400;color:#718096;font-size:11px}"
    ".tag{font-size:10.5px;color:#4a5568;border:1px solid #cbd5e0;border-radius:3px;padding:0 4px;"
    "margin-left:6px}"
    ".sw{display:inline-block;width:12px;height:12px;border-radius:2px;vertical-align:-1px;margin-right:5px}"
    ".legend{display:flex;flex-wrap:wrap;gap:6px 16px;margin:6px 0 10px;font-size:13px}"
    ".legend svg{vertical-align:middle;margin-right:5px}"
    ".charts{display:flex;flex-wrap:wrap;gap:10px}"
    ".chart{border:1px solid #edf2f7;border-radius:4px;background:#fff}"
    ".chart text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}"
    ".ct{font-size:13px;font-weight:600;fill:#1a202c}.cs{font-size:11px;fill:#718096}"
    ".yl{font-size:10px;fill:#4a5568;text-anchor:end}.xt{font-size:10px;fill:#4a5568;text-anchor:middle}"
    ".xl{font-size:10.5px;fill:#2d3748;text-anchor:end}.xl.best{font-weight:700;fill:#1a202c}"
    ".grid{stroke:#edf2f7}.axis{stroke:#4a5568}.tick{stroke:#4a5568}.frame{fill:none;stroke:#cbd5e0}"
    ".err{stroke:#1a202c;stroke-width:1.3;fill:none}.bestbar{stroke:#1a202c;stroke-width:1.5}"
    ".na{font-size:10px;fill:#a0aec0;text-anchor:middle}"
    ".curve{fill:none;stroke-width:1.7;stroke-linejoin:round}"
    ".expls{display:flex;flex-wrap:wrap;gap:14px}"
    ".expl{border:1px solid #e2e8f0;border-radius:4px;padding:10px 12px;min-width:320px}"
    ".expl table{border-collapse:collapse;font-size:12.5px;width:100%}"
    ".expl th{text-align:left;font-weight:600;color:#4a5568;border-bottom:1px solid #e2e8f0;padding:3px 6px}"
    ".expl td{padding:3px 6px;font-variant-numeric:tabular-nums}.expl td.num{text-align:right}"
    ".bar{display:inline-block;width:110px;height:10px;background:#edf2f7;border-radius:2px;"
    "vertical-align:middle;margin-right:6px;overflow:hidden}"
    ".bar span{display:block;height:100%;background:#2b6cb0}"
    "footer{margin:36px 0 12px;color:#a0aec0;font-size:12px}";

static int check_input(const ptrag_report *r, const int *metrics, int n_metrics, ptrag_error *err) {
    if (!r) return ptrag_fail(err, PTRAG_E_ARG, "report: no report given");
    if (r->n_models < 0 || (r->n_models > 0 && !r->models))
        return ptrag_fail(err, PTRAG_E_ARG, "report: models: %d given but no array", r->n_models);
    for (int i = 0; i < r->n_models; i++)
        if (!r->models[i].name)
            return ptrag_fail(err, PTRAG_E_ARG, "report: models[%d].name: missing", i);
    for (int c = 0; c < n_metrics; c++)
        if (!ptrag_metric_info_of(metrics[c]))
            return ptrag_fail(err, PTRAG_E_ARG, "report: metrics[%d]: id %d out of range", c, metrics[c]);
    if (r->n_curves < 0 || (r->n_curves > 0 && !r->curves))
        return ptrag_fail(err, PTRAG_E_ARG, "report: curves: %d given but no array", r->n_curves);
    for (int i = 0; i < r->n_curves; i++) {
        const ptrag_report_curve *c = &r->curves[i];
        if (c->n < 0 || (c->n > 0 && !c->step))
            return ptrag_fail(err, PTRAG_E_ARG, "report: curves[%d].step: missing for %ld points", i, c->n);
    }
    if (r->n_explanations < 0 || (r->n_explanations > 0 && !r->explanations))
        return ptrag_fail(err, PTRAG_E_ARG, "report: explanations: %d given but no array", r->n_explanations);
    for (int i = 0; i < r->n_explanations; i++) {
        const ptrag_report_explanation *e = &r->explanations[i];
        if (e->n < 0 || (e->n > 0 && (!e->candidate || !e->cosine || !e->fraction)))
            return ptrag_fail(err, PTRAG_E_ARG,
                              "report: explanations[%d]: candidate, cosine and fraction arrays are required", i);
        for (int k = 0; k < e->n; k++)
            if (!e->candidate[k])
                return ptrag_fail(err, PTRAG_E_ARG, "report: explanations[%d].candidate[%d]: missing", i, k);
    }
    return 0;
}

/* Colour of model i: model palette in order for models, greys for baselines. */
static const char *model_color(const ptrag_report_model *models, int i) {
    int k = 0;
    for (int j = 0; j < i; j++) k += models[j].is_baseline == models[i].is_baseline;
    return models[i].is_baseline ? baseline_palette[k % COUNT(baseline_palette)]
                                 : model_palette[k % COUNT(model_palette)];
}

static int best_in_column(const ptrag_report_model *models, int n, int i, int m) {
    const ptrag_metric_info *info = ptrag_metric_info_of(m);
    double v = models[i].m[m].mean;
    if (info->best == PTRAG_BEST_NONE || !isfinite(v) || n < 2) return 0;
    for (int j = 0; j < n; j++) {
        double w = models[j].m[m].mean;
        if (isfinite(w) && (info->best == PTRAG_BEST_HIGH ? w > v : w < v)) return 0;
    }
    return 1;
}

static void results_table(strbuf *sb, const ptrag_report *r, const int *metrics, int n_metrics) {
    ptrag_sb_printf(sb, "<table class=\"results\"><thead><tr><th class=\"m\">model</th><th>seeds</th>");
    for (int c = 0; c < n_metrics; c++) {
        const ptrag_metric_info *info = ptrag_metric_info_of(metrics[c]);
        ptrag_sb_printf(sb, "<th title=\"");
        ptrag_sb_html(sb, info->what);
        ptrag_sb_printf(sb, "\">");
        /* long names may break after an underscore */
        int long_name = strlen(info->name) > 11;
        for (const char *p = info->name; *p; p++) {
            char one[2] = {*p, 0};
            ptrag_sb_html(sb, one);
            if (long_name && *p == '_' && p[1]) ptrag_sb_printf(sb, "<wbr>");
        }
        ptrag_sb_printf(sb, "<span class=\"dir\">%s</span></th>",
                  info->best == PTRAG_BEST_HIGH ? "\xe2\x86\x91 higher" : info->best == PTRAG_BEST_LOW ? "\xe2\x86\x93 lower" : "");
    }
    ptrag_sb_printf(sb, "</tr></thead><tbody>");
    for (int i = 0; i < r->n_models; i++) {
        const ptrag_report_model *md = &r->models[i];
        ptrag_sb_printf(sb, "<tr%s><td class=\"m\"><span class=\"sw\" style=\"background:%s\"></span>",
                  md->is_baseline ? " class=\"baseline\"" : "", model_color(r->models, i));
        ptrag_sb_html(sb, md->name);
        if (md->is_baseline) ptrag_sb_printf(sb, "<span class=\"tag\">baseline</span>");
        ptrag_sb_printf(sb, "</td><td>%d</td>", md->n_seeds);
        for (int c = 0; c < n_metrics; c++) {
            const ptrag_metric_summary *s = &md->m[metrics[c]];
            int best = best_in_column(r->models, r->n_models, i, metrics[c]);
            ptrag_sb_printf(sb, "<td%s>", best ? " class=\"best\"" : "");
            if (!isfinite(s->mean))
                ptrag_sb_printf(sb, "&ndash;");
            else if (isfinite(s->sd))
                ptrag_sb_printf(sb, "%.4g<span class=\"sd\"> \xc2\xb1 %.2g</span>", s->mean, s->sd);
            else
                ptrag_sb_printf(sb, "%.4g", s->mean);
            ptrag_sb_printf(sb, "</td>");
        }
        ptrag_sb_printf(sb, "</tr>");
    }
    ptrag_sb_printf(sb, "</tbody></table>");
}

static void model_legend(strbuf *sb, const ptrag_report *r) {
    ptrag_sb_printf(sb, "<div class=\"legend\">");
    for (int i = 0; i < r->n_models; i++) {
        ptrag_sb_printf(sb, "<span><span class=\"sw\" style=\"background:%s\"></span>", model_color(r->models, i));
        ptrag_sb_html(sb, r->models[i].name);
        ptrag_sb_printf(sb, "</span>");
    }
    ptrag_sb_printf(sb, "</div>");
}

/* Colour by model (the models[] colour when the name matches one) and dash
 * by the curve's rank among the curves of its model (its seed). */
static void curve_styles(const ptrag_report *r, const char **colors, const char **dashes) {
    int unknown = 0;
    for (int c = 0; c < r->n_curves; c++) {
        const char *model = r->curves[c].model ? r->curves[c].model : "";
        colors[c] = NULL;
        for (int i = 0; i < r->n_models && !colors[c]; i++)
            if (strcmp(r->models[i].name, model) == 0) colors[c] = model_color(r->models, i);
        int rank = 0, first = c;
        for (int p = 0; p < c; p++) {
            const char *pm = r->curves[p].model ? r->curves[p].model : "";
            if (strcmp(pm, model) == 0) {
                rank++;
                if (first == c) first = p;
            }
        }
        if (!colors[c]) {
            /* unknown model: reuse the first curve's colour, else a new one */
            colors[c] = first < c ? colors[first] : model_palette[(r->n_models + unknown++) % COUNT(model_palette)];
        }
        dashes[c] = seed_dashes[rank % COUNT(seed_dashes)];
    }
}

static void curve_section(strbuf *sb, const ptrag_report *r) {
    const char **colors = malloc((size_t)r->n_curves * sizeof *colors);
    const char **dashes = malloc((size_t)r->n_curves * sizeof *dashes);
    if (!colors || !dashes) {
        sb->failed = 1;
        free(colors);
        free(dashes);
        return;
    }
    curve_styles(r, colors, dashes);
    ptrag_sb_printf(sb, "<h2>Training curves</h2><div class=\"legend\">");
    for (int c = 0; c < r->n_curves; c++) {
        ptrag_sb_printf(sb, "<span><svg width=\"26\" height=\"10\"><line x1=\"1\" y1=\"5\" x2=\"25\" y2=\"5\" stroke=\"%s\" "
                      "stroke-width=\"2\"%s%s%s/></svg>",
                  colors[c], *dashes[c] ? " stroke-dasharray=\"" : "", dashes[c], *dashes[c] ? "\"" : "");
        ptrag_sb_html(sb, r->curves[c].label ? r->curves[c].label : r->curves[c].model);
        ptrag_sb_printf(sb, "</span>");
    }
    ptrag_sb_printf(sb, "</div><div class=\"charts\">");
    int n = ptrag_report_svg_line_chart(sb, "training loss", r->curves, r->n_curves, REPORT_CURVE_TRAIN,
                                  (const char *const *)colors, (const char *const *)dashes);
    n += ptrag_report_svg_line_chart(sb, "validation loss", r->curves, r->n_curves, REPORT_CURVE_VAL,
                               (const char *const *)colors, (const char *const *)dashes);
    n += ptrag_report_svg_line_chart(sb, "validation pearson_delta", r->curves, r->n_curves, REPORT_CURVE_VAL_PEARSON,
                               (const char *const *)colors, (const char *const *)dashes);
    n += ptrag_report_svg_line_chart(sb, "PT-RAG kept fraction", r->curves, r->n_curves, REPORT_CURVE_KEPT,
                               (const char *const *)colors, (const char *const *)dashes);
    ptrag_sb_printf(sb, "</div>");
    if (!n) ptrag_sb_printf(sb, "<p class=\"note\">No curve has a finite value.</p>");
    free(colors);
    free(dashes);
}

static void explanation_section(strbuf *sb, const ptrag_report *r) {
    ptrag_sb_printf(sb, "<h2>Retrieval explanations</h2><p class=\"note\">For each held-out condition: the "
                  "candidate perturbations PT-RAG retrieved, their cosine similarity to the held-out "
                  "perturbation, and the fraction of predicted cells whose selection kept each.</p>"
                  "<div class=\"expls\">");
    for (int i = 0; i < r->n_explanations; i++) {
        const ptrag_report_explanation *e = &r->explanations[i];
        ptrag_sb_printf(sb, "<div class=\"expl\"><h3>");
        ptrag_sb_html(sb, e->condition ? e->condition : "");
        ptrag_sb_printf(sb, "</h3><table><tr><th>candidate</th><th>cosine</th><th>selected by</th></tr>");
        for (int k = 0; k < e->n; k++) {
            ptrag_sb_printf(sb, "<tr><td>");
            ptrag_sb_html(sb, e->candidate[k]);
            ptrag_sb_printf(sb, "</td><td class=\"num\">");
            if (isfinite(e->cosine[k])) ptrag_sb_printf(sb, "%.3f", e->cosine[k]);
            else ptrag_sb_printf(sb, "&ndash;");
            ptrag_sb_printf(sb, "</td><td>");
            double f = e->fraction[k];
            if (isfinite(f)) {
                double w = fmin(1, fmax(0, f)) * 100;
                ptrag_sb_printf(sb, "<span class=\"bar\"><span style=\"width:%.1f%%\"></span></span>%.0f%%", w, w);
            } else {
                ptrag_sb_printf(sb, "&ndash;");
            }
            ptrag_sb_printf(sb, "</td></tr>");
        }
        if (!e->n) ptrag_sb_printf(sb, "<tr><td colspan=\"3\">no candidate</td></tr>");
        ptrag_sb_printf(sb, "</table></div>");
    }
    ptrag_sb_printf(sb, "</div>");
}

int ptrag_report_format_html(const ptrag_report *r, char **html, ptrag_error *err) {
    *html = NULL;
    const int *metrics = r ? r->metrics : NULL;
    int n_metrics = r ? r->n_metrics : 0;
    if (!metrics) n_metrics = ptrag_report_key_metrics(&metrics);
    int rc = check_input(r, metrics, n_metrics, err);
    if (rc) return rc;
    const char *title = r->title ? r->title : "ptrag report";
    strbuf sb = {0};
    ptrag_sb_printf(&sb, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>");
    ptrag_sb_html(&sb, title);
    ptrag_sb_printf(&sb, "</title>\n<style>%s</style></head>\n<body>\n<h1>", page_css);
    ptrag_sb_html(&sb, title);
    ptrag_sb_printf(&sb, "</h1><p class=\"sub\">Perturbation prediction on held-out conditions, every model scored "
                   "by the same code as its baselines.</p>\n");
    if (r->command) {
        ptrag_sb_printf(&sb, "<h2>Command</h2><pre class=\"cmd\">");
        ptrag_sb_html(&sb, r->command);
        ptrag_sb_printf(&sb, "</pre>\n");
    }
    if (r->notes) {
        ptrag_sb_printf(&sb, "<p class=\"note\">");
        ptrag_sb_html(&sb, r->notes);
        ptrag_sb_printf(&sb, "</p>\n");
    }
    ptrag_sb_printf(&sb, "<h2>Results</h2><p class=\"note\">Each value: mean over held-out (cell type, "
                   "perturbation) conditions, then mean &plusmn; sd over seeds. Best per metric "
                   "highlighted; arrows give the better direction.</p>");
    results_table(&sb, r, metrics, n_metrics);
    ptrag_sb_printf(&sb, "\n<h2>Metrics</h2>");
    model_legend(&sb, r);
    ptrag_sb_printf(&sb, "<div class=\"charts\">");
    const char **colors = malloc((size_t)(r->n_models ? r->n_models : 1) * sizeof *colors);
    if (!colors) sb.failed = 1;
    for (int i = 0; colors && i < r->n_models; i++) colors[i] = model_color(r->models, i);
    for (int c = 0; colors && c < n_metrics; c++)
        ptrag_report_svg_bar_chart(&sb, metrics[c], r->models, r->n_models, (const char *const *)colors);
    free(colors);
    ptrag_sb_printf(&sb, "</div>\n");
    if (r->n_curves > 0) curve_section(&sb, r);
    ptrag_sb_printf(&sb, "\n");
    if (r->n_explanations > 0) explanation_section(&sb, r);
    ptrag_sb_printf(&sb, "\n<footer>Written by ptrag %s. Self-contained: inline CSS and SVG, no script, no external "
                   "resources.</footer>\n</body></html>\n",
              PTRAG_VERSION);
    if (sb.failed) {
        ptrag_sb_free(&sb);
        return ptrag_fail(err, PTRAG_E_NOMEM, "report: out of memory");
    }
    *html = sb.s;
    return 0;
}

int ptrag_report_write_html(const ptrag_report *r, const char *path, ptrag_error *err) {
    char *html;
    int rc = ptrag_report_format_html(r, &html, err);
    if (rc) return rc;
    rc = ptrag_write_file_atomic(path, html, strlen(html), err);
    free(html);
    return rc;
}
