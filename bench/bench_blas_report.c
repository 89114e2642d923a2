/* Prints ptrag_blas_report with measurements: the BLAS in use, its core
 * type, and (when OpenBLAS fell back to older kernels than the CPU runs)
 * sgemm 512^3 GFLOP/s of the core it picked against the faster one, both
 * measured in this process (the second through its own copy of OpenBLAS).
 *   build/bench_blas_report */
#include <stdio.h>
#include <stdlib.h>

#include "ptrag/blas_check.h"

int main(void) {
    ptrag_error err;
    char *text;
    if (ptrag_blas_check(&err)) fprintf(stderr, "%s\n", err.msg);
    if (ptrag_blas_report(1, &text, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    fputs(text, stdout);
    free(text);
    return 0;
}
