/* Parameter registry and arenas: see include/ptrag/params.h. */
#include "ptrag/params.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/checksum.h"
#include "ptrag/nn.h"
#include "ptrag/rng.h"

#define ALIGN_FLOATS 16 /* 64 bytes: a cache line, and a full AVX-512 register */

struct ptrag_params {
    ptrag_param *p;
    int n, cap;
    int laid_out;
    size_t trainable, total;
    float *values, *grads, *m, *v;
};

int ptrag_params_new(ptrag_params **out, ptrag_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return ptrag_fail(err, PTRAG_E_NOMEM, "parameter registry: out of memory");
    return 0;
}

void ptrag_params_free(ptrag_params *ps) {
    if (!ps) return;
    free(ps->p);
    free(ps->values);
    free(ps->grads);
    free(ps->m);
    free(ps->v);
    free(ps);
}

void ptrag_shape_text(int ndim, const long long *shape, char *buf, size_t n) {
    size_t len = 0;
    if (n == 0) return;
    buf[0] = '\0';
    len += (size_t)snprintf(buf, n, "[");
    for (int d = 0; d < ndim && len < n; d++)
        len += (size_t)snprintf(buf + len, n - len, "%s%lld", d ? ", " : "", shape[d]);
    if (len < n) snprintf(buf + len, n - len, "]");
}

int ptrag_params_find(const ptrag_params *ps, const char *name) {
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].name, name) == 0) return i;
    return -1;
}

int ptrag_params_add(ptrag_params *ps, const char *name, int ndim, const long long *shape,
                     ptrag_init_kind init, double init_arg, int frozen, ptrag_error *err) {
    if (ps->laid_out)
        return ptrag_fail(err, PTRAG_E_STATE, "parameter '%s': registered after layout", name);
    size_t len = strlen(name);
    if (len == 0 || len >= PTRAG_PARAM_NAME_MAX)
        return ptrag_fail(err, PTRAG_E_ARG, "parameter '%s': name must have 1 to %d characters",
                          name, PTRAG_PARAM_NAME_MAX - 1);
    if (ptrag_params_find(ps, name) >= 0)
        return ptrag_fail(err, PTRAG_E_ARG, "parameter '%s': registered twice", name);
    if (ndim < 1 || ndim > PTRAG_PARAM_MAX_DIMS)
        return ptrag_fail(err, PTRAG_E_ARG, "parameter '%s': ndim must be 1 to %d, got %d", name,
                          PTRAG_PARAM_MAX_DIMS, ndim);
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 1 || shape[d] > (1LL << 40))
            return ptrag_fail(err, PTRAG_E_ARG, "parameter '%s': dimension %d must be >= 1, got %lld",
                              name, d, shape[d]);
        numel *= (size_t)shape[d];
        if (numel > ((size_t)1 << 40))
            return ptrag_fail(err, PTRAG_E_ARG, "parameter '%s': more than 2^40 elements", name);
    }
    switch (init) {
    case PTRAG_INIT_ZEROS:
    case PTRAG_INIT_ONES: break;
    case PTRAG_INIT_NORMAL:
        if (!(init_arg >= 0) || !isfinite(init_arg))
            return ptrag_fail(err, PTRAG_E_ARG, "parameter '%s': normal init needs std >= 0, got %g",
                              name, init_arg);
        break;
    case PTRAG_INIT_KAIMING_UNIFORM:
        if (!(init_arg >= 1) || !isfinite(init_arg))
            return ptrag_fail(err, PTRAG_E_ARG,
                              "parameter '%s': kaiming-uniform init needs fan_in >= 1, got %g", name,
                              init_arg);
        break;
    default: return ptrag_fail(err, PTRAG_E_ARG, "parameter '%s': unknown init kind %d", name, (int)init);
    }
    if (ps->n == ps->cap) {
        int cap = ps->cap ? 2 * ps->cap : 32;
        ptrag_param *np = realloc(ps->p, (size_t)cap * sizeof *np);
        if (!np) return ptrag_fail(err, PTRAG_E_NOMEM, "parameter '%s': out of memory", name);
        ps->p = np;
        ps->cap = cap;
    }
    ptrag_param *t = &ps->p[ps->n];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, len + 1);
    t->ndim = ndim;
    for (int d = 0; d < PTRAG_PARAM_MAX_DIMS; d++) t->shape[d] = d < ndim ? shape[d] : 1;
    t->numel = numel;
    t->frozen = frozen ? 1 : 0;
    t->init = init;
    t->init_arg = init_arg;
    return ps->n++;
}

int ptrag_params_add_linear(ptrag_params *ps, const char *prefix, long long in, long long out,
                            int has_bias, int frozen, ptrag_error *err) {
    char name[PTRAG_PARAM_NAME_MAX + 16];
    snprintf(name, sizeof name, "%s.weight", prefix);
    long long wshape[2] = {out, in};
    int w = ptrag_params_add(ps, name, 2, wshape, PTRAG_INIT_KAIMING_UNIFORM, (double)in, frozen, err);
    if (w < 0 || !has_bias) return w;
    snprintf(name, sizeof name, "%s.bias", prefix);
    long long bshape[1] = {out};
    int b = ptrag_params_add(ps, name, 1, bshape, PTRAG_INIT_KAIMING_UNIFORM, (double)in, frozen, err);
    return b < 0 ? b : w;
}

int ptrag_params_set_frozen_prefix(ptrag_params *ps, const char *prefix, int frozen,
                                   ptrag_error *err) {
    if (ps->laid_out)
        return ptrag_fail(err, PTRAG_E_STATE, "freezing '%s*': parameters already laid out", prefix);
    size_t len = strlen(prefix);
    int matched = 0;
    for (int i = 0; i < ps->n; i++)
        if (strncmp(ps->p[i].name, prefix, len) == 0) {
            ps->p[i].frozen = frozen ? 1 : 0;
            matched++;
        }
    return matched;
}

static size_t round_up(size_t x) { return (x + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

static float *arena_alloc(size_t n) {
    size_t bytes = (n ? n : 1) * sizeof(float);
    bytes = (bytes + 63) / 64 * 64; /* aligned_alloc wants a multiple of the alignment */
    float *a = aligned_alloc(64, bytes);
    if (a) memset(a, 0, bytes);
    return a;
}

int ptrag_params_layout(ptrag_params *ps, ptrag_error *err) {
    if (ps->laid_out) return ptrag_fail(err, PTRAG_E_STATE, "parameters: laid out twice");
    size_t off = 0;
    for (int pass = 0; pass < 2; pass++) { /* trainable first, then frozen */
        for (int i = 0; i < ps->n; i++) {
            if (ps->p[i].frozen != pass) continue;
            ps->p[i].offset = off;
            off = round_up(off + ps->p[i].numel);
        }
        if (pass == 0) ps->trainable = off;
    }
    ps->total = off;
    ps->values = arena_alloc(off);
    ps->grads = arena_alloc(off);
    ps->m = arena_alloc(off);
    ps->v = arena_alloc(off);
    if (!ps->values || !ps->grads || !ps->m || !ps->v) {
        free(ps->values), free(ps->grads), free(ps->m), free(ps->v);
        ps->values = ps->grads = ps->m = ps->v = NULL;
        return ptrag_fail(err, PTRAG_E_NOMEM, "parameters: cannot allocate 4 x %zu floats", off);
    }
    ps->laid_out = 1;
    return 0;
}

int ptrag_params_init(ptrag_params *ps, uint64_t seed, ptrag_error *err) {
    if (!ps->laid_out) return ptrag_fail(err, PTRAG_E_STATE, "parameters: init before layout");
    for (int i = 0; i < ps->n; i++) {
        const ptrag_param *t = &ps->p[i];
        float *x = ps->values + t->offset;
        ptrag_rng rng;
        uint64_t name_hash = ptrag_crc32(t->name, strlen(t->name));
        ptrag_rng_seed(&rng, ptrag_hash_u64(seed, 0x5041524Dull /* "PARM" */, name_hash));
        switch (t->init) {
        case PTRAG_INIT_ZEROS: ptrag_init_const(x, (long)t->numel, 0.0f); break;
        case PTRAG_INIT_ONES: ptrag_init_const(x, (long)t->numel, 1.0f); break;
        case PTRAG_INIT_NORMAL: ptrag_init_normal(x, (long)t->numel, t->init_arg, &rng); break;
        case PTRAG_INIT_KAIMING_UNIFORM: ptrag_init_kaiming_uniform(x, (long)t->numel, t->init_arg, &rng); break;
        }
    }
    return 0;
}

void ptrag_params_zero_grad(ptrag_params *ps) {
    if (ps->grads) memset(ps->grads, 0, ps->total * sizeof *ps->grads);
}

int ptrag_params_check_finite(const ptrag_params *ps, ptrag_error *err) {
    if (!ps->values) return 0;
    for (int i = 0; i < ps->n; i++) {
        const float *x = ps->values + ps->p[i].offset;
        for (size_t k = 0; k < ps->p[i].numel; k++)
            if (!isfinite(x[k]))
                return ptrag_fail(err, PTRAG_E_NUMERIC, "parameter '%s': element %zu is %s",
                                  ps->p[i].name, k, isnan(x[k]) ? "nan" : "inf");
    }
    return 0;
}

int ptrag_params_count(const ptrag_params *ps) { return ps->n; }

const ptrag_param *ptrag_params_get(const ptrag_params *ps, int i) {
    return i >= 0 && i < ps->n ? &ps->p[i] : NULL;
}

size_t ptrag_params_numel_all(const ptrag_params *ps) {
    size_t s = 0;
    for (int i = 0; i < ps->n; i++) s += ps->p[i].numel;
    return s;
}

size_t ptrag_params_numel_trainable(const ptrag_params *ps) {
    size_t s = 0;
    for (int i = 0; i < ps->n; i++)
        if (!ps->p[i].frozen) s += ps->p[i].numel;
    return s;
}

size_t ptrag_params_trainable(const ptrag_params *ps) { return ps->trainable; }
size_t ptrag_params_total(const ptrag_params *ps) { return ps->total; }
float *ptrag_params_values(const ptrag_params *ps) { return ps->values; }
float *ptrag_params_grads(const ptrag_params *ps) { return ps->grads; }
float *ptrag_params_adam_m(const ptrag_params *ps) { return ps->m; }
float *ptrag_params_adam_v(const ptrag_params *ps) { return ps->v; }

float *ptrag_params_value(const ptrag_params *ps, int i) {
    return ps->values && i >= 0 && i < ps->n ? ps->values + ps->p[i].offset : NULL;
}

float *ptrag_params_grad(const ptrag_params *ps, int i) {
    return ps->grads && i >= 0 && i < ps->n ? ps->grads + ps->p[i].offset : NULL;
}
