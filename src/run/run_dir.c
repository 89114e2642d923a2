/* Run directory files: see include/ptrag/run_dir.h. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/run_dir.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/checksum.h"
#include "ptrag/fsutil.h"

#ifndef PTRAG_VERSION
#define PTRAG_VERSION "unknown"
#endif

#define PATH_MAX_LEN 4096

int ptrag_run_path(const char *dir, const char *name, char *out, size_t n, ptrag_error *err) {
    int w = snprintf(out, n, "%s/%s", dir, name);
    if (w < 0 || (size_t)w >= n)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: path too long for '%s'", dir, name);
    return 0;
}

int ptrag_run_dir_create(const char *dir, int fresh, ptrag_error *err) {
    int rc = ptrag_mkdir_p(dir, err);
    if (rc) return rc;
    char cfg[PATH_MAX_LEN];
    rc = ptrag_run_path(dir, PTRAG_RUN_CONFIG, cfg, sizeof cfg, err);
    if (rc) return rc;
    if (fresh && ptrag_path_exists(cfg))
        return ptrag_fail(err, PTRAG_E_STATE,
                          "%s: already holds a run (%s exists); resume it or choose another directory",
                          dir, PTRAG_RUN_CONFIG);
    return 0;
}

int ptrag_run_dir_check(const char *dir, ptrag_error *err) {
    char cfg[PATH_MAX_LEN];
    int rc = ptrag_run_path(dir, PTRAG_RUN_CONFIG, cfg, sizeof cfg, err);
    if (rc) return rc;
    if (!ptrag_path_exists(dir))
        return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: run directory does not exist", dir);
    if (!ptrag_path_exists(cfg))
        return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: not a ptrag run directory (no %s)", dir,
                          PTRAG_RUN_CONFIG);
    return 0;
}

int ptrag_run_checkpoint_path(const char *dir, const char *which, char *out, size_t n,
                              ptrag_error *err) {
    const char *name;
    if (strcmp(which, "best") == 0)
        name = PTRAG_RUN_BEST;
    else if (strcmp(which, "last") == 0)
        name = PTRAG_RUN_LAST;
    else
        return ptrag_fail(err, PTRAG_E_ARG, "checkpoint: expected best or last, got '%s'", which);
    int rc = ptrag_run_path(dir, name, out, n, err);
    if (rc) return rc;
    if (!ptrag_path_exists(out))
        return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: no such checkpoint (the run has not written it)",
                          out);
    return 0;
}

/* ---------- command.txt ---------- */

static int shell_safe(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_./=:,+@%^-", *s)))
            return 0;
    return 1;
}

int ptrag_shell_join(int argc, char *const *argv, char **out, ptrag_error *err) {
    size_t cap = 1;
    for (int i = 0; i < argc; i++) cap += 4 * strlen(argv[i]) + 3; /* each ' becomes '\'' */
    char *s = malloc(cap);
    if (!s) return ptrag_fail(err, PTRAG_E_NOMEM, "command line: out of memory");
    size_t len = 0;
    for (int i = 0; i < argc; i++) {
        if (i) s[len++] = ' ';
        const char *a = argv[i];
        if (shell_safe(a)) {
            memcpy(s + len, a, strlen(a));
            len += strlen(a);
            continue;
        }
        s[len++] = '\'';
        for (; *a; a++) {
            if (*a == '\'') {
                memcpy(s + len, "'\\''", 4);
                len += 4;
            } else {
                s[len++] = *a;
            }
        }
        s[len++] = '\'';
    }
    s[len] = '\0';
    *out = s;
    return 0;
}

int ptrag_run_write_command(const char *dir, int argc, char *const *argv, ptrag_error *err) {
    char path[PATH_MAX_LEN];
    int rc = ptrag_run_path(dir, PTRAG_RUN_COMMAND, path, sizeof path, err);
    if (rc) return rc;
    char *line;
    rc = ptrag_shell_join(argc, argv, &line, err);
    if (rc) return rc;
    size_t len = strlen(line);
    line[len] = '\n'; /* replaces the NUL: the file gets len + 1 bytes, no terminator needed */
    rc = ptrag_write_file_atomic(path, line, len + 1, err);
    free(line);
    return rc;
}

int ptrag_run_write_config(const char *dir, const ptrag_config *cfg, ptrag_error *err) {
    char path[PATH_MAX_LEN];
    int rc = ptrag_run_path(dir, PTRAG_RUN_CONFIG, path, sizeof path, err);
    if (rc) return rc;
    return ptrag_config_write(cfg, path, err);
}

/* ---------- meta.txt ---------- */

void ptrag_format_utc(time_t t, char *buf, size_t n) {
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, n, "unknown");
}

static int role_ok(const char *role) {
    if (!role || !*role) return 0;
    for (; *role; role++)
        if (!((*role >= 'a' && *role <= 'z') || (*role >= 'A' && *role <= 'Z') ||
              (*role >= '0' && *role <= '9') || *role == '_' || *role == '-'))
            return 0;
    return 1;
}

/* Appends printf-style text to a growing buffer; *bad set on allocation failure. */
static void append(char **buf, size_t *len, size_t *cap, int *bad, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void append(char **buf, size_t *len, size_t *cap, int *bad, const char *fmt, ...) {
    if (*bad) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int w = vsnprintf(*buf ? *buf + *len : NULL, *buf ? *cap - *len : 0, fmt, ap);
        va_end(ap);
        if (w < 0) {
            *bad = 1;
            return;
        }
        if (*buf && *len + (size_t)w < *cap) {
            *len += (size_t)w;
            return;
        }
        size_t ncap = (*cap ? *cap : 256);
        while (ncap <= *len + (size_t)w) ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb) {
            *bad = 1;
            return;
        }
        *buf = nb;
        *cap = ncap;
    }
}

int ptrag_run_write_meta(const char *dir, uint64_t seed, const ptrag_run_input *inputs,
                         int n_inputs, time_t start, ptrag_error *err) {
    char path[PATH_MAX_LEN];
    int rc = ptrag_run_path(dir, PTRAG_RUN_META, path, sizeof path, err);
    if (rc) return rc;
    char when[64];
    ptrag_format_utc(start, when, sizeof when);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int bad = 0;
    append(&buf, &len, &cap, &bad, "# ptrag run metadata (key = value)\n");
    append(&buf, &len, &cap, &bad, "ptrag_version = %s\n", PTRAG_VERSION);
    append(&buf, &len, &cap, &bad, "seed = %llu\n", (unsigned long long)seed);
    append(&buf, &len, &cap, &bad, "start_time = %s\n", when);
    for (int i = 0; i < n_inputs && !rc; i++) {
        if (!role_ok(inputs[i].role)) {
            rc = ptrag_fail(err, PTRAG_E_ARG, "%s: input role '%s' must be [A-Za-z0-9_-]+", path,
                            inputs[i].role ? inputs[i].role : "(null)");
            break;
        }
        uint32_t crc;
        uint64_t size;
        rc = ptrag_file_crc32(inputs[i].path, &crc, &size, err);
        if (rc) {
            ptrag_error_prefix(err, "checksum of input '%s'", inputs[i].role);
            break;
        }
        append(&buf, &len, &cap, &bad, "input.%s.path = %s\n", inputs[i].role, inputs[i].path);
        append(&buf, &len, &cap, &bad, "input.%s.size = %llu\n", inputs[i].role,
               (unsigned long long)size);
        append(&buf, &len, &cap, &bad, "input.%s.crc32 = %08x\n", inputs[i].role, crc);
    }
    if (!rc && bad) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    if (!rc) rc = ptrag_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

/* Value of "key = value" in a meta.txt text, copied into out; 0 if absent. */
static int meta_lookup(const char *text, const char *key, char *out, size_t n) {
    size_t klen = strlen(key);
    const char *line = text;
    while (*line) {
        size_t line_len = strcspn(line, "\n");
        if (strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0 &&
            line_len >= klen + 3) {
            snprintf(out, n, "%.*s", (int)(line_len - klen - 3), line + klen + 3);
            return 1;
        }
        line += line_len;
        if (*line == '\n') line++;
    }
    return 0;
}

int ptrag_run_check_inputs(const char *dir, const ptrag_run_input *inputs, int n_inputs,
                           ptrag_error *err) {
    char path[PATH_MAX_LEN];
    int rc = ptrag_run_path(dir, PTRAG_RUN_META, path, sizeof path, err);
    if (rc) return rc;
    char *text;
    rc = ptrag_read_file(path, &text, NULL, err);
    if (rc) return rc;
    for (int i = 0; i < n_inputs && !rc; i++) {
        char key[256], crc_text[64], size_text[64];
        snprintf(key, sizeof key, "input.%s.crc32", inputs[i].role);
        int has_crc = meta_lookup(text, key, crc_text, sizeof crc_text);
        snprintf(key, sizeof key, "input.%s.size", inputs[i].role);
        int has_size = meta_lookup(text, key, size_text, sizeof size_text);
        if (!has_crc || !has_size) {
            rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: no record of input '%s'", path,
                            inputs[i].role);
            break;
        }
        uint32_t crc;
        uint64_t size;
        rc = ptrag_file_crc32(inputs[i].path, &crc, &size, err);
        if (rc) break;
        char now_crc[16], now_size[32];
        snprintf(now_crc, sizeof now_crc, "%08x", crc);
        snprintf(now_size, sizeof now_size, "%llu", (unsigned long long)size);
        if (strcmp(now_crc, crc_text) != 0 || strcmp(now_size, size_text) != 0)
            rc = ptrag_fail(err, PTRAG_E_STATE,
                            "%s: input '%s' (%s) has changed since the run started (crc32 %s, size "
                            "%s; recorded %s, size %s)",
                            path, inputs[i].role, inputs[i].path, now_crc, now_size, crc_text,
                            size_text);
    }
    free(text);
    return rc;
}
