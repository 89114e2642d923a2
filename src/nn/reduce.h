/* Fixed-order reductions internal to src/nn (the public ones are in
 * ptrag/nn.h). */
#ifndef PTRAG_NN_REDUCE_H
#define PTRAG_NN_REDUCE_H

/* sum |x[i]|, fixed blocks in order (for x >= 0 the same bits as
 * ptrag_sum_fixed). */
double ptrag_abs_sum_fixed(const float *x, long n);

#endif
