/* Run directory files, training log (declared columns, resume), progress line. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptrag/config.h"
#include "ptrag/fsutil.h"
#include "ptrag/progress.h"
#include "ptrag/run_dir.h"
#include "ptrag/train_log.h"
#include "testlib.h"

/* A fresh run directory per process, so reruns never see old files. */
static const char *fresh_dir(const char *name) {
    static char buf[4][4096];
    static int next;
    char *b = buf[next++ & 3];
    char rel[256];
    snprintf(rel, sizeof rel, "test_run_dir_%s.%ld", name, (long)getpid());
    snprintf(b, 4096, "%s", tl_tmp(rel));
    return b;
}

static char *slurp(const char *path) {
    char *text = NULL;
    ptrag_error err;
    if (ptrag_read_file(path, &text, NULL, &err)) return NULL;
    return text;
}

static void test_create_and_check(void) {
    ptrag_error err;
    const char *dir = fresh_dir("create");
    char sub[4200];
    snprintf(sub, sizeof sub, "%s/nested/run", dir);
    CHECK_INT(ptrag_run_dir_check(sub, &err), PTRAG_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "run directory does not exist");
    CHECK_INT(ptrag_run_dir_create(sub, 1, &err), 0);
    CHECK_INT(ptrag_run_dir_check(sub, &err), PTRAG_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "nested/run: not a ptrag run directory (no config.txt)");

    ptrag_config c;
    ptrag_config_default(&c);
    c.hidden = 32;
    CHECK_INT(ptrag_run_write_config(sub, &c, &err), 0);
    CHECK_INT(ptrag_run_dir_check(sub, &err), 0);
    char path[4300];
    CHECK_INT(ptrag_run_path(sub, PTRAG_RUN_CONFIG, path, sizeof path, &err), 0);
    ptrag_config back;
    CHECK_INT(ptrag_config_read(&back, path, &err), 0);
    CHECK_INT(back.hidden, 32);

    /* A new run refuses a directory that already holds one; a resume accepts it. */
    CHECK_INT(ptrag_run_dir_create(sub, 1, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "already holds a run (config.txt exists)");
    CHECK_INT(ptrag_run_dir_create(sub, 0, &err), 0);

    /* Checkpoint paths. */
    CHECK_INT(ptrag_run_checkpoint_path(sub, "best", path, sizeof path, &err), PTRAG_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "best.ckpt: no such checkpoint");
    CHECK_INT(ptrag_write_file_atomic(path, "x", 1, &err), 0);
    CHECK_INT(ptrag_run_checkpoint_path(sub, "best", path, sizeof path, &err), 0);
    char expect[4300];
    snprintf(expect, sizeof expect, "%s/best.ckpt", sub);
    CHECK_STR(path, expect);
    CHECK_INT(ptrag_run_checkpoint_path(sub, "first", path, sizeof path, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "expected best or last, got 'first'");
    char tiny[8];
    CHECK_INT(ptrag_run_path(sub, PTRAG_RUN_LAST, tiny, sizeof tiny, &err), PTRAG_E_ARG);

    /* A path under a regular file cannot become a run directory. */
    char bad[4300];
    snprintf(bad, sizeof bad, "%s/best.ckpt/run", sub);
    CHECK(ptrag_run_dir_create(bad, 1, &err) < 0);
    CHECK_CONTAINS(err.msg, "best.ckpt");
}

static void test_command_line_is_exact_and_quoted(void) {
    ptrag_error err;
    char *argv[] = {"ptrag", "train", "--split", "../shared/splits/a b.toml", "--lr", "1e-3",
                    "--note", "it's", "", "--x=obsm/X_hvg"};
    int argc = (int)(sizeof argv / sizeof argv[0]);
    char *line = NULL;
    CHECK_INT(ptrag_shell_join(argc, argv, &line, &err), 0);
    CHECK_STR(line, "ptrag train --split '../shared/splits/a b.toml' --lr 1e-3 --note 'it'\\''s' '' "
                    "--x=obsm/X_hvg");
    free(line);
    const char *dir = fresh_dir("command");
    CHECK_INT(ptrag_run_dir_create(dir, 1, &err), 0);
    CHECK_INT(ptrag_run_write_command(dir, argc, argv, &err), 0);
    char path[4300];
    ptrag_run_path(dir, PTRAG_RUN_COMMAND, path, sizeof path, &err);
    char *text = slurp(path);
    CHECK_STR(text, "ptrag train --split '../shared/splits/a b.toml' --lr 1e-3 --note 'it'\\''s' '' "
                    "--x=obsm/X_hvg\n");
    free(text);
    /* The quoting survives a real shell: sh prints each argument on its own line. */
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "sh -c 'eval \"set -- $(cat %s)\"; printf \"[%%s]\\n\" \"$@\"'", path);
    FILE *p = popen(cmd, "r");
    if (p) {
        char out[1024] = "";
        size_t n = fread(out, 1, sizeof out - 1, p);
        out[n] = '\0';
        pclose(p);
        CHECK_STR(out, "[ptrag]\n[train]\n[--split]\n[../shared/splits/a b.toml]\n[--lr]\n[1e-3]\n"
                       "[--note]\n[it's]\n[]\n[--x=obsm/X_hvg]\n");
    }
}

static void test_meta_records_inputs_and_detects_changes(void) {
    ptrag_error err;
    const char *dir = fresh_dir("meta");
    CHECK_INT(ptrag_run_dir_create(dir, 1, &err), 0);
    char data[4300], split[4300];
    snprintf(data, sizeof data, "%s/data.bin", dir);
    snprintf(split, sizeof split, "%s/split.toml", dir);
    CHECK_INT(ptrag_write_file_atomic(data, "123456789", 9, &err), 0);
    CHECK_INT(ptrag_write_file_atomic(split, "", 0, &err), 0);
    ptrag_run_input in[2] = {{"data", data}, {"split", split}};
    CHECK_INT(ptrag_run_write_meta(dir, 42, in, 2, (time_t)86400 * 365, &err), 0);
    char path[4300];
    ptrag_run_path(dir, PTRAG_RUN_META, path, sizeof path, &err);
    char *text = slurp(path);
    char expect[9000];
    snprintf(expect, sizeof expect,
             "# ptrag run metadata (key = value)\n"
             "ptrag_version = %s\n"
             "seed = 42\n"
             "start_time = 1971-01-01T00:00:00Z\n"
             "input.data.path = %s\n"
             "input.data.size = 9\n"
             "input.data.crc32 = cbf43926\n"
             "input.split.path = %s\n"
             "input.split.size = 0\n"
             "input.split.crc32 = 00000000\n",
             PTRAG_VERSION, data, split);
    CHECK_STR(text, expect);
    free(text);

    /* Resume: unchanged inputs pass, a changed one is named. */
    CHECK_INT(ptrag_run_check_inputs(dir, in, 2, &err), 0);
    CHECK_INT(ptrag_write_file_atomic(data, "123456780", 9, &err), 0);
    CHECK_INT(ptrag_run_check_inputs(dir, in, 2, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "meta.txt: input 'data'");
    CHECK_CONTAINS(err.msg, "has changed since the run started");
    CHECK_CONTAINS(err.msg, "recorded cbf43926, size 9");
    ptrag_run_input other = {"embeddings", split};
    CHECK_INT(ptrag_run_check_inputs(dir, &other, 1, &err), PTRAG_E_NOTFOUND);
    CHECK_CONTAINS(err.msg, "no record of input 'embeddings'");

    /* An unreadable input is named by role and path; a bad role is refused. */
    char missing[4300];
    snprintf(missing, sizeof missing, "%s/none.h5ad", dir);
    ptrag_run_input bad = {"data", missing};
    CHECK_INT(ptrag_run_write_meta(dir, 1, &bad, 1, 0, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "checksum of input 'data'");
    CHECK_CONTAINS(err.msg, "none.h5ad: cannot open");
    ptrag_run_input badrole = {"my data", data};
    CHECK_INT(ptrag_run_write_meta(dir, 1, &badrole, 1, 0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "input role 'my data'");
    /* The failed writes left the earlier meta.txt as it was. */
    text = slurp(path);
    CHECK_CONTAINS(text, "input.data.crc32 = cbf43926\n");
    free(text);

    char when[32];
    ptrag_format_utc((time_t)1700000000, when, sizeof when);
    CHECK_STR(when, "2023-11-14T22:13:20Z");
}

static void test_train_log_columns_and_resume(void) {
    ptrag_error err;
    const char *dir = fresh_dir("log");
    CHECK_INT(ptrag_run_dir_create(dir, 1, &err), 0);
    char path[4300];
    ptrag_run_path(dir, PTRAG_RUN_LOG, path, sizeof path, &err);
    const char *extra[2] = {"sparsity_loss", "kept_fraction"};
    ptrag_train_log *log;
    CHECK_INT(ptrag_train_log_open(path, extra, 2, -1, &log, &err), 0);
    if (!log) return;
    CHECK_STR(ptrag_train_log_header(log), "step,train_loss,val_loss,seconds,sparsity_loss,kept_fraction");
    double e1[2] = {0.05, 0.625}, e2[2] = {0.04, NAN}, e3[2] = {0.03, 0.5};
    CHECK_INT(ptrag_train_log_row(log, 10, 0.5, NAN, 1.25, e1, &err), 0);
    CHECK_INT(ptrag_train_log_row(log, 20, 0.25, 0.3125, 2.5, e2, &err), 0);
    /* Rows are flushed at once: readable while the log is open. */
    char *text = slurp(path);
    CHECK_STR(text, "step,train_loss,val_loss,seconds,sparsity_loss,kept_fraction\n"
                    "10,0.5,,1.250,0.05,0.625\n"
                    "20,0.25,0.3125,2.500,0.04,\n");
    free(text);
    CHECK_INT(ptrag_train_log_row(log, 30, 0.125, NAN, 3.75, e3, &err), 0);
    CHECK_INT(ptrag_train_log_close(log, &err), 0);

    /* Resuming from the checkpoint of step 20 drops the row of step 30. */
    CHECK_INT(ptrag_train_log_open(path, extra, 2, 20, &log, &err), 0);
    if (!log) return;
    CHECK_INT(ptrag_train_log_row(log, 30, 0.125, NAN, 9.0, e3, &err), 0);
    CHECK_INT(ptrag_train_log_close(log, &err), 0);
    text = slurp(path);
    CHECK_STR(text, "step,train_loss,val_loss,seconds,sparsity_loss,kept_fraction\n"
                    "10,0.5,,1.250,0.05,0.625\n"
                    "20,0.25,0.3125,2.500,0.04,\n"
                    "30,0.125,,9.000,0.03,0.5\n");
    free(text);

    /* A torn last line (crash mid-write) is dropped on resume too. */
    FILE *f = fopen(path, "ab");
    fputs("40,0.1", f);
    fclose(f);
    CHECK_INT(ptrag_train_log_open(path, extra, 2, 100, &log, &err), 0);
    ptrag_train_log_close(log, &err);
    text = slurp(path);
    CHECK(text && !strstr(text, "40,0.1"));
    CHECK(text && strstr(text, "\n30,0.125,"));
    free(text);

    /* Resuming with other columns (another model kind) is refused. */
    CHECK_INT(ptrag_train_log_open(path, NULL, 0, 20, &log, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "train_log.csv: header 'step,train_loss,val_loss,seconds,sparsity_loss,kept_fraction' "
                            "does not match this run's columns 'step,train_loss,val_loss,seconds'");
    /* Resuming a log that does not exist, and bad column declarations. */
    char none[4300];
    snprintf(none, sizeof none, "%s/none.csv", dir);
    CHECK(ptrag_train_log_open(none, NULL, 0, 5, &log, &err) < 0);
    CHECK_CONTAINS(err.msg, "none.csv");
    const char *bad1[1] = {"kept fraction"}, *bad2[2] = {"a", "a"}, *bad3[1] = {"val_loss"};
    CHECK_INT(ptrag_train_log_open(none, bad1, 1, -1, &log, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "column name 'kept fraction'");
    CHECK_INT(ptrag_train_log_open(none, bad2, 2, -1, &log, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "column 'a' declared twice");
    CHECK_INT(ptrag_train_log_open(none, bad3, 1, -1, &log, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "'val_loss' is already a base column");
    CHECK(!ptrag_path_exists(none));
    /* A corrupted row is reported with its line. */
    CHECK_INT(ptrag_write_file_atomic(none, "step,train_loss,val_loss,seconds\n1,2,,3\nxx,1\n", 44, &err), 0);
    CHECK_INT(ptrag_train_log_open(none, NULL, 0, 5, &log, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "none.csv:3: expected a step number");
    /* A header cut before its newline still gets rows on their own lines. */
    CHECK_INT(ptrag_write_file_atomic(none, "step,train_loss,val_loss,seconds", 32, &err), 0);
    CHECK_INT(ptrag_train_log_open(none, NULL, 0, 5, &log, &err), 0);
    if (log) ptrag_train_log_row(log, 6, 1.0, NAN, 0.5, NULL, &err);
    ptrag_train_log_close(log, &err);
    text = slurp(none);
    CHECK_STR(text, "step,train_loss,val_loss,seconds\n6,1,,0.500\n");
    free(text);
    /* A new log replaces an old file. */
    CHECK_INT(ptrag_train_log_open(none, NULL, 0, -1, &log, &err), 0);
    ptrag_train_log_close(log, &err);
    text = slurp(none);
    CHECK_STR(text, "step,train_loss,val_loss,seconds\n");
    free(text);
    CHECK_INT(ptrag_train_log_close(NULL, &err), 0);
}

static void test_durations(void) {
    char b[32];
    struct { double s; const char *text; } cases[] = {
        {0, "0s"},         {0.4, "0s"},          {59.4, "59s"},        {59.6, "1m00s"},
        {151, "2m31s"},    {3599, "59m59s"},     {3600, "1h00m"},      {3725, "1h02m"},
        {86399, "23h59m"}, {90061, "1d01h"},     {-1, "--"},           {INFINITY, "--"},
        {NAN, "--"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ptrag_format_duration(cases[i].s, b, sizeof b);
        CHECK_MSG(strcmp(b, cases[i].text) == 0, "%g s -> '%s', expected '%s'", cases[i].s, b,
                  cases[i].text);
    }
    char line[128];
    ptrag_progress_format(line, sizeof line, 120, 2000, 0.43124, 12.5);
    CHECK_STR(line, "step 120/2000 loss 0.4312 12.5 steps/s ETA 2m30s");
    ptrag_progress_format(line, sizeof line, 5, 50001, 1.0, 0.25);
    CHECK_STR(line, "step 5/50001 loss 1.0000 0.25 steps/s ETA 2d07h");
    ptrag_progress_format(line, sizeof line, 100, 100, 0.1, 250.0);
    CHECK_STR(line, "step 100/100 loss 0.1000 250 steps/s ETA 0s");
    ptrag_progress_format(line, sizeof line, 0, 100, NAN, 0);
    CHECK_STR(line, "step 0/100 loss nan -- steps/s ETA --");
}

static char *capture_progress(int is_tty, long long start, long long total, long long every,
                              double dt) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ptrag_progress p;
    ptrag_progress_start(&p, f, is_tty, start, total, every, 100.0);
    for (long long s = start + 1; s <= total; s++) {
        ptrag_progress_update(&p, s, 1.0 / (double)s, 100.0 + dt * (double)(s - start));
        if (s == start + 5) ptrag_progress_message(&p, "step %lld: val_loss %.4f (best)", s, 0.25);
    }
    ptrag_progress_finish(&p);
    fclose(f);
    return buf;
}

static void test_progress_output_is_deterministic(void) {
    /* Plain log: every 4th step and the last, steps/s counted from the start. */
    char *out = capture_progress(0, 0, 10, 4, 0.5);
    CHECK_STR(out, "step 4/10 loss 0.2500 2.00 steps/s ETA 3s\n"
                   "step 5: val_loss 0.2500 (best)\n"
                   "step 8/10 loss 0.1250 2.00 steps/s ETA 1s\n"
                   "step 10/10 loss 0.1000 2.00 steps/s ETA 0s\n");
    free(out);
    /* Resumed at step 6: the rate counts only this session's steps. */
    out = capture_progress(0, 6, 10, 4, 0.25);
    CHECK_STR(out, "step 8/10 loss 0.1250 4.00 steps/s ETA 1s\n"
                   "step 10/10 loss 0.1000 4.00 steps/s ETA 0s\n");
    free(out);
    /* Terminal: redrawn in place at most every 0.1 s (here every 3rd step of
     * 0.04 s), the message erases the bar, the last step is always drawn. */
    out = capture_progress(1, 0, 7, 1, 0.04);
    CHECK_STR(out, "\rstep 1/7 loss 1.0000 25.0 steps/s ETA 0s"
                   "\rstep 4/7 loss 0.2500 25.0 steps/s ETA 0s"
                   "\r                                        \r"
                   "step 5: val_loss 0.2500 (best)\n"
                   "\rstep 6/7 loss 0.1667 25.0 steps/s ETA 0s"
                   "\rstep 7/7 loss 0.1429 25.0 steps/s ETA 0s\n");
    free(out);
    /* Lines of equal length are drawn over each other without padding ... */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ptrag_progress p;
    ptrag_progress_start(&p, f, 1, 0, 1000, 1, 0.0);
    ptrag_progress_update(&p, 1, 0.5, 10.0);     /* 0.10 steps/s, ETA 2h46m */
    ptrag_progress_update(&p, 1000, 0.5, 10.5);  /* 95.2 steps/s, ETA 0s */
    fclose(f);
    CHECK_STR(buf, "\rstep 1/1000 loss 0.5000 0.10 steps/s ETA 2h46m"
                   "\rstep 1000/1000 loss 0.5000 95.2 steps/s ETA 0s");
    free(buf);
    /* ... and a shorter line than the one on screen is padded to wipe it. */
    buf = NULL;
    f = open_memstream(&buf, &len);
    ptrag_progress_start(&p, f, 1, 0, 1000, 1, 0.0);
    ptrag_progress_update(&p, 1, 0.5, 10.0);
    ptrag_progress_update(&p, 999, 0.5, 11.0); /* 90.8 steps/s: one character shorter */
    fclose(f);
    CHECK_STR(buf, "\rstep 1/1000 loss 0.5000 0.10 steps/s ETA 2h46m"
                   "\rstep 999/1000 loss 0.5000 90.8 steps/s ETA 0s ");
    free(buf);
    CHECK(ptrag_monotonic_seconds() > 0);
}

int main(void) {
    RUN(test_create_and_check);
    RUN(test_command_line_is_exact_and_quoted);
    RUN(test_meta_records_inputs_and_detects_changes);
    RUN(test_train_log_columns_and_resume);
    RUN(test_durations);
    RUN(test_progress_output_is_deterministic);
    return TEST_SUMMARY();
}
