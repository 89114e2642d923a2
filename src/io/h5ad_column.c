/* obs/var dataframe columns of an .h5ad file: categorical (new-style group
 * {codes, categories} and old-style obs/__categories/<col>), string arrays
 * (factorised), numeric, boolean and nullable columns. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5ad_internal.h"

void ptrag_column_free(ptrag_column *col) {
    if (!col) return;
    if (col->categories)
        for (int i = 0; i < col->n_categories; i++) free(col->categories[i]);
    free(col->categories);
    free(col->codes);
    free(col->values);
    free(col->name);
    memset(col, 0, sizeof *col);
}

int ptrag_column_find(const ptrag_column *col, const char *label) {
    if (!col || !col->categories || !label) return -1;
    for (int i = 0; i < col->n_categories; i++)
        if (strcmp(col->categories[i], label) == 0) return i;
    return -1;
}

const char *ptrag_column_label(const ptrag_column *col, long i) {
    if (!col || !col->codes || i < 0 || i >= col->n) return "";
    int32_t c = col->codes[i];
    return (c >= 0 && c < col->n_categories) ? col->categories[c] : "";
}

/* ---- column listing ---- */

static int has_name(char **names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0) return 1;
    return 0;
}

typedef struct {
    char ***names;
    int *n, cap;
    const char *skip_index;
    int failed;
} list_ctx;

static int push_name(char ***names, int *n, int *cap, const char *s) {
    if (*n == *cap) {
        int nc = *cap ? 2 * *cap : 16;
        char **nn = realloc(*names, (size_t)nc * sizeof *nn);
        if (!nn) return -1;
        *names = nn;
        *cap = nc;
    }
    char *d = strdup(s);
    if (!d) return -1;
    (*names)[(*n)++] = d;
    return 0;
}

static herr_t collect_child(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    list_ctx *c = data;
    if (strcmp(name, c->skip_index) == 0 || strcmp(name, "__categories") == 0) return 0;
    if (has_name(*c->names, *c->n, name)) return 0;
    if (push_name(c->names, c->n, &c->cap, name)) {
        c->failed = 1;
        return -1;
    }
    return 0;
}

int ptrag_h5ad_frame_columns(hid_t file, const char *fname, const char *group, char ***names, int *n,
                       ptrag_error *err) {
    *names = NULL;
    *n = 0;
    char objpath[300];
    snprintf(objpath, sizeof objpath, "/%s", group);
    hid_t g = H5Gopen2(file, group, H5P_DEFAULT);
    if (g < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open group%s", fname, objpath,
                          ptrag_h5_reason(why, sizeof why));
    }
    char index[256];
    if (!ptrag_h5_attr_string(g, "_index", index, sizeof index)) snprintf(index, sizeof index, "_index");
    h5_strings order;
    int rc = ptrag_h5_attr_strings(g, "column-order", &order, fname, objpath, err);
    if (rc) {
        H5Gclose(g);
        return rc;
    }
    int cap = 0;
    for (long i = 0; i < order.n && rc == 0; i++)
        if (!has_name(*names, *n, order.s[i]) && push_name(names, n, &cap, order.s[i]))
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
    ptrag_h5_strings_free(&order);
    if (rc == 0) {
        list_ctx c = {names, n, cap, index, 0};
        hsize_t idx = 0;
        if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_child, &c) < 0) {
            char why[300];
            rc = c.failed ? ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname)
                          : ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot list members%s", fname,
                                       objpath, ptrag_h5_reason(why, sizeof why));
        }
    }
    H5Gclose(g);
    if (rc) {
        for (int i = 0; i < *n; i++) free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

/* ---- column reading ---- */

static int fail_length(ptrag_error *err, const char *fname, const char *objpath, long got,
                       long want, const char *group) {
    return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: has %ld entries, expected %ld (n_%s)%s", fname,
                      objpath, got, want, group, got < want ? ": dataset truncated" : "");
}

static int open_ds(hid_t file, const char *fname, const char *objpath, hid_t *ds, ptrag_error *err) {
    *ds = H5Dopen2(file, objpath, H5P_DEFAULT);
    if (*ds < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open dataset%s", fname, objpath,
                          ptrag_h5_reason(why, sizeof why));
    }
    return 0;
}

/* Copies a pool into individually allocated category strings. */
static int take_categories(const h5_strings *p, ptrag_column *out, const char *fname,
                           ptrag_error *err) {
    out->categories = calloc((size_t)p->n + 1, sizeof *out->categories);
    if (!out->categories) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
    for (long i = 0; i < p->n; i++) {
        out->categories[i] = strdup(p->s[i]);
        if (!out->categories[i]) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
        out->n_categories = (int)i + 1;
    }
    return 0;
}

static int read_codes(hid_t file, const char *fname, const char *codes_path, long n,
                      const char *group, int32_t **codes, ptrag_error *err) {
    hid_t ds;
    int rc = open_ds(file, fname, codes_path, &ds, err);
    if (rc) return rc;
    long len = ptrag_h5_len1(ds, fname, codes_path, err);
    hid_t t = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    if (len < 0) {
        rc = (int)len;
    } else if (cls != H5T_INTEGER) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: categorical codes must be integers", fname,
                        codes_path);
    } else if (len != n) {
        rc = fail_length(err, fname, codes_path, len, n, group);
    } else {
        *codes = malloc(((size_t)n + 1) * sizeof **codes);
        if (!*codes)
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
        else
            rc = ptrag_h5_read_range(ds, H5T_NATIVE_INT32, 0, n, *codes, fname, codes_path, err);
    }
    H5Dclose(ds);
    return rc;
}

static int check_codes(const ptrag_column *c, const char *fname, const char *codes_path,
                       const char *cats_path, ptrag_error *err) {
    for (long i = 0; i < c->n; i++)
        if (c->codes[i] < -1 || c->codes[i] >= c->n_categories)
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: %s: code %d at row %ld is outside the %d categories of %s", fname,
                              codes_path, (int)c->codes[i], i, c->n_categories, cats_path);
    return 0;
}

static int read_categorical(hid_t file, const char *fname, const char *codes_path,
                            const char *cats_path, long n, const char *group, ptrag_column *out,
                            ptrag_error *err) {
    out->type = PTRAG_COL_CATEGORICAL;
    hid_t ds;
    int rc = open_ds(file, fname, cats_path, &ds, err);
    if (rc) return rc;
    h5_strings cats;
    rc = ptrag_h5_read_strings(ds, fname, cats_path, &cats, err);
    H5Dclose(ds);
    if (rc) return rc;
    if (cats.n > INT32_MAX) rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: too many categories", fname, cats_path);
    if (rc == 0) rc = take_categories(&cats, out, fname, err);
    ptrag_h5_strings_free(&cats);
    if (rc == 0) rc = read_codes(file, fname, codes_path, n, group, &out->codes, err);
    if (rc == 0) rc = check_codes(out, fname, codes_path, cats_path, err);
    return rc;
}

/* Factorises strings: categories in order of first appearance. */
static int factorise(const h5_strings *p, ptrag_column *out, const char *fname, ptrag_error *err) {
    out->type = PTRAG_COL_STRING;
    long cap = 16;
    while (cap < 2 * p->n) cap *= 2;
    long *slot = calloc((size_t)cap, sizeof *slot); /* first row + 1 of each distinct value */
    long *first = malloc(((size_t)p->n + 1) * sizeof *first);
    out->codes = malloc(((size_t)p->n + 1) * sizeof *out->codes);
    int rc = 0;
    if (!slot || !first || !out->codes) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
    long ncat = 0;
    for (long i = 0; i < p->n && rc == 0; i++) {
        uint64_t h = ptrag_h5ad_hash_str(p->s[i]);
        long k = (long)(h & (uint64_t)(cap - 1));
        while (slot[k] && strcmp(p->s[slot[k] - 1], p->s[i]) != 0) k = (k + 1) & (cap - 1);
        if (!slot[k]) {
            slot[k] = i + 1;
            first[ncat] = i;
            out->codes[i] = (int32_t)ncat++;
        } else {
            out->codes[i] = out->codes[slot[k] - 1];
        }
    }
    if (rc == 0 && ncat > INT32_MAX) rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: too many distinct strings", fname);
    if (rc == 0) {
        out->categories = calloc((size_t)ncat + 1, sizeof *out->categories);
        if (!out->categories) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
        for (long c = 0; c < ncat && rc == 0; c++) {
            out->categories[c] = strdup(p->s[first[c]]);
            if (!out->categories[c]) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
            else out->n_categories = (int)c + 1;
        }
    }
    free(slot);
    free(first);
    return rc;
}

/* Reads a 1-D integer/float dataset as double. */
static int read_doubles(hid_t ds, const char *fname, const char *objpath, long n, double **vals,
                        ptrag_error *err) {
    *vals = malloc(((size_t)n + 1) * sizeof **vals);
    if (!*vals) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
    return ptrag_h5_read_range(ds, H5T_NATIVE_DOUBLE, 0, n, *vals, fname, objpath, err);
}

/* numpy bool arrays are HDF5 enums {FALSE=0, TRUE=1}: read the raw integers. */
static int read_enum_bools(hid_t ds, const char *fname, const char *objpath, long n, double **vals,
                           ptrag_error *err) {
    hid_t ft = H5Dget_type(ds);
    hid_t mt = H5Tget_native_type(ft, H5T_DIR_DEFAULT);
    size_t size = H5Tget_size(mt);
    int rc = 0;
    unsigned char *raw = NULL;
    if (size != 1 && size != 2 && size != 4 && size != 8) {
        rc = ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: %s: enum of %zu bytes is not supported", fname,
                        objpath, size);
    } else {
        raw = malloc((size_t)n * size + 1);
        *vals = malloc(((size_t)n + 1) * sizeof **vals);
        if (!raw || !*vals) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
        if (rc == 0) rc = ptrag_h5_read_range(ds, mt, 0, n, raw, fname, objpath, err);
        for (long i = 0; i < n && rc == 0; i++) {
            int64_t v = 0;
            switch (size) {
            case 1: v = ((int8_t *)raw)[i]; break;
            case 2: v = ((int16_t *)raw)[i]; break;
            case 4: v = ((int32_t *)raw)[i]; break;
            default: v = ((int64_t *)raw)[i]; break;
            }
            (*vals)[i] = v != 0;
        }
    }
    free(raw);
    H5Tclose(mt);
    H5Tclose(ft);
    return rc;
}

/* A plain dataset column: string, bool, numeric or old-style categorical codes. */
static int read_dataset_column(hid_t file, const char *fname, const char *group, const char *name,
                               const char *objpath, long n, ptrag_column *out, ptrag_error *err) {
    hid_t ds;
    int rc = open_ds(file, fname, objpath, &ds, err);
    if (rc) return rc;
    hid_t sp = H5Dget_space(ds);
    int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    if (sp >= 0) H5Sclose(sp);
    if (rank != 1) { /* e.g. a 2-D array column: skip it, not the file */
        H5Dclose(ds);
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: %s: a %d-D column is not supported", fname,
                          objpath, rank);
    }
    long len = ptrag_h5_len1(ds, fname, objpath, err);
    hid_t t = H5Dget_type(ds);
    H5T_class_t cls = H5Tget_class(t);
    H5Tclose(t);
    char old_cats[600];
    snprintf(old_cats, sizeof old_cats, "/%s/__categories/%s", group, name);
    if (len < 0) {
        rc = (int)len;
    } else if (len != n) {
        rc = fail_length(err, fname, objpath, len, n, group);
    } else if (cls == H5T_STRING) {
        h5_strings p;
        rc = ptrag_h5_read_strings(ds, fname, objpath, &p, err);
        if (rc == 0) rc = factorise(&p, out, fname, err);
        ptrag_h5_strings_free(&p);
    } else if (cls == H5T_ENUM) {
        out->type = PTRAG_COL_BOOL;
        rc = read_enum_bools(ds, fname, objpath, n, &out->values, err);
    } else if (cls == H5T_INTEGER && ptrag_h5_exists(file, old_cats)) {
        H5Dclose(ds);
        return read_categorical(file, fname, objpath, old_cats, n, group, out, err);
    } else if (cls == H5T_INTEGER || cls == H5T_FLOAT) {
        out->type = PTRAG_COL_NUMERIC;
        rc = read_doubles(ds, fname, objpath, n, &out->values, err);
    } else {
        rc = ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: %s: HDF5 type class %d is not a supported column type",
                        fname, objpath, (int)cls);
    }
    H5Dclose(ds);
    return rc;
}

/* anndata >= 0.10 nullable arrays: {values, mask}; masked entries become NaN. */
static int read_nullable(hid_t file, const char *fname, const char *group, const char *objpath,
                         long n, int is_bool, ptrag_column *out, ptrag_error *err) {
    char vpath[600], mpath[600];
    snprintf(vpath, sizeof vpath, "%s/values", objpath);
    snprintf(mpath, sizeof mpath, "%s/mask", objpath);
    out->type = is_bool ? PTRAG_COL_BOOL : PTRAG_COL_NUMERIC;
    hid_t vds, mds = -1;
    int rc = open_ds(file, fname, vpath, &vds, err);
    if (rc) return rc;
    long len = ptrag_h5_len1(vds, fname, vpath, err);
    hid_t vt = H5Dget_type(vds);
    H5T_class_t vcls = H5Tget_class(vt);
    H5Tclose(vt);
    if (len < 0) rc = (int)len;
    else if (len != n) rc = fail_length(err, fname, vpath, len, n, group);
    else if (vcls == H5T_ENUM) rc = read_enum_bools(vds, fname, vpath, n, &out->values, err);
    else rc = read_doubles(vds, fname, vpath, n, &out->values, err);
    if (rc == 0) rc = open_ds(file, fname, mpath, &mds, err);
    if (rc == 0) {
        double *mask = NULL;
        long mlen = ptrag_h5_len1(mds, fname, mpath, err);
        hid_t mt = H5Dget_type(mds);
        H5T_class_t mcls = H5Tget_class(mt);
        H5Tclose(mt);
        if (mlen < 0) rc = (int)mlen;
        else if (mlen != n) rc = fail_length(err, fname, mpath, mlen, n, group);
        else if (mcls == H5T_ENUM) rc = read_enum_bools(mds, fname, mpath, n, &mask, err);
        else rc = read_doubles(mds, fname, mpath, n, &mask, err);
        for (long i = 0; i < n && rc == 0; i++)
            if (mask[i] != 0) out->values[i] = NAN;
        free(mask);
    }
    if (mds >= 0) H5Dclose(mds);
    H5Dclose(vds);
    return rc;
}

static int fail_not_found(const char *fname, const char *objpath, char *const *available,
                          int n_available, ptrag_error *err) {
    char list[700] = "";
    size_t used = 0;
    for (int i = 0; i < n_available && used + 8 < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", available[i]);
        if (w < 0 || (size_t)w >= sizeof list - used) {
            snprintf(list + used, sizeof list - used, ", ...");
            break;
        }
        used += (size_t)w;
    }
    return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: %s: no such column (available: %s)", fname,
                      objpath, n_available ? list : "none");
}

int ptrag_h5ad_read_column(hid_t file, const char *fname, const char *group, const char *name, long n,
                     char *const *available, int n_available, ptrag_column *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    out->n = n;
    char objpath[600];
    snprintf(objpath, sizeof objpath, "/%s/%s", group, name);
    int rc;
    if (!name[0] || strchr(name, '/') || strcmp(name, "__categories") == 0 ||
        !has_name((char **)available, n_available, name)) {
        rc = fail_not_found(fname, objpath, available, n_available, err);
    } else {
        out->name = strdup(name);
        int type = ptrag_h5_obj_type(file, objpath);
        if (!out->name) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", fname);
        } else if (type == H5O_TYPE_DATASET) {
            rc = read_dataset_column(file, fname, group, name, objpath, n, out, err);
        } else if (type == H5O_TYPE_GROUP) {
            hid_t g = H5Gopen2(file, objpath, H5P_DEFAULT);
            char enc[64] = "";
            if (g >= 0) {
                ptrag_h5_attr_string(g, "encoding-type", enc, sizeof enc);
                H5Gclose(g);
            }
            char codes[700], cats[700];
            snprintf(codes, sizeof codes, "%s/codes", objpath);
            snprintf(cats, sizeof cats, "%s/categories", objpath);
            if (strcmp(enc, "categorical") == 0 || (!enc[0] && ptrag_h5_exists(file, codes)))
                rc = read_categorical(file, fname, codes, cats, n, group, out, err);
            else if (strcmp(enc, "nullable-integer") == 0 || strcmp(enc, "nullable-float") == 0)
                rc = read_nullable(file, fname, group, objpath, n, 0, out, err);
            else if (strcmp(enc, "nullable-boolean") == 0)
                rc = read_nullable(file, fname, group, objpath, n, 1, out, err);
            else
                rc = ptrag_fail(err, PTRAG_E_UNSUPPORTED,
                                "%s: %s: column encoding-type '%s' is not supported", fname, objpath,
                                enc[0] ? enc : "(none)");
        } else {
            rc = fail_not_found(fname, objpath, available, n_available, err);
        }
    }
    if (rc) ptrag_column_free(out);
    return rc;
}
