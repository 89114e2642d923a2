/* Model and training configuration of the STATE transition model, vanilla RAG
 * and PT-RAG: one plain struct, presets, `key = value` overrides, validation,
 * and a text form stored in a run directory (config.txt) and in every
 * checkpoint header.
 *
 * Keys (the text form and ptrag_config_set use the same names; '-' and '_'
 * are interchangeable, so a CLI flag "--head-dim 16" maps to key "head-dim"):
 *
 *   model            state | rag | ptrag
 *   preset           name of the preset the config started from (informational)
 *   n_genes          G, genes in the expression space (0 = not known yet: from the data)
 *   pert_dim         E, perturbation feature dim (embedding dim or one-hot size; 0 = from data)
 *   pert_onehot      true | false: perturbation features are one-hot ids (pert_enc.w is
 *                    [hidden, pert_dim] and the encoder is a column lookup; model state only)
 *   hidden           H, model width
 *   layers           L, transformer blocks (0 = encoders and output head only)
 *   heads            attention heads per block
 *   head_dim         width of one head (even: RoPE rotates pairs); heads*head_dim need not be H
 *   mlp              F, SwiGLU inner width
 *   n_batches        rows of the learned batch embedding (0 = no batch embedding)
 *   set_size         S, cells per set (= sequence length)
 *   batch_sets       B, sets per training step
 *   top_k            K, stage-1 retrieval candidates (rag, ptrag)
 *   attention        causal | bidirectional
 *   freeze_backbone  true | false: transformer and output projection keep their random init
 *   lr, weight_decay, beta1, beta2, adam_eps   Adam (weight_decay 0 = plain Adam)
 *   clip_norm        global L2 gradient-norm clip (0 = off)
 *   sparsity         weight of the PT-RAG keep-rate loss (lambda)
 *   gumbel_tau       Gumbel-Softmax temperature
 *   scorer_dropout   dropout inside the stage-2 scorer MLP
 *   selection        expected | threshold | sample: stage-2 selection at inference
 *   db               all | train-only: retrieval database
 *   faithful         true | false: reproduce the published code's behaviour (see design.md §2)
 *   precision        fp32 | bf16 | auto: matrix products in float32 (OpenBLAS) or with bf16
 *                    inputs and fp32 accumulation (oneDNN); auto = bf16 where the CPU has
 *                    native bf16 and this build has oneDNN, else fp32 (ptrag_model_new
 *                    resolves it; `ptrag doctor` says which and why)
 *   steps            total training steps
 *   val_every        validate (and maybe save best.ckpt) every N steps (0 = never)
 *   seed             master seed (initialisation, sampling, noise)
 *
 * Threads are not a model setting: every command takes --threads as an
 * execution setting (cli.c), and the results do not depend on it.
 */
#ifndef PTRAG_CONFIG_H
#define PTRAG_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "ptrag/error.h"
#include "ptrag/retrieval.h" /* ptrag_db: the model configures retrieval, never the reverse */

typedef enum { PTRAG_MODEL_STATE = 0, PTRAG_MODEL_RAG = 1, PTRAG_MODEL_PTRAG = 2 } ptrag_model_kind;
typedef enum { PTRAG_ATTN_CAUSAL = 0, PTRAG_ATTN_BIDIRECTIONAL = 1 } ptrag_attention;
typedef enum {
    PTRAG_SELECT_EXPECTED = 0,
    PTRAG_SELECT_THRESHOLD = 1,
    PTRAG_SELECT_SAMPLE = 2
} ptrag_selection;
typedef enum { PTRAG_PRECISION_FP32 = 0, PTRAG_PRECISION_BF16 = 1, PTRAG_PRECISION_AUTO = 2 } ptrag_precision;
/* Where the output head adds its residual: `hidden` (published: pred =
 * ReLU(out(y + c)), the cell is rebuilt from its H-dim encoding) or `genes`
 * (pred = ReLU(x_ctrl + out(y + c)), out.w starts at 0 and out.b at the mean
 * training shift, so step 0 predicts the paired control plus that shift). */
typedef enum { PTRAG_RESIDUAL_HIDDEN = 0, PTRAG_RESIDUAL_GENES = 1 } ptrag_residual;
typedef enum { PTRAG_LR_CONSTANT = 0, PTRAG_LR_COSINE = 1 } ptrag_lr_schedule;
/* What picks best.ckpt: the validation energy loss, or the validation
 * pearson_delta (per-condition correlation of predicted and real mean shifts). */
typedef enum { PTRAG_SELECT_BY_LOSS = 0, PTRAG_SELECT_BY_PEARSON = 1 } ptrag_select_by;

#define PTRAG_PRESET_NAME_MAX 32

typedef struct ptrag_config {
    ptrag_model_kind model;
    char preset[PTRAG_PRESET_NAME_MAX];
    /* architecture */
    int n_genes;
    int pert_dim;
    int pert_onehot;
    int hidden;
    int layers;
    int heads;
    int head_dim;
    int mlp;
    int n_batches;
    int set_size;
    int batch_sets;
    int top_k;
    ptrag_attention attention;
    int freeze_backbone;
    ptrag_residual residual;
    int evidence; /* ptrag: each candidate carries its measured mean shift (model_evidence.c) */
    /* ptrag with evidence: one extra candidate slot (K = top_k + 1) offering the
     * query's own perturbation with its mean shift over the training conditions
     * of the OTHER cell types (few-shot / zero-shot layouts); model_batch.c.
     * Off by default: validation did not favour it on both simulations
     * (docs/results/README.md, "Round 2"). */
    int own_other_celltypes;
    /* ptrag with evidence: stage 1 ranks candidates by
     * (1 - w) cos(embeddings) + w corr(measured responses in the other cell
     * types) instead of the embedding cosine alone (0 = published);
     * response_retrieval.c. */
    double response_retrieval;
    /* ptrag with evidence: stage 2's keep logit also gets a learned linear
     * term of PTRAG_CAND_FEATS features per candidate (model.h; filled by
     * run/candidate_features.c): its embedding cosine and response
     * correlation with the query (each standardised over the set's K),
     * whether its shift was measured in the set's cell type, and whether it is
     * the own-perturbation slot. */
    int scorer_features;
    /* optimisation */
    double lr;
    double weight_decay;
    double beta1, beta2, adam_eps;
    double clip_norm;
    ptrag_lr_schedule lr_schedule; /* cosine: lr decays to 0 at `steps` after `warmup` */
    long warmup;                   /* linear warm-up steps (both schedules) */
    double mean_loss;              /* weight of the set-mean MSE added to the energy loss */
    ptrag_select_by select_by;
    /* PT-RAG */
    double sparsity;
    double gumbel_tau;
    double scorer_dropout;
    ptrag_selection selection;
    /* `threshold` keeps a candidate whose keep probability exceeds this (0.5:
     * published). Training calibrates it on validation (run file
     * threshold.txt, run/calibrate.c); prediction uses the run's value. */
    double keep_threshold;
    ptrag_db db;
    int faithful;
    ptrag_precision precision;
    /* loop */
    long steps;
    long val_every;
    uint64_t seed;
} ptrag_config;

/* Fills `c` with the `small` preset and model `state`: every field has a
 * valid value afterwards (n_genes and pert_dim are 0 until the data is read). */
void ptrag_config_default(ptrag_config *c);

/* Applies a named preset over `c` (architecture, set/batch sizes, optimiser,
 * steps; the model kind, data dims and seed are kept):
 *   paper  the published run: H=128, L=8, 12 heads x 58, F=2784, S=64, B=64,
 *          Adam lr 1e-3 (no weight decay), clip 10, K=32, sparsity 0.1,
 *          tau 0.5, 50000 steps, validation every 2000.
 *   small  for the bundled data on a 2-core laptop (see config.c for why each
 *          value): H=64, L=2, 4 heads x 16, F=256, S=32, B=16, lr 1e-3, K=8,
 *          2000 steps, validation every 200.
 * Unknown name: PTRAG_E_ARG naming the known presets. */
int ptrag_config_preset(ptrag_config *c, const char *name, ptrag_error *err);

/* The precision `auto` means here: bf16 when this build has oneDNN and the
 * CPU has AVX512-BF16 or AMX-BF16, else fp32; `why` (may be NULL) gets the
 * reason in words. fp32 and bf16 are returned as they are. */
ptrag_precision ptrag_precision_resolve(ptrag_precision p, char *why, size_t n);
const char *ptrag_precision_name(ptrag_precision p);

/* Turns on the published code's behaviour at once (design.md §2): faithful,
 * frozen backbone, causal attention, `sample` selection, database `all`. */
void ptrag_config_apply_faithful(ptrag_config *c);

/* Sets one key from its text value (an override: CLI flag or config line).
 * Errors (PTRAG_E_ARG): unknown key; a value that does not parse or is out of
 * range, e.g. "hidden: expected an integer in [1, 65536], got 'abc'". */
int ptrag_config_set(ptrag_config *c, const char *key, const char *value, ptrag_error *err);

/* 1 if `key` names a config field ('-' or '_'), else 0. */
int ptrag_config_has_key(const char *key);

/* Checks every field's range and the cross-field rules (head_dim even for
 * RoPE, ...). n_genes / pert_dim may be 0 (not known yet). */
int ptrag_config_validate(const ptrag_config *c, ptrag_error *err);

/* As validate, and also requires the data-derived dims (n_genes, pert_dim) to
 * be set: call before building a model. */
int ptrag_config_validate_complete(const ptrag_config *c, ptrag_error *err);

/* The text form: a comment line, then one "key = value" line per field in a
 * fixed order; reals are written with the fewest digits that read back to the
 * same double, so text -> config -> text is exact. *text is malloc'ed. */
int ptrag_config_to_text(const ptrag_config *c, char **text, ptrag_error *err);

/* Parses the text form: starts from ptrag_config_default, applies each line
 * ('#' comments and blank lines are skipped), then validates. Errors name
 * `source` and the line: "run/config.txt:7: unknown key 'hiden'". Keys may not
 * repeat. Keys absent from the text keep their defaults. */
int ptrag_config_from_text(ptrag_config *c, const char *text, const char *source, ptrag_error *err);

/* Text form to / from a file (written atomically). */
int ptrag_config_write(const ptrag_config *c, const char *path, ptrag_error *err);
int ptrag_config_read(ptrag_config *c, const char *path, ptrag_error *err);

/* Checks that a saved model (`saved`, e.g. a checkpoint's config) can be used
 * with the current data/configuration: same model kind and architecture
 * (n_genes, pert_dim, hidden, layers, heads, head_dim, mlp, n_batches,
 * attention). The message starts with `what` (e.g. the checkpoint path) and
 * speaks the data's language: "ckpt: checkpoint has 500 genes, data has 2000".
 * PTRAG_E_STATE on mismatch. */
int ptrag_config_check_compatible(const ptrag_config *saved, const ptrag_config *current,
                                  const char *what, ptrag_error *err);

/* Lists the keys whose values differ, as "key: A -> B" joined by "; " into
 * `buf` (truncated to `n`). Returns the number of differing keys. */
int ptrag_config_diff(const ptrag_config *a, const ptrag_config *b, char *buf, size_t n);

/* Names of the enums ("state", "causal", "expected", "train-only", ...) and
 * their parsers (PTRAG_E_ARG listing the accepted names). */
const char *ptrag_model_kind_name(ptrag_model_kind k);
int ptrag_model_kind_parse(const char *s, ptrag_model_kind *out, ptrag_error *err);
const char *ptrag_attention_name(ptrag_attention a);
const char *ptrag_selection_name(ptrag_selection s);
int ptrag_selection_parse(const char *s, ptrag_selection *out, ptrag_error *err);
const char *ptrag_db_name(ptrag_db d);

#endif
