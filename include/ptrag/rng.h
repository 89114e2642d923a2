/* Random numbers. Two kinds, both seeded and platform independent:
 *  - ptrag_rng: a sequential generator (xoshiro256**) for samplers, where one
 *    thread draws in a fixed order;
 *  - ptrag_hash_*: counter-based draws (seed, stream, index) -> value, for
 *    parallel kernels (dropout, Gumbel noise) whose results must not depend on
 *    thread scheduling. */
#ifndef PTRAG_RNG_H
#define PTRAG_RNG_H

#include <stdint.h>

typedef struct ptrag_rng {
    uint64_t s[4];
} ptrag_rng;

void ptrag_rng_seed(ptrag_rng *rng, uint64_t seed);
uint64_t ptrag_rng_u64(ptrag_rng *rng);
/* Uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint64_t ptrag_rng_below(ptrag_rng *rng, uint64_t n);
/* Uniform double in [0, 1) with 53 random bits. */
double ptrag_rng_uniform(ptrag_rng *rng);
/* Standard normal (Box-Muller; uses two uniforms per call). */
double ptrag_rng_normal(ptrag_rng *rng);
/* Fisher-Yates shuffle of an int array. */
void ptrag_rng_shuffle_int(ptrag_rng *rng, int *a, long n);

/* Counter-based: a well-mixed 64-bit value from (seed, stream, index). */
uint64_t ptrag_hash_u64(uint64_t seed, uint64_t stream, uint64_t index);
/* Uniform double in the open interval (0, 1) from (seed, stream, index). */
double ptrag_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index);

#endif
