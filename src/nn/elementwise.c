/* Embedding lookup and elementwise add/accumulate. */
#include "ptrag/nn.h"

#include <stddef.h>
#include <string.h>

void ptrag_embedding_forward(float *y, const float *table, const int *ids, int N, int dim) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++)
        memcpy(y + (size_t)i * dim, table + (size_t)ids[i] * dim, sizeof(float) * (size_t)dim);
}

/* Rows with the same id collide, so threads split the columns instead of the
 * rows: each thread owns a column block of every table row. */
void ptrag_embedding_backward(float *dtable, const float *dy, const int *ids, int N, int dim) {
    enum { BLOCK = 32 };
    int nblocks = (dim + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        int j0 = blk * BLOCK, j1 = j0 + BLOCK < dim ? j0 + BLOCK : dim;
        for (int i = 0; i < N; i++) {
            float *dst = dtable + (size_t)ids[i] * dim;
            const float *src = dy + (size_t)i * dim;
            for (int j = j0; j < j1; j++) dst[j] += src[j];
        }
    }
}

void ptrag_add_forward(float *y, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void ptrag_accumulate(float *dst, const float *src, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) dst[i] += src[i];
}

void ptrag_add_backward(float *da, float *db, const float *dy, long n) {
    if (da) ptrag_accumulate(da, dy, n);
    if (db) ptrag_accumulate(db, dy, n);
}
