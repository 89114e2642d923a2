/* Benchmarks of stage-1 retrieval and embedding loading (driven by
 * bench/knn.sh, which runs the numpy/pickle references in the same script).
 *
 *   bench_knn knn N DIM Q K      exact cosine top-K of Q queries against N rows
 *   bench_knn load FILE [REPS]   load an embedding file (pickle or table)
 *
 * `knn` generates its data from a hash of (row, column) that
 * bench/knn_reference.py reproduces bit for bit, so both sides search the
 * same vectors; it prints timings and a checksum of the top-1 indices. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptrag.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* murmur3 finalizer of a 32-bit counter -> uniform in [-0.5, 0.5). */
static float hash_value(uint64_t row, uint64_t col, uint64_t dim, uint32_t seed) {
    uint32_t h = (uint32_t)(row * dim + col + (uint64_t)seed * 0x9E3779B9u);
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return (float)((double)h / 4294967296.0 - 0.5);
}

static float *make_matrix(long n, int dim, uint32_t seed) {
    float *m = malloc((size_t)n * (size_t)dim * sizeof *m);
    if (!m) return NULL;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        for (int j = 0; j < dim; j++) m[(size_t)i * (size_t)dim + (size_t)j] = hash_value((uint64_t)i, (uint64_t)j, (uint64_t)dim, seed);
    return m;
}

static int bench_knn(long n, int dim, long nq, int k) {
    float *db = make_matrix(n, dim, 1), *q = make_matrix(nq, dim, 2);
    long *idx = malloc((size_t)nq * (size_t)k * sizeof *idx);
    float *sim = malloc((size_t)nq * (size_t)k * sizeof *sim);
    if (!db || !q || !idx || !sim) {
        fprintf(stderr, "bench_knn: out of memory\n");
        return 1;
    }
    ptrag_error err;
    ptrag_knn_index *ix;
    double t0 = now();
    if (ptrag_knn_build(db, n, dim, &ix, &err) != 0) {
        fprintf(stderr, "bench_knn: %s\n", err.msg);
        return 1;
    }
    double t_build = now() - t0;
    free(db);
    size_t ws_bytes = ptrag_knn_workspace_bytes(ix, nq);
    void *ws = malloc(ws_bytes);
    /* One untimed warm-up query, then the timed batch. */
    ptrag_knn_search(ix, q, 1, k, NULL, NULL, ws, ws_bytes, idx, sim, &err);
    t0 = now();
    if (ptrag_knn_search(ix, q, nq, k, NULL, NULL, ws, ws_bytes, idx, sim, &err) != 0) {
        fprintf(stderr, "bench_knn: %s\n", err.msg);
        return 1;
    }
    double t_search = now() - t0;
    unsigned long long check = 0;
    for (long i = 0; i < nq; i++) check = (check + (unsigned long long)(i + 1) * (unsigned long long)idx[i * k]) % 2305843009213693951ULL;
    printf("c_knn n=%ld dim=%d queries=%ld k=%d block=%ld build_s=%.4f search_s=%.4f qps=%.1f top1_checksum=%llu\n", n, dim,
           nq, k, ptrag_knn_block_rows(ix), t_build, t_search, (double)nq / t_search, check);
    ptrag_knn_free(ix);
    free(ws);
    free(q);
    free(idx);
    free(sim);
    return 0;
}

static int bench_load(const char *path, int reps) {
    double best = 1e30;
    long keys = 0, rows = 0;
    int dim = 0;
    for (int r = 0; r < reps; r++) {
        ptrag_error err;
        ptrag_embeddings *e;
        double t0 = now();
        if (ptrag_embeddings_load(path, &e, &err) != 0) {
            fprintf(stderr, "bench_knn: %s\n", err.msg);
            return 1;
        }
        double t = now() - t0;
        if (t < best) best = t;
        keys = ptrag_embeddings_n_keys(e);
        rows = ptrag_embeddings_n_rows(e);
        dim = ptrag_embeddings_dim(e);
        ptrag_embeddings_free(e);
    }
    printf("c_load file=%s keys=%ld rows=%ld dim=%d best_s=%.4f\n", path, keys, rows, dim, best);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 6 && strcmp(argv[1], "knn") == 0)
        return bench_knn(atol(argv[2]), atoi(argv[3]), atol(argv[4]), atoi(argv[5]));
    if (argc >= 3 && strcmp(argv[1], "load") == 0) return bench_load(argv[2], argc >= 4 ? atoi(argv[3]) : 1);
    fprintf(stderr, "usage: bench_knn knn N DIM QUERIES K | bench_knn load FILE [REPS]\n");
    return 2;
}
