/* In-memory .h5ad sources: an expression matrix that already lives in the
 * caller's memory (numpy / scipy.sparse buffers of an AnnData) behind the
 * same ptrag_h5ad interface as a file.
 *
 * The matrix is borrowed: a row read converts straight from the caller's
 * buffers to float32, so the only copy is the one every reader makes (the
 * dataset's resident cells); nothing the size of X is allocated here. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5ad_internal.h"

/* Packs n strings into one pool (NULL entries become ""). */
static int pack_strings(const char *const *src, long n, h5_strings *out) {
    size_t total = 1;
    for (long i = 0; i < n; i++) total += strlen(src[i] ? src[i] : "") + 1;
    out->n = n;
    out->s = malloc(((size_t)n + 1) * sizeof *out->s);
    out->buf = malloc(total);
    if (!out->s || !out->buf) return -1;
    size_t used = 0;
    for (long i = 0; i < n; i++) {
        const char *t = src[i] ? src[i] : "";
        size_t len = strlen(t) + 1;
        memcpy(out->buf + used, t, len);
        out->s[i] = out->buf + used;
        used += len;
    }
    return 0;
}

static long index_at(const void *p, ptrag_dtype t, long i) {
    return t == PTRAG_DTYPE_I64 ? (long)((const int64_t *)p)[i] : (long)((const int32_t *)p)[i];
}

static float value_at(const void *p, ptrag_dtype t, long i) {
    return t == PTRAG_DTYPE_F64 ? (float)((const double *)p)[i] : ((const float *)p)[i];
}

static int copy_column(const ptrag_column *src, long n_obs, const char *name, ptrag_column *dst,
                       ptrag_error *err) {
    memset(dst, 0, sizeof *dst);
    const char *cname = src->name ? src->name : "";
    if (src->n != n_obs)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: obs/%s: %ld values, expected %ld (one per cell)", name, cname,
                          src->n, n_obs);
    dst->name = strdup(cname);
    dst->type = src->type;
    dst->n = src->n;
    if (!dst->name) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
    if (src->type == PTRAG_COL_NUMERIC || src->type == PTRAG_COL_BOOL) {
        if (!src->values) return ptrag_fail(err, PTRAG_E_ARG, "%s: obs/%s: numeric column without values", name, cname);
        dst->values = malloc(((size_t)n_obs + 1) * sizeof *dst->values);
        if (!dst->values) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
        memcpy(dst->values, src->values, (size_t)n_obs * sizeof *dst->values);
        return 0;
    }
    if (!src->codes || src->n_categories < 0 || (src->n_categories > 0 && !src->categories))
        return ptrag_fail(err, PTRAG_E_ARG, "%s: obs/%s: categorical column without codes or categories", name, cname);
    dst->type = PTRAG_COL_CATEGORICAL;
    dst->codes = malloc(((size_t)n_obs + 1) * sizeof *dst->codes);
    dst->categories = calloc((size_t)src->n_categories + 1, sizeof *dst->categories);
    if (!dst->codes || !dst->categories) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
    dst->n_categories = src->n_categories;
    for (int k = 0; k < src->n_categories; k++)
        if (!(dst->categories[k] = strdup(src->categories[k] ? src->categories[k] : "")))
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
    for (long i = 0; i < n_obs; i++) {
        int32_t c = src->codes[i];
        if (c < -1 || c >= src->n_categories)
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: obs/%s: code %d at row %ld is outside [-1, %d)", name, cname,
                              (int)c, i, src->n_categories);
        dst->codes[i] = c;
    }
    return 0;
}

static int check_matrix(const ptrag_h5ad_memory *m, const char *name, ptrag_error *err) {
    if (m->n_obs < 0 || m->n_vars < 0)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: negative shape %ld x %ld", name, m->x_source, m->n_obs, m->n_vars);
    if (m->value_dtype != PTRAG_DTYPE_F32 && m->value_dtype != PTRAG_DTYPE_F64)
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: %s: values must be float32 or float64", name, m->x_source);
    if (m->storage == PTRAG_STORAGE_DENSE) {
        if (!m->values && m->n_obs * m->n_vars > 0)
            return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: no values", name, m->x_source);
        return 0;
    }
    if (m->storage != PTRAG_STORAGE_CSR)
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: %s: in-memory matrices must be dense or CSR", name,
                          m->x_source);
    if (m->index_dtype != PTRAG_DTYPE_I32 && m->index_dtype != PTRAG_DTYPE_I64)
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: %s: indices must be int32 or int64", name, m->x_source);
    if (!m->indptr) return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: CSR without indptr", name, m->x_source);
    long prev = index_at(m->indptr, m->index_dtype, 0);
    if (prev != 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s/indptr: starts at %ld, expected 0", name, m->x_source, prev);
    for (long i = 1; i <= m->n_obs; i++) {
        long v = index_at(m->indptr, m->index_dtype, i);
        if (v < prev)
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s/indptr: decreases at row %ld (%ld < %ld)", name,
                              m->x_source, i - 1, v, prev);
        prev = v;
    }
    if (prev > 0 && (!m->values || !m->indices))
        return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: CSR without data or indices", name, m->x_source);
    return 0;
}

int ptrag_h5ad_open_memory(const ptrag_h5ad_memory *m, ptrag_h5ad **out, ptrag_error *err) {
    *out = NULL;
    const char *name = m->name && *m->name ? m->name : "<in-memory>";
    const char *src = m->x_source && *m->x_source ? m->x_source : "X";
    ptrag_h5ad_memory mm = *m;
    mm.x_source = src;
    int rc = check_matrix(&mm, name, err);
    if (rc) return rc;
    ptrag_h5ad *h = calloc(1, sizeof *h);
    if (!h) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
    h->file = -1;
    h->m.dense = h->m.data = h->m.indices = -1;
    h->in_memory = 1;
    h->mem = mm;
    h->mem.name = h->mem.x_source = NULL; /* owned copies live in path / x_source */
    h->mem.obs_names = h->mem.var_names = NULL;
    h->mem.obs_cols = NULL;
    h->path = strdup(name);
    h->x_source = strdup(src);
    h->n_obs = m->n_obs;
    h->n_vars = h->file_n_vars = m->n_vars;
    snprintf(h->m.objpath, sizeof h->m.objpath, "/%s", src);
    h->m.storage = m->storage;
    h->m.n_rows = m->n_obs;
    h->m.n_cols = m->n_vars;
    h->m.nnz = m->storage == PTRAG_STORAGE_CSR ? index_at(m->indptr, m->index_dtype, m->n_obs) : m->n_obs * m->n_vars;
    if (!h->path || !h->x_source) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
    if (!rc && (!m->obs_names || !m->var_names))
        rc = ptrag_fail(err, PTRAG_E_ARG, "%s: obs and var names are required", name);
    if (!rc && (pack_strings(m->obs_names, m->n_obs, &h->obs_names) ||
                pack_strings(m->var_names, m->n_vars, &h->var_names) || ptrag_h5ad_index_vars(h)))
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
    if (!rc && m->n_obs_cols > 0) {
        h->mem_cols = calloc((size_t)m->n_obs_cols, sizeof *h->mem_cols);
        h->obs_cols = calloc((size_t)m->n_obs_cols, sizeof *h->obs_cols);
        if (!h->mem_cols || !h->obs_cols) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
        for (int c = 0; c < m->n_obs_cols && !rc; c++) {
            h->n_obs_cols = c + 1;
            rc = copy_column(&m->obs_cols[c], m->n_obs, name, &h->mem_cols[c], err);
            if (!rc && !(h->obs_cols[c] = strdup(h->mem_cols[c].name)))
                rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
        }
    }
    if (rc) {
        ptrag_h5ad_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

void ptrag_h5ad_memory_free(ptrag_h5ad *h) {
    if (!h->mem_cols) return;
    for (int c = 0; c < h->n_obs_cols; c++) ptrag_column_free(&h->mem_cols[c]);
    free(h->mem_cols);
    h->mem_cols = NULL;
}

int ptrag_h5ad_memory_read_obs(const ptrag_h5ad *h, const char *name, ptrag_column *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    for (int c = 0; c < h->n_obs_cols; c++)
        if (strcmp(h->mem_cols[c].name, name) == 0) return copy_column(&h->mem_cols[c], h->n_obs, h->path, out, err);
    char list[600];
    size_t used = 0;
    list[0] = '\0';
    for (int c = 0; c < h->n_obs_cols && used + 8 < sizeof list; c++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", c ? ", " : "", h->obs_cols[c]);
        if (w < 0 || (size_t)w >= sizeof list - used) break;
        used += (size_t)w;
    }
    return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: obs/%s: no such column (available: %s)", h->path, name,
                      h->n_obs_cols ? list : "none");
}

int ptrag_h5ad_memory_read_rows(const ptrag_h5ad *h, const long *rows, long nrows, const long *cols,
                                long ncols, float *out, ptrag_error *err) {
    const ptrag_h5ad_memory *m = &h->mem;
    const long nv = h->n_vars, ow = cols ? ncols : nv;
    for (long k = 0; cols && k < ncols; k++)
        if (cols[k] < 0 || cols[k] >= nv)
            return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: column %ld out of range [0, %ld)", h->path, h->m.objpath,
                              cols[k], nv);
    /* A selection of columns goes through one dense row. */
    float *row = cols ? malloc(((size_t)nv + 1) * sizeof *row) : NULL;
    if (cols && !row) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
    int rc = 0;
    for (long q = 0; q < nrows && !rc; q++) {
        long r = rows[q];
        float *dst = cols ? row : out + (size_t)q * (size_t)ow;
        if (m->storage == PTRAG_STORAGE_DENSE) {
            size_t base = (size_t)r * (size_t)nv;
            if (m->value_dtype == PTRAG_DTYPE_F32) memcpy(dst, (const float *)m->values + base, (size_t)nv * sizeof *dst);
            else
                for (long j = 0; j < nv; j++) dst[j] = (float)((const double *)m->values)[base + (size_t)j];
        } else {
            memset(dst, 0, (size_t)nv * sizeof *dst);
            long a = index_at(m->indptr, m->index_dtype, r), b = index_at(m->indptr, m->index_dtype, r + 1);
            for (long e = a; e < b; e++) {
                long j = index_at(m->indices, m->index_dtype, e);
                if (j < 0 || j >= nv) {
                    rc = ptrag_fail(err, PTRAG_E_FORMAT,
                                    "%s: %s/indices: value %ld at entry %ld (row %ld) is outside [0, %ld)", h->path,
                                    h->m.objpath, j, e, r, nv);
                    break;
                }
                dst[j] += value_at(m->values, m->value_dtype, e); /* duplicates sum, as in scipy */
            }
        }
        if (cols)
            for (long k = 0; k < ncols; k++) out[(size_t)q * (size_t)ow + (size_t)k] = row[cols[k]];
    }
    free(row);
    return rc;
}
