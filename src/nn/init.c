/* Parameter initialisation with PyTorch's default distributions. Draws are
 * sequential from one ptrag_rng, so an init is reproducible from its seed. */
#include "ptrag/nn.h"

#include <math.h>

void ptrag_init_uniform(float *w, long n, float lo, float hi, ptrag_rng *rng) {
    for (long i = 0; i < n; i++) w[i] = lo + (hi - lo) * (float)ptrag_rng_uniform(rng);
}

void ptrag_init_normal(float *w, long n, float mean, float std, ptrag_rng *rng) {
    for (long i = 0; i < n; i++) w[i] = mean + std * (float)ptrag_rng_normal(rng);
}

void ptrag_init_const(float *w, long n, float value) {
    for (long i = 0; i < n; i++) w[i] = value;
}

/* nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives bound
 * sqrt(6/((1+5) fan_in)) = 1/sqrt(fan_in); the bias uses the same bound. */
void ptrag_init_linear(float *W, float *b, int in, int out, ptrag_rng *rng) {
    float bound = in > 0 ? 1.0f / sqrtf((float)in) : 0.0f;
    ptrag_init_uniform(W, (long)in * out, -bound, bound, rng);
    if (b) ptrag_init_uniform(b, out, -bound, bound, rng);
}

void ptrag_init_linear_llama(float *W, float *b, int in, int out, ptrag_rng *rng) {
    ptrag_init_normal(W, (long)in * out, 0.0f, 0.02f, rng);
    if (b) ptrag_init_const(b, out, 0.0f);
}

void ptrag_init_embedding(float *table, int rows, int dim, ptrag_rng *rng) {
    ptrag_init_normal(table, (long)rows * dim, 0.0f, 1.0f, rng);
}
