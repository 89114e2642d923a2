/* Gene embedding tables as delimited text: one row per gene,
 *     gene<TAB>v1<TAB>...<TAB>vd     or     gene,v1,...,vd
 * optionally gzip-compressed (zlib reads plain files transparently), with an
 * optional header row. Blank lines and lines starting with '#' are skipped.
 *
 * The delimiter is a tab if the first line has one, else a comma. The first
 * line is a header when its first field is empty (pandas' `,0,1,...`), when
 * any other field is not a number, or when it reads like `gene 0 1 2 ...`
 * (a name such as gene/symbol followed by integer column labels). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/strmap.h"
#include "io/text_lines.h"
#include "io/vector_set.h"

/* Splits a line in place; returns the number of fields (fields[] capacity grows). */
static long split_fields(char *s, char delim, char ***fields, long *cap) {
    long n = 0;
    for (;;) {
        if (n == *cap) {
            long ncap = *cap ? *cap * 2 : 2048;
            char **f = realloc(*fields, (size_t)ncap * sizeof *f);
            if (!f) return -1;
            *fields = f;
            *cap = ncap;
        }
        (*fields)[n++] = s;
        char *d = strchr(s, delim);
        if (!d) break;
        *d = '\0';
        s = d + 1;
    }
    return n;
}

/* Strips surrounding whitespace and one pair of double quotes from a key. */
static char *clean_key(char *s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s[n - 1] = '\0';
        s++;
    }
    return s;
}

static int parse_number(const char *s, double *x) {
    char *end;
    errno = 0;
    *x = strtod(s, &end);
    if (end == s) return -1;
    while (isspace((unsigned char)*end)) end++;
    return *end ? -1 : 0;
}

static int is_integer_text(const char *s) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0;
    while (isdigit((unsigned char)*s)) s++;
    while (isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

static int looks_like_header(char **f, long n) {
    const char *first = clean_key(f[0]);
    if (!*first) return 1;
    double x;
    for (long i = 1; i < n; i++)
        if (parse_number(f[i], &x) != 0) return 1;
    static const char *names[] = {"gene", "genes", "symbol", "gene_symbol", "gene_name", "name", "index", "id"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcasecmp(first, names[k]) == 0) {
            for (long i = 1; i < n; i++)
                if (!is_integer_text(f[i])) return 0;
            return 1;
        }
    return 0;
}

int ptrag_table_read_vectors(const char *path, ptrag_vector_set *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    text_lines lr;
    int orc = ptrag_text_lines_open(&lr, path, err);
    if (orc) return orc;

    int rc = 0;
    char **fields = NULL;
    long fcap = 0, rows_cap = 0, keys_cap = 0;
    long *key_line = NULL;
    strmap seen = {0};
    char delim = 0;
    long header_fields = -1, dim = -1;
    if (ptrag_strmap_init(&seen, 1024) != 0) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (;;) {
        size_t len;
        int got = ptrag_text_lines_next(&lr, &len, err);
        if (got < 0) {
            rc = got;
            goto done;
        }
        if (!got) break;
        if (len == 0 || lr.buf[0] == '#') continue;
        if (!delim) delim = strchr(lr.buf, '\t') ? '\t' : ',';
        long nf = split_fields(lr.buf, delim, &fields, &fcap);
        if (nf < 0) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (header_fields < 0 && dim < 0 && out->n_keys == 0 && looks_like_header(fields, nf)) {
            header_fields = nf;
            continue;
        }
        char *key = clean_key(fields[0]);
        if (!*key) {
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld: empty gene name in the first column", path, lr.lineno);
            goto done;
        }
        if (dim < 0) {
            dim = nf - 1;
            if (dim < 1) {
                rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld (gene '%s'): no values after the gene name (delimiter '%s')",
                                path, lr.lineno, key, delim == '\t' ? "\\t" : ",");
                goto done;
            }
            if (header_fields >= 0 && header_fields != dim + 1 && header_fields != dim) {
                rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld (gene '%s'): %ld values, but the header has %ld columns",
                                path, lr.lineno, key, dim, header_fields);
                goto done;
            }
        } else if (nf - 1 != dim) {
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld (gene '%s'): %ld values, expected %ld (ragged rows)", path,
                            lr.lineno, key, nf - 1, dim);
            goto done;
        }
        if (out->n_rows == rows_cap) {
            long ncap = rows_cap ? rows_cap * 2 : 256;
            float *d = realloc(out->data, (size_t)ncap * (size_t)dim * sizeof *d);
            if (!d) {
                rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory (%ld rows)", path, ncap);
                goto done;
            }
            out->data = d;
            rows_cap = ncap;
        }
        float *row = out->data + (size_t)out->n_rows * (size_t)dim;
        for (long j = 0; j < dim; j++) {
            double x;
            if (parse_number(fields[j + 1], &x) != 0) {
                rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld, column %ld (gene '%s'): '%.40s' is not a number", path,
                                lr.lineno, j + 2, key, fields[j + 1]);
                goto done;
            }
            row[j] = (float)x;
            if (!isfinite(row[j])) {
                rc = ptrag_fail(err, PTRAG_E_NUMERIC, "%s: line %ld, column %ld (gene '%s'): value is %s", path, lr.lineno,
                                j + 2, key, isnan(x) ? "NaN" : "infinite (or beyond float32 range)");
                goto done;
            }
        }
        long prev = ptrag_strmap_get(&seen, key);
        if (prev >= 0) {
            const float *old = out->data + (size_t)out->key_row[prev] * (size_t)dim;
            if (memcmp(old, row, (size_t)dim * sizeof *row) != 0) {
                rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld: gene '%s' appears again with a different vector (first on line %ld)",
                                path, lr.lineno, key, key_line[prev]);
                goto done;
            }
            continue; /* an exact repeat adds nothing */
        }
        if (out->n_keys == keys_cap) {
            long ncap = keys_cap ? keys_cap * 2 : 256;
            char **k = realloc(out->keys, (size_t)ncap * sizeof *k);
            long *kr = k ? realloc(out->key_row, (size_t)ncap * sizeof *kr) : NULL;
            if (k) out->keys = k;
            if (kr) out->key_row = kr;
            long *kl = kr ? realloc(key_line, (size_t)ncap * sizeof *kl) : NULL;
            if (kl) key_line = kl;
            if (!k || !kr || !kl) {
                rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
                goto done;
            }
            keys_cap = ncap;
        }
        char *copy = strdup(key);
        if (!copy) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        out->keys[out->n_keys] = copy;
        out->key_row[out->n_keys] = out->n_rows;
        key_line[out->n_keys] = lr.lineno;
        if (ptrag_strmap_put_first(&seen, copy, out->n_keys) == -2) {
            out->n_keys++;
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        out->n_keys++;
        out->n_rows++;
    }
    if (out->n_rows == 0) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s", path,
                        header_fields >= 0 ? "no data rows after the header" : "empty file (no gene rows)");
        goto done;
    }
    out->dim = (int)dim;
    if (dim > (1L << 24)) rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: %ld values per row is too many", path, dim);

done:
    ptrag_strmap_free(&seen);
    free(fields);
    free(key_line);
    ptrag_text_lines_close(&lr);
    if (rc) ptrag_vector_set_free(out);
    return rc;
}
