/* Core utilities: error records, seeded RNGs, atomic file output, CLI dispatch. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "ptrag.h"
#include "testlib.h"

static void test_error_records(void) {
    ptrag_error err;
    ptrag_error_clear(&err);
    CHECK_INT(err.code, 0);
    int rc = ptrag_fail(&err, PTRAG_E_FORMAT, "%s: /X/indptr: not monotone at row %d", "a.h5ad", 7);
    CHECK_INT(rc, PTRAG_E_FORMAT);
    CHECK_STR(err.msg, "a.h5ad: /X/indptr: not monotone at row 7");
    ptrag_error_prefix(&err, "reading split %s", "s.toml");
    CHECK_STR(err.msg, "reading split s.toml: a.h5ad: /X/indptr: not monotone at row 7");
    CHECK_INT(ptrag_fail(NULL, PTRAG_E_IO, "ignored"), PTRAG_E_IO);
}

static void test_rng_is_seeded_and_uniform(void) {
    ptrag_rng a, b;
    ptrag_rng_seed(&a, 42);
    ptrag_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(ptrag_rng_u64(&a) == ptrag_rng_u64(&b));
    ptrag_rng_seed(&b, 43);
    CHECK(ptrag_rng_u64(&a) != ptrag_rng_u64(&b));
    /* Mean and variance of 100k uniforms and normals. */
    double s = 0, s2 = 0, ns = 0, ns2 = 0;
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        double u = ptrag_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        s += u;
        s2 += u * u;
        double z = ptrag_rng_normal(&a);
        ns += z;
        ns2 += z * z;
        counts[ptrag_rng_below(&a, 10)]++;
    }
    CHECK_NEAR(s / 1e5, 0.5, 0.01);
    CHECK_NEAR(s2 / 1e5 - 0.25, 1.0 / 12, 0.01);
    CHECK_NEAR(ns / 1e5, 0.0, 0.02);
    CHECK_NEAR(ns2 / 1e5, 1.0, 0.02);
    for (int k = 0; k < 10; k++) CHECK_NEAR(counts[k], 10000, 500);
}

static void test_counter_rng_is_a_pure_function(void) {
    CHECK(ptrag_hash_u64(1, 2, 3) == ptrag_hash_u64(1, 2, 3));
    CHECK(ptrag_hash_u64(1, 2, 3) != ptrag_hash_u64(1, 2, 4));
    CHECK(ptrag_hash_u64(1, 2, 3) != ptrag_hash_u64(1, 3, 3));
    CHECK(ptrag_hash_u64(1, 2, 3) != ptrag_hash_u64(2, 2, 3));
    double s = 0;
    for (int i = 0; i < 100000; i++) {
        double u = ptrag_hash_uniform(7, 0, (uint64_t)i);
        CHECK(u > 0 && u < 1);
        s += u;
    }
    CHECK_NEAR(s / 1e5, 0.5, 0.01);
}

static void test_shuffle_is_a_permutation(void) {
    ptrag_rng r;
    ptrag_rng_seed(&r, 1);
    int a[50], seen[50] = {0};
    for (int i = 0; i < 50; i++) a[i] = i;
    ptrag_rng_shuffle_int(&r, a, 50);
    int moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 50; i++) CHECK_INT(seen[i], 1);
    CHECK(moved > 25);
}

static void test_atomic_write_and_read(void) {
    ptrag_error err;
    const char *dir = tl_tmp("test_core_dir/a/b");
    CHECK_INT(ptrag_mkdir_p(dir, &err), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    CHECK_INT(ptrag_write_file_atomic(path, "hello\n", 6, &err), 0);
    char *data;
    size_t len;
    CHECK_INT(ptrag_read_file(path, &data, &len, &err), 0);
    CHECK_INT(len, 6);
    CHECK_STR(data, "hello\n");
    free(data);
    /* A write into a missing directory fails cleanly with the path named. */
    int rc = ptrag_write_file_atomic("/nonexistent-dir/x.txt", "x", 1, &err);
    CHECK(rc == PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "/nonexistent-dir/x.txt");
    rc = ptrag_read_file("/nonexistent-dir/y.txt", &data, &len, &err);
    CHECK(rc == PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "cannot open");
}

static void test_paths(void) {
    char out[256];
    ptrag_dirname("a/b/c.toml", out, sizeof out);
    CHECK_STR(out, "a/b");
    ptrag_dirname("c.toml", out, sizeof out);
    CHECK_STR(out, ".");
    ptrag_path_join("a/b", "../data/x.h5ad", out, sizeof out);
    CHECK_STR(out, "a/b/../data/x.h5ad");
    ptrag_path_join("a/b", "/abs/x.h5ad", out, sizeof out);
    CHECK_STR(out, "/abs/x.h5ad");
}

static void test_cli_version_and_unknown_command(void) {
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "%s --version", PTRAG_CLI);
    FILE *p = popen(cmd, "r");
    char line[256] = {0};
    CHECK(p && fgets(line, sizeof line, p));
    if (p) CHECK_INT(pclose(p), 0);
    CHECK_CONTAINS(line, "ptrag " PTRAG_VERSION);
    snprintf(cmd, sizeof cmd, "%s no-such-command 2>/dev/null", PTRAG_CLI);
    int rc = system(cmd);
    CHECK(rc != 0);
}

int main(void) {
    RUN(test_error_records);
    RUN(test_rng_is_seeded_and_uniform);
    RUN(test_counter_rng_is_a_pure_function);
    RUN(test_shuffle_is_a_permutation);
    RUN(test_atomic_write_and_read);
    RUN(test_paths);
    RUN(test_cli_version_and_unknown_command);
    return TEST_SUMMARY();
}
