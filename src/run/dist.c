/* Processes of a data-parallel run: see include/ptrag/dist.h. The only file
 * that calls MPI. */
#include "ptrag/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef PTRAG_HAVE_MPI
#include <mpi.h>
#endif

static int dist_rank = 0, dist_size = 1, dist_active = 0, dist_shared_failure = 0;

int ptrag_dist_available(void) {
#ifdef PTRAG_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

/* The world size an MPI launcher announces in the environment (0: none). */
static long launcher_size(int *launched) {
    static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"};
    *launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
    for (size_t i = 0; i < sizeof size_vars / sizeof size_vars[0]; i++) {
        const char *v = getenv(size_vars[i]);
        if (v && (i < 3 || *launched)) return strtol(v, NULL, 10);
    }
    return 0;
}

int ptrag_dist_init(int *argc, char ***argv, ptrag_error *err) {
    int launched;
    long size = launcher_size(&launched);
#ifdef PTRAG_HAVE_MPI
    if (!launched) return 0;
    int provided;
    /* Only the main thread calls MPI (OpenMP regions never do). */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return ptrag_fail(err, PTRAG_E_STATE, "MPI_Init failed (started by an MPI launcher of another MPI?)");
    MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &dist_size);
    dist_active = 1;
    (void)size;
    return 0;
#else
    (void)argc, (void)argv;
    if (launched && size > 1)
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED,
                          "started by an MPI launcher with %ld processes, but this ptrag was built without MPI "
                          "(install libopenmpi-dev and rebuild with -DPTRAG_MPI=ON): each process would train the "
                          "whole run on its own",
                          size);
    return 0;
#endif
}

/* Scratch of the float sums, kept between steps (one allocation per run). */
static float *scratch;
static size_t scratch_len;

void ptrag_dist_finalize(void) {
    free(scratch);
    scratch = NULL;
    scratch_len = 0;
#ifdef PTRAG_HAVE_MPI
    if (dist_active) MPI_Finalize();
#endif
    dist_active = 0;
}

void ptrag_dist_abort(int code) {
#ifdef PTRAG_HAVE_MPI
    if (dist_active && dist_size > 1) {
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    }
#endif
    (void)code;
}

int ptrag_dist_rank(void) { return dist_rank; }
int ptrag_dist_size(void) { return dist_size; }
int ptrag_dist_failures_shared(void) { return dist_shared_failure; }

#ifdef PTRAG_HAVE_MPI
static int mpi_failed(int mrc, const char *what, ptrag_error *err) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(mrc, text, &len);
    return ptrag_fail(err, PTRAG_E_IO, "rank %d of %d: %s failed: %s", dist_rank, dist_size, what, text);
}
#endif

int ptrag_dist_sum_f32(float *v, long n, double scale, ptrag_error *err) {
    if (dist_size == 1) {
        if (scale != 1.0)
            for (long i = 0; i < n; i++) v[i] = (float)(scale * v[i]);
        return 0;
    }
#ifdef PTRAG_HAVE_MPI
    /* Chunk r of every rank's vector goes to rank r (all-to-all), which sums
     * the N copies in rank order; the summed chunks are then all-gathered.
     * Vectors are padded to N equal chunks. */
    const long N = dist_size, chunk = (n + N - 1) / N;
    if (chunk > 0x7fffffffL)
        return ptrag_fail(err, PTRAG_E_ARG, "gradient of %ld floats is too large for one MPI message", n);
    const size_t need = 2 * (size_t)N * (size_t)chunk + (size_t)chunk;
    if (need > scratch_len) {
        float *s = realloc(scratch, need * sizeof *s);
        if (!s) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory for the gradient exchange (%zu floats)", need);
        scratch = s;
        scratch_len = need;
    }
    float *send = scratch, *recv = scratch + (size_t)N * chunk, *mine = recv + (size_t)N * chunk;
    memcpy(send, v, (size_t)n * sizeof *v);
    memset(send + n, 0, (size_t)(N * chunk - n) * sizeof *send);
    int mrc = MPI_Alltoall(send, (int)chunk, MPI_FLOAT, recv, (int)chunk, MPI_FLOAT, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) return mpi_failed(mrc, "MPI_Alltoall of the gradients", err);
    for (long i = 0; i < chunk; i++) {
        double s = 0.0;
        for (long r = 0; r < N; r++) s += recv[(size_t)r * chunk + i];
        mine[i] = (float)(scale * s);
    }
    mrc = MPI_Allgather(mine, (int)chunk, MPI_FLOAT, send, (int)chunk, MPI_FLOAT, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) return mpi_failed(mrc, "MPI_Allgather of the gradients", err);
    memcpy(v, send, (size_t)n * sizeof *v);
    return 0;
#else
    (void)err;
    return 0;
#endif
}

int ptrag_dist_sum_f64(double *v, int n, ptrag_error *err) {
    if (dist_size == 1 || n <= 0) return 0;
#ifdef PTRAG_HAVE_MPI
    double stack[64], *all = (size_t)n * (size_t)dist_size <= 64 ? stack : malloc((size_t)n * dist_size * sizeof *all);
    if (!all) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    int mrc = MPI_Allgather(v, n, MPI_DOUBLE, all, n, MPI_DOUBLE, MPI_COMM_WORLD);
    if (mrc == MPI_SUCCESS)
        for (int i = 0; i < n; i++) {
            double s = 0.0;
            for (int r = 0; r < dist_size; r++) s += all[(size_t)r * n + i];
            v[i] = s;
        }
    if (all != stack) free(all);
    return mrc == MPI_SUCCESS ? 0 : mpi_failed(mrc, "MPI_Allgather of a sum", err);
#else
    (void)v, (void)err;
    return 0;
#endif
}

int ptrag_dist_agree(int rc, ptrag_error *err) {
    if (dist_size == 1) return rc;
#ifdef PTRAG_HAVE_MPI
    int stack[256], *all = dist_size <= 256 ? stack : malloc((size_t)dist_size * sizeof *all);
    if (!all) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    int mrc = MPI_Allgather(&rc, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD);
    int first = -1;
    for (int r = 0; mrc == MPI_SUCCESS && r < dist_size && first < 0; r++)
        if (all[r]) first = r;
    int code = first >= 0 ? all[first] : 0;
    if (all != stack) free(all);
    if (mrc != MPI_SUCCESS) return mpi_failed(mrc, "MPI_Allgather of the ranks' status", err);
    if (first < 0) return 0;
    /* The cause travels from the failing rank; a rank without an error record
     * still receives it (into a local one). */
    ptrag_error local;
    ptrag_error *e = err ? err : &local;
    char msg[PTRAG_ERROR_MSG_MAX];
    if (dist_rank == first) snprintf(msg, sizeof msg, "%s", err ? err->msg : "(no message)");
    mrc = MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, MPI_COMM_WORLD);
    if (mrc != MPI_SUCCESS) return mpi_failed(mrc, "MPI_Bcast of a rank's error", err);
    msg[sizeof msg - 1] = '\0';
    dist_shared_failure++;
    return ptrag_fail(e, code, "rank %d of %d: %s", first, dist_size, msg);
#else
    (void)err;
    return rc;
#endif
}

int ptrag_dist_bcast(void *buf, size_t n, int root, ptrag_error *err) {
    if (dist_size == 1 || n == 0) return 0;
#ifdef PTRAG_HAVE_MPI
    if (n > 0x7fffffffUL) return ptrag_fail(err, PTRAG_E_ARG, "broadcast of %zu bytes is too large", n);
    int mrc = MPI_Bcast(buf, (int)n, MPI_BYTE, root, MPI_COMM_WORLD);
    return mrc == MPI_SUCCESS ? 0 : mpi_failed(mrc, "MPI_Bcast", err);
#else
    (void)buf, (void)root, (void)err;
    return 0;
#endif
}
