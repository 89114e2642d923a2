/* Data-parallel training under mpirun (docs/distributed.md), 2 ranks on
 * loopback, on the real A172 split:
 *  - the rank-order sums and the failure agreement of src/run/dist.c (this
 *    program, started under mpirun with --dist-worker);
 *  - PT-RAG with 2 and 3 ranks (8 sets: 4 + 4, 2 + 3 + 3) = the
 *    single-process run of the same global batch and seed, within float
 *    rounding (tolerances below); 2 ranks give the same bytes on every
 *    repetition;
 *  - --resume with 2 ranks continues bit-identically to an uninterrupted
 *    2-rank run, and a 1-process run resumed on 2 ranks agrees within the
 *    same tolerance;
 *  - faults: one rank with a missing input, one that loaded other data,
 *    rank 0 unable to write its checkpoint, one killed by SIGKILL after the first checkpoint (the job stops non-zero,
 *    names the rank; last.ckpt stays a whole checkpoint that --resume
 *    continues bit-identically); more ranks than sets in a batch.
 * Skipped (77) without MPI in the build, without mpirun, or without the
 * data. */
#define _POSIX_C_SOURCE 200809L
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptrag.h"
#include "ptrag/dist.h"
#include "testlib.h"

static char split[4096], emb[4096], dir[4096], self[4096];

/* OpenMPI refuses root unless told; --oversubscribe: 2 ranks on any core count. */
#define MPIRUN_ENV "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 "
#define MPIRUN_FLAGS "--oversubscribe --mca btl self,vader,tcp"

/* PT-RAG, small: 8 sets per batch, 4 per rank; validation every 10 steps. */
#define SMALL                                                                                        \
    "--model ptrag --hidden 32 --layers 1 --heads 2 --head-dim 16 --mlp 64 --set-size 16 --batch 8 " \
    "--val-every 10 --precision fp32 --threads 1 --quiet"

static const char *data_flags(void) {
    static char buf[8192];
    snprintf(buf, sizeof buf, "--split %s --embeddings %s --pert-col perturbation --control control --missing drop",
             split, emb);
    return buf;
}

static int status_of(int rc) { return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1; }

/* `mpirun -np NP ptrag ARGS`, stderr to errfile. */
static int mpi_ptrag(int np, const char *args, const char *errfile) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, MPIRUN_ENV "%s " MPIRUN_FLAGS " -np %d %s %s >/dev/null 2>%s", PTRAG_MPIEXEC, np,
             PTRAG_CLI, args, errfile ? errfile : "/dev/null");
    return status_of(system(cmd));
}

/* Two ranks with their own command lines (MPMD): rank 0 runs `a`, rank 1
 * `b`, each a full command (so it may be a wrapper). */
static int mpi_two_cmds(const char *a, const char *b, const char *errfile) {
    char cmd[32768];
    snprintf(cmd, sizeof cmd, MPIRUN_ENV "%s " MPIRUN_FLAGS " -np 1 %s : -np 1 %s >/dev/null 2>%s", PTRAG_MPIEXEC, a,
             b, errfile);
    return status_of(system(cmd));
}

/* The same with rank 0 running `ptrag a`. */
static int mpi_two(const char *a, const char *b, const char *errfile) {
    char cmd0[16384];
    snprintf(cmd0, sizeof cmd0, "%s %s", PTRAG_CLI, a);
    return mpi_two_cmds(cmd0, b, errfile);
}

static int ptrag1(const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s %s >/dev/null 2>/dev/null", PTRAG_CLI, args);
    return status_of(system(cmd));
}

static char *slurp(const char *path) {
    char *t = NULL;
    if (ptrag_read_file(path, &t, NULL, NULL)) return NULL;
    return t;
}

static int file_equal(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    int ok = ptrag_read_file(a, &x, &nx, NULL) == 0 && ptrag_read_file(b, &y, &ny, NULL) == 0 && nx == ny &&
             memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return ok;
}

/* The trainable values of a checkpoint (layout: include/ptrag/checkpoint.h). */
static float *ckpt_values(const char *path, long *n) {
    char *b = NULL;
    size_t len = 0;
    *n = 0;
    if (ptrag_read_file(path, &b, &len, NULL) || len < 64) {
        free(b);
        return NULL;
    }
    uint32_t header;
    uint64_t n_trainable;
    memcpy(&header, b + 12, 4);
    memcpy(&n_trainable, b + 56, 8);
    if ((size_t)header + n_trainable * 4 > len) {
        free(b);
        return NULL;
    }
    float *v = malloc(n_trainable * sizeof *v + 1);
    memcpy(v, b + header, n_trainable * sizeof *v);
    free(b);
    *n = (long)n_trainable;
    return v;
}

/* Largest |a - b| over the trainable values of two checkpoints, and the
 * fraction of values that differ by more than 1e-5 (INFINITY and 1 if they
 * cannot be compared). */
static double max_param_diff(const char *a, const char *b, double *frac_off) {
    long na, nb, off = 0;
    float *x = ckpt_values(a, &na), *y = ckpt_values(b, &nb);
    double d = x && y && na == nb && na > 0 ? 0.0 : INFINITY;
    for (long i = 0; isfinite(d) && i < na; i++) {
        double e = fabs((double)x[i] - y[i]);
        if (!(e <= d)) d = e; /* NaN propagates */
        off += !(e <= 1e-5);
    }
    *frac_off = isfinite(d) ? (double)off / (double)na : 1.0;
    free(x);
    free(y);
    return d;
}

/* Column `col` (0-based) of every data row of a train_log.csv. */
static int log_column(const char *path, int col, double *out, int max) {
    char *t = slurp(path);
    int n = 0;
    if (!t) return 0;
    int header = 1;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        if (header) {
            header = 0;
            continue;
        }
        char *p = line;
        for (int c = 0; c < col && p; c++) p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL;
        if (p && n < max) out[n++] = strtod(p, NULL);
    }
    free(t);
    return n;
}

/* Tolerances of "agrees with the single-process run" (fp32). Both runs
 * compute the same sums of the same floats, grouped differently (each rank
 * sums its sets, then the ranks' partial sums are added): each gradient
 * differs by float rounding, ~1e-7 relative. Adam turns a gradient into a
 * step of up to lr (1e-3) whatever its size, so a parameter whose gradient is
 * itself at the rounding level can move differently by up to ~lr per step;
 * every other one differs by rounding of its moves. Hence: at most 0.1 % of
 * the parameters may differ by more than 1e-5, and none by more than lr
 * (measured after 20 steps: max 2.4e-6 with 2 ranks, 5.2e-6 with 4, no
 * value off by 1e-5). A wrong split fails both by far: per-shard logit
 * statistics or per-shard noise draws put 89 % of the values off by more
 * than 1e-5 and the largest off by 1.5e-2 and 1.9e-2 (docs/distributed.md).
 * Logged losses: relative 1e-5. */
#define PARAM_TOL 1e-3
#define PARAM_FRAC_OFF 1e-3
#define LOSS_RTOL 1e-5

static void check_params_agree(const char *a, const char *b, const char *what) {
    double frac, dp = max_param_diff(a, b, &frac);
    printf("  %s: max |parameter difference| %.3g, %.3g %% of them > 1e-5\n", what, dp, 100 * frac);
    CHECK_MSG(dp <= PARAM_TOL && frac <= PARAM_FRAC_OFF, "%s: parameters differ by up to %g (%.3g %% > 1e-5)", what,
              dp, 100 * frac);
}

static void check_logs_agree(const char *a, const char *b) {
    double x[16], y[16];
    for (int col = 1; col <= 2; col++) { /* train_loss, val_loss */
        int nx = log_column(a, col, x, 16), ny = log_column(b, col, y, 16);
        CHECK_INT(nx, ny);
        CHECK(nx >= 2);
        for (int i = 0; i < nx && i < ny; i++)
            CHECK_MSG(fabs(x[i] - y[i]) <= LOSS_RTOL * fabs(x[i]), "%s column %d row %d: %.9g vs %.9g", b, col, i,
                      x[i], y[i]);
    }
}

/* Worker mode (under mpirun): the primitives of dist.c on 2 ranks. */
static int dist_worker(int argc, char **argv) {
    ptrag_error err;
    if (ptrag_dist_init(&argc, &argv, &err)) {
        fprintf(stderr, "init: %s\n", err.msg);
        return 1;
    }
    int r = ptrag_dist_rank(), n = ptrag_dist_size(), bad = 0;
    if (n != 2) bad |= 1;
    /* Rank-order sum: each rank's values, summed in double as rank 0 + rank 1, scaled. */
    enum { LEN = 1001 }; /* not a multiple of the rank count: padding */
    float v[LEN];
    for (int i = 0; i < LEN; i++) v[i] = (float)((i % 7) * 0.1 + r * 1e-3 + 1.0 / (i + 1));
    if (ptrag_dist_sum_f32(v, LEN, 0.5, &err)) bad |= 2;
    for (int i = 0; i < LEN; i++) {
        double s = 0;
        for (int k = 0; k < n; k++) s += (float)((i % 7) * 0.1 + k * 1e-3 + 1.0 / (i + 1));
        if (v[i] != (float)(0.5 * s)) bad |= 4;
    }
    double d[3] = {r + 1.0, 10.0 * r, -1.0};
    if (ptrag_dist_sum_f64(d, 3, &err) || d[0] != 3.0 || d[1] != 10.0 || d[2] != -2.0) bad |= 8;
    if (ptrag_dist_agree(0, &err) != 0 || ptrag_dist_failures_shared() != 0) bad |= 16;
    /* Rank 1 fails: both ranks return its status and its message. */
    int rc = r == 1 ? ptrag_fail(&err, PTRAG_E_IO, "disk on fire") : 0;
    rc = ptrag_dist_agree(rc, &err);
    if (rc != PTRAG_E_IO || strcmp(err.msg, "rank 1 of 2: disk on fire") != 0 || ptrag_dist_failures_shared() != 1)
        bad |= 32;
    if (bad) fprintf(stderr, "rank %d: dist checks failed (bits %d): %s\n", r, bad, err.msg);
    ptrag_dist_finalize();
    return bad ? 1 : 0;
}

static void test_dist_primitives(void) {
    char cmd[16384], errf[4096];
    snprintf(errf, sizeof errf, "%s/worker.err", dir);
    snprintf(cmd, sizeof cmd, MPIRUN_ENV "%s " MPIRUN_FLAGS " -np 2 %s --dist-worker 2>%s", PTRAG_MPIEXEC, self, errf);
    int rc = status_of(system(cmd));
    char *msg = slurp(errf);
    CHECK_MSG(rc == 0, "dist worker: exit %d: %s", rc, msg ? msg : "");
    free(msg);
}

static void test_two_ranks_match_one_process(void) {
    char args[16384], a[4096], b[4096], c[4096], p1[4096], p2[4096];
    snprintf(a, sizeof a, "%s/one", dir);
    snprintf(b, sizeof b, "%s/two", dir);
    snprintf(args, sizeof args, "train %s " SMALL " --steps 20 --out %s", data_flags(), a);
    CHECK_INT(ptrag1(args), 0);
    snprintf(args, sizeof args, "train %s " SMALL " --steps 20 --out %s", data_flags(), b);
    CHECK_INT(mpi_ptrag(2, args, NULL), 0);
    snprintf(p1, sizeof p1, "%s/last.ckpt", a);
    snprintf(p2, sizeof p2, "%s/last.ckpt", b);
    check_params_agree(p1, p2, "1 process vs 2 ranks");
    snprintf(p1, sizeof p1, "%s/train_log.csv", a);
    snprintf(p2, sizeof p2, "%s/train_log.csv", b);
    check_logs_agree(p1, p2);
    /* 3 ranks split the 8 sets 2 + 3 + 3 (and the epoch's short last batch
     * as it comes): the same run. */
    snprintf(c, sizeof c, "%s/three", dir);
    snprintf(args, sizeof args, "train %s " SMALL " --steps 20 --out %s", data_flags(), c);
    CHECK_INT(mpi_ptrag(3, args, NULL), 0);
    snprintf(p1, sizeof p1, "%s/last.ckpt", a);
    snprintf(p2, sizeof p2, "%s/last.ckpt", c);
    check_params_agree(p1, p2, "1 process vs 3 ranks");
    snprintf(p1, sizeof p1, "%s/train_log.csv", a);
    snprintf(p2, sizeof p2, "%s/train_log.csv", c);
    check_logs_agree(p1, p2);
    /* The same bytes on every repetition. */
    snprintf(c, sizeof c, "%s/two_again", dir);
    snprintf(args, sizeof args, "train %s " SMALL " --steps 20 --out %s", data_flags(), c);
    CHECK_INT(mpi_ptrag(2, args, NULL), 0);
    snprintf(p1, sizeof p1, "%s/last.ckpt", b);
    snprintf(p2, sizeof p2, "%s/last.ckpt", c);
    CHECK_MSG(file_equal(p1, p2), "two 2-rank runs differ");
    /* Rank 0 alone wrote the run: one record, no stray temporary files. */
    snprintf(args, sizeof args, "ls %s | grep -c tmp >/dev/null", b);
    CHECK_MSG(system(args) != 0, "temporary files left in %s", b);
}

static void test_resume_on_two_ranks(void) {
    char args[16384], r2[4096], r1[4096], p1[4096], p2[4096];
    snprintf(r2, sizeof r2, "%s/resumed2", dir);
    snprintf(r1, sizeof r1, "%s/resumed1", dir);
    /* 10 steps on 2 ranks + 10 more on 2 ranks = 20 on 2 ranks, bit for bit. */
    snprintf(args, sizeof args, "train %s " SMALL " --steps 10 --out %s", data_flags(), r2);
    CHECK_INT(mpi_ptrag(2, args, NULL), 0);
    snprintf(args, sizeof args, "train --resume %s --steps 20 --quiet", r2);
    CHECK_INT(mpi_ptrag(2, args, NULL), 0);
    snprintf(p1, sizeof p1, "%s/two/last.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/last.ckpt", r2);
    CHECK_MSG(file_equal(p1, p2), "2 ranks: 10 + resume 10 differs from 20");
    snprintf(p1, sizeof p1, "%s/two/best.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/best.ckpt", r2);
    CHECK_MSG(file_equal(p1, p2), "2 ranks: best.ckpt differs after resume");
    /* Another process count, same global batch: 10 steps in 1 process, then 2 ranks. */
    snprintf(args, sizeof args, "train %s " SMALL " --steps 10 --out %s", data_flags(), r1);
    CHECK_INT(ptrag1(args), 0);
    snprintf(args, sizeof args, "train --resume %s --steps 20 --quiet", r1);
    CHECK_INT(mpi_ptrag(2, args, NULL), 0);
    snprintf(p1, sizeof p1, "%s/two/last.ckpt", dir);
    snprintf(p2, sizeof p2, "%s/last.ckpt", r1);
    check_params_agree(p1, p2, "10 steps in 1 process + 10 on 2 ranks vs 20 on 2 ranks");
}

static void test_failing_rank_stops_every_rank(void) {
    char a[16384], b[16384], run[4096], errf[4096], path[4096];
    snprintf(errf, sizeof errf, "%s/fault.err", dir);
    /* Rank 1 cannot read its input. */
    snprintf(run, sizeof run, "%s/missing_input", dir);
    snprintf(a, sizeof a, "train %s " SMALL " --steps 20 --out %s", data_flags(), run);
    snprintf(b, sizeof b, "%s train --split %s/nowhere.toml --embeddings %s " SMALL " --steps 20 --out %s", PTRAG_CLI,
             dir, emb, run);
    CHECK(mpi_two(a, b, errf) != 0);
    char *msg = slurp(errf);
    CHECK_CONTAINS(msg, "rank 1 of 2");
    CHECK_CONTAINS(msg, "nowhere.toml");
    free(msg);
    snprintf(path, sizeof path, "%s/last.ckpt", run);
    CHECK_MSG(!ptrag_path_exists(path), "a checkpoint was written although rank 1 failed");

    /* Rank 1 loaded other data (another gene selection): refused before any step. */
    snprintf(run, sizeof run, "%s/other_data", dir);
    snprintf(a, sizeof a, "train %s " SMALL " --steps 20 --out %s", data_flags(), run);
    snprintf(b, sizeof b, "%s train %s --hvg 200 " SMALL " --steps 20 --out %s", PTRAG_CLI, data_flags(), run);
    CHECK(mpi_two(a, b, errf) != 0);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "rank 1 of 2");
    CHECK_CONTAINS(msg, "other data than rank 0");
    free(msg);
    snprintf(path, sizeof path, "%s/last.ckpt", run);
    CHECK(!ptrag_path_exists(path));

    /* Rank 0 cannot write its checkpoint (a file-size limit, as a full disk):
     * both ranks stop at that step's agreement, naming rank 0 and the cause;
     * nothing half-written is left. */
    snprintf(run, sizeof run, "%s/disk_full", dir);
    snprintf(a, sizeof a, "sh -c 'ulimit -f 200; exec %s train %s " SMALL " --steps 20 --out %s'", PTRAG_CLI,
             data_flags(), run);
    snprintf(b, sizeof b, "%s train %s " SMALL " --steps 20 --out %s", PTRAG_CLI, data_flags(), run);
    CHECK_INT(mpi_two_cmds(a, b, errf), 1);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "rank 0 of 2");
    CHECK_CONTAINS(msg, "cannot write checkpoint: File too large");
    free(msg);
    snprintf(path, sizeof path, "%s/last.ckpt", run);
    CHECK(!ptrag_path_exists(path));
    snprintf(path, sizeof path, "%s/best.ckpt", run);
    CHECK(!ptrag_path_exists(path));
    snprintf(path, sizeof path, "ls %s | grep -q tmp", run);
    CHECK_MSG(system(path) != 0, "a temporary file was left in %s", run);

    /* More ranks than sets in a batch: refused before anything is written. */
    snprintf(run, sizeof run, "%s/too_many", dir);
    snprintf(a, sizeof a,
             "train %s --model ptrag --hidden 32 --layers 1 --heads 2 --head-dim 16 --mlp 64 --set-size 16 "
             "--batch 2 --precision fp32 --threads 1 --quiet --steps 20 --out %s",
             data_flags(), run);
    CHECK(mpi_ptrag(3, a, errf) != 0);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "smaller than the 3 MPI processes");
    free(msg);
    CHECK_MSG(!ptrag_path_exists(run), "%s created for a refused run", run);

    /* Other commands refuse to run N times. */
    snprintf(a, sizeof a, "predict --run %s/two --out %s/never.h5ad", dir, dir);
    CHECK_INT(mpi_ptrag(2, a, errf), 2);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "only train and experiment run under mpirun");
    free(msg);
}

static void test_killed_rank(void) {
    char a[16384], b[16384], run[4096], full[4096], errf[4096], p1[4096], p2[4096];
    snprintf(errf, sizeof errf, "%s/kill.err", dir);
    snprintf(run, sizeof run, "%s/killed", dir);
    snprintf(full, sizeof full, "%s/unkilled", dir);
    const int steps = 60;
    snprintf(a, sizeof a, "train %s " SMALL " --steps %d --out %s", data_flags(), steps, run);
    /* Rank 1 is SIGKILLed once the run's first checkpoint is there (and so
     * is its wrapper, so mpirun sees rank 1 die by signal 9). */
    snprintf(b, sizeof b,
             "sh -c '%s train %s " SMALL " --steps %d --out %s & p=$!; "
             "while [ ! -e %s/last.ckpt ] && kill -0 $p 2>/dev/null; do sleep 0.02; done; kill -9 $p; kill -9 $$'",
             PTRAG_CLI, data_flags(), steps, run, run);
    CHECK(mpi_two(a, b, errf) != 0);
    char *msg = slurp(errf);
    CHECK_MSG(msg && strstr(msg, "rank 1") && strstr(msg, "signal 9"), "mpirun did not name rank 1: %s",
              msg ? msg : "");
    free(msg);
    /* The last good checkpoint is whole, and 2 ranks continue it exactly. */
    snprintf(p1, sizeof p1, "%s/last.ckpt", run);
    ptrag_ckpt *ck = NULL;
    ptrag_error err;
    CHECK_INT(ptrag_ckpt_open(p1, &ck, &err), 0);
    long at = ck ? (long)ptrag_ckpt_step(ck) : -1;
    ptrag_ckpt_close(ck);
    printf("  rank 1 killed; last.ckpt at step %ld of %d\n", at, steps);
    CHECK_MSG(at > 0 && at < steps, "the run was not interrupted (last.ckpt at step %ld)", at);
    snprintf(a, sizeof a, "train --resume %s --steps %d --quiet", run, steps);
    CHECK_INT(mpi_ptrag(2, a, NULL), 0);
    snprintf(a, sizeof a, "train %s " SMALL " --steps %d --out %s", data_flags(), steps, full);
    CHECK_INT(mpi_ptrag(2, a, NULL), 0);
    snprintf(p1, sizeof p1, "%s/last.ckpt", run);
    snprintf(p2, sizeof p2, "%s/last.ckpt", full);
    CHECK_MSG(file_equal(p1, p2), "killed + resumed differs from the uninterrupted 2-rank run");
}

static void test_experiment_under_mpirun(void) {
    char args[16384], out[4096], path[4096];
    snprintf(out, sizeof out, "%s/experiment", dir);
    snprintf(args, sizeof args,
             "experiment %s --models ptrag --seeds 1 --hidden 32 --layers 1 --heads 2 --head-dim 16 --mlp 64 "
             "--set-size 16 --batch 8 --val-every 10 --precision fp32 --threads 1 --steps 10 --baselines control "
             "--ceiling 0 --quiet --out %s",
             data_flags(), out);
    CHECK_INT(mpi_ptrag(2, args, NULL), 0);
    snprintf(path, sizeof path, "%s/results.csv", out);
    char *t = slurp(path);
    CHECK_CONTAINS(t, "ptrag (expected)");
    free(t);
    /* Trained once, into its run folder, with the 2-rank batch split. */
    snprintf(path, sizeof path, "%s/runs/ptrag-seed42/last.ckpt", out);
    CHECK(ptrag_path_exists(path));
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--dist-worker") == 0) return dist_worker(argc, argv);
    if (!ptrag_dist_available() || !PTRAG_MPIEXEC[0] || access(PTRAG_MPIEXEC, X_OK) != 0) {
        printf("SKIP: this build has no MPI, or mpirun is missing\n");
        return 77;
    }
    snprintf(split, sizeof split, "%s/splits/perturbench_fewshot_a172.toml", PTRAG_SHARED_DIR);
    snprintf(emb, sizeof emb, "%s/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv", PTRAG_SHARED_DIR);
    if (!ptrag_path_exists(split) || !ptrag_path_exists(emb)) {
        printf("SKIP: %s not found\n", split);
        return 77;
    }
    snprintf(self, sizeof self, "%s", argv[0]); /* ctest runs it by its full path */
    snprintf(dir, sizeof dir, "%s", tl_tmp("test_e2e_mpi"));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0) return 1;
    RUN(test_dist_primitives);
    RUN(test_two_ranks_match_one_process);
    RUN(test_resume_on_two_ranks);
    RUN(test_failing_rank_stops_every_rank);
    RUN(test_killed_rank);
    RUN(test_experiment_under_mpirun);
    return TEST_SUMMARY();
}
