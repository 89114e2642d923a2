/* Stage src/run of the pipeline (include/ptrag.h, README "Layout"): running: train, predict, run folders; uses store, model, rag, data.
 *
 * Training a model on a dataset into a run directory, and predicting held-out
 * conditions with a trained run.
 *
 * A run directory holds: command.txt (the exact command), config.txt, data.txt
 * (the split and data flags, so predict/explain need only --run), meta.txt
 * (version, seed, input checksums), train_log.csv, best.ckpt (best validation
 * loss), last.ckpt and record.txt (run_record.h: the settings digest and each
 * file written, by train and later by predict). Training is a pure function of (config, data, seed):
 * batches and noise are derived from (seed, step), so `resume` continues a
 * run bit-identically. */
#ifndef PTRAG_TRAIN_H
#define PTRAG_TRAIN_H

#include <stdio.h>

#include "ptrag/config.h"
#include "ptrag/dataset.h"
#include "ptrag/error.h"

typedef struct ptrag_train_opts {
    ptrag_config cfg;      /* data dims (n_genes, pert_dim, n_batches) are filled in from the data */
    const char *run_dir;
    int resume;            /* continue RUN_DIR/last.ckpt up to cfg.steps */
    int overwrite;         /* a fresh run replaces the run in RUN_DIR: its files are deleted
                              (ptrag_run_dir_clear) once the data and config have been checked */
    FILE *progress;        /* progress and validation lines (NULL: silent) */
    int progress_tty;      /* 1: one updating line */
    int argc;              /* the command line, recorded in command.txt */
    char *const *argv;
    const char *split_path;             /* recorded in data.txt */
    const ptrag_dataset_opts *data_opts;
    /* Called after every step (NULL: none). A nonzero return stops training
     * at that step boundary: last.ckpt is written and ptrag_train returns
     * PTRAG_E_CANCELLED; `--resume` continues the run. */
    int (*on_step)(void *ctx, long step, long total, double loss);
    void *on_step_ctx;
} ptrag_train_opts;

/* Summary of a finished training run. */
typedef struct ptrag_train_result {
    long steps;
    double final_train_loss; /* mean over the last logging window */
    double best_val_loss;    /* NaN without validation conditions */
    long best_step;
    double seconds;
} ptrag_train_result;

int ptrag_train(const ptrag_dataset *d, const ptrag_train_opts *o, ptrag_train_result *res, ptrag_error *err);

/* ---- the data a run was trained on (data.txt) ---- */

typedef struct ptrag_run_data {
    char split[4096];
    char pert_col[256], control[256], celltype_col[256], batch_col[256], x_source[256];
    char embeddings[4096], aliases[4096];
    ptrag_dataset_opts opts; /* points into the strings above */
} ptrag_run_data;

int ptrag_run_data_write(const char *run_dir, const char *split_path, const ptrag_dataset_opts *o,
                         ptrag_error *err);
int ptrag_run_data_read(const char *run_dir, ptrag_run_data *out, ptrag_error *err);

/* ---- prediction ---- */

typedef struct ptrag_predict_opts {
    const char *run_dir;
    const char *checkpoint;  /* "best" (default) or "last" */
    /* Called after each set of cells with (ctx, sets done, sets in all, NaN);
     * a nonzero return stops with PTRAG_E_CANCELLED (nothing is written). */
    int (*on_set)(void *ctx, long done, long total, double unused);
    void *on_set_ctx;
    const char *out_path;    /* predicted cells (.h5ad), or NULL (explanations only) */
    const char *real_path;   /* matching real cells (.h5ad), or NULL */
    const char *retrieval_path; /* RETRIEVAL.tsv (rag/ptrag), or NULL for none */
    int split;               /* PTRAG_SPLIT_TEST (default) or PTRAG_SPLIT_VAL */
    int selection;           /* -1: the run's; else a ptrag_selection */
    int precision;           /* -1: the run's; else a ptrag_precision */
    uint64_t seed;           /* pairing and inference noise */
    int pairing;             /* ptrag_pairing (include/ptrag/pred_plan.h; default pool) */
    long pool_cells;         /* pool pairing: control cells per cell type, 0 = all */
} ptrag_predict_opts;

void ptrag_predict_opts_default(ptrag_predict_opts *o);

/* What a prediction is computed from, as the key recorded beside its files
 * in the run record (run_record.h): "ckpt=best:<ptrag_file_digest of the checkpoint>,
 * split=test,selection=expected,seed=42". */
int ptrag_predict_key(const ptrag_predict_opts *o, char *buf, size_t n, ptrag_error *err);

/* One retrieved candidate of a condition, for explanations. */
typedef struct ptrag_explained {
    char cell_type[128], perturbation[128];
    int K;
    char (*cand)[128];
    float *cosine;
    float *kept;   /* fraction of the condition's cells that kept the candidate
                      (ptrag), mean attention weight (rag) */
    long n_cells;
} ptrag_explained;

typedef struct ptrag_prediction_summary {
    long n_cells;
    long n_conditions;
    ptrag_explained *explained; /* [n_conditions] perturbed conditions (rag/ptrag), else NULL */
} ptrag_prediction_summary;

int ptrag_predict(const ptrag_dataset *d, const ptrag_predict_opts *o, ptrag_prediction_summary *out,
                  ptrag_error *err);
void ptrag_prediction_summary_free(ptrag_prediction_summary *s);

#endif
