/* Stage src/rag of the pipeline (include/ptrag.h, README "Layout"): stage-1 retrieval; uses data, nn.
 *
 * Stage 1 of PT-RAG over a dataset: the retrieval database (perturbations
 * with a feature vector, in sorted-name order as the published code builds
 * it) and each perturbation's top-K most cosine-similar database rows.
 *
 * Fixed behaviour: a set never retrieves its own perturbation. Faithful
 * training reproduces the published bug: every set of a batch excludes the
 * perturbation of the batch's first set instead (reference-model.md §8.2).
 * Control queries are zero vectors: every similarity is 0 and ties go to the
 * lowest rows, deterministically. */
#ifndef PTRAG_RETRIEVAL_H
#define PTRAG_RETRIEVAL_H

#include <stdint.h>

#include "ptrag/dataset.h"
#include "ptrag/error.h"
#include "ptrag/knn.h"

/* Which perturbations the database holds (config key `db`). */
typedef enum { PTRAG_DB_ALL = 0, PTRAG_DB_TRAIN_ONLY = 1 } ptrag_db;

typedef struct ptrag_retrieval {
    long P;              /* database rows */
    int E;               /* feature dim */
    int K;               /* candidates per query: the one K of a run (the model takes it from here) */
    float *db;           /* [P * E] raw feature vectors */
    int32_t *db_pert;    /* [P] dataset perturbation code of each row */
    int32_t *pert_row;   /* [n_perts] database row of a perturbation, or -1 */
    int n_perts;
    const float *pert_feat; /* [n_perts * E] query vectors (the dataset's; not owned) */
    int32_t *topk;       /* [n_perts * K] own row excluded; -1 for perturbations without a vector */
    float *topk_sim;     /* [n_perts * K] cosine similarities */
    ptrag_knn_index *index;
} ptrag_retrieval;

/* Builds the database (mode all: every perturbation with a vector; train-only:
 * those of training conditions, plus the control) and each perturbation's
 * top-K. K (the config's top_k) is capped at P - 1: r->K is what is used. One-hot
 * features are refused: retrieval needs embeddings. */
int ptrag_retrieval_build(const ptrag_dataset *d, ptrag_db mode, int K, ptrag_retrieval **out, ptrag_error *err);
void ptrag_retrieval_free(ptrag_retrieval *r);

/* Candidates of n_sets sets (perturbation codes set_pert) into cand[n_sets*K].
 * faithful_batch: exclude set 0's perturbation from every set (the published
 * training behaviour) instead of each set's own. */
int ptrag_retrieval_candidates(const ptrag_retrieval *r, const int32_t *set_pert, int n_sets, int faithful_batch,
                               int32_t *cand, ptrag_error *err);

#endif
