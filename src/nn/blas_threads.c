/* See blas_threads.h. */
#include "nn/blas_threads.h"

#include <cblas.h>

enum { OPENBLAS_PTHREADS = 1 }; /* openblas_get_parallel(): 0 seq, 1 pthreads, 2 OpenMP */

int blas_serial_begin(void) {
    if (openblas_get_parallel() != OPENBLAS_PTHREADS) return 0;
    int n = openblas_get_num_threads();
    if (n > 1) openblas_set_num_threads(1);
    return n;
}

void blas_serial_end(int token) {
    if (token > 1) openblas_set_num_threads(token);
}
