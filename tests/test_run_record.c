/* The run record (record.txt): settings digest and diff, recorded files and
 * their keys, and --overwrite clearing only what ptrag recorded. */
#define _POSIX_C_SOURCE 200809L
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptrag/checksum.h"
#include "ptrag/config.h"
#include "ptrag/fsutil.h"
#include "ptrag/run_dir.h"
#include "ptrag/run_record.h"
#include "testlib.h"

static const char *fresh_dir(const char *name) {
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ & 3];
    char rel[256];
    snprintf(rel, sizeof rel, "test_run_record_%s.%ld", name, (long)getpid());
    snprintf(b, 4096, "%s", tl_tmp(rel));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", b);
    if (system(cmd) != 0) return b;
    ptrag_mkdir_p(b, NULL);
    return b;
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[4300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    ptrag_write_file_atomic(path, text, strlen(text), NULL);
}

static void test_settings_digest_and_diff(void) {
    ptrag_error err;
    const char *dir = fresh_dir("settings");
    write_text(dir, "split.toml", "[datasets]\n");
    write_text(dir, "data.h5ad", "not really h5ad");
    char split[4300], data[4300];
    snprintf(split, sizeof split, "%s/split.toml", dir);
    snprintf(data, sizeof data, "%s/data.h5ad", dir);
    ptrag_config a, b;
    ptrag_config_default(&a);
    b = a;
    char *ta, *tb;
    uint32_t da, db;
    CHECK_INT(ptrag_run_settings(&a, NULL, split, data, &ta, &da, &err), 0);
    /* Speed knobs and labels do not change a run: same digest. */
    snprintf(b.preset, sizeof b.preset, "paper");
    b.selection = PTRAG_SELECT_SAMPLE;
    CHECK_INT(ptrag_run_settings(&b, NULL, split, data, &tb, &db, &err), 0);
    CHECK_MSG(da == db, "preset/selection changed the digest");
    CHECK(da == ptrag_crc32(ta, strlen(ta)));
    CHECK_CONTAINS(ta, "checkpoint_format = ");
    CHECK_CONTAINS(ta, "input.data = ");
    free(tb);
    /* Keys added later, at the behaviour before they existed, are left out
     * (runs recorded before them keep their digest); set otherwise, they count. */
    CHECK(strstr(ta, "response_retrieval") == NULL && strstr(ta, "scorer_features") == NULL &&
          strstr(ta, "own_other_celltypes") == NULL && strstr(ta, "keep_threshold") == NULL);
    CHECK_CONTAINS(ta, "evidence = false");
    b = a;
    b.response_retrieval = 0.75;
    CHECK_INT(ptrag_run_settings(&b, NULL, split, data, &tb, &db, &err), 0);
    CHECK(da != db);
    CHECK_CONTAINS(tb, "response_retrieval = 0.75");
    free(tb);
    b = a;
    b.scorer_features = 1;
    CHECK_INT(ptrag_run_settings(&b, NULL, split, data, &tb, &db, &err), 0);
    CHECK(da != db);
    free(tb);
    /* A change of code that moved the bits of a precision is in the digest
     * (fp32 is at version 1: not written, so its runs keep their digest). */
    CHECK(strstr(ta, "numerics") == NULL);
    b = a;
    b.precision = PTRAG_PRECISION_BF16;
    CHECK_INT(ptrag_run_settings(&b, NULL, split, data, &tb, &db, &err), 0);
    char want[32];
    snprintf(want, sizeof want, "numerics = %d", PTRAG_NUMERICS_BF16);
    CHECK_CONTAINS(tb, want);
    free(tb);
    b = a;
    /* What determines the run does. */
    b.lr = 3e-3;
    b.steps = 200;
    CHECK_INT(ptrag_run_settings(&b, NULL, split, data, &tb, &db, &err), 0);
    CHECK(da != db);
    char diff[1024];
    CHECK_INT(ptrag_run_settings_diff(ta, tb, diff, sizeof diff), 2);
    CHECK_CONTAINS(diff, "lr: 0.001 -> 0.003");
    CHECK_CONTAINS(diff, "steps: 2000 -> 200");
    CHECK_INT(ptrag_run_settings_diff(ta, ta, diff, sizeof diff), 0);
    free(tb);
    /* The data's bytes are part of the settings (not its path). */
    write_text(dir, "data.h5ad", "other bytes");
    CHECK_INT(ptrag_run_settings(&a, NULL, split, data, &tb, &db, &err), 0);
    CHECK(da != db);
    CHECK_INT(ptrag_run_settings_diff(ta, tb, diff, sizeof diff), 1);
    CHECK_CONTAINS(diff, "input.data: ");
    free(tb);
    /* Steps replaced on resume. */
    char *tr;
    CHECK_INT(ptrag_run_settings_replace(ta, "steps", "40", &tr, &err), 0);
    CHECK_INT(ptrag_run_settings_diff(ta, tr, diff, sizeof diff), 1);
    CHECK_CONTAINS(diff, "steps: 2000 -> 40");
    free(tr);
    /* A missing input names itself. */
    CHECK(ptrag_run_settings(&a, NULL, "/nonexistent/split.toml", data, &tb, &db, &err) != 0);
    CHECK_CONTAINS(err.msg, "input 'split'");

    /* The record keeps the settings and matches them back. */
    char run[4300], why[2048];
    snprintf(run, sizeof run, "%s/run", dir);
    CHECK_INT(ptrag_run_dir_match(run, ta, why, sizeof why), PTRAG_RUN_ABSENT);
    CHECK_INT(ptrag_run_dir_create(run, 1, &err), 0);
    CHECK_INT(ptrag_run_record_set_settings(run, ta, &err), 0);
    CHECK_INT(ptrag_run_dir_match(run, ta, why, sizeof why), PTRAG_RUN_SAME);
    CHECK_INT(ptrag_run_settings(&b, NULL, split, data, &tb, &db, &err), 0);
    CHECK_INT(ptrag_run_dir_match(run, tb, why, sizeof why), PTRAG_RUN_DIFFERS);
    CHECK_CONTAINS(why, "lr: 0.001 -> 0.003");
    free(tb);
    /* A folder of files without a record is another run, never reused. */
    char legacy[4300];
    snprintf(legacy, sizeof legacy, "%s/legacy", dir);
    ptrag_mkdir_p(legacy, NULL);
    write_text(legacy, "config.txt", "# old\n");
    CHECK_INT(ptrag_run_dir_match(legacy, ta, why, sizeof why), PTRAG_RUN_DIFFERS);
    CHECK_CONTAINS(why, "no settings record");
    free(ta);
}

static void test_files_and_keys(void) {
    ptrag_error err;
    const char *dir = fresh_dir("files");
    write_text(dir, "config.txt", "# cfg\n");
    char path[4300];
    snprintf(path, sizeof path, "%s/pred.h5ad", dir);
    CHECK_INT(ptrag_run_record_is_current(dir, path, "k1"), 0); /* never recorded */
    write_text(dir, "pred.h5ad", "prediction one");
    CHECK_INT(ptrag_run_record_note(dir, path, "predict", "k1", &err), 0);
    CHECK_INT(ptrag_run_record_is_current(dir, path, "k1"), 1);
    CHECK_INT(ptrag_run_record_is_current(dir, path, NULL), 1);
    CHECK_INT(ptrag_run_record_is_current(dir, path, "k2"), 0); /* another checkpoint, mode, ... */
    /* The same name rewritten by someone else is stale. */
    write_text(dir, "pred.h5ad", "prediction two");
    CHECK_INT(ptrag_run_record_is_current(dir, path, "k1"), 0);
    /* Re-noting replaces the line, it does not add one. */
    CHECK_INT(ptrag_run_record_note(dir, path, "predict", "k2", &err), 0);
    ptrag_run_record rec;
    CHECK_INT(ptrag_run_record_read(dir, &rec, &err), 0);
    CHECK_INT(rec.exists, 1);
    CHECK_INT(rec.n_files, 1);
    if (rec.n_files == 1) {
        CHECK_STR(rec.files[0].name, "pred.h5ad");
        CHECK_STR(rec.files[0].command, "predict");
        CHECK_STR(rec.files[0].key, "k2");
        uint64_t d;
        CHECK_INT(ptrag_file_digest(path, &d, NULL, &err), 0);
        CHECK(rec.files[0].digest == d);
    }
    ptrag_run_record_free(&rec);
    /* A file ending with its own CRC-32 (as a checkpoint) has a constant
     * plain CRC-32; its digest still tells two of them apart. */
    unsigned char a[12] = "aaaaaaaa", b[12] = "bbbbbbbb";
    uint32_t ca = ptrag_crc32(a, 8), cb = ptrag_crc32(b, 8);
    for (int i = 0; i < 4; i++) {
        a[8 + i] = (unsigned char)(ca >> (8 * i));
        b[8 + i] = (unsigned char)(cb >> (8 * i));
    }
    CHECK(ptrag_crc32(a, 12) == ptrag_crc32(b, 12));
    char pa[4300], pb[4300];
    snprintf(pa, sizeof pa, "%s/a.ckpt", dir);
    snprintf(pb, sizeof pb, "%s/b.ckpt", dir);
    ptrag_write_file_atomic(pa, a, 12, NULL);
    ptrag_write_file_atomic(pb, b, 12, NULL);
    uint64_t da, db;
    CHECK_INT(ptrag_file_digest(pa, &da, NULL, &err), 0);
    CHECK_INT(ptrag_file_digest(pb, &db, NULL, &err), 0);
    CHECK(da != db);
    /* A malformed record is an error naming the line. */
    write_text(dir, "record.txt", "settings_digest = 0\nfile.x = predict zz\n");
    CHECK_INT(ptrag_run_record_read(dir, &rec, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "record.txt:2");
}

static void test_clear_deletes_only_recorded_files(void) {
    ptrag_error err;
    const char *dir = fresh_dir("clear");
    char run[4300], path[4400];
    snprintf(run, sizeof run, "%s/run", dir);
    ptrag_mkdir_p(run, NULL);
    write_text(run, "config.txt", "# cfg\n");
    write_text(run, "best.ckpt", "ckpt");
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/eval", run);
    ptrag_mkdir_p(sub, NULL);
    write_text(sub, "summary.csv", "m\n");
    snprintf(path, sizeof path, "%s/summary.csv", sub);
    CHECK_INT(ptrag_run_record_note(run, path, "experiment", "k", &err), 0);
    write_text(run, "p.h5ad", "pred");
    snprintf(path, sizeof path, "%s/p.h5ad", run);
    CHECK_INT(ptrag_run_record_note(run, path, "predict", "k", &err), 0);
    /* A file nobody recorded: refused, nothing deleted. */
    write_text(run, "notes.txt", "mine");
    CHECK_INT(ptrag_run_dir_clear(run, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "notes.txt");
    CHECK(ptrag_path_exists(path));
    snprintf(path, sizeof path, "%s/notes.txt", run);
    unlink(path);
    CHECK_INT(ptrag_run_dir_clear(run, &err), 0);
    CHECK_INT(ptrag_dir_nonempty(run), 0);
    CHECK(ptrag_path_exists(run));
    /* Not a run at all: refused. */
    write_text(run, "thesis.tex", "x");
    CHECK_INT(ptrag_run_dir_clear(run, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "not a ptrag run directory");
    snprintf(path, sizeof path, "%s/thesis.tex", run);
    CHECK(ptrag_path_exists(path));
    /* A run from before records: what an older experiment wrote goes with it,
     * anything else still stops --overwrite. */
    unlink(path);
    write_text(run, "config.txt", "# cfg\n");
    write_text(run, "pred-expected.h5ad", "p");
    write_text(run, "RETRIEVAL-expected.tsv", "r");
    snprintf(sub, sizeof sub, "%s/val-eval-expected", run);
    ptrag_mkdir_p(sub, NULL);
    write_text(sub, "summary.csv", "m\n");
    write_text(run, "p.h5ad", "by predict");
    CHECK_INT(ptrag_run_dir_clear(run, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "p.h5ad");
    snprintf(path, sizeof path, "%s/p.h5ad", run);
    unlink(path);
    CHECK_INT(ptrag_run_dir_clear(run, &err), 0);
    CHECK_INT(ptrag_dir_nonempty(run), 0);
    /* Missing or empty: nothing to do. */
    snprintf(path, sizeof path, "%s/none", dir);
    CHECK_INT(ptrag_run_dir_clear(path, &err), 0);
}

int main(void) {
    RUN(test_settings_digest_and_diff);
    RUN(test_files_and_keys);
    RUN(test_clear_deletes_only_recorded_files);
    return TEST_SUMMARY();
}
