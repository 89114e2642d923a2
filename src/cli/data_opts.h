/* Reading the column flags shared by every data command into dataset options. */
#ifndef PTRAG_CLI_DATA_OPTS_H
#define PTRAG_CLI_DATA_OPTS_H

#include "cli/cli.h"
#include "ptrag/dataset.h"

/* Options accepted besides CLI_DATA_OPTS by commands that read a split. */
#define CLI_DATASET_OPTS                                                                     \
    CLI_DATA_OPTS,                                                                           \
    {"--embeddings", "FILE", "gene embeddings (GenePT pickle, TSV/CSV); default: one-hot"},  \
    {"--aliases", "FILE", "NCBI gene_info table to resolve symbol aliases"},                 \
    {"--missing", "POLICY", "perturbations without a vector: error|zero|drop (default error)"}, \
    {"--no-normalize", NULL, "use expression as stored even if it looks like raw counts"},   \
    {"--hvg", "N", "keep the N most variable genes (Seurat v3 flavour)"}

/* Fills `o` from the parsed flags; returns 0, or 2 after a usage error. */
int cli_dataset_opts(const char *cmd, const cli_args *a, ptrag_dataset_opts *o);

/* --pairing pool|random (NULL: keep *out); returns 0, or 2 after a usage error. */
int cli_pairing(const char *cmd, const char *value, int *out);

#endif
