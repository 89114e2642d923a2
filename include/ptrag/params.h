/* Parameter registry: named tensors registered once, then laid out in four
 * contiguous float arenas of equal layout — values, gradients, and Adam's
 * first and second moments (m, v) — so the optimiser, gradient clipping and
 * checkpoints work on flat arrays while model code finds tensors by name.
 *
 * Lifecycle:
 *   ptrag_params *ps; ptrag_params_new(&ps, err);
 *   int w = ptrag_params_add(ps, "basal_encoder.weight", 2, (long long[]){H, G},
 *                            PTRAG_INIT_KAIMING_UNIFORM, G, 0, err);     // fan_in = G
 *   ... more adds (or ptrag_params_add_linear) ...
 *   ptrag_params_layout(ps, err);           // allocates and zeroes the arenas
 *   ptrag_params_init(ps, seed);            // fills values by each init kind
 *   float *W = ptrag_params_value(ps, w);   // pointers stay valid until free
 *   ... training: zero_grad, forward/backward into ptrag_params_grad(ps, i),
 *       optimiser over values/grads/m/v[0 .. ptrag_params_trainable(ps)) ...
 *   ptrag_params_free(ps);
 *
 * Layout: trainable tensors first (in registration order), then frozen ones.
 * So the trainable parameters are the single range [0, trainable) of every
 * arena: Adam and the clip norm run over that prefix only, and frozen
 * tensors' gradient and moment slots are never touched by the optimiser.
 * Each tensor starts on a 16-float (64-byte) boundary; the padding between
 * tensors is zero in every arena and belongs to no tensor. */
#ifndef PTRAG_PARAMS_H
#define PTRAG_PARAMS_H

#include <stddef.h>
#include <stdint.h>
#include "ptrag/error.h"

#define PTRAG_PARAM_NAME_MAX 64 /* including the terminating NUL */
#define PTRAG_PARAM_MAX_DIMS 4

typedef enum {
    PTRAG_INIT_ZEROS = 0,
    PTRAG_INIT_ONES = 1,
    /* N(0, init_arg^2): LLaMA linear layers (std 0.02), embeddings (std 1). */
    PTRAG_INIT_NORMAL = 2,
    /* U(-1/sqrt(init_arg), +1/sqrt(init_arg)), init_arg = fan_in: PyTorch's
     * default for nn.Linear weight and bias alike. */
    PTRAG_INIT_KAIMING_UNIFORM = 3
} ptrag_init_kind;

/* Read-only description of one registered tensor. */
typedef struct ptrag_param {
    char name[PTRAG_PARAM_NAME_MAX];
    int ndim;                               /* 1..PTRAG_PARAM_MAX_DIMS */
    long long shape[PTRAG_PARAM_MAX_DIMS];  /* row-major; unused dims are 1 */
    size_t numel;
    size_t offset; /* float index of the first element in every arena (after layout) */
    int frozen;
    ptrag_init_kind init;
    double init_arg; /* std for NORMAL, fan_in for KAIMING_UNIFORM, unused otherwise */
} ptrag_param;

typedef struct ptrag_params ptrag_params; /* opaque */

int ptrag_params_new(ptrag_params **out, ptrag_error *err);
void ptrag_params_free(ptrag_params *ps); /* NULL is allowed */

/* Registers a tensor; returns its index (>= 0) or a negative ptrag_status.
 * Errors: empty/too long/duplicate name, ndim outside 1..4, a dim < 1,
 * NORMAL with std < 0, KAIMING_UNIFORM with fan_in < 1, or a call after
 * ptrag_params_layout (PTRAG_E_STATE). */
int ptrag_params_add(ptrag_params *ps, const char *name, int ndim, const long long *shape,
                     ptrag_init_kind init, double init_arg, int frozen, ptrag_error *err);

/* Registers a PyTorch-style Linear(in -> out): "<prefix>.weight" with shape
 * [out, in] (row-major, one row per output) and, if has_bias, "<prefix>.bias"
 * with shape [out], both KAIMING_UNIFORM with fan_in = in. Returns the
 * weight's index (the bias, if any, is the next index) or a negative status. */
int ptrag_params_add_linear(ptrag_params *ps, const char *prefix, long long in, long long out,
                            int has_bias, int frozen, ptrag_error *err);

/* Marks every tensor whose name starts with `prefix` frozen (1) or trainable
 * (0); before layout only (e.g. "backbone." for --freeze-backbone). Returns
 * the number of tensors matched, or a negative status. */
int ptrag_params_set_frozen_prefix(ptrag_params *ps, const char *prefix, int frozen,
                                   ptrag_error *err);

/* Computes offsets and allocates the four arenas (64-byte aligned, zeroed).
 * After this no tensor can be added. */
int ptrag_params_layout(ptrag_params *ps, ptrag_error *err);

/* Fills every tensor's values by its init kind. Each tensor draws from its
 * own stream seeded by (seed, name), so a tensor's initial values do not
 * depend on which other tensors exist or their order. Requires layout. */
int ptrag_params_init(ptrag_params *ps, uint64_t seed, ptrag_error *err);

/* Zeroes the whole gradient arena. */
void ptrag_params_zero_grad(ptrag_params *ps);

/* PTRAG_E_NUMERIC "parameter 'x': element 12 is nan" for the first value
 * that is NaN or infinite (a diverged model), else 0. */
int ptrag_params_check_finite(const ptrag_params *ps, ptrag_error *err);

/* Number of registered tensors; index of `name` or -1; description of #i. */
int ptrag_params_count(const ptrag_params *ps);
int ptrag_params_find(const ptrag_params *ps, const char *name);
const ptrag_param *ptrag_params_get(const ptrag_params *ps, int i);

/* Element counts summed over tensors (padding excluded). */
size_t ptrag_params_numel_all(const ptrag_params *ps);
size_t ptrag_params_numel_trainable(const ptrag_params *ps);

/* Arena lengths in floats (padding included): the trainable prefix
 * [0, trainable) and the whole arena [0, total). Valid after layout. */
size_t ptrag_params_trainable(const ptrag_params *ps);
size_t ptrag_params_total(const ptrag_params *ps);

/* The arenas (NULL before layout). Like strchr, these take a const registry
 * and return writable memory: the registry's bookkeeping is what is const. */
float *ptrag_params_values(const ptrag_params *ps);
float *ptrag_params_grads(const ptrag_params *ps);
float *ptrag_params_adam_m(const ptrag_params *ps);
float *ptrag_params_adam_v(const ptrag_params *ps);

/* Tensor #i inside the value / gradient arena (NULL before layout). */
float *ptrag_params_value(const ptrag_params *ps, int i);
float *ptrag_params_grad(const ptrag_params *ps, int i);

/* Formats a shape as "[64, 500]" into buf. */
void ptrag_shape_text(int ndim, const long long *shape, char *buf, size_t n);

#endif
