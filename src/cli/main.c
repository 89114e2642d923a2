/* ptrag: the command-line entry point. Dispatches to one subcommand. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ptrag/blas_check.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int ptrag_cli_main(int argc, char **argv);

typedef struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} subcommand;

static const subcommand commands[] = {
    {"experiment", cmd_experiment, "train, predict and score models and baselines over seeds"},
    {"train", cmd_train, "train a model (state, rag or ptrag) on a split"},
    {"predict", cmd_predict, "predict the held-out conditions of a split with a trained run"},
    {"explain", cmd_explain, "show which perturbations PT-RAG retrieved and selected"},
    {"eval", cmd_eval, "score a prediction file against the real cells"},
    {"baseline", cmd_baseline, "write a baseline prediction (control, pert-mean, linear, truth)"},
    {"inspect", cmd_inspect, "describe an .h5ad file"},
    {"split", cmd_split, "describe a STATE split file over its data"},
    {"neighbors", cmd_neighbors, "nearest genes by embedding cosine similarity"},
    {"doctor", cmd_doctor, "say which matmul path (fp32 / bf16) this machine gets, and why"},
    {"simulate", cmd_simulate, "write a simulated Perturb-seq experiment with known truth"},
};
#define NCOMMANDS (int)(sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f,
            "ptrag %s: predict single-cell responses to genetic perturbations with PT-RAG\n\n"
            "usage: ptrag <command> [options]   (ptrag <command> --help for its options)\n\n"
            "commands:\n",
            PTRAG_VERSION);
    for (int i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
}

/* The commands that compute run the BLAS self-check first (~2 ms): a BLAS
 * that picked wrong kernels must stop a run, not poison hours of it.
 * PTRAG_BLAS_CHECK=0 skips it. */
static int blas_check_failed(const char *cmd) {
    static const char *const computing[] = {"experiment", "train", "predict", "explain", "eval", "baseline",
                                            "neighbors"};
    const char *env = getenv("PTRAG_BLAS_CHECK");
    if (env && strcmp(env, "0") == 0) return 0;
    for (size_t i = 0; i < sizeof computing / sizeof computing[0]; i++)
        if (strcmp(cmd, computing[i]) == 0) {
            ptrag_error err;
            if (ptrag_blas_check(&err) == 0) return 0;
            fprintf(stderr, "ptrag %s: %s\n", cmd, err.msg);
            return 1;
        }
    return 0;
}

/* OpenMP threads that spin at barriers (libgomp's default: ~300k spins
 * before sleeping) starve each other on a loaded machine: with 2 threads on
 * a busy 2-core VM a training step ran ~10-30x slower than with 1 thread
 * (docs/reliability.md, bench/omp_busy.sh). libgomp reads the policy once,
 * when it loads, so the only way to change it is before the process starts:
 * ptrag re-executes itself once with OMP_WAIT_POLICY=passive unless the user
 * chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set). */
#ifndef PTRAG_NO_MAIN
static void use_passive_openmp_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc?): go on with the default policy. */
}
#endif

int ptrag_cli_main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            for (int i = 0; i < NCOMMANDS; i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *sub[] = {argv[2], "--help", NULL};
                    return commands[i].run(2, sub);
                }
        }
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("ptrag %s\n", PTRAG_VERSION);
        return 0;
    }
    for (int i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            if (blas_check_failed(argv[1])) return 1;
            /* --threads is applied by cli_parse; a host process (Python)
             * gets its own count back when the command returns. */
#ifdef _OPENMP
            int threads = omp_get_max_threads();
#endif
            int rc = commands[i].run(argc - 1, argv + 1);
#ifdef _OPENMP
            omp_set_num_threads(threads);
#endif
            return rc;
        }
    fprintf(stderr, "ptrag: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

/* The shared library (libptrag.so) holds this file too, for ptrag_command,
 * and is built without the process entry. */
#ifndef PTRAG_NO_MAIN
int main(int argc, char **argv) {
    /* Process-wide settings, for the command-line tool only (never inside a
     * host process such as Python: no re-exec, no signal changes there). */
    use_passive_openmp_wait(argv);
    /* A file-size limit (ulimit -f) must fail a write with EFBIG, which every
     * writer reports, not kill the process half-way (SIGXFSZ's default). */
    signal(SIGXFSZ, SIG_IGN);
    return ptrag_cli_main(argc, argv);
}
#endif
