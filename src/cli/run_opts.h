/* Model/training flags shared by `ptrag train` and `ptrag experiment`. */
#ifndef PTRAG_CLI_RUN_OPTS_H
#define PTRAG_CLI_RUN_OPTS_H

#include "cli/cli.h"
#include "ptrag/config.h"
#include "ptrag/train.h"

/* The CLI's precision when neither --precision nor --faithful is given. */
#define CLI_DEFAULT_PRECISION "auto"
/* ptrag's stage-1 weight of the measured response (response_retrieval.c),
 * chosen on the validation conditions of two simulations and A172. */
#define CLI_DEFAULT_RESPONSE_RETRIEVAL 0.75

#define CLI_MODEL_OPTS                                                                             \
    {"--preset", "NAME", "paper | small (default: small)"},                                        \
    {"--steps", "N", "training steps"},                                                            \
    {"--seed", "N", "seed of initialisation, batches and noise (default 42)"},                     \
    {"--hidden", "H", "model width"},                                                              \
    {"--layers", "L", "transformer layers"},                                                       \
    {"--heads", "N", "attention heads"},                                                           \
    {"--head-dim", "D", "width of one head (even)"},                                               \
    {"--mlp", "F", "SwiGLU width"},                                                                \
    {"--set-size", "S", "cells per set"},                                                          \
    {"--batch", "B", "sets per step"},                                                             \
    {"--lr", "X", "Adam learning rate"},                                                           \
    {"--weight-decay", "X", "decoupled weight decay (AdamW); 0 = Adam"},                           \
    {"--clip", "X", "gradient-norm clip (0 = off)"},                                               \
    {"--val-every", "N", "validate and checkpoint every N steps"},                                 \
    {"--top-k", "K", "stage-1 candidates (rag, ptrag)"},                                           \
    {"--sparsity", "X", "weight of the PT-RAG keep-rate loss"},                                    \
    {"--selection", "MODE", "PT-RAG selection at inference: expected|threshold|sample"},           \
    {"--db", "MODE", "retrieval database: all | train-only"},                                      \
    {"--attention", "MODE", "causal | bidirectional"},                                             \
    {"--residual", "WHERE", "genes (control cell + shift, default) | hidden (published)"},       \
    {"--mean-loss", "X", "weight of the set-mean MSE added to the energy (default 100)"},       \
    {"--lr-schedule", "KIND", "constant | cosine (decays to 0 at --steps)"},                       \
    {"--warmup", "N", "linear learning-rate warm-up steps"},                                       \
    {"--select-by", "WHAT", "best.ckpt by validation: pearson_delta (default) | loss"},         \
    {"--evidence", "on|off", "ptrag: candidates carry their measured mean shift (default on)"},    \
    {"--own-other-celltypes", "on|off", "ptrag + evidence: one extra candidate, the query's own perturbation with its mean shift in the other cell types' training conditions (default off)"}, \
    {"--response-retrieval", "W", "ptrag + evidence: stage 1 ranks candidates by (1-W) embedding cosine + W correlation of their measured responses in the other cell types (default 0.75 with evidence; 0 = published, embedding only)"}, \
    {"--scorer-features", "on|off", "ptrag + evidence: stage 2's keep logit also sees each candidate's embedding cosine, response correlation, same-cell-type and own-slot flags"}, \
    {"--freeze-backbone", NULL, "keep the transformer and output layer at their random init"},     \
    {"--faithful", NULL, "reproduce the published code's behaviour (design.md section 2)"},           \
    {"--precision", "P", "fp32 | bf16 (bf16 inputs, fp32 accumulation) | auto (default: auto = bf16 on a native-bf16 CPU; --faithful: fp32; ptrag doctor)"}

/* Builds the config for `model` from the flags; returns 0, or 2 after a
 * usage error (printed). */
int cli_model_config(const char *cmd, const cli_args *a, const char *model, ptrag_config *cfg);

/* --precision VALUE (NULL: keep *out): fp32|bf16|auto, auto resolved for this
 * machine; returns 0, or 2 after a usage error. */
int cli_precision(const char *cmd, const char *value, int *out);

/* For `--resume`: the flags on the command line that the resumed run would
 * not apply (a model setting other than its config's, other data flags than
 * its data.txt's), as "the run has lr: 0.001 -> 0.003; --split x.toml (the
 * run has '/abs/y.toml')" in buf; returns how many (0: none). --steps and
 * --threads are applied, so never count. */
int cli_resume_conflicts(const cli_args *a, const ptrag_config *saved, const ptrag_run_data *rd, char *buf,
                         size_t n);

/* --selection VALUE (NULL: keep *out); returns 0, or 2 after a usage error. */
int cli_selection(const char *cmd, const char *value, int *out);

#endif
