/* Fetching expression rows as dense float32, with bounded extra memory.
 *
 * Requests are sorted by row (keeping each one's output position) so the file
 * is read front to back whatever order the caller asked for:
 *  - CSR: neighbouring requested rows are coalesced into one hyperslab of
 *    data+indices (through indptr, read at open) when the entries skipped in
 *    between are few; at most H5AD_BUF_ENTRIES entries are held at a time.
 *  - dense: runs of (nearly) consecutive rows are read as one 2-D hyperslab.
 *  - CSC: every stored entry of the requested columns is read (in bounded
 *    pieces) and kept when its row was requested; a call costs
 *    O(nnz of those columns), whatever the number of rows, so streaming a CSC
 *    file block by block re-reads it once per block. Convert big CSC files to
 *    CSR first.
 * Duplicate entries in a sparse row are summed, as scipy does. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5ad_internal.h"

/* Skipped entries worth reading through rather than starting a new
 * hyperslab: an HDF5 read call costs about as much as a few thousand entries. */
#define SPARSE_GAP_ENTRIES 4096L
/* Dense: rows skipped inside one hyperslab read. */
#define DENSE_GAP_ROWS 2L

static long buffer_entries = H5AD_BUF_ENTRIES;

long ptrag_h5ad_buffer_entries(void) { return buffer_entries; }
void ptrag_h5ad_set_buffer_entries(long n) { buffer_entries = n > 0 ? n : H5AD_BUF_ENTRIES; }

typedef struct {
    long row, pos;
} request;

static int cmp_request(const void *a, const void *b) {
    const request *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Which output column each source column goes to. */
typedef struct {
    long ncols;        /* output width */
    const long *cols;  /* NULL = all columns in order */
    int32_t *map;      /* source -> first output column or -1; NULL = identity */
    long *dup_dst, *dup_src, ndup;
} colsel;

static void colsel_free(colsel *c) {
    free(c->map);
    free(c->dup_dst);
    free(c->dup_src);
}

static int colsel_build(const ptrag_h5ad *h, const long *cols, long ncols, int need_map, colsel *c,
                        ptrag_error *err) {
    memset(c, 0, sizeof *c);
    if (!cols) {
        c->ncols = h->n_vars;
        return 0;
    }
    c->ncols = ncols;
    c->cols = cols;
    for (long k = 0; k < ncols; k++)
        if (cols[k] < 0 || cols[k] >= h->n_vars)
            return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: column %ld out of range [0, %ld)", h->path,
                              h->m.objpath, cols[k], h->n_vars);
    if (!need_map) return 0;
    c->map = malloc(((size_t)h->n_vars + 1) * sizeof *c->map);
    c->dup_dst = malloc(((size_t)ncols + 1) * sizeof *c->dup_dst);
    c->dup_src = malloc(((size_t)ncols + 1) * sizeof *c->dup_src);
    if (!c->map || !c->dup_dst || !c->dup_src)
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
    for (long j = 0; j < h->n_vars; j++) c->map[j] = -1;
    for (long k = 0; k < ncols; k++) {
        long j = cols[k];
        if (c->map[j] < 0) {
            c->map[j] = (int32_t)k;
        } else {
            c->dup_dst[c->ndup] = k;
            c->dup_src[c->ndup++] = c->map[j];
        }
    }
    return 0;
}

/* Reads entries [lo, hi) of the sparse data and indices. */
static int read_entries(const ptrag_h5ad *h, long lo, long hi, float *vals, int32_t *idx,
                        ptrag_error *err) {
    char p[600];
    snprintf(p, sizeof p, "%s/data", h->m.objpath);
    int rc = ptrag_h5_read_range(h->m.data, H5T_NATIVE_FLOAT, lo, hi - lo, vals, h->path, p, err);
    if (rc) return rc;
    snprintf(p, sizeof p, "%s/indices", h->m.objpath);
    return ptrag_h5_read_range(h->m.indices, H5T_NATIVE_INT32, lo, hi - lo, idx, h->path, p, err);
}

static int csr_fetch(const ptrag_h5ad *h, const request *rq, long nreq, const colsel *cs, float *out,
                     ptrag_error *err) {
    const int64_t *ip = h->m.indptr;
    const long cap = buffer_entries, nc = h->n_vars, ow = cs->ncols;
    float *vals = malloc((size_t)cap * sizeof *vals);
    int32_t *idx = malloc((size_t)cap * sizeof *idx);
    int rc = 0;
    if (!vals || !idx) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
    long k = 0;
    while (k < nreq && rc == 0) {
        long start = k, r_last = rq[k].row;
        long lo = (long)ip[r_last];
        for (k++; k < nreq; k++) {
            long r = rq[k].row;
            if (r == r_last) continue;
            if (ip[r] - ip[r_last + 1] > SPARSE_GAP_ENTRIES || ip[r + 1] - lo > cap) break;
            r_last = r;
        }
        long hi = (long)ip[r_last + 1];
        /* More than one piece only when a single row exceeds the buffer. */
        for (long p = lo; p < hi && rc == 0; p += cap) {
            long pe = hi - p < cap ? hi : p + cap;
            rc = read_entries(h, p, pe, vals, idx, err);
            for (long q = start; q < k && rc == 0; q++) {
                if (q > start && rq[q].row == rq[q - 1].row) continue;
                long r = rq[q].row;
                long a = ip[r] > p ? (long)ip[r] : p, b = ip[r + 1] < pe ? (long)ip[r + 1] : pe;
                float *orow = out + (size_t)rq[q].pos * (size_t)ow;
                for (long e = a; e < b; e++) {
                    int32_t j = idx[e - p];
                    if (j < 0 || j >= nc) {
                        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                                        "%s: %s/indices: value %d at entry %ld (row %ld) is outside [0, %ld)",
                                        h->path, h->m.objpath, (int)j, e, r, nc);
                        break;
                    }
                    long c = cs->map ? cs->map[j] : j;
                    if (c >= 0) orow[c] += vals[e - p];
                }
            }
        }
        /* Repeated rows: copy the first copy's output. */
        for (long q = start + 1, first = rq[start].pos; q < k && rc == 0; q++) {
            if (rq[q].row != rq[q - 1].row) {
                first = rq[q].pos;
                continue;
            }
            memcpy(out + (size_t)rq[q].pos * (size_t)ow, out + (size_t)first * (size_t)ow,
                   (size_t)ow * sizeof *out);
        }
    }
    free(vals);
    free(idx);
    return rc;
}

/* Position of `row` in the sorted unique rows, or -1. */
static long find_row(const long *urow, long nu, long row) {
    if (nu && urow[nu - 1] - urow[0] == nu - 1) /* a contiguous block */
        return (row >= urow[0] && row <= urow[nu - 1]) ? row - urow[0] : -1;
    long lo = 0, hi = nu - 1;
    while (lo <= hi) {
        long mid = lo + (hi - lo) / 2;
        if (urow[mid] == row) return mid;
        if (urow[mid] < row) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int csc_fetch(const ptrag_h5ad *h, const request *rq, long nreq, const colsel *cs, float *out,
                     ptrag_error *err) {
    const int64_t *ip = h->m.indptr;
    const long cap = buffer_entries, nr = h->n_obs, ow = cs->ncols;
    long *urow = malloc(((size_t)nreq + 1) * sizeof *urow);
    long *upos = malloc(((size_t)nreq + 1) * sizeof *upos);
    long *jl = malloc(((size_t)h->n_vars + 1) * sizeof *jl);
    float *vals = malloc((size_t)cap * sizeof *vals);
    int32_t *idx = malloc((size_t)cap * sizeof *idx);
    int rc = 0;
    if (!urow || !upos || !jl || !vals || !idx) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
    long nu = 0, nj = 0;
    for (long q = 0; q < nreq && rc == 0; q++) {
        if (q > 0 && rq[q].row == rq[q - 1].row) continue;
        urow[nu] = rq[q].row;
        upos[nu++] = rq[q].pos;
    }
    for (long j = 0; j < h->n_vars && rc == 0; j++)
        if (!cs->map || cs->map[j] >= 0) jl[nj++] = j;
    long t = 0;
    while (t < nj && rc == 0) {
        long start = t, j_last = jl[t], lo = (long)ip[j_last];
        for (t++; t < nj; t++) {
            long j = jl[t];
            if (ip[j] - ip[j_last + 1] > SPARSE_GAP_ENTRIES || ip[j + 1] - lo > cap) break;
            j_last = j;
        }
        long hi = (long)ip[j_last + 1];
        for (long p = lo; p < hi && rc == 0; p += cap) {
            long pe = hi - p < cap ? hi : p + cap;
            rc = read_entries(h, p, pe, vals, idx, err);
            for (long s = start; s < t && rc == 0; s++) {
                long j = jl[s];
                long a = ip[j] > p ? (long)ip[j] : p, b = ip[j + 1] < pe ? (long)ip[j + 1] : pe;
                long c = cs->map ? cs->map[j] : j;
                for (long e = a; e < b; e++) {
                    int32_t i = idx[e - p];
                    if (i < 0 || i >= nr) {
                        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                                        "%s: %s/indices: value %d at entry %ld (column %ld) is outside [0, %ld)",
                                        h->path, h->m.objpath, (int)i, e, j, nr);
                        break;
                    }
                    long u = find_row(urow, nu, i);
                    if (u >= 0) out[(size_t)upos[u] * (size_t)ow + (size_t)c] += vals[e - p];
                }
            }
        }
    }
    for (long q = 1, first = nreq ? rq[0].pos : 0; q < nreq && rc == 0; q++) {
        if (rq[q].row != rq[q - 1].row) {
            first = rq[q].pos;
            continue;
        }
        memcpy(out + (size_t)rq[q].pos * (size_t)ow, out + (size_t)first * (size_t)ow,
               (size_t)ow * sizeof *out);
    }
    free(urow);
    free(upos);
    free(jl);
    free(vals);
    free(idx);
    return rc;
}

/* Reads rows [r0, r0+n) x all columns of the dense matrix into buf. */
static int dense_read_rows(const ptrag_h5ad *h, long r0, long n, float *buf, ptrag_error *err) {
    if (n <= 0 || h->n_vars == 0) return 0;
    hid_t fs = H5Dget_space(h->m.dense);
    hsize_t start[2] = {(hsize_t)r0, 0}, count[2] = {(hsize_t)n, (hsize_t)h->n_vars};
    hid_t ms = H5Screate_simple(2, count, NULL);
    herr_t st = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        st = H5Dread(h->m.dense, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (st < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot read rows %ld..%ld%s", h->path,
                          h->m.objpath, r0, r0 + n - 1, ptrag_h5_reason(why, sizeof why));
    }
    return 0;
}

static int dense_fetch(const ptrag_h5ad *h, const request *rq, long nreq, const colsel *cs,
                       float *out, ptrag_error *err) {
    const long nc = h->n_vars, ow = cs->ncols;
    long rows_per = nc > 0 ? buffer_entries / nc : buffer_entries;
    if (rows_per < 1) rows_per = 1;
    float *buf = malloc((size_t)rows_per * (size_t)(nc > 0 ? nc : 1) * sizeof *buf);
    int rc = buf ? 0 : ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
    long k = 0;
    while (k < nreq && rc == 0) {
        long start = k, r0 = rq[k].row, r_last = r0;
        for (k++; k < nreq; k++) {
            long r = rq[k].row;
            if (r - r_last > DENSE_GAP_ROWS || r - r0 >= rows_per) break;
            r_last = r;
        }
        rc = dense_read_rows(h, r0, r_last - r0 + 1, buf, err);
        for (long q = start; q < k && rc == 0; q++) {
            const float *src = buf + (size_t)(rq[q].row - r0) * (size_t)nc;
            float *orow = out + (size_t)rq[q].pos * (size_t)ow;
            if (!cs->cols)
                memcpy(orow, src, (size_t)nc * sizeof *orow);
            else
                for (long c = 0; c < ow; c++) orow[c] = src[cs->cols[c]];
        }
    }
    free(buf);
    return rc;
}

static int fetch(ptrag_h5ad *h, request *rq, long nreq, int sorted, const long *cols, long ncols,
                 float *out, ptrag_error *err) {
    H5_QUIET_SCOPE;
    colsel cs;
    int sparse = h->m.storage != PTRAG_STORAGE_DENSE;
    int rc = colsel_build(h, cols, ncols, sparse, &cs, err);
    if (rc == 0 && cs.ncols > 0 && nreq > 0) {
        if (!sorted) qsort(rq, (size_t)nreq, sizeof *rq, cmp_request);
        if (sparse) memset(out, 0, (size_t)nreq * (size_t)cs.ncols * sizeof *out);
        if (h->m.storage == PTRAG_STORAGE_CSR) rc = csr_fetch(h, rq, nreq, &cs, out, err);
        else if (h->m.storage == PTRAG_STORAGE_CSC) rc = csc_fetch(h, rq, nreq, &cs, out, err);
        else rc = dense_fetch(h, rq, nreq, &cs, out, err);
        for (long r = 0; r < nreq && rc == 0 && cs.ndup; r++) {
            float *orow = out + (size_t)r * (size_t)cs.ncols;
            for (long d = 0; d < cs.ndup; d++) orow[cs.dup_dst[d]] = orow[cs.dup_src[d]];
        }
    }
    colsel_free(&cs);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int ptrag_h5ad_read_rows(ptrag_h5ad *h, const long *rows, long nrows, const long *cols, long ncols,
                         float *out, ptrag_error *err) {
    if (nrows < 0 || (cols && ncols < 0) || (nrows > 0 && !rows))
        return ptrag_fail(err, PTRAG_E_ARG, "%s: read_rows: bad row/column counts", h->path);
    for (long i = 0; i < nrows; i++)
        if (rows[i] < 0 || rows[i] >= h->n_obs)
            return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: row %ld out of range [0, %ld)", h->path,
                              h->m.objpath, rows[i], h->n_obs);
    if (nrows == 0) return 0;
    if (h->in_memory) return ptrag_h5ad_memory_read_rows(h, rows, nrows, cols, ncols, out, err);
    request *rq = malloc((size_t)nrows * sizeof *rq);
    if (!rq) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
    int sorted = 1;
    for (long i = 0; i < nrows; i++) {
        rq[i].row = rows[i];
        rq[i].pos = i;
        if (i && rows[i] < rows[i - 1]) sorted = 0;
    }
    int rc = fetch(h, rq, nrows, sorted, cols, ncols, out, err);
    free(rq);
    return rc;
}

int ptrag_h5ad_read_block(ptrag_h5ad *h, long row0, long nrows, float *out, ptrag_error *err) {
    if (row0 < 0 || nrows < 0 || row0 > h->n_obs || nrows > h->n_obs - row0)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: %s: rows %ld..%ld out of range [0, %ld)", h->path,
                          h->m.objpath, row0, row0 + nrows - 1, h->n_obs);
    if (nrows == 0) return 0;
    if (h->in_memory) {
        long *rows = malloc((size_t)nrows * sizeof *rows);
        if (!rows) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
        for (long i = 0; i < nrows; i++) rows[i] = row0 + i;
        int rc = ptrag_h5ad_memory_read_rows(h, rows, nrows, NULL, 0, out, err);
        free(rows);
        return rc;
    }
    if (h->m.storage == PTRAG_STORAGE_DENSE) {
        /* Straight into the caller's buffer: no copy, no extra memory. */
        H5_QUIET_SCOPE;
        int rc = dense_read_rows(h, row0, nrows, out, err);
        H5Eclear2(H5E_DEFAULT);
        return rc;
    }
    request *rq = malloc((size_t)nrows * sizeof *rq);
    if (!rq) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", h->path);
    for (long i = 0; i < nrows; i++) {
        rq[i].row = row0 + i;
        rq[i].pos = i;
    }
    int rc = fetch(h, rq, nrows, 1, NULL, 0, out, err);
    free(rq);
    return rc;
}
