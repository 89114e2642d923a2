/* Streaming throughput of the .h5ad reader (driven by bench/h5ad_stream.sh,
 * which runs h5py on the same file the same way and prints the ratios).
 *
 *   bench_h5ad_stream FILE block  [BLOCK_ROWS]            every row, in blocks
 *   bench_h5ad_stream FILE random [N_ROWS] [BATCH] [SEED]  random minibatches
 *
 * Prints one line: mode, rows, seconds, rows/s, a checksum (sum of all values
 * read, to compare with h5py) and the peak resident memory (ru_maxrss). Each
 * mode runs in its own process so the peak memory belongs to that mode. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ptrag.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double peak_rss_mb(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)u.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[2], "block") != 0 && strcmp(argv[2], "random") != 0)) {
        fprintf(stderr, "usage: %s FILE block [BLOCK_ROWS] | FILE random [N_ROWS] [BATCH] [SEED]\n", argv[0]);
        return 2;
    }
    int random_mode = strcmp(argv[2], "random") == 0;
    ptrag_error err;
    ptrag_h5ad *h;
    double t0 = now();
    if (ptrag_h5ad_open(argv[1], NULL, &h, &err)) {
        fprintf(stderr, "bench_h5ad_stream: %s\n", err.msg);
        return 1;
    }
    double t_open = now() - t0;
    long n = ptrag_h5ad_n_obs(h), m = ptrag_h5ad_n_vars(h);
    long block = !random_mode && argc > 3 ? atol(argv[3]) : 1024;
    long total = random_mode && argc > 3 ? atol(argv[3]) : n;
    long batch = random_mode && argc > 4 ? atol(argv[4]) : 256;
    unsigned long seed = random_mode && argc > 5 ? strtoul(argv[5], NULL, 10) : 1;
    long bufrows = random_mode ? batch : block;
    if (bufrows < 1 || total < 0) {
        fprintf(stderr, "bench_h5ad_stream: bad sizes\n");
        ptrag_h5ad_close(h);
        return 2;
    }
    float *out = malloc((size_t)bufrows * (size_t)m * sizeof *out);
    long *rows = malloc((size_t)bufrows * sizeof *rows);
    if (!out || !rows) {
        fprintf(stderr, "bench_h5ad_stream: out of memory\n");
        return 1;
    }
    ptrag_rng rng;
    ptrag_rng_seed(&rng, seed);
    double checksum = 0;
    int rc = 0;
    t0 = now();
    for (long done = 0; done < total && rc == 0;) {
        long k = total - done < bufrows ? total - done : bufrows;
        if (random_mode) {
            for (long i = 0; i < k; i++) rows[i] = (long)ptrag_rng_below(&rng, (uint64_t)n);
            rc = ptrag_h5ad_read_rows(h, rows, k, NULL, 0, out, &err);
        } else {
            rc = ptrag_h5ad_read_block(h, done, k, out, &err);
        }
        for (long e = 0; e < k * m && rc == 0; e++) checksum += out[e];
        done += k;
    }
    double secs = now() - t0;
    if (rc) {
        fprintf(stderr, "bench_h5ad_stream: %s\n", err.msg);
    } else {
        printf("impl=ptrag mode=%s rows=%ld genes=%ld open_s=%.3f seconds=%.3f rows_per_s=%.0f checksum=%.6e peak_rss_mb=%.1f\n",
               random_mode ? "random" : "block", total, m, t_open, secs, secs > 0 ? (double)total / secs : 0,
               checksum, peak_rss_mb());
    }
    free(out);
    free(rows);
    ptrag_h5ad_close(h);
    return rc ? 1 : 0;
}
