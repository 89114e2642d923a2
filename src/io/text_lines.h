/* Line-by-line reading of plain or gzip-compressed text files (zlib reads
 * both), with lines of any length. */
#ifndef PTRAG_IO_TEXT_LINES_H
#define PTRAG_IO_TEXT_LINES_H

#include <stddef.h>

#include "ptrag/error.h"

typedef struct text_lines {
    void *gz; /* gzFile */
    const char *path;
    char *buf; /* the current line, NUL-terminated, without '\n' or a trailing '\r' */
    size_t cap;
    long lineno; /* 1-based number of the current line */
} text_lines;

int ptrag_text_lines_open(text_lines *t, const char *path, ptrag_error *err);
/* 1 = a line is in t->buf (its length in *len), 0 = end of file, <0 = error. */
int ptrag_text_lines_next(text_lines *t, size_t *len, ptrag_error *err);
void ptrag_text_lines_close(text_lines *t);

#endif
