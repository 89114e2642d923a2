/* Stage src/core of the pipeline (include/ptrag.h, README "Layout"): the first stage: errors, files, RNG, checksums; uses nothing else of ptrag.
 *
 * Error reporting shared by every ptrag library call.
 *
 * Library functions never print and never exit: they return 0 on success or a
 * negative ptrag_status, and fill a caller-owned ptrag_error with one line that
 * names the file, the object or field inside it, and what was expected. */
#ifndef PTRAG_ERROR_H
#define PTRAG_ERROR_H

#include <stddef.h>

typedef enum {
    PTRAG_OK = 0,
    PTRAG_E_ARG = -1,      /* bad argument or option value */
    PTRAG_E_IO = -2,       /* cannot open, read, write or rename a file */
    PTRAG_E_FORMAT = -3,   /* a file is not what it claims to be */
    PTRAG_E_NOMEM = -4,    /* allocation failed */
    PTRAG_E_NOTFOUND = -5, /* a named key, column, gene or object is missing */
    PTRAG_E_NUMERIC = -6,  /* NaN/Inf or another numerical failure */
    PTRAG_E_STATE = -7,    /* call made in the wrong state (e.g. resume mismatch) */
    PTRAG_E_UNSUPPORTED = -8,
    PTRAG_E_CANCELLED = -9 /* stopped on request (e.g. Ctrl-C in Python); the run is resumable */
} ptrag_status;

#define PTRAG_ERROR_MSG_MAX 1024

typedef struct ptrag_error {
    int code;                       /* a ptrag_status */
    char msg[PTRAG_ERROR_MSG_MAX];  /* one line, no trailing newline */
} ptrag_error;

/* Clears an error record (code 0, empty message). NULL is allowed. */
void ptrag_error_clear(ptrag_error *err);

/* Records an error (printf-style message) and returns `code`, so callers can
 * write `return ptrag_fail(err, PTRAG_E_FORMAT, "%s: /X/indptr: ...", path);`.
 * `err` may be NULL. */
int ptrag_fail(ptrag_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes an existing message with context ("while reading split: ..."). */
int ptrag_error_prefix(ptrag_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short name of a status code ("format error", ...). */
const char *ptrag_status_name(int code);

#endif
