/* ptrag: Perturbation-aware Two-stage Retrieval-Augmented Generation for
 * single-cell perturbation response prediction. Public C API.
 *
 * Conventions: functions return 0 or a negative ptrag_status and fill a
 * caller-owned ptrag_error; nothing prints or exits; handles are opaque and
 * freed with their *_free function (NULL is accepted); matrices are row-major
 * float32 unless stated. */
#ifndef PTRAG_H
#define PTRAG_H

#include "ptrag/error.h"
#include "ptrag/fsutil.h"
#include "ptrag/rng.h"

#include "ptrag/h5ad.h"       /* AnnData .h5ad reading and writing */
#include "ptrag/embeddings.h" /* gene embeddings: GenePT pickles, TSV tables */
#include "ptrag/knn.h"        /* stage-1 exact cosine top-K retrieval */
#include "ptrag/toml.h"       /* the TOML subset of STATE split files */
#include "ptrag/split.h"      /* train/val/test conditions of a split */
#include "ptrag/sampler.h"    /* cell sets, control pairing, batches */
#include "ptrag/preprocess.h" /* count detection, normalisation, HVG */
#include "ptrag/nn.h"         /* neural-network ops, forward and backward */
#include "ptrag/optim.h"      /* Adam/AdamW, clipping, freezing */
#include "ptrag/metrics.h"    /* evaluation metrics */
#include "ptrag/eval_files.h" /* scoring a prediction file against the real one */
#include "ptrag/baselines.h"  /* control, pert-mean and linear baselines */
#include "ptrag/report.h"     /* HTML and markdown reports */
#include "ptrag/dataset.h"    /* a split's data ready for training */
#include "ptrag/pred_plan.h"  /* the cells a prediction covers */
#include "ptrag/retrieval.h"  /* stage 1 over a dataset */
#include "ptrag/model.h"      /* STATE, vanilla RAG and PT-RAG models */
#include "ptrag/train.h"      /* training and prediction runs */
#include "ptrag/simulate.h"   /* simulated experiments with known truth */

#include "ptrag/blob.h"       /* little-endian byte buffers for saved state */
#include "ptrag/checksum.h"   /* CRC-32 of buffers and files */
#include "ptrag/config.h"     /* model/training configuration and presets */
#include "ptrag/params.h"     /* parameter registry: values, grads, Adam moments */
#include "ptrag/checkpoint.h" /* one-file checkpoints */
#include "ptrag/run_dir.h"    /* run directories: command, config, meta */
#include "ptrag/run_record.h" /* record.txt: settings digest, files written */
#include "ptrag/train_log.h"  /* train_log.csv */
#include "ptrag/progress.h"   /* progress lines and bars */
#include "ptrag/bf16.h"       /* bf16 matrix products through oneDNN (--precision bf16) */

#endif
