/* Growable string: see strbuf.h. */
#include "eval/strbuf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int sb_reserve(strbuf *sb, size_t extra) {
    if (sb->failed) return 0;
    if (sb->len + extra + 1 <= sb->cap) return 1;
    size_t cap = sb->cap ? sb->cap : 256;
    while (cap < sb->len + extra + 1) cap *= 2;
    char *s = realloc(sb->s, cap);
    if (!s) {
        sb->failed = 1;
        return 0;
    }
    sb->s = s;
    sb->cap = cap;
    return 1;
}

void ptrag_sb_printf(strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !sb_reserve(sb, (size_t)n)) {
        sb->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(sb->s + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void ptrag_sb_repeat(strbuf *sb, char c, long n) {
    if (n <= 0 || !sb_reserve(sb, (size_t)n)) return;
    memset(sb->s + sb->len, c, (size_t)n);
    sb->len += (size_t)n;
    sb->s[sb->len] = '\0';
}

void ptrag_sb_csv_field(strbuf *sb, const char *s) {
    if (!s) s = "";
    if (!strpbrk(s, ",\"\n\r")) {
        ptrag_sb_printf(sb, "%s", s);
        return;
    }
    ptrag_sb_printf(sb, "\"");
    for (const char *p = s; *p; p++) ptrag_sb_printf(sb, *p == '"' ? "\"\"" : "%c", *p);
    ptrag_sb_printf(sb, "\"");
}

void ptrag_sb_number(strbuf *sb, double v) {
    if (isfinite(v))
        ptrag_sb_printf(sb, "%.10g", v);
    else
        ptrag_sb_printf(sb, "nan");
}

void ptrag_sb_free(strbuf *sb) {
    free(sb->s);
    sb->s = NULL;
    sb->len = sb->cap = 0;
}
