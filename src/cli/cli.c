/* Option parsing and error reporting for the subcommands: see cli.h. */
#define _POSIX_C_SOURCE 200809L
#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* Execution settings: every command takes them, cli_parse applies them, and
 * ptrag_cli_main restores what they changed when the command returns. They
 * change speed, never a result (fixed blocks: the same bits for any thread
 * count), so no run, record or digest holds them. */
static const cli_opt exec_opts[] = {
    {"--threads", "N", "OpenMP threads for this command (default: all cores; results do not depend on it)"},
};
#define N_EXEC_OPTS (int)(sizeof exec_opts / sizeof exec_opts[0])

static void print_help(const char *synopsis, const char *about, const cli_opt *opts, int nopts) {
    printf("usage: %s\n", synopsis);
    if (about && *about) printf("\n%s\n", about);
    if (nopts) printf("\noptions:\n");
    for (int i = 0; i < nopts; i++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s%s%s", opts[i].name, opts[i].value ? " " : "",
                 opts[i].value ? opts[i].value : "");
        printf("  %-26s %s\n", lhs, opts[i].help);
    }
    printf("\nexecution:\n");
    for (int i = 0; i < N_EXEC_OPTS; i++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s %s", exec_opts[i].name, exec_opts[i].value);
        printf("  %-26s %s\n", lhs, exec_opts[i].help);
    }
}

/* Applies the execution settings found by cli_parse. */
static int apply_exec_opts(const cli_args *a) {
    long threads;
    if (cli_get_long(a, "--threads", 0, 0, 4096, &threads)) return 2;
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads((int)threads);
#endif
    return 0;
}

static const cli_opt *find_opt(const cli_opt *opts, int nopts, const char *name) {
    for (int i = 0; i < nopts; i++)
        if (strcmp(opts[i].name, name) == 0) return &opts[i];
    return NULL;
}

int cli_parse(int argc, char **argv, const char *synopsis, const char *about, const cli_opt *opts,
              int nopts, cli_args *out, int *done) {
    memset(out, 0, sizeof *out);
    *done = 0;
    const char *cmd = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            print_help(synopsis, about, opts, nopts);
            *done = 1;
            return 0;
        }
        if (strncmp(arg, "--", 2) != 0 || strcmp(arg, "--") == 0) {
            if (out->npos >= CLI_MAX_ARGS) {
                *done = 1;
                return cli_usage_error(cmd, "too many arguments");
            }
            out->pos[out->npos++] = arg;
            continue;
        }
        /* Accept --name=value as well as --name value. */
        char name[128];
        const char *eq = strchr(arg, '=');
        size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, arg, len);
        name[len] = '\0';
        const cli_opt *o = find_opt(opts, nopts, name);
        if (!o) o = find_opt(exec_opts, N_EXEC_OPTS, name);
        if (!o) {
            *done = 1;
            return cli_usage_error(cmd, "unknown option '%s' (see 'ptrag %s --help')", name, cmd);
        }
        if (out->n >= CLI_MAX_ARGS) {
            *done = 1;
            return cli_usage_error(cmd, "too many options");
        }
        out->names[out->n] = o->name;
        if (o->value) {
            if (eq) {
                out->values[out->n] = eq + 1;
            } else if (i + 1 < argc) {
                out->values[out->n] = argv[++i];
            } else {
                *done = 1;
                return cli_usage_error(cmd, "option %s needs a value (%s)", o->name, o->value);
            }
        } else if (eq) {
            *done = 1;
            return cli_usage_error(cmd, "option %s takes no value", o->name);
        }
        out->n++;
    }
    int rc = apply_exec_opts(out);
    if (rc) *done = 1;
    return rc;
}

const char *cli_get(const cli_args *a, const char *name, const char *dflt) {
    /* The last occurrence wins, as in most tools. */
    for (int i = a->n - 1; i >= 0; i--)
        if (strcmp(a->names[i], name) == 0) return a->values[i] ? a->values[i] : "";
    return dflt;
}

int cli_has(const cli_args *a, const char *name) {
    for (int i = 0; i < a->n; i++)
        if (strcmp(a->names[i], name) == 0) return 1;
    return 0;
}

int cli_get_long(const cli_args *a, const char *name, long dflt, long lo, long hi, long *out) {
    const char *v = cli_get(a, name, NULL);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "ptrag: error: %s expects an integer in [%ld, %ld], got '%s'\n", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int cli_get_double(const cli_args *a, const char *name, double dflt, double lo, double hi, double *out) {
    const char *v = cli_get(a, name, NULL);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "ptrag: error: %s expects a number in [%g, %g], got '%s'\n", name, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

/* The last error reported, for ptrag_command (the in-process entry). */
static ptrag_error last_error;
static const ptrag_command_hooks *active_hooks;

const ptrag_error *cli_last_error(void) { return &last_error; }
const ptrag_command_hooks *cli_hooks(void) { return active_hooks; }
void cli_set_hooks(const ptrag_command_hooks *h) {
    active_hooks = h;
    ptrag_error_clear(&last_error);
}

int cli_report(const char *cmd, const ptrag_error *err) {
    const char *msg = err && err->msg[0] ? err->msg : "unknown error";
    fprintf(stderr, "ptrag %s: error: %s\n", cmd, msg);
    last_error.code = err && err->code ? err->code : PTRAG_E_ARG;
    snprintf(last_error.msg, sizeof last_error.msg, "%s", msg);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error.msg, sizeof last_error.msg, fmt, ap);
    va_end(ap);
    last_error.code = PTRAG_E_ARG;
    fprintf(stderr, "ptrag %s: %s\n", cmd, last_error.msg);
    return 2;
}

int cli_stderr_is_tty(void) { return isatty(STDERR_FILENO); }
