/* A training run's directory: what was run, with which configuration, on
 * which data, by which version, and where its checkpoints live.
 *
 *   RUN_DIR/command.txt     the exact command line (shell-quoted, one line)
 *   RUN_DIR/config.txt      the configuration (ptrag_config text form)
 *   RUN_DIR/meta.txt        seed, software version, start time, input checksums
 *   RUN_DIR/train_log.csv   one row per logged step (train_log.h)
 *   RUN_DIR/best.ckpt       best validation loss so far (checkpoint.h)
 *   RUN_DIR/last.ckpt       most recent checkpoint
 *   RUN_DIR/record.txt      settings digest and every file ptrag wrote (run_record.h)
 *
 * Every file is written atomically (temporary file + rename), except the
 * append-only training log. */
#ifndef PTRAG_RUN_DIR_H
#define PTRAG_RUN_DIR_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "ptrag/config.h"
#include "ptrag/error.h"

#define PTRAG_RUN_COMMAND "command.txt"
#define PTRAG_RUN_CONFIG "config.txt"
#define PTRAG_RUN_META "meta.txt"
#define PTRAG_RUN_LOG "train_log.csv"
#define PTRAG_RUN_BEST "best.ckpt"
#define PTRAG_RUN_LAST "last.ckpt"
#define PTRAG_RUN_THRESHOLD "threshold.txt" /* ptrag: keep_threshold calibrated on validation */

/* "<dir>/<name>" into out; PTRAG_E_ARG if it does not fit in n. */
int ptrag_run_path(const char *dir, const char *name, char *out, size_t n, ptrag_error *err);

/* Creates the directory (and its parents). With fresh = 1, a directory that
 * already holds a run (has config.txt) is refused, so a new run never mixes
 * its files with an old one's. */
int ptrag_run_dir_create(const char *dir, int fresh, ptrag_error *err);

/* Checks that `dir` holds a run: "<dir>: not a ptrag run directory (no config.txt)". */
int ptrag_run_dir_check(const char *dir, ptrag_error *err);

/* Path of the "best" or "last" checkpoint; PTRAG_E_NOTFOUND naming the file
 * when the run has not written it (yet). */
int ptrag_run_checkpoint_path(const char *dir, const char *which, char *out, size_t n,
                              ptrag_error *err);

/* argv[0..argc) joined by spaces, each argument single-quoted when it holds
 * anything but [A-Za-z0-9_./=:,+@%^-], so the line can be pasted into a POSIX
 * shell to run the same command. *out is malloc'ed. */
int ptrag_shell_join(int argc, char *const *argv, char **out, ptrag_error *err);

/* Writes command.txt (ptrag_shell_join + newline). */
int ptrag_run_write_command(const char *dir, int argc, char *const *argv, ptrag_error *err);

/* Writes config.txt. */
int ptrag_run_write_config(const char *dir, const ptrag_config *cfg, ptrag_error *err);

/* An input file of the run, named by its role ("split", "data", "embeddings"). */
typedef struct ptrag_run_input {
    const char *role; /* [A-Za-z0-9_-]+ */
    const char *path;
} ptrag_run_input;

/* Writes meta.txt: "key = value" lines
 *   ptrag_version = 0.1.0
 *   seed = 42
 *   start_time = 2025-01-31T12:00:00Z          (`start`, UTC)
 *   input.<role>.path = <path>
 *   input.<role>.size = <bytes>
 *   input.<role>.crc32 = <8 hex digits>        (streamed: ptrag_file_crc32)
 * Errors name the input that cannot be read. */
int ptrag_run_write_meta(const char *dir, uint64_t seed, const ptrag_run_input *inputs,
                         int n_inputs, time_t start, ptrag_error *err);

/* For --resume: re-hashes each input and compares with meta.txt by role.
 * PTRAG_E_STATE "RUN/meta.txt: input 'data' (x.h5ad) has changed since the
 * run started (crc32 1234abcd, size 10; recorded 9f00aa11, size 12)", or
 * PTRAG_E_NOTFOUND when meta.txt does not record that role. */
int ptrag_run_check_inputs(const char *dir, const ptrag_run_input *inputs, int n_inputs,
                           ptrag_error *err);

/* UTC time as "2025-01-31T12:00:00Z" (at least 21 bytes). */
void ptrag_format_utc(time_t t, char *buf, size_t n);

#endif
