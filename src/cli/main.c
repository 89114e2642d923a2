/* ptrag: the command-line entry point. Dispatches to one subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

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
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ptrag: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

/* The shared library (libptrag.so) holds this file too, for ptrag_command,
 * and is built without the process entry. */
#ifndef PTRAG_NO_MAIN
int main(int argc, char **argv) { return ptrag_cli_main(argc, argv); }
#endif
