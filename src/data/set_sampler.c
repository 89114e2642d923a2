/* Cell sets and batches of one split: see include/ptrag/sampler.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "ptrag/rng.h"
#include "ptrag/sampler.h"

/* Distinct streams of the counter-based hash that seeds the generators. */
enum { STREAM_LAYOUT = 0x5E75, STREAM_BATCH = 0xBA7C };

struct ptrag_sampler {
    const ptrag_assignment *a;
    ptrag_sampler_opts o;
    int32_t *vocab_id;   /* [n_perts] or NULL */
    long n_sets;
    int32_t *set_cond;   /* [n_sets] */
    int32_t *set_len;    /* [n_sets] */
    long *set_off;       /* [n_sets] offset into rows */
    long n_rows;
    long *rows;          /* shuffled rows of every included condition */
    long batches_per_epoch;
};

void ptrag_sampler_opts_default(ptrag_sampler_opts *o) {
    memset(o, 0, sizeof *o);
    o->split = PTRAG_SPLIT_TRAIN;
    o->mode = PTRAG_SETS_TRAIN;
    o->set_size = 64;
    o->batch_sets = 64;
    o->seed = 42;
    o->include_control_sets = 1;
}

void ptrag_sampler_free(ptrag_sampler *s) {
    if (!s) return;
    free(s->vocab_id);
    free(s->set_cond);
    free(s->set_len);
    free(s->set_off);
    free(s->rows);
    free(s);
}

long ptrag_sampler_n_sets(const ptrag_sampler *s) { return s->n_sets; }
long ptrag_sampler_batches_per_epoch(const ptrag_sampler *s) { return s->batches_per_epoch; }
long ptrag_sampler_n_cells(const ptrag_sampler *s) { return s->n_rows; }
int ptrag_sampler_set_condition(const ptrag_sampler *s, long i) { return s->set_cond[i]; }
int ptrag_sampler_set_length(const ptrag_sampler *s, long i) { return s->set_len[i]; }

static int included(const ptrag_sampler *s, const ptrag_condition *c) {
    if (!(c->splits & PTRAG_SPLIT_MASK(s->o.split)) || c->n_rows == 0) return 0;
    return !c->is_control || s->o.include_control_sets;
}

/* Shuffles a long array in place (Fisher-Yates, same draw order as
 * ptrag_rng_shuffle_int). */
static void shuffle_long(ptrag_rng *rng, long *v, long n) {
    for (long i = n - 1; i > 0; i--) {
        long j = (long)ptrag_rng_below(rng, (uint64_t)i + 1);
        long t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static int build_layout(ptrag_sampler *s, ptrag_error *err) {
    const ptrag_assignment *a = s->a;
    long S = s->o.set_size;
    s->n_rows = 0;
    s->n_sets = 0;
    for (int i = 0; i < a->n_conditions; i++) {
        const ptrag_condition *c = &a->conditions[i];
        if (!included(s, c)) continue;
        s->n_rows += c->n_rows;
        s->n_sets += (c->n_rows + S - 1) / S;
    }
    if (s->n_sets == 0)
        return ptrag_fail(err, PTRAG_E_ARG, "sampler: dataset '%s': split '%s' has no cell set",
                          a->dataset, ptrag_split_name(s->o.split));
    s->rows = malloc((size_t)s->n_rows * sizeof *s->rows);
    s->set_cond = malloc((size_t)s->n_sets * sizeof *s->set_cond);
    s->set_len = malloc((size_t)s->n_sets * sizeof *s->set_len);
    s->set_off = malloc((size_t)s->n_sets * sizeof *s->set_off);
    if (!s->rows || !s->set_cond || !s->set_len || !s->set_off)
        return ptrag_fail(err, PTRAG_E_NOMEM, "sampler: out of memory");

    ptrag_rng rng;
    ptrag_rng_seed(&rng, ptrag_hash_u64(s->o.seed, STREAM_LAYOUT, (uint64_t)s->o.split));
    long off = 0, k = 0;
    for (int i = 0; i < a->n_conditions; i++) {
        const ptrag_condition *c = &a->conditions[i];
        if (!included(s, c)) continue;
        memcpy(s->rows + off, c->rows, (size_t)c->n_rows * sizeof *s->rows);
        shuffle_long(&rng, s->rows + off, c->n_rows);
        for (long j = 0; j < c->n_rows; j += S) {
            s->set_cond[k] = i;
            s->set_off[k] = off + j;
            s->set_len[k] = (int32_t)(c->n_rows - j < S ? c->n_rows - j : S);
            k++;
        }
        off += c->n_rows;
    }
    if (s->o.mode == PTRAG_SETS_TRAIN) {
        /* shuffle the chunk list once: permute an index, then apply it */
        long *perm = malloc((size_t)s->n_sets * sizeof *perm);
        int32_t *tc = malloc((size_t)s->n_sets * sizeof *tc);
        int32_t *tl = malloc((size_t)s->n_sets * sizeof *tl);
        long *to = malloc((size_t)s->n_sets * sizeof *to);
        if (!perm || !tc || !tl || !to) {
            free(perm);
            free(tc);
            free(tl);
            free(to);
            return ptrag_fail(err, PTRAG_E_NOMEM, "sampler: out of memory");
        }
        for (long i = 0; i < s->n_sets; i++) perm[i] = i;
        shuffle_long(&rng, perm, s->n_sets);
        for (long i = 0; i < s->n_sets; i++) {
            tc[i] = s->set_cond[perm[i]];
            tl[i] = s->set_len[perm[i]];
            to[i] = s->set_off[perm[i]];
        }
        free(perm);
        free(s->set_cond);
        free(s->set_len);
        free(s->set_off);
        s->set_cond = tc;
        s->set_len = tl;
        s->set_off = to;
    }
    long B = s->o.batch_sets;
    if (s->o.mode == PTRAG_SETS_TRAIN && s->o.drop_last) {
        s->batches_per_epoch = s->n_sets / B;
        if (s->batches_per_epoch == 0)
            return ptrag_fail(err, PTRAG_E_ARG,
                              "sampler: dataset '%s': split '%s' has %ld sets, fewer than one batch "
                              "of %ld with drop_last",
                              a->dataset, ptrag_split_name(s->o.split), s->n_sets, B);
    } else {
        s->batches_per_epoch = (s->n_sets + B - 1) / B;
    }
    return 0;
}

int ptrag_sampler_new(const ptrag_assignment *a, const ptrag_sampler_opts *o, ptrag_sampler **out,
                      ptrag_error *err) {
    *out = NULL;
    if (o->split < 0 || o->split >= PTRAG_SPLIT_COUNT)
        return ptrag_fail(err, PTRAG_E_ARG, "sampler: split %d is not train/val/test", o->split);
    if (o->mode != PTRAG_SETS_TRAIN && o->mode != PTRAG_SETS_EVAL)
        return ptrag_fail(err, PTRAG_E_ARG, "sampler: unknown mode %d", (int)o->mode);
    if (o->set_size < 1 || o->batch_sets < 1)
        return ptrag_fail(err, PTRAG_E_ARG, "sampler: set size (%d) and sets per batch (%d) must be >= 1",
                          o->set_size, o->batch_sets);
    if (o->pair_by_batch && !a->ctrl_batch)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "sampler: dataset '%s': pair-by-batch needs a batch column, and the "
                          "assignment has none", a->dataset);
    ptrag_sampler *s = calloc(1, sizeof *s);
    if (!s) return ptrag_fail(err, PTRAG_E_NOMEM, "sampler: out of memory");
    s->a = a;
    s->o = *o;
    s->o.pert_vocab_id = NULL;
    int rc = 0;
    if (o->pert_vocab_id) {
        s->vocab_id = malloc((size_t)a->n_perts * sizeof *s->vocab_id);
        if (!s->vocab_id) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "sampler: out of memory");
        } else {
            memcpy(s->vocab_id, o->pert_vocab_id, (size_t)a->n_perts * sizeof *s->vocab_id);
            for (int i = 0; i < a->n_conditions && !rc; i++) {
                const ptrag_condition *c = &a->conditions[i];
                if (included(s, c) && s->vocab_id[c->pert] < 0)
                    rc = ptrag_fail(err, PTRAG_E_NOTFOUND,
                                    "sampler: dataset '%s': perturbation '%s' has no id in the "
                                    "perturbation vocabulary",
                                    a->dataset, a->pert_names[c->pert]);
            }
        }
    }
    for (int i = 0; i < a->n_conditions && !rc; i++) {
        const ptrag_condition *c = &a->conditions[i];
        if (included(s, c) && a->ctrl[c->ct].n_rows == 0)
            rc = ptrag_fail(err, PTRAG_E_NOTFOUND,
                            "sampler: dataset '%s': cell type '%s' has no control cell to pair with",
                            a->dataset, a->ct_names[c->ct]);
    }
    if (!rc) rc = build_layout(s, err);
    if (rc) {
        ptrag_sampler_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int ptrag_set_batch_alloc(ptrag_set_batch *b, int max_sets, int set_size, ptrag_error *err) {
    memset(b, 0, sizeof *b);
    if (max_sets < 1 || set_size < 1)
        return ptrag_fail(err, PTRAG_E_ARG, "set batch: sizes must be >= 1 (got %d x %d)", max_sets,
                          set_size);
    size_t B = (size_t)max_sets, N = (size_t)max_sets * (size_t)set_size;
    b->max_sets = max_sets;
    b->set_size = set_size;
    b->set_n = malloc(B * sizeof *b->set_n);
    b->set_condition = malloc(B * sizeof *b->set_condition);
    b->set_pert = malloc(B * sizeof *b->set_pert);
    b->set_celltype = malloc(B * sizeof *b->set_celltype);
    b->set_is_control = malloc(B * sizeof *b->set_is_control);
    b->target_rows = malloc(N * sizeof *b->target_rows);
    b->control_rows = malloc(N * sizeof *b->control_rows);
    b->batch_ids = malloc(N * sizeof *b->batch_ids);
    if (!b->set_n || !b->set_condition || !b->set_pert || !b->set_celltype || !b->set_is_control ||
        !b->target_rows || !b->control_rows || !b->batch_ids) {
        ptrag_set_batch_free(b);
        return ptrag_fail(err, PTRAG_E_NOMEM, "set batch: out of memory");
    }
    return 0;
}

void ptrag_set_batch_free(ptrag_set_batch *b) {
    if (!b) return;
    free(b->set_n);
    free(b->set_condition);
    free(b->set_pert);
    free(b->set_celltype);
    free(b->set_is_control);
    free(b->target_rows);
    free(b->control_rows);
    free(b->batch_ids);
    memset(b, 0, sizeof *b);
}

/* Control pool for a target cell (see the pair_by_batch fallback in the header). */
static const ptrag_control_pool *pool_for(const ptrag_sampler *s, int32_t ct, long target,
                                          long *fallbacks) {
    const ptrag_assignment *a = s->a;
    if (s->o.pair_by_batch) {
        int32_t b = a->batch_code[target];
        if (b >= 0) {
            const ptrag_control_pool *p = &a->ctrl_batch[(long)ct * a->n_batches + b];
            if (p->n_rows > 0) return p;
        }
        (*fallbacks)++;
    }
    return &a->ctrl[ct];
}

int ptrag_sampler_batch(const ptrag_sampler *s, long step, ptrag_set_batch *out, ptrag_error *err) {
    const ptrag_assignment *a = s->a;
    long B = s->o.batch_sets, S = s->o.set_size;
    if (out->max_sets < B || out->set_size != S)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "sampler: batch buffer is %d sets x %d cells, the sampler needs %ld x %ld",
                          out->max_sets, out->set_size, B, S);
    if (step < 0 || (s->o.mode == PTRAG_SETS_EVAL && step >= s->batches_per_epoch))
        return ptrag_fail(err, PTRAG_E_ARG, "sampler: step %ld out of range (%s mode, %ld batches)",
                          step, s->o.mode == PTRAG_SETS_EVAL ? "eval" : "train",
                          s->batches_per_epoch);
    long b = step % s->batches_per_epoch;
    long first = b * B;
    long n = s->n_sets - first < B ? s->n_sets - first : B;
    out->n_sets = (int)n;
    out->epoch = step / s->batches_per_epoch;
    out->n_pair_fallback = 0;
    long total = (long)out->max_sets * S;
    for (long i = 0; i < total; i++) {
        out->target_rows[i] = -1;
        out->control_rows[i] = -1;
        out->batch_ids[i] = -1;
    }
    for (long i = n; i < out->max_sets; i++) {
        out->set_n[i] = 0;
        out->set_condition[i] = out->set_pert[i] = out->set_celltype[i] = -1;
        out->set_is_control[i] = 0;
    }

    ptrag_rng rng;
    ptrag_rng_seed(&rng, ptrag_hash_u64(s->o.seed, STREAM_BATCH, (uint64_t)step));
    for (long i = 0; i < n; i++) {
        long k = first + i;
        const ptrag_condition *c = &a->conditions[s->set_cond[k]];
        const long *chunk = s->rows + s->set_off[k];
        long len = s->set_len[k];
        long *tgt = out->target_rows + i * S;
        long *ctl = out->control_rows + i * S;
        int32_t *bid = out->batch_ids + i * S;
        long m = len;
        if (s->o.mode == PTRAG_SETS_TRAIN && len < S) {
            for (long j = 0; j < S; j++) tgt[j] = chunk[ptrag_rng_below(&rng, (uint64_t)len)];
            m = S;
        } else {
            memcpy(tgt, chunk, (size_t)len * sizeof *tgt);
        }
        for (long j = 0; j < m; j++) {
            const ptrag_control_pool *p = pool_for(s, c->ct, tgt[j], &out->n_pair_fallback);
            ctl[j] = p->rows[ptrag_rng_below(&rng, (uint64_t)p->n_rows)];
            bid[j] = a->batch_code ? a->batch_code[tgt[j]] : -1;
        }
        out->set_n[i] = (int32_t)m;
        out->set_condition[i] = s->set_cond[k];
        out->set_pert[i] = s->vocab_id ? s->vocab_id[c->pert] : c->pert;
        out->set_celltype[i] = c->ct;
        out->set_is_control[i] = c->is_control;
    }
    return 0;
}

/* ---- perturbation vocabulary ---- */

static int cmp_cstr(const void *x, const void *y) {
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

void ptrag_pert_vocab_free(char **vocab, int n_vocab) {
    if (!vocab) return;
    for (int i = 0; i < n_vocab; i++) free(vocab[i]);
    free(vocab);
}

int ptrag_pert_vocab_build(const char *const *names, long n, char ***vocab, int *n_vocab,
                           ptrag_error *err) {
    *vocab = NULL;
    *n_vocab = 0;
    const char **tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
    if (!tmp) return ptrag_fail(err, PTRAG_E_NOMEM, "perturbation vocabulary: out of memory");
    long m = 0;
    for (long i = 0; i < n; i++)
        if (names[i]) tmp[m++] = names[i];
    qsort(tmp, (size_t)m, sizeof *tmp, cmp_cstr);
    char **v = calloc((size_t)(m ? m : 1), sizeof *v);
    if (!v) {
        free(tmp);
        return ptrag_fail(err, PTRAG_E_NOMEM, "perturbation vocabulary: out of memory");
    }
    int k = 0;
    for (long i = 0; i < m; i++) {
        if (k > 0 && strcmp(v[k - 1], tmp[i]) == 0) continue;
        v[k] = strdup(tmp[i]);
        if (!v[k]) {
            free(tmp);
            ptrag_pert_vocab_free(v, k);
            return ptrag_fail(err, PTRAG_E_NOMEM, "perturbation vocabulary: out of memory");
        }
        k++;
    }
    free(tmp);
    *vocab = v;
    *n_vocab = k;
    return 0;
}

int ptrag_pert_vocab_find(const char *const *vocab, int n_vocab, const char *name) {
    int lo = 0, hi = n_vocab - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(vocab[mid], name);
        if (c == 0) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}
