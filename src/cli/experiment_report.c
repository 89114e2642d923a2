/* Writing an experiment's results: see experiment_report.h. */
#define _POSIX_C_SOURCE 200809L
#include "cli/experiment_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/fsutil.h"
#include "ptrag/run_dir.h"
#include "ptrag/run_record.h"

/* The metrics of the printed table (all of them go to results.csv). */
static const int key_metrics[] = {PTRAG_M_PEARSON_DELTA, PTRAG_M_PEARSON_DELTA_PERT, PTRAG_M_MSE,        PTRAG_M_MAE,
                                  PTRAG_M_DISCRIMINATION_L1, PTRAG_M_OVERLAP_AT_N, PTRAG_M_W1_PCA,
                                  PTRAG_M_W2_PCA,        PTRAG_M_MMD_PCA,    PTRAG_M_ENERGY_PCA,
                                  PTRAG_M_ENERGY_GENES};
#define N_KEY (int)(sizeof key_metrics / sizeof key_metrics[0])

void exp_row_add_source(exp_row *r, const char *exp_dir, const char *dir, uint32_t digest) {
    size_t el = strlen(exp_dir);
    const char *rel = strncmp(dir, exp_dir, el) == 0 && dir[el] == '/' ? dir + el + 1 : dir;
    char item[600];
    snprintf(item, sizeof item, "%s (settings %08x)", rel, (unsigned)digest);
    if (strstr(r->sources, item)) return; /* a run scored on test and validation is named once */
    size_t len = strlen(r->sources);
    if (len + strlen(item) + 3 < sizeof r->sources)
        snprintf(r->sources + len, sizeof r->sources - len, "%s%s", len ? ", " : "", item);
}

/* "Rows from" lines under a table: each row and the folders it came from. */
static void print_sources(FILE *f, const exp_row *rows, int n, int markdown) {
    fprintf(f, markdown ? "Rows from (run folders and their settings digest, record.txt):\n\n"
                        : "rows from (run folders, settings digest):\n");
    for (int i = 0; i < n; i++)
        fprintf(f, markdown ? "- %s: %s\n" : "  %s: %s\n", rows[i].name, rows[i].sources[0] ? rows[i].sources : "-");
    fprintf(f, "\n");
}

/* results.csv with a last column "sources" naming each row's folders. */
static int csv_add_sources(const char *csv, const exp_row *rows, int n, char **out, ptrag_error *err) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    int line = 0;
    for (const char *p = csv; *p;) {
        size_t ln = strcspn(p, "\n");
        if (line == 0) fprintf(f, "%.*s,sources\n", (int)ln, p);
        else if (line <= n) fprintf(f, "%.*s,\"%s\"\n", (int)ln, p, rows[line - 1].sources);
        else fprintf(f, "%.*s\n", (int)ln, p);
        line++;
        p += ln;
        if (*p) p++;
    }
    fclose(f);
    *out = buf;
    return 0;
}

void exp_curves_init(exp_curves *c) { memset(c, 0, sizeof *c); }

void exp_curves_free(exp_curves *c) {
    for (int i = 0; i < c->n; i++) {
        free(c->c[i].step);
        free(c->c[i].train);
        free(c->c[i].val);
        free(c->c[i].kept);
        free(c->c[i].val_pearson);
    }
    c->n = 0;
}

static double cell(const char *s) { return *s ? strtod(s, NULL) : NAN; }

void exp_curves_read(exp_curves *c, const char *run_dir, const char *model, unsigned long long seed) {
    if (c->n >= (int)(sizeof c->c / sizeof c->c[0])) return;
    char path[4096], *text;
    snprintf(path, sizeof path, "%s/train_log.csv", run_dir);
    if (ptrag_read_file(path, &text, NULL, NULL)) return;
    exp_curve *cv = &c->c[c->n];
    memset(cv, 0, sizeof *cv);
    snprintf(cv->label, sizeof cv->label, "%s seed %llu", model, seed);
    long lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    cv->step = calloc((size_t)lines + 1, sizeof(double));
    cv->train = calloc((size_t)lines + 1, sizeof(double));
    cv->val = calloc((size_t)lines + 1, sizeof(double));
    cv->kept = calloc((size_t)lines + 1, sizeof(double));
    cv->val_pearson = calloc((size_t)lines + 1, sizeof(double));
    if (!cv->step || !cv->train || !cv->val || !cv->kept || !cv->val_pearson) {
        free(text);
        return;
    }
    /* step,train_loss,val_loss,seconds[,sparsity_loss,kept_fraction][,val_pearson_delta]:
     * the pearson column found by its header name (older logs lack it) */
    char *save = NULL;
    int first = 1, pearson_col = -1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (first) {
            first = 0;
            int col = 0;
            for (const char *q = line;; col++) {
                if (strncmp(q, "val_pearson_delta", 17) == 0 && (q[17] == ',' || q[17] == '\0' || q[17] == '\r'))
                    pearson_col = col;
                if (!(q = strchr(q, ','))) break;
                q++;
            }
            continue;
        }
        char *f[8] = {0};
        int nf = 0;
        for (char *q = line; nf < 8;) {
            f[nf++] = q;
            char *comma = strchr(q, ',');
            if (!comma) break;
            *comma = '\0';
            q = comma + 1;
        }
        if (nf < 3) continue;
        cv->step[cv->n] = cell(f[0]);
        cv->train[cv->n] = cell(f[1]);
        cv->val[cv->n] = cell(f[2]);
        cv->kept[cv->n] = nf >= 6 && pearson_col != 5 ? cell(f[5]) : NAN;
        cv->val_pearson[cv->n] = pearson_col >= 0 && nf > pearson_col ? cell(f[pearson_col]) : NAN;
        cv->n++;
    }
    free(text);
    c->n++;
}

static int format_rows(const exp_row *rows, int n, const int *metrics, int n_metrics, int style, char **text,
                       ptrag_error *err) {
    ptrag_model_summary ms[EXP_MAX_ROWS];
    for (int i = 0; i < n; i++) {
        ms[i].model = rows[i].name;
        ms[i].m = rows[i].summary;
    }
    return ptrag_eval_format_comparison(ms, n, metrics, n_metrics, style, text, err);
}

/* The PT-RAG selection mode with the best validation pearson_delta. */
static const exp_row *best_val_row(const exp_results *r) {
    const exp_row *best = NULL;
    for (int i = 0; i < r->n_val; i++)
        if (!best || r->val[i].summary[PTRAG_M_PEARSON_DELTA].mean > best->summary[PTRAG_M_PEARSON_DELTA].mean)
            best = &r->val[i];
    return best;
}

int exp_write_results(const ptrag_experiment *ex, const ptrag_dataset *d, const exp_results *res,
                      const exp_curves *curves, const ptrag_prediction_summary *explained, ptrag_error *err) {
    char path[4096], *csv = NULL, *md = NULL, *txt = NULL, *vmd = NULL, *vtxt = NULL, *cmd = NULL;
    int rc = format_rows(res->test, res->n_test, NULL, 0, PTRAG_TABLE_CSV, &csv, err);
    if (!rc) rc = format_rows(res->test, res->n_test, key_metrics, N_KEY, PTRAG_TABLE_MARKDOWN, &md, err);
    if (!rc) rc = format_rows(res->test, res->n_test, key_metrics, N_KEY, PTRAG_TABLE_TEXT, &txt, err);
    if (!rc && res->n_val) rc = format_rows(res->val, res->n_val, key_metrics, N_KEY, PTRAG_TABLE_MARKDOWN, &vmd, err);
    if (!rc && res->n_val) rc = format_rows(res->val, res->n_val, key_metrics, N_KEY, PTRAG_TABLE_TEXT, &vtxt, err);
    if (!rc) rc = ptrag_shell_join(ex->argc, ex->argv, &cmd, err);
    if (rc) goto done;
    snprintf(path, sizeof path, "%s/results.csv", ex->dir);
    char *csv_src = NULL;
    if ((rc = csv_add_sources(csv, res->test, res->n_test, &csv_src, err))) goto done;
    rc = ptrag_write_file_atomic(path, csv_src, strlen(csv_src), err);
    free(csv_src);
    if (rc) goto done;

    char *doc = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&doc, &len);
    if (!f) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        goto done;
    }
    const exp_row *bv = best_val_row(res);
    fprintf(f, "# ptrag experiment: %s\n\n", d->h5ad_path);
    fprintf(f, "Command: `ptrag %s`\n\n", cmd);
    fprintf(f, "Held-out test conditions: %d (%ld cells); mean ± sd over %d seed(s) of each metric's mean over "
               "conditions (baselines are deterministic: one run; the ceiling row: mean ± sd over its split-half "
               "splits, docs/evaluation.md). Metric definitions: docs/metrics.md.\n\n",
            d->assign->n_conditions_split[PTRAG_SPLIT_TEST], d->assign->n_cells_split[PTRAG_SPLIT_TEST],
            res->n_seeds);
    fprintf(f, "## Test conditions\n\n%s\n", md);
    print_sources(f, res->test, res->n_test, 1);
    if (ex->truth) exp_truth_retrieval_md(f, ex->truth, explained);
    if (vmd) {
        fprintf(f, "## PT-RAG selection modes on the validation conditions\n\n%s\n", vmd);
        print_sources(f, res->val, res->n_val, 1);
        if (bv) fprintf(f, "Best validation pearson_delta: **%s**.\n\n", bv->name);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/results.md", ex->dir);
    rc = ptrag_write_file_atomic(path, doc, len, err);
    free(doc);
    if (rc) goto done;
    rc = exp_write_html(ex, d, res, curves, explained, cmd, err);
    /* Named in the experiment folder's record like every other output. */
    const char *outputs[] = {"results.csv", "results.md", "report.html"};
    for (int i = 0; i < 3 && !rc; i++) {
        snprintf(path, sizeof path, "%s/%s", ex->dir, outputs[i]);
        rc = ptrag_run_record_note(ex->dir, path, "experiment", NULL, err);
    }
    if (rc) goto done;

    printf("\nHeld-out test conditions of %s (mean +- sd over %d seed(s)):\n\n%s\n", ex->split, res->n_seeds, txt);
    print_sources(stdout, res->test, res->n_test, 0);
    if (ex->truth) {
        char note[1400];
        exp_truth_retrieval_note(ex->truth, explained, note, sizeof note);
        printf("%s\n\n", note + 1);
    }
    if (vtxt) {
        printf("PT-RAG selection modes on the validation conditions:\n\n%s\n", vtxt);
        print_sources(stdout, res->val, res->n_val, 0);
        if (bv) printf("best on validation (pearson_delta): %s\n", bv->name);
    }
    printf("\nwritten: %s/results.csv, %s/results.md, %s/report.html\n", ex->dir, ex->dir, ex->dir);
done:
    free(csv);
    free(md);
    free(txt);
    free(vmd);
    free(vtxt);
    free(cmd);
    return rc;
}
