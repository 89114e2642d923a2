/* Error records: see include/ptrag/error.h. */
#include "ptrag/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ptrag_error_clear(ptrag_error *err) {
    if (!err) return;
    err->code = 0;
    err->msg[0] = '\0';
}

int ptrag_fail(ptrag_error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int ptrag_error_prefix(ptrag_error *err, const char *fmt, ...) {
    if (!err) return 0;
    char prefix[PTRAG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    /* Truncation is acceptable here: the message stays one readable line. */
    char joined[2 * PTRAG_ERROR_MSG_MAX + 3];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    snprintf(err->msg, sizeof err->msg, "%.*s", PTRAG_ERROR_MSG_MAX - 1, joined);
    return err->code;
}

const char *ptrag_status_name(int code) {
    switch (code) {
    case PTRAG_OK: return "ok";
    case PTRAG_E_ARG: return "bad argument";
    case PTRAG_E_IO: return "I/O error";
    case PTRAG_E_FORMAT: return "format error";
    case PTRAG_E_NOMEM: return "out of memory";
    case PTRAG_E_NOTFOUND: return "not found";
    case PTRAG_E_NUMERIC: return "numerical error";
    case PTRAG_E_STATE: return "invalid state";
    case PTRAG_E_UNSUPPORTED: return "unsupported";
    case PTRAG_E_CANCELLED: return "cancelled";
    default: return "error";
    }
}
