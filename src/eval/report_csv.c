/* per_condition.csv and summary.csv: writing both, reading summary back. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/strbuf.h"
#include "ptrag/fsutil.h"
#include "ptrag/metrics.h"

static int write_text(const char *dir, const char *name, strbuf *sb, ptrag_error *err) {
    char path[4096];
    ptrag_path_join(dir, name, path, sizeof path);
    if (sb->failed) {
        ptrag_sb_free(sb);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory while formatting", path);
    }
    int rc = ptrag_write_file_atomic(path, sb->s ? sb->s : "", sb->len, err);
    ptrag_sb_free(sb);
    return rc;
}

int ptrag_eval_write_csv(const ptrag_eval_result *r, const char *dir, ptrag_error *err) {
    int rc = ptrag_mkdir_p(dir, err);
    if (rc) return rc;

    strbuf sb = {0};
    ptrag_sb_printf(&sb, "cell_type,perturbation,n_real,n_pred");
    for (int m = 0; m < PTRAG_M_COUNT; m++) ptrag_sb_printf(&sb, ",%s", ptrag_metric_info_of(m)->name);
    ptrag_sb_printf(&sb, "\n");
    for (long i = 0; i < r->n_conditions; i++) {
        const ptrag_condition_scores *c = &r->conditions[i];
        ptrag_sb_csv_field(&sb, c->cell_type);
        ptrag_sb_printf(&sb, ",");
        ptrag_sb_csv_field(&sb, c->perturbation);
        ptrag_sb_printf(&sb, ",%ld,%ld", c->n_real, c->n_pred);
        for (int m = 0; m < PTRAG_M_COUNT; m++) {
            ptrag_sb_printf(&sb, ",");
            ptrag_sb_number(&sb, c->v[m]);
        }
        ptrag_sb_printf(&sb, "\n");
    }
    rc = write_text(dir, "per_condition.csv", &sb, err);
    if (rc) return rc;

    ptrag_sb_printf(&sb, "metric,mean,sd,n\n");
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        ptrag_sb_printf(&sb, "%s,", ptrag_metric_info_of(m)->name);
        ptrag_sb_number(&sb, r->summary[m].mean);
        ptrag_sb_printf(&sb, ",");
        ptrag_sb_number(&sb, r->summary[m].sd);
        ptrag_sb_printf(&sb, ",%ld\n", r->summary[m].n);
    }
    return write_text(dir, "summary.csv", &sb, err);
}

/* Parses a number field; "nan" (any case) and empty give NaN. */
static int parse_number(const char *s, double *v) {
    if (!*s || strncmp(s, "nan", 3) == 0 || strncmp(s, "NaN", 3) == 0) {
        *v = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return (end == s || errno) ? -1 : 0;
}

int ptrag_eval_read_summary_csv(const char *path, ptrag_metric_summary out[PTRAG_M_COUNT],
                                ptrag_error *err) {
    for (int m = 0; m < PTRAG_M_COUNT; m++) out[m] = (ptrag_metric_summary){NAN, NAN, 0};
    char *text;
    int rc = ptrag_read_file(path, &text, NULL, err);
    if (rc) return rc;
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    if (!line || strncmp(line, "metric,mean,sd,n", 16) != 0) {
        free(text);
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: expected \"metric,mean,sd,n\"", path);
    }
    long lineno = 1;
    while ((line = strtok_r(NULL, "\n", &save))) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        if (!len) continue;
        char *f[4];
        int nf = 0;
        char *p = line;
        while (nf < 4) {
            f[nf++] = p;
            char *comma = strchr(p, ',');
            if (!comma) break;
            *comma = '\0';
            p = comma + 1;
        }
        double mean, sd, n;
        if (nf != 4 || parse_number(f[1], &mean) || parse_number(f[2], &sd) ||
            parse_number(f[3], &n) || !(n >= 0)) {
            free(text);
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld: expected metric,mean,sd,n", path, lineno);
        }
        int id = ptrag_metric_by_name(f[0]);
        if (id >= 0) out[id] = (ptrag_metric_summary){mean, sd, (long)n};
    }
    free(text);
    return 0;
}
