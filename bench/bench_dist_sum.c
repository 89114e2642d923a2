/* The gradient all-reduce of data-parallel training (docs/distributed.md):
 * ptrag_dist_sum_f32 (all-to-all, rank-order sum in double, all-gather)
 * against MPI_Allreduce(MPI_SUM) on the same buffer, in the same run.
 *
 *   mpirun -np 2 build/bench_dist_sum [--floats 12222048] [--reps 10]
 *
 * Prints, on rank 0, the median time of each and their ratio. 12,222,048
 * floats is the gradient of --preset paper at the published shapes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/dist.h"
#include "ptrag/progress.h"

#if __has_include(<mpi.h>)
#include <mpi.h>
#define HAVE_MPI_H 1
#endif

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    long n = 12222048;
    int reps = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--floats")) n = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    }
    ptrag_error err;
    if (ptrag_dist_init(&argc, &argv, &err)) {
        fprintf(stderr, "bench_dist_sum: %s\n", err.msg);
        return 1;
    }
    if (ptrag_dist_size() < 2 || reps < 1 || n < 1 || reps > 1000) {
        fprintf(stderr, "bench_dist_sum: run under mpirun -np N (N >= 2), 1 <= --reps <= 1000\n");
        ptrag_dist_finalize();
        return 2;
    }
    float *v = malloc((size_t)n * sizeof *v), *w = malloc((size_t)n * sizeof *w);
    double t_ours[1000], t_mpi[1000];
    if (!v || !w) return 1;
    for (int r = 0; r < reps; r++) {
        for (long i = 0; i < n; i++) v[i] = (float)((i % 97) * 1e-3 + ptrag_dist_rank());
        double t0 = ptrag_monotonic_seconds();
        if (ptrag_dist_sum_f32(v, n, 1.0, &err)) {
            fprintf(stderr, "bench_dist_sum: %s\n", err.msg);
            return 1;
        }
        t_ours[r] = ptrag_monotonic_seconds() - t0;
#ifdef HAVE_MPI_H
        for (long i = 0; i < n; i++) v[i] = (float)((i % 97) * 1e-3 + ptrag_dist_rank());
        t0 = ptrag_monotonic_seconds();
        MPI_Allreduce(v, w, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        t_mpi[r] = ptrag_monotonic_seconds() - t0;
#else
        t_mpi[r] = 0;
#endif
    }
    qsort(t_ours, (size_t)reps, sizeof *t_ours, cmp_double);
    qsort(t_mpi, (size_t)reps, sizeof *t_mpi, cmp_double);
    double a = t_ours[reps / 2], b = t_mpi[reps / 2];
    if (ptrag_dist_rank() == 0)
        printf("ranks=%d floats=%ld MB=%.1f ptrag_dist_sum_ms=%.1f mpi_allreduce_ms=%.1f ratio=%.2f "
               "ptrag_GB_per_s_per_rank=%.2f\n",
               ptrag_dist_size(), n, n * 4e-6, a * 1e3, b * 1e3, b > 0 ? a / b : 0.0,
               2.0 * (ptrag_dist_size() - 1) / ptrag_dist_size() * n * 4e-9 / a);
    free(v);
    free(w);
    ptrag_dist_finalize();
    return 0;
}
