/* Exact cosine top-K against a brute-force double-precision reference on
 * random data with exact ties (duplicated rows), zero rows and a zero query;
 * exclusion lists; K beyond the candidates; workspaces and query blocks;
 * argument errors. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag.h"
#include "testlib.h"

#define N 600
#define D 24
#define Q 50

static float db[N * D], queries[Q * D];

static void make_data(void) {
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 11);
    for (int i = 0; i < N * D; i++) db[i] = (float)ptrag_rng_normal(&rng);
    /* Exact ties: rows 10, 200, 400 equal (400 scaled, same direction);
     * zero rows 5 and 300. */
    for (int j = 0; j < D; j++) {
        db[200 * D + j] = db[10 * D + j];
        db[400 * D + j] = 2.0f * db[10 * D + j];
        db[5 * D + j] = 0;
        db[300 * D + j] = 0;
    }
    for (int i = 0; i < Q * D; i++) queries[i] = (float)ptrag_rng_normal(&rng);
    for (int j = 0; j < D; j++) {
        queries[0 * D + j] = 0;                      /* the control */
        queries[1 * D + j] = db[10 * D + j];         /* a tied database direction */
        queries[2 * D + j] = 3.0f * db[77 * D + j];  /* a database row, scaled */
    }
}

/* Reference: cosine in double, exclusions, order (sim desc, index asc). */
typedef struct {
    double s;
    long i;
} cand;

static int cmp_cand(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

static double cosine(const float *a, const float *b) {
    double ab = 0, aa = 0, bb = 0;
    for (int j = 0; j < D; j++) {
        ab += (double)a[j] * b[j];
        aa += (double)a[j] * a[j];
        bb += (double)b[j] * b[j];
    }
    return ab / (fmax(sqrt(aa), 1e-12) * fmax(sqrt(bb), 1e-12));
}

/* Fills ref[k] for query q; returns the number of candidates. */
static long reference(const float *query, const long *excl, long nexcl, int k, cand *ref) {
    static cand all[N];
    long n = 0;
    for (long i = 0; i < N; i++) {
        int skip = 0;
        for (long t = 0; t < nexcl; t++) skip |= excl[t] == i;
        if (skip) continue;
        all[n].s = cosine(query, db + i * D);
        all[n].i = i;
        n++;
    }
    qsort(all, (size_t)n, sizeof *all, cmp_cand);
    for (int j = 0; j < k && j < n; j++) ref[j] = all[j];
    return n;
}

/* Compares one query's result with the reference: same similarities (float
 * tolerance), same indices except where the reference itself has a near-tie. */
static void compare(long q, const long *idx, const float *sim, const cand *ref, long avail, int k) {
    for (int j = 0; j < k; j++) {
        if (j >= avail) {
            CHECK_INT(idx[j], -1);
            CHECK(isnan(sim[j]));
            continue;
        }
        CHECK_NEAR(sim[j], ref[j].s, 2e-6);
        if (idx[j] != ref[j].i) {
            /* Only acceptable between values the float computation cannot separate. */
            double s_got = cosine(queries + q * D, db + idx[j] * D);
            CHECK_MSG(fabs(s_got - ref[j].s) < 2e-6, "query %ld rank %d: index %ld vs %ld", q, j, idx[j], ref[j].i);
        }
        if (j > 0) {
            CHECK(sim[j] <= sim[j - 1]);
            if (sim[j] == sim[j - 1]) CHECK(idx[j] > idx[j - 1]); /* ties by ascending index */
        }
    }
}

static void test_matches_double_reference(void) {
    ptrag_knn_index *ix;
    ptrag_error err;
    CHECK_INT(ptrag_knn_build(db, N, D, &ix, &err), 0);
    CHECK_INT(ptrag_knn_size(ix), N);
    CHECK_INT(ptrag_knn_dim(ix), D);
    enum { K = 16 };
    static long idx[Q * K];
    static float sim[Q * K];
    CHECK_INT(ptrag_knn_search(ix, queries, Q, K, NULL, NULL, NULL, 0, idx, sim, &err), 0);
    static cand ref[K];
    for (long q = 0; q < Q; q++) {
        long avail = reference(queries + q * D, NULL, 0, K, ref);
        compare(q, idx + q * K, sim + q * K, ref, avail, K);
    }
    /* The zero query (control): all similarities 0, lowest indices first. */
    for (int j = 0; j < K; j++) {
        CHECK_INT(idx[j], j);
        CHECK(sim[j] == 0.0f);
    }
    /* The tied direction: rows 10, 200, 400 in that order, cosine ~1. */
    CHECK_INT(idx[K + 0], 10);
    CHECK_INT(idx[K + 1], 200);
    CHECK_INT(idx[K + 2], 400);
    CHECK_NEAR(sim[K], 1.0, 1e-6);
    CHECK(sim[K] == sim[K + 1] && sim[K + 1] == sim[K + 2]);
    /* A scaled database row finds that row first. */
    CHECK_INT(idx[2 * K], 77);
    /* Zero database rows have similarity exactly 0 with everything. */
    const float *nrm = ptrag_knn_normalized(ix);
    for (int j = 0; j < D; j++) CHECK(nrm[5 * D + j] == 0.0f);
    ptrag_knn_free(ix);
}

static void test_exclusions_and_self(void) {
    ptrag_knn_index *ix;
    ptrag_error err;
    CHECK_INT(ptrag_knn_build(db, N, D, &ix, &err), 0);
    enum { K = 8 };
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 3);
    static long off[Q + 1], ind[Q * 40];
    off[0] = 0;
    for (long q = 0; q < Q; q++) {
        long n = (long)ptrag_rng_below(&rng, 40);
        for (long t = 0; t < n; t++) ind[off[q] + t] = (long)ptrag_rng_below(&rng, 30); /* near the front, repeats */
        off[q + 1] = off[q] + n;
    }
    static long idx[Q * K];
    static float sim[Q * K];
    CHECK_INT(ptrag_knn_search(ix, queries, Q, K, off, ind, NULL, 0, idx, sim, &err), 0);
    static cand ref[K];
    for (long q = 0; q < Q; q++) {
        long avail = reference(queries + q * D, ind + off[q], off[q + 1] - off[q], K, ref);
        compare(q, idx + q * K, sim + q * K, ref, avail, K);
        for (int j = 0; j < K; j++)
            for (long t = off[q]; t < off[q + 1]; t++) CHECK(idx[q * K + j] != ind[t]);
    }
    /* Queries given as database rows, excluding themselves. */
    long rows[4] = {10, 77, 5, 599};
    long idx2[4 * K], idx3[4 * K];
    float sim2[4 * K], sim3[4 * K];
    CHECK_INT(ptrag_knn_search_rows(ix, rows, 4, K, 1, NULL, NULL, NULL, 0, idx2, sim2, &err), 0);
    CHECK_INT(idx2[0], 200); /* row 10's twin, not itself */
    CHECK_INT(idx2[1], 400);
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < K; j++) CHECK(idx2[r * K + j] != rows[r]);
    /* ... which equals explicit self-exclusion lists on the raw vectors. */
    long soff[5] = {0, 1, 2, 3, 4};
    float qv[4 * D];
    for (int r = 0; r < 4; r++) memcpy(qv + r * D, db + rows[r] * D, sizeof(float) * D);
    CHECK_INT(ptrag_knn_search(ix, qv, 4, K, soff, rows, NULL, 0, idx3, sim3, &err), 0);
    CHECK(memcmp(idx2, idx3, sizeof idx2) == 0);
    for (int j = 0; j < 4 * K; j++) CHECK_NEAR(sim2[j], sim3[j], 1e-6);
    /* The zero row as a query skips itself: 0, 1, 2, 3, 4, 6, ... */
    CHECK_INT(idx2[2 * K + 4], 4);
    CHECK_INT(idx2[2 * K + 5], 6);
    ptrag_knn_free(ix);
}

static void test_k_beyond_candidates(void) {
    ptrag_knn_index *ix;
    ptrag_error err;
    CHECK_INT(ptrag_knn_build(db, 7, D, &ix, &err), 0);
    long idx[12];
    float sim[12];
    long off[2] = {0, 2}, ind[2] = {3, 3};
    CHECK_INT(ptrag_knn_search(ix, queries + 5 * D, 1, 12, off, ind, NULL, 0, idx, sim, &err), 0);
    for (int j = 0; j < 6; j++) CHECK(idx[j] >= 0 && idx[j] < 7 && idx[j] != 3);
    for (int j = 6; j < 12; j++) {
        CHECK_INT(idx[j], -1);
        CHECK(isnan(sim[j]));
    }
    /* Everything excluded: all slots empty. */
    long ind_all[7] = {0, 1, 2, 3, 4, 5, 6}, off_all[2] = {0, 7};
    CHECK_INT(ptrag_knn_search(ix, queries, 1, 3, off_all, ind_all, NULL, 0, idx, sim, &err), 0);
    CHECK(idx[0] == -1 && idx[1] == -1 && idx[2] == -1);
    ptrag_knn_free(ix);
}

/* Small blocks (many sgemm calls) and a caller workspace give the same answer. */
static void test_blocks_and_workspace(void) {
    ptrag_knn_index *ix;
    ptrag_error err;
    CHECK_INT(ptrag_knn_build(db, N, D, &ix, &err), 0);
    enum { K = 5 };
    static long a[Q * K], b[Q * K];
    static float sa[Q * K], sb[Q * K];
    CHECK_INT(ptrag_knn_search(ix, queries, Q, K, NULL, NULL, NULL, 0, a, sa, &err), 0);
    CHECK_INT(ptrag_knn_block_rows(ix) >= Q, 1);
    ptrag_knn_set_block_bytes(ix, 7 * (N + D) * sizeof(float)); /* 7 queries per block */
    CHECK_INT(ptrag_knn_block_rows(ix), 7);
    size_t need = ptrag_knn_workspace_bytes(ix, Q);
    CHECK_INT(need, 7 * (N + D) * sizeof(float));
    float *ws = malloc(need);
    CHECK_INT(ptrag_knn_search(ix, queries, Q, K, NULL, NULL, ws, need, b, sb, &err), 0);
    CHECK(memcmp(a, b, sizeof a) == 0);
    for (int j = 0; j < Q * K; j++) CHECK_NEAR(sa[j], sb[j], 1e-6);
    CHECK_INT(ptrag_knn_search(ix, queries, Q, K, NULL, NULL, ws, need - 4, b, sb, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "workspace");
    free(ws);
    ptrag_knn_free(ix);
}

static void test_bad_arguments(void) {
    ptrag_knn_index *ix = NULL;
    ptrag_error err;
    float bad[2 * 3] = {1, 2, 3, 4, NAN, 6};
    CHECK_INT(ptrag_knn_build(bad, 2, 3, &ix, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "database row 1");
    CHECK(ix == NULL);
    CHECK_INT(ptrag_knn_build(db, 0, D, &ix, &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_knn_build(db, N, D, &ix, &err), 0);
    long idx[4];
    float sim[4];
    CHECK_INT(ptrag_knn_search(ix, queries, 1, 0, NULL, NULL, NULL, 0, idx, sim, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "k must be at least 1");
    float q[D];
    memcpy(q, queries, sizeof q);
    q[3] = INFINITY;
    CHECK_INT(ptrag_knn_search(ix, q, 1, 4, NULL, NULL, NULL, 0, idx, sim, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "query 0");
    long off[2] = {0, 1}, ind[1] = {N};
    CHECK_INT(ptrag_knn_search(ix, queries, 1, 4, off, ind, NULL, 0, idx, sim, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "excludes index 600");
    long row = N;
    CHECK_INT(ptrag_knn_search_rows(ix, &row, 1, 4, 1, NULL, NULL, NULL, 0, idx, sim, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "query row 600");
    CHECK_INT(ptrag_knn_search(ix, queries, 0, 4, NULL, NULL, NULL, 0, idx, sim, &err), 0);
    ptrag_knn_free(ix);
}

int main(void) {
    make_data();
    RUN(test_matches_double_reference);
    RUN(test_exclusions_and_self);
    RUN(test_k_beyond_candidates);
    RUN(test_blocks_and_workspace);
    RUN(test_bad_arguments);
    return TEST_SUMMARY();
}
