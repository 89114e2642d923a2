/* See pert_label.h. */
#include "data/pert_label.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int ptrag_label_next_part(const char **pos, const char **part, size_t *len) {
    const char *s = *pos;
    if (!s) return 0;
    const char *plus = strchr(s, '+');
    const char *end = plus ? plus : s + strlen(s);
    while (s < end && isspace((unsigned char)*s)) s++;
    const char *e = end;
    while (e > s && isspace((unsigned char)e[-1])) e--;
    *part = s;
    *len = (size_t)(e - s);
    *pos = plus ? plus + 1 : NULL;
    return 1;
}

int ptrag_label_parts(const char *label, char **copy, char ***parts, long *nparts) {
    *copy = NULL, *parts = NULL, *nparts = 0;
    size_t total = strlen(label) + 1;
    long n = 1;
    for (const char *p = label; *p; p++) n += *p == '+';
    char *buf = malloc(total);
    char **v = malloc((size_t)n * sizeof *v);
    if (!buf || !v) {
        free(buf), free(v);
        return -1;
    }
    const char *pos = label, *part;
    size_t len, off = 0;
    long i = 0;
    while (ptrag_label_next_part(&pos, &part, &len)) {
        memcpy(buf + off, part, len);
        buf[off + len] = '\0';
        v[i++] = buf + off;
        off += len + 1;
    }
    *copy = buf, *parts = v, *nparts = i;
    return 0;
}
