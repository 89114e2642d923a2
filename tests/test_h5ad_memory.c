/* In-memory h5ad sources (ptrag_h5ad_open_memory): the same rows as the
 * matrix they borrow, for dense and CSR, float32/float64, int32/int64
 * indices; obs columns; errors that name the source and the field. Also
 * cell-eval's results.csv / agg_results.csv (ptrag_eval_write_cell_eval). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag.h"
#include "testlib.h"

/* 4 cells x 3 genes. */
static const float X[12] = {1, 0, 2, 0, 0, 0, 3, 4, 0, 0, 5, 6};
static const char *OBS[4] = {"c0", "c1", "c2", "c3"};
static const char *VARS[3] = {"GATA1", "MYC", "HBB"};

static ptrag_h5ad_memory base(ptrag_column *cols, int ncols) {
    ptrag_h5ad_memory m;
    memset(&m, 0, sizeof m);
    m.name = "<test>";
    m.x_source = "X";
    m.n_obs = 4;
    m.n_vars = 3;
    m.obs_names = OBS;
    m.var_names = VARS;
    m.obs_cols = cols;
    m.n_obs_cols = ncols;
    return m;
}

static void check_rows(ptrag_h5ad *h) {
    ptrag_error err;
    float all[12], sel[6];
    CHECK_INT(ptrag_h5ad_read_block(h, 0, 4, all, &err), 0);
    CHECK(memcmp(all, X, sizeof X) == 0);
    const long rows[3] = {3, 0, 3}, cols[2] = {2, 0};
    CHECK_INT(ptrag_h5ad_read_rows(h, rows, 3, cols, 2, sel, &err), 0);
    const float want[6] = {6, 0, 2, 1, 6, 0};
    CHECK(memcmp(sel, want, sizeof want) == 0);
    CHECK_INT(ptrag_h5ad_find_var(h, "HBB"), 2);
    CHECK(strcmp(ptrag_h5ad_obs_name(h, 2), "c2") == 0);
    CHECK_INT(ptrag_h5ad_in_memory(h), 1);
}

static void test_dense_and_csr(void) {
    ptrag_error err;
    ptrag_h5ad *h;
    ptrag_h5ad_memory m = base(NULL, 0);
    m.storage = PTRAG_STORAGE_DENSE;
    m.value_dtype = PTRAG_DTYPE_F32;
    m.values = X;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), 0);
    check_rows(h);
    ptrag_h5ad_close(h);

    double xd[12];
    for (int i = 0; i < 12; i++) xd[i] = X[i];
    m.value_dtype = PTRAG_DTYPE_F64;
    m.values = xd;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), 0);
    check_rows(h);
    ptrag_h5ad_close(h);

    /* CSR; row 3 = {0, 5, 6} holds HBB twice (4 + 2, summed as scipy does). */
    const double datab[7] = {1, 2, 3, 4, 5, 4, 2};
    const int32_t ind32b[7] = {0, 2, 0, 1, 1, 2, 2}, ptr32b[5] = {0, 2, 2, 4, 7};
    const int64_t ind64b[7] = {0, 2, 0, 1, 1, 2, 2}, ptr64b[5] = {0, 2, 2, 4, 7};
    m.storage = PTRAG_STORAGE_CSR;
    m.value_dtype = PTRAG_DTYPE_F64;
    m.values = datab;
    m.index_dtype = PTRAG_DTYPE_I32;
    m.indices = ind32b;
    m.indptr = ptr32b;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), 0);
    check_rows(h);
    CHECK_INT(ptrag_h5ad_x_nnz(h), 7);
    ptrag_h5ad_close(h);
    m.index_dtype = PTRAG_DTYPE_I64;
    m.indices = ind64b;
    m.indptr = ptr64b;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), 0);
    check_rows(h);
    ptrag_h5ad_close(h);

    /* A decreasing indptr and an out-of-range index are format errors. */
    const int64_t bad_ptr[5] = {0, 2, 1, 4, 7};
    m.indptr = bad_ptr;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "<test>: X/indptr: decreases at row 1");
    const int64_t bad_ind[7] = {0, 2, 0, 1, 1, 9, 2};
    m.indptr = ptr64b;
    m.indices = bad_ind;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), 0);
    float out[3];
    const long r3 = 3;
    CHECK_INT(ptrag_h5ad_read_rows(h, &r3, 1, NULL, 0, out, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "/X/indices: value 9 at entry 5 (row 3) is outside [0, 3)");
    ptrag_h5ad_close(h);
}

static void test_obs_columns(void) {
    ptrag_error err;
    ptrag_h5ad *h;
    char *cats[2] = {"control", "MYC"};
    int32_t codes[4] = {0, 1, -1, 0};
    double umi[4] = {10, 20, NAN, 40};
    ptrag_column cols[2] = {
        {.name = "gene", .type = PTRAG_COL_CATEGORICAL, .n = 4, .n_categories = 2, .categories = cats, .codes = codes},
        {.name = "umi", .type = PTRAG_COL_NUMERIC, .n = 4, .values = umi},
    };
    ptrag_h5ad_memory m = base(cols, 2);
    m.storage = PTRAG_STORAGE_DENSE;
    m.values = X;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), 0);
    codes[1] = 0; /* copied at open: later changes do not show */
    ptrag_column c;
    CHECK_INT(ptrag_h5ad_read_obs(h, "gene", &c, &err), 0);
    CHECK_INT(c.n_categories, 2);
    CHECK(strcmp(ptrag_column_label(&c, 1), "MYC") == 0 && c.codes[2] == -1);
    ptrag_column_free(&c);
    CHECK_INT(ptrag_h5ad_read_obs(h, "umi", &c, &err), 0);
    CHECK(c.values[1] == 20 && isnan(c.values[2]));
    ptrag_column_free(&c);
    CHECK_INT(ptrag_h5ad_read_obs(h, "cell_type", &c, &err), PTRAG_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "<test>: obs/cell_type: no such column (available: gene, umi)");
    ptrag_h5ad_close(h);

    codes[1] = 7;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "obs/gene: code 7 at row 1 is outside [-1, 2)");
    codes[1] = 1;
    cols[1].n = 3;
    CHECK_INT(ptrag_h5ad_open_memory(&m, &h, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "obs/umi: 3 values, expected 4");
}

static char *slurp(const char *path) {
    char *text = NULL;
    ptrag_error err;
    if (ptrag_read_file(path, &text, NULL, &err)) return NULL;
    return text;
}

static void test_cell_eval_files(void) {
    ptrag_condition_scores c[4];
    memset(c, 0, sizeof c);
    char *names[4] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++) {
        c[i].cell_type = "K562";
        c[i].perturbation = names[i];
        for (int m = 0; m < PTRAG_M_COUNT; m++) c[i].v[m] = NAN;
    }
    /* mse: 4, 1, 3, 2 -> mean 2.5, sd sqrt(5/3), nearest-rank quantiles at
     * round(3 q) = 1, 2, 2 of the sorted 1 2 3 4: 2, 3, 3. */
    const double mse[4] = {4, 1, 3, 2};
    for (int i = 0; i < 4; i++) c[i].v[PTRAG_M_MSE] = mse[i];
    c[1].v[PTRAG_M_DE_SIG_RECALL] = 0.5;
    ptrag_eval_result r;
    memset(&r, 0, sizeof r);
    r.n_conditions = 4;
    r.conditions = c;
    const char *dir = tl_tmp("test_h5ad_memory_cell_eval");
    ptrag_error err;
    CHECK_INT(ptrag_eval_write_cell_eval(&r, dir, &err), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    char *res = slurp(path);
    snprintf(path, sizeof path, "%s/agg_results.csv", dir);
    char *agg = slurp(path);
    CHECK(res && agg);
    if (!res || !agg) return;
    CHECK(strncmp(res, "perturbation,pearson_delta,", 27) == 0);
    CHECK_CONTAINS(res, ",de_sig_genes_recall,de_nsig_counts_real,de_nsig_counts_pred,");
    CHECK_CONTAINS(res, "\nA,,,4,");  /* NaN is an empty field (a null) */
    CHECK(strncmp(agg, "statistic,", 10) == 0);
    /* Rows in cell-eval's order; the mse column (the 4th). */
    const char *want[9][2] = {{"count", "4"}, {"null_count", "0"}, {"mean", "2.5"},
                              {"std", "1.2909944487358056"}, {"min", "1"}, {"25%", "2"},
                              {"50%", "3"}, {"75%", "3"}, {"max", "4"}};
    char *line = strchr(agg, '\n') + 1;
    for (int s = 0; s < 9 && line; s++) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        char stat[32], f1[64], f2[64], f3[64];
        int got = sscanf(line, "%31[^,],%63[^,],%63[^,],%63[^,]", stat, f1, f2, f3);
        /* pearson_delta and pearson_delta_degenerate are all null: count 0,
         * null_count 4, then empty fields (sscanf stops there). */
        CHECK_MSG(strcmp(stat, want[s][0]) == 0, "row %d is %s", s, stat);
        if (s < 2) {
            CHECK(got == 4);
        } else {
            char mse_field[64] = "";
            const char *p = line;
            for (int k = 0; k < 3 && p; k++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
            if (p) sscanf(p, "%63[^,]", mse_field);
            CHECK_MSG(strcmp(mse_field, want[s][1]) == 0, "%s of mse: %s, expected %s", stat, mse_field, want[s][1]);
        }
        line = end ? end + 1 : NULL;
    }
    CHECK_CONTAINS(agg, "count,0,0,4,");
    free(res);
    free(agg);
}

int main(void) {
    RUN(test_dense_and_csr);
    RUN(test_obs_columns);
    RUN(test_cell_eval_files);
    return TEST_SUMMARY();
}
