/* Writing .h5ad files in the layout Debian's python3-anndata 0.8 writes
 * (checked against a file it wrote): root attrs encoding-type "anndata" /
 * "0.1.0"; X dense float32 ("array") or a csr_matrix group; obs/var
 * dataframes ("dataframe" 0.2.0, `_index`, `column-order`) with string-array,
 * categorical and numeric columns; empty dict groups for the other slots.
 * Everything is written to a temporary name and renamed on success. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5ad_internal.h"
#include "ptrag/fsutil.h"

typedef struct wcol {
    int integer;  /* NUMERIC stored as int64 (row indices) */
    char *name;
    ptrag_col_type type;
    char **strs;  /* CATEGORICAL/STRING: one per row (NULL for a coded column) */
    double *vals; /* NUMERIC */
    int32_t *codes; /* CATEGORICAL given as codes: one per row, into cats */
    char **cats;
    int ncats;
} wcol;

/* Row streaming (begin_rows/append_rows): X goes to the temporary file as the
 * rows arrive, so only the CSR row pointers (8 bytes a row) stay in memory. */
typedef struct wstream {
    int on;
    char tmp[4096];
    hid_t file, group, data, indices; /* CSR: /X group, extendible data and indices */
    hid_t dense;                      /* dense: /X dataset */
    hid_t obsm;                       /* dense /obsm/<key> streamed beside X, or -1 */
    long obsm_cols, obsm_rows;
    long rows_done;
    int64_t *indptr;                  /* n_obs + 1 */
    float *vbuf;
    int32_t *ibuf;
    long cap;
} wstream;

struct ptrag_h5ad_writer {
    char *path;
    long n_obs, n_vars;
    float *x;
    int has_x, as_csr;
    char **var_names, **obs_names;
    wcol *cols;
    int ncols, capcols;
    long obs_first; /* default obs names count from here */
    wstream st;
};

static void free_strs(char **s, long n) {
    if (!s) return;
    for (long i = 0; i < n; i++) free(s[i]);
    free(s);
}

static char **copy_strs(const char *const *src, long n) {
    char **d = calloc((size_t)n + 1, sizeof *d);
    if (!d) return NULL;
    for (long i = 0; i < n; i++) {
        if (!src[i] || !(d[i] = strdup(src[i]))) {
            free_strs(d, i);
            return NULL;
        }
    }
    return d;
}

/* Closes the X handles (not the file). */
static void stream_close_handles(wstream *st) {
    if (st->data >= 0) H5Dclose(st->data);
    if (st->indices >= 0) H5Dclose(st->indices);
    if (st->group >= 0) H5Gclose(st->group);
    if (st->dense >= 0) H5Dclose(st->dense);
    if (st->obsm > 0) H5Dclose(st->obsm);
    st->data = st->indices = st->group = st->dense = st->obsm = -1;
}

static void stream_close(wstream *st, int remove_tmp) {
    if (!st->on) return;
    stream_close_handles(st);
    if (st->file >= 0) H5Fclose(st->file);
    if (remove_tmp) unlink(st->tmp);
    free(st->indptr);
    free(st->vbuf);
    free(st->ibuf);
    memset(st, 0, sizeof *st);
}

void ptrag_h5ad_writer_free(ptrag_h5ad_writer *w) {
    if (!w) return;
    H5_QUIET_SCOPE;
    stream_close(&w->st, 1);
    free(w->x);
    free_strs(w->var_names, w->n_vars);
    free_strs(w->obs_names, w->n_obs);
    for (int i = 0; i < w->ncols; i++) {
        free(w->cols[i].name);
        free_strs(w->cols[i].strs, w->n_obs);
        free(w->cols[i].vals);
        free(w->cols[i].codes);
        free_strs(w->cols[i].cats, w->cols[i].ncats);
    }
    free(w->cols);
    free(w->path);
    free(w);
}

int ptrag_h5ad_writer_new(const char *path, long n_obs, long n_vars, ptrag_h5ad_writer **out,
                          ptrag_error *err) {
    *out = NULL;
    if (!path || !*path) return ptrag_fail(err, PTRAG_E_ARG, "h5ad writer: empty file path");
    if (n_obs < 0 || n_vars < 0 || (n_vars > 0 && n_obs > (long)(SIZE_MAX / sizeof(float)) / n_vars))
        return ptrag_fail(err, PTRAG_E_ARG, "%s: bad shape %ld x %ld", path, n_obs, n_vars);
    ptrag_h5ad_writer *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path))) {
        free(w);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    w->n_obs = n_obs;
    w->n_vars = n_vars;
    *out = w;
    return 0;
}

int ptrag_h5ad_writer_set_x(ptrag_h5ad_writer *w, const float *x, int as_csr, ptrag_error *err) {
    if (w->st.on) return ptrag_fail(err, PTRAG_E_STATE, "%s: /X: rows are being streamed (set_x after begin_rows)", w->path);
    size_t n = (size_t)w->n_obs * (size_t)w->n_vars;
    if (!x && n) return ptrag_fail(err, PTRAG_E_ARG, "%s: /X: no matrix given", w->path);
    float *c = malloc(n ? n * sizeof *c : 1);
    if (!c) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: /X: out of memory", w->path);
    if (n) memcpy(c, x, n * sizeof *c);
    free(w->x);
    w->x = c;
    w->has_x = 1;
    w->as_csr = as_csr != 0;
    return 0;
}

static int set_names(ptrag_h5ad_writer *w, char ***dst, long n, const char *const *names,
                     const char *what, ptrag_error *err) {
    if (!names) return ptrag_fail(err, PTRAG_E_ARG, "%s: /%s/_index: no names given", w->path, what);
    char **c = copy_strs(names, n);
    if (!c) return ptrag_fail(err, PTRAG_E_ARG, "%s: /%s/_index: a name is NULL (or out of memory)", w->path, what);
    free_strs(*dst, n);
    *dst = c;
    return 0;
}

int ptrag_h5ad_writer_set_var_names(ptrag_h5ad_writer *w, const char *const *names, ptrag_error *err) {
    return set_names(w, &w->var_names, w->n_vars, names, "var", err);
}

void ptrag_h5ad_writer_number_obs_from(ptrag_h5ad_writer *w, long first) { w->obs_first = first; }

int ptrag_h5ad_writer_set_obs_names(ptrag_h5ad_writer *w, const char *const *names, ptrag_error *err) {
    return set_names(w, &w->obs_names, w->n_obs, names, "obs", err);
}

static int add_col(ptrag_h5ad_writer *w, const char *name, ptrag_col_type type,
                   const char *const *labels, const double *values, int coded, ptrag_error *err) {
    if (!name || !*name || strchr(name, '/') || strcmp(name, "_index") == 0 ||
        strcmp(name, "__categories") == 0)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: /obs: bad column name '%s'", w->path, name ? name : "(null)");
    for (int i = 0; i < w->ncols; i++)
        if (strcmp(w->cols[i].name, name) == 0)
            return ptrag_fail(err, PTRAG_E_ARG, "%s: /obs/%s: column added twice", w->path, name);
    if (!coded && (type == PTRAG_COL_NUMERIC ? (const void *)values : (const void *)labels) == NULL && w->n_obs)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: /obs/%s: no values given", w->path, name);
    if (w->ncols == w->capcols) {
        int nc = w->capcols ? 2 * w->capcols : 8;
        wcol *n = realloc(w->cols, (size_t)nc * sizeof *n);
        if (!n) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", w->path);
        w->cols = n;
        w->capcols = nc;
    }
    wcol c = {0};
    c.type = type;
    c.name = strdup(name);
    if (!c.name) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", w->path);
    if (type == PTRAG_COL_NUMERIC) {
        c.vals = malloc(((size_t)w->n_obs + 1) * sizeof *c.vals);
        if (c.vals && w->n_obs) memcpy(c.vals, values, (size_t)w->n_obs * sizeof *c.vals);
        if (!c.vals) {
            free(c.name);
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", w->path);
        }
    } else if (!coded) {
        c.strs = copy_strs(labels, w->n_obs);
        if (!c.strs) {
            free(c.name);
            return ptrag_fail(err, PTRAG_E_ARG, "%s: /obs/%s: a value is NULL (or out of memory)", w->path, name);
        }
    }
    w->cols[w->ncols++] = c;
    return 0;
}

int ptrag_h5ad_writer_add_obs_categorical(ptrag_h5ad_writer *w, const char *name,
                                          const char *const *labels, ptrag_error *err) {
    return add_col(w, name, PTRAG_COL_CATEGORICAL, labels, NULL, 0, err);
}

int ptrag_h5ad_writer_add_obs_strings(ptrag_h5ad_writer *w, const char *name,
                                      const char *const *values, ptrag_error *err) {
    return add_col(w, name, PTRAG_COL_STRING, values, NULL, 0, err);
}

int ptrag_h5ad_writer_add_obs_codes(ptrag_h5ad_writer *w, const char *name, const char *const *categories,
                                    int n_categories, const int32_t *codes, ptrag_error *err) {
    if (n_categories < 0 || (n_categories && !categories) || (!codes && w->n_obs))
        return ptrag_fail(err, PTRAG_E_ARG, "%s: /obs/%s: no categories or codes given", w->path, name ? name : "(null)");
    for (long i = 0; i < w->n_obs; i++)
        if (codes[i] < -1 || codes[i] >= n_categories)
            return ptrag_fail(err, PTRAG_E_ARG, "%s: /obs/%s: row %ld: code %d outside [-1, %d)", w->path, name,
                              i, (int)codes[i], n_categories);
    /* add_col checks the name and makes room; the codes are filled in here. */
    int rc = add_col(w, name, PTRAG_COL_CATEGORICAL, NULL, NULL, 1, err);
    if (rc) return rc;
    wcol *c = &w->cols[w->ncols - 1];
    c->codes = malloc(((size_t)w->n_obs + 1) * sizeof *c->codes);
    c->cats = copy_strs(categories, n_categories);
    c->ncats = n_categories;
    if (!c->codes || !c->cats) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: /obs/%s: out of memory", w->path, name);
    if (w->n_obs) memcpy(c->codes, codes, (size_t)w->n_obs * sizeof *c->codes);
    return 0;
}

int ptrag_h5ad_writer_add_obs_numeric(ptrag_h5ad_writer *w, const char *name, const double *values,
                                      ptrag_error *err) {
    return add_col(w, name, PTRAG_COL_NUMERIC, NULL, values, 0, err);
}

int ptrag_h5ad_writer_add_obs_int64(ptrag_h5ad_writer *w, const char *name, const int64_t *values,
                                    ptrag_error *err) {
    double *v = malloc(((size_t)w->n_obs + 1) * sizeof *v);
    if (!v) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", w->path);
    for (long i = 0; values && i < w->n_obs; i++) v[i] = (double)values[i]; /* exact below 2^53 */
    int rc = add_col(w, name, PTRAG_COL_NUMERIC, NULL, values ? v : NULL, 0, err);
    if (!rc) w->cols[w->ncols - 1].integer = 1;
    free(v);
    return rc;
}

/* ---- HDF5 output helpers: each returns 0 or -1 (the caller names the object) ---- */

static hid_t utf8_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int attr_write(hid_t obj, const char *name, hid_t type, hid_t space, const void *buf) {
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, type, buf) >= 0;
    if (a >= 0) H5Aclose(a);
    return ok ? 0 : -1;
}

static int attr_str(hid_t obj, const char *name, const char *value) {
    hid_t t = utf8_type(), s = H5Screate(H5S_SCALAR);
    int rc = attr_write(obj, name, t, s, &value);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

static int encoding(hid_t obj, const char *type, const char *version) {
    return attr_str(obj, "encoding-type", type) || attr_str(obj, "encoding-version", version) ? -1 : 0;
}

/* A 1-D string attribute; an empty one is a float64 array of length 0, as
 * anndata writes an empty column-order. */
static int attr_strs(hid_t obj, const char *name, char *const *vals, long n) {
    hsize_t dim = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &dim, NULL);
    int rc;
    if (n == 0) {
        double dummy = 0;
        rc = attr_write(obj, name, H5T_IEEE_F64LE, s, &dummy);
    } else {
        hid_t t = utf8_type();
        rc = attr_write(obj, name, t, s, vals);
        H5Tclose(t);
    }
    H5Sclose(s);
    return rc;
}

static int attr_int64s(hid_t obj, const char *name, const int64_t *vals, int n) {
    hsize_t dim = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &dim, NULL);
    int rc = attr_write(obj, name, H5T_STD_I64LE, s, vals);
    H5Sclose(s);
    return rc;
}

/* numpy/h5py booleans: an int8 enum {FALSE=0, TRUE=1}. */
static int attr_bool(hid_t obj, const char *name, int value) {
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    int8_t f = 0, tr = 1, v = value ? 1 : 0;
    H5Tenum_insert(t, "FALSE", &f);
    H5Tenum_insert(t, "TRUE", &tr);
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = attr_write(obj, name, t, s, &v);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

/* Object-creation property lists without modification times, so that the
 * same content gives the same bytes (HDF5 stamps objects by default). */
static hid_t plist_notime(hid_t cls) {
    hid_t p = H5Pcreate(cls);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
}

static hid_t fcreate(const char *path) {
    hid_t p = plist_notime(H5P_FILE_CREATE); /* the root group's stamp */
    hid_t f = H5Fcreate(path, H5F_ACC_EXCL, p >= 0 ? p : H5P_DEFAULT, H5P_DEFAULT);
    if (p >= 0) H5Pclose(p);
    return f;
}

static hid_t dcreate(hid_t loc, const char *name, hid_t type, hid_t space) {
    hid_t p = plist_notime(H5P_DATASET_CREATE);
    hid_t d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, p >= 0 ? p : H5P_DEFAULT, H5P_DEFAULT);
    if (p >= 0) H5Pclose(p);
    return d;
}

static hid_t new_group(hid_t loc, const char *name, const char *enc, const char *ver) {
    hid_t gp = plist_notime(H5P_GROUP_CREATE);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gp >= 0 ? gp : H5P_DEFAULT, H5P_DEFAULT);
    if (gp >= 0) H5Pclose(gp);
    if (g >= 0 && encoding(g, enc, ver)) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

/* A 1-D dataset of n elements written from buf (memtype), stored as filetype. */
static int write_1d(hid_t loc, const char *name, hid_t filetype, hid_t memtype, const void *buf,
                    long n, const char *enc) {
    hsize_t dim = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &dim, NULL);
    hid_t d = dcreate(loc, name, filetype, s);
    int ok = d >= 0 && (n == 0 || H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (ok && enc) ok = encoding(d, enc, "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    return ok ? 0 : -1;
}

static int write_strings(hid_t loc, const char *name, char *const *vals, long n) {
    hid_t t = utf8_type();
    int rc = write_1d(loc, name, t, t, vals, n, "string-array");
    H5Tclose(t);
    return rc;
}

/* ---- the parts of the file ---- */

typedef struct {
    const ptrag_h5ad_writer *w;
    ptrag_error *err;
} wctx;

static int fail_obj(wctx *c, const char *objpath, const char *what) {
    char why[300];
    return ptrag_fail(c->err, PTRAG_E_IO, "%s: %s: cannot write %s%s", c->w->path, objpath, what,
                      ptrag_h5_reason(why, sizeof why));
}

static int write_dense_x(hid_t f, wctx *c) {
    const ptrag_h5ad_writer *w = c->w;
    hsize_t dims[2] = {(hsize_t)w->n_obs, (hsize_t)w->n_vars};
    hid_t s = H5Screate_simple(2, dims, NULL);
    hid_t d = dcreate(f, "X", H5T_IEEE_F32LE, s);
    int ok = d >= 0 && (dims[0] * dims[1] == 0 ||
                        H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->x) >= 0);
    if (ok) ok = encoding(d, "array", "0.2.0") == 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    return ok ? 0 : fail_obj(c, "/X", "dense matrix");
}

/* Writes rows [r0, r1) of X as CSR entries starting at entry `at`. */
static int write_csr_rows(hid_t data, hid_t indices, const ptrag_h5ad_writer *w, long r0, long r1,
                          long at, float *vbuf, int32_t *ibuf) {
    long n = 0;
    for (long i = r0; i < r1; i++) {
        const float *row = w->x + (size_t)i * (size_t)w->n_vars;
        for (long j = 0; j < w->n_vars; j++)
            if (row[j] != 0.0f) {
                vbuf[n] = row[j];
                ibuf[n++] = (int32_t)j;
            }
    }
    if (n == 0) return 0;
    hsize_t start = (hsize_t)at, count = (hsize_t)n;
    hid_t ms = H5Screate_simple(1, &count, NULL);
    int ok = 1;
    hid_t dsets[2] = {data, indices};
    hid_t types[2] = {H5T_NATIVE_FLOAT, H5T_NATIVE_INT32};
    const void *bufs[2] = {vbuf, ibuf};
    for (int k = 0; k < 2 && ok; k++) {
        hid_t fs = H5Dget_space(dsets[k]);
        ok = fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
             H5Dwrite(dsets[k], types[k], ms, fs, H5P_DEFAULT, bufs[k]) >= 0;
        if (fs >= 0) H5Sclose(fs);
    }
    H5Sclose(ms);
    return ok ? 0 : -1;
}

static int write_csr_x(hid_t f, wctx *c) {
    const ptrag_h5ad_writer *w = c->w;
    if (w->n_vars > INT32_MAX)
        return ptrag_fail(c->err, PTRAG_E_ARG, "%s: /X: too many columns for int32 indices", w->path);
    int64_t *indptr = malloc(((size_t)w->n_obs + 1) * sizeof *indptr);
    if (!indptr) return ptrag_fail(c->err, PTRAG_E_NOMEM, "%s: /X: out of memory", w->path);
    indptr[0] = 0;
    long max_row = 0;
    for (long i = 0; i < w->n_obs; i++) {
        const float *row = w->x + (size_t)i * (size_t)w->n_vars;
        long k = 0;
        for (long j = 0; j < w->n_vars; j++) k += row[j] != 0.0f;
        indptr[i + 1] = indptr[i] + k;
        if (k > max_row) max_row = k;
    }
    long nnz = (long)indptr[w->n_obs];
    /* Rows are converted and written in blocks of about this many entries. */
    long cap = ptrag_h5ad_buffer_entries() > max_row ? ptrag_h5ad_buffer_entries() : max_row;
    float *vbuf = malloc((size_t)cap * sizeof *vbuf);
    int32_t *ibuf = malloc((size_t)cap * sizeof *ibuf);
    hid_t g = -1, data = -1, indices = -1, s = -1;
    int rc = 0, h5bad = 0;
    const char *where = "/X";
    if (!vbuf || !ibuf) {
        rc = ptrag_fail(c->err, PTRAG_E_NOMEM, "%s: /X: out of memory", w->path);
        goto done;
    }
    g = new_group(f, "X", "csr_matrix", "0.1.0");
    int64_t shape[2] = {w->n_obs, w->n_vars};
    if (g < 0 || attr_int64s(g, "shape", shape, 2)) {
        h5bad = 1;
        goto done;
    }
    hsize_t dim = (hsize_t)nnz;
    s = H5Screate_simple(1, &dim, NULL);
    where = "/X/data";
    data = dcreate(g, "data", H5T_IEEE_F32LE, s);
    if (data < 0) {
        h5bad = 1;
        goto done;
    }
    where = "/X/indices";
    indices = dcreate(g, "indices", H5T_STD_I32LE, s);
    if (indices < 0) {
        h5bad = 1;
        goto done;
    }
    for (long r0 = 0; r0 < w->n_obs && !h5bad;) {
        long r1 = r0 + 1;
        while (r1 < w->n_obs && indptr[r1 + 1] - indptr[r0] <= cap) r1++;
        where = "/X/data";
        h5bad = write_csr_rows(data, indices, w, r0, r1, (long)indptr[r0], vbuf, ibuf) != 0;
        r0 = r1;
    }
    if (!h5bad) {
        where = "/X/indptr";
        hid_t ft = nnz > INT32_MAX ? H5T_STD_I64LE : H5T_STD_I32LE;
        h5bad = write_1d(g, "indptr", ft, H5T_NATIVE_INT64, indptr, w->n_obs + 1, NULL) != 0;
    }
done:
    if (h5bad) rc = fail_obj(c, where, "sparse matrix");
    if (data >= 0) H5Dclose(data);
    if (indices >= 0) H5Dclose(indices);
    if (s >= 0) H5Sclose(s);
    if (g >= 0) H5Gclose(g);
    free(indptr);
    free(vbuf);
    free(ibuf);
    return rc;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int write_categorical(hid_t obs, const wcol *col, wctx *c) {
    const ptrag_h5ad_writer *w = c->w;
    long n = w->n_obs, ncat = 0;
    size_t nsorted = (size_t)(col->codes && col->ncats > n ? col->ncats : n) + 1;
    char **sorted = malloc(nsorted * sizeof *sorted);
    int32_t *codes = malloc(((size_t)n + 1) * sizeof *codes);
    char objpath[600];
    snprintf(objpath, sizeof objpath, "/obs/%s", col->name);
    int rc = 0;
    if (!sorted || !codes) {
        rc = ptrag_fail(c->err, PTRAG_E_NOMEM, "%s: %s: out of memory", w->path, objpath);
    } else if (col->codes) {
        ncat = col->ncats;
        if (ncat) memcpy(sorted, col->cats, (size_t)ncat * sizeof *sorted);
        if (n) memcpy(codes, col->codes, (size_t)n * sizeof *codes);
    } else {
        /* Categories sorted and unique, as pandas does for Categorical(labels). */
        if (n) memcpy(sorted, col->strs, (size_t)n * sizeof *sorted);
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_str);
        for (long i = 0; i < n; i++)
            if (ncat == 0 || strcmp(sorted[ncat - 1], sorted[i]) != 0) sorted[ncat++] = sorted[i];
        for (long i = 0; i < n; i++) {
            char **hit = bsearch(&col->strs[i], sorted, (size_t)ncat, sizeof *sorted, cmp_str);
            codes[i] = (int32_t)(hit - sorted);
        }
    }
    if (rc == 0) {
        /* Narrowest code type, with pandas' thresholds. */
        hid_t ct = ncat < 127 ? H5T_STD_I8LE : ncat < 32767 ? H5T_STD_I16LE : H5T_STD_I32LE;
        hid_t g = new_group(obs, col->name, "categorical", "0.2.0");
        int ok = g >= 0 && attr_bool(g, "ordered", 0) == 0 &&
                 write_1d(g, "codes", ct, H5T_NATIVE_INT32, codes, n, "array") == 0 &&
                 write_strings(g, "categories", sorted, ncat) == 0;
        if (g >= 0) H5Gclose(g);
        if (!ok) rc = fail_obj(c, objpath, "categorical column");
    }
    free(sorted);
    free(codes);
    return rc;
}

/* Default index "0".."n-1", as anndata uses. */
static char **numbered(long n, long first) {
    char **s = calloc((size_t)n + 1, sizeof *s);
    if (!s) return NULL;
    for (long i = 0; i < n; i++) {
        s[i] = malloc(24);
        if (!s[i]) {
            free_strs(s, i);
            return NULL;
        }
        snprintf(s[i], 24, "%ld", first + i);
    }
    return s;
}

static int write_frame(hid_t f, const char *group, char **names, long n, int with_cols, wctx *c) {
    const ptrag_h5ad_writer *w = c->w;
    char gpath[32];
    snprintf(gpath, sizeof gpath, "/%s", group);
    char **own = NULL;
    if (!names) {
        own = numbered(n, strcmp(group, "obs") == 0 ? w->obs_first : 0);
        if (!own) return ptrag_fail(c->err, PTRAG_E_NOMEM, "%s: out of memory", w->path);
        names = own;
    }
    int ncols = with_cols ? w->ncols : 0;
    char **order = malloc(((size_t)ncols + 1) * sizeof *order);
    hid_t g = new_group(f, group, "dataframe", "0.2.0");
    int rc = 0;
    if (!order) rc = ptrag_fail(c->err, PTRAG_E_NOMEM, "%s: out of memory", w->path);
    for (int i = 0; i < ncols && order; i++) order[i] = w->cols[i].name;
    if (rc == 0 && (g < 0 || attr_str(g, "_index", "_index") || attr_strs(g, "column-order", order, ncols)))
        rc = fail_obj(c, gpath, "dataframe attributes");
    if (rc == 0 && write_strings(g, "_index", names, n)) {
        char p[64];
        snprintf(p, sizeof p, "%s/_index", gpath);
        rc = fail_obj(c, p, "index");
    }
    for (int i = 0; i < ncols && rc == 0; i++) {
        const wcol *col = &w->cols[i];
        char p[600];
        snprintf(p, sizeof p, "%s/%s", gpath, col->name);
        if (col->type == PTRAG_COL_CATEGORICAL)
            rc = write_categorical(g, col, c);
        else if (col->type == PTRAG_COL_STRING)
            rc = write_strings(g, col->name, col->strs, n) ? fail_obj(c, p, "string column") : 0;
        else
            rc = write_1d(g, col->name, col->integer ? H5T_STD_I64LE : H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, col->vals,
                          n, "array")
                     ? fail_obj(c, p, "numeric column")
                     : 0;
    }
    if (g >= 0) H5Gclose(g);
    free(order);
    free_strs(own, n);
    return rc;
}

static int write_all(hid_t f, wctx *c) {
    const ptrag_h5ad_writer *w = c->w;
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    int bad = root < 0 || encoding(root, "anndata", "0.1.0");
    if (root >= 0) H5Gclose(root);
    if (bad) return fail_obj(c, "/", "root attributes");
    int rc = w->st.on ? 0 : w->as_csr ? write_csr_x(f, c) : write_dense_x(f, c); /* streamed X is written */
    if (!rc) rc = write_frame(f, "obs", w->obs_names, w->n_obs, 1, c);
    if (!rc) rc = write_frame(f, "var", w->var_names, w->n_vars, 0, c);
    const char *dicts[] = {"layers", "obsm", "obsp", "uns", "varm", "varp"};
    for (int i = 0; i < 6 && rc == 0; i++) {
        if (H5Lexists(f, dicts[i], H5P_DEFAULT) > 0) continue; /* a streamed obsm */
        hid_t g = new_group(f, dicts[i], "dict", "0.1.0");
        if (g < 0) {
            char p[32];
            snprintf(p, sizeof p, "/%s", dicts[i]);
            rc = fail_obj(c, p, "group");
        } else {
            H5Gclose(g);
        }
    }
    return rc;
}

/* ---- row streaming ---- */

static int stream_fail(ptrag_h5ad_writer *w, ptrag_error *err, const char *objpath, const char *what) {
    char why[300];
    return ptrag_fail(err, PTRAG_E_IO, "%s: %s: cannot write %s%s", w->path, objpath, what, ptrag_h5_reason(why, sizeof why));
}

/* An empty 1-D dataset that grows by chunks as entries are appended. */
static hid_t extendible_1d(hid_t loc, const char *name, hid_t filetype) {
    hsize_t dim = 0, maxdim = H5S_UNLIMITED, chunk = 1 << 16;
    hid_t s = H5Screate_simple(1, &dim, &maxdim);
    hid_t p = plist_notime(H5P_DATASET_CREATE);
    hid_t d = -1;
    if (s >= 0 && p >= 0 && H5Pset_chunk(p, 1, &chunk) >= 0)
        d = H5Dcreate2(loc, name, filetype, s, H5P_DEFAULT, p, H5P_DEFAULT);
    if (p >= 0) H5Pclose(p);
    if (s >= 0) H5Sclose(s);
    return d;
}

int ptrag_h5ad_writer_begin_rows(ptrag_h5ad_writer *w, int as_csr, ptrag_error *err) {
    H5_QUIET_SCOPE;
    if (w->st.on || w->has_x) return ptrag_fail(err, PTRAG_E_STATE, "%s: /X: already set", w->path);
    if (as_csr && w->n_vars > INT32_MAX)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: /X: too many columns for int32 indices", w->path);
    wstream *st = &w->st;
    memset(st, 0, sizeof *st);
    st->file = st->group = st->data = st->indices = st->dense = st->obsm = -1;
    int rc = ptrag_tmp_path(w->path, st->tmp, sizeof st->tmp, err);
    if (rc) return rc;
    st->file = fcreate(st->tmp);
    if (st->file < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot create temporary file %s%s", w->path, st->tmp,
                          ptrag_h5_reason(why, sizeof why));
    }
    st->on = 1;
    w->as_csr = as_csr != 0;
    if (as_csr) {
        st->cap = ptrag_h5ad_buffer_entries() > w->n_vars ? ptrag_h5ad_buffer_entries() : w->n_vars;
        st->indptr = calloc((size_t)w->n_obs + 1, sizeof *st->indptr);
        st->vbuf = malloc((size_t)st->cap * sizeof *st->vbuf);
        st->ibuf = malloc((size_t)st->cap * sizeof *st->ibuf);
        if (!st->indptr || !st->vbuf || !st->ibuf) {
            stream_close(st, 1);
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: /X: out of memory", w->path);
        }
        int64_t shape[2] = {w->n_obs, w->n_vars};
        st->group = new_group(st->file, "X", "csr_matrix", "0.1.0");
        if (st->group < 0 || attr_int64s(st->group, "shape", shape, 2) ||
            (st->data = extendible_1d(st->group, "data", H5T_IEEE_F32LE)) < 0 ||
            (st->indices = extendible_1d(st->group, "indices", H5T_STD_I32LE)) < 0) {
            rc = stream_fail(w, err, "/X", "sparse matrix");
            stream_close(st, 1);
            return rc;
        }
    } else {
        hsize_t dims[2] = {(hsize_t)w->n_obs, (hsize_t)w->n_vars};
        hid_t s = H5Screate_simple(2, dims, NULL);
        st->dense = dcreate(st->file, "X", H5T_IEEE_F32LE, s);
        H5Sclose(s);
        if (st->dense < 0 || encoding(st->dense, "array", "0.2.0")) {
            rc = stream_fail(w, err, "/X", "dense matrix");
            stream_close(st, 1);
            return rc;
        }
    }
    w->has_x = 1;
    return 0;
}

/* Appends n entries from the buffers to the end of the CSR data/indices. */
static int append_entries(wstream *st, long at, long n) {
    if (n == 0) return 0;
    hsize_t start = (hsize_t)at, count = (hsize_t)n, total = (hsize_t)(at + n);
    hid_t ms = H5Screate_simple(1, &count, NULL);
    int ok = ms >= 0;
    hid_t dsets[2] = {st->data, st->indices};
    hid_t types[2] = {H5T_NATIVE_FLOAT, H5T_NATIVE_INT32};
    const void *bufs[2] = {st->vbuf, st->ibuf};
    for (int k = 0; k < 2 && ok; k++) {
        ok = H5Dset_extent(dsets[k], &total) >= 0;
        hid_t fs = ok ? H5Dget_space(dsets[k]) : -1;
        ok = fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0 &&
             H5Dwrite(dsets[k], types[k], ms, fs, H5P_DEFAULT, bufs[k]) >= 0;
        if (fs >= 0) H5Sclose(fs);
    }
    if (ms >= 0) H5Sclose(ms);
    return ok ? 0 : -1;
}

int ptrag_h5ad_writer_append_rows(ptrag_h5ad_writer *w, const float *rows, long nrows, ptrag_error *err) {
    H5_QUIET_SCOPE;
    wstream *st = &w->st;
    if (!st->on) return ptrag_fail(err, PTRAG_E_STATE, "%s: /X: append_rows before begin_rows", w->path);
    if (nrows < 0 || st->rows_done + nrows > w->n_obs)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: /X: %ld rows appended to %ld of %ld", w->path, nrows,
                          st->rows_done, w->n_obs);
    if (nrows == 0) return 0;
    if (!rows) return ptrag_fail(err, PTRAG_E_ARG, "%s: /X: no rows given", w->path);
    if (!w->as_csr) {
        hsize_t start[2] = {(hsize_t)st->rows_done, 0}, count[2] = {(hsize_t)nrows, (hsize_t)w->n_vars};
        hid_t ms = H5Screate_simple(2, count, NULL);
        hid_t fs = H5Dget_space(st->dense);
        int ok = ms >= 0 && fs >= 0 && (w->n_vars == 0 ||
                 (H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
                  H5Dwrite(st->dense, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, rows) >= 0));
        if (fs >= 0) H5Sclose(fs);
        if (ms >= 0) H5Sclose(ms);
        if (!ok) return stream_fail(w, err, "/X", "dense rows");
        st->rows_done += nrows;
        return 0;
    }
    long n = 0, at = (long)st->indptr[st->rows_done];
    for (long i = 0; i < nrows; i++) {
        const float *row = rows + (size_t)i * (size_t)w->n_vars;
        if (n + w->n_vars > st->cap) { /* flush before a row could overflow the buffer */
            if (append_entries(st, at, n)) return stream_fail(w, err, "/X/data", "sparse rows");
            at += n;
            n = 0;
        }
        for (long j = 0; j < w->n_vars; j++)
            if (row[j] != 0.0f) {
                st->vbuf[n] = row[j];
                st->ibuf[n++] = (int32_t)j;
            }
        st->indptr[st->rows_done + i + 1] = at + n;
    }
    if (append_entries(st, at, n)) return stream_fail(w, err, "/X/data", "sparse rows");
    st->rows_done += nrows;
    return 0;
}

int ptrag_h5ad_writer_begin_obsm(ptrag_h5ad_writer *w, const char *key, long ncols, ptrag_error *err) {
    H5_QUIET_SCOPE;
    wstream *st = &w->st;
    if (!st->on) return ptrag_fail(err, PTRAG_E_STATE, "%s: /obsm: begin_obsm before begin_rows", w->path);
    if (st->obsm >= 0) return ptrag_fail(err, PTRAG_E_STATE, "%s: /obsm: one streamed key only", w->path);
    if (!key || !*key || strchr(key, '/') || ncols < 1)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: /obsm: bad key or width", w->path);
    hid_t g = new_group(st->file, "obsm", "dict", "0.1.0");
    hsize_t dims[2] = {(hsize_t)w->n_obs, (hsize_t)ncols};
    hid_t s = g >= 0 ? H5Screate_simple(2, dims, NULL) : -1;
    st->obsm = s >= 0 ? dcreate(g, key, H5T_IEEE_F32LE, s) : -1;
    if (s >= 0) H5Sclose(s);
    if (g >= 0) H5Gclose(g);
    if (st->obsm < 0 || encoding(st->obsm, "array", "0.2.0")) return stream_fail(w, err, "/obsm", "dense matrix");
    st->obsm_cols = ncols;
    st->obsm_rows = 0;
    return 0;
}

int ptrag_h5ad_writer_append_obsm_rows(ptrag_h5ad_writer *w, const float *rows, long nrows, ptrag_error *err) {
    H5_QUIET_SCOPE;
    wstream *st = &w->st;
    if (!st->on || st->obsm < 0) return ptrag_fail(err, PTRAG_E_STATE, "%s: /obsm: append before begin_obsm", w->path);
    if (nrows < 0 || st->obsm_rows + nrows > w->n_obs)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: /obsm: %ld rows appended to %ld of %ld", w->path, nrows,
                          st->obsm_rows, w->n_obs);
    if (nrows == 0) return 0;
    hsize_t start[2] = {(hsize_t)st->obsm_rows, 0}, count[2] = {(hsize_t)nrows, (hsize_t)st->obsm_cols};
    hid_t ms = H5Screate_simple(2, count, NULL);
    hid_t fs = H5Dget_space(st->obsm);
    int ok = ms >= 0 && fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
             H5Dwrite(st->obsm, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, rows) >= 0;
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (!ok) return stream_fail(w, err, "/obsm", "dense rows");
    st->obsm_rows += nrows;
    return 0;
}

/* Finishes streamed X: checks the row count and writes /X/indptr. */
static int stream_finish_x(ptrag_h5ad_writer *w, ptrag_error *err) {
    wstream *st = &w->st;
    if (st->rows_done != w->n_obs)
        return ptrag_fail(err, PTRAG_E_STATE, "%s: /X: %ld of %ld rows appended", w->path, st->rows_done, w->n_obs);
    if (st->obsm >= 0 && st->obsm_rows != w->n_obs)
        return ptrag_fail(err, PTRAG_E_STATE, "%s: /obsm: %ld of %ld rows appended", w->path, st->obsm_rows, w->n_obs);
    if (!w->as_csr) return 0;
    long nnz = (long)st->indptr[w->n_obs];
    hid_t ft = nnz > INT32_MAX ? H5T_STD_I64LE : H5T_STD_I32LE;
    if (write_1d(st->group, "indptr", ft, H5T_NATIVE_INT64, st->indptr, w->n_obs + 1, NULL))
        return stream_fail(w, err, "/X/indptr", "sparse matrix");
    return 0;
}

int ptrag_h5ad_writer_commit(ptrag_h5ad_writer *w, ptrag_error *err) {
    H5_QUIET_SCOPE;
    if (!w->has_x)
        return ptrag_fail(err, PTRAG_E_STATE, "%s: /X: not set (call ptrag_h5ad_writer_set_x first)", w->path);
    char tmp[4096];
    int rc;
    hid_t f;
    if (w->st.on) {
        if ((rc = stream_finish_x(w, err))) return rc;
        snprintf(tmp, sizeof tmp, "%s", w->st.tmp);
        stream_close_handles(&w->st);
        f = w->st.file; /* closed below, as a new file would be */
        w->st.file = -1;
    } else {
        if ((rc = ptrag_tmp_path(w->path, tmp, sizeof tmp, err))) return rc;
        f = fcreate(tmp);
    }
    if (f < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot create temporary file %s%s", w->path, tmp,
                          ptrag_h5_reason(why, sizeof why));
    }
    wctx c = {w, err};
    rc = write_all(f, &c);
    if (H5Fclose(f) < 0 && rc == 0) {
        char why[300];
        rc = ptrag_fail(err, PTRAG_E_IO, "%s: cannot finish writing%s", w->path, ptrag_h5_reason(why, sizeof why));
    }
    H5Eclear2(H5E_DEFAULT);
    if (w->st.on) { /* X is in the file: the stream is spent either way */
        stream_close(&w->st, 0);
        w->has_x = 0;
    }
    if (rc) {
        unlink(tmp);
        return rc;
    }
    return ptrag_commit_tmp(tmp, w->path, err);
}
