/* The BLAS is checked before it is trusted.
 *
 * Some OpenBLAS builds pick wrong kernels on CPUs newer than themselves
 * (wrong results or crashes have been reported), others fall back to old SSE
 * kernels at half speed (docs/performance.md: Prescott on an AVX-512 Xeon).
 * ptrag_blas_check runs every BLAS/LAPACK routine ptrag uses (sgemm in all
 * four transpose forms and several shapes, dgemm, dgemv, dposv, dsyevr) on
 * small problems against plain reference loops, in about a millisecond. */
#ifndef PTRAG_BLAS_CHECK_H
#define PTRAG_BLAS_CHECK_H

#include "ptrag/error.h"

/* 0 when every routine agrees with its reference. Otherwise PTRAG_E_NUMERIC
 * with a message naming the routine, the shape, the error, the OpenBLAS core
 * type in use and the OPENBLAS_CORETYPE setting to try (verified, when
 * possible, by loading a second copy of OpenBLAS with that setting). */
int ptrag_blas_check(ptrag_error *err);

/* A multi-line description of the BLAS in use: library and version
 * (openblas_get_config), core type, threading, OPENBLAS_* settings, CPU
 * model and features, the self-check's verdict, and, with measure = 1, the
 * sgemm GFLOP/s measured. When OpenBLAS runs a kernel older than the CPU
 * supports, a "warning:" line names the faster OPENBLAS_CORETYPE, with the
 * GFLOP/s of both (measure = 1). *text is malloc'ed. */
int ptrag_blas_report(int measure, char **text, ptrag_error *err);

/* The OPENBLAS_CORETYPE with the newest kernels this CPU can run
 * ("SkylakeX", "Haswell", "Sandybridge" or "Prescott"). */
const char *ptrag_blas_best_coretype(void);

#endif
