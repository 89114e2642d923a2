/* Opening an .h5ad file: validates the AnnData layout, reads the obs/var
 * indexes and the expression matrix's metadata (sparse: indptr), nothing else.
 * Expression rows are fetched later (h5ad_rows.c). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5ad_internal.h"

/* Chunk cache per open expression dataset: compressed chunks touched by
 * neighbouring row reads are decompressed once. The preemption weight stays
 * at HDF5's default 0.75: with 1.0, partially read chunks were never evicted
 * and random row reads grew the cache to the whole touched file. */
#define CHUNK_CACHE_BYTES (16u << 20)
#define CHUNK_CACHE_SLOTS 12421
#define CHUNK_CACHE_W0 0.75

/* 1 if the dataset is stored through filters (gzip, ...). */
static int is_filtered(hid_t file, const char *path) {
    hid_t ds = H5Dopen2(file, path, H5P_DEFAULT);
    if (ds < 0) return 0;
    hid_t dcpl = H5Dget_create_plist(ds);
    int n = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 0;
    if (dcpl >= 0) H5Pclose(dcpl);
    H5Dclose(ds);
    return n > 0;
}

static hid_t open_cached(hid_t file, const char *path) {
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    /* Unfiltered chunks are read in place (only the bytes asked for); caching
     * them would read whole chunks for a few entries of a random row. */
    size_t bytes = is_filtered(file, path) ? CHUNK_CACHE_BYTES : 0;
    if (dapl >= 0) H5Pset_chunk_cache(dapl, CHUNK_CACHE_SLOTS, bytes, CHUNK_CACHE_W0);
    hid_t ds = H5Dopen2(file, path, dapl >= 0 ? dapl : H5P_DEFAULT);
    if (dapl >= 0) H5Pclose(dapl);
    return ds;
}

static H5T_class_t dataset_class(hid_t ds) {
    hid_t t = H5Dget_type(ds);
    H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (t >= 0) H5Tclose(t);
    return c;
}

void ptrag_h5ad_matrix_close(h5ad_matrix *m) {
    if (m->dense >= 0) H5Dclose(m->dense);
    if (m->data >= 0) H5Dclose(m->data);
    if (m->indices >= 0) H5Dclose(m->indices);
    free(m->indptr);
    m->dense = m->data = m->indices = -1;
    m->indptr = NULL;
}

static int open_dense(hid_t file, const char *fname, h5ad_matrix *m, ptrag_error *err) {
    m->storage = PTRAG_STORAGE_DENSE;
    m->dense = open_cached(file, m->objpath);
    char why[300];
    if (m->dense < 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open dataset%s", fname, m->objpath,
                          ptrag_h5_reason(why, sizeof why));
    hid_t sp = H5Dget_space(m->dense);
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[H5S_MAX_RANK] = {0};
    if (nd > 0) H5Sget_simple_extent_dims(sp, dims, NULL);
    if (sp >= 0) H5Sclose(sp);
    if (nd != 2)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: expected a 2-D matrix, found %d dimensions",
                          fname, m->objpath, nd);
    H5T_class_t c = dataset_class(m->dense);
    if (c != H5T_INTEGER && c != H5T_FLOAT)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: expected numbers, found HDF5 type class %d",
                          fname, m->objpath, (int)c);
    m->n_rows = (long)dims[0];
    m->n_cols = (long)dims[1];
    return 0;
}

static int open_member(hid_t file, const char *fname, const h5ad_matrix *m, const char *member,
                       int want_integer, hid_t *ds, long *len, ptrag_error *err) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s", m->objpath, member);
    if (ptrag_h5_obj_type(file, p) != H5O_TYPE_DATASET)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: missing (a sparse matrix needs data, indices and indptr)",
                          fname, p);
    *ds = open_cached(file, p);
    char why[300];
    if (*ds < 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open dataset%s", fname, p,
                          ptrag_h5_reason(why, sizeof why));
    *len = ptrag_h5_len1(*ds, fname, p, err);
    if (*len < 0) return (int)*len;
    H5T_class_t c = dataset_class(*ds);
    if (c != H5T_INTEGER && (want_integer || c != H5T_FLOAT))
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: expected %s, found HDF5 type class %d", fname,
                          p, want_integer ? "integers" : "numbers", (int)c);
    return 0;
}

static int open_sparse(hid_t file, const char *fname, hid_t g, int csc, h5ad_matrix *m,
                       ptrag_error *err) {
    m->storage = csc ? PTRAG_STORAGE_CSC : PTRAG_STORAGE_CSR;
    int64_t shape[2];
    int ns = ptrag_h5_attr_int64s(g, "shape", shape, 2);
    if (ns < 0) ns = ptrag_h5_attr_int64s(g, "h5sparse_shape", shape, 2);
    if (ns != 2 || shape[0] < 0 || shape[1] < 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: missing or bad 'shape' attribute (expected 2 non-negative integers)",
                          fname, m->objpath);
    m->n_rows = (long)shape[0];
    m->n_cols = (long)shape[1];
    long n_data, n_indices, n_indptr;
    hid_t indptr_ds = -1;
    int rc = open_member(file, fname, m, "data", 0, &m->data, &n_data, err);
    if (!rc) rc = open_member(file, fname, m, "indices", 1, &m->indices, &n_indices, err);
    if (!rc) rc = open_member(file, fname, m, "indptr", 1, &indptr_ds, &n_indptr, err);
    const char *major = csc ? "column" : "row";
    long n_major = csc ? m->n_cols : m->n_rows;
    if (!rc && n_indptr != n_major + 1)
        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                        "%s: %s/indptr: has %ld entries, expected %ld (%s count + 1 from shape (%ld, %ld))%s",
                        fname, m->objpath, n_indptr, n_major + 1, major, m->n_rows, m->n_cols,
                        n_indptr < n_major + 1 ? ": dataset truncated" : "");
    if (!rc && n_indices != n_data) {
        /* Name the shorter one: it is the truncated dataset. */
        int short_idx = n_indices < n_data;
        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                        "%s: %s/%s: has %ld entries but %s/%s has %ld: dataset truncated", fname,
                        m->objpath, short_idx ? "indices" : "data", short_idx ? n_indices : n_data,
                        m->objpath, short_idx ? "data" : "indices", short_idx ? n_data : n_indices);
    }
    if (!rc) {
        m->nnz = n_data;
        m->indptr = malloc(((size_t)n_major + 1) * sizeof *m->indptr);
        if (!m->indptr) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: %s/indptr: out of memory", fname, m->objpath);
    }
    char ip[600];
    snprintf(ip, sizeof ip, "%s/indptr", m->objpath);
    if (!rc) rc = ptrag_h5_read_range(indptr_ds, H5T_NATIVE_INT64, 0, n_major + 1, m->indptr, fname, ip, err);
    if (indptr_ds >= 0) H5Dclose(indptr_ds);
    if (rc) return rc;
    if (m->indptr[0] != 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: starts at %lld, expected 0", fname, ip,
                          (long long)m->indptr[0]);
    for (long i = 0; i < n_major; i++)
        if (m->indptr[i + 1] < m->indptr[i])
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: not monotone non-decreasing at %s %ld (%lld then %lld)",
                              fname, ip, major, i, (long long)m->indptr[i], (long long)m->indptr[i + 1]);
    long last = (long)m->indptr[n_major];
    if (last > m->nnz)
        return ptrag_fail(err, PTRAG_E_FORMAT,
                          "%s: %s/data: has %ld entries but %s ends at %ld: dataset truncated", fname,
                          m->objpath, m->nnz, ip, last);
    if (last < m->nnz)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: ends at %ld but %s/data has %ld entries",
                          fname, ip, last, m->objpath, m->nnz);
    return 0;
}

int ptrag_h5ad_matrix_open(hid_t file, const char *fname, const char *objpath, h5ad_matrix *m,
                     ptrag_error *err) {
    memset(m, 0, sizeof *m);
    m->dense = m->data = m->indices = -1;
    snprintf(m->objpath, sizeof m->objpath, "%s", objpath);
    int type = ptrag_h5_obj_type(file, objpath);
    if (type == H5O_TYPE_DATASET) return open_dense(file, fname, m, err);
    if (type != H5O_TYPE_GROUP)
        return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: %s: not found", fname, objpath);
    hid_t g = H5Gopen2(file, objpath, H5P_DEFAULT);
    if (g < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open group%s", fname, objpath,
                          ptrag_h5_reason(why, sizeof why));
    }
    char enc[64] = "";
    if (!ptrag_h5_attr_string(g, "encoding-type", enc, sizeof enc))
        ptrag_h5_attr_string(g, "h5sparse_format", enc, sizeof enc); /* anndata < 0.7 */
    int rc;
    if (strcmp(enc, "csr_matrix") == 0 || strcmp(enc, "csr") == 0)
        rc = open_sparse(file, fname, g, 0, m, err);
    else if (strcmp(enc, "csc_matrix") == 0 || strcmp(enc, "csc") == 0)
        rc = open_sparse(file, fname, g, 1, m, err);
    else
        rc = ptrag_fail(err, PTRAG_E_UNSUPPORTED,
                        "%s: %s: encoding-type '%s' is not an expression matrix (expected a dense "
                        "dataset, csr_matrix or csc_matrix)",
                        fname, objpath, enc[0] ? enc : "(none)");
    H5Gclose(g);
    return rc;
}

/* ---- open / close ---- */

void ptrag_h5ad_close(ptrag_h5ad *h) {
    if (!h) return;
    H5_QUIET_SCOPE;
    ptrag_h5ad_memory_free(h);
    ptrag_h5ad_matrix_close(&h->m);
    if (h->file >= 0) H5Fclose(h->file);
    ptrag_h5_strings_free(&h->obs_names);
    ptrag_h5_strings_free(&h->var_names);
    for (int i = 0; i < h->n_obs_cols; i++) free(h->obs_cols[i]);
    for (int i = 0; i < h->n_var_cols; i++) free(h->var_cols[i]);
    free(h->obs_cols);
    free(h->var_cols);
    free(h->var_hash);
    free(h->x_source);
    free(h->path);
    free(h);
}

/* Reads a dataframe's index (the dataset named by its `_index` attribute). */
static int read_frame_index(ptrag_h5ad *h, const char *group, h5_strings *out, ptrag_error *err) {
    char gpath[64];
    snprintf(gpath, sizeof gpath, "/%s", group);
    int type = ptrag_h5_obj_type(h->file, gpath);
    if (type == H5O_TYPE_DATASET)
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED,
                          "%s: %s: a compound-dataset dataframe (anndata < 0.7 layout) is not supported",
                          h->path, gpath);
    hid_t g = H5Gopen2(h->file, gpath, H5P_DEFAULT);
    if (g < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open group%s", h->path, gpath,
                          ptrag_h5_reason(why, sizeof why));
    }
    char index[256] = "";
    if (!ptrag_h5_attr_string(g, "_index", index, sizeof index)) snprintf(index, sizeof index, "_index");
    H5Gclose(g);
    char ipath[400];
    snprintf(ipath, sizeof ipath, "/%s/%s", group, index);
    if (ptrag_h5_obj_type(h->file, ipath) != H5O_TYPE_DATASET)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: index dataset missing (named by the _index attribute of %s)",
                          h->path, ipath, gpath);
    hid_t ds = H5Dopen2(h->file, ipath, H5P_DEFAULT);
    if (ds < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open dataset%s", h->path, ipath,
                          ptrag_h5_reason(why, sizeof why));
    }
    int rc = ptrag_h5_read_strings(ds, h->path, ipath, out, err);
    H5Dclose(ds);
    return rc;
}

typedef struct {
    char *buf;
    size_t n;
    const char *prefix;
} src_list;

static herr_t add_source(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    src_list *l = data;
    size_t used = strlen(l->buf);
    if (used + strlen(name) + strlen(l->prefix) + 4 < l->n)
        snprintf(l->buf + used, l->n - used, "%s%s%s", used ? ", " : "", l->prefix, name);
    return 0;
}

/* "X, layers/counts, obsm/X_pca": what --x could name in this file. */
static void list_sources(hid_t file, char *buf, size_t n) {
    buf[0] = '\0';
    if (ptrag_h5_exists(file, "X")) snprintf(buf, n, "X");
    const char *groups[2] = {"layers", "obsm"};
    for (int i = 0; i < 2; i++) {
        if (ptrag_h5_obj_type(file, groups[i]) != H5O_TYPE_GROUP) continue;
        hid_t g = H5Gopen2(file, groups[i], H5P_DEFAULT);
        if (g < 0) continue;
        char prefix[16];
        snprintf(prefix, sizeof prefix, "%s/", groups[i]);
        src_list l = {buf, n, prefix};
        hsize_t idx = 0;
        H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, add_source, &l);
        H5Gclose(g);
    }
    H5Eclear2(H5E_DEFAULT);
    if (!buf[0]) snprintf(buf, n, "none");
}

static int numbered_names(long n, h5_strings *out) {
    out->n = n;
    out->s = malloc(((size_t)n + 1) * sizeof *out->s);
    out->buf = malloc((size_t)n * 21 + 1);
    if (!out->s || !out->buf) return -1;
    size_t used = 0;
    for (long i = 0; i < n; i++) {
        out->s[i] = out->buf + used;
        used += (size_t)sprintf(out->buf + used, "%ld", i) + 1;
    }
    return 0;
}

int ptrag_h5ad_index_vars(ptrag_h5ad *h) {
    long cap = 16;
    while (cap < 2 * h->n_vars) cap *= 2;
    h->var_hash = calloc((size_t)cap, sizeof *h->var_hash);
    if (!h->var_hash) return -1;
    h->var_hash_cap = cap;
    /* Later duplicates are not inserted: lookup returns the first index. */
    for (long j = 0; j < h->n_vars; j++) {
        long k = (long)(ptrag_h5ad_hash_str(h->var_names.s[j]) & (uint64_t)(cap - 1));
        while (h->var_hash[k] && strcmp(h->var_names.s[h->var_hash[k] - 1], h->var_names.s[j]) != 0)
            k = (k + 1) & (cap - 1);
        if (!h->var_hash[k]) h->var_hash[k] = j + 1;
    }
    return 0;
}

static int check_source_name(const char *path, const char *src, ptrag_error *err) {
    if (strcmp(src, "X") == 0) return 0;
    const char *rest = NULL;
    if (strncmp(src, "layers/", 7) == 0) rest = src + 7;
    else if (strncmp(src, "obsm/", 5) == 0) rest = src + 5;
    if (!rest || !*rest || strchr(rest, '/') || strlen(src) > 400)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "%s: expression source '%s': expected X, layers/NAME or obsm/KEY", path, src);
    return 0;
}

/* An in-memory file image (image != NULL) is opened through the core driver,
 * without touching the file system: the fuzz harness feeds bytes this way. */
static int open_all(ptrag_h5ad *h, const char *path, const void *image, size_t image_len,
                    const char *src, ptrag_error *err) {
    hid_t fapl = -1;
    if (!image) {
        if (access(path, R_OK) != 0)
            return ptrag_fail(err, PTRAG_E_IO, "%s: cannot open: %s", path, strerror(errno));
        if (H5Fis_hdf5(path) <= 0) {
            H5Eclear2(H5E_DEFAULT);
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: not an HDF5 file (no HDF5 signature found)",
                              path);
        }
        fapl = H5Pcreate(H5P_FILE_ACCESS);
    } else {
        fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl >= 0 && (H5Pset_fapl_core(fapl, 1 << 16, 0) < 0 ||
                          H5Pset_file_image(fapl, (void *)image, image_len) < 0)) {
            H5Pclose(fapl);
            H5Eclear2(H5E_DEFAULT);
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: cannot use the file image (%zu bytes)", path,
                              image_len);
        }
    }
    if (fapl < 0) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: cannot create HDF5 property list", path);
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG);
    h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    char why[300] = "";
    if (h->file < 0) ptrag_h5_reason(why, sizeof why);
    H5Pclose(fapl);
    if (h->file < 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: cannot open as HDF5 (damaged or truncated file?)%s",
                          path, why);
    char enc[64] = "";
    hid_t root = H5Gopen2(h->file, "/", H5P_DEFAULT);
    if (root >= 0) {
        ptrag_h5_attr_string(root, "encoding-type", enc, sizeof enc);
        H5Gclose(root);
    }
    if (enc[0] && strcmp(enc, "anndata") != 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: /: encoding-type is '%s', expected 'anndata'", path, enc);
    if (!ptrag_h5_exists(h->file, "obs") || !ptrag_h5_exists(h->file, "var"))
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: not an AnnData file: %s missing%s", path,
                          ptrag_h5_exists(h->file, "obs") ? "/var" : "/obs",
                          enc[0] ? "" : " (and no root encoding-type 'anndata')");
    int rc = read_frame_index(h, "obs", &h->obs_names, err);
    if (!rc) rc = read_frame_index(h, "var", &h->var_names, err);
    if (rc) return rc;
    h->n_obs = h->obs_names.n;
    h->file_n_vars = h->var_names.n;

    if (!src || !*src) src = "X";
    if ((rc = check_source_name(path, src, err))) return rc;
    h->x_source = strdup(src);
    if (!h->x_source) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    char objpath[512];
    snprintf(objpath, sizeof objpath, "/%s", src);
    if (!ptrag_h5_exists(h->file, objpath)) {
        char avail[600];
        list_sources(h->file, avail, sizeof avail);
        return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: %s: expression source not found (available: %s)",
                          path, objpath, avail);
    }
    if ((rc = ptrag_h5ad_matrix_open(h->file, path, objpath, &h->m, err))) return rc;
    int is_obsm = strncmp(src, "obsm/", 5) == 0;
    if (h->m.n_rows != h->n_obs)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: has %ld rows but /obs has %ld cells", path,
                          objpath, h->m.n_rows, h->n_obs);
    if (!is_obsm && h->m.n_cols != h->file_n_vars)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: has %ld columns but /var has %ld genes", path,
                          objpath, h->m.n_cols, h->file_n_vars);
    h->n_vars = h->m.n_cols;
    if (is_obsm) {
        /* obsm columns are unnamed: expose "0".."d-1" as their names. */
        ptrag_h5_strings_free(&h->var_names);
        if (numbered_names(h->n_vars, &h->var_names))
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    if (ptrag_h5ad_index_vars(h)) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    rc = ptrag_h5ad_frame_columns(h->file, path, "obs", &h->obs_cols, &h->n_obs_cols, err);
    if (!rc) rc = ptrag_h5ad_frame_columns(h->file, path, "var", &h->var_cols, &h->n_var_cols, err);
    return rc;
}

static int open_handle(const char *path, const void *image, size_t image_len, const char *x_source,
                       ptrag_h5ad **out, ptrag_error *err) {
    *out = NULL;
    H5_QUIET_SCOPE;
    if (!path || !*path) return ptrag_fail(err, PTRAG_E_ARG, "h5ad: empty file path");
    ptrag_h5ad *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    h->file = -1;
    h->m.dense = h->m.data = h->m.indices = -1;
    int rc = open_all(h, path, image, image_len, x_source, err);
    if (rc) {
        ptrag_h5ad_close(h);
        H5Eclear2(H5E_DEFAULT);
        return rc;
    }
    *out = h;
    return 0;
}

int ptrag_h5ad_open(const char *path, const char *x_source, ptrag_h5ad **out, ptrag_error *err) {
    return open_handle(path, NULL, 0, x_source, out, err);
}

int ptrag_h5ad_open_image(const void *image, size_t len, const char *name, const char *x_source,
                          ptrag_h5ad **out, ptrag_error *err) {
    *out = NULL;
    if (!image || len < 8)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: not an HDF5 file image (%zu bytes)",
                          name ? name : "(image)", len);
    return open_handle(name && *name ? name : "(image)", image, len, x_source, out, err);
}

/* ---- metadata ---- */

const char *ptrag_h5ad_path(const ptrag_h5ad *h) { return h->path; }
long ptrag_h5ad_n_obs(const ptrag_h5ad *h) { return h->n_obs; }
long ptrag_h5ad_n_vars(const ptrag_h5ad *h) { return h->n_vars; }
long ptrag_h5ad_file_n_vars(const ptrag_h5ad *h) { return h->file_n_vars; }
const char *ptrag_h5ad_x_source(const ptrag_h5ad *h) { return h->x_source; }
ptrag_storage ptrag_h5ad_x_storage(const ptrag_h5ad *h) { return h->m.storage; }

long ptrag_h5ad_x_nnz(const ptrag_h5ad *h) {
    return h->m.storage == PTRAG_STORAGE_DENSE ? h->m.n_rows * h->m.n_cols : h->m.nnz;
}

const char *ptrag_h5ad_var_name(const ptrag_h5ad *h, long j) {
    return (j >= 0 && j < h->n_vars) ? h->var_names.s[j] : "";
}

const char *ptrag_h5ad_obs_name(const ptrag_h5ad *h, long i) {
    return (i >= 0 && i < h->n_obs) ? h->obs_names.s[i] : "";
}

long ptrag_h5ad_find_var(const ptrag_h5ad *h, const char *name) {
    if (!name || !h->var_hash) return -1;
    long k = (long)(ptrag_h5ad_hash_str(name) & (uint64_t)(h->var_hash_cap - 1));
    while (h->var_hash[k]) {
        if (strcmp(h->var_names.s[h->var_hash[k] - 1], name) == 0) return h->var_hash[k] - 1;
        k = (k + 1) & (h->var_hash_cap - 1);
    }
    return -1;
}

int ptrag_h5ad_obs_columns(const ptrag_h5ad *h, const char *const **names, int *n) {
    *names = (const char *const *)h->obs_cols;
    *n = h->n_obs_cols;
    return 0;
}

int ptrag_h5ad_var_columns(const ptrag_h5ad *h, const char *const **names, int *n) {
    *names = (const char *const *)h->var_cols;
    *n = h->n_var_cols;
    return 0;
}

int ptrag_h5ad_in_memory(const ptrag_h5ad *h) { return h->in_memory; }

int ptrag_h5ad_read_obs(ptrag_h5ad *h, const char *name, ptrag_column *out, ptrag_error *err) {
    if (h->in_memory) return ptrag_h5ad_memory_read_obs(h, name ? name : "", out, err);
    H5_QUIET_SCOPE;
    int rc = ptrag_h5ad_read_column(h->file, h->path, "obs", name ? name : "", h->n_obs, h->obs_cols,
                              h->n_obs_cols, out, err);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int ptrag_h5ad_read_var(ptrag_h5ad *h, const char *name, ptrag_column *out, ptrag_error *err) {
    if (h->in_memory)
        return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: var/%s: no such column (available: none)", h->path,
                          name ? name : "");
    H5_QUIET_SCOPE;
    int rc = ptrag_h5ad_read_column(h->file, h->path, "var", name ? name : "", h->file_n_vars, h->var_cols,
                              h->n_var_cols, out, err);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}
