/* The run record, RUN_DIR/record.txt: what determines a run (its settings and
 * their digest) and every file ptrag wrote in or for it (which command, the
 * file's digest and size, and the key of what it was computed from). A later
 * command reuses a file only when the record names it with the same key and
 * the bytes on disk are still the recorded ones, so it can tell its own
 * outputs from stale ones.
 *
 *   # ptrag run record ...
 *   settings_digest = 1a2b3c4d
 *   setting.model = state            (one line per setting, see below)
 *   setting.lr = 0.001
 *   ...
 *   file.best.ckpt = train 5e6f7a8b01234567 123456 -
 *   file.pred.h5ad = predict 0badcafe0badcafe 98765 ckpt=best:5e6f7a8b01234567,split=test,selection=run,seed=42
 *   file.eval/summary.csv = experiment 1122334455667788 2048 pred=0badcafe0badcafe,real=...,metrics=...
 *
 * A file line is `file.<name> = <command> <digest> <size> <key>`, <name>
 * relative to RUN_DIR for files inside it (absolute otherwise), <key> free
 * text without spaces ("-" for none). The settings of a training run are
 * everything that determines its checkpoints: the record and checkpoint
 * format versions, every config field except the ones that cannot change the
 * result (threads, preset name, the inference-only selection mode, and the
 * dims read from the data), the data flags, and the size and CRC-32 of each
 * input file (split, data, embeddings, aliases). Paths are left out: a moved
 * but identical file is the same input. The digest is the CRC-32 of that
 * text. */
#ifndef PTRAG_RUN_RECORD_H
#define PTRAG_RUN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "ptrag/config.h"
#include "ptrag/dataset.h"
#include "ptrag/error.h"
#include "ptrag/checksum.h" /* ptrag_file_digest */

#define PTRAG_RUN_RECORD "record.txt"
#define PTRAG_RUN_RECORD_FORMAT 1

/* The version of the numbers a run computes at each precision, bumped by any
 * change of code that moves those bits: a settings digest covers settings,
 * not code, so without it a run trained before such a change would be reused
 * as if current. Written into the settings (and so the digest) only from 2
 * on, so runs recorded before the line existed keep their digest.
 *   bf16 2: the attention's products in bf16 (batched), dense operand panels,
 *           weights reordered once per forward, the CPU's bf16 rounding (issue 20) */
#define PTRAG_NUMERICS_FP32 1
#define PTRAG_NUMERICS_BF16 2


typedef struct ptrag_run_file {
    char *name;    /* relative to the run directory, or absolute */
    char command[32];
    uint64_t digest; /* ptrag_file_digest */
    uint64_t size;
    char *key;     /* "-" when none */
} ptrag_run_file;

typedef struct ptrag_run_record {
    int exists;      /* 1 if record.txt was read */
    char *settings;  /* "key = value\n" lines (without the "setting." prefix), or NULL */
    uint32_t digest; /* CRC-32 of `settings` (valid when settings != NULL) */
    int n_files, cap_files;
    ptrag_run_file *files;
} ptrag_run_record;

/* The settings text of a training run (see above) into *text (malloc'ed) and
 * its digest. `dopts` may be NULL (default data flags); inputs whose path is
 * NULL are skipped. Errors name the input file that cannot be read. */
int ptrag_run_settings(const ptrag_config *cfg, const ptrag_dataset_opts *dopts, const char *split_path,
                       const char *data_path, char **text, uint32_t *digest, ptrag_error *err);

/* The data part alone (data flags and input CRCs, no model): the key of
 * files that depend on the data only, such as an experiment's real cells
 * and baselines. */
int ptrag_data_settings(const ptrag_dataset_opts *dopts, const char *split_path, const char *data_path, char **text,
                        uint32_t *digest, ptrag_error *err);

/* The same two for a split of several data files (input.data, input.data2, ...;
 * one file gives the same text as above, none gives input.data = none). */
int ptrag_run_settings_files(const ptrag_config *cfg, const ptrag_dataset_opts *dopts, const char *split_path,
                             const char *const *data_paths, int n_data, char **text, uint32_t *digest,
                             ptrag_error *err);
int ptrag_data_settings_files(const ptrag_dataset_opts *dopts, const char *split_path, const char *const *data_paths,
                              int n_data, char **text, uint32_t *digest, ptrag_error *err);

enum { PTRAG_RUN_ABSENT = 0, PTRAG_RUN_SAME = 1, PTRAG_RUN_DIFFERS = 2 };

/* Whether RUN_DIR holds the run these settings describe: PTRAG_RUN_ABSENT
 * (missing or empty: train it), PTRAG_RUN_SAME (its record has the same
 * digest: reuse or resume it) or PTRAG_RUN_DIFFERS, with `why` naming what
 * differs ("settings 1a2b3c4d on disk, this command's differ: lr: 0.001 ->
 * 0.003; steps: 20 -> 200") or that it has no record. */
int ptrag_run_dir_match(const char *dir, const char *settings, char *why, size_t n);


/* Compares two settings texts; writes "lr: 0.001 -> 0.003; steps: 20 -> 200"
 * (setting: old -> new, in the order of `old`, then settings only `now` has)
 * into buf and returns how many settings differ (0: identical). */
int ptrag_run_settings_diff(const char *old, const char *now, char *buf, size_t n);

/* A copy of a settings text (*out, malloc'ed) with the value of `key`
 * replaced (appended when absent): a resumed run changes only its steps. */
int ptrag_run_settings_replace(const char *text, const char *key, const char *value, char **out, ptrag_error *err);

/* Reads RUN_DIR/record.txt. A missing file is not an error: rec->exists = 0
 * and the record is empty. Malformed lines: PTRAG_E_FORMAT naming the line. */
int ptrag_run_record_read(const char *dir, ptrag_run_record *rec, ptrag_error *err);

/* Writes RUN_DIR/record.txt atomically. */
int ptrag_run_record_write(const char *dir, const ptrag_run_record *rec, ptrag_error *err);

void ptrag_run_record_free(ptrag_run_record *rec);

/* Replaces the settings of the record in RUN_DIR (creating the record), keeping its file lines. */
int ptrag_run_record_set_settings(const char *dir, const char *settings, ptrag_error *err);

/* Hashes `path` and records it in RUN_DIR's record as written by `command`
 * with `key` (NULL: "-"), replacing an earlier line for the same file. */
int ptrag_run_record_note(const char *dir, const char *path, const char *command, const char *key,
                          ptrag_error *err);

/* 1 when RUN_DIR's record names `path` with this key (NULL: any key) and the
 * file's size and digest are still the recorded ones; 0 otherwise (never
 * recorded, other key, changed or missing). The file is re-hashed. */
int ptrag_run_record_is_current(const char *dir, const char *path, const char *key);

/* The recorded digest of `path` if it is current (as above, any key): 1, or 0. */
int ptrag_run_record_digest(const char *dir, const char *path, uint64_t *digest);

/* For --overwrite: empties RUN_DIR of one run. Deletes record.txt, the files
 * the record names inside RUN_DIR and the files every run has (command.txt,
 * config.txt, data.txt, meta.txt, genes.txt, train_log.csv, best.ckpt,
 * last.ckpt; in a folder from before records, also what `ptrag experiment`
 * wrote there: pred*.h5ad, val-pred*.h5ad, RETRIEVAL*.tsv and the scores in eval*, val-eval*
 * folders), then the emptied subdirectories. Refuses, deleting nothing,
 * when RUN_DIR is not a ptrag run (neither record.txt nor config.txt), or
 * holds files ptrag did not record (PTRAG_E_STATE naming the first few), so
 * no file the user put there is ever lost. A missing RUN_DIR is fine. */
int ptrag_run_dir_clear(const char *dir, ptrag_error *err);

/* 1 if `dir` exists and holds at least one entry. */
int ptrag_dir_nonempty(const char *dir);

#endif
