/* libhdf5 helpers for the h5ad tests: edit a valid file into an unusual or a
 * broken one (replace datasets, set elements and attributes, add groups). */
#ifndef PTRAG_TESTS_H5AD_TESTUTIL_H
#define PTRAG_TESTS_H5AD_TESTUTIL_H

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline hid_t tu_open_rw(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
}

/* Creates (replacing any existing) a 1-D or 2-D dataset `ds` of dims[0] x
 * dims[1] (rank 1 when dims[1] < 0) with file type `ftype` from `buf` (memtype). */
static inline int tu_put(const char *path, const char *ds, hid_t ftype, hid_t memtype, const void *buf,
                  long d0, long d1) {
    hid_t f = tu_open_rw(path);
    if (f < 0) return -1;
    if (H5Lexists(f, ds, H5P_DEFAULT) > 0) H5Ldelete(f, ds, H5P_DEFAULT);
    hsize_t dims[2] = {(hsize_t)d0, (hsize_t)(d1 < 0 ? 0 : d1)};
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t s = H5Screate_simple(d1 < 0 ? 1 : 2, dims, NULL);
    hid_t d = H5Dcreate2(f, ds, ftype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && (d0 == 0 || d1 == 0 || H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    H5Pclose(lcpl);
    H5Fclose(f);
    return ok ? 0 : -1;
}

static inline int tu_put_i64(const char *path, const char *ds, hid_t ftype, const int64_t *v, long n) {
    return tu_put(path, ds, ftype, H5T_NATIVE_INT64, v, n, -1);
}

/* Overwrites element `i` of a 1-D numeric dataset. */
static inline int tu_set_elem(const char *path, const char *ds, long i, double value) {
    hid_t f = tu_open_rw(path);
    if (f < 0) return -1;
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    hid_t fs = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t start = (hsize_t)i, one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    int ok = fs >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL) >= 0 &&
             H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, fs, H5P_DEFAULT, &value) >= 0;
    H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (d >= 0) H5Dclose(d);
    H5Fclose(f);
    return ok ? 0 : -1;
}

static inline int tu_delete(const char *path, const char *obj) {
    hid_t f = tu_open_rw(path);
    if (f < 0) return -1;
    int ok = H5Ldelete(f, obj, H5P_DEFAULT) >= 0;
    H5Fclose(f);
    return ok ? 0 : -1;
}

static inline int tu_attr_i64s(const char *path, const char *obj, const char *name, const int64_t *v, int n) {
    hid_t f = tu_open_rw(path);
    if (f < 0) return -1;
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (o >= 0 && H5Aexists(o, name) > 0) H5Adelete(o, name);
    hsize_t dim = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &dim, NULL);
    hid_t a = o >= 0 ? H5Acreate2(o, name, H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, v) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    if (o >= 0) H5Oclose(o);
    H5Fclose(f);
    return ok ? 0 : -1;
}

static inline int tu_attr_str(const char *path, const char *obj, const char *name, const char *value) {
    hid_t f = tu_open_rw(path);
    if (f < 0) return -1;
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
    if (o >= 0 && H5Aexists(o, name) > 0) H5Adelete(o, name);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = o >= 0 ? H5Acreate2(o, name, t, s, H5P_DEFAULT, H5P_DEFAULT) : -1;
    int ok = a >= 0 && H5Awrite(a, t, &value) >= 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    H5Tclose(t);
    if (o >= 0) H5Oclose(o);
    H5Fclose(f);
    return ok ? 0 : -1;
}

static inline int tu_group(const char *path, const char *name) {
    hid_t f = tu_open_rw(path);
    if (f < 0) return -1;
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t g = H5Gcreate2(f, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0) H5Gclose(g);
    H5Pclose(lcpl);
    H5Fclose(f);
    return g >= 0 ? 0 : -1;
}

/* A 1-D vlen UTF-8 string dataset. */
static inline int tu_put_strings(const char *path, const char *ds, const char *const *v, long n) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    int rc = tu_put(path, ds, t, t, v, n, -1);
    H5Tclose(t);
    return rc;
}

static inline int tu_copy(const char *src, const char *dst, long max_bytes) {
    FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
    int ok = a && b;
    char buf[65536];
    long done = 0;
    size_t n;
    while (ok && (max_bytes < 0 || done < max_bytes) && (n = fread(buf, 1, sizeof buf, a)) > 0) {
        if (max_bytes >= 0 && done + (long)n > max_bytes) n = (size_t)(max_bytes - done);
        ok = fwrite(buf, 1, n, b) == n;
        done += (long)n;
    }
    if (a) fclose(a);
    if (b) fclose(b);
    return ok ? 0 : -1;
}

#endif
