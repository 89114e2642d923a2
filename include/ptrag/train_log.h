/* The training log, RUN_DIR/train_log.csv: a header line declared once at
 * open — "step,train_loss,val_loss,seconds" plus the caller's extra columns
 * (e.g. sparsity_loss, kept_fraction) — then one row per logged step. A value
 * that was not measured at that step (NaN, e.g. val_loss between validations)
 * is an empty cell. Each row is flushed, so the log survives a crash.
 *
 * Resuming (resume_step >= 0) keeps the existing rows up to and including
 * resume_step and drops later ones (logged after the checkpoint being resumed
 * from), so an interrupted-and-resumed run ends with the same rows as an
 * uninterrupted one — apart from the wall-clock `seconds` column. */
#ifndef PTRAG_TRAIN_LOG_H
#define PTRAG_TRAIN_LOG_H

#include "ptrag/error.h"

typedef struct ptrag_train_log ptrag_train_log;

#define PTRAG_TRAIN_LOG_MAX_EXTRA 16

/* Opens `path`. resume_step < 0: starts a new log (replacing any file).
 * resume_step >= 0: the file must exist with exactly this header (else
 * PTRAG_E_STATE naming both headers); rows after resume_step are removed.
 * Extra column names: 1-63 characters of [A-Za-z0-9_], no repeats. */
int ptrag_train_log_open(const char *path, const char *const *extra, int n_extra,
                         long long resume_step, ptrag_train_log **out, ptrag_error *err);

/* Appends one row; `extra` has n_extra values (may be NULL if n_extra is 0).
 * Losses are written with 9 significant digits (float-exact), seconds with 3
 * decimals. */
int ptrag_train_log_row(ptrag_train_log *log, long long step, double train_loss, double val_loss,
                        double seconds, const double *extra, ptrag_error *err);

/* Closes the file; reports a failed final flush. NULL is allowed. */
int ptrag_train_log_close(ptrag_train_log *log, ptrag_error *err);

/* The header line the log uses (without newline). */
const char *ptrag_train_log_header(const ptrag_train_log *log);

#endif
