/* ptrag_command: a subcommand run in-process (include/ptrag/command.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int ptrag_cli_main(int argc, char **argv); /* main.c */

int ptrag_command(int argc, char **argv, const ptrag_command_hooks *hooks, ptrag_error *err) {
    ptrag_error_clear(err);
    if (argc < 1 || !argv || !argv[0])
        return ptrag_fail(err, PTRAG_E_ARG, "ptrag_command: argv[0] must name a subcommand"), 2;
    /* The dispatcher expects the program name first. */
    char **full = calloc((size_t)argc + 2, sizeof *full);
    if (!full) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory"), 1;
    full[0] = "ptrag";
    memcpy(full + 1, argv, (size_t)argc * sizeof *argv);
    cli_set_hooks(hooks);
    int rc = ptrag_cli_main(argc + 1, full);
    if (rc != 0 && err) {
        const ptrag_error *last = cli_last_error();
        if (last->code) *err = *last;
        else ptrag_fail(err, PTRAG_E_ARG, "ptrag %s exited with status %d", argv[0], rc);
    }
    cli_set_hooks(NULL);
    fflush(stdout);
    fflush(stderr);
    free(full);
    return rc;
}
