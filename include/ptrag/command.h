/* Running a `ptrag` subcommand in-process: the entry of the Python binding
 * (python/ptrag), which turns keyword arguments into the command's own flags
 * so every CLI option is available under the same name and the files written
 * are the CLI's, byte for byte.
 *
 * Only in the shared library (libptrag.so), which also holds the CLI code.
 * One command at a time per process: the hooks are process-wide while it runs. */
#ifndef PTRAG_COMMAND_H
#define PTRAG_COMMAND_H

#include "ptrag/error.h"
#include "ptrag/h5ad.h"

typedef struct ptrag_command_hooks {
    /* Expression and obs labels to read in place of the split's .h5ad file
     * (e.g. ptrag_h5ad_open_memory over an in-memory AnnData), or NULL.
     * Borrowed: the command never closes it. */
    ptrag_h5ad *input;
    /* train: called after every step (step, total, loss); a nonzero return
     * stops training at this step boundary, after writing last.ckpt (the run
     * resumes with --resume). predict: after every set of cells (sets done,
     * total, NaN); nonzero stops it. NULL: none. */
    int (*on_step)(void *ctx, long step, long total, double loss);
    void *ctx;
} ptrag_command_hooks;

/* Runs `ptrag argv[0] argv[1..]` (argv[0] is the subcommand, e.g. "train").
 * Returns the command's exit status (0 = success); on failure `err` holds the
 * message the command printed to stderr and its ptrag_status (usage errors
 * are PTRAG_E_ARG). `hooks` may be NULL. */
int ptrag_command(int argc, char **argv, const ptrag_command_hooks *hooks, ptrag_error *err);

#endif
