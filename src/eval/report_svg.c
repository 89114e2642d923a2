/* Bar and line charts as inline SVG for the report page. */
#include "eval/report_svg.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void ptrag_sb_html(strbuf *sb, const char *s) {
    if (!s) return;
    for (const char *p = s; *p; p++) {
        switch (*p) {
        case '&': ptrag_sb_printf(sb, "&amp;"); break;
        case '<': ptrag_sb_printf(sb, "&lt;"); break;
        case '>': ptrag_sb_printf(sb, "&gt;"); break;
        case '"': ptrag_sb_printf(sb, "&quot;"); break;
        case '\'': ptrag_sb_printf(sb, "&#39;"); break;
        default: ptrag_sb_printf(sb, "%c", *p);
        }
    }
}

static double nice_step(double range, int target) {
    double raw = range / (target > 0 ? target : 1);
    double p = pow(10.0, floor(log10(raw)));
    double f = raw / p;
    return (f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0) * p;
}

void ptrag_report_linear_ticks(double lo, double hi, int target, report_ticks *t) {
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.5 : 1.0;
        lo -= pad;
        hi += pad;
    }
    double step = nice_step(hi - lo, target);
    double first = floor(lo / step + 1e-9) * step, last = ceil(hi / step - 1e-9) * step;
    t->n = 0;
    for (double v = first; v <= last + step * 0.5 && t->n < 16; v += step) t->v[t->n++] = v;
    t->lo = t->v[0];
    t->hi = t->v[t->n - 1];
}

void ptrag_report_log_ticks(double lo, double hi, report_ticks *t) {
    int k0 = (int)floor(log10(lo) + 1e-9), k1 = (int)ceil(log10(hi) - 1e-9);
    if (k1 <= k0) k1 = k0 + 1;
    t->n = 0;
    int fine = k1 - k0 < 3;
    for (int k = k0; k <= k1 && t->n < 16; k++) {
        double p = pow(10.0, k);
        t->v[t->n++] = p;
        if (fine && k < k1 && t->n < 14) {
            t->v[t->n++] = 2 * p;
            t->v[t->n++] = 5 * p;
        }
    }
    t->lo = pow(10.0, k0);
    t->hi = pow(10.0, k1);
}

void ptrag_report_tick_label(double v, double step, char *buf, size_t n) {
    if (fabs(v) < fabs(step) * 1e-6) v = 0;
    snprintf(buf, n, "%.4g", v);
}

/* Bar chart geometry. */
enum { BAR_W = 340, BAR_H = 256, BAR_LEFT = 56, BAR_RIGHT = 12, BAR_TOP = 46, BAR_BOTTOM = 78 };

static const char *arrow_of(int best) {
    return best == PTRAG_BEST_HIGH ? "\xe2\x86\x91 higher is better"
           : best == PTRAG_BEST_LOW ? "\xe2\x86\x93 lower is better"
                                    : "";
}

/* 1 when model i has the best finite mean of metric m (ties: all best). */
static int model_is_best(const ptrag_report_model *models, int n, int i, int m) {
    const ptrag_metric_info *info = ptrag_metric_info_of(m);
    double v = models[i].m[m].mean;
    if (!info || info->best == PTRAG_BEST_NONE || !isfinite(v)) return 0;
    for (int j = 0; j < n; j++) {
        double w = models[j].m[m].mean;
        if (isfinite(w) && (info->best == PTRAG_BEST_HIGH ? w > v : w < v)) return 0;
    }
    return 1;
}

/* Name shortened to `max` characters (UTF-8 safe enough: cuts at a byte that
 * starts a character) with an ellipsis. */
static void short_name(const char *s, char *buf, size_t n, size_t max) {
    size_t len = strlen(s ? s : "");
    if (len <= max) {
        snprintf(buf, n, "%s", s ? s : "");
        return;
    }
    size_t cut = max - 1;
    while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--;
    snprintf(buf, n, "%.*s\xe2\x80\xa6", (int)cut, s);
}

void ptrag_report_svg_bar_chart(strbuf *sb, int metric, const ptrag_report_model *models, int n_models,
                          const char *const *colors) {
    const ptrag_metric_info *info = ptrag_metric_info_of(metric);
    double lo = 0, hi = 0;
    for (int i = 0; i < n_models; i++) {
        double m = models[i].m[metric].mean, s = models[i].m[metric].sd;
        if (!isfinite(m)) continue;
        if (!isfinite(s)) s = 0;
        lo = fmin(lo, m - s);
        hi = fmax(hi, m + s);
    }
    report_ticks t;
    ptrag_report_linear_ticks(lo, hi, 4, &t);
    double pw = BAR_W - BAR_LEFT - BAR_RIGHT, ph = BAR_H - BAR_TOP - BAR_BOTTOM;
#define YPOS(v) (BAR_TOP + ph * (t.hi - (v)) / (t.hi - t.lo))
    ptrag_sb_printf(sb, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">", BAR_W,
              BAR_H, BAR_W, BAR_H);
    ptrag_sb_printf(sb, "<title>");
    ptrag_sb_html(sb, info->name);
    ptrag_sb_printf(sb, ": mean \xc2\xb1 sd over seeds</title>");
    ptrag_sb_printf(sb, "<text x=\"%d\" y=\"15\" class=\"ct\">", BAR_LEFT - 40);
    ptrag_sb_html(sb, info->name);
    ptrag_sb_printf(sb, "</text><text x=\"%d\" y=\"28\" class=\"cs\">%s</text>", BAR_LEFT - 40, arrow_of(info->best));
    /* grid and y labels */
    double step = t.n > 1 ? t.v[1] - t.v[0] : 1;
    for (int k = 0; k < t.n; k++) {
        char lab[32];
        ptrag_report_tick_label(t.v[k], step, lab, sizeof lab);
        double y = YPOS(t.v[k]);
        ptrag_sb_printf(sb, "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", BAR_LEFT,
                  BAR_LEFT + pw, y, y);
        ptrag_sb_printf(sb, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>", BAR_LEFT - 5, y + 3.5, lab);
    }
    double y0 = YPOS(0.0);
    double slot = n_models ? pw / n_models : pw, bw = slot * 0.68;
    for (int i = 0; i < n_models; i++) {
        const ptrag_metric_summary *s = &models[i].m[metric];
        double cx = BAR_LEFT + slot * (i + 0.5);
        int best = model_is_best(models, n_models, i, metric) && n_models > 1;
        if (isfinite(s->mean)) {
            double y = YPOS(s->mean);
            ptrag_sb_printf(sb, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"%s><title>",
                      cx - bw / 2, fmin(y, y0), bw, fmax(fabs(y - y0), 0.5), colors[i],
                      best ? " class=\"bestbar\"" : "");
            ptrag_sb_html(sb, models[i].name);
            ptrag_sb_printf(sb, ": %.4g", s->mean);
            if (isfinite(s->sd)) ptrag_sb_printf(sb, " \xc2\xb1 %.4g", s->sd);
            ptrag_sb_printf(sb, " (%d seed%s)</title></rect>", models[i].n_seeds, models[i].n_seeds == 1 ? "" : "s");
            if (isfinite(s->sd) && s->sd > 0) {
                double ya = YPOS(s->mean - s->sd), yb = YPOS(s->mean + s->sd), cap = fmin(bw * 0.25, 6);
                ptrag_sb_printf(sb,
                          "<path d=\"M%.1f %.1fV%.1fM%.1f %.1fH%.1fM%.1f %.1fH%.1f\" class=\"err\"/>", cx, ya,
                          yb, cx - cap, ya, cx + cap, cx - cap, yb, cx + cap);
            }
        } else {
            ptrag_sb_printf(sb, "<text x=\"%.1f\" y=\"%.1f\" class=\"na\">n/a</text>", cx, y0 - 4);
        }
        char name[64];
        short_name(models[i].name, name, sizeof name, 16);
        double ly = BAR_TOP + ph + 12;
        ptrag_sb_printf(sb, "<text transform=\"translate(%.1f %.1f) rotate(-35)\" class=\"xl%s\">", cx + 3, ly,
                  best ? " best" : "");
        ptrag_sb_html(sb, name);
        ptrag_sb_printf(sb, "</text>");
    }
    ptrag_sb_printf(sb, "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"axis\"/>", BAR_LEFT, BAR_LEFT + pw,
              y0, y0);
    ptrag_sb_printf(sb, "</svg>");
#undef YPOS
}

static const double *curve_values(const ptrag_report_curve *c, int which) {
    return which == REPORT_CURVE_TRAIN ? c->train
           : which == REPORT_CURVE_VAL ? c->val
           : which == REPORT_CURVE_VAL_PEARSON ? c->val_pearson
                                               : c->kept;
}

enum { LINE_W = 520, LINE_H = 300, LINE_LEFT = 60, LINE_RIGHT = 16, LINE_TOP = 30, LINE_BOTTOM = 42 };

int ptrag_report_svg_line_chart(strbuf *sb, const char *title, const ptrag_report_curve *curves, int n_curves,
                          int which, const char *const *colors, const char *const *dashes) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int drawn = 0;
    for (int c = 0; c < n_curves; c++) {
        const double *v = curve_values(&curves[c], which);
        if (!v || !curves[c].step) continue;
        int any = 0;
        for (long i = 0; i < curves[c].n; i++) {
            if (!isfinite(v[i]) || !isfinite(curves[c].step[i])) continue;
            any = 1;
            xmin = fmin(xmin, curves[c].step[i]);
            xmax = fmax(xmax, curves[c].step[i]);
            ymin = fmin(ymin, v[i]);
            ymax = fmax(ymax, v[i]);
        }
        drawn += any;
    }
    if (!drawn) return 0;
    int logy = which != REPORT_CURVE_KEPT && which != REPORT_CURVE_VAL_PEARSON && ymin > 0 && ymax / ymin > 30;
    report_ticks ty, tx;
    if (which == REPORT_CURVE_KEPT) {
        ptrag_report_linear_ticks(fmin(0, ymin), fmax(1, ymax), 5, &ty);
    } else if (logy) {
        ptrag_report_log_ticks(ymin, ymax, &ty);
    } else {
        double pad = (ymax - ymin) * 0.05;
        ptrag_report_linear_ticks(ymin - pad, ymax + pad, 5, &ty);
    }
    ptrag_report_linear_ticks(xmin, xmax, 5, &tx);
    double pw = LINE_W - LINE_LEFT - LINE_RIGHT, ph = LINE_H - LINE_TOP - LINE_BOTTOM;
    double ylo = logy ? log10(ty.lo) : ty.lo, yhi = logy ? log10(ty.hi) : ty.hi;
#define XPOS(x) (LINE_LEFT + pw * ((x) - tx.lo) / (tx.hi - tx.lo))
#define YPOS(y) (LINE_TOP + ph * (yhi - (logy ? log10(y) : (y))) / (yhi - ylo))
    ptrag_sb_printf(sb, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\"><title>",
              LINE_W, LINE_H, LINE_W, LINE_H);
    ptrag_sb_html(sb, title);
    ptrag_sb_printf(sb, "</title><text x=\"%d\" y=\"18\" class=\"ct\">", LINE_LEFT - 44);
    ptrag_sb_html(sb, title);
    ptrag_sb_printf(sb, "%s</text>", logy ? " (log scale)" : "");
    double ystep = ty.n > 1 ? ty.v[1] - ty.v[0] : 1, xstep = tx.n > 1 ? tx.v[1] - tx.v[0] : 1;
    for (int k = 0; k < ty.n; k++) {
        char lab[32];
        ptrag_report_tick_label(ty.v[k], logy ? ty.v[k] : ystep, lab, sizeof lab);
        double y = YPOS(ty.v[k]);
        ptrag_sb_printf(sb, "<line x1=\"%d\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"grid\"/>", LINE_LEFT,
                  LINE_LEFT + pw, y, y);
        ptrag_sb_printf(sb, "<text x=\"%d\" y=\"%.1f\" class=\"yl\">%s</text>", LINE_LEFT - 5, y + 3.5, lab);
    }
    for (int k = 0; k < tx.n; k++) {
        char lab[32];
        ptrag_report_tick_label(tx.v[k], xstep, lab, sizeof lab);
        double x = XPOS(tx.v[k]);
        ptrag_sb_printf(sb, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" class=\"tick\"/>", x, x,
                  LINE_TOP + ph, LINE_TOP + ph + 4);
        ptrag_sb_printf(sb, "<text x=\"%.1f\" y=\"%.1f\" class=\"xt\">%s</text>", x, LINE_TOP + ph + 16, lab);
    }
    ptrag_sb_printf(sb, "<text x=\"%.1f\" y=\"%d\" class=\"xt\">step</text>", LINE_LEFT + pw / 2, LINE_H - 6);
    ptrag_sb_printf(sb, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%.1f\" class=\"frame\"/>", LINE_LEFT, LINE_TOP,
              pw, ph);
    for (int c = 0; c < n_curves; c++) {
        const double *v = curve_values(&curves[c], which);
        if (!v || !curves[c].step) continue;
        /* a path with a move at each start and after each gap */
        strbuf d = {0};
        int pen_down = 0;
        long points = 0;
        for (long i = 0; i < curves[c].n; i++) {
            /* missing points are skipped: losses logged every k steps join up */
            if (!isfinite(v[i]) || !isfinite(curves[c].step[i]) || (logy && v[i] <= 0)) continue;
            ptrag_sb_printf(&d, "%s%.1f %.1f", pen_down ? "L" : "M", XPOS(curves[c].step[i]), YPOS(v[i]));
            pen_down = 1;
            points++;
        }
        if (points) {
            ptrag_sb_printf(sb, "<path d=\"%s\" class=\"curve\" stroke=\"%s\"", d.failed ? "" : d.s, colors[c]);
            if (dashes[c] && *dashes[c]) ptrag_sb_printf(sb, " stroke-dasharray=\"%s\"", dashes[c]);
            ptrag_sb_printf(sb, "><title>");
            ptrag_sb_html(sb, curves[c].label);
            ptrag_sb_printf(sb, "</title></path>");
            if (points == 1) { /* a single point would be invisible as a path */
                for (long i = 0; i < curves[c].n; i++)
                    if (isfinite(v[i]) && isfinite(curves[c].step[i]) && !(logy && v[i] <= 0))
                        ptrag_sb_printf(sb, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\"/>",
                                  XPOS(curves[c].step[i]), YPOS(v[i]), colors[c]);
            }
        }
        if (d.failed) sb->failed = 1;
        ptrag_sb_free(&d);
    }
    ptrag_sb_printf(sb, "</svg>");
#undef XPOS
#undef YPOS
    return drawn;
}
