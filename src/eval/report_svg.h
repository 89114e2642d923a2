/* Inline SVG charts and HTML escaping for the report page (private to
 * src/eval). Charts are plain SVG elements with no xmlns (inline SVG in
 * HTML5 needs none), no script; a <title> child gives hover text. */
#ifndef PTRAG_EVAL_REPORT_SVG_H
#define PTRAG_EVAL_REPORT_SVG_H

#include "eval/strbuf.h"
#include "ptrag/report.h"

/* Appends s with & < > " ' escaped (NULL appends nothing). */
void ptrag_sb_html(strbuf *sb, const char *s);

/* Axis ticks: "nice" values (1, 2, 5 x 10^k) covering [lo, hi]. */
typedef struct report_ticks {
    int n;
    double v[16];
    double lo, hi; /* the axis range (first and last tick) */
} report_ticks;
void ptrag_report_linear_ticks(double lo, double hi, int target, report_ticks *t);
/* Powers of ten (and 2x, 5x when they span less than three decades). lo > 0. */
void ptrag_report_log_ticks(double lo, double hi, report_ticks *t);
/* Tick label: %g with up to 4 significant digits, "0" for rounding noise. */
void ptrag_report_tick_label(double v, double step, char *buf, size_t n);

/* One bar per model with mean +- sd error bars for metric `metric`; NaN
 * means are drawn as "n/a". colors[i]: fill of model i. */
void ptrag_report_svg_bar_chart(strbuf *sb, int metric, const ptrag_report_model *models, int n_models,
                          const char *const *colors);

enum { REPORT_CURVE_TRAIN = 0, REPORT_CURVE_VAL = 1, REPORT_CURVE_KEPT = 2, REPORT_CURVE_VAL_PEARSON = 3 };

/* One polyline per curve that has values of kind `which` (NaN points are
 * skipped, the line joins the finite ones); log y axis for losses spanning more than 30x. colors/dashes:
 * per curve. Returns the number of curves drawn (0: nothing written). */
int ptrag_report_svg_line_chart(strbuf *sb, const char *title, const ptrag_report_curve *curves, int n_curves,
                          int which, const char *const *colors, const char *const *dashes);

#endif
