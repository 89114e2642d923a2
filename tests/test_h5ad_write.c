/* Writing .h5ad files and reading them back: dense and CSR X, categorical,
 * string and numeric obs columns, names; other layouts the reader accepts
 * (CSC, layers, obsm, old-style categoricals, fixed-length strings, nullable
 * columns); python3-anndata 0.8 opening our files without warnings; and the
 * `ptrag inspect` command on them. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h5ad_testutil.h"
#include "io/h5ad_internal.h"
#include "ptrag.h"
#include "testlib.h"

enum { NO = 7, NV = 5 };
static const float X0[NO * NV] = {
    0, 1, 0, 0, 2.5f,       /* */
    0, 0, 0, 0, 0,          /* an empty row */
    3, 0, 0, -1, 0,         /* */
    0, 0, 0, 0, 7,          /* */
    1, 1, 1, 1, 1,          /* a full row */
    0, 0.125f, 0, 0, 0,     /* */
    1e6f, 0, 0, 0, 1e-7f,   /* */
};
static const char *const OBS[NO] = {"cell0", "cell1", "cell2", "cell3", "cell4", "cell5", "cell6"};
static const char *const VAR[NV] = {"GATA1", "MYC", "HBB", "CPQ", "RIPK2"};
/* Unicode on purpose: strings are UTF-8. */
static const char *const CT[NO] = {"b", "a", "K562-\xce\xb2", "a", "b", "b", "a"};
static const char *const GUIDE[NO] = {"g1", "g2", "g1", "", "g3", "g2", "g1"};
static const double UMI[NO] = {1.5, 2, 3, NAN, -4, 1e10, 0};

static int write_small(const char *path, int as_csr) {
    ptrag_h5ad_writer *w;
    ptrag_error err;
    int rc = ptrag_h5ad_writer_new(path, NO, NV, &w, &err);
    if (rc == 0) rc = ptrag_h5ad_writer_set_x(w, X0, as_csr, &err);
    if (rc == 0) rc = ptrag_h5ad_writer_set_obs_names(w, OBS, &err);
    if (rc == 0) rc = ptrag_h5ad_writer_set_var_names(w, VAR, &err);
    if (rc == 0) rc = ptrag_h5ad_writer_add_obs_categorical(w, "ct", CT, &err);
    if (rc == 0) rc = ptrag_h5ad_writer_add_obs_strings(w, "guide", GUIDE, &err);
    if (rc == 0) rc = ptrag_h5ad_writer_add_obs_numeric(w, "umi", UMI, &err);
    if (rc == 0) rc = ptrag_h5ad_writer_commit(w, &err);
    if (rc) fprintf(stderr, "  write_small: %s\n", err.msg);
    ptrag_h5ad_writer_free(w);
    return rc;
}

static void check_small(const char *path, ptrag_storage storage) {
    ptrag_h5ad *h;
    ptrag_error err;
    int rc = ptrag_h5ad_open(path, NULL, &h, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK_INT(ptrag_h5ad_n_obs(h), NO);
    CHECK_INT(ptrag_h5ad_n_vars(h), NV);
    CHECK_INT(ptrag_h5ad_x_storage(h), storage);
    long nz = 0;
    for (int k = 0; k < NO * NV; k++) nz += X0[k] != 0;
    CHECK_INT(ptrag_h5ad_x_nnz(h), storage == PTRAG_STORAGE_DENSE ? NO * NV : nz);
    for (int i = 0; i < NO; i++) CHECK_STR(ptrag_h5ad_obs_name(h, i), OBS[i]);
    for (int j = 0; j < NV; j++) CHECK_STR(ptrag_h5ad_var_name(h, j), VAR[j]);

    float all[NO * NV];
    CHECK(ptrag_h5ad_read_block(h, 0, NO, all, &err) == 0);
    CHECK(memcmp(all, X0, sizeof all) == 0);
    /* Unsorted rows with a repeat; columns reordered with a repeat. */
    long rows[5] = {6, 1, 4, 6, 0};
    long cols[4] = {4, 0, 4, 1};
    float sub[5 * 4];
    CHECK(ptrag_h5ad_read_rows(h, rows, 5, cols, 4, sub, &err) == 0);
    int bad = 0;
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 4; k++) bad += sub[i * 4 + k] != X0[rows[i] * NV + cols[k]];
    CHECK_INT(bad, 0);

    const char *const *names;
    int n;
    ptrag_h5ad_obs_columns(h, &names, &n);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(names[0], "ct");
        CHECK_STR(names[1], "guide");
        CHECK_STR(names[2], "umi");
    }
    ptrag_column c;
    CHECK(ptrag_h5ad_read_obs(h, "ct", &c, &err) == 0);
    CHECK_INT(c.type, PTRAG_COL_CATEGORICAL);
    CHECK_INT(c.n_categories, 3);
    if (c.n_categories == 3) { /* sorted, as pandas does */
        CHECK_STR(c.categories[0], "K562-\xce\xb2");
        CHECK_STR(c.categories[1], "a");
        CHECK_STR(c.categories[2], "b");
    }
    for (int i = 0; i < NO; i++) CHECK_STR(ptrag_column_label(&c, i), CT[i]);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "guide", &c, &err) == 0);
    CHECK_INT(c.type, PTRAG_COL_STRING);
    CHECK_INT(c.n_categories, 4); /* g1 g2 "" g3, in order of first appearance */
    if (c.n_categories == 4) CHECK_STR(c.categories[2], "");
    for (int i = 0; i < NO; i++) CHECK_STR(ptrag_column_label(&c, i), GUIDE[i]);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "umi", &c, &err) == 0);
    CHECK_INT(c.type, PTRAG_COL_NUMERIC);
    for (int i = 0; i < NO; i++) CHECK(c.values[i] == UMI[i] || (isnan(UMI[i]) && isnan(c.values[i])));
    ptrag_column_free(&c);
    ptrag_h5ad_close(h);
}

static void test_roundtrip_dense_and_csr(void) {
    const char *d = tl_tmp("test_h5ad_write_dense.h5ad");
    const char *s = tl_tmp("test_h5ad_write_csr.h5ad");
    CHECK(write_small(d, 0) == 0);
    CHECK(write_small(s, 1) == 0);
    check_small(d, PTRAG_STORAGE_DENSE);
    check_small(s, PTRAG_STORAGE_CSR);
}

/* A bigger random CSR matrix read back through random row lists and blocks,
 * with tiny buffers so long runs, gaps and rows larger than the buffer take
 * the piecewise paths. */
static void test_random_access_matches_source(void) {
    const long n = 2500, m = 300;
    float *x = calloc((size_t)(n * m), sizeof *x);
    uint64_t s = 99;
    for (long k = 0; k < n * m; k++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        if ((s >> 40) % 100 < 6) x[k] = (float)((s >> 20) % 1000) / 8.0f + 0.125f;
    }
    for (long j = 0; j < m; j++) x[17 * m + j] = (float)j + 1; /* one full row */
    for (long j = 0; j < m; j++) x[18 * m + j] = 0;           /* one empty row */
    const char *p = tl_tmp("test_h5ad_write_random.h5ad");
    ptrag_h5ad_writer *w;
    ptrag_error err;
    CHECK(ptrag_h5ad_writer_new(p, n, m, &w, &err) == 0);
    CHECK(ptrag_h5ad_writer_set_x(w, x, 1, &err) == 0);
    CHECK(ptrag_h5ad_writer_commit(w, &err) == 0);
    ptrag_h5ad_writer_free(w);
    ptrag_h5ad *h;
    CHECK_MSG(ptrag_h5ad_open(p, "X", &h, &err) == 0, "%s", err.msg);
    if (!h) {
        free(x);
        return;
    }
    CHECK_STR(ptrag_h5ad_var_name(h, 7), "7"); /* default names */
    long rows[1500], cols[60];
    for (int i = 0; i < 1500; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        rows[i] = (long)((s >> 33) % (uint64_t)n);
    }
    rows[10] = 17;
    rows[11] = 18;
    rows[12] = 17;
    for (int k = 0; k < 60; k++) cols[k] = (k * 37) % m;
    cols[59] = cols[3];
    float *got = malloc(1500 * (size_t)m * sizeof *got);
    long buffers[3] = {0, 64, 7}; /* default, small, smaller than one row */
    for (int b = 0; b < 3; b++) {
        ptrag_h5ad_set_buffer_entries(buffers[b]);
        CHECK(ptrag_h5ad_read_rows(h, rows, 1500, cols, 60, got, &err) == 0);
        long bad = 0;
        for (int i = 0; i < 1500; i++)
            for (int k = 0; k < 60; k++) bad += got[i * 60 + k] != x[rows[i] * m + cols[k]];
        CHECK_INT(bad, 0);
        bad = 0;
        for (long r = 0; r < n; r += 333) {
            long c = n - r < 333 ? n - r : 333;
            CHECK(ptrag_h5ad_read_block(h, r, c, got, &err) == 0);
            bad += memcmp(got, x + r * m, (size_t)(c * m) * sizeof *got) != 0;
        }
        CHECK_INT(bad, 0);
    }
    ptrag_h5ad_set_buffer_entries(0);
    /* Argument checks. */
    long badrow = n;
    CHECK_INT(ptrag_h5ad_read_rows(h, &badrow, 1, NULL, 0, got, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "row 2500 out of range");
    long badcol = -1;
    CHECK_INT(ptrag_h5ad_read_rows(h, rows, 1, &badcol, 1, got, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "column -1 out of range");
    CHECK_INT(ptrag_h5ad_read_block(h, n - 1, 2, got, &err), PTRAG_E_ARG);
    CHECK(ptrag_h5ad_read_rows(h, rows, 0, NULL, 0, got, &err) == 0);
    free(got);
    free(x);
    ptrag_h5ad_close(h);
}

/* CSC layers (int64 indptr), dense float64 layers and obsm, added with the
 * HDF5 C API to a file we wrote. */
static void test_csc_layers_and_obsm(void) {
    const char *p = tl_tmp("test_h5ad_write_layers.h5ad");
    CHECK(write_small(p, 1) == 0);
    /* X transposed into CSC: column j's entries, rows ascending. */
    double data[NO * NV];
    int64_t indices[NO * NV], indptr[NV + 1];
    long e = 0;
    indptr[0] = 0;
    for (int j = 0; j < NV; j++) {
        for (int i = 0; i < NO; i++)
            if (X0[i * NV + j] != 0) {
                data[e] = X0[i * NV + j];
                indices[e++] = i;
            }
        indptr[j + 1] = e;
    }
    CHECK(tu_group(p, "layers/counts") == 0);
    CHECK(tu_attr_str(p, "layers/counts", "encoding-type", "csc_matrix") == 0);
    int64_t shape[2] = {NO, NV};
    CHECK(tu_attr_i64s(p, "layers/counts", "shape", shape, 2) == 0);
    CHECK(tu_put(p, "layers/counts/data", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, data, e, -1) == 0);
    CHECK(tu_put_i64(p, "layers/counts/indices", H5T_STD_I64LE, indices, e) == 0);
    CHECK(tu_put_i64(p, "layers/counts/indptr", H5T_STD_I64LE, indptr, NV + 1) == 0);
    double dense[NO * NV];
    for (int k = 0; k < NO * NV; k++) dense[k] = 2.0 * X0[k];
    CHECK(tu_put(p, "layers/twice", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, dense, NO, NV) == 0);
    double pca[NO * 3];
    for (int k = 0; k < NO * 3; k++) pca[k] = k * 0.5 - 3;
    CHECK(tu_put(p, "obsm/X_pca", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, pca, NO, 3) == 0);

    ptrag_error err;
    ptrag_h5ad *h;
    CHECK_MSG(ptrag_h5ad_open(p, "layers/counts", &h, &err) == 0, "%s", err.msg);
    if (h) {
        CHECK_INT(ptrag_h5ad_x_storage(h), PTRAG_STORAGE_CSC);
        CHECK_STR(ptrag_h5ad_x_source(h), "layers/counts");
        float all[NO * NV];
        CHECK(ptrag_h5ad_read_block(h, 0, NO, all, &err) == 0);
        CHECK(memcmp(all, X0, sizeof all) == 0);
        CHECK(ptrag_h5ad_read_block(h, 2, 3, all, &err) == 0);
        CHECK(memcmp(all, X0 + 2 * NV, 3 * NV * sizeof *all) == 0);
        long rows[4] = {6, 0, 6, 2};
        long cols[3] = {4, 0, 4};
        float sub[12];
        CHECK(ptrag_h5ad_read_rows(h, rows, 4, cols, 3, sub, &err) == 0);
        int bad = 0;
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 3; k++) bad += sub[i * 3 + k] != X0[rows[i] * NV + cols[k]];
        CHECK_INT(bad, 0);
        ptrag_h5ad_close(h);
    }
    CHECK_MSG(ptrag_h5ad_open(p, "layers/twice", &h, &err) == 0, "%s", err.msg);
    if (h) {
        CHECK_INT(ptrag_h5ad_x_storage(h), PTRAG_STORAGE_DENSE);
        long rows[3] = {4, 4, 0};
        long cols[2] = {4, 1};
        float sub[6];
        CHECK(ptrag_h5ad_read_rows(h, rows, 3, cols, 2, sub, &err) == 0);
        CHECK(sub[0] == 2 && sub[1] == 2 && sub[4] == 5 && sub[5] == 2);
        ptrag_h5ad_close(h);
    }
    CHECK_MSG(ptrag_h5ad_open(p, "obsm/X_pca", &h, &err) == 0, "%s", err.msg);
    if (h) {
        CHECK_INT(ptrag_h5ad_n_vars(h), 3);
        CHECK_INT(ptrag_h5ad_file_n_vars(h), NV);
        CHECK_STR(ptrag_h5ad_var_name(h, 2), "2");
        float row[3];
        long r = 5;
        CHECK(ptrag_h5ad_read_rows(h, &r, 1, NULL, 0, row, &err) == 0);
        CHECK(row[0] == (float)(15 * 0.5 - 3) && row[2] == (float)(17 * 0.5 - 3));
        ptrag_h5ad_close(h);
    }
    CHECK_INT(ptrag_h5ad_open(p, "layers/none", &h, &err), PTRAG_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "/layers/none: expression source not found");
    CHECK_CONTAINS(err.msg, "layers/counts, layers/twice, obsm/X_pca");
    CHECK_INT(ptrag_h5ad_open(p, "counts", &h, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "expected X, layers/NAME or obsm/KEY");
}

/* Column encodings other writers produce: anndata < 0.7 categoricals
 * (obs/__categories/<col>), fixed-length strings, numeric categories,
 * nullable integers, and unknown extra groups. */
static void test_other_column_layouts(void) {
    const char *p = tl_tmp("test_h5ad_write_layouts.h5ad");
    CHECK(write_small(p, 0) == 0);
    const char *cats[2] = {"ctrl", "KO"};
    CHECK(tu_put_strings(p, "obs/__categories/old", cats, 2) == 0);
    int64_t codes[NO] = {0, 1, 1, 0, -1, 0, 1};
    CHECK(tu_put_i64(p, "obs/old", H5T_STD_I8LE, codes, NO) == 0);
    char fixed[NO][6] = {"ab", "ab", "c", "de", "de", "xyz12", "c"};
    hid_t ft = H5Tcopy(H5T_C_S1);
    H5Tset_size(ft, 6);
    H5Tset_strpad(ft, H5T_STR_NULLPAD);
    CHECK(tu_put(p, "obs/fixed", ft, ft, fixed, NO, -1) == 0);
    H5Tclose(ft);
    int64_t numcats[3] = {10, 20, 30};
    CHECK(tu_group(p, "obs/batch") == 0);
    CHECK(tu_attr_str(p, "obs/batch", "encoding-type", "categorical") == 0);
    CHECK(tu_put_i64(p, "obs/batch/categories", H5T_STD_I64LE, numcats, 3) == 0);
    int64_t bcodes[NO] = {2, 2, 1, 0, 0, 1, 2};
    CHECK(tu_put_i64(p, "obs/batch/codes", H5T_STD_I16LE, bcodes, NO) == 0);
    CHECK(tu_group(p, "obs/nint") == 0);
    CHECK(tu_attr_str(p, "obs/nint", "encoding-type", "nullable-integer") == 0);
    int64_t vals[NO] = {1, 2, 3, 4, 5, 6, 7}, mask[NO] = {0, 0, 1, 0, 0, 0, 1};
    CHECK(tu_put_i64(p, "obs/nint/values", H5T_STD_I64LE, vals, NO) == 0);
    CHECK(tu_put_i64(p, "obs/nint/mask", H5T_STD_U8LE, mask, NO) == 0);
    CHECK(tu_group(p, "obs/weird") == 0);
    CHECK(tu_attr_str(p, "obs/weird", "encoding-type", "awkward-array") == 0);
    CHECK(tu_group(p, "uns/extra/deeper") == 0);
    double emb[NO * 2] = {0};
    CHECK(tu_put(p, "obs/emb", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, emb, NO, 2) == 0);

    ptrag_error err;
    ptrag_h5ad *h;
    CHECK_MSG(ptrag_h5ad_open(p, NULL, &h, &err) == 0, "%s", err.msg);
    if (!h) return;
    const char *const *names;
    int n;
    ptrag_h5ad_obs_columns(h, &names, &n);
    CHECK_INT(n, 9); /* ct guide umi, then the others by name; no __categories */
    for (int i = 0; i < n; i++) CHECK(strcmp(names[i], "__categories") != 0);
    ptrag_column c;
    CHECK_MSG(ptrag_h5ad_read_obs(h, "old", &c, &err) == 0, "%s", err.msg);
    CHECK_INT(c.type, PTRAG_COL_CATEGORICAL);
    CHECK_STR(ptrag_column_label(&c, 1), "KO");
    CHECK_STR(ptrag_column_label(&c, 4), ""); /* code -1: missing */
    CHECK_INT(c.codes[4], -1);
    ptrag_column_free(&c);
    CHECK_MSG(ptrag_h5ad_read_obs(h, "fixed", &c, &err) == 0, "%s", err.msg);
    CHECK_INT(c.type, PTRAG_COL_STRING);
    CHECK_INT(c.n_categories, 4);
    CHECK_STR(ptrag_column_label(&c, 5), "xyz12");
    CHECK_STR(ptrag_column_label(&c, 6), "c");
    ptrag_column_free(&c);
    CHECK_MSG(ptrag_h5ad_read_obs(h, "batch", &c, &err) == 0, "%s", err.msg);
    CHECK_STR(ptrag_column_label(&c, 0), "30");
    CHECK_INT(ptrag_column_find(&c, "10"), 0);
    ptrag_column_free(&c);
    CHECK_MSG(ptrag_h5ad_read_obs(h, "nint", &c, &err) == 0, "%s", err.msg);
    CHECK_INT(c.type, PTRAG_COL_NUMERIC);
    CHECK(c.values[1] == 2 && isnan(c.values[2]) && c.values[5] == 6 && isnan(c.values[6]));
    ptrag_column_free(&c);
    CHECK_INT(ptrag_h5ad_read_obs(h, "weird", &c, &err), PTRAG_E_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "/obs/weird: column encoding-type 'awkward-array' is not supported");
    CHECK_INT(ptrag_h5ad_read_obs(h, "emb", &c, &err), PTRAG_E_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "/obs/emb: a 2-D column is not supported");
    ptrag_h5ad_close(h);
    /* inspect lists such columns as unsupported instead of failing. */
    char cmd[8192], out[8192];
    snprintf(cmd, sizeof cmd, "%s inspect %s 2>&1", PTRAG_CLI, p);
    FILE *pp = popen(cmd, "r");
    size_t got = pp ? fread(out, 1, sizeof out - 1, pp) : 0;
    out[got] = '\0';
    int st = pp ? pclose(pp) : -1;
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_CONTAINS(out, "unsupported: ");
    CHECK_CONTAINS(out, "old    categorical  2 categories");
}

static int count_tmp_leftovers(const char *dir, const char *stem) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strncmp(e->d_name, stem, strlen(stem)) == 0 && strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

static void test_writer_errors_and_atomic_output(void) {
    ptrag_error err;
    ptrag_h5ad_writer *w;
    const char *p = tl_tmp("test_h5ad_write_atomic.h5ad");
    unlink(p);
    CHECK(ptrag_h5ad_writer_new(p, 2, 2, &w, &err) == 0);
    const char *lab[2] = {"a", NULL};
    CHECK_INT(ptrag_h5ad_writer_commit(w, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "/X: not set");
    CHECK(!ptrag_path_exists(p));
    CHECK_INT(ptrag_h5ad_writer_add_obs_categorical(w, "a/b", lab, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "bad column name 'a/b'");
    CHECK_INT(ptrag_h5ad_writer_add_obs_strings(w, "s", lab, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "/obs/s: a value is NULL");
    double v[2] = {1, 2};
    CHECK(ptrag_h5ad_writer_add_obs_numeric(w, "v", v, &err) == 0);
    CHECK_INT(ptrag_h5ad_writer_add_obs_numeric(w, "v", v, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "/obs/v: column added twice");
    float x[4] = {0, 1, 2, 0};
    CHECK(ptrag_h5ad_writer_set_x(w, x, 1, &err) == 0);
    CHECK(!ptrag_path_exists(p)); /* nothing before commit */
    CHECK(ptrag_h5ad_writer_commit(w, &err) == 0);
    CHECK(ptrag_path_exists(p));
    ptrag_h5ad_writer_free(w);
    char dir[4096];
    ptrag_dirname(p, dir, sizeof dir);
    CHECK_INT(count_tmp_leftovers(dir, "test_h5ad_write_atomic"), 0);

    const char *nodir = tl_tmp("test_h5ad_write_no_such_dir/x.h5ad");
    CHECK(ptrag_h5ad_writer_new(nodir, 1, 1, &w, &err) == 0);
    CHECK(ptrag_h5ad_writer_set_x(w, x, 0, &err) == 0);
    CHECK_INT(ptrag_h5ad_writer_commit(w, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "test_h5ad_write_no_such_dir/x.h5ad: cannot create temporary file");
    ptrag_h5ad_writer_free(w);
    CHECK_INT(ptrag_h5ad_writer_new(p, -1, 2, &w, &err), PTRAG_E_ARG);
}

static int has_python_anndata(void) {
    return system("/usr/bin/python3 -c 'import anndata, h5py' >/dev/null 2>&1") == 0;
}

/* Debian's python3-anndata 0.8 reads our files with warnings as errors. */
static void test_anndata_reads_our_files(void) {
    if (!has_python_anndata()) {
        printf("SKIP test_anndata_reads_our_files: /usr/bin/python3 cannot import anndata, h5py\n");
        return;
    }
    const char *d = tl_tmp("test_h5ad_write_py_dense.h5ad");
    const char *s = tl_tmp("test_h5ad_write_py_csr.h5ad");
    const char *m = tl_tmp("test_h5ad_write_py_many.h5ad");
    CHECK(write_small(d, 0) == 0);
    CHECK(write_small(s, 1) == 0);
    /* 300 categories (int16 codes) and no obs columns in var. */
    enum { NM = 600 };
    char *labs[NM];
    for (int i = 0; i < NM; i++) {
        labs[i] = malloc(16);
        snprintf(labs[i], 16, "c%03d", i % 300);
    }
    ptrag_h5ad_writer *w;
    ptrag_error err;
    float *x = calloc(NM * 2, sizeof *x);
    CHECK(ptrag_h5ad_writer_new(m, NM, 2, &w, &err) == 0);
    CHECK(ptrag_h5ad_writer_set_x(w, x, 1, &err) == 0);
    CHECK(ptrag_h5ad_writer_add_obs_categorical(w, "many", (const char *const *)labs, &err) == 0);
    CHECK(ptrag_h5ad_writer_commit(w, &err) == 0);
    ptrag_h5ad_writer_free(w);
    free(x);
    for (int i = 0; i < NM; i++) free(labs[i]);

    const char *script = tl_tmp("test_h5ad_write_check.py");
    FILE *f = fopen(script, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "import sys, numpy as np, scipy.sparse as sp, anndata, h5py\n"
               "X0 = np.array([");
    for (int k = 0; k < NO * NV; k++) fprintf(f, "%.9g,", X0[k]);
    fprintf(f, "], dtype=np.float32).reshape(%d, %d)\n", NO, NV);
    fprintf(f,
            "CT = ['b', 'a', 'K562-\\u03b2', 'a', 'b', 'b', 'a']\n"
            "for p, sparse in ((sys.argv[1], False), (sys.argv[2], True)):\n"
            "    a = anndata.read_h5ad(p)\n"
            "    assert a.shape == (%d, %d), a.shape\n"
            "    assert sp.issparse(a.X) == sparse, type(a.X)\n"
            "    X = a.X.toarray() if sparse else a.X\n"
            "    assert X.dtype == np.float32 and np.array_equal(X, X0), X\n"
            "    assert list(a.obs.columns) == ['ct', 'guide', 'umi'], a.obs.columns\n"
            "    assert a.obs['ct'].dtype.name == 'category'\n"
            "    assert list(a.obs['ct'].cat.categories) == sorted(set(CT))\n"
            "    assert list(a.obs['ct']) == CT\n"
            "    assert list(a.obs['guide']) == ['g1', 'g2', 'g1', '', 'g3', 'g2', 'g1']\n"
            "    u = a.obs['umi'].values\n"
            "    assert np.isnan(u[3]) and u[5] == 1e10 and u[0] == 1.5\n"
            "    assert list(a.obs_names) == ['cell%%d' %% i for i in range(7)]\n"
            "    assert list(a.var_names) == ['GATA1', 'MYC', 'HBB', 'CPQ', 'RIPK2']\n"
            "    with h5py.File(p, 'r') as f:\n"
            "        assert f.attrs['encoding-type'] == 'anndata'\n"
            "b = anndata.read_h5ad(sys.argv[3])\n"
            "assert b.shape == (600, 2) and len(b.obs['many'].cat.categories) == 300\n"
            "assert b.obs['many'].iloc[599] == 'c299' and list(b.var_names) == ['0', '1']\n"
            "print('anndata-ok')\n",
            NO, NV);
    fclose(f);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -W error %s %s %s %s 2>&1", script, d, s, m);
    FILE *pp = popen(cmd, "r");
    char out[8192] = "";
    size_t got = pp ? fread(out, 1, sizeof out - 1, pp) : 0;
    out[got] = '\0';
    int st = pp ? pclose(pp) : -1;
    CHECK_MSG(st == 0, "python said: %s", out);
    CHECK_CONTAINS(out, "anndata-ok");
}

static int run_cli(const char *args, char *out, size_t n) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", PTRAG_CLI, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_inspect_command(void) {
    const char *p = tl_tmp("test_h5ad_write_inspect.h5ad");
    CHECK(write_small(p, 1) == 0);
    char args[4096], out[16384];
    snprintf(args, sizeof args, "inspect %s --json --counts ct,guide", p);
    CHECK_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "\"n_obs\": 7,");
    CHECK_CONTAINS(out, "\"n_vars\": 5,");
    CHECK_CONTAINS(out, "\"x_source\": \"X\"");
    CHECK_CONTAINS(out, "\"x_storage\": \"csr\"");
    CHECK_CONTAINS(out, "\"ct\": {\"type\": \"categorical\", \"n_categories\": 3}");
    CHECK_CONTAINS(out, "\"guide\": {\"type\": \"string\", \"n_categories\": 4}");
    CHECK_CONTAINS(out, "\"umi\": {\"type\": \"numeric\", \"n_categories\": null}");
    CHECK_CONTAINS(out, "\"b\": {\"g1\": 1, \"g2\": 1, \"\": 0, \"g3\": 1}");
    snprintf(args, sizeof args, "inspect %s --counts ct", p);
    CHECK_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "cells       7");
    CHECK_CONTAINS(out, "expression  X (csr,");
    CHECK_CONTAINS(out, "cells per ct:");
    CHECK_CONTAINS(out, "  a             3");
    snprintf(args, sizeof args, "inspect %s --counts umi", p);
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "ptrag inspect: error: ");
    CHECK_CONTAINS(out, "/obs/umi: numeric column");
    snprintf(args, sizeof args, "inspect %s --counts nope", p);
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "/obs/nope: no such column (available: ct, guide, umi)");
    CHECK(strstr(out, "cells ") == NULL); /* nothing printed before the error */
    snprintf(args, sizeof args, "inspect %s --x obsm/X_hvg", p);
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "/obsm/X_hvg: expression source not found");
    CHECK_INT(run_cli("inspect", out, sizeof out), 2);
}

int main(void) {
    RUN(test_roundtrip_dense_and_csr);
    RUN(test_random_access_matches_source);
    RUN(test_csc_layers_and_obsm);
    RUN(test_other_column_layouts);
    RUN(test_writer_errors_and_atomic_output);
    RUN(test_anndata_reads_our_files);
    RUN(test_inspect_command);
    return TEST_SUMMARY();
}
