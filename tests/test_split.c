/* STATE split files: loading, validation and the assignment of (cell type,
 * perturbation) conditions to train/val/test, on per-cell labels that mirror
 * the real shared data (tests/split_fixtures.h). */
#define _POSIX_C_SOURCE 200809L
#include <sys/stat.h>
#include <unistd.h>

#include "ptrag/fsutil.h"
#include "ptrag/split.h"
#include "split_fixtures.h"
#include "testlib.h"

/* A scratch folder with an (empty) dataset file, so path checks pass. */
static const char *scratch_dir(void) {
    static char dir[4096];
    snprintf(dir, sizeof dir, "%s", tl_tmp("test_split_dir"));
    mkdir(dir, 0777);
    char f[4200];
    snprintf(f, sizeof f, "%s/data.h5ad", dir);
    FILE *fp = fopen(f, "w");
    if (fp) fclose(fp);
    return dir;
}

/* Writes a split file into the scratch folder and returns its path. */
static const char *write_split(const char *name, const char *text) {
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", scratch_dir(), name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

static ptrag_split_spec *load_ok(const char *path) {
    ptrag_split_spec *spec = NULL;
    ptrag_error err = {0};
    int rc = ptrag_split_load(path, &spec, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return spec;
}

/* Loads text expected to fail; the message must name the file and `what`. */
static void load_bad(const char *name, const char *text, const char *what) {
    const char *path = write_split(name, text);
    ptrag_split_spec *spec = NULL;
    ptrag_error err = {0};
    CHECK(ptrag_split_load(path, &spec, &err) < 0);
    CHECK(spec == NULL);
    CHECK_CONTAINS(err.msg, name);
    CHECK_CONTAINS(err.msg, what);
    ptrag_split_spec_free(spec);
}

static long sum_condition_rows(const ptrag_assignment *a, int split) {
    long n = 0;
    for (int i = 0; i < a->n_conditions; i++)
        if (!a->conditions[i].is_control && (a->conditions[i].splits & PTRAG_SPLIT_MASK(split)))
            n += a->conditions[i].n_rows;
    return n;
}

static int code_of(const fixture_cells *f, const char *pert) {
    return fixture_code(f->pert_names, f->n_perts, pert);
}

static int ct_of(const fixture_cells *f, const char *ct) { return fixture_code(f->ct_names, f->n_ct, ct); }

static void test_load_real_files(void) {
    ptrag_split_spec *spec = load_ok(tl_shared("splits/perturbench_fewshot_a172.toml"));
    if (!spec) return;
    CHECK_INT(spec->n_datasets, 1);
    CHECK_STR(spec->datasets[0].name, "perturbench");
    CHECK(spec->datasets[0].in_training);
    CHECK_INT(spec->datasets[0].n_files, 1);
    CHECK_CONTAINS(spec->datasets[0].files[0], "perturbench_devel_4celltypes/devel.h5ad");
    CHECK(ptrag_path_exists(spec->datasets[0].files[0]));
    CHECK_INT(spec->n_zeroshot, 0);
    CHECK_INT(spec->n_fewshot, 1);
    CHECK_STR(spec->fewshot[0].dataset, "perturbench");
    CHECK_STR(spec->fewshot[0].celltype, "A172");
    CHECK_INT(spec->fewshot[0].n_val, 2);
    CHECK_INT(spec->fewshot[0].n_test, 5);
    CHECK_STR(spec->fewshot[0].test[2], "MAPK1");
    ptrag_split_spec_free(spec);

    spec = load_ok(tl_shared("splits/datlinger_fewshot_stimulated.toml"));
    if (!spec) return;
    CHECK_STR(spec->datasets[0].name, "datlinger");
    CHECK(ptrag_path_exists(spec->datasets[0].resolved));
    CHECK_STR(spec->fewshot[0].celltype, "stimulated");
    CHECK_INT(spec->fewshot[0].n_val, 3);
    CHECK_INT(spec->fewshot[0].n_test, 10);
    ptrag_split_spec_free(spec);
}

static ptrag_assignment *assign_ok(const ptrag_split_spec *spec, const char *ds,
                                   const ptrag_cell_labels *l, const char *control) {
    ptrag_assignment *a = NULL;
    ptrag_error err = {0};
    int rc = ptrag_split_assign(spec, ds, l, control, &a, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return a;
}

/* The published few-shot A172 split: 5 test conditions, 409 cells. */
static void test_perturbench_a172(void) {
    fixture_cells f;
    fixture_build(perturbench_counts, FIXTURE_LEN(perturbench_counts), &f);
    CHECK_INT(f.n_cells, perturbench_n_cells);
    ptrag_split_spec *spec = load_ok(tl_shared("splits/perturbench_fewshot_a172.toml"));
    if (!spec) return;
    ptrag_cell_labels l = fixture_labels(&f, 1);
    ptrag_assignment *a = assign_ok(spec, "perturbench", &l, "control");
    if (a) {
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TEST], 5);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_TEST], 409);
        CHECK_INT(sum_condition_rows(a, PTRAG_SPLIT_TEST), 409);
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_VAL], 2);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_VAL], 68 + 100);
        /* train: A172 MAP2K6 + MAP4K3, 9 + 9 of T98G/U87MG, 33 of k562 */
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TRAIN], 2 + 18 + 33);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_TRAIN], 5961 - 400 - 409 - 168);
        CHECK_INT(a->n_unused, 0);
        int a172 = ct_of(&f, "A172"), k562 = ct_of(&f, "k562");
        int ctl = code_of(&f, "control");
        CHECK_INT(a->control_code, ctl);
        int i = ptrag_assignment_find(a, a172, code_of(&f, "PLK4"));
        CHECK(i >= 0);
        if (i >= 0) {
            CHECK_INT(a->conditions[i].splits, PTRAG_SPLIT_MASK(PTRAG_SPLIT_TEST));
            CHECK_INT(a->conditions[i].n_rows, 46);
            int good = 1;
            for (long r = 0; r < a->conditions[i].n_rows; r++) {
                long row = a->conditions[i].rows[r];
                if (f.ct[row] != a172 || f.pert[row] != code_of(&f, "PLK4")) good = 0;
                if (r && a->conditions[i].rows[r - 1] >= row) good = 0;
            }
            CHECK(good);
        }
        i = ptrag_assignment_find(a, a172, code_of(&f, "MAP2K6"));
        CHECK(i >= 0 && a->conditions[i].splits == PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN));
        i = ptrag_assignment_find(a, a172, code_of(&f, "SGK1"));
        CHECK(i >= 0 && a->conditions[i].splits == PTRAG_SPLIT_MASK(PTRAG_SPLIT_VAL));
        /* held-out line's controls: in every split; other lines' controls: train */
        i = ptrag_assignment_find(a, a172, ctl);
        CHECK(i >= 0 && a->conditions[i].is_control && a->conditions[i].splits == PTRAG_SPLIT_MASK_ALL);
        i = ptrag_assignment_find(a, k562, ctl);
        CHECK(i >= 0 && a->conditions[i].splits == PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN));
        CHECK(ptrag_assignment_find(a, k562, code_of(&f, "TGFBR2")) >= 0);
        CHECK(ptrag_assignment_find(a, a172, code_of(&f, "KLF1")) < 0);
        /* control pools */
        CHECK_INT(a->ctrl[a172].n_rows, 100);
        int good = 1;
        for (long r = 0; r < a->ctrl[a172].n_rows; r++) {
            long row = a->ctrl[a172].rows[r];
            if (f.ct[row] != a172 || f.pert[row] != ctl) good = 0;
        }
        CHECK(good);
        int mc = fixture_code(f.batch_names, f.n_batches, "mcfaline23");
        int nm = fixture_code(f.batch_names, f.n_batches, "norman19");
        CHECK(mc >= 0 && nm >= 0);
        CHECK_INT(a->n_batches, 2);
        CHECK_INT(a->ctrl_batch[a172 * 2 + mc].n_rows, 100);
        CHECK_INT(a->ctrl_batch[a172 * 2 + nm].n_rows, 0);
        CHECK_INT(a->ctrl_batch[k562 * 2 + nm].n_rows, 100);

        /* dropping a perturbation (e.g. no embedding) keeps the controls */
        unsigned char keep[256];
        memset(keep, 1, sizeof keep);
        keep[code_of(&f, "MAPK1")] = 0;
        int before = a->n_conditions;
        ptrag_assignment_keep_perts(a, keep);
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TEST], 4);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_TEST], 309);
        CHECK_INT(a->n_conditions, before - 4); /* MAPK1 in A172, T98G, U87MG, k562 */
        CHECK(ptrag_assignment_find(a, a172, ctl) >= 0);
    }
    ptrag_assignment_free(a);
    ptrag_split_spec_free(spec);
    fixture_free(&f);
}

/* Datlinger: the cell-type role is played by `condition`. */
static void test_datlinger_stimulated(void) {
    fixture_cells f;
    fixture_build(datlinger_counts, FIXTURE_LEN(datlinger_counts), &f);
    CHECK_INT(f.n_cells, datlinger_n_cells);
    ptrag_split_spec *spec = load_ok(tl_shared("splits/datlinger_fewshot_stimulated.toml"));
    if (!spec) return;
    ptrag_cell_labels l = fixture_labels(&f, 0);
    ptrag_assignment *a = assign_ok(spec, "datlinger", &l, "non-targeting");
    if (a) {
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TEST], 10);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_TEST], 1802);
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_VAL], 3);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_VAL], 650);
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TRAIN], 27);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_TRAIN], 7500 - 200 - 1802 - 650);
        CHECK(a->ctrl_batch == NULL && a->batch_code == NULL);
        CHECK_INT(a->ctrl[ct_of(&f, "stimulated")].n_rows, 140);
    }
    ptrag_assignment_free(a);
    ptrag_split_spec_free(spec);
    fixture_free(&f);
}

static void test_zeroshot_and_unlisted_dataset(void) {
    fixture_cells f;
    fixture_build(perturbench_counts, FIXTURE_LEN(perturbench_counts), &f);
    ptrag_cell_labels l = fixture_labels(&f, 0);
    int a172 = ct_of(&f, "A172"), ctl = code_of(&f, "control");

    ptrag_split_spec *spec = load_ok(write_split("zs.toml",
                                                 "[datasets]\npb = \"data.h5ad\"\n"
                                                 "[training]\npb = \"train\"\n"
                                                 "[zeroshot]\n\"pb.A172\" = \"test\"\n"));
    ptrag_assignment *a = spec ? assign_ok(spec, "pb", &l, "control") : NULL;
    if (a) {
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TEST], 9);
        CHECK_INT(a->n_cells_split[PTRAG_SPLIT_TEST], 750);
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_VAL], 0);
        int i = ptrag_assignment_find(a, a172, ctl);
        CHECK(i >= 0 && a->conditions[i].splits ==
                            (PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN) | PTRAG_SPLIT_MASK(PTRAG_SPLIT_TEST)));
    }
    ptrag_assignment_free(a);
    ptrag_split_spec_free(spec);

    /* a dataset outside [training]: only its overridden cell type is used */
    spec = load_ok(write_split("fs_only.toml",
                               "[datasets]\npb = \"data.h5ad\"\n"
                               "[fewshot.\"pb.A172\"]\ntest = [\"PLK4\"]\n"));
    a = spec ? assign_ok(spec, "pb", &l, "control") : NULL;
    if (a) {
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TEST], 1);
        CHECK_INT(a->n_conditions_split[PTRAG_SPLIT_TRAIN], 8);
        CHECK_INT(a->n_unused, 5961 - 850);
        CHECK(ptrag_assignment_find(a, ct_of(&f, "k562"), ctl) < 0);
    }
    ptrag_assignment_free(a);
    ptrag_split_spec_free(spec);
    fixture_free(&f);
}

static void test_folder_and_glob_datasets(void) {
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/plates", scratch_dir());
    mkdir(dir, 0777);
    const char *names[] = {"b.h5ad", "a.h5ad", "notes.txt"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *fp = fopen(path, "w");
        if (fp) fclose(fp);
    }
    ptrag_split_spec *spec = load_ok(write_split("folder.toml",
                                                 "[datasets]\nplates = \"plates\"\n"
                                                 "globbed = \"plates/b*.h5ad\"\n"
                                                 "[training]\nplates = \"train\"\n"));
    if (!spec) return;
    CHECK(spec->datasets[0].is_dir);
    CHECK_INT(spec->datasets[0].n_files, 2);
    CHECK_CONTAINS(spec->datasets[0].files[0], "plates/a.h5ad");
    CHECK_CONTAINS(spec->datasets[0].files[1], "plates/b.h5ad");
    CHECK_INT(spec->datasets[1].n_files, 1);
    CHECK(!spec->datasets[1].in_training);
    ptrag_split_spec_free(spec);
}

static void test_bad_split_files(void) {
    load_bad("bad_syntax.toml",
             "[datasets]\npb = \"data.h5ad\"\n[fewshot.\"pb.A172\"]\nval = MAP4K5\n",
             "bad_syntax.toml: line 4:");
    load_bad("bad_path.toml", "# x\n[datasets]\npb = \"no/such/file.h5ad\"\n",
             "line 3: [datasets] pb = \"no/such/file.h5ad\": path");
    load_bad("bad_path2.toml", "[datasets]\npb = \"no/such/file.h5ad\"\n", "no/such/file.h5ad does not exist");
    load_bad("bad_both.toml",
             "[datasets]\npb = \"data.h5ad\"\n[training]\npb = \"train\"\n"
             "[fewshot.\"pb.A172\"]\nval = [\"SGK1\", \"MAPK1\"]\ntest = [\"MAPK1\"]\n",
             "line 5: [fewshot.\"pb.A172\"] perturbation 'MAPK1' is in both val and test");
    load_bad("bad_zs.toml",
             "[datasets]\npb = \"data.h5ad\"\n[zeroshot]\n\"pb.A172\" = \"testing\"\n",
             "line 4: [zeroshot] \"pb.A172\": unknown split \"testing\"");
    load_bad("bad_train.toml", "[datasets]\npb = \"data.h5ad\"\n[training]\npb = \"test\"\n",
             "line 4: [training] pb: value must be \"train\"");
    load_bad("bad_ds.toml", "[datasets]\npb = \"data.h5ad\"\n[training]\nother = \"train\"\n",
             "dataset 'other' is not listed in [datasets]");
    load_bad("bad_fsds.toml", "[datasets]\npb = \"data.h5ad\"\n[fewshot.\"xx.A172\"]\ntest = [\"A\"]\n",
             "dataset 'xx' is not listed in [datasets]");
    load_bad("bad_key.toml", "[datasets]\npb = \"data.h5ad\"\n[zeroshot]\nA172 = \"test\"\n",
             "must have the form \"dataset.celltype\"");
    load_bad("bad_section.toml", "[datasets]\npb = \"data.h5ad\"\n[fewshots]\n",
             "line 3: unknown section or key 'fewshots'");
    load_bad("bad_fskey.toml", "[datasets]\npb = \"data.h5ad\"\n[fewshot.\"pb.A172\"]\ntrain = [\"A\"]\n",
             "unknown key 'train' (expected val or test)");
    load_bad("bad_dup.toml", "[datasets]\npb = \"data.h5ad\"\n[fewshot.\"pb.A172\"]\ntest = [\"A\", \"A\"]\n",
             "lists 'A' twice");
    load_bad("bad_type.toml", "[datasets]\npb = \"data.h5ad\"\n[fewshot.\"pb.A172\"]\ntest = \"A\"\n",
             "test must be an array of perturbation names, not a string");
    load_bad("bad_empty.toml", "[training]\n", "[datasets]: no dataset listed");
    load_bad("bad_zsfs.toml",
             "[datasets]\npb = \"data.h5ad\"\n[zeroshot]\n\"pb.A172\" = \"val\"\n"
             "[fewshot.\"pb.A172\"]\ntest = [\"A\"]\n",
             "is both zeroshot (line 4) and fewshot");
}

/* Runs the assignment expecting an error that names the split file and `what`. */
static void assign_bad(const char *name, const char *text, const ptrag_cell_labels *l,
                       const char *control, const char *what, const char *what2) {
    ptrag_split_spec *spec = load_ok(write_split(name, text));
    if (!spec) return;
    ptrag_assignment *a = NULL;
    ptrag_error err = {0};
    CHECK(ptrag_split_assign(spec, "pb", l, control, &a, &err) < 0);
    CHECK(a == NULL);
    CHECK_CONTAINS(err.msg, name);
    CHECK_CONTAINS(err.msg, what);
    if (what2) CHECK_CONTAINS(err.msg, what2);
    ptrag_split_spec_free(spec);
}

static void test_bad_assignments(void) {
    fixture_cells f;
    fixture_build(perturbench_counts, FIXTURE_LEN(perturbench_counts), &f);
    ptrag_cell_labels l = fixture_labels(&f, 0);
    const char *head = "[datasets]\npb = \"data.h5ad\"\n[training]\npb = \"train\"\n";
    char text[1024];

    snprintf(text, sizeof text, "%s[fewshot.\"pb.A172\"]\ntest = [\"MAPK2\", \"PLK4\"]\n", head);
    assign_bad("nopert.toml", text, &l, "control", "line 5: [fewshot.\"pb.A172\"] test: perturbation 'MAPK2' has no cell of cell type 'A172' nor anywhere in the data",
               "nearest names: MAPK1, MAP2K3, MAP2K6");
    /* present in the data, but not in this cell type */
    snprintf(text, sizeof text, "%s[fewshot.\"pb.A172\"]\nval = [\"KLF1\"]\ntest = [\"PLK4\"]\n", head);
    assign_bad("otherct.toml", text, &l, "control", "perturbation 'KLF1' has no cell of cell type 'A172' (nearest", NULL);
    snprintf(text, sizeof text, "%s[fewshot.\"pb.A999\"]\ntest = [\"PLK4\"]\n", head);
    assign_bad("noct.toml", text, &l, "control", "cell type 'A999' of dataset 'pb' has no cell in the data",
               "cell types: A172, T98G, U87MG, k562");
    snprintf(text, sizeof text, "%s[fewshot.\"pb.A172\"]\nval = [\"PLK4\"]\n", head);
    assign_bad("notest.toml", text, &l, "control", "split 'test' is empty", NULL);
    snprintf(text, sizeof text, "%s[fewshot.\"pb.A172\"]\ntest = [\"control\"]\n", head);
    assign_bad("ctltest.toml", text, &l, "control", "lists the control label 'control'", NULL);
    snprintf(text, sizeof text, "%s[fewshot.\"pb.A172\"]\ntest = [\"PLK4\"]\n", head);
    assign_bad("badctl.toml", text, &l, "non-targeting",
               "control label 'non-targeting' is not a perturbation of the data", "nearest names:");

    /* a cell type without control cells: relabel A172's controls as missing */
    int a172 = ct_of(&f, "A172"), ctl = code_of(&f, "control");
    for (long i = 0; i < f.n_cells; i++)
        if (f.ct[i] == a172 && f.pert[i] == ctl) f.pert[i] = -1;
    assign_bad("noctl.toml", text, &l, "control",
               "cell type 'A172' has 750 perturbed cells but no control ('control') cell", NULL);
    fixture_free(&f);
}

static void test_nearest_names(void) {
    CHECK_INT(ptrag_edit_distance("kitten", "sitting"), 3);
    CHECK_INT(ptrag_edit_distance("", "abc"), 3);
    CHECK_INT(ptrag_edit_distance("MAPK1", "MAPK1"), 0);
    const char *names[] = {"TGFBR2", "MAPK1", "mapk2", "SGK1"};
    char out[128];
    ptrag_nearest_names("MAPK3", names, 4, 2, out, sizeof out);
    CHECK_STR(out, "MAPK1, mapk2");
    ptrag_nearest_names("x", names, 0, 2, out, sizeof out);
    CHECK_STR(out, "");
}

int main(void) {
    RUN(test_load_real_files);
    RUN(test_perturbench_a172);
    RUN(test_datlinger_stimulated);
    RUN(test_zeroshot_and_unlisted_dataset);
    RUN(test_folder_and_glob_datasets);
    RUN(test_bad_split_files);
    RUN(test_bad_assignments);
    RUN(test_nearest_names);
    return TEST_SUMMARY();
}
