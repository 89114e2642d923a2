/* Small libhdf5 helpers for the .h5ad code: silenced errors with HDF5's own
 * reason kept for our messages, attributes, 1-D ranges and string arrays. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/h5ad_internal.h"

/* Strings are read this many at a time so a 600k-row index never needs one
 * huge temporary array of HDF5-allocated pointers. */
#define STRING_BLOCK 65536L

void ptrag_h5_strings_free(h5_strings *p) {
    if (!p) return;
    free(p->s);
    free(p->buf);
    p->s = NULL;
    p->buf = NULL;
    p->n = 0;
}

static herr_t first_reason(unsigned n, const H5E_error2_t *e, void *data) {
    char *buf = data;
    /* Upward walk: entry 0 is where HDF5 first detected the problem. */
    if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
    return 0;
}

/* HDF5's reason for the last failed call on this thread. Captured by the
 * automatic error handler because any later API call (even a close) clears
 * HDF5's error stack. */
static _Thread_local char last_reason[256];

static herr_t capture_reason(hid_t stack, void *data) {
    (void)data;
    last_reason[0] = '\0';
    H5Ewalk2(stack, H5E_WALK_UPWARD, first_reason, last_reason);
    return 0;
}

h5_quiet ptrag_h5_quiet_begin(void) {
    h5_quiet q = {NULL, NULL};
    H5Eget_auto2(H5E_DEFAULT, &q.func, &q.data);
    H5Eset_auto2(H5E_DEFAULT, capture_reason, NULL);
    return q;
}

void ptrag_h5_quiet_end(h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->func, q->data); }

const char *ptrag_h5_reason(char *buf, size_t n) {
    if (last_reason[0]) {
        snprintf(buf, n, " (HDF5: %s)", last_reason);
        /* Error messages are one line; HDF5's own may hold newlines. */
        for (char *p = buf; *p; p++)
            if (*p == '\n' || *p == '\r') *p = ' ';
    } else if (n)
        buf[0] = '\0';
    last_reason[0] = '\0';
    return buf;
}

int ptrag_h5_exists(hid_t loc, const char *path) {
    char part[1024];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof part) return 0;
    /* H5Lexists fails (not just 0) when an intermediate group is missing, so
     * test each prefix in turn. */
    for (size_t i = 1; i <= len; i++) {
        if (path[i] == '/' || path[i] == '\0') {
            memcpy(part, path, i);
            part[i] = '\0';
            if (H5Lexists(loc, part, H5P_DEFAULT) <= 0) return 0;
        }
    }
    return H5Oexists_by_name(loc, path, H5P_DEFAULT) > 0;
}

int ptrag_h5_obj_type(hid_t loc, const char *path) {
    if (!ptrag_h5_exists(loc, path)) return -1;
    H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
    if (H5Oget_info_by_name3(loc, path, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#else
    if (H5Oget_info_by_name2(loc, path, &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) return -1;
#endif
    return (int)info.type;
}

static void reclaim(hid_t type, hid_t space, void *buf) {
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(type, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, buf);
#endif
}

/* Copies a fixed-length HDF5 string of `size` bytes, honouring its padding. */
static size_t fixed_len(const char *s, size_t size, H5T_str_t pad) {
    size_t len = 0;
    while (len < size && s[len] != '\0') len++;
    if (pad == H5T_STR_SPACEPAD)
        while (len > 0 && s[len - 1] == ' ') len--;
    return len;
}

/* Reads all string elements of an attribute: calls back per element. */
typedef int (*string_cb)(void *ctx, long i, const char *s, size_t len);

static int attr_foreach_string(hid_t attr, string_cb cb, void *ctx) {
    hid_t ftype = H5Aget_type(attr), space = H5Aget_space(attr), mtype = -1;
    int rc = -1;
    if (ftype < 0 || space < 0) goto done;
    hssize_t npts = H5Sget_simple_extent_npoints(space);
    if (npts < 0) goto done;
    if (H5Tis_variable_str(ftype) > 0) {
        mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, H5T_VARIABLE);
        H5Tset_cset(mtype, H5Tget_cset(ftype));
        char **v = calloc((size_t)npts + 1, sizeof *v);
        if (!v) goto done;
        if (H5Aread(attr, mtype, v) >= 0) {
            rc = 0;
            for (hssize_t i = 0; i < npts && rc == 0; i++)
                rc = cb(ctx, (long)i, v[i] ? v[i] : "", v[i] ? strlen(v[i]) : 0);
            reclaim(mtype, space, v);
        }
        free(v);
    } else {
        size_t size = H5Tget_size(ftype);
        H5T_str_t pad = H5Tget_strpad(ftype);
        mtype = H5Tcopy(H5T_C_S1);
        H5Tset_size(mtype, size);
        H5Tset_strpad(mtype, pad == H5T_STR_ERROR ? H5T_STR_NULLPAD : pad);
        char *b = calloc((size_t)npts * size + 1, 1);
        if (!b) goto done;
        if (H5Aread(attr, mtype, b) >= 0) {
            rc = 0;
            for (hssize_t i = 0; i < npts && rc == 0; i++) {
                const char *s = b + (size_t)i * size;
                rc = cb(ctx, (long)i, s, fixed_len(s, size, pad));
            }
        }
        free(b);
    }
done:
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (space >= 0) H5Sclose(space);
    return rc;
}

typedef struct {
    char *buf;
    size_t n;
} first_ctx;

static int keep_first(void *ctx, long i, const char *s, size_t len) {
    first_ctx *c = ctx;
    if (i == 0 && c->n) snprintf(c->buf, c->n, "%.*s", (int)len, s);
    return 0;
}

int ptrag_h5_attr_string(hid_t obj, const char *name, char *buf, size_t n) {
    if (n) buf[0] = '\0';
    if (H5Aexists(obj, name) <= 0) return 0;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return 0;
    hid_t t = H5Aget_type(attr);
    int is_str = t >= 0 && H5Tget_class(t) == H5T_STRING;
    if (t >= 0) H5Tclose(t);
    int ok = 0;
    if (is_str) {
        first_ctx c = {buf, n};
        ok = attr_foreach_string(attr, keep_first, &c) == 0;
    }
    H5Aclose(attr);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

/* A growing pool: offsets first (the buffer moves while it grows). */
typedef struct {
    long n, cap;
    size_t *off;
    char *buf;
    size_t used, bcap;
} pool_builder;

static int pool_add(void *ctx, long i, const char *s, size_t len) {
    (void)i;
    pool_builder *p = ctx;
    if (p->n == p->cap) {
        long nc = p->cap ? 2 * p->cap : 64;
        size_t *no = realloc(p->off, (size_t)nc * sizeof *no);
        if (!no) return -1;
        p->off = no;
        p->cap = nc;
    }
    if (p->used + len + 1 > p->bcap) {
        size_t nb = p->bcap ? 2 * p->bcap : 4096;
        while (nb < p->used + len + 1) nb *= 2;
        char *b = realloc(p->buf, nb);
        if (!b) return -1;
        p->buf = b;
        p->bcap = nb;
    }
    memcpy(p->buf + p->used, s, len);
    p->buf[p->used + len] = '\0';
    p->off[p->n++] = p->used;
    p->used += len + 1;
    return 0;
}

static int pool_finish(pool_builder *p, h5_strings *out) {
    out->n = p->n;
    out->s = malloc(((size_t)p->n + 1) * sizeof *out->s);
    if (!p->buf) p->buf = calloc(1, 1);
    if (!out->s || !p->buf) {
        free(out->s);
        free(p->off);
        free(p->buf);
        out->s = NULL;
        out->buf = NULL;
        out->n = 0;
        return -1;
    }
    for (long i = 0; i < p->n; i++) out->s[i] = p->buf + p->off[i];
    out->buf = p->buf;
    free(p->off);
    return 0;
}

int ptrag_h5_attr_strings(hid_t obj, const char *name, h5_strings *out, const char *file,
                    const char *objpath, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    pool_builder pb = {0};
    if (H5Aexists(obj, name) > 0) {
        hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
        if (attr < 0) {
            char why[300];
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot open attribute '%s'%s", file,
                              objpath, name, ptrag_h5_reason(why, sizeof why));
        }
        hid_t t = H5Aget_type(attr), sp = H5Aget_space(attr);
        H5T_class_t cls = H5Tget_class(t);
        hssize_t npts = H5Sget_simple_extent_npoints(sp);
        H5Tclose(t);
        H5Sclose(sp);
        int rc = 0;
        if (cls == H5T_STRING) {
            rc = attr_foreach_string(attr, pool_add, &pb);
        } else if (npts != 0) {
            H5Aclose(attr);
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: attribute '%s' should hold strings",
                              file, objpath, name);
        }
        H5Aclose(attr);
        if (rc) {
            free(pb.off);
            free(pb.buf);
            char why[300];
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot read attribute '%s'%s", file,
                              objpath, name, ptrag_h5_reason(why, sizeof why));
        }
    }
    if (pool_finish(&pb, out)) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", file);
    return 0;
}

int ptrag_h5_attr_int64s(hid_t obj, const char *name, int64_t *vals, int max) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    if (attr < 0) return -1;
    hid_t t = H5Aget_type(attr), sp = H5Aget_space(attr);
    int n = -1;
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    if (H5Tget_class(t) == H5T_INTEGER && npts >= 0 && npts <= max &&
        H5Aread(attr, H5T_NATIVE_INT64, vals) >= 0)
        n = (int)npts;
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(attr);
    H5Eclear2(H5E_DEFAULT);
    return n;
}

long ptrag_h5_len1(hid_t ds, const char *file, const char *objpath, ptrag_error *err) {
    hid_t sp = H5Dget_space(ds);
    if (sp < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot read dataspace%s", file, objpath,
                          ptrag_h5_reason(why, sizeof why));
    }
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[H5S_MAX_RANK];
    if (nd >= 0) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5Sclose(sp);
    if (nd != 1)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: expected a 1-D dataset, found %d dimensions",
                          file, objpath, nd);
    return (long)dims[0];
}

int ptrag_h5_read_range(hid_t ds, hid_t memtype, long lo, long n, void *buf, const char *file,
                  const char *objpath, ptrag_error *err) {
    if (n <= 0) return 0;
    hid_t fs = H5Dget_space(ds);
    hsize_t start = (hsize_t)lo, count = (hsize_t)n;
    hid_t ms = H5Screate_simple(1, &count, NULL);
    herr_t st = -1;
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0)
        st = H5Dread(ds, memtype, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (st < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot read elements %ld..%ld%s", file,
                          objpath, lo, lo + n - 1, ptrag_h5_reason(why, sizeof why));
    }
    return 0;
}

/* Shortest text that reads back as the same double, as Python prints it. */
static void format_double(double v, char *buf, size_t n) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static int read_numeric_as_text(hid_t ds, H5T_class_t cls, long len, pool_builder *pb,
                                const char *file, const char *objpath, ptrag_error *err) {
    for (long lo = 0; lo < len; lo += STRING_BLOCK) {
        long cnt = len - lo < STRING_BLOCK ? len - lo : STRING_BLOCK;
        void *v = malloc((size_t)cnt * 8);
        if (!v) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", file);
        int rc = ptrag_h5_read_range(ds, cls == H5T_INTEGER ? H5T_NATIVE_INT64 : H5T_NATIVE_DOUBLE, lo,
                               cnt, v, file, objpath, err);
        for (long i = 0; i < cnt && rc == 0; i++) {
            char t[64];
            if (cls == H5T_INTEGER)
                snprintf(t, sizeof t, "%" PRId64, ((int64_t *)v)[i]);
            else
                format_double(((double *)v)[i], t, sizeof t);
            if (pool_add(pb, 0, t, strlen(t))) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", file);
        }
        free(v);
        if (rc) return rc;
    }
    return 0;
}

static int read_string_blocks(hid_t ds, hid_t ftype, long len, pool_builder *pb, const char *file,
                              const char *objpath, ptrag_error *err) {
    int vlen = H5Tis_variable_str(ftype) > 0;
    size_t size = H5Tget_size(ftype);
    H5T_str_t pad = H5Tget_strpad(ftype);
    hid_t mtype = H5Tcopy(H5T_C_S1);
    if (vlen) {
        H5Tset_size(mtype, H5T_VARIABLE);
    } else {
        H5Tset_size(mtype, size);
        H5Tset_strpad(mtype, pad == H5T_STR_ERROR ? H5T_STR_NULLPAD : pad);
    }
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    int rc = 0;
    for (long lo = 0; lo < len && rc == 0; lo += STRING_BLOCK) {
        long cnt = len - lo < STRING_BLOCK ? len - lo : STRING_BLOCK;
        void *b = calloc((size_t)cnt, vlen ? sizeof(char *) : size);
        if (!b) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", file);
            break;
        }
        rc = ptrag_h5_read_range(ds, mtype, lo, cnt, b, file, objpath, err);
        if (rc == 0) {
            for (long i = 0; i < cnt && rc == 0; i++) {
                const char *s;
                size_t l;
                if (vlen) {
                    s = ((char **)b)[i];
                    if (!s) s = "";
                    l = strlen(s);
                } else {
                    s = (char *)b + (size_t)i * size;
                    l = fixed_len(s, size, pad);
                }
                if (pool_add(pb, 0, s, l)) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", file);
            }
            if (vlen) {
                hsize_t c = (hsize_t)cnt;
                hid_t ms = H5Screate_simple(1, &c, NULL);
                reclaim(mtype, ms, b);
                H5Sclose(ms);
            }
        }
        free(b);
    }
    H5Tclose(mtype);
    return rc;
}

int ptrag_h5_read_strings(hid_t ds, const char *file, const char *objpath, h5_strings *out,
                    ptrag_error *err) {
    memset(out, 0, sizeof *out);
    long len = ptrag_h5_len1(ds, file, objpath, err);
    if (len < 0) return (int)len;
    hid_t ftype = H5Dget_type(ds);
    if (ftype < 0) {
        char why[300];
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: cannot read datatype%s", file, objpath,
                          ptrag_h5_reason(why, sizeof why));
    }
    H5T_class_t cls = H5Tget_class(ftype);
    pool_builder pb = {0};
    int rc;
    if (cls == H5T_STRING)
        rc = read_string_blocks(ds, ftype, len, &pb, file, objpath, err);
    else if (cls == H5T_INTEGER || cls == H5T_FLOAT)
        rc = read_numeric_as_text(ds, cls, len, &pb, file, objpath, err);
    else
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: %s: expected strings, found HDF5 type class %d",
                        file, objpath, (int)cls);
    H5Tclose(ftype);
    if (rc) {
        free(pb.off);
        free(pb.buf);
        return rc;
    }
    if (pool_finish(&pb, out)) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", file);
    return 0;
}

uint64_t ptrag_h5ad_hash_str(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}
