/* Keeping OpenBLAS single-threaded around code that parallelises with OpenMP
 * over fixed-size blocks (the kernel library src/nn, the metrics in src/eval).
 * Internal to the library.
 *
 * Two reasons, both about the fixed-block rule (include/ptrag/nn.h):
 *  - OpenBLAS rounds differently with different numbers of its own threads
 *    (a threaded sgemm gives other last bits), so a product whose result
 *    must not depend on the thread count runs on one BLAS thread;
 *  - a pthreads OpenBLAS would otherwise start (and afterwards spin) its own
 *    pool inside the OpenMP threads' calls and oversubscribe the cores.
 * begin sets OpenBLAS to one thread whatever its threading layer, and end
 * restores the caller's count, so OPENBLAS_NUM_THREADS only matters for BLAS
 * calls a caller makes outside these brackets. */
#ifndef PTRAG_CORE_BLAS_SERIAL_H
#define PTRAG_CORE_BLAS_SERIAL_H

/* Sets OpenBLAS to one thread; returns the previous count for _end. */
int ptrag_blas_serial_begin(void);
/* Restores the count that _begin returned. */
void ptrag_blas_serial_end(int previous);

#endif
