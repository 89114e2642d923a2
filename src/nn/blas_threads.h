/* Keeping OpenBLAS's own thread pool out of OpenMP regions (internal to src/nn).
 *
 * Every op that multiplies matrices splits its work over OpenMP threads and
 * calls single-threaded sgemm per block. A pthreads OpenBLAS would otherwise
 * start (and afterwards spin) its own threads inside those calls and
 * oversubscribe the cores, so the region is bracketed by blas_serial_begin /
 * blas_serial_end, which set OpenBLAS to one thread and restore the caller's
 * count. OpenMP and sequential OpenBLAS builds already run single-threaded
 * inside a parallel region and are left untouched. */
#ifndef PTRAG_NN_BLAS_THREADS_H
#define PTRAG_NN_BLAS_THREADS_H

/* Returns the token to pass to blas_serial_end. */
int blas_serial_begin(void);
void blas_serial_end(int token);

#endif
