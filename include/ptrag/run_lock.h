/* One process at a time in a run directory: `ptrag train` holds an exclusive
 * lock on RUN_DIR/.lock (flock) for its whole life, so a second run started
 * into the same directory is refused at once instead of interleaving its
 * checkpoints and log rows with the first. The kernel drops the lock when the
 * process ends, however it ends (kill -9 included): a stale lock file never
 * blocks a later --resume. */
#ifndef PTRAG_RUN_LOCK_H
#define PTRAG_RUN_LOCK_H

#include "ptrag/error.h"

#define PTRAG_RUN_LOCK ".lock"

typedef struct ptrag_run_lock {
    int fd; /* -1 when not held */
} ptrag_run_lock;

/* Takes the lock of an existing run directory without waiting; PTRAG_E_STATE
 * "RUN: another ptrag process (pid N) is using this run directory" when it is
 * held. Once held, removes the temporary files (ptrag_tmp_path) that a
 * killed writer left in the directory. */
int ptrag_run_lock_acquire(const char *dir, ptrag_run_lock *lock, ptrag_error *err);
/* Releases (no-op when not held). */
void ptrag_run_lock_release(ptrag_run_lock *lock);

#endif
