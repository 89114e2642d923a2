/* OpenBLAS rounds differently with different numbers of its own threads (a
 * threaded sgemm gave other last bits here), so the metric code runs BLAS
 * single-threaded and parallelises with OpenMP over fixed-size blocks
 * instead: the same bits on any thread count. Private to src/eval.
 *
 * Static inline, not extern: src/nn has its own blas_serial_begin (acting on
 * pthreads builds only), and two extern definitions of one name clash when
 * the whole library is linked into libptrag.so. */
#ifndef PTRAG_EVAL_BLAS_SERIAL_H
#define PTRAG_EVAL_BLAS_SERIAL_H

#include <cblas.h>

/* Sets OpenBLAS to one thread; returns the previous count for _end. */
static inline int blas_serial_begin(void) {
    int previous = openblas_get_num_threads();
    if (previous != 1) openblas_set_num_threads(1);
    return previous;
}

static inline void blas_serial_end(int previous) {
    if (previous != 1 && previous > 0) openblas_set_num_threads(previous);
}

#endif
