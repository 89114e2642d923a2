/* Exact cosine top-K (stage-1 retrieval): see include/ptrag/knn.h. */
#include "ptrag/knn.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NORM_FLOOR 1e-12
#define DEFAULT_BLOCK_BYTES ((size_t)128 << 20)

struct ptrag_knn_index {
    float *rows; /* n x dim, L2-normalised */
    long n;
    int dim;
    size_t block_bytes;
};

/* dst = src / max(||src||, 1e-12), norm accumulated in double. 0 or -1 if not finite. */
static int normalize_row(const float *src, float *dst, int dim) {
    double ss = 0;
    for (int j = 0; j < dim; j++) ss += (double)src[j] * (double)src[j];
    if (!isfinite(ss)) return -1;
    double norm = sqrt(ss);
    float scale = (float)(1.0 / (norm > NORM_FLOOR ? norm : NORM_FLOOR));
    for (int j = 0; j < dim; j++) dst[j] = src[j] * scale;
    return 0;
}

int ptrag_knn_build(const float *rows, long n, int dim, ptrag_knn_index **out, ptrag_error *err) {
    *out = NULL;
    if (n < 1 || dim < 1 || !rows) return ptrag_fail(err, PTRAG_E_ARG, "knn: database needs at least one row and one dimension");
    if (n > INT32_MAX) return ptrag_fail(err, PTRAG_E_ARG, "knn: %ld rows exceed the BLAS index range", n);
    ptrag_knn_index *ix = calloc(1, sizeof *ix);
    if (!ix) return ptrag_fail(err, PTRAG_E_NOMEM, "knn: out of memory");
    ix->rows = malloc((size_t)n * (size_t)dim * sizeof *ix->rows);
    if (!ix->rows) {
        free(ix);
        return ptrag_fail(err, PTRAG_E_NOMEM, "knn: out of memory for %ld x %d database", n, dim);
    }
    ix->n = n;
    ix->dim = dim;
    ix->block_bytes = DEFAULT_BLOCK_BYTES;
    long bad = -1;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        size_t off = (size_t)i * (size_t)dim;
        if (normalize_row(rows + off, ix->rows + off, dim) != 0) {
#pragma omp critical
            if (bad < 0 || i < bad) bad = i;
        }
    }
    if (bad >= 0) {
        ptrag_knn_free(ix);
        return ptrag_fail(err, PTRAG_E_NUMERIC, "knn: database row %ld has a NaN or infinite value", bad);
    }
    *out = ix;
    return 0;
}

void ptrag_knn_free(ptrag_knn_index *index) {
    if (!index) return;
    free(index->rows);
    free(index);
}

long ptrag_knn_size(const ptrag_knn_index *index) { return index ? index->n : 0; }
int ptrag_knn_dim(const ptrag_knn_index *index) { return index ? index->dim : 0; }
const float *ptrag_knn_normalized(const ptrag_knn_index *index) { return index ? index->rows : NULL; }

void ptrag_knn_set_block_bytes(ptrag_knn_index *index, size_t bytes) {
    if (index) index->block_bytes = bytes ? bytes : DEFAULT_BLOCK_BYTES;
}

long ptrag_knn_block_rows(const ptrag_knn_index *index) {
    size_t per_query = ((size_t)index->n + (size_t)index->dim) * sizeof(float);
    size_t b = index->block_bytes / per_query;
    return b < 1 ? 1 : (long)b;
}

static long block_for(const ptrag_knn_index *index, long n_queries) {
    long b = ptrag_knn_block_rows(index);
    return n_queries < b ? (n_queries > 0 ? n_queries : 1) : b;
}

size_t ptrag_knn_workspace_bytes(const ptrag_knn_index *index, long n_queries) {
    if (!index) return 0;
    return (size_t)block_for(index, n_queries) * ((size_t)index->n + (size_t)index->dim) * sizeof(float);
}

/* Candidate order: higher similarity first, then lower index. The heap keeps
 * the K best seen so far with the worst at the root. */
static inline int worse(float sa, long ia, float sb, long ib) { return sa < sb || (sa == sb && ia > ib); }

static void sift_down(float *s, long *ix, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && worse(s[l], ix[l], s[w], ix[w])) w = l;
        if (r < n && worse(s[r], ix[r], s[w], ix[w])) w = r;
        if (w == i) return;
        float ts = s[i];
        s[i] = s[w];
        s[w] = ts;
        long ti = ix[i];
        ix[i] = ix[w];
        ix[w] = ti;
        i = w;
    }
}

static void sift_up(float *s, long *ix, int i) {
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!worse(s[i], ix[i], s[p], ix[p])) return;
        float ts = s[i];
        s[i] = s[p];
        s[p] = ts;
        long ti = ix[i];
        ix[i] = ix[p];
        ix[p] = ti;
        i = p;
    }
}

/* Top-k of one similarity row; NaN entries are excluded candidates. */
static void select_top(const float *row, long n, int k, long *idx, float *sim) {
    int c = 0;
    for (long j = 0; j < n; j++) {
        float s = row[j];
        if (s != s) continue; /* excluded */
        if (c < k) {
            sim[c] = s;
            idx[c] = j;
            sift_up(sim, idx, c);
            c++;
        } else if (s > sim[0]) {
            /* Equal similarity never displaces: earlier indices win ties. */
            sim[0] = s;
            idx[0] = j;
            sift_down(sim, idx, c, 0);
        }
    }
    /* Heap sort: repeatedly move the worst to the end -> best first. */
    for (int end = c - 1; end > 0; end--) {
        float ts = sim[0];
        sim[0] = sim[end];
        sim[end] = ts;
        long ti = idx[0];
        idx[0] = idx[end];
        idx[end] = ti;
        sift_down(sim, idx, end, 0);
    }
    for (int i = c; i < k; i++) {
        idx[i] = -1;
        sim[i] = NAN;
    }
}

static int check_exclusions(long n_queries, long n, const long *off, const long *ind, ptrag_error *err) {
    if (!off && !ind) return 0;
    if (!off || !ind) {
        if (off && off[n_queries] == 0) return 0;
        return ptrag_fail(err, PTRAG_E_ARG, "knn: exclusion offsets and indices must be given together");
    }
    if (off[0] != 0) return ptrag_fail(err, PTRAG_E_ARG, "knn: exclusion offsets must start at 0");
    for (long q = 0; q < n_queries; q++) {
        if (off[q + 1] < off[q]) return ptrag_fail(err, PTRAG_E_ARG, "knn: exclusion offsets decrease at query %ld", q);
        for (long t = off[q]; t < off[q + 1]; t++)
            if (ind[t] < 0 || ind[t] >= n)
                return ptrag_fail(err, PTRAG_E_ARG, "knn: query %ld excludes index %ld, outside the database [0, %ld)", q,
                                  ind[t], n);
    }
    return 0;
}

/* Shared search: queries come either as raw vectors or as database rows. */
static int search(const ptrag_knn_index *ix, const float *queries, const long *qrows, long nq, int k, int exclude_self,
                  const long *off, const long *ind, void *workspace, size_t ws_bytes, long *idx_out, float *sim_out,
                  ptrag_error *err) {
    if (!ix) return ptrag_fail(err, PTRAG_E_ARG, "knn: no index");
    if (k < 1) return ptrag_fail(err, PTRAG_E_ARG, "knn: k must be at least 1, got %d", k);
    if (nq < 0 || (nq > 0 && ((!queries && !qrows) || !idx_out || !sim_out)))
        return ptrag_fail(err, PTRAG_E_ARG, "knn: missing queries or outputs");
    if (nq == 0) return 0;
    int rc = check_exclusions(nq, ix->n, off, ind, err);
    if (rc) return rc;
    if (qrows)
        for (long q = 0; q < nq; q++)
            if (qrows[q] < 0 || qrows[q] >= ix->n)
                return ptrag_fail(err, PTRAG_E_ARG, "knn: query row %ld is outside the database [0, %ld)", qrows[q], ix->n);
    size_t need = ptrag_knn_workspace_bytes(ix, nq);
    void *own = NULL;
    if (!workspace) {
        own = workspace = malloc(need);
        if (!own) return ptrag_fail(err, PTRAG_E_NOMEM, "knn: out of memory for a %zu-byte workspace", need);
    } else if (ws_bytes < need) {
        return ptrag_fail(err, PTRAG_E_ARG, "knn: workspace of %zu bytes is too small (%zu needed)", ws_bytes, need);
    }
    long n = ix->n, block = block_for(ix, nq);
    int dim = ix->dim;
    float *qn = workspace;
    float *sims = qn + (size_t)block * (size_t)dim;
    for (long q0 = 0; q0 < nq && !rc; q0 += block) {
        long b = nq - q0 < block ? nq - q0 : block;
        long bad = -1;
#pragma omp parallel for schedule(static)
        for (long i = 0; i < b; i++) {
            float *dst = qn + (size_t)i * (size_t)dim;
            if (qrows) memcpy(dst, ix->rows + (size_t)qrows[q0 + i] * (size_t)dim, (size_t)dim * sizeof *dst);
            else if (normalize_row(queries + (size_t)(q0 + i) * (size_t)dim, dst, dim) != 0) {
#pragma omp critical
                if (bad < 0 || q0 + i < bad) bad = q0 + i;
            }
        }
        if (bad >= 0) {
            rc = ptrag_fail(err, PTRAG_E_NUMERIC, "knn: query %ld has a NaN or infinite value", bad);
            break;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)n, dim, 1.0f, qn, dim, ix->rows, dim, 0.0f,
                    sims, (int)n);
#pragma omp parallel for schedule(dynamic, 1)
        for (long i = 0; i < b; i++) {
            long q = q0 + i;
            float *row = sims + (size_t)i * (size_t)n;
            if (off)
                for (long t = off[q]; t < off[q + 1]; t++) row[ind[t]] = NAN;
            if (qrows && exclude_self) row[qrows[q]] = NAN;
            select_top(row, n, k, idx_out + (size_t)q * (size_t)k, sim_out + (size_t)q * (size_t)k);
        }
    }
    free(own);
    return rc;
}

int ptrag_knn_search(const ptrag_knn_index *index, const float *queries, long n_queries, int k,
                     const long *excl_offsets, const long *excl_indices, void *workspace, size_t workspace_bytes,
                     long *idx_out, float *sim_out, ptrag_error *err) {
    if (n_queries > 0 && !queries) return ptrag_fail(err, PTRAG_E_ARG, "knn: missing queries");
    return search(index, queries, NULL, n_queries, k, 0, excl_offsets, excl_indices, workspace, workspace_bytes, idx_out,
                  sim_out, err);
}

int ptrag_knn_search_rows(const ptrag_knn_index *index, const long *rows, long n_queries, int k, int exclude_self,
                          const long *excl_offsets, const long *excl_indices, void *workspace,
                          size_t workspace_bytes, long *idx_out, float *sim_out, ptrag_error *err) {
    if (n_queries > 0 && !rows) return ptrag_fail(err, PTRAG_E_ARG, "knn: missing query rows");
    return search(index, NULL, rows, n_queries, k, exclude_self, excl_offsets, excl_indices, workspace,
                  workspace_bytes, idx_out, sim_out, err);
}
