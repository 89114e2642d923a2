/* An NCBI-style gene_info table (gene_aliases.c): which gene owns each
 * symbol or synonym. It knows nothing of embeddings; the embeddings module
 * asks it for a gene's names and looks them up itself. */
#ifndef PTRAG_DATA_GENE_ALIASES_H
#define PTRAG_DATA_GENE_ALIASES_H

#include "core/strmap.h"
#include "ptrag/error.h"

typedef struct gene_aliases gene_aliases;

int ptrag_gene_aliases_load(const char *path, gene_aliases **out, ptrag_error *err);
void ptrag_gene_aliases_free(gene_aliases *a);
/* The gene owning an ASCII-uppercased name, or -1; *n_candidates: the genes
 * listing that name. */
long ptrag_gene_aliases_gene(const gene_aliases *a, const char *upper, int *n_candidates);
/* Gene g's official symbol, as written. */
const char *ptrag_gene_aliases_official(const gene_aliases *a, long g);
/* The i-th uppercased name that gene g owns (official first), or NULL past the last. */
const char *ptrag_gene_aliases_owned_name(const gene_aliases *a, long g, long i);

#endif
