/* Stage src/cli, the last of the pipeline (include/ptrag.h, README "Layout"): one file per
 * subcommand over the library.
 *
 * Shared pieces of the command-line tool: option parsing, error reporting and
 * the subcommand entry points (one file per subcommand: cmd_<name>.c). */
#ifndef PTRAG_CLI_H
#define PTRAG_CLI_H

#include "ptrag.h"
#include "ptrag/command.h"

/* One accepted option. `value` is a placeholder like "FILE" for options that
 * take a value, or NULL for a flag. */
typedef struct cli_opt {
    const char *name; /* "--split" */
    const char *value;
    const char *help;
} cli_opt;

#define CLI_MAX_ARGS 128

typedef struct cli_args {
    int n;
    const char *names[CLI_MAX_ARGS];
    const char *values[CLI_MAX_ARGS]; /* NULL for flags */
    int npos;
    const char *pos[CLI_MAX_ARGS];
} cli_args;

/* The column flags every data-reading command accepts (STATE defaults). */
#define CLI_DATA_OPTS                                                                        \
    {"--pert-col", "NAME", "obs column with the perturbation (default: gene)"},              \
    {"--control", "LABEL", "control label in --pert-col (default: non-targeting)"},          \
    {"--celltype-col", "NAME", "obs column with the cell type (default: cell_type)"},        \
    {"--batch-col", "NAME", "obs column with the batch (default: gem_group)"},               \
    {"--x", "SOURCE", "expression: X, layers/NAME or obsm/KEY (default: X)"}

/* Parses argv[1..] (argv[0] is the subcommand name). Unknown options, missing
 * values and `--help` are handled here: returns 0 to continue, or an exit code
 * (0 after printing help, 2 after a usage error) with *done set. */
int cli_parse(int argc, char **argv, const char *synopsis, const char *about, const cli_opt *opts,
              int nopts, cli_args *out, int *done);

const char *cli_get(const cli_args *a, const char *name, const char *dflt);
int cli_has(const cli_args *a, const char *name);
/* Integer / real option with range check; on a bad value prints a usage error
 * and returns -1 (the caller exits 2). */
int cli_get_long(const cli_args *a, const char *name, long dflt, long lo, long hi, long *out);
int cli_get_double(const cli_args *a, const char *name, double dflt, double lo, double hi, double *out);

/* Prints "ptrag <cmd>: error: <message>" to stderr and returns 1. Both this
 * and cli_usage_error also keep the message for cli_last_error. */
int cli_report(const char *cmd, const ptrag_error *err);
/* Prints a usage error to stderr and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last error reported (code 0 when none since cli_set_hooks). */
const ptrag_error *cli_last_error(void);
/* Hooks of the in-process caller (ptrag_command), or NULL from the shell. */
const ptrag_command_hooks *cli_hooks(void);
void cli_set_hooks(const ptrag_command_hooks *h);

/* 1 if stderr is a terminal (progress bars), else 0. */
int cli_stderr_is_tty(void);

/* Loads the dataset a training run used (data.txt), optionally with another
 * split file; returns 0 or an exit code after printing the error. */
struct ptrag_dataset;
int cli_load_run_dataset(const char *cmd, const char *run, const char *split, struct ptrag_dataset **d);

/* Subcommands. Each returns the process exit code. */
int cmd_inspect(int argc, char **argv);
int cmd_neighbors(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_baseline(int argc, char **argv);
int cmd_experiment(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_simulate(int argc, char **argv);

#endif
