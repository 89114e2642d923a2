/* Shared helpers of the libFuzzer harnesses (fuzz/README in docs/reliability.md).
 * Most readers take a path, so a harness writes the input into a private
 * temporary directory and calls the reader on it: the reader runs exactly the
 * code a user's file goes through. */
#ifndef PTRAG_FUZZ_UTIL_H
#define PTRAG_FUZZ_UTIL_H

#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The harness's own directory (created once, under $TMPDIR or /tmp). */
static inline const char *fuzz_dir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ptrag-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* Writes data to "<fuzz_dir>/<name>" and returns that path (static buffer). */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f) != 0) abort();
    return path;
}

/* A NUL-terminated copy (text parsers), malloc'ed. */
static inline char *fuzz_text(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
