/* Stage-1 retrieval: exact cosine top-K of a batch of queries against an
 * N x D database of float32 vectors.
 *
 * Cosine similarity is computed as in PyTorch's F.normalize: every vector is
 * divided by max(||v||_2, 1e-12), so a zero vector stays zero and has
 * similarity 0 with everything. The index keeps an L2-normalised copy of the
 * rows; a search normalises a block of queries, computes all similarities of
 * the block with one cblas_sgemm, and selects the top K of each query with a
 * bounded heap (OpenMP over queries).
 *
 * Results per query are sorted by descending similarity; equal similarities
 * are ordered by ascending database index, so results are deterministic and a
 * zero query (the control) returns the lowest indices 0, 1, 2, ... (minus
 * excluded ones). When fewer than K candidates remain after exclusions, the
 * remaining slots are filled with index -1 and similarity NaN.
 *
 * Memory: a search needs ptrag_knn_workspace_bytes(index, n_queries) bytes
 * (a block of normalised queries plus their similarity rows). Queries are
 * processed in blocks of at most ptrag_knn_block_rows(index) (so the
 * similarity block stays under the index's block budget, 128 MiB by default):
 * one sgemm per block, which is a single sgemm whenever the batch fits.
 * Passing a workspace makes a search allocation-free; passing NULL makes the
 * search allocate and free it itself. */
#ifndef PTRAG_KNN_H
#define PTRAG_KNN_H

#include <stddef.h>

#include "ptrag/error.h"

typedef struct ptrag_knn_index ptrag_knn_index;

/* Copies and L2-normalises n rows of dim floats. Non-finite values are
 * refused (PTRAG_E_NUMERIC, naming the row). */
int ptrag_knn_build(const float *rows, long n, int dim, ptrag_knn_index **out, ptrag_error *err);
void ptrag_knn_free(ptrag_knn_index *index);

long ptrag_knn_size(const ptrag_knn_index *index);
int ptrag_knn_dim(const ptrag_knn_index *index);
/* The normalised database (n x dim, row-major). */
const float *ptrag_knn_normalized(const ptrag_knn_index *index);

/* Largest similarity block in bytes (default 128 MiB; at least one query row
 * is always processed at a time). */
void ptrag_knn_set_block_bytes(ptrag_knn_index *index, size_t bytes);
/* Queries per sgemm block for this index. */
long ptrag_knn_block_rows(const ptrag_knn_index *index);
/* Workspace a search of n_queries needs, in bytes. */
size_t ptrag_knn_workspace_bytes(const ptrag_knn_index *index, long n_queries);

/* Top-k of n_queries query vectors (n_queries x dim, any norm).
 * Exclusions (optional, CSR): query q never returns the database indices
 * excl_indices[excl_offsets[q] .. excl_offsets[q+1]); excl_offsets has
 * n_queries+1 entries, starting at 0; both NULL for none. Indices out of
 * range are refused; repeats are harmless.
 * Outputs: idx_out and sim_out, n_queries x k each.
 * workspace: NULL (allocated internally) or at least
 * ptrag_knn_workspace_bytes(index, n_queries) bytes, float-aligned.
 * Errors: k < 1, non-finite queries, bad exclusions, small workspace. */
int ptrag_knn_search(const ptrag_knn_index *index, const float *queries, long n_queries, int k,
                     const long *excl_offsets, const long *excl_indices, void *workspace, size_t workspace_bytes,
                     long *idx_out, float *sim_out, ptrag_error *err);

/* Same, with database rows as queries (rows[q] in [0, n)): row rows[q] is
 * excluded from its own results when exclude_self is nonzero, in addition to
 * the optional exclusion lists. Uses the stored normalised rows. */
int ptrag_knn_search_rows(const ptrag_knn_index *index, const long *rows, long n_queries, int k, int exclude_self,
                          const long *excl_offsets, const long *excl_indices, void *workspace,
                          size_t workspace_bytes, long *idx_out, float *sim_out, ptrag_error *err);

#endif
