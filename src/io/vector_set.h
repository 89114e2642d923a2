/* What the embedding file readers (pickle, TSV/CSV) hand to the embeddings
 * module: a float32 table with one row per distinct vector and the keys that
 * name the rows. Readers guarantee: keys are unique, every row is named by at
 * least one key, every value is finite, and all rows have `dim` values. */
#ifndef PTRAG_IO_VECTOR_SET_H
#define PTRAG_IO_VECTOR_SET_H

#include "ptrag/error.h"

typedef struct ptrag_vector_set {
    float *data;   /* n_rows x dim, row-major */
    long n_rows;
    int dim;
    char **keys;   /* n_keys malloc'ed strings, in file order */
    long *key_row; /* n_keys: row of each key */
    long n_keys;
} ptrag_vector_set;

void ptrag_vector_set_free(ptrag_vector_set *v);

/* Python pickle of dict[str -> 1-D numpy float array | list of numbers]
 * (protocols 2-5, optionally gzip-compressed). Never executes anything: see
 * src/io/pickle.c for the exact subset accepted. */
int ptrag_pickle_read_vectors(const char *path, ptrag_vector_set *out, ptrag_error *err);

/* Delimited text table (tab or comma; optional header; optional gzip). */
int ptrag_table_read_vectors(const char *path, ptrag_vector_set *out, ptrag_error *err);

/* 1 if the file starts with a pickle PROTO opcode (after gzip decoding). */
int ptrag_file_looks_like_pickle(const char *path);

#endif
