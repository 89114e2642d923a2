/* The HTML and markdown report from synthetic results: self-contained
 * (no script, no network reference), balanced tags, every model and metric
 * present with escaped text, values formatted, best per metric highlighted
 * in the right direction, charts and explanations drawn, bad input named. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ptrag.h"
#include "ptrag/report.h"
#include "testlib.h"

enum { N_MODELS = 6, N_STEPS = 120, N_CURVES = 6, N_EXPL = 3 };

static const char *const model_names[N_MODELS] = {"ptrag", "state", "rag <v2> & 'co'", "control", "pert-mean",
                                                  "linear"};

static ptrag_report_model models[N_MODELS];
static double steps[N_CURVES][N_STEPS], train[N_CURVES][N_STEPS], val[N_CURVES][N_STEPS], kept[N_STEPS], vpd[N_STEPS];
static ptrag_report_curve curves[N_CURVES];
static const char *const cands[5] = {"MAPK3", "MAP2K6", "SGK3", "TGFBR1", "PLK1"};
static const double cosines[5] = {0.8123, 0.7011, 0.55, 0.4, 0.12};
static const double fracs[5] = {0.625, 0.25, 0.1, 0.025, 0.0};
static ptrag_report_explanation expls[N_EXPL];
static char curve_labels[N_CURVES][32];

/* Models with known winners: pearson_delta best = ptrag (0.4123), mse best =
 * state (0.0091); control has no overlap_at_N. */
static void fill(ptrag_report *r) {
    for (int i = 0; i < N_MODELS; i++) {
        ptrag_report_model *m = &models[i];
        memset(m, 0, sizeof *m);
        m->name = model_names[i];
        m->is_baseline = i >= 3;
        m->n_seeds = i >= 3 ? 1 : 3;
        for (int k = 0; k < PTRAG_M_COUNT; k++) {
            m->m[k].mean = 0.1 + 0.01 * i + 0.001 * k;
            m->m[k].sd = i >= 3 ? NAN : 0.002 * (i + 1);
            m->m[k].n = m->n_seeds;
        }
    }
    models[0].m[PTRAG_M_PEARSON_DELTA].mean = 0.4123;
    models[0].m[PTRAG_M_PEARSON_DELTA].sd = 0.0123;
    models[3].m[PTRAG_M_PEARSON_DELTA].mean = -0.0769; /* a negative bar */
    models[1].m[PTRAG_M_MSE].mean = 0.0091;
    models[1].m[PTRAG_M_MSE].sd = 0.0004;
    models[3].m[PTRAG_M_OVERLAP_AT_N].mean = NAN;
    models[3].m[PTRAG_M_OVERLAP_AT_N].n = 0;
    for (int c = 0; c < N_CURVES; c++) {
        int model = c / 2;
        for (int s = 0; s < N_STEPS; s++) {
            steps[c][s] = 10.0 * s;
            train[c][s] = 4.0 * exp(-s / (15.0 + 5 * model)) + 0.05 + 0.01 * c + 0.02 * sin(s * (c + 1.0));
            val[c][s] = s % 10 == 0 ? 4.2 * exp(-s / (18.0 + 5 * model)) + 0.08 + 0.01 * c : NAN;
        }
        train[c][40] = NAN; /* a gap */
        snprintf(curve_labels[c], sizeof curve_labels[c], "%s seed %d", model_names[model], c % 2 + 1);
        curves[c] = (ptrag_report_curve){model_names[model], curve_labels[c], N_STEPS, steps[c], train[c], val[c],
                                         c < 2 ? kept : NULL, c < 2 ? vpd : NULL};
    }
    for (int s = 0; s < N_STEPS; s++) kept[s] = 1.0 - 0.6 * (1 - exp(-s / 30.0));
    for (int s = 0; s < N_STEPS; s++) vpd[s] = s % 10 == 0 ? 0.3 * (1 - exp(-s / 20.0)) : NAN;
    const char *conds[N_EXPL] = {"A172 / MAPK1", "A172 / PLK4", "A172 / <TGFBR2>"};
    for (int e = 0; e < N_EXPL; e++) expls[e] = (ptrag_report_explanation){conds[e], 5, cands, cosines, fracs};
    memset(r, 0, sizeof *r);
    r->title = "PerturBench few-shot A172";
    r->command = "ptrag experiment --split perturbench_fewshot_a172.toml --models state,rag,ptrag --seeds 3 "
                 "--out \"results dir\"";
    r->notes = "Held-out: 5 perturbations of A172 & 100 controls.";
    r->models = models;
    r->n_models = N_MODELS;
    r->curves = curves;
    r->n_curves = N_CURVES;
    r->explanations = expls;
    r->n_explanations = N_EXPL;
}

static long count(const char *hay, const char *needle) {
    long n = 0;
    size_t l = strlen(needle);
    for (const char *p = strstr(hay, needle); p; p = strstr(p + l, needle)) n++;
    return n;
}

static long count_nocase(const char *hay, const char *needle) {
    long n = 0;
    size_t l = strlen(needle);
    for (const char *p = hay; *p; p++) n += strncasecmp(p, needle, l) == 0;
    return n;
}

static void test_html_page(void) {
    ptrag_report r;
    fill(&r);
    ptrag_error err;
    char *html = NULL;
    CHECK_INT(ptrag_report_format_html(&r, &html, &err), 0);
    if (!html) return;
    /* self-contained */
    CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    CHECK_INT(count_nocase(html, "http"), 0);
    CHECK_INT(count_nocase(html, "<script"), 0);
    CHECK_INT(count_nocase(html, "url("), 0);
    CHECK_INT(count_nocase(html, "@import"), 0);
    CHECK_INT(count_nocase(html, " src="), 0);
    CHECK_INT(count_nocase(html, "<link"), 0);
    /* balanced tags: 11 bar charts, 4 line charts (losses, validation pearson_delta, kept fraction), one legend swatch per curve */
    CHECK_INT(count(html, "<svg"), 11 + 4 + N_CURVES);
    CHECK_INT(count(html, "</svg>"), count(html, "<svg"));
    CHECK_INT(count(html, "<table"), 1 + N_EXPL);
    CHECK_INT(count(html, "</table>"), count(html, "<table"));
    CHECK_INT(count(html, "<div"), count(html, "</div>"));
    CHECK_INT(count(html, "<tr"), count(html, "</tr>"));
    CHECK_INT(count(html, "<td"), count(html, "</td>"));
    CHECK_INT(count(html, "<text"), count(html, "</text>"));
    CHECK_INT(count(html, "<title>"), count(html, "</title>"));
    CHECK_INT(count(html, "<span"), count(html, "</span>"));
    /* curve paths are closed, error bars self-closed */
    CHECK_INT(count(html, "<path"), count(html, "</path>") + count(html, "class=\"err\"/>"));
    /* every model and key metric, text escaped */
    for (int i = 0; i < N_MODELS; i++)
        if (i != 2) CHECK_CONTAINS(html, model_names[i]);
    CHECK_CONTAINS(html, "rag &lt;v2&gt; &amp; &#39;co&#39;");
    CHECK(strstr(html, "<v2>") == NULL);
    CHECK(strstr(html, "<TGFBR2>") == NULL);
    CHECK_CONTAINS(html, "A172 / &lt;TGFBR2&gt;");
    CHECK_CONTAINS(html, "--out &quot;results dir&quot;");
    CHECK_CONTAINS(html, "5 perturbations of A172 &amp; 100 controls");
    const int *keys;
    int nk = ptrag_report_key_metrics(&keys);
    CHECK_INT(nk, 11);
    for (int k = 0; k < nk; k++) {
        char want[160];
        char header[96];
        size_t w = 0;
        for (const char *p = ptrag_metric_info_of(keys[k])->name; *p && w + 8 < sizeof header; p++) {
            header[w++] = *p;
            if (*p == '_' && strlen(ptrag_metric_info_of(keys[k])->name) > 11)
                w += (size_t)snprintf(header + w, sizeof header - w, "<wbr>");
        }
        header[w] = '\0';
        snprintf(want, sizeof want, ">%s<span class=\"dir\">", header);
        CHECK_CONTAINS(html, want); /* table header */
        snprintf(want, sizeof want, "class=\"ct\">%s</text>", ptrag_metric_info_of(keys[k])->name);
        CHECK_CONTAINS(html, want); /* chart title */
    }
    /* values and the best cell in each direction */
    CHECK_CONTAINS(html, "<td class=\"best\">0.4123<span class=\"sd\"> \xc2\xb1 0.012</span></td>");
    CHECK_CONTAINS(html, "<td class=\"best\">0.0091<span class=\"sd\"> \xc2\xb1 0.0004</span></td>");
    CHECK_CONTAINS(html, "<td>-0.0769</td>"); /* a baseline: one run, no sd */
    CHECK_INT(count(html, "<td class=\"best\">"), nk);
    CHECK_CONTAINS(html, "&ndash;"); /* control's missing overlap_at_N */
    CHECK_CONTAINS(html, ">n/a</text>");
    CHECK_CONTAINS(html, "\xe2\x86\x91 higher is better");
    CHECK_CONTAINS(html, "\xe2\x86\x93 lower is better");
    CHECK_CONTAINS(html, "class=\"err\""); /* error bars */
    CHECK_CONTAINS(html, "<title>ptrag: 0.4123 \xc2\xb1 0.0123 (3 seeds)</title>");
    /* curves: train (log scale), val, kept; the gap splits a path */
    CHECK_CONTAINS(html, "training loss (log scale)</text>");
    CHECK_CONTAINS(html, "validation loss");
    CHECK_CONTAINS(html, "PT-RAG kept fraction");
    CHECK_CONTAINS(html, "validation pearson_delta");
    CHECK_CONTAINS(html, "<title>state seed 2</title></path>");
    CHECK_CONTAINS(html, "stroke-dasharray=\"7 3\"");
    /* explanations */
    CHECK_CONTAINS(html, "<h2>Retrieval explanations</h2>");
    CHECK_CONTAINS(html, "<td>MAPK3</td><td class=\"num\">0.812</td>");
    CHECK_CONTAINS(html, "style=\"width:62.5%\"></span></span>62%"); /* %.0f rounds half to even */
    CHECK_INT(count(html, "<td>PLK1</td>"), N_EXPL);
    /* atomically written file = the formatted text */
    const char *path = tl_tmp("test_report.html");
    CHECK_INT(ptrag_report_write_html(&r, path, &err), 0);
    char *back = NULL;
    size_t len = 0;
    CHECK_INT(ptrag_read_file(path, &back, &len, &err), 0);
    CHECK(back && len == strlen(html) && memcmp(back, html, len) == 0);
    free(back);
    free(html);
}

/* No curves, no explanations: those sections are left out. */
static void test_minimal_page(void) {
    ptrag_report r;
    fill(&r);
    r.n_curves = 0;
    r.n_explanations = 0;
    r.notes = NULL;
    int metrics[2] = {PTRAG_M_PEARSON_DELTA, PTRAG_M_DE_NSIG_REAL};
    r.metrics = metrics;
    r.n_metrics = 2;
    ptrag_error err;
    char *html = NULL;
    CHECK_INT(ptrag_report_format_html(&r, &html, &err), 0);
    if (!html) return;
    CHECK(strstr(html, "Training curves") == NULL);
    CHECK(strstr(html, "Retrieval explanations") == NULL);
    CHECK_INT(count(html, "<svg"), 2);
    CHECK_INT(count(html, "<td class=\"best\">"), 1); /* de_nsig_real has no direction */
    CHECK(strstr(html, ">mse<") == NULL);
    CHECK_CONTAINS(html, ">de_<wbr>nsig_<wbr>real<span class=\"dir\"></span>"); /* no direction */
    free(html);
}

static void test_markdown(void) {
    ptrag_report r;
    fill(&r);
    ptrag_error err;
    char *md = NULL;
    CHECK_INT(ptrag_report_format_markdown(&r, &md, &err), 0);
    if (!md) return;
    CHECK(strncmp(md, "# PerturBench few-shot A172\n", 28) == 0);
    CHECK_CONTAINS(md, "```sh\nptrag experiment --split perturbench_fewshot_a172.toml");
    CHECK_CONTAINS(md, "**0.4123 \xc2\xb1 0.0123**");
    CHECK_CONTAINS(md, "**0.0091 \xc2\xb1 0.0004**");
    CHECK_CONTAINS(md, "| pert-mean (baseline) ");
    CHECK_CONTAINS(md, "rag &lt;v2&gt; & 'co'");
    CHECK_CONTAINS(md, "| model ");
    CHECK_CONTAINS(md, " pearson_delta |");
    CHECK_CONTAINS(md, " energy_genes |");
    CHECK_CONTAINS(md, "Higher is better: pearson_delta, pearson_delta_pert, discrimination_score_l1, overlap_at_N. Lower is better: mse,");
    CHECK_CONTAINS(md, "Runs per model: ptrag 3, state 3");
    CHECK(strstr(md, "pearson_delta_degenerate") == NULL);
    const char *path = tl_tmp("test_report.md");
    CHECK_INT(ptrag_report_write_markdown(&r, path, &err), 0);
    char *back = NULL;
    size_t len = 0;
    CHECK_INT(ptrag_read_file(path, &back, &len, &err), 0);
    CHECK(back && strcmp(back, md) == 0);
    free(back);
    free(md);
}

static void test_combine_seeds(void) {
    ptrag_metric_summary per_seed[3][PTRAG_M_COUNT], out[PTRAG_M_COUNT];
    for (int s = 0; s < 3; s++)
        for (int m = 0; m < PTRAG_M_COUNT; m++) per_seed[s][m] = (ptrag_metric_summary){NAN, NAN, 0};
    per_seed[0][PTRAG_M_MSE].mean = 0.1;
    per_seed[1][PTRAG_M_MSE].mean = 0.2;
    per_seed[2][PTRAG_M_MSE].mean = 0.6;
    per_seed[0][PTRAG_M_MAE].mean = 0.3;
    per_seed[2][PTRAG_M_MAE].mean = 0.5;
    ptrag_report_combine_seeds((const ptrag_metric_summary(*)[PTRAG_M_COUNT])per_seed, 3, out);
    CHECK_NEAR(out[PTRAG_M_MSE].mean, 0.3, 1e-12);
    CHECK_NEAR(out[PTRAG_M_MSE].sd, sqrt(((0.04) + (0.01) + (0.09)) / 2), 1e-12);
    CHECK_INT(out[PTRAG_M_MSE].n, 3);
    CHECK_NEAR(out[PTRAG_M_MAE].mean, 0.4, 1e-12);
    CHECK_NEAR(out[PTRAG_M_MAE].sd, sqrt(0.02), 1e-12);
    CHECK_INT(out[PTRAG_M_MAE].n, 2);
    CHECK(isnan(out[PTRAG_M_W1_PCA].mean));
    CHECK_INT(out[PTRAG_M_W1_PCA].n, 0);
}

static void test_bad_input(void) {
    ptrag_report r;
    fill(&r);
    ptrag_error err;
    char *text = NULL;
    models[1].name = NULL;
    CHECK_INT(ptrag_report_format_html(&r, &text, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "report: models[1].name: missing");
    CHECK_INT(ptrag_report_format_markdown(&r, &text, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "report: models[1].name: missing");
    CHECK(text == NULL);
    fill(&r);
    int bad_metric = 99;
    r.metrics = &bad_metric;
    r.n_metrics = 1;
    CHECK_INT(ptrag_report_format_html(&r, &text, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "report: metrics[0]: id 99 out of range");
    fill(&r);
    expls[1].cosine = NULL;
    CHECK_INT(ptrag_report_format_html(&r, &text, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "report: explanations[1]: candidate, cosine and fraction arrays are required");
    fill(&r);
    curves[2].step = NULL;
    CHECK_INT(ptrag_report_format_html(&r, &text, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "report: curves[2].step: missing for 120 points");
    fill(&r);
    const char *path = tl_tmp("test_report_no_such_dir/report.html");
    CHECK(ptrag_report_write_html(&r, path, &err) == PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "test_report_no_such_dir");
    CHECK(text == NULL);
}

int main(void) {
    RUN(test_html_page);
    RUN(test_minimal_page);
    RUN(test_markdown);
    RUN(test_combine_seeds);
    RUN(test_bad_input);
    return TEST_SUMMARY();
}
