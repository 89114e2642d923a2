/* ptrag inspect: what an .h5ad file holds (cells, genes, expression source and
 * storage, obs columns) and per-category cell counts, as text or JSON. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static const char *type_name(ptrag_col_type t) {
    switch (t) {
    case PTRAG_COL_CATEGORICAL: return "categorical";
    case PTRAG_COL_STRING: return "string";
    case PTRAG_COL_NUMERIC: return "numeric";
    case PTRAG_COL_BOOL: return "bool";
    }
    return "unknown";
}

static const char *storage_name(ptrag_storage s) {
    return s == PTRAG_STORAGE_CSR ? "csr" : s == PTRAG_STORAGE_CSC ? "csc" : "dense";
}

/* Terminal columns of a UTF-8 string (code points; no wide characters). */
static int text_width(const char *s) {
    int w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

/* Prints s left-aligned in a field of `width` terminal columns. */
static void print_padded(const char *s, int width) {
    printf("%s%*s", s, width > text_width(s) ? width - text_width(s) : 0, "");
}

static void json_str(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p == '\n') printf("\\n");
        else if (*p == '\t') printf("\\t");
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

/* One obs column as seen by inspect: read, or unsupported (with why). */
typedef struct {
    const char *name;
    int ok;
    ptrag_column col;
    char why[PTRAG_ERROR_MSG_MAX];
} col_info;

/* A categorical view of a column for counting: categories + codes, with a
 * trailing "NaN" category for missing values when there are any. */
typedef struct {
    const char *name;
    ptrag_column col; /* owns the category strings that labels point to */
    int ncat;
    const char **labels;
    int32_t *codes;
    long n;
} factor;

static void factor_free(factor *f) {
    ptrag_column_free(&f->col);
    free(f->labels);
    free(f->codes);
}

static int make_factor(ptrag_h5ad *h, const char *name, factor *f, ptrag_error *err) {
    memset(f, 0, sizeof *f);
    f->name = name;
    int rc = ptrag_h5ad_read_obs(h, name, &f->col, err);
    if (rc) return rc;
    const ptrag_column *col = &f->col;
    if (col->type == PTRAG_COL_NUMERIC)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "%s: /obs/%s: numeric column; --counts needs a categorical, string or bool column",
                          ptrag_h5ad_path(h), name);
    f->n = col->n;
    int ncat = col->type == PTRAG_COL_BOOL ? 2 : col->n_categories;
    f->codes = malloc(((size_t)col->n + 1) * sizeof *f->codes);
    f->labels = malloc(((size_t)ncat + 2) * sizeof *f->labels);
    if (!f->codes || !f->labels) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    static const char *const bool_labels[2] = {"False", "True"};
    int missing = 0;
    for (long i = 0; i < col->n; i++) {
        int32_t c;
        if (col->type == PTRAG_COL_BOOL) c = col->values[i] != col->values[i] ? -1 : col->values[i] != 0;
        else c = col->codes[i];
        if (c < 0) {
            c = ncat;
            missing = 1;
        }
        f->codes[i] = c;
    }
    for (int k = 0; k < ncat; k++)
        f->labels[k] = col->type == PTRAG_COL_BOOL ? bool_labels[k] : col->categories[k];
    if (missing) f->labels[ncat] = "NaN";
    f->ncat = ncat + missing;
    return 0;
}

/* Cells per category of one column, or per pair of categories of two. */
typedef struct {
    int nf;
    factor f[2];
    long n0, n1;
    long *tab; /* n0 x n1 */
} count_table;

static void count_table_free(count_table *t) {
    for (int k = 0; k < t->nf; k++) factor_free(&t->f[k]);
    free(t->tab);
}

static int count_cells(ptrag_h5ad *h, const char *spec, count_table *t, ptrag_error *err) {
    memset(t, 0, sizeof *t);
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", spec);
    char *comma = strchr(buf, ',');
    if (comma) *comma = '\0';
    const char *names[2] = {buf, comma ? comma + 1 : NULL};
    int nf = comma ? 2 : 1;
    if (!*names[0] || (nf == 2 && (!*names[1] || strchr(names[1], ','))))
        return ptrag_fail(err, PTRAG_E_ARG, "--counts expects COLUMN or COLUMN,COLUMN, got '%s'", spec);
    for (int k = 0; k < nf; k++) {
        t->nf = k + 1;
        int rc = make_factor(h, names[k], &t->f[k], err);
        if (rc) return rc;
        t->f[k].name = spec + (names[k] - buf); /* points into the caller's string */
    }
    t->n0 = t->f[0].ncat;
    t->n1 = nf == 2 ? t->f[1].ncat : 1;
    t->tab = calloc((size_t)(t->n0 * t->n1) + 1, sizeof *t->tab);
    if (!t->tab) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    for (long i = 0; i < t->f[0].n; i++)
        t->tab[t->f[0].codes[i] * t->n1 + (nf == 2 ? t->f[1].codes[i] : 0)]++;
    return 0;
}

/* Prints a name up to the first comma (the spec string holds both names). */
static int name_len(const char *s) {
    const char *c = strchr(s, ',');
    return c ? (int)(c - s) : (int)strlen(s);
}

static void print_counts(const count_table *t, int json) {
    const factor *f = t->f;
    long n0 = t->n0, n1 = t->n1;
    int nf = t->nf;
    if (json) {
        printf(",\n  \"counts_columns\": [");
        for (int k = 0; k < nf; k++) {
            char nm[1024];
            snprintf(nm, sizeof nm, "%.*s", name_len(f[k].name), f[k].name);
            printf("%s", k ? ", " : "");
            json_str(nm);
        }
        printf("],\n  \"counts\": {");
        for (long a = 0; a < n0; a++) {
            printf("%s\n    ", a ? "," : "");
            json_str(f[0].labels[a]);
            if (nf == 1) {
                printf(": %ld", t->tab[a]);
                continue;
            }
            printf(": {");
            for (long b = 0; b < n1; b++) {
                printf("%s", b ? ", " : "");
                json_str(f[1].labels[b]);
                printf(": %ld", t->tab[a * n1 + b]);
            }
            printf("}");
        }
        printf("\n  }");
        return;
    }
    int w0 = name_len(f[0].name);
    for (long a = 0; a < n0; a++)
        if (text_width(f[0].labels[a]) > w0) w0 = text_width(f[0].labels[a]);
    if (nf == 1) {
        printf("\ncells per %.*s:\n", name_len(f[0].name), f[0].name);
        for (long a = 0; a < n0; a++) {
            printf("  ");
            print_padded(f[0].labels[a], w0);
            printf(" %8ld\n", t->tab[a]);
        }
        return;
    }
    printf("\ncells per %.*s (rows) x %s (columns):\n  %*s", name_len(f[0].name), f[0].name,
           f[1].name, w0, "");
    for (long b = 0; b < n1; b++) {
        int wb = text_width(f[1].labels[b]);
        printf(" %*s%s", wb < 8 ? 8 - wb : 0, "", f[1].labels[b]);
    }
    printf("\n");
    for (long a = 0; a < n0; a++) {
        printf("  ");
        print_padded(f[0].labels[a], w0);
        for (long b = 0; b < n1; b++) {
            int wb = text_width(f[1].labels[b]);
            printf(" %*ld", wb > 8 ? wb : 8, t->tab[a * n1 + b]);
        }
        printf("\n");
    }
}

static void print_summary(ptrag_h5ad *h, col_info *ci, int nc, int json) {
    long n_obs = ptrag_h5ad_n_obs(h), n_vars = ptrag_h5ad_n_vars(h);
    ptrag_storage st = ptrag_h5ad_x_storage(h);
    long nnz = ptrag_h5ad_x_nnz(h);
    if (json) {
        printf("{\n  \"file\": ");
        json_str(ptrag_h5ad_path(h));
        printf(",\n  \"n_obs\": %ld,\n  \"n_vars\": %ld,\n  \"x_source\": ", n_obs, n_vars);
        json_str(ptrag_h5ad_x_source(h));
        printf(",\n  \"x_storage\": \"%s\",\n  \"x_nnz\": %ld,\n  \"obs\": {", storage_name(st), nnz);
        for (int i = 0; i < nc; i++) {
            printf("%s\n    ", i ? "," : "");
            json_str(ci[i].name);
            if (!ci[i].ok) {
                printf(": {\"type\": \"unsupported\", \"n_categories\": null}");
                continue;
            }
            printf(": {\"type\": \"%s\", \"n_categories\": ", type_name(ci[i].col.type));
            if (ci[i].col.categories) printf("%d}", ci[i].col.n_categories);
            else printf("null}");
        }
        printf("\n  }");
        return;
    }
    printf("file        %s\n", ptrag_h5ad_path(h));
    printf("cells       %ld\n", n_obs);
    printf("genes       %ld\n", n_vars);
    double dens = n_obs && n_vars ? 100.0 * (double)nnz / ((double)n_obs * (double)n_vars) : 0;
    printf("expression  %s (%s, %ld stored entries, %.2f%% of the matrix)\n", ptrag_h5ad_x_source(h),
           storage_name(st), nnz, dens);
    printf("obs columns (%d):\n", nc);
    int w = 4;
    for (int i = 0; i < nc; i++)
        if (text_width(ci[i].name) > w) w = text_width(ci[i].name);
    for (int i = 0; i < nc; i++) {
        printf("  ");
        print_padded(ci[i].name, w);
        if (!ci[i].ok) {
            printf("  unsupported: %s\n", ci[i].why);
        } else if (ci[i].col.categories) {
            printf("  %-11s  %d %s\n", type_name(ci[i].col.type),
                   ci[i].col.n_categories,
                   ci[i].col.type == PTRAG_COL_STRING ? "distinct values"
                   : ci[i].col.n_categories == 1      ? "category"
                                                      : "categories");
        } else {
            printf("  %s\n", type_name(ci[i].col.type));
        }
    }
}

int cmd_inspect(int argc, char **argv) {
    static const cli_opt opts[] = {
        {"--x", "SOURCE", "expression: X, layers/NAME or obsm/KEY (default: X)"},
        {"--json", NULL, "print JSON (keys n_obs, n_vars, x_source, x_storage, obs, counts)"},
        {"--counts", "COL[,COL]", "cells per category of one obs column, or a cross-table of two"},
    };
    cli_args a;
    int done;
    int code = cli_parse(argc, argv, "ptrag inspect FILE.h5ad [--x SOURCE] [--json] [--counts COL[,COL]]",
                         "Shows the cells, genes, expression source and obs columns of an AnnData file.",
                         opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return code;
    if (a.npos != 1) return cli_usage_error("inspect", "expects one FILE.h5ad (see 'ptrag inspect --help')");
    int json = cli_has(&a, "--json");
    const char *counts = cli_get(&a, "--counts", NULL);
    ptrag_error err;
    ptrag_error_clear(&err);
    ptrag_h5ad *h;
    if (ptrag_h5ad_open(a.pos[0], cli_get(&a, "--x", "X"), &h, &err)) return cli_report("inspect", &err);
    const char *const *names;
    int nc;
    ptrag_h5ad_obs_columns(h, &names, &nc);
    col_info *ci = calloc((size_t)nc + 1, sizeof *ci);
    int rc = ci ? 0 : ptrag_fail(&err, PTRAG_E_NOMEM, "out of memory");
    for (int i = 0; i < nc && rc == 0; i++) {
        ci[i].name = names[i];
        ptrag_error e2;
        int r = ptrag_h5ad_read_obs(h, names[i], &ci[i].col, &e2);
        if (r == 0) ci[i].ok = 1;
        else if (r == PTRAG_E_UNSUPPORTED) {
            /* The file is named once at the top: keep "/obs/col: why". */
            const char *why = e2.msg, *path = ptrag_h5ad_path(h);
            size_t pl = strlen(path);
            if (strncmp(why, path, pl) == 0 && why[pl] == ':') why += pl + 2;
            snprintf(ci[i].why, sizeof ci[i].why, "%s", why);
        }
        else rc = r, err = e2;
    }
    count_table t;
    memset(&t, 0, sizeof t);
    /* Counts are computed before anything is printed, so a bad column name
     * gives only the error. */
    if (rc == 0 && counts) rc = count_cells(h, counts, &t, &err);
    if (rc == 0) {
        print_summary(h, ci, nc, json);
        if (counts) print_counts(&t, json);
        if (json) printf("\n}\n");
    }
    count_table_free(&t);
    for (int i = 0; i < nc && ci; i++) ptrag_column_free(&ci[i].col);
    free(ci);
    ptrag_h5ad_close(h);
    fflush(stdout);
    return rc ? cli_report("inspect", &err) : 0;
}
