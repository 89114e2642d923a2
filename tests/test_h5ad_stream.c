/* The streaming .h5ad writer (begin_rows/append_rows): rows appended in
 * uneven blocks, through a buffer shrunk to a few entries, read back equal
 * to the whole matrix, as CSR and dense; coded categorical columns; a short
 * or overlong stream is refused and leaves no file; same content, same bytes. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/h5ad_internal.h"
#include "ptrag.h"
#include "testlib.h"

enum { NO = 23, NV = 6 };

static void fill(float *x) {
    for (int i = 0; i < NO; i++)
        for (int j = 0; j < NV; j++) x[i * NV + j] = (i * 7 + j * 3) % 5 == 0 ? (float)(i + 0.5 * j) : 0.0f;
    for (int j = 0; j < NV; j++) x[4 * NV + j] = 0; /* an empty row */
}

static int write_stream(const char *path, const float *x, int as_csr, long stop_at, ptrag_error *err) {
    static const char *const cats[] = {"ctrl", "KD1", "KD2"};
    int32_t codes[NO];
    for (int i = 0; i < NO; i++) codes[i] = i % 4 == 3 ? -1 : i % 3;
    ptrag_h5ad_writer *w;
    int rc = ptrag_h5ad_writer_new(path, NO, NV, &w, err);
    if (!rc) rc = ptrag_h5ad_writer_begin_rows(w, as_csr, err);
    const long blocks[] = {1, 5, 0, 9, 8};
    long at = 0;
    for (int b = 0; b < 5 && !rc && at < stop_at; b++) {
        long n = blocks[b] < stop_at - at ? blocks[b] : stop_at - at;
        rc = ptrag_h5ad_writer_append_rows(w, x + at * NV, n, err);
        at += n;
    }
    if (!rc) rc = ptrag_h5ad_writer_add_obs_codes(w, "gene", cats, 3, codes, err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, err);
    ptrag_h5ad_writer_free(w);
    return rc;
}

static void check_back(const char *path, const float *x, ptrag_storage st) {
    ptrag_h5ad *h;
    ptrag_error err;
    int rc = ptrag_h5ad_open(path, NULL, &h, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK_INT(ptrag_h5ad_x_storage(h), st);
    CHECK_INT(ptrag_h5ad_n_obs(h), NO);
    float y[NO * NV];
    CHECK(ptrag_h5ad_read_block(h, 0, NO, y, &err) == 0);
    CHECK(memcmp(x, y, sizeof y) == 0);
    ptrag_column c;
    CHECK(ptrag_h5ad_read_obs(h, "gene", &c, &err) == 0);
    CHECK_INT(c.n_categories, 3);
    CHECK_STR(c.categories[1], "KD1"); /* categories kept in the order given */
    CHECK_INT(c.codes[2], 2);
    CHECK_INT(c.codes[3], -1);
    ptrag_column_free(&c);
    ptrag_h5ad_close(h);
}

static void test_stream_csr_and_dense(void) {
    float x[NO * NV];
    fill(x);
    ptrag_error err;
    ptrag_h5ad_set_buffer_entries(7); /* flushes inside appends */
    const char *p = tl_tmp("stream_csr.h5ad");
    CHECK_MSG(write_stream(p, x, 1, NO, &err) == 0, "%s", err.msg);
    check_back(p, x, PTRAG_STORAGE_CSR);
    const char *q = tl_tmp("stream_csr2.h5ad");
    CHECK(write_stream(q, x, 1, NO, &err) == 0);
    char *a = NULL, *b = NULL;
    size_t na, nb;
    CHECK(ptrag_read_file(p, &a, &na, &err) == 0 && ptrag_read_file(q, &b, &nb, &err) == 0);
    CHECK_MSG(na == nb && memcmp(a, b, na) == 0, "two writes of the same rows differ");
    free(a), free(b);
    ptrag_h5ad_set_buffer_entries(0);
    const char *d = tl_tmp("stream_dense.h5ad");
    CHECK_MSG(write_stream(d, x, 0, NO, &err) == 0, "%s", err.msg);
    check_back(d, x, PTRAG_STORAGE_DENSE);
}

static void test_stream_refusals(void) {
    float x[NO * NV];
    fill(x);
    ptrag_error err;
    const char *p = tl_tmp("stream_short.h5ad");
    unlink(p);
    CHECK(write_stream(p, x, 1, NO - 3, &err) == PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "20 of 23 rows");
    CHECK(!ptrag_path_exists(p));
    /* more rows than the file holds */
    ptrag_h5ad_writer *w;
    CHECK(ptrag_h5ad_writer_new(p, 2, NV, &w, &err) == 0);
    CHECK(ptrag_h5ad_writer_append_rows(w, x, 1, &err) == PTRAG_E_STATE); /* before begin_rows */
    CHECK(ptrag_h5ad_writer_begin_rows(w, 1, &err) == 0);
    CHECK(ptrag_h5ad_writer_append_rows(w, x, 3, &err) == PTRAG_E_ARG);
    CHECK(ptrag_h5ad_writer_set_x(w, x, 1, &err) == PTRAG_E_STATE);
    ptrag_h5ad_writer_free(w); /* removes its temporary file */
    CHECK(!ptrag_path_exists(p));
    char dir[4096];
    ptrag_dirname(p, dir, sizeof dir);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q 'stream_short.h5ad.tmp'", dir);
    CHECK_MSG(system(cmd) != 0, "a temporary file was left behind");
}

int main(void) {
    RUN(test_stream_csr_and_dense);
    RUN(test_stream_refusals);
    return TEST_SUMMARY();
}
