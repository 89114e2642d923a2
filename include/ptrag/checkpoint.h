/* Stage src/store of the pipeline (include/ptrag.h, README "Layout"): saving; uses model.
 *
 * One-file checkpoints of a model, its optimiser and the training state.
 *
 * File layout (format version 1; every integer little-endian):
 *   "PTRAGCKP"          8-byte magic
 *   u32 version         PTRAG_CKPT_VERSION
 *   u32 header_len      bytes before the float data (a multiple of 64)
 *   u64 file_size       total bytes, trailer included (detects truncation)
 *   u32 model kind      ptrag_model_kind
 *   u32 n_tensors
 *   u64 step            training steps completed
 *   u64 adam_step       optimiser step count t (bias correction)
 *   u64 n_values        N: floats in the value arena
 *   u64 n_trainable     T: floats in the trainable prefix (see params.h)
 *   u32 len + bytes     writer's PTRAG_VERSION
 *   u32 len + bytes     configuration text (ptrag_config_to_text)
 *   u64 len + bytes     training-state blob (opaque to this module: RNG/sampler state ...)
 *   n_tensors x { u32 name_len, name, u32 ndim, ndim x u64 dim, u64 offset, u32 frozen }
 *   zero padding to header_len
 *   f32 values[N]       the whole value arena, padding included
 *   f32 adam_m[T]       first moments of the trainable prefix
 *   f32 adam_v[T]       second moments of the trainable prefix
 *   u32 crc32           CRC-32 (checksum.h) of every byte before it
 *
 * Saving goes to a temporary file beside the target, renamed into place only
 * after every byte was written and flushed: a failure (disk full, no
 * permission) returns an error, removes the temporary file and leaves any
 * previous checkpoint at that path untouched.
 *
 * Loading verifies, in order: magic, format version, size (truncation),
 * checksum, header consistency; then ptrag_ckpt_restore checks the model
 * kind, the architecture (e.g. "checkpoint has 500 genes, data has 2000") and
 * every tensor's name and shape against the registry before copying. Tensors
 * are matched by name, so registration order may differ between runs. */
#ifndef PTRAG_CHECKPOINT_H
#define PTRAG_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include "ptrag/config.h"
#include "ptrag/error.h"
#include "ptrag/params.h"

#define PTRAG_CKPT_MAGIC "PTRAGCKP"
#define PTRAG_CKPT_VERSION 1

/* Writes `ps` (values, and Adam m/v of the trainable prefix), the config
 * (whose `model` is the checkpoint's kind; it must pass
 * ptrag_config_validate_complete), the step counters and `state_len` bytes of
 * caller state to `path`, atomically. `ps` must be laid out; it is not
 * modified. A value that is NaN or infinite is refused (PTRAG_E_NUMERIC,
 * naming the tensor) and nothing is written, so after a divergence the
 * previous checkpoint at `path` stays the last good one. */
int ptrag_ckpt_save(const char *path, const ptrag_config *cfg, const ptrag_params *ps,
                    int64_t step, int64_t adam_step, const void *state, size_t state_len,
                    ptrag_error *err);

typedef struct ptrag_ckpt ptrag_ckpt; /* an opened, verified checkpoint */

/* Opens and fully verifies a checkpoint (reads the file once to check the
 * checksum; keeps the header, not the tensors, in memory). Errors name the
 * path: "x.ckpt: not a ptrag checkpoint (bad magic)", "... format version 2,
 * this build reads version 1", "... truncated: 1000 of 5000 bytes",
 * "... checksum mismatch (stored 1a2b3c4d, computed ...): the file is corrupted". */
int ptrag_ckpt_open(const char *path, ptrag_ckpt **out, ptrag_error *err);
void ptrag_ckpt_close(ptrag_ckpt *ck); /* NULL is allowed */

const char *ptrag_ckpt_path(const ptrag_ckpt *ck);
ptrag_model_kind ptrag_ckpt_kind(const ptrag_ckpt *ck);
int64_t ptrag_ckpt_step(const ptrag_ckpt *ck);
int64_t ptrag_ckpt_adam_step(const ptrag_ckpt *ck);
const char *ptrag_ckpt_writer_version(const ptrag_ckpt *ck);
const char *ptrag_ckpt_config_text(const ptrag_ckpt *ck);
/* The stored training-state blob (owned by ck) and its length. */
const void *ptrag_ckpt_state(const ptrag_ckpt *ck, size_t *len);
/* The tensor table (init fields unused; offset is the checkpoint's own). */
int ptrag_ckpt_tensor_count(const ptrag_ckpt *ck);
const ptrag_param *ptrag_ckpt_tensor(const ptrag_ckpt *ck, int i);

/* Parses the stored configuration. */
int ptrag_ckpt_config(const ptrag_ckpt *ck, ptrag_config *out, ptrag_error *err);

/* PTRAG_E_STATE "x.ckpt: checkpoint holds a 'state' model, expected 'ptrag'"
 * unless the kinds match. */
int ptrag_ckpt_expect_kind(const ptrag_ckpt *ck, ptrag_model_kind kind, ptrag_error *err);

/* Copies the checkpoint's tensors into a laid-out registry.
 *  - current (may be NULL): the config the model was built from; its kind and
 *    architecture must match the stored config (ptrag_config_check_compatible);
 *  - every registry tensor must exist in the checkpoint with the same shape,
 *    and every checkpoint tensor must exist in the registry;
 *  - with_optimizer: also restore Adam m and v (zero for tensors that were
 *    frozen in the checkpoint); otherwise m and v are left as they are.
 * On error the registry may be partly overwritten: re-initialise or discard it. */
int ptrag_ckpt_restore(ptrag_ckpt *ck, const ptrag_config *current, ptrag_params *ps,
                       int with_optimizer, ptrag_error *err);

#endif
