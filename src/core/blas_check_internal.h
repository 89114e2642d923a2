/* The routines ptrag_blas_check exercises, as function pointers: the linked
 * OpenBLAS, or a second copy loaded with another OPENBLAS_CORETYPE. Tests
 * pass a deliberately wrong routine to prove the check catches it. */
#ifndef PTRAG_CORE_BLAS_CHECK_INTERNAL_H
#define PTRAG_CORE_BLAS_CHECK_INTERNAL_H

#include <stddef.h>
#include <cblas.h>

typedef void (*blas_dposv_fn)(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda,
                              double *b, const int *ldb, int *info, size_t uplo_len);
typedef void (*blas_dsyevr_fn)(const char *jobz, const char *range, const char *uplo, const int *n, double *a,
                               const int *lda, const double *vl, const double *vu, const int *il, const int *iu,
                               const double *abstol, int *m, double *w, double *z, const int *ldz, int *isuppz,
                               double *work, const int *lwork, int *iwork, const int *liwork, int *info,
                               size_t jobz_len, size_t range_len, size_t uplo_len);

typedef struct blas_api {
    __typeof__(&cblas_sgemm) sgemm;
    __typeof__(&cblas_dgemm) dgemm;
    __typeof__(&cblas_dgemv) dgemv;
    blas_dposv_fn dposv;
    blas_dsyevr_fn dsyevr;
} blas_api;

/* The linked library's routines. */
void ptrag_blas_api_linked(blas_api *api);

/* Runs every check; 0 if all agree, else 1 with a description in `why`. */
int ptrag_blas_check_api(const blas_api *api, char *why, size_t n);

#endif
