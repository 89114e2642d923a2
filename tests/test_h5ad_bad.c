/* Bad .h5ad input: each broken file (built here with the libhdf5 C API from a
 * valid one) gives one error naming the file, the HDF5 object and what was
 * wrong - no crash, no leak. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "h5ad_testutil.h"
#include "ptrag.h"
#include "testlib.h"

enum { NO = 7, NV = 5 };
static const float X0[NO * NV] = {
    0, 1, 0, 0, 2, /* entries 0-1 */
    0, 0, 0, 0, 0, /* */
    3, 0, 0, 4, 0, /* entries 2-3 */
    0, 0, 0, 0, 7, /* entry 4 */
    1, 1, 1, 1, 1, /* entries 5-9 */
    0, 5, 0, 0, 0, /* entry 10 */
    6, 0, 0, 0, 8, /* entries 11-12 */
};
static const int64_t INDPTR[NO + 1] = {0, 2, 2, 4, 5, 10, 11, 13};

/* A valid CSR (or dense) file named after the case, to be broken by the caller. */
static const char *base(const char *name, int as_csr) {
    static char path[8][4096];
    static int next;
    char *p = path[next++ & 7];
    char file[256];
    snprintf(file, sizeof file, "test_h5ad_bad_%s.h5ad", name);
    snprintf(p, 4096, "%s", tl_tmp(file));
    const char *ct[NO] = {"x", "y", "z", "x", "y", "z", "x"};
    ptrag_h5ad_writer *w;
    ptrag_error err;
    int rc = ptrag_h5ad_writer_new(p, NO, NV, &w, &err);
    if (!rc) rc = ptrag_h5ad_writer_set_x(w, X0, as_csr, &err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_categorical(w, "ct", ct, &err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, &err);
    ptrag_h5ad_writer_free(w);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return p;
}

/* Opening fails with `code`; the message names the file and holds each part. */
static void expect_open_error(const char *path, const char *src, int code, const char *part1,
                              const char *part2) {
    ptrag_h5ad *h = NULL;
    ptrag_error err;
    ptrag_error_clear(&err);
    int rc = ptrag_h5ad_open(path, src, &h, &err);
    CHECK_INT(rc, code);
    CHECK(h == NULL);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, part1);
    if (part2) CHECK_CONTAINS(err.msg, part2);
    CHECK(strchr(err.msg, '\n') == NULL);
    if (h) ptrag_h5ad_close(h);
}

static void test_missing_file(void) {
    const char *p = tl_tmp("test_h5ad_bad_does_not_exist.h5ad");
    remove(p);
    expect_open_error(p, NULL, PTRAG_E_IO, ": cannot open: ", "No such file");
}

static void test_not_hdf5(void) {
    const char *p = tl_tmp("test_h5ad_bad_text.h5ad");
    FILE *f = fopen(p, "w");
    fputs("gene,cell\nA,1\n", f);
    fclose(f);
    expect_open_error(p, NULL, PTRAG_E_FORMAT, ": not an HDF5 file", NULL);
}

static void test_physically_truncated_file(void) {
    const char *ok = base("whole", 1);
    const char *p = tl_tmp("test_h5ad_bad_cut.h5ad");
    CHECK(tu_copy(ok, p, 3000) == 0);
    expect_open_error(p, NULL, PTRAG_E_FORMAT, "cannot open as HDF5", "(HDF5: truncated file");
}

/* A host process's own HDF5 error handler (h5py installs one) is its own
 * again after a failed open and after a read: ptrag's silent handler lives
 * only while a ptrag call runs. The HDF5 reason still reaches the message. */
static int host_calls;
static herr_t host_handler(hid_t stack, void *data) {
    (void)stack, (void)data;
    host_calls++;
    return 0;
}

static void test_host_error_handler_kept(void) {
    int tag = 7;
    H5Eset_auto2(H5E_DEFAULT, host_handler, &tag);
    const char *ok = base("whole", 1);
    const char *p = tl_tmp("test_h5ad_bad_cut2.h5ad");
    CHECK(tu_copy(ok, p, 3000) == 0);
    expect_open_error(p, NULL, PTRAG_E_FORMAT, "cannot open as HDF5", "(HDF5: truncated file");
    H5E_auto2_t func = NULL;
    void *data = NULL;
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    CHECK_MSG(func == host_handler && data == &tag, "ptrag_h5ad_open left its own HDF5 error handler installed");
    CHECK_INT(host_calls, 0); /* HDF5's failures inside ptrag went to ptrag's handler */
    ptrag_h5ad *h = NULL;
    ptrag_error err;
    CHECK_INT(ptrag_h5ad_open(ok, NULL, &h, &err), 0);
    ptrag_column col;
    CHECK(ptrag_h5ad_read_obs(h, "no_such_column", &col, &err) != 0);
    ptrag_h5ad_close(h);
    H5Eget_auto2(H5E_DEFAULT, &func, &data);
    CHECK(func == host_handler && data == &tag);
    CHECK_INT(host_calls, 0);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static void test_hdf5_but_not_anndata(void) {
    const char *p = tl_tmp("test_h5ad_bad_plain.h5");
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(f >= 0);
    H5Fclose(f);
    int64_t v[3] = {1, 2, 3};
    CHECK(tu_put_i64(p, "matrix", H5T_STD_I64LE, v, 3) == 0);
    expect_open_error(p, NULL, PTRAG_E_FORMAT, "not an AnnData file: /obs missing", NULL);

    const char *q = base("rootenc", 1);
    CHECK(tu_attr_str(q, "/", "encoding-type", "mudata") == 0);
    expect_open_error(q, NULL, PTRAG_E_FORMAT, "/: encoding-type is 'mudata', expected 'anndata'", NULL);

    const char *r = base("novar", 1);
    CHECK(tu_delete(r, "var") == 0);
    expect_open_error(r, NULL, PTRAG_E_FORMAT, "not an AnnData file: /var missing", NULL);
}

static void test_missing_column_and_keys(void) {
    const char *p = base("keys", 1);
    ptrag_h5ad *h;
    ptrag_error err;
    CHECK(ptrag_h5ad_open(p, NULL, &h, &err) == 0);
    if (h) {
        ptrag_column c;
        CHECK_INT(ptrag_h5ad_read_obs(h, "perturbation", &c, &err), PTRAG_E_NOTFOUND);
        CHECK_CONTAINS(err.msg, p);
        CHECK_CONTAINS(err.msg, "/obs/perturbation: no such column (available: ct)");
        CHECK(c.codes == NULL && c.categories == NULL);
        CHECK_INT(ptrag_h5ad_read_var(h, "gene_name", &c, &err), PTRAG_E_NOTFOUND);
        CHECK_CONTAINS(err.msg, "/var/gene_name: no such column (available: none)");
        ptrag_h5ad_close(h);
    }
    expect_open_error(p, "obsm/X_umap", PTRAG_E_NOTFOUND, "/obsm/X_umap: expression source not found",
                      "(available: X)");
    expect_open_error(p, "layers/", PTRAG_E_ARG, "expression source 'layers/'", NULL);

    const char *q = base("noindptr", 1);
    CHECK(tu_delete(q, "X/indptr") == 0);
    expect_open_error(q, NULL, PTRAG_E_FORMAT, "/X/indptr: missing", NULL);

    const char *r = base("noindex", 1);
    CHECK(tu_delete(r, "obs/_index") == 0);
    expect_open_error(r, NULL, PTRAG_E_FORMAT, "/obs/_index: index dataset missing", NULL);

    const char *s = base("noshape", 1);
    hid_t f = tu_open_rw(s);
    hid_t g = H5Gopen2(f, "X", H5P_DEFAULT);
    H5Adelete(g, "shape");
    H5Gclose(g);
    H5Fclose(f);
    expect_open_error(s, NULL, PTRAG_E_FORMAT, "/X: missing or bad 'shape' attribute", NULL);

    const char *t = base("noenc", 1);
    CHECK(tu_attr_str(t, "X", "encoding-type", "coo_matrix") == 0);
    expect_open_error(t, NULL, PTRAG_E_UNSUPPORTED, "/X: encoding-type 'coo_matrix' is not an expression matrix", NULL);
}

static void test_indptr_not_monotone(void) {
    const char *p = base("monotone", 1);
    int64_t bad[NO + 1];
    memcpy(bad, INDPTR, sizeof bad);
    bad[4] = 3; /* row 3 now ends before it starts */
    CHECK(tu_put_i64(p, "X/indptr", H5T_STD_I32LE, bad, NO + 1) == 0);
    expect_open_error(p, NULL, PTRAG_E_FORMAT, "/X/indptr: not monotone non-decreasing at row 3", NULL);

    const char *q = base("indptr0", 1);
    memcpy(bad, INDPTR, sizeof bad);
    bad[0] = 1;
    CHECK(tu_put_i64(q, "X/indptr", H5T_STD_I64LE, bad, NO + 1) == 0);
    expect_open_error(q, NULL, PTRAG_E_FORMAT, "/X/indptr: starts at 1, expected 0", NULL);

    const char *r = base("indptrend", 1);
    memcpy(bad, INDPTR, sizeof bad);
    bad[NO] = 12;
    CHECK(tu_put_i64(r, "X/indptr", H5T_STD_I64LE, bad, NO + 1) == 0);
    expect_open_error(r, NULL, PTRAG_E_FORMAT, "/X/indptr: ends at 12 but /X/data has 13 entries", NULL);
}

static void test_indices_out_of_range(void) {
    const char *p = base("indices", 1);
    CHECK(tu_set_elem(p, "X/indices", 4, 9) == 0); /* row 3's only entry */
    ptrag_h5ad *h;
    ptrag_error err;
    CHECK(ptrag_h5ad_open(p, NULL, &h, &err) == 0);
    if (!h) return;
    float out[3 * NV];
    long ok_rows[2] = {0, 6};
    CHECK(ptrag_h5ad_read_rows(h, ok_rows, 2, NULL, 0, out, &err) == 0); /* untouched rows read */
    long rows[3] = {0, 3, 6};
    CHECK_INT(ptrag_h5ad_read_rows(h, rows, 3, NULL, 0, out, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, p);
    CHECK_CONTAINS(err.msg, "/X/indices: value 9 at entry 4 (row 3) is outside [0, 5)");
    CHECK_INT(ptrag_h5ad_read_block(h, 0, NO, (float[NO * NV]){0}, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "(row 3)");
    ptrag_h5ad_close(h);

    const char *q = base("negindex", 1);
    CHECK(tu_set_elem(q, "X/indices", 11, -1) == 0);
    CHECK(ptrag_h5ad_open(q, NULL, &h, &err) == 0);
    if (!h) return;
    long r = 6;
    long cols[1] = {4};
    CHECK_INT(ptrag_h5ad_read_rows(h, &r, 1, cols, 1, out, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "/X/indices: value -1 at entry 11 (row 6) is outside [0, 5)");
    ptrag_h5ad_close(h);
}

static void test_truncated_datasets(void) {
    float d[13] = {1, 2, 3, 4, 7, 1, 1, 1, 1, 1, 5, 6, 8};
    int64_t idx[13] = {1, 4, 0, 3, 4, 0, 1, 2, 3, 4, 1, 0, 4};
    const char *p = base("shortboth", 1);
    CHECK(tu_put(p, "X/data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, d, 11, -1) == 0);
    CHECK(tu_put_i64(p, "X/indices", H5T_STD_I32LE, idx, 11) == 0);
    expect_open_error(p, NULL, PTRAG_E_FORMAT, "/X/data: has 11 entries but /X/indptr ends at 13: dataset truncated", NULL);

    const char *q = base("shortdata", 1);
    CHECK(tu_put(q, "X/data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, d, 12, -1) == 0);
    expect_open_error(q, NULL, PTRAG_E_FORMAT, "/X/data: has 12 entries but /X/indices has 13: dataset truncated", NULL);

    const char *r = base("shortindptr", 1);
    CHECK(tu_put_i64(r, "X/indptr", H5T_STD_I32LE, INDPTR, 6) == 0);
    expect_open_error(r, NULL, PTRAG_E_FORMAT, "/X/indptr: has 6 entries, expected 8", "dataset truncated");

    const char *s = base("shortobs", 1);
    const char *names[6] = {"a", "b", "c", "d", "e", "f"};
    CHECK(tu_put_strings(s, "obs/_index", names, 6) == 0);
    expect_open_error(s, NULL, PTRAG_E_FORMAT, "/X: has 7 rows but /obs has 6 cells", NULL);

    const char *t = base("shortvar", 0);
    CHECK(tu_put_strings(t, "var/_index", names, 4) == 0);
    expect_open_error(t, NULL, PTRAG_E_FORMAT, "/X: has 5 columns but /var has 4 genes", NULL);

    const char *u = base("shortdense", 0);
    float x[6 * NV] = {0};
    CHECK(tu_put(u, "X", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, x, 6, NV) == 0);
    expect_open_error(u, NULL, PTRAG_E_FORMAT, "/X: has 6 rows but /obs has 7 cells", NULL);

    const char *v = base("shortcodes", 1);
    int64_t codes[6] = {0, 1, 2, 0, 1, 2};
    CHECK(tu_put_i64(v, "obs/ct/codes", H5T_STD_I8LE, codes, 6) == 0);
    ptrag_h5ad *h;
    ptrag_error err;
    CHECK(ptrag_h5ad_open(v, NULL, &h, &err) == 0);
    if (h) {
        ptrag_column c;
        CHECK_INT(ptrag_h5ad_read_obs(h, "ct", &c, &err), PTRAG_E_FORMAT);
        CHECK_CONTAINS(err.msg, v);
        CHECK_CONTAINS(err.msg, "/obs/ct/codes: has 6 entries, expected 7 (n_obs): dataset truncated");
        ptrag_h5ad_close(h);
    }

    const char *w = base("shape", 1);
    int64_t shape[2] = {7, 6};
    CHECK(tu_attr_i64s(w, "X", "shape", shape, 2) == 0);
    expect_open_error(w, NULL, PTRAG_E_FORMAT, "/X: has 6 columns but /var has 5 genes", NULL);
    const char *w2 = base("shape2", 1);
    int64_t shape2[2] = {8, 5};
    CHECK(tu_attr_i64s(w2, "X", "shape", shape2, 2) == 0);
    expect_open_error(w2, NULL, PTRAG_E_FORMAT, "/X/indptr: has 8 entries, expected 9", NULL);
}

static void test_categorical_code_beyond_categories(void) {
    const char *p = base("codes", 1);
    CHECK(tu_set_elem(p, "obs/ct/codes", 3, 3) == 0);
    ptrag_h5ad *h;
    ptrag_error err;
    CHECK(ptrag_h5ad_open(p, NULL, &h, &err) == 0);
    if (!h) return;
    ptrag_column c;
    CHECK_INT(ptrag_h5ad_read_obs(h, "ct", &c, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, p);
    CHECK_CONTAINS(err.msg, "/obs/ct/codes: code 3 at row 3 is outside the 3 categories of /obs/ct/categories");
    CHECK(c.codes == NULL && c.categories == NULL && c.name == NULL);
    ptrag_h5ad_close(h);

    const char *q = base("negcode", 1);
    CHECK(tu_set_elem(q, "obs/ct/codes", 5, -2) == 0);
    CHECK(ptrag_h5ad_open(q, NULL, &h, &err) == 0);
    if (!h) return;
    CHECK_INT(ptrag_h5ad_read_obs(h, "ct", &c, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "/obs/ct/codes: code -2 at row 5 is outside");
    ptrag_h5ad_close(h);

    /* The CLI reports it as one line and a non-zero exit. */
    char cmd[8192], out[4096];
    snprintf(cmd, sizeof cmd, "%s inspect %s 2>&1", PTRAG_CLI, p);
    FILE *pp = popen(cmd, "r");
    size_t got = pp ? fread(out, 1, sizeof out - 1, pp) : 0;
    out[got] = '\0';
    int st = pp ? pclose(pp) : -1;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK_CONTAINS(out, "ptrag inspect: error: ");
    CHECK_CONTAINS(out, "/obs/ct/codes: code 3 at row 3");
}

static void test_wrong_types(void) {
    const char *p = base("strdata", 1);
    const char *s[13] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m"};
    CHECK(tu_put_strings(p, "X/data", s, 13) == 0);
    expect_open_error(p, NULL, PTRAG_E_FORMAT, "/X/data: expected numbers", NULL);
    const char *q = base("x3d", 0);
    float x[2 * 2 * 2] = {0};
    hsize_t dims[3] = {2, 2, 2};
    hid_t f = tu_open_rw(q);
    H5Ldelete(f, "X", H5P_DEFAULT);
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t d = H5Dcreate2(f, "X", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
    expect_open_error(q, NULL, PTRAG_E_FORMAT, "/X: expected a 2-D matrix, found 3 dimensions", NULL);
}

int main(void) {
    RUN(test_missing_file);
    RUN(test_not_hdf5);
    RUN(test_physically_truncated_file);
    RUN(test_host_error_handler_kept);
    RUN(test_hdf5_but_not_anndata);
    RUN(test_missing_column_and_keys);
    RUN(test_indptr_not_monotone);
    RUN(test_indices_out_of_range);
    RUN(test_truncated_datasets);
    RUN(test_categorical_code_beyond_categories);
    RUN(test_wrong_types);
    return TEST_SUMMARY();
}
