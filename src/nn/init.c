/* Parameter initialisation with PyTorch's default distributions: the one init
 * path (ptrag_params_init draws each tensor through these, from a generator
 * seeded by the run seed and the tensor's name). Draws are sequential, so an
 * init is reproducible from its seed. */
#include "ptrag/nn.h"

#include <math.h>

void ptrag_init_const(float *w, long n, float value) {
    for (long i = 0; i < n; i++) w[i] = value;
}

void ptrag_init_normal(float *w, long n, double std, ptrag_rng *rng) {
    for (long i = 0; i < n; i++) w[i] = (float)(std * ptrag_rng_normal(rng));
}

/* nn.Linear.reset_parameters: kaiming_uniform_(a=sqrt(5)) gives bound
 * sqrt(6/((1+5) fan_in)) = 1/sqrt(fan_in); the bias uses the same bound. */
void ptrag_init_kaiming_uniform(float *w, long n, double fan_in, ptrag_rng *rng) {
    const double bound = 1.0 / sqrt(fan_in);
    for (long i = 0; i < n; i++) w[i] = (float)(bound * (2.0 * ptrag_rng_uniform(rng) - 1.0));
}
