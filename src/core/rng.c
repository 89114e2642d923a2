/* Seeded random numbers: see include/ptrag/rng.h. */
#include "ptrag/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void ptrag_rng_seed(ptrag_rng *rng, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

uint64_t ptrag_rng_u64(ptrag_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ptrag_rng_below(ptrag_rng *rng, uint64_t n) {
    /* Reject the top partial bucket so every value is equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do v = ptrag_rng_u64(rng); while (v >= limit);
    return v % n;
}

double ptrag_rng_uniform(ptrag_rng *rng) {
    return (double)(ptrag_rng_u64(rng) >> 11) * 0x1.0p-53;
}

double ptrag_rng_normal(ptrag_rng *rng) {
    double u1;
    do u1 = ptrag_rng_uniform(rng); while (u1 <= 0.0);
    double u2 = ptrag_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ptrag_rng_shuffle_int(ptrag_rng *rng, int *a, long n) {
    for (long i = n - 1; i > 0; i--) {
        long j = (long)ptrag_rng_below(rng, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

uint64_t ptrag_hash_u64(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ULL);
    (void)splitmix64(&x);
    x ^= index * 0x8CB92BA72F3D8DD7ULL;
    uint64_t a = splitmix64(&x);
    return a ^ splitmix64(&x);
}

double ptrag_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    /* 52 bits, shifted by half an ulp so 0 and 1 are never returned. */
    return ((double)(ptrag_hash_u64(seed, stream, index) >> 12) + 0.5) * 0x1.0p-52;
}
