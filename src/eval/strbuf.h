/* A growable string for building report text (private to src/eval). */
#ifndef PTRAG_EVAL_STRBUF_H
#define PTRAG_EVAL_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} strbuf;

/* printf-style append; on allocation failure sets sb->failed. */
void ptrag_sb_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends `n` copies of character c. */
void ptrag_sb_repeat(strbuf *sb, char c, long n);
/* Appends a CSV field, quoted when it holds a comma, quote or newline. */
void ptrag_sb_csv_field(strbuf *sb, const char *s);
/* Appends a number with %.10g, or "nan" when it is not finite. */
void ptrag_sb_number(strbuf *sb, double v);
void ptrag_sb_free(strbuf *sb);

#endif
