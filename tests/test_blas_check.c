/* The BLAS self-check: passes on the linked OpenBLAS, and catches a routine
 * that is wrong by one element, writes outside its output, or a LAPACK solve
 * that returns garbage; the report names the library and the core type. */
#include <string.h>

#include "core/blas_check_internal.h"
#include "ptrag/blas_check.h"
#include "testlib.h"

static int bad_m; /* the M for which wrong_sgemm corrupts its result */

static void wrong_sgemm(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                        const blasint M, const blasint N, const blasint K, const float alpha, const float *A,
                        const blasint lda, const float *B, const blasint ldb, const float beta, float *C,
                        const blasint ldc) {
    cblas_sgemm(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (M == bad_m && ta == CblasTrans) C[(M - 1) * ldc + N - 1] += 0.01f; /* one element, slightly off */
}

static void sgemm_writes_padding(const enum CBLAS_ORDER o, const enum CBLAS_TRANSPOSE ta,
                                 const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N, const blasint K,
                                 const float alpha, const float *A, const blasint lda, const float *B,
                                 const blasint ldb, const float beta, float *C, const blasint ldc) {
    cblas_sgemm(o, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (ldc > N) C[N] = 12345.0f;
}

static void wrong_dposv(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                        const int *ldb, int *info, size_t uplo_len) {
    (void)uplo, (void)nrhs, (void)a, (void)lda, (void)ldb, (void)uplo_len;
    for (int i = 0; i < *n; i++) b[i] *= 1.001;
    *info = 0;
}

static void test_linked_blas_passes(void) {
    ptrag_error err;
    int rc = ptrag_blas_check(&err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    blas_api api;
    ptrag_blas_api_linked(&api);
    char why[512] = "";
    CHECK_INT(ptrag_blas_check_api(&api, why, sizeof why), 0);
}

static void test_wrong_routines_are_caught(void) {
    blas_api api;
    char why[512];
    int shapes[] = {7, 16, 67, 65};
    for (int i = 0; i < 4; i++) {
        ptrag_blas_api_linked(&api);
        api.sgemm = wrong_sgemm;
        bad_m = shapes[i];
        why[0] = '\0';
        CHECK_INT(ptrag_blas_check_api(&api, why, sizeof why), 1);
        CHECK_CONTAINS(why, "cblas_sgemm(T");
    }
    ptrag_blas_api_linked(&api);
    api.sgemm = sgemm_writes_padding;
    CHECK_INT(ptrag_blas_check_api(&api, why, sizeof why), 1);
    CHECK_CONTAINS(why, "wrote outside C");
    ptrag_blas_api_linked(&api);
    api.dposv = wrong_dposv;
    CHECK_INT(ptrag_blas_check_api(&api, why, sizeof why), 1);
    CHECK_CONTAINS(why, "dposv");
}

static void test_report_describes_the_library(void) {
    char *text = NULL;
    ptrag_error err;
    CHECK_INT(ptrag_blas_report(0, &text, &err), 0);
    CHECK_CONTAINS(text, "blas.config = OpenBLAS");
    CHECK_CONTAINS(text, "blas.core = ");
    CHECK_CONTAINS(text, "blas.self_check = passed");
    CHECK_CONTAINS(text, "cpu.features =");
    /* A fallback kernel on a CPU with newer ones must be flagged, with the setting. */
    const char *best = ptrag_blas_best_coretype();
    if (text && strcmp(best, "Prescott") != 0 && strstr(text, "blas.core = Prescott"))
        CHECK_CONTAINS(text, "warning: OpenBLAS runs its Prescott kernels");
    free(text);
}

int main(void) {
    RUN(test_linked_blas_passes);
    RUN(test_wrong_routines_are_caught);
    RUN(test_report_describes_the_library);
    return TEST_SUMMARY();
}
