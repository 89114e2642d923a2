/* Embedding lookup and elementwise add/accumulate. */
#include "ptrag/nn.h"

#include <stddef.h>

void ptrag_embedding_forward(float *y, const float *table, const int *ids, int N, int dim) {
#pragma omp parallel for schedule(static) if ((long)N * dim > PTRAG_NN_PAR_WORK)
    for (int i = 0; i < N; i++) {
        const float *e = table + (size_t)ids[i] * dim;
        float *yi = y + (size_t)i * dim;
        for (int j = 0; j < dim; j++) yi[j] += e[j];
    }
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
