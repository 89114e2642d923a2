/* The experiment driver behind `ptrag experiment` (see cmd_experiment.c). */
#ifndef PTRAG_CLI_EXPERIMENT_H
#define PTRAG_CLI_EXPERIMENT_H

#include "ptrag/config.h"
#include "ptrag/dataset.h"

#define PTRAG_EXP_MAX 8

typedef struct ptrag_experiment {
    const char *split, *dir;
    int argc;
    char **argv;
    int quiet;
    int overwrite; /* retrain runs whose settings differ from this command's (else refuse) */
    ptrag_dataset_opts data_opts;
    int n_models;
    const char *model_names[PTRAG_EXP_MAX];
    ptrag_config cfg[PTRAG_EXP_MAX];
    int n_seeds;
    int n_baselines;
    const char *baselines[PTRAG_EXP_MAX]; /* "truth" needs `truth` */
    const char *truth;    /* truth.h5ad of a simulated experiment, or NULL */
    int pairing;      /* ptrag_pairing of every prediction (models and baselines) */
    int knn_k;        /* knn baseline's K */
    int ceiling_splits; /* split-half ceiling row over this many splits (0: none) */
} ptrag_experiment;

/* Runs the whole experiment; prints progress to stderr and the results table
 * to stdout. Returns the process exit code. */
int ptrag_experiment_run(const ptrag_experiment *ex);

#endif
