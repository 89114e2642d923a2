/* e^x without calls or branches, so loops over it vectorise (internal to
 * src/nn): x = n ln2 + r with |r| <= ln2/2, e^r by its degree-7 Taylor
 * polynomial (relative error < 3e-9 before rounding), 2^n assembled in the
 * exponent bits. Inputs are clamped to [-87, 88]. */
#ifndef PTRAG_NN_FAST_EXP_H
#define PTRAG_NN_FAST_EXP_H

#include <stdint.h>

static inline float ptrag_fast_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187045e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        int32_t i;
        float f;
    } s;
    s.i = ((int32_t)n + 127) << 23;
    return p * s.f;
}

#endif
