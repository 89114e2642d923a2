/* Gene embeddings on real data (GenePT vectors of the 86 Adamson genes in both
 * pickle layouts and the published CSV; GO-derived 128-d table; NCBI
 * gene_info aliases) and on small tables written here: formats, symbol
 * resolution, perturbation features, merging, bad tables, the CLI. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "data/pert_label.h"
#include "ptrag.h"
#include "testlib.h"

#define GENEPT_NDARRAY "data/genept_adamson86/genept_adamson86_ndarray.pickle"
#define GENEPT_LIST "data/genept_adamson86/genept_adamson86_list.pickle"
#define GENEPT_CSV "data/genept_adamson86/Embedding_small.csv.gz"
#define GO_TSV "data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv"
#define GENE_INFO "data/go_human_2022/gene_info.tsv.gz"

/* The ten GenePT symbols that the CSV (Scouter) renamed to old symbols. */
static const char *const NEW_SYMBOLS[10] = {"SARS1", "DARS1", "QARS1", "TARS1", "HARS1",
                                            "CARS1", "SRPRA", "MARS1", "AARS1", "PRELID3B"};
static const char *const OLD_SYMBOLS[10] = {"SARS", "DARS", "QARS", "TARS", "HARS", "CARS", "SRPR", "MARS", "AARS", "SLMO2"};

static ptrag_embeddings *load_ok(const char *path) {
    ptrag_embeddings *e = NULL;
    ptrag_error err;
    int rc = ptrag_embeddings_load(path, &e, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return e;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

static int same_row(const ptrag_embeddings *a, long ra, const ptrag_embeddings *b, long rb) {
    if (ra < 0 || rb < 0 || ptrag_embeddings_dim(a) != ptrag_embeddings_dim(b)) return 0;
    return memcmp(ptrag_embeddings_row(a, ra), ptrag_embeddings_row(b, rb),
                  (size_t)ptrag_embeddings_dim(a) * sizeof(float)) == 0;
}

static void test_real_pickles_and_csv_agree(void) {
    ptrag_embeddings *nd = load_ok(tl_shared(GENEPT_NDARRAY));
    ptrag_embeddings *li = load_ok(tl_shared(GENEPT_LIST));
    ptrag_embeddings *csv = load_ok(tl_shared(GENEPT_CSV));
    if (!nd || !li || !csv) goto out;
    CHECK_INT(ptrag_embeddings_n_keys(nd), 96);
    CHECK_INT(ptrag_embeddings_n_rows(nd), 86);
    CHECK_INT(ptrag_embeddings_dim(nd), 1536);
    CHECK_INT(ptrag_embeddings_n_keys(li), 96);
    CHECK_INT(ptrag_embeddings_n_rows(li), 86);
    CHECK_INT(ptrag_embeddings_dim(li), 1536);
    CHECK_INT(ptrag_embeddings_n_keys(csv), 87); /* 86 genes + ctrl */
    CHECK_INT(ptrag_embeddings_dim(csv), 1536);
    CHECK_STR(ptrag_embeddings_key(nd, 0), "AMIGO3");
    /* Both pickle layouts: the same vector for every key. */
    int agree = 1;
    for (long i = 0; i < ptrag_embeddings_n_keys(nd); i++) {
        const char *k = ptrag_embeddings_key(nd, i);
        if (!same_row(nd, ptrag_embeddings_key_row(nd, i), li, ptrag_embeddings_lookup(li, k))) agree = 0;
    }
    CHECK(agree);
    /* The CSV (old symbols, full float64 text) gives the same float32 vectors. */
    agree = 1;
    long compared = 0;
    for (long i = 0; i < ptrag_embeddings_n_keys(csv); i++) {
        const char *k = ptrag_embeddings_key(csv, i);
        if (strcmp(k, "ctrl") == 0) continue;
        if (!same_row(csv, ptrag_embeddings_key_row(csv, i), nd, ptrag_embeddings_lookup(nd, k))) agree = 0;
        compared++;
    }
    CHECK(agree);
    CHECK_INT(compared, 86);
    /* Real GenePT vectors have unit norm; Scouter's ctrl row is zero. */
    const float *v = ptrag_embeddings_row(nd, ptrag_embeddings_lookup(nd, "EIF2B2"));
    double ss = 0;
    for (int j = 0; j < 1536; j++) ss += (double)v[j] * v[j];
    CHECK_NEAR(sqrt(ss), 1.0, 1e-5);
    const float *c = ptrag_embeddings_row(csv, ptrag_embeddings_lookup(csv, "ctrl"));
    double cs = 0;
    for (int j = 0; j < 1536; j++) cs += fabs(c[j]);
    CHECK(cs == 0);
out:
    ptrag_embeddings_free(nd);
    ptrag_embeddings_free(li);
    ptrag_embeddings_free(csv);
}

static void test_pickle_alias_keys_share_rows(void) {
    const char *files[2] = {GENEPT_NDARRAY, GENEPT_LIST};
    for (int f = 0; f < 2; f++) {
        ptrag_embeddings *e = load_ok(tl_shared(files[f]));
        if (!e) continue;
        for (int i = 0; i < 10; i++) {
            long a = ptrag_embeddings_lookup(e, OLD_SYMBOLS[i]), b = ptrag_embeddings_lookup(e, NEW_SYMBOLS[i]);
            CHECK(a >= 0);
            CHECK_INT(a, b);
            /* The display name of the shared row is the GenePT symbol (first in the file). */
            CHECK_STR(ptrag_embeddings_row_name(e, a), NEW_SYMBOLS[i]);
        }
        ptrag_embeddings_free(e);
    }
}

/* Top-k names of `gene` (itself excluded) via the stage-1 kNN. */
static int neighbours(const ptrag_embeddings *e, const char *gene, int k, const char **names, float *sims) {
    ptrag_knn_index *ix;
    ptrag_error err;
    if (ptrag_knn_build(ptrag_embeddings_data(e), ptrag_embeddings_n_rows(e), ptrag_embeddings_dim(e), &ix, &err) != 0)
        return -1;
    long row = ptrag_embeddings_lookup(e, gene), idx[64];
    int rc = row >= 0 ? ptrag_knn_search_rows(ix, &row, 1, k, 1, NULL, NULL, NULL, 0, idx, sims, &err) : -1;
    for (int j = 0; j < k && rc == 0; j++) names[j] = idx[j] >= 0 ? ptrag_embeddings_row_name(e, idx[j]) : "";
    ptrag_knn_free(ix);
    return rc;
}

static int contains(const char **names, int k, const char *want) {
    for (int j = 0; j < k; j++)
        if (strcmp(names[j], want) == 0) return 1;
    return 0;
}

static void test_real_genept_neighbours(void) {
    ptrag_embeddings *e = load_ok(tl_shared(GENEPT_NDARRAY));
    if (!e) return;
    const char *names[8];
    float sims[8];
    /* numpy (float64): EIF2B2 -> EIF2B3 0.9565, EIF2B4 0.9510, EIF2S1 0.9101;
     * SEC61A1 -> SEC61B 0.9458, SEC61G 0.9434, SEC63 0.9353. */
    CHECK_INT(neighbours(e, "EIF2B2", 5, names, sims), 0);
    CHECK(contains(names, 3, "EIF2B3"));
    CHECK(contains(names, 3, "EIF2B4"));
    CHECK(!contains(names, 5, "EIF2B2"));
    CHECK_STR(names[0], "EIF2B3");
    CHECK_NEAR(sims[0], 0.9565, 1e-4);
    CHECK_NEAR(sims[1], 0.9510, 1e-4);
    CHECK_INT(neighbours(e, "SEC61A1", 5, names, sims), 0);
    CHECK(contains(names, 3, "SEC61B"));
    CHECK(contains(names, 3, "SEC61G"));
    CHECK_STR(names[2], "SEC63");
    CHECK_NEAR(sims[0], 0.9458, 1e-4);
    ptrag_embeddings_free(e);
}

static void test_go_table_with_header(void) {
    ptrag_embeddings *e = load_ok(tl_shared(GO_TSV));
    if (!e) return;
    CHECK_INT(ptrag_embeddings_n_keys(e), 1849);
    CHECK_INT(ptrag_embeddings_dim(e), 128);
    CHECK(ptrag_embeddings_lookup(e, "gene") < 0); /* the header is not a gene */
    CHECK_STR(ptrag_embeddings_key(e, 0), "AAMP");
    CHECK_NEAR(ptrag_embeddings_row(e, 0)[0], 0.162957, 1e-7);
    const char *names[4];
    float sims[4];
    CHECK_INT(neighbours(e, "EIF2B2", 4, names, sims), 0);
    CHECK_STR(names[0], "EIF2B4"); /* as in the data folder's README */
    CHECK(contains(names, 4, "EIF2B3"));
    CHECK_INT(ptrag_embeddings_require_dim(e, 128, NULL), 0);
    ptrag_error err;
    CHECK_INT(ptrag_embeddings_require_dim(e, 1536, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "go_svd128_perturbation_genes.tsv: vectors have 128 dimensions, expected 1536");
    ptrag_embeddings_free(e);
}

static void test_table_layouts(void) {
    /* No header, tabs, CRLF, comments and blank lines. */
    const char *p1 = tl_tmp("test_embeddings_plain.tsv");
    write_text(p1, "# a comment\r\nA\t1\t2\t3\r\n\r\nB\t-1.5\t0\t2e-3\r\n");
    ptrag_embeddings *e = load_ok(p1);
    if (e) {
        CHECK_INT(ptrag_embeddings_n_keys(e), 2);
        CHECK_INT(ptrag_embeddings_dim(e), 3);
        CHECK(ptrag_embeddings_row(e, ptrag_embeddings_lookup(e, "B"))[2] == 2e-3f);
    }
    ptrag_embeddings_free(e);
    /* Comma-separated with a header, quoted names, an exact duplicate row. */
    const char *p2 = tl_tmp("test_embeddings_header.csv");
    write_text(p2, "symbol,x,y\n\"A\",1,2\nB,3,4\nA,1,2\n");
    e = load_ok(p2);
    if (e) {
        CHECK_INT(ptrag_embeddings_n_keys(e), 2);
        CHECK_INT(ptrag_embeddings_n_rows(e), 2);
        CHECK_INT(ptrag_embeddings_dim(e), 2);
        CHECK(ptrag_embeddings_row(e, ptrag_embeddings_lookup(e, "A"))[1] == 2.0f);
    }
    ptrag_embeddings_free(e);
    /* Header `gene 0 1` (integer column labels) and R's header without the name column. */
    const char *p3 = tl_tmp("test_embeddings_intheader.tsv");
    write_text(p3, "gene\t0\t1\nA\t5\t6\n");
    e = load_ok(p3);
    if (e) CHECK_INT(ptrag_embeddings_n_keys(e), 1);
    ptrag_embeddings_free(e);
    const char *p4 = tl_tmp("test_embeddings_rheader.tsv");
    write_text(p4, "d1\td2\nA\t5\t6\nB\t7\t8\n");
    e = load_ok(p4);
    if (e) {
        CHECK_INT(ptrag_embeddings_n_keys(e), 2);
        CHECK_INT(ptrag_embeddings_dim(e), 2);
    }
    ptrag_embeddings_free(e);
    /* gzip-compressed table and pickle. */
    const char *pz = tl_tmp("test_embeddings_table.tsv.gz");
    gzFile gz = gzopen(pz, "wb");
    gzputs(gz, "A\t1\t2\nB\t3\t4\n");
    gzclose(gz);
    e = load_ok(pz);
    if (e) CHECK(ptrag_embeddings_row(e, ptrag_embeddings_lookup(e, "B"))[0] == 3.0f);
    ptrag_embeddings_free(e);
    char *raw;
    size_t len;
    ptrag_error err;
    if (ptrag_read_file(tl_shared(GENEPT_LIST), &raw, &len, &err) == 0) {
        const char *pp = tl_tmp("test_embeddings_list.pickle.gz");
        gz = gzopen(pp, "wb");
        gzwrite(gz, raw, (unsigned)len);
        gzclose(gz);
        free(raw);
        e = load_ok(pp);
        if (e) {
            CHECK_INT(ptrag_embeddings_n_keys(e), 96);
            CHECK_INT(ptrag_embeddings_n_rows(e), 86);
        }
        ptrag_embeddings_free(e);
    }
}

static void expect_table_error(const char *name, const char *text, int code, const char *needle) {
    const char *p = tl_tmp(name);
    write_text(p, text);
    ptrag_embeddings *e = NULL;
    ptrag_error err;
    ptrag_error_clear(&err);
    CHECK_INT(ptrag_embeddings_load(p, &e, &err), code);
    CHECK(e == NULL);
    CHECK_CONTAINS(err.msg, name);
    CHECK_CONTAINS(err.msg, needle);
    ptrag_embeddings_free(e);
}

static void test_table_bad_input(void) {
    expect_table_error("test_embeddings_empty.tsv", "", PTRAG_E_FORMAT, "empty file");
    expect_table_error("test_embeddings_headeronly.tsv", "gene\tx\ty\n", PTRAG_E_FORMAT, "no data rows");
    expect_table_error("test_embeddings_ragged.tsv", "A\t1\t2\t3\nB\t1\t2\n", PTRAG_E_FORMAT,
                       "line 2 (gene 'B'): 2 values, expected 3");
    expect_table_error("test_embeddings_nan.tsv", "A\t1\t2\nB\t1\tnan\n", PTRAG_E_NUMERIC,
                       "line 2, column 3 (gene 'B'): value is NaN");
    expect_table_error("test_embeddings_inf.csv", "A,1,2\nB,inf,1\n", PTRAG_E_NUMERIC, "column 2 (gene 'B'): value is infinite");
    expect_table_error("test_embeddings_word.tsv", "A\t1\t2\nB\t1\toops\n", PTRAG_E_FORMAT,
                       "line 2, column 3 (gene 'B'): 'oops' is not a number");
    expect_table_error("test_embeddings_dup.tsv", "A\t1\t2\nB\t3\t4\nA\t1\t2.5\n", PTRAG_E_FORMAT,
                       "line 3: gene 'A' appears again with a different vector (first on line 1)");
    expect_table_error("test_embeddings_novalues.tsv", "A\nB\n", PTRAG_E_FORMAT, "line 1 (gene 'A'): no values");
    expect_table_error("test_embeddings_emptyname.tsv", "A\t1\n\t2\n", PTRAG_E_FORMAT, "line 2: empty gene name");
    expect_table_error("test_embeddings_badheader.tsv", "gene\ta\tb\tc\nA\t1\n", PTRAG_E_FORMAT,
                       "1 values, but the header has 4 columns");
    ptrag_embeddings *e = NULL;
    ptrag_error err;
    CHECK_INT(ptrag_embeddings_load(tl_tmp("test_embeddings_does_not_exist.tsv"), &e, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "test_embeddings_does_not_exist.tsv: cannot open");
}

static void test_merge_and_dimension_mismatch(void) {
    const char *p1 = tl_tmp("test_embeddings_m1.tsv"), *p2 = tl_tmp("test_embeddings_m2.tsv");
    write_text(p1, "A\t1\t0\nB\t0\t1\n");
    write_text(p2, "B\t5\t5\nC\t1\t1\nC2\t1\t1\n");
    ptrag_embeddings *a = load_ok(p1), *b = load_ok(p2), *m = NULL, *go = load_ok(tl_shared(GO_TSV));
    ptrag_embeddings *gp = load_ok(tl_shared(GENEPT_NDARRAY));
    ptrag_error err;
    if (!a || !b || !go || !gp) goto out;
    CHECK_INT(ptrag_embeddings_merge(a, b, &m, &err), 0);
    if (m) {
        CHECK_INT(ptrag_embeddings_n_keys(m), 4);
        CHECK_INT(ptrag_embeddings_n_rows(m), 4);
        CHECK(ptrag_embeddings_row(m, ptrag_embeddings_lookup(m, "B"))[0] == 0.0f); /* primary wins */
        CHECK(ptrag_embeddings_row(m, ptrag_embeddings_lookup(m, "C"))[0] == 1.0f);
    }
    ptrag_embeddings_free(m);
    m = NULL;
    CHECK_INT(ptrag_embeddings_merge(gp, go, &m, &err), PTRAG_E_FORMAT);
    CHECK(m == NULL);
    CHECK_CONTAINS(err.msg, "genept_adamson86_ndarray.pickle (1536 dimensions)");
    CHECK_CONTAINS(err.msg, "go_svd128_perturbation_genes.tsv (128 dimensions)");
    CHECK_CONTAINS(err.msg, "dimension mismatch");
    CHECK_INT(ptrag_embeddings_merge(a, go, &m, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "test_embeddings_m1.tsv (2 dimensions)");
out:
    ptrag_embeddings_free(a);
    ptrag_embeddings_free(b);
    ptrag_embeddings_free(go);
    ptrag_embeddings_free(gp);
}

static void test_create_from_memory(void) {
    const char *keys[3] = {"X", "Y", "X"};
    float rows[6] = {1, 2, 3, 4, 5, 6};
    ptrag_embeddings *e = NULL;
    ptrag_error err;
    CHECK_INT(ptrag_embeddings_create("mem", keys, rows, 2, 2, &e, &err), 0);
    if (e) {
        CHECK_STR(ptrag_embeddings_source(e), "mem");
        CHECK(ptrag_embeddings_row(e, ptrag_embeddings_lookup(e, "Y"))[1] == 4.0f);
    }
    ptrag_embeddings_free(e);
    CHECK_INT(ptrag_embeddings_create("mem", keys, rows, 3, 2, &e, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "mem: key 'X' appears twice");
    rows[3] = NAN;
    CHECK_INT(ptrag_embeddings_create("mem", keys, rows, 2, 2, &e, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "mem: key 'Y'");
}

/* A tiny gene_info where SARS is listed by both SARS1 and SARS2. */
static const char *tiny_gene_info(void) {
    const char *p = tl_tmp("test_embeddings_gene_info.tsv");
    write_text(p,
               "symbol\tentrez_id\tgene_type\tchromosome\tensembl_ids\taliases\tname\n"
               "SARS2\t54938\tprotein-coding\t19\t\tSARS|SARS2|SARSM|SERS\tmitochondrial\n"
               "SARS1\t6301\tprotein-coding\t1\t\tNEDMAS|SARS|SARS1|SERRS|SERS\tcytoplasmic\n"
               "PRELID3B\t51012\tprotein-coding\t20\t\tC20orf45|PRELID3B|SLMO2\tPRELI 3B\n"
               "GAPDH\t2597\tprotein-coding\t12\t\tG3PD|GAPD|GAPDH\tglyceraldehyde\n"
               "FAKE\t999999\tprotein-coding\t1\t\tGAPDH|FAKE\tlists GAPDH as an alias\n");
    return p;
}

static void test_aliases_on_tiny_tables(void) {
    const char *gi = tiny_gene_info();
    ptrag_error err;
    /* Table with current symbols: old symbols resolve to them. */
    const char *pt = tl_tmp("test_embeddings_current.tsv");
    write_text(pt, "SARS1\t1\t0\nPRELID3B\t0\t1\nGAPDH\t1\t1\n");
    ptrag_embeddings *e = load_ok(pt);
    if (!e) return;
    CHECK(ptrag_embeddings_lookup(e, "SARS") < 0); /* no aliases loaded yet */
    CHECK_INT(ptrag_embeddings_load_aliases(e, gi, &err), 0);
    ptrag_lookup_info info;
    CHECK_INT(ptrag_embeddings_resolve(e, "SARS", &info), ptrag_embeddings_lookup(e, "SARS1"));
    CHECK_INT(info.kind, PTRAG_MATCH_ALIAS);
    CHECK_INT(info.n_candidates, 2);
    CHECK_STR(ptrag_embeddings_key(e, info.key), "SARS1");
    CHECK_INT(ptrag_embeddings_lookup(e, "sars"), ptrag_embeddings_lookup(e, "SARS1"));
    CHECK_INT(ptrag_embeddings_lookup(e, "SERS"), ptrag_embeddings_lookup(e, "SARS1"));
    CHECK_INT(ptrag_embeddings_lookup(e, "SLMO2"), ptrag_embeddings_lookup(e, "PRELID3B"));
    CHECK(ptrag_embeddings_lookup(e, "SARSM") < 0); /* SARS2 has no vector here */
    CHECK(ptrag_embeddings_lookup(e, "SARS2") < 0);
    CHECK(ptrag_embeddings_lookup(e, "FAKE") < 0); /* GAPDH is owned by GAPDH, not FAKE */
    CHECK(ptrag_embeddings_lookup(e, "NOSUCHGENE") < 0);
    CHECK_INT(ptrag_embeddings_resolve(e, "gapdh", &info), ptrag_embeddings_lookup(e, "GAPDH"));
    CHECK_INT(info.kind, PTRAG_MATCH_CASE);
    ptrag_embeddings_free(e);

    /* Table with old symbols (like Scouter's CSV): current symbols find them. */
    const char *po = tl_tmp("test_embeddings_old.tsv");
    write_text(po, "SARS\t1\t0\nSLMO2\t0\t1\n");
    e = load_ok(po);
    if (!e) return;
    CHECK_INT(ptrag_embeddings_load_aliases(e, gi, &err), 0);
    CHECK_INT(ptrag_embeddings_lookup(e, "SARS1"), ptrag_embeddings_lookup(e, "SARS"));
    CHECK_INT(ptrag_embeddings_lookup(e, "PRELID3B"), ptrag_embeddings_lookup(e, "SLMO2"));
    CHECK(ptrag_embeddings_lookup(e, "SARS2") < 0); /* SARS belongs to SARS1 (lower Gene ID) */

    /* Bad gene_info files name the file and the column or line. */
    const char *bad = tl_tmp("test_embeddings_bad_gene_info.tsv");
    write_text(bad, "symbol\tentrez_id\tname\nA\t1\tx\n");
    CHECK_INT(ptrag_embeddings_load_aliases(e, bad, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "test_embeddings_bad_gene_info.tsv: header: no 'aliases' column");
    write_text(bad, "symbol\tentrez_id\taliases\nA\tone\tB\n");
    CHECK_INT(ptrag_embeddings_load_aliases(e, bad, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "test_embeddings_bad_gene_info.tsv: line 2: entrez_id 'one' is not an integer");
    /* A failed load keeps the aliases loaded before. */
    CHECK_INT(ptrag_embeddings_lookup(e, "SARS1"), ptrag_embeddings_lookup(e, "SARS"));
    ptrag_embeddings_free(e);
}

static void test_aliases_with_real_gene_info(void) {
    ptrag_embeddings *csv = load_ok(tl_shared(GENEPT_CSV));
    ptrag_embeddings *nd = load_ok(tl_shared(GENEPT_NDARRAY));
    ptrag_error err;
    if (!csv || !nd) goto out;
    CHECK_INT(ptrag_embeddings_load_aliases(csv, tl_shared(GENE_INFO), &err), 0);
    /* Every current GenePT symbol finds the CSV's old-symbol row, and the vectors agree. */
    for (int i = 0; i < 10; i++) {
        ptrag_lookup_info info;
        long r = ptrag_embeddings_resolve(csv, NEW_SYMBOLS[i], &info);
        CHECK_MSG(r == ptrag_embeddings_lookup(csv, OLD_SYMBOLS[i]), "%s -> row %ld", NEW_SYMBOLS[i], r);
        CHECK_INT(info.kind, PTRAG_MATCH_ALIAS);
        CHECK(same_row(csv, r, nd, ptrag_embeddings_lookup(nd, NEW_SYMBOLS[i])));
    }
    /* The GO table keeps old symbols too; the GenePT pickle resolves its own keys exactly. */
    ptrag_lookup_info info;
    CHECK(ptrag_embeddings_resolve(nd, "SARS", &info) >= 0);
    CHECK_INT(info.kind, PTRAG_MATCH_EXACT);
    /* A pickle without the alias keys: SARS -> SARS1 through the real gene_info. */
    const char *keys[2] = {"SARS1", "EIF2B2"};
    float rows[2 * 1536];
    memcpy(rows, ptrag_embeddings_row(nd, ptrag_embeddings_lookup(nd, "SARS1")), sizeof(float) * 1536);
    memcpy(rows + 1536, ptrag_embeddings_row(nd, ptrag_embeddings_lookup(nd, "EIF2B2")), sizeof(float) * 1536);
    ptrag_embeddings *small = NULL;
    CHECK_INT(ptrag_embeddings_create("two genes", keys, rows, 2, 1536, &small, &err), 0);
    if (small) {
        CHECK_INT(ptrag_embeddings_load_aliases(small, tl_shared(GENE_INFO), &err), 0);
        CHECK_INT(ptrag_embeddings_resolve(small, "SARS", &info), 0);
        CHECK_INT(info.kind, PTRAG_MATCH_ALIAS);
        CHECK_INT(info.n_candidates, 2); /* SARS1 and SARS2 both list SARS */
        CHECK(ptrag_embeddings_lookup(small, "SARS2") < 0);
        CHECK_INT(ptrag_embeddings_lookup(small, "EIF2Bbeta"), 1); /* an EIF2B2 synonym */
    }
    ptrag_embeddings_free(small);
out:
    ptrag_embeddings_free(csv);
    ptrag_embeddings_free(nd);
}

/* perturbation_gene_sets.tsv pairs each dataset gene name with its 2022
 * official symbol: the GO table is keyed by dataset names (old symbols such
 * as SARS, AARS), so every official symbol must resolve to its gene's row. */
static void test_aliases_match_curated_renames(void) {
    ptrag_embeddings *go = load_ok(tl_shared(GO_TSV));
    ptrag_error err;
    if (!go) return;
    CHECK_INT(ptrag_embeddings_load_aliases(go, tl_shared(GENE_INFO), &err), 0);
    FILE *f = fopen(tl_shared("data/go_svd128_embeddings/perturbation_gene_sets.tsv"), "r");
    CHECK(f != NULL);
    if (!f) {
        ptrag_embeddings_free(go);
        return;
    }
    char line[512], set[128], gene[128], official[128];
    int has, renamed = 0, resolved = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%127[^\t]\t%127[^\t]\t%127[^\t]\t%d", set, gene, official, &has) == 4 && has == 1 &&
            strcmp(gene, official) != 0 && strcmp(ptrag_embeddings_row_name(go, ptrag_embeddings_lookup(go, gene)), gene) == 0 &&
            !(ptrag_embeddings_lookup(go, official) >= 0 &&
              strcmp(ptrag_embeddings_row_name(go, ptrag_embeddings_lookup(go, official)), official) == 0)) {
            /* (PRELID3B and SLMO2 are both keys of the table: exact matches win there.) */
            renamed++;
            long want = ptrag_embeddings_lookup(go, gene), got = ptrag_embeddings_lookup(go, official);
            if (want >= 0 && got == want) resolved++;
            else fprintf(stderr, "  %s -> row %ld, expected %s (row %ld)\n", official, got, gene, want);
        }
    fclose(f);
    CHECK(renamed >= 40);
    CHECK_INT(resolved, renamed);
    ptrag_embeddings_free(go);
}

static void test_perturbation_features(void) {
    const char *p = tl_tmp("test_embeddings_feat.tsv");
    write_text(p, "A\t1\t2\t3\nB\t10\t20\t30\nC\t-1\t0\t1\n");
    ptrag_embeddings *e = load_ok(p);
    if (!e) return;
    const char *labels[6] = {"A", "A+B", "non-targeting", " B + C ", "A+non-targeting", "b"};
    float out[6 * 3];
    int missing[6];
    ptrag_error err;
    CHECK_INT(ptrag_embed_perturbations(e, labels, 6, "non-targeting", PTRAG_MISSING_ERROR, out, missing, &err), 0);
    const float want[6][3] = {{1, 2, 3}, {11, 22, 33}, {0, 0, 0}, {9, 20, 31}, {1, 2, 3}, {10, 20, 30}};
    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 3; j++) CHECK(out[i * 3 + j] == want[i][j]);
        CHECK_INT(missing[i], 0);
    }
    /* Missing genes: ERROR lists all of them, once each. */
    const char *bad[4] = {"A+FOO", "BAR", "FOO+B", "ctrl"};
    CHECK_INT(ptrag_embed_perturbations(e, bad, 4, "non-targeting", PTRAG_MISSING_ERROR, out, missing, &err),
              PTRAG_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "test_embeddings_feat.tsv: no vector for 3 genes: FOO, BAR, ctrl");
    char buf[64];
    CHECK_INT(ptrag_perturbations_missing_genes(e, bad, 4, "non-targeting", buf, sizeof buf), 3);
    CHECK_STR(buf, "FOO, BAR, ctrl");
    CHECK_INT(ptrag_perturbations_missing_genes(e, bad, 4, "non-targeting", buf, 14), 3);
    CHECK_STR(buf, "FOO, BAR, ...");
    CHECK_INT(ptrag_perturbations_missing_genes(e, bad, 4, "non-targeting", buf, 9), 3);
    CHECK_STR(buf, "FOO, ...");
    CHECK_INT(ptrag_perturbations_missing_genes(e, labels, 6, "non-targeting", buf, sizeof buf), 0);
    /* ZERO: the missing gene adds nothing; flagged. */
    CHECK_INT(ptrag_embed_perturbations(e, bad, 4, "ctrl", PTRAG_MISSING_ZERO, out, missing, &err), 0);
    CHECK(out[0] == 1 && out[1] == 2 && out[2] == 3);
    CHECK(out[3] == 0 && out[6] == 10);
    CHECK(missing[0] == 1 && missing[1] == 1 && missing[2] == 1 && missing[3] == 0);
    /* DROP: flagged and zeroed; needs missing[]. */
    CHECK_INT(ptrag_embed_perturbations(e, bad, 4, "ctrl", PTRAG_MISSING_DROP, out, missing, &err), 0);
    CHECK(out[0] == 0 && out[6] == 0 && missing[0] == 1 && missing[3] == 0);
    CHECK_INT(ptrag_embed_perturbations(e, bad, 4, "ctrl", PTRAG_MISSING_DROP, out, NULL, &err), PTRAG_E_ARG);
    /* Malformed labels. */
    const char *empty_part[1] = {"A+"};
    CHECK_INT(ptrag_embed_perturbations(e, empty_part, 1, NULL, PTRAG_MISSING_ZERO, out, NULL, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "label 'A+' has an empty gene name");
    /* Policy names. */
    ptrag_missing_policy pol;
    CHECK_INT(ptrag_missing_policy_parse("drop", &pol, &err), 0);
    CHECK_INT(pol, PTRAG_MISSING_DROP);
    CHECK_STR(ptrag_missing_policy_name(PTRAG_MISSING_ZERO), "zero");
    CHECK_INT(ptrag_missing_policy_parse("ignore", &pol, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "--missing: expected error, zero or drop, got 'ignore'");
    ptrag_embeddings_free(e);
}

/* Runs the CLI, capturing stdout; returns the exit status. */
static int run_cli(const char *args, char *out, size_t cap) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s neighbors %s 2>&1", PTRAG_CLI, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_neighbors(void) {
    static char out[1 << 16];
    char args[4096];
    snprintf(args, sizeof args, "--embeddings %s --gene EIF2B2,SEC61A1 --k 3 --json", tl_shared(GENEPT_LIST));
    CHECK_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "\"query\": \"EIF2B2\"");
    CHECK_CONTAINS(out, "{\"rank\": 1, \"gene\": \"EIF2B3\"");
    CHECK_CONTAINS(out, "{\"rank\": 2, \"gene\": \"EIF2B4\"");
    CHECK_CONTAINS(out, "{\"rank\": 1, \"gene\": \"SEC61B\"");
    /* --exclude, and the old symbol of the CSV reached through gene_info. */
    snprintf(args, sizeof args, "--embeddings %s --gene SARS1 --k 2 --exclude IARS2 --aliases %s", tl_shared(GENEPT_CSV),
             tl_shared(GENE_INFO));
    CHECK_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "SARS1 -> SARS (alias");
    CHECK_CONTAINS(out, "1     HARS ");
    CHECK(strstr(out, "IARS2") == NULL);
    /* Unknown genes: exit 1, all listed. */
    snprintf(args, sizeof args, "--embeddings %s --gene NOPE1,EIF2B2,NOPE2", tl_shared(GENEPT_NDARRAY));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "no vector for 2 genes: NOPE1, NOPE2");
    CHECK_INT(run_cli("--gene X", out, sizeof out), 2);
}

/* "A+B" labels: one splitter, trimmed parts, empty parts kept as empty. */
static void test_label_parts(void) {
    char *copy, **parts;
    long n;
    CHECK_INT(ptrag_label_parts(" KLF1 +  TP53+", &copy, &parts, &n), 0);
    CHECK_INT(n, 3);
    if (n == 3) {
        CHECK_STR(parts[0], "KLF1");
        CHECK_STR(parts[1], "TP53");
        CHECK_STR(parts[2], "");
    }
    free(copy), free(parts);
    CHECK_INT(ptrag_label_parts("SOX2", &copy, &parts, &n), 0);
    CHECK_INT(n, 1);
    if (n == 1) CHECK_STR(parts[0], "SOX2");
    free(copy), free(parts);
    const char *pos = "A+BC", *part;
    size_t len;
    CHECK_INT(ptrag_label_next_part(&pos, &part, &len), 1);
    CHECK(len == 1 && part[0] == 'A');
    CHECK_INT(ptrag_label_next_part(&pos, &part, &len), 1);
    CHECK(len == 2 && memcmp(part, "BC", 2) == 0);
    CHECK_INT(ptrag_label_next_part(&pos, &part, &len), 0);
}

int main(void) {
    if (access(tl_shared(GENEPT_NDARRAY), R_OK) != 0) {
        printf("skipped: %s not found\n", tl_shared(GENEPT_NDARRAY));
        return 77;
    }
    RUN(test_label_parts);
    RUN(test_real_pickles_and_csv_agree);
    RUN(test_pickle_alias_keys_share_rows);
    RUN(test_real_genept_neighbours);
    RUN(test_go_table_with_header);
    RUN(test_table_layouts);
    RUN(test_table_bad_input);
    RUN(test_merge_and_dimension_mismatch);
    RUN(test_create_from_memory);
    RUN(test_aliases_on_tiny_tables);
    RUN(test_aliases_with_real_gene_info);
    RUN(test_aliases_match_curated_renames);
    RUN(test_perturbation_features);
    RUN(test_cli_neighbors);
    return TEST_SUMMARY();
}
