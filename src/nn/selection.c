/* PT-RAG's stage-2 keep/drop selection (reference-model.md section 3.3): a
 * two-way Gumbel-softmax per (cell, candidate) pair, hard and
 * straight-through while training. Pairs are independent, so the bits do not
 * depend on the thread count. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

void ptrag_gumbel_select_forward(float *w, float *soft, const float *y, long n, float tau, int hard, int noisy,
                                 const float *noise, uint64_t seed, uint64_t stream) {
    const float inv_tau = 1.0f / tau;
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK / 8)
    for (long i = 0; i < n; i++) {
        float z0 = y[2 * i], z1 = y[2 * i + 1];
        if (noisy) {
            if (noise) {
                z0 += noise[2 * i];
                z1 += noise[2 * i + 1];
            } else {
                z0 += (float)(-log(-log(ptrag_hash_uniform(seed, stream, (uint64_t)(2 * i)))));
                z1 += (float)(-log(-log(ptrag_hash_uniform(seed, stream, (uint64_t)(2 * i + 1)))));
            }
        }
        z0 *= inv_tau, z1 *= inv_tau;
        /* softmax over two entries */
        float mx = z0 > z1 ? z0 : z1;
        float e0 = expf(z0 - mx), e1 = expf(z1 - mx), inv = 1.0f / (e0 + e1);
        soft[2 * i] = e0 * inv;
        soft[2 * i + 1] = e1 * inv;
        w[i] = hard ? (z1 > z0 ? 1.0f : 0.0f) : e1 * inv; /* argmax, ties to "drop" */
    }
}

void ptrag_gumbel_select_backward(float *dy, const float *dw, const float *soft, long n, float tau) {
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK / 8)
    for (long i = 0; i < n; i++) {
        float g = soft[2 * i] * soft[2 * i + 1] * dw[i] / tau;
        dy[2 * i] = -g;
        dy[2 * i + 1] = g;
    }
}
