/* ptrag: Perturbation-aware Two-stage Retrieval-Augmented Generation for
 * single-cell perturbation response prediction. Public C API.
 *
 * Conventions: functions return 0 or a negative ptrag_status and fill a
 * caller-owned ptrag_error; nothing prints or exits; handles are opaque and
 * freed with their *_free function (NULL is accepted); matrices are row-major
 * float32 unless stated. */
#ifndef PTRAG_H
#define PTRAG_H

/* The pipeline, one source folder per stage (README "Layout"); each stage
 * uses only the ones above it. */

/* src/core: errors, atomic files, RNG, the BLAS self-check */
#include "ptrag/error.h"
#include "ptrag/fsutil.h"
#include "ptrag/rng.h"
#include "ptrag/blas_check.h"
#include "ptrag/checksum.h"   /* CRC-32 of buffers and files */

/* src/io: file formats */
#include "ptrag/h5ad.h"       /* AnnData .h5ad reading and writing */
#include "ptrag/toml.h"       /* the TOML subset of STATE split files */

/* src/data: from files to the cells and features a model sees */
#include "ptrag/embeddings.h" /* gene embeddings: GenePT pickles, TSV tables */
#include "ptrag/split.h"      /* train/val/test conditions of a split */
#include "ptrag/preprocess.h" /* count detection, normalisation, HVG */
#include "ptrag/dataset.h"    /* a split's data ready for training */
#include "ptrag/sampler.h"    /* cell sets, control pairing, batches */
#include "ptrag/pred_plan.h"  /* the cells a prediction covers */

/* src/nn, src/optim: the kernel library and the optimiser */
#include "ptrag/nn.h"         /* neural-network ops, forward and backward */
#include "ptrag/bf16.h"       /* bf16 matrix products through oneDNN (--precision bf16) */
#include "ptrag/optim.h"      /* Adam/AdamW, clipping, freezing */

/* src/rag: stage-1 retrieval */
#include "ptrag/knn.h"        /* exact cosine top-K */
#include "ptrag/retrieval.h"  /* stage 1 over a dataset */

/* src/model: the network */
#include "ptrag/config.h"     /* model/training configuration and presets */
#include "ptrag/params.h"     /* parameter registry: values, grads, Adam moments */
#include "ptrag/model.h"      /* STATE, vanilla RAG and PT-RAG models */

/* src/store: saving */
#include "ptrag/blob.h"       /* little-endian byte buffers for saved state */
#include "ptrag/checkpoint.h" /* one-file checkpoints */

/* src/run: running */
#include "ptrag/train.h"      /* training and prediction runs */
#include "ptrag/run_dir.h"    /* run directories: command, config, meta */
#include "ptrag/run_record.h" /* record.txt: settings digest, files written */
#include "ptrag/run_lock.h"   /* one process per run directory */
#include "ptrag/train_log.h"  /* train_log.csv */
#include "ptrag/progress.h"   /* progress lines and bars */

/* src/eval: scoring */
#include "ptrag/metrics.h"    /* evaluation metrics */
#include "ptrag/eval_files.h" /* scoring a prediction file against the real one */
#include "ptrag/baselines.h"  /* control, pert-mean, linear, kNN ... baselines */
#include "ptrag/report.h"     /* HTML and markdown reports */

/* src/sim: simulated experiments with known truth */
#include "ptrag/simulate.h"

#endif
