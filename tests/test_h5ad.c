/* Reading the four real .h5ad files under ../shared/data: shapes, category
 * counts from the data READMEs, and exact values against the published
 * MatrixMarket / CSV copies of the same data. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "ptrag.h"
#include "testlib.h"

static long count_label(const ptrag_column *c, const char *label) {
    int k = ptrag_column_find(c, label);
    if (k < 0) return -1;
    long n = 0;
    for (long i = 0; i < c->n; i++) n += c->codes[i] == k;
    return n;
}

static ptrag_h5ad *open_or_fail(const char *rel, const char *src) {
    ptrag_h5ad *h = NULL;
    ptrag_error err;
    ptrag_error_clear(&err);
    int rc = ptrag_h5ad_open(tl_shared(rel), src, &h, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return rc == 0 ? h : NULL;
}

/* R-style CSV of one column ("","x" header; "1","NAME" rows): the names. */
static char **read_r_names(const char *path, long *n) {
    FILE *f = fopen(path, "r");
    *n = 0;
    if (!f) return NULL;
    char line[4096];
    long cap = 1024;
    char **names = malloc((size_t)cap * sizeof *names);
    if (!fgets(line, sizeof line, f)) { /* header */
        fclose(f);
        return names;
    }
    while (fgets(line, sizeof line, f)) {
        char *c = strchr(line, ',');
        if (!c) continue;
        c++;
        if (*c == '"') c++;
        size_t len = strcspn(c, "\"\r\n");
        c[len] = '\0';
        if (*n == cap) names = realloc(names, (size_t)(cap *= 2) * sizeof *names);
        names[(*n)++] = strdup(c);
    }
    fclose(f);
    return names;
}

static void free_names(char **s, long n) {
    for (long i = 0; i < n; i++) free(s[i]);
    free(s);
}

static void test_perturbench_devel(void) {
    ptrag_h5ad *h = open_or_fail("data/perturbench_devel_4celltypes/devel.h5ad", NULL);
    if (!h) return;
    ptrag_error err;
    CHECK_INT(ptrag_h5ad_n_obs(h), 5961);
    CHECK_INT(ptrag_h5ad_n_vars(h), 500);
    CHECK_INT(ptrag_h5ad_x_storage(h), PTRAG_STORAGE_CSR);
    CHECK_INT(ptrag_h5ad_x_nnz(h), 211790);
    CHECK_STR(ptrag_h5ad_x_source(h), "X");
    CHECK_STR(ptrag_h5ad_obs_name(h, 0), "TGGTTAGCACATCCGG-3");
    CHECK_STR(ptrag_h5ad_obs_name(h, 1), "CGACCTTAGAGTCTGG-1");
    CHECK_STR(ptrag_h5ad_var_name(h, 0), "PERM1");
    CHECK_INT(ptrag_h5ad_find_var(h, "MIR34AHG"), 2);
    CHECK_INT(ptrag_h5ad_find_var(h, "NOT_A_GENE"), -1);

    const char *const *cols;
    int nc;
    ptrag_h5ad_obs_columns(h, &cols, &nc);
    CHECK_INT(nc, 11);
    if (nc == 11) {
        CHECK_STR(cols[0], "ncounts");
        CHECK_STR(cols[6], "cell_type");
        CHECK_STR(cols[10], "condition_cell_type");
    }

    ptrag_column ct;
    CHECK(ptrag_h5ad_read_obs(h, "cell_type", &ct, &err) == 0);
    CHECK_INT(ct.type, PTRAG_COL_CATEGORICAL);
    CHECK_INT(ct.n_categories, 4);
    CHECK_INT(count_label(&ct, "k562"), 3375);
    CHECK_INT(count_label(&ct, "A172"), 850);
    CHECK_INT(count_label(&ct, "T98G"), 871);
    CHECK_INT(count_label(&ct, "U87MG"), 865);
    ptrag_column_free(&ct);

    ptrag_column c;
    CHECK(ptrag_h5ad_read_obs(h, "perturbation_type", &c, &err) == 0);
    CHECK_INT(count_label(&c, "CRISPRa"), 3375);
    CHECK_INT(count_label(&c, "CRISPRi"), 2586);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "dataset", &c, &err) == 0);
    CHECK_INT(count_label(&c, "norman19"), 3375);
    CHECK_INT(count_label(&c, "mcfaline23"), 2586);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "perturbation", &c, &err) == 0);
    CHECK_INT(c.n_categories, 34);
    CHECK(ptrag_column_find(&c, "control") >= 0);
    CHECK_STR(ptrag_column_label(&c, -5), "");
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "ncounts", &c, &err) == 0);
    CHECK_INT(c.type, PTRAG_COL_NUMERIC);
    CHECK(c.values && c.values[0] == 19854.0 && c.values[1] == 10043.0);
    CHECK(c.codes == NULL);
    ptrag_column_free(&c);

    /* var columns: a bool (numpy enum) and float64. */
    CHECK(ptrag_h5ad_read_var(h, "highly_variable", &c, &err) == 0);
    CHECK_INT(c.type, PTRAG_COL_BOOL);
    double s = 0;
    for (long i = 0; i < c.n; i++) s += c.values[i];
    CHECK_INT((long)s, 500);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_var(h, "means", &c, &err) == 0);
    CHECK_NEAR(c.values[0], 0.00163536, 1e-8);
    ptrag_column_free(&c);

    /* Values as h5py reads them (float64 in the file, float32 here). */
    long rows[2] = {5960, 0};
    float *two = malloc(2 * 500 * sizeof *two);
    CHECK(ptrag_h5ad_read_rows(h, rows, 2, NULL, 0, two, &err) == 0);
    CHECK(two[500 + 474] == (float)0.40959056 || fabs(two[500 + 474] - 0.40959056) < 1e-7);
    CHECK_NEAR(two[500 + 409], 3.36179982, 1e-6);
    CHECK_NEAR(two[241], 1.85123622, 1e-6);
    free(two);

    /* Streaming every row in blocks: the total matches h5py's X.sum(). */
    float *blk = malloc(1000 * 500 * sizeof *blk);
    double total = 0;
    long nz = 0;
    for (long r = 0; r < 5961; r += 1000) {
        long n = 5961 - r < 1000 ? 5961 - r : 1000;
        CHECK(ptrag_h5ad_read_block(h, r, n, blk, &err) == 0);
        for (long k = 0; k < n * 500; k++) {
            total += blk[k];
            nz += blk[k] != 0;
        }
    }
    CHECK_NEAR(total, 406134.543524382, 0.05);
    CHECK_INT(nz, 211790);
    free(blk);
    ptrag_h5ad_close(h);
}

/* Datlinger 2017: every entry of X against raw/matrix.mtx (genes x cells). */
static void test_datlinger_matches_matrix_market(void) {
    ptrag_h5ad *h = open_or_fail("data/datlinger2017_jurkat/datlinger2017_jurkat_counts.h5ad", "X");
    if (!h) return;
    ptrag_error err;
    const long NC = 7500, NG = 2000;
    CHECK_INT(ptrag_h5ad_n_obs(h), NC);
    CHECK_INT(ptrag_h5ad_n_vars(h), NG);
    CHECK_INT(ptrag_h5ad_x_storage(h), PTRAG_STORAGE_CSR);

    long nb, ng;
    char **bc = read_r_names(tl_shared("data/datlinger2017_jurkat/raw/barcodes.csv"), &nb);
    char **gn = read_r_names(tl_shared("data/datlinger2017_jurkat/raw/genes.csv"), &ng);
    CHECK_INT(nb, NC);
    CHECK_INT(ng, NG);
    long bad_names = 0;
    for (long i = 0; i < nb && i < NC; i++) bad_names += strcmp(bc[i], ptrag_h5ad_obs_name(h, i)) != 0;
    for (long j = 0; j < ng && j < NG; j++) bad_names += strcmp(gn[j], ptrag_h5ad_var_name(h, j)) != 0;
    CHECK_INT(bad_names, 0);
    free_names(bc, nb);
    free_names(gn, ng);

    float *want = calloc((size_t)(NC * NG), sizeof *want);
    FILE *f = fopen(tl_shared("data/datlinger2017_jurkat/raw/matrix.mtx"), "r");
    CHECK(f != NULL);
    if (!f) {
        free(want);
        ptrag_h5ad_close(h);
        return;
    }
    char line[256];
    long hr = 0, hc = 0, hn = 0, entries = 0;
    while (fgets(line, sizeof line, f) && line[0] == '%') {
    }
    CHECK(sscanf(line, "%ld %ld %ld", &hr, &hc, &hn) == 3);
    CHECK_INT(hr, NG);
    CHECK_INT(hc, NC);
    long g, cidx, v;
    while (fscanf(f, "%ld %ld %ld", &g, &cidx, &v) == 3) {
        if (g >= 1 && g <= NG && cidx >= 1 && cidx <= NC) want[(cidx - 1) * NG + (g - 1)] += (float)v;
        entries++;
    }
    fclose(f);
    CHECK_INT(entries, 135077);
    CHECK_INT(entries, hn);

    /* All rows, streamed in blocks of 1,000 cells. */
    float *got = malloc((size_t)(1000 * NG) * sizeof *got);
    long mismatches = 0, nz = 0;
    for (long r = 0; r < NC; r += 1000) {
        long n = NC - r < 1000 ? NC - r : 1000;
        CHECK_MSG(ptrag_h5ad_read_block(h, r, n, got, &err) == 0, "%s", err.msg);
        for (long k = 0; k < n * NG; k++) {
            mismatches += got[k] != want[r * NG + k];
            nz += got[k] != 0;
        }
    }
    CHECK_INT(mismatches, 0);
    CHECK_INT(nz, 135077);

    /* Random rows (unsorted, with repeats) restricted to a gene subset with a
     * repeated gene, in the caller's order. */
    long rows[300], cols[40];
    uint64_t s = 12345;
    for (int i = 0; i < 300; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        rows[i] = (long)((s >> 33) % (uint64_t)NC);
    }
    rows[7] = rows[3];
    rows[299] = NC - 1;
    for (int k = 0; k < 40; k++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        cols[k] = (long)((s >> 33) % (uint64_t)NG);
    }
    cols[39] = cols[0];
    cols[38] = ptrag_h5ad_find_var(h, "JUND");
    CHECK(cols[38] >= 0);
    CHECK(ptrag_h5ad_read_rows(h, rows, 300, cols, 40, got, &err) == 0);
    mismatches = 0;
    for (int i = 0; i < 300; i++)
        for (int k = 0; k < 40; k++) mismatches += got[i * 40 + k] != want[rows[i] * NG + cols[k]];
    CHECK_INT(mismatches, 0);

    ptrag_column c;
    CHECK(ptrag_h5ad_read_obs(h, "gene", &c, &err) == 0);
    CHECK_INT(c.n_categories, 21);
    CHECK_INT(count_label(&c, "non-targeting"), 200);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "condition", &c, &err) == 0);
    CHECK_INT(count_label(&c, "stimulated"), 3859);
    CHECK_INT(count_label(&c, "unstimulated"), 3641);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "sample", &c, &err) == 0); /* int16 codes */
    CHECK_INT(c.n_categories, 367);
    long seen = 0;
    for (long i = 0; i < c.n; i++) seen += c.codes[i] >= 0 && c.codes[i] < 367;
    CHECK_INT(seen, NC);
    ptrag_column_free(&c);
    free(got);
    free(want);
    ptrag_h5ad_close(h);
}

/* Splits a CSV line in place; returns the number of fields. */
static int split_csv(char *line, char **fields, int max) {
    int n = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *p = line; n < max;) {
        fields[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = '\0';
        p = c + 1;
    }
    return n;
}

/* Schraivogel 2020 singlets: every entry against raw/gene_expression_counts.csv.gz
 * (cells x genes, all 21,977 cells; the h5ad holds a subset in the same order). */
static void test_schraivogel_matches_csv(void) {
    ptrag_h5ad *h = open_or_fail("data/schraivogel2020_tapseq_k562/schraivogel2020_tapseq_k562_singlets.h5ad", NULL);
    if (!h) return;
    ptrag_error err;
    const long NC = 19060, NG = 72;
    CHECK_INT(ptrag_h5ad_n_obs(h), NC);
    CHECK_INT(ptrag_h5ad_n_vars(h), NG);
    float *x = malloc((size_t)(NC * NG) * sizeof *x);
    CHECK(ptrag_h5ad_read_block(h, 0, NC, x, &err) == 0);

    gzFile gz = gzopen(tl_shared("data/schraivogel2020_tapseq_k562/raw/gene_expression_counts.csv.gz"), "rb");
    CHECK(gz != NULL);
    char line[8192];
    char *fields[128];
    long csv_rows = 0, matched = 0, mismatches = 0, bad_header = 0;
    if (gz && gzgets(gz, line, sizeof line)) {
        int nf = split_csv(line, fields, 128);
        CHECK_INT(nf, NG + 1);
        for (int j = 1; j < nf && j <= NG; j++) bad_header += strcmp(fields[j], ptrag_h5ad_var_name(h, j - 1)) != 0;
    }
    CHECK_INT(bad_header, 0);
    long i = 0;
    while (gz && gzgets(gz, line, sizeof line)) {
        int nf = split_csv(line, fields, 128);
        csv_rows++;
        if (nf != NG + 1 || i >= NC || strcmp(fields[0], ptrag_h5ad_obs_name(h, i)) != 0) continue;
        for (int j = 0; j < NG; j++) mismatches += x[i * NG + j] != (float)strtod(fields[j + 1], NULL);
        matched++;
        i++;
    }
    if (gz) gzclose(gz);
    CHECK_INT(csv_rows, 21977);
    CHECK_INT(matched, NC);
    CHECK_INT(mismatches, 0);

    ptrag_column c;
    CHECK(ptrag_h5ad_read_obs(h, "gene", &c, &err) == 0);
    CHECK_INT(c.n_categories, 15);
    CHECK_INT(count_label(&c, "non-targeting"), 7760);
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "gem_group", &c, &err) == 0);
    CHECK_INT(count_label(&c, "TAP1"), 9659);
    CHECK_INT(count_label(&c, "TAP2"), 9401);
    ptrag_column_free(&c);
    free(x);
    ptrag_h5ad_close(h);
}

/* The published gRNA count matrix (int64 data, uncompressed): singlet calls
 * (exactly one guide at >= 5 UMIs) reproduce the singlets file's obs. */
static void test_grna_counts_reproduce_singlets(void) {
    ptrag_h5ad *g = open_or_fail("data/schraivogel2020_tapseq_k562/raw/gRNA_counts.h5ad", NULL);
    ptrag_h5ad *s = open_or_fail("data/schraivogel2020_tapseq_k562/schraivogel2020_tapseq_k562_singlets.h5ad", NULL);
    if (!g || !s) {
        ptrag_h5ad_close(g);
        ptrag_h5ad_close(s);
        return;
    }
    ptrag_error err;
    const long NC = 21977, NR = 86;
    CHECK_INT(ptrag_h5ad_n_obs(g), NC);
    CHECK_INT(ptrag_h5ad_n_vars(g), NR);
    CHECK_STR(ptrag_h5ad_var_name(g, 0), "CROPseq_dCas9_DS_CCNE2_+_95907328.23-P1P2");
    ptrag_column guide, umi, batch;
    CHECK(ptrag_h5ad_read_obs(s, "guide", &guide, &err) == 0);
    CHECK(ptrag_h5ad_read_obs(s, "guide_umi", &umi, &err) == 0);
    CHECK(ptrag_h5ad_read_obs(g, "batch", &batch, &err) == 0);
    double bsum = 0;
    for (long i = 0; i < batch.n; i++) bsum += batch.values[i];
    CHECK_INT((long)bsum, NC);

    float *blk = malloc((size_t)(4096 * NR) * sizeof *blk);
    long one = 0, none = 0, many = 0, si = 0, agree = 0;
    double total = 0;
    for (long r = 0; r < NC; r += 4096) {
        long n = NC - r < 4096 ? NC - r : 4096;
        CHECK(ptrag_h5ad_read_block(g, r, n, blk, &err) == 0);
        for (long i = 0; i < n; i++) {
            int k = 0;
            long which = -1;
            for (long j = 0; j < NR; j++) {
                float v = blk[i * NR + j];
                total += v;
                if (v >= 5) {
                    k++;
                    which = j;
                }
            }
            if (k == 0) none++;
            else if (k > 1) many++;
            else one++;
            /* The singlets file lists these cells, in this order. */
            if (k == 1 && si < ptrag_h5ad_n_obs(s) &&
                strcmp(ptrag_h5ad_obs_name(s, si), ptrag_h5ad_obs_name(g, r + i)) == 0) {
                const char *vn = ptrag_h5ad_var_name(g, which);
                const char *lab = ptrag_column_label(&guide, si);
                size_t lv = strlen(vn), ll = strlen(lab);
                if (ll <= lv && strcmp(vn + lv - ll, lab) == 0 && umi.values[si] == blk[i * NR + which]) agree++;
                si++;
            }
        }
    }
    CHECK_INT(one, 19060);
    CHECK_INT(none, 662);
    CHECK_INT(many, 2255);
    CHECK_INT(si, 19060);
    CHECK_INT(agree, 19060);
    CHECK_NEAR(total, 1654693.0, 0.5);
    free(blk);
    ptrag_column_free(&guide);
    ptrag_column_free(&umi);
    ptrag_column_free(&batch);
    ptrag_h5ad_close(g);
    ptrag_h5ad_close(s);
}

int main(void) {
    RUN(test_perturbench_devel);
    RUN(test_datlinger_matches_matrix_market);
    RUN(test_schraivogel_matches_csv);
    RUN(test_grna_counts_reproduce_singlets);
    return TEST_SUMMARY();
}
