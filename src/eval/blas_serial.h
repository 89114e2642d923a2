/* OpenBLAS rounds differently with different numbers of its own threads (a
 * threaded sgemm gave other last bits here), so the metric code runs BLAS
 * single-threaded and parallelises with OpenMP over fixed-size blocks
 * instead: the same bits on any thread count. Private to src/eval. */
#ifndef PTRAG_EVAL_BLAS_SERIAL_H
#define PTRAG_EVAL_BLAS_SERIAL_H

/* Sets OpenBLAS to one thread; returns the previous count for _end. */
int blas_serial_begin(void);
void blas_serial_end(int previous);

#endif
