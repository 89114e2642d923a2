/* Prediction plans: see include/ptrag/pred_plan.h. */
#include "ptrag/pred_plan.h"

#include <stdlib.h>
#include <string.h>

#include "ptrag/rng.h"
#include "ptrag/sampler.h"

enum { STREAM_POOL_ORDER = 0x9001 };

static const char *const pairing_names[PTRAG_PAIRING_COUNT] = {"pool", "random"};

const char *ptrag_pairing_name(int pairing) {
    return pairing >= 0 && pairing < PTRAG_PAIRING_COUNT ? pairing_names[pairing] : "?";
}

int ptrag_pairing_from_name(const char *name) {
    for (int k = 0; name && k < PTRAG_PAIRING_COUNT; k++)
        if (strcmp(name, pairing_names[k]) == 0) return k;
    return -1;
}

void ptrag_pred_plan_opts_default(ptrag_pred_plan_opts *o) {
    memset(o, 0, sizeof *o);
    o->split = PTRAG_SPLIT_TEST;
    o->set_size = 64;
    o->seed = 42;
    o->pairing = PTRAG_PAIRING_POOL;
}

static int plan_alloc(ptrag_pred_plan *out, long n_cells, long n_sets, long n_real, ptrag_error *err) {
    out->target_rows = malloc((size_t)(n_cells ? n_cells : 1) * sizeof *out->target_rows);
    out->control_rows = malloc((size_t)(n_cells ? n_cells : 1) * sizeof *out->control_rows);
    out->set_start = malloc((size_t)(n_sets + 1) * sizeof *out->set_start);
    out->set_condition = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_condition);
    out->set_pert = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_pert);
    out->set_ct = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_ct);
    out->set_is_control = malloc((size_t)(n_sets ? n_sets : 1) * sizeof *out->set_is_control);
    out->real_rows = malloc((size_t)(n_real ? n_real : 1) * sizeof *out->real_rows);
    if (!out->target_rows || !out->control_rows || !out->set_start || !out->set_condition || !out->set_pert ||
        !out->set_ct || !out->set_is_control || !out->real_rows)
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory for a prediction plan of %ld cells", n_cells);
    return 0;
}

/* Random pairing: the sampler's EVAL layout, one predicted cell per real cell. */
static int build_random(const ptrag_dataset *d, const ptrag_pred_plan_opts *po, ptrag_pred_plan *out,
                        ptrag_error *err) {
    ptrag_sampler_opts o;
    ptrag_sampler_opts_default(&o);
    o.split = po->split;
    o.mode = PTRAG_SETS_EVAL;
    o.set_size = po->set_size;
    o.batch_sets = 1;
    o.seed = po->seed;
    o.include_control_sets = 1;
    ptrag_sampler *s = NULL;
    int rc = ptrag_sampler_new(d->assign, &o, &s, err);
    if (rc) return rc;
    long n_sets = ptrag_sampler_batches_per_epoch(s);
    long n_cells = ptrag_sampler_n_cells(s);
    ptrag_set_batch b;
    memset(&b, 0, sizeof b);
    rc = plan_alloc(out, n_cells, n_sets, n_cells, err);
    if (!rc) rc = ptrag_set_batch_alloc(&b, 1, po->set_size, err);
    long k = 0;
    for (long i = 0; i < n_sets && !rc; i++) {
        if ((rc = ptrag_sampler_batch(s, i, &b, err))) break;
        out->set_start[i] = k;
        out->set_condition[i] = b.set_condition[0];
        out->set_pert[i] = b.set_pert[0];
        out->set_ct[i] = b.set_celltype[0];
        out->set_is_control[i] = b.set_is_control[0];
        for (int j = 0; j < b.set_n[0]; j++, k++) {
            out->target_rows[k] = b.target_rows[j];
            out->control_rows[k] = b.control_rows[j];
        }
    }
    if (!rc) {
        out->set_start[n_sets] = k;
        out->n_sets = n_sets;
        out->n_cells = k;
        out->n_real = k;
        memcpy(out->real_rows, out->target_rows, (size_t)k * sizeof *out->real_rows);
    }
    ptrag_set_batch_free(&b);
    ptrag_sampler_free(s);
    return rc;
}

static int included(const ptrag_condition *c, int split) {
    return (c->splits & PTRAG_SPLIT_MASK(split)) && c->n_rows > 0;
}

/* Pool pairing: every condition of a cell type from the same pool cells. */
static int build_pool(const ptrag_dataset *d, const ptrag_pred_plan_opts *po, ptrag_pred_plan *out,
                      ptrag_error *err) {
    const ptrag_assignment *a = d->assign;
    long S = po->set_size;
    long **pool = calloc((size_t)a->n_ct + 1, sizeof *pool);
    long *pool_n = calloc((size_t)a->n_ct + 1, sizeof *pool_n);
    if (!pool || !pool_n) {
        free(pool);
        free(pool_n);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory for a prediction plan");
    }
    int rc = 0;
    long n_cells = 0, n_sets = 0, n_real = 0;
    for (int i = 0; i < a->n_conditions && !rc; i++) {
        const ptrag_condition *c = &a->conditions[i];
        if (!included(c, po->split)) continue;
        if (!pool[c->ct]) {
            /* The cell type's pool in a seeded order, cut to pool_cells. */
            const ptrag_control_pool *p = &a->ctrl[c->ct];
            if (p->n_rows < 1) {
                rc = ptrag_fail(err, PTRAG_E_ARG, "dataset '%s': cell type '%s' has no control cell to predict from",
                                a->dataset, a->ct_names[c->ct]);
                break;
            }
            if (!(pool[c->ct] = malloc((size_t)p->n_rows * sizeof **pool))) {
                rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory for a prediction plan");
                break;
            }
            memcpy(pool[c->ct], p->rows, (size_t)p->n_rows * sizeof **pool);
            ptrag_rng rng;
            ptrag_rng_seed(&rng, ptrag_hash_u64(po->seed, STREAM_POOL_ORDER, (uint64_t)c->ct));
            for (long j = p->n_rows - 1; j > 0; j--) {
                long r = (long)ptrag_rng_below(&rng, (uint64_t)j + 1), t = pool[c->ct][j];
                pool[c->ct][j] = pool[c->ct][r];
                pool[c->ct][r] = t;
            }
            pool_n[c->ct] = po->pool_cells > 0 && po->pool_cells < p->n_rows ? po->pool_cells : p->n_rows;
        }
        n_cells += pool_n[c->ct];
        n_sets += (pool_n[c->ct] + S - 1) / S;
        n_real += c->n_rows;
    }
    if (!rc && n_sets == 0)
        rc = ptrag_fail(err, PTRAG_E_ARG, "dataset '%s': split '%s' has no condition to predict", a->dataset,
                        ptrag_split_name(po->split));
    if (!rc) rc = plan_alloc(out, n_cells, n_sets, n_real, err);
    long k = 0, s = 0, r = 0;
    for (int i = 0; i < a->n_conditions && !rc; i++) {
        const ptrag_condition *c = &a->conditions[i];
        if (!included(c, po->split)) continue;
        memcpy(out->real_rows + r, c->rows, (size_t)c->n_rows * sizeof *out->real_rows);
        r += c->n_rows;
        const long *pl = pool[c->ct];
        long n = pool_n[c->ct];
        for (long j0 = 0; j0 < n; j0 += S, s++) {
            out->set_start[s] = k;
            out->set_condition[s] = i;
            out->set_pert[s] = c->pert;
            out->set_ct[s] = c->ct;
            out->set_is_control[s] = c->is_control;
            for (long j = j0; j < n && j < j0 + S; j++, k++) {
                out->control_rows[k] = pl[j];
                out->target_rows[k] = c->is_control ? pl[j] : c->rows[j % c->n_rows];
            }
        }
    }
    if (!rc) {
        out->set_start[n_sets] = k;
        out->n_sets = n_sets;
        out->n_cells = k;
        out->n_real = r;
    }
    for (int ct = 0; ct < a->n_ct; ct++) free(pool[ct]);
    free(pool);
    free(pool_n);
    return rc;
}

int ptrag_pred_plan_build(const ptrag_dataset *d, const ptrag_pred_plan_opts *o, ptrag_pred_plan *out,
                          ptrag_error *err) {
    memset(out, 0, sizeof *out);
    if (o->set_size < 1) return ptrag_fail(err, PTRAG_E_ARG, "prediction plan: set size %d must be >= 1", o->set_size);
    if (o->pairing != PTRAG_PAIRING_POOL && o->pairing != PTRAG_PAIRING_RANDOM)
        return ptrag_fail(err, PTRAG_E_ARG, "prediction plan: pairing %d: expected pool or random", o->pairing);
    if (o->pool_cells < 0)
        return ptrag_fail(err, PTRAG_E_ARG, "prediction plan: pool cells %ld must be >= 0 (0 = all)", o->pool_cells);
    int rc = o->pairing == PTRAG_PAIRING_POOL ? build_pool(d, o, out, err) : build_random(d, o, out, err);
    out->pairing = o->pairing;
    if (rc) ptrag_pred_plan_free(out);
    return rc;
}

void ptrag_pred_plan_free(ptrag_pred_plan *p) {
    free(p->target_rows);
    free(p->control_rows);
    free(p->set_start);
    free(p->set_condition);
    free(p->set_pert);
    free(p->set_ct);
    free(p->set_is_control);
    free(p->real_rows);
    memset(p, 0, sizeof *p);
}
