/* The run-directory lock: a second holder is refused with the first's pid,
 * release lets the next one in, and taking it removes temporary files a
 * killed writer left (but nothing else). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "ptrag/fsutil.h"
#include "ptrag/run_lock.h"
#include "testlib.h"

static void touch(const char *dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    if (f) fclose(f);
}

static int exists(const char *dir, const char *name) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return ptrag_path_exists(p);
}

static void test_second_holder_refused(void) {
    const char *dir = tl_tmp("run_lock");
    ptrag_error err;
    CHECK_INT(ptrag_mkdir_p(dir, &err), 0);
    ptrag_run_lock a, b;
    CHECK_INT(ptrag_run_lock_acquire(dir, &a, &err), 0);
    CHECK_INT(ptrag_run_lock_acquire(dir, &b, &err), PTRAG_E_STATE);
    char pid[32];
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    CHECK_CONTAINS(err.msg, pid);
    CHECK_CONTAINS(err.msg, "another ptrag process");
    CHECK_INT(b.fd, -1);
    ptrag_run_lock_release(&a);
    CHECK_INT(ptrag_run_lock_acquire(dir, &b, &err), 0);
    ptrag_run_lock_release(&b);
    ptrag_run_lock_release(&b); /* twice is harmless */
}

static void test_stale_temporaries_removed(void) {
    const char *dir = tl_tmp("run_lock_temps");
    ptrag_error err;
    CHECK_INT(ptrag_mkdir_p(dir, &err), 0);
    touch(dir, "last.ckpt.tmp.1234.0");
    touch(dir, "config.txt.tmp.99.12");
    touch(dir, "last.ckpt");
    touch(dir, "notes.tmp.txt");   /* not ptrag's pattern */
    touch(dir, "x.tmp.12a.3");      /* not digits */
    ptrag_run_lock l;
    CHECK_INT(ptrag_run_lock_acquire(dir, &l, &err), 0);
    CHECK(!exists(dir, "last.ckpt.tmp.1234.0"));
    CHECK(!exists(dir, "config.txt.tmp.99.12"));
    CHECK(exists(dir, "last.ckpt"));
    CHECK(exists(dir, "notes.tmp.txt"));
    CHECK(exists(dir, "x.tmp.12a.3"));
    ptrag_run_lock_release(&l);
}

static void test_missing_directory_is_an_error(void) {
    ptrag_run_lock l;
    ptrag_error err;
    CHECK_INT(ptrag_run_lock_acquire("/nonexistent/ptrag/run", &l, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "/nonexistent/ptrag/run/.lock");
}

int main(void) {
    RUN(test_second_holder_refused);
    RUN(test_stale_temporaries_removed);
    RUN(test_missing_directory_is_an_error);
    return TEST_SUMMARY();
}
