/* CSV training log with declared columns and resume truncation: see
 * include/ptrag/train_log.h. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/train_log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/fsutil.h"

struct ptrag_train_log {
    FILE *f;
    char *path;
    int n_extra;
    char header[PTRAG_TRAIN_LOG_MAX_EXTRA * 65 + 64];
};

static int column_name_ok(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 63) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static int build_header(char *h, size_t n, const char *const *extra, int n_extra, const char *path,
                        ptrag_error *err) {
    static const char *const base[] = {"step", "train_loss", "val_loss", "seconds"};
    if (n_extra < 0 || n_extra > PTRAG_TRAIN_LOG_MAX_EXTRA)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: %d extra columns (at most %d)", path, n_extra,
                          PTRAG_TRAIN_LOG_MAX_EXTRA);
    snprintf(h, n, "step,train_loss,val_loss,seconds");
    for (int i = 0; i < n_extra; i++) {
        if (!column_name_ok(extra[i]))
            return ptrag_fail(err, PTRAG_E_ARG,
                              "%s: column name '%s' must be 1-63 characters of [A-Za-z0-9_]", path,
                              extra[i]);
        for (int j = 0; j < 4; j++)
            if (strcmp(extra[i], base[j]) == 0)
                return ptrag_fail(err, PTRAG_E_ARG, "%s: column '%s' is already a base column",
                                  path, extra[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(extra[i], extra[j]) == 0)
                return ptrag_fail(err, PTRAG_E_ARG, "%s: column '%s' declared twice", path, extra[i]);
        strncat(h, ",", n - strlen(h) - 1);
        strncat(h, extra[i], n - strlen(h) - 1);
    }
    return 0;
}

/* Keeps the header and the rows with step <= resume_step; rewrites atomically. */
static int truncate_after(const char *path, const char *header, long long resume_step,
                          ptrag_error *err) {
    char *text;
    size_t len;
    int rc = ptrag_read_file(path, &text, &len, err);
    if (rc) {
        ptrag_error_prefix(err, "resuming the training log");
        return rc;
    }
    size_t hlen = strcspn(text, "\n");
    if (hlen != strlen(header) || strncmp(text, header, hlen) != 0) {
        rc = ptrag_fail(err, PTRAG_E_STATE,
                        "%s: header '%.*s' does not match this run's columns '%s'", path,
                        (int)(hlen > 512 ? 512 : hlen), text, header);
        free(text);
        return rc;
    }
    size_t keep = hlen + (text[hlen] == '\n');
    int lineno = 1;
    while (keep < len) {
        lineno++;
        const char *line = text + keep;
        size_t l = strcspn(line, "\n");
        char *end;
        errno = 0;
        long long step = strtoll(line, &end, 10);
        if (end == line || *end != ',' || errno) {
            if (l == 0 && keep + 1 >= len) break; /* a final empty line */
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s:%d: expected a step number in the first column",
                            path, lineno);
            free(text);
            return rc;
        }
        if (step > resume_step || line[l] != '\n') break; /* a torn last line is dropped too */
        keep += l + 1;
    }
    if (keep == hlen) text[keep++] = '\n'; /* header without newline: rows must start a line */
    rc = ptrag_write_file_atomic(path, text, keep, err);
    free(text);
    return rc;
}

int ptrag_train_log_open(const char *path, const char *const *extra, int n_extra,
                         long long resume_step, ptrag_train_log **out, ptrag_error *err) {
    *out = NULL;
    ptrag_train_log *log = calloc(1, sizeof *log);
    if (!log) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    int rc = build_header(log->header, sizeof log->header, extra, n_extra, path, err);
    if (!rc && resume_step >= 0) rc = truncate_after(path, log->header, resume_step, err);
    if (!rc) {
        log->path = malloc(strlen(path) + 1);
        if (!log->path) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        else strcpy(log->path, path);
    }
    if (!rc) {
        log->f = fopen(path, resume_step >= 0 ? "ab" : "wb");
        if (!log->f) rc = ptrag_fail(err, PTRAG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    if (!rc && resume_step < 0 &&
        (fprintf(log->f, "%s\n", log->header) < 0 || fflush(log->f) != 0))
        rc = ptrag_fail(err, PTRAG_E_IO, "%s: cannot write: %s", path, strerror(errno));
    if (rc) {
        if (log->f) fclose(log->f);
        free(log->path);
        free(log);
        return rc;
    }
    log->n_extra = n_extra;
    *out = log;
    return 0;
}

static void put_value(FILE *f, double x, const char *fmt) {
    fputc(',', f);
    if (!isnan(x)) fprintf(f, fmt, x);
}

int ptrag_train_log_row(ptrag_train_log *log, long long step, double train_loss, double val_loss,
                        double seconds, const double *extra, ptrag_error *err) {
    fprintf(log->f, "%lld", step);
    put_value(log->f, train_loss, "%.9g");
    put_value(log->f, val_loss, "%.9g");
    put_value(log->f, seconds, "%.3f");
    for (int i = 0; i < log->n_extra; i++) put_value(log->f, extra[i], "%.9g");
    fputc('\n', log->f);
    if (fflush(log->f) != 0 || ferror(log->f))
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot write a row: %s", log->path, strerror(errno));
    return 0;
}

int ptrag_train_log_close(ptrag_train_log *log, ptrag_error *err) {
    if (!log) return 0;
    int rc = 0;
    if (fclose(log->f) != 0)
        rc = ptrag_fail(err, PTRAG_E_IO, "%s: cannot close: %s", log->path, strerror(errno));
    free(log->path);
    free(log);
    return rc;
}

const char *ptrag_train_log_header(const ptrag_train_log *log) { return log->header; }
