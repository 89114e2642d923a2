/* Cell sets ("sentences") and batches of one split, as row indices.
 *
 * Layout (fixed at construction, from the seed; reference-model.md §2.5):
 *   every condition of the split (perturbed conditions, plus the control
 *   conditions when include_control_sets) has its rows shuffled and cut into
 *   consecutive chunks of S; in TRAIN mode the list of chunks is then
 *   shuffled once; batches are consecutive runs of B chunks of that list,
 *   the same every epoch (the last batch of an epoch holds fewer sets unless
 *   drop_last). In EVAL mode chunks stay in condition order (sorted by cell
 *   type, then perturbation code) and rows keep the shuffled order.
 * Per batch (redrawn for every step):
 *   TRAIN mode: a chunk shorter than S is replaced by S draws with
 *     replacement from it; EVAL mode: chunks are used as they are (1..S cells,
 *     unpadded), so every cell of the split appears exactly once per pass;
 *   each target cell is paired with a control cell drawn uniformly with
 *   replacement from the control cells of its cell type (control targets too:
 *   the pair may be the cell itself, as in the reference). With
 *   pair_by_batch the draw is from the controls of the same cell type AND
 *   the same batch value as the target; when that pool is empty (or the
 *   target's batch is missing) it falls back to all controls of the cell type
 *   and counts the cell in n_pair_fallback.
 *
 * Randomness and resume: a batch is a pure function of (seed, step). The
 * layout uses one ptrag_rng seeded from hash(seed, layout stream, split);
 * batch `step` uses one ptrag_rng seeded from hash(seed, batch stream, step),
 * consumed set by set in batch order: first the set's upsampling draws (if
 * any), then one pairing draw per cell. So the same seed gives byte-identical
 * batches on any machine, whatever the thread count or the order in which
 * steps are requested, and resuming training at step t needs only (seed, t):
 * the sampler has no mutable state. ptrag_sampler_batch() is thread-safe on
 * a shared sampler (each call writes only its own output). */
#ifndef PTRAG_SAMPLER_H
#define PTRAG_SAMPLER_H

#include <stdint.h>

#include "ptrag/error.h"
#include "ptrag/split.h"

typedef enum {
    PTRAG_SETS_TRAIN = 0, /* fixed-size S sets, short ones upsampled; training and validation */
    PTRAG_SETS_EVAL = 1   /* every cell once, sets of 1..S cells; prediction */
} ptrag_set_mode;

typedef struct ptrag_sampler_opts {
    int split;                  /* PTRAG_SPLIT_TRAIN/VAL/TEST (default train) */
    ptrag_set_mode mode;        /* default TRAIN */
    int set_size;               /* S, default 64 */
    int batch_sets;             /* B, default 64 */
    uint64_t seed;              /* default 42 */
    int include_control_sets;   /* control -> control sets (default 1) */
    int pair_by_batch;          /* default 0 */
    int drop_last;              /* TRAIN mode: skip an epoch's final partial batch (default 0) */
    const int32_t *pert_vocab_id; /* [n_perts]: dataset code -> global id written to set_pert;
                                     NULL = the dataset's own codes. Copied. */
} ptrag_sampler_opts;

void ptrag_sampler_opts_default(ptrag_sampler_opts *o);

typedef struct ptrag_sampler ptrag_sampler;

/* Builds the layout for `a` (which must outlive the sampler). Errors: bad
 * options; the split has no set; pair_by_batch without batch codes; a
 * pert_vocab_id entry < 0 for a perturbation that forms a set. */
int ptrag_sampler_new(const ptrag_assignment *a, const ptrag_sampler_opts *o, ptrag_sampler **out,
                      ptrag_error *err);
void ptrag_sampler_free(ptrag_sampler *s);

long ptrag_sampler_n_sets(const ptrag_sampler *s);             /* chunks in the layout */
long ptrag_sampler_batches_per_epoch(const ptrag_sampler *s);
long ptrag_sampler_n_cells(const ptrag_sampler *s);            /* distinct target cells */
/* Condition (index into a->conditions) of layout set i, and its length. */
int ptrag_sampler_set_condition(const ptrag_sampler *s, long i);
int ptrag_sampler_set_length(const ptrag_sampler *s, long i);

/* One batch. Arrays are sized for B sets of S cells; set i occupies
 * [i*S, i*S + set_n[i]); unused slots (beyond n_sets, or beyond set_n[i] in
 * EVAL mode) hold -1. */
typedef struct ptrag_set_batch {
    int max_sets, set_size;     /* B, S (allocation) */
    int n_sets;                 /* sets in this batch */
    long epoch;                 /* step / batches_per_epoch */
    long n_pair_fallback;       /* pair_by_batch: cells paired outside their batch */
    int32_t *set_n;             /* [B] cells in each set */
    int32_t *set_condition;     /* [B] index into a->conditions */
    int32_t *set_pert;          /* [B] perturbation id (vocab id if given) */
    int32_t *set_celltype;      /* [B] cell-type code */
    int32_t *set_is_control;    /* [B] 1 for a control -> control set */
    long *target_rows;          /* [B*S] rows of the target (perturbed or control) cells */
    long *control_rows;         /* [B*S] rows of the paired control cells */
    int32_t *batch_ids;         /* [B*S] batch code of the target cell, -1 if none */
} ptrag_set_batch;

int ptrag_set_batch_alloc(ptrag_set_batch *b, int max_sets, int set_size, ptrag_error *err);
void ptrag_set_batch_free(ptrag_set_batch *b);

/* Fills `out` (allocated for at least B x S) with batch `step`. TRAIN mode:
 * any step >= 0 (epoch = step / batches_per_epoch). EVAL mode: 0 <= step <
 * batches_per_epoch. */
int ptrag_sampler_batch(const ptrag_sampler *s, long step, ptrag_set_batch *out, ptrag_error *err);

/* ---- perturbation vocabulary (one-hot ids, feature lookup) ---- */

/* Sorted (byte order, as Python's sorted() on str) unique copy of names[0..n)
 * (NULL entries skipped). Free with ptrag_pert_vocab_free. */
int ptrag_pert_vocab_build(const char *const *names, long n, char ***vocab, int *n_vocab,
                           ptrag_error *err);
void ptrag_pert_vocab_free(char **vocab, int n_vocab);
/* Id of `name` in a sorted vocabulary, or -1. */
int ptrag_pert_vocab_find(const char *const *vocab, int n_vocab, const char *name);

#endif
