/* Plain/gzip text line reader: see text_lines.h. */
#include "io/text_lines.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int ptrag_text_lines_open(text_lines *t, const char *path, ptrag_error *err) {
    memset(t, 0, sizeof *t);
    t->path = path;
    gzFile gz = gzopen(path, "rb");
    if (!gz) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot open for reading", path);
    gzbuffer(gz, 1u << 18);
    t->gz = gz;
    return 0;
}

int ptrag_text_lines_next(text_lines *t, size_t *len, ptrag_error *err) {
    size_t n = 0;
    for (;;) {
        if (t->cap - n < 2) {
            size_t ncap = t->cap ? t->cap * 2 : 65536;
            char *b = realloc(t->buf, ncap);
            if (!b) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory reading line %ld", t->path, t->lineno + 1);
            t->buf = b;
            t->cap = ncap;
        }
        size_t room = t->cap - n;
        if (room > (1u << 30)) room = 1u << 30;
        if (!gzgets((gzFile)t->gz, t->buf + n, (int)room)) {
            int zerr;
            const char *m = gzerror((gzFile)t->gz, &zerr);
            if (zerr != Z_OK && zerr != Z_STREAM_END)
                return ptrag_fail(err, PTRAG_E_IO, "%s: line %ld: cannot read: %s", t->path, t->lineno + 1, m);
            if (n == 0) return 0;
            break;
        }
        n += strlen(t->buf + n);
        if (n && t->buf[n - 1] == '\n') break;
        if (gzeof((gzFile)t->gz)) break;
    }
    t->lineno++;
    while (n && (t->buf[n - 1] == '\n' || t->buf[n - 1] == '\r')) n--;
    t->buf[n] = '\0';
    *len = n;
    return 1;
}

void ptrag_text_lines_close(text_lines *t) {
    if (t->gz) gzclose((gzFile)t->gz);
    free(t->buf);
    memset(t, 0, sizeof *t);
}
