/* The embeddings object, shared by the files of the embeddings module
 * (loading, aliases, perturbation features). */
#ifndef PTRAG_DATA_EMBEDDINGS_INTERNAL_H
#define PTRAG_DATA_EMBEDDINGS_INTERNAL_H

#include "core/strmap.h"
#include "data/gene_aliases.h"
#include "ptrag/embeddings.h"

struct ptrag_embeddings {
    char *source;
    float *data; /* n_rows x dim */
    long n_rows;
    int dim;
    char **keys; /* n_keys, file order */
    long *key_row;
    long n_keys;
    long *row_key;      /* n_rows: first key naming the row */
    strmap exact;       /* key -> key index */
    char **upper_keys;  /* ASCII-uppercased keys (owned) */
    strmap upper;       /* uppercased key -> first key index */
    gene_aliases *aliases;
};

/* ASCII-uppercased copy (malloc'ed), or NULL when out of memory. */
char *ptrag_upper_dup(const char *s);
/* Exact then case-insensitive key lookup: key index or -1; *kind set. */
long ptrag_embeddings_find_key(const ptrag_embeddings *e, const char *symbol, ptrag_match_kind *kind);

#endif
