/* Splits whose [datasets] name several files, as STATE's cell-load reads
 * them: a folder, a glob, several datasets; .h5ad and .h5 names; cell types
 * from each file's cell-type column; labels merged across files; the
 * expression read from obsm. And the clear errors for what does not fit:
 * a glob matching nothing, a cell type no file holds, a file without the
 * expression source, files whose genes differ, a cell type in two datasets.
 * The files are tiny and written here (streamed X and obsm/X_hvg). */
#define _POSIX_C_SOURCE 200809L
#include <sys/stat.h>
#include <unistd.h>

#include "ptrag/dataset.h"
#include "ptrag/h5ad.h"
#include "testlib.h"

#define NG 6  /* genes of X */
#define NH 4  /* columns of obsm/X_hvg */
#define NC 12 /* cells a file */

static char dir[4096];

/* The obsm value of cell i of the file with seed s, gene j: distinct everywhere. */
static float hvg_value(int s, int i, int j) { return (float)(s * 1000 + i * 10 + j) / 100.0f; }

/* A file of one cell line: 4 controls, 4 cells of g1, 4 of `third` (g2 or g3),
 * batches 1/2 (numeric gem_group), raw counts in X, log-ish values in obsm. */
static void write_line(const char *name, const char *line, int s, const char *third, const char *odd_gene) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    const char *genes[NG] = {"A", "B", "C", "D", "E", "F"};
    if (odd_gene) genes[4] = odd_gene;
    const char *perts[NC], *lines[NC];
    double gem[NC];
    float x[NC * NG], h[NC * NH];
    for (int i = 0; i < NC; i++) {
        perts[i] = i < 4 ? "non-targeting" : i < 8 ? "g1" : third;
        lines[i] = line;
        gem[i] = 1 + i % 2;
        for (int j = 0; j < NG; j++) x[i * NG + j] = (float)((i + j + s) % 4);
        for (int j = 0; j < NH; j++) h[i * NH + j] = hvg_value(s, i, j);
    }
    ptrag_h5ad_writer *w = NULL;
    ptrag_error err;
    int rc = ptrag_h5ad_writer_new(path, NC, NG, &w, &err);
    if (!rc) rc = ptrag_h5ad_writer_begin_rows(w, 1, &err);
    if (!rc) rc = ptrag_h5ad_writer_begin_obsm(w, "X_hvg", NH, &err);
    if (!rc) rc = ptrag_h5ad_writer_append_rows(w, x, NC, &err);
    if (!rc) rc = ptrag_h5ad_writer_append_obsm_rows(w, h, NC, &err);
    if (!rc) rc = ptrag_h5ad_writer_set_var_names(w, genes, &err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_categorical(w, "gene", perts, &err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_categorical(w, "cell_line", lines, &err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "gem_group", gem, &err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, &err);
    ptrag_h5ad_writer_free(w);
    CHECK_MSG(rc == 0, "%s", err.msg);
}

static const char *write_split(const char *name, const char *text) {
    static char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static ptrag_dataset_opts opts(const char *x) {
    ptrag_dataset_opts o;
    ptrag_dataset_opts_default(&o);
    o.celltype_col = "cell_line";
    o.x_source = x;
    return o;
}

static ptrag_dataset *load(const char *split, const char *x) {
    ptrag_dataset_opts o = opts(x);
    ptrag_dataset *d = NULL;
    ptrag_error err = {0};
    int rc = ptrag_dataset_load(split, &o, &d, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return rc ? NULL : d;
}

static void load_bad(const char *split, const char *x, const char *needle) {
    ptrag_dataset_opts o = opts(x);
    ptrag_dataset *d = NULL;
    ptrag_error err = {0};
    CHECK(ptrag_dataset_load(split, &o, &d, &err) != 0);
    CHECK(d == NULL);
    CHECK_CONTAINS(err.msg, needle);
}

static void make_files(void) {
    snprintf(dir, sizeof dir, "%s", tl_tmp("test_split_files"));
    mkdir(dir, 0777);
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/lines", dir);
    mkdir(sub, 0777);
    snprintf(sub, sizeof sub, "%s/odd", dir);
    mkdir(sub, 0777);
    write_line("lines/K562.h5ad", "K562", 1, "g2", NULL);
    write_line("lines/RPE1.h5ad", "RPE1", 2, "g2", NULL);
    write_line("lines/Jurkat.h5", "Jurkat", 3, "g3", NULL); /* .h5 names count too */
    write_line("odd/K562.h5ad", "K562", 1, "g2", NULL);
    write_line("odd/Other.h5ad", "Other", 4, "g2", "EE"); /* gene 5 differs */
    write_line("lines_K562_again.h5ad", "K562", 5, "g2", NULL);
}

/* A folder: every file in name order, rows concatenated, labels merged. */
static void test_folder(void) {
    const char *split = write_split("folder.toml", "[datasets]\nrn = \"lines\"\n[training]\nrn = \"train\"\n"
                                                   "[fewshot.\"rn.Jurkat\"]\ntest = [\"g3\"]\nval = [\"g1\"]\n");
    ptrag_dataset *d = load(split, "obsm/X_hvg");
    if (!d) return;
    CHECK_INT(d->n_files, 3);
    CHECK_CONTAINS(d->files[0], "lines/Jurkat.h5"); /* sorted: Jurkat.h5, K562.h5ad, RPE1.h5ad */
    CHECK_CONTAINS(d->files[2], "lines/RPE1.h5ad");
    CHECK_INT(d->n_cells, 3 * NC);
    CHECK_INT(d->file_row0[1], NC);
    CHECK_INT(d->n_genes, NH);
    CHECK_INT(d->n_ct, 3);
    /* the sorted union of the files' perturbations */
    CHECK_INT(d->n_perts, 4);
    if (d->n_perts == 4) {
        CHECK_STR(d->pert_names[0], "g1");
        CHECK_STR(d->pert_names[2], "g3");
        CHECK_STR(d->pert_names[3], "non-targeting");
    }
    CHECK_INT(d->n_batches, 2);
    CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_TEST], 1);
    CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_VAL], 1);
    /* train: K562 and RPE1 (g1, g2) and nothing else of Jurkat (g1 is val, g3 test) */
    CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_TRAIN], 4);
    /* row 1 of the second file (K562, seed 1) holds its own obsm values */
    long row = d->file_row0[1] + 5;
    CHECK(d->row_slot[row] >= 0);
    if (d->row_slot[row] >= 0) {
        const float *x = ptrag_dataset_row(d, row);
        for (int j = 0; j < NH; j++) CHECK_NEAR(x[j], hvg_value(1, 5, j), 1e-6);
    }
    int k562 = ptrag_dataset_find_celltype(d, "K562");
    CHECK(k562 >= 0);
    CHECK_INT(d->ct_code[row], k562);
    CHECK_STR(d->pert_names[d->pert_code[row]], "g1");
    ptrag_dataset_free(d);
}

/* A glob, and raw counts in X (normalised: values differ from the counts). */
static void test_glob(void) {
    char text[9000];
    snprintf(text, sizeof text,
             "[datasets]\nrn = \"lines/[KR]*.h5ad\"\n[training]\nrn = \"train\"\n"
             "[zeroshot]\n\"rn.RPE1\" = \"test\"\n");
    ptrag_dataset *d = load(write_split("glob.toml", text), "X");
    if (!d) return;
    CHECK_INT(d->n_files, 2);
    CHECK_INT(d->n_cells, 2 * NC);
    CHECK_INT(d->n_genes, NG);
    CHECK(d->normalized);
    CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_TEST], 2);
    ptrag_dataset_free(d);
}

/* Several datasets: each cell type takes its dataset's rules. */
static void test_several_datasets(void) {
    const char *split = write_split("two.toml", "[datasets]\nk = \"lines/K562.h5ad\"\nothers = \"lines/*.h5\"\n"
                                                "[training]\nk = \"train\"\nothers = \"train\"\n"
                                                "[fewshot.\"others.Jurkat\"]\ntest = [\"g1\"]\n");
    ptrag_dataset *d = load(split, "obsm/X_hvg");
    if (!d) return;
    CHECK_INT(d->n_files, 2);
    CHECK_CONTAINS(d->files[0], "K562.h5ad"); /* spec order: dataset k first */
    CHECK_INT(d->n_ct, 2);
    CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_TEST], 1);
    int jurkat = ptrag_dataset_find_celltype(d, "Jurkat");
    for (int c = 0; c < d->assign->n_conditions; c++) {
        const ptrag_condition *cd = &d->assign->conditions[c];
        if (cd->splits == PTRAG_SPLIT_MASK(PTRAG_SPLIT_TEST)) CHECK_INT(cd->ct, jurkat);
    }
    ptrag_dataset_free(d);
}

static void test_errors(void) {
    load_bad(write_split("noglob.toml", "[datasets]\nrn = \"lines/*.loom\"\n[training]\nrn = \"train\"\n"), "obsm/X_hvg",
             "matches no .h5ad or .h5 file");
    load_bad(write_split("noct.toml", "[datasets]\nrn = \"lines\"\n[training]\nrn = \"train\"\n"
                                      "[fewshot.\"rn.HepG2\"]\ntest = [\"g1\"]\n"),
             "obsm/X_hvg", "[fewshot] cell type 'HepG2' of dataset 'rn' has no cell in the data (cell types: Jurkat, K562, RPE1)");
    load_bad(write_split("nox.toml", "[datasets]\nrn = \"lines\"\n[training]\nrn = \"train\"\n"), "obsm/X_pca",
             "lines/Jurkat.h5");
    load_bad(write_split("nox.toml", "[datasets]\nrn = \"lines\"\n[training]\nrn = \"train\"\n"), "obsm/X_pca",
             "obsm/X_pca");
    load_bad(write_split("genes.toml", "[datasets]\nrn = \"odd\"\n[training]\nrn = \"train\"\n"), "X",
             "odd/Other.h5ad: X gene 5 is 'EE' but in");
    load_bad(write_split("twice.toml", "[datasets]\na = \"lines/K562.h5ad\"\nb = \"lines_K562_again.h5ad\"\n"
                                       "[training]\na = \"train\"\nb = \"train\"\n"),
             "obsm/X_hvg", "cell type 'K562' is in dataset 'a'");
}

/* Resident cells that do not fit: an error before any expression is read. */
static void test_memory_check(void) {
    const char *split = write_split("mem.toml", "[datasets]\nrn = \"lines\"\n[training]\nrn = \"train\"\n"
                                                "[zeroshot]\n\"rn.RPE1\" = \"test\"\n");
    setenv("PTRAG_MEM_AVAILABLE", "500", 1); /* 36 cells x 6 genes x 4 bytes = 864 */
    load_bad(split, "X", "the split keeps 36 cells x 6 genes resident as float32: 0.00 GB, but only 0.00 GB");
    setenv("PTRAG_MEM_CHECK", "0", 1); /* the check can be skipped */
    ptrag_dataset *d = load(split, "X");
    CHECK(d != NULL);
    ptrag_dataset_free(d);
    unsetenv("PTRAG_MEM_CHECK");
    unsetenv("PTRAG_MEM_AVAILABLE");
    d = load(split, "X");
    CHECK(d != NULL);
    ptrag_dataset_free(d);
}

int main(void) {
    make_files();
    RUN(test_folder);
    RUN(test_glob);
    RUN(test_several_datasets);
    RUN(test_errors);
    RUN(test_memory_check);
    return TEST_SUMMARY();
}
