/* OpenBLAS rounds differently with different numbers of its own threads (a
 * threaded sgemm gave other last bits here), so the metric code runs BLAS
 * single-threaded and parallelises with OpenMP over fixed-size blocks
 * instead: the same bits on any thread count. Private to src/eval. */
#ifndef PTRAG_EVAL_BLAS_SERIAL_H
#define PTRAG_EVAL_BLAS_SERIAL_H

/* Sets OpenBLAS to one thread; returns the previous count for _end. (Named
 * apart from src/nn's blas_serial_begin, which only acts on pthreads builds:
 * the two clashed when the whole archive is linked into libptrag.so.) */
int ptrag_eval_blas_serial_begin(void);
void ptrag_eval_blas_serial_end(int previous);

#endif
