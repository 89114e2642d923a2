/* Writes Python pickles byte by byte for the embedding tests, so the pickle
 * reader can be tested without Python: the GenePT layouts (lists of floats,
 * numpy arrays as numpy pickles them with protocols 2, 4 and 5) and hostile
 * streams (disallowed globals, truncation, bad opcodes). */
#ifndef PTRAG_TESTS_PICKLE_WRITER_H
#define PTRAG_TESTS_PICKLE_WRITER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pw {
    unsigned char *b;
    size_t n, cap;
    long memo; /* entries stored with MEMOIZE so far */
} pw;

static void pw_bytes(pw *w, const void *p, size_t n) {
    if (!n) return;
    if (w->n + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->n + n) cap *= 2;
        w->b = realloc(w->b, cap);
        if (!w->b) abort();
        w->cap = cap;
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static void pw_op(pw *w, int op) {
    unsigned char c = (unsigned char)op;
    pw_bytes(w, &c, 1);
}

static void pw_le(pw *w, uint64_t v, int n) {
    for (int i = 0; i < n; i++) pw_op(w, (int)((v >> (8 * i)) & 0xff));
}

static long pw_memoize(pw *w) {
    pw_op(w, 0x94);
    return w->memo++;
}

static void pw_get(pw *w, long idx) {
    if (idx < 256) {
        pw_op(w, 'h');
        pw_le(w, (uint64_t)idx, 1);
    } else {
        pw_op(w, 'j');
        pw_le(w, (uint64_t)idx, 4);
    }
}

static void pw_proto(pw *w, int v) {
    pw_op(w, 0x80);
    pw_op(w, v);
}

static void pw_str(pw *w, const char *s) {
    size_t n = strlen(s);
    if (n < 256) {
        pw_op(w, 0x8c);
        pw_le(w, n, 1);
    } else {
        pw_op(w, 'X');
        pw_le(w, n, 4);
    }
    pw_bytes(w, s, n);
}

static void pw_binint(pw *w, int32_t v) {
    pw_op(w, 'J');
    pw_le(w, (uint32_t)v, 4);
}

static void pw_float(pw *w, double x) {
    uint64_t u;
    memcpy(&u, &x, 8);
    pw_op(w, 'G');
    for (int i = 7; i >= 0; i--) pw_op(w, (int)((u >> (8 * i)) & 0xff));
}

static void pw_binbytes(pw *w, const void *p, size_t n) {
    pw_op(w, 'B');
    pw_le(w, n, 4);
    pw_bytes(w, p, n);
}

/* Raw float data as numpy stores it: little-endian unless big. */
static unsigned char *pw_raw(const double *v, size_t n, int f4, int big, size_t *len) {
    int size = f4 ? 4 : 8;
    unsigned char *raw = malloc(n * (size_t)size + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        if (f4) {
            float f = (float)v[i];
            uint32_t u32;
            memcpy(&u32, &f, 4);
            u = u32;
        } else {
            memcpy(&u, &v[i], 8);
        }
        for (int b = 0; b < size; b++)
            raw[i * (size_t)size + (size_t)(big ? size - 1 - b : b)] = (unsigned char)((u >> (8 * b)) & 0xff);
    }
    *len = n * (size_t)size;
    return raw;
}

static void pw_list_of_floats(pw *w, const double *v, size_t n) {
    pw_op(w, ']');
    pw_memoize(w);
    pw_op(w, '(');
    for (size_t i = 0; i < n; i++) pw_float(w, v[i]);
    pw_op(w, 'e');
}

/* numpy.dtype('f8'/'f4') with byte order: REDUCE then BUILD as numpy does. */
static void pw_dtype(pw *w, int f4, int big, int protocol2) {
    if (protocol2) {
        pw_op(w, 'c');
        pw_bytes(w, "numpy\ndtype\n", 12);
    } else {
        pw_str(w, "numpy");
        pw_str(w, "dtype");
        pw_op(w, 0x93);
    }
    pw_str(w, f4 ? "f4" : "f8");
    pw_op(w, 0x89);
    pw_op(w, 0x88);
    pw_op(w, 0x87);
    pw_op(w, 'R');
    pw_op(w, '(');
    pw_op(w, 'K');
    pw_op(w, 3);
    pw_str(w, big ? ">" : "<");
    pw_op(w, 'N');
    pw_op(w, 'N');
    pw_op(w, 'N');
    pw_binint(w, -1);
    pw_binint(w, -1);
    pw_op(w, 'K');
    pw_op(w, 0);
    pw_op(w, 't');
    pw_op(w, 'b');
}

/* _codecs.encode(latin-1 text, 'latin1'): how protocol 2 pickles bytes. */
static void pw_bytes_protocol2(pw *w, const unsigned char *raw, size_t len) {
    pw_op(w, 'c');
    pw_bytes(w, "_codecs\nencode\n", 15);
    pw_op(w, 'X');
    size_t ulen = 0;
    for (size_t i = 0; i < len; i++) ulen += raw[i] < 0x80 ? 1 : 2;
    pw_le(w, ulen, 4);
    for (size_t i = 0; i < len; i++) {
        if (raw[i] < 0x80) pw_op(w, raw[i]);
        else {
            pw_op(w, 0xC0 | (raw[i] >> 6));
            pw_op(w, 0x80 | (raw[i] & 0x3F));
        }
    }
    pw_str(w, "latin1");
    pw_op(w, 0x86);
    pw_op(w, 'R');
}

/* A 1-D array the way numpy pickles it with protocols 2-4:
 * _reconstruct(ndarray, (0,), b'b') then BUILD((1, (n,), dtype, False, raw)). */
static void pw_ndarray(pw *w, const double *v, size_t n, int f4, int big, int protocol2) {
    if (protocol2) {
        pw_op(w, 'c');
        pw_bytes(w, "numpy.core.multiarray\n_reconstruct\n", 35);
        pw_op(w, 'c');
        pw_bytes(w, "numpy\nndarray\n", 14);
    } else {
        pw_str(w, "numpy.core.multiarray");
        pw_str(w, "_reconstruct");
        pw_op(w, 0x93);
        pw_str(w, "numpy");
        pw_str(w, "ndarray");
        pw_op(w, 0x93);
    }
    pw_op(w, 'K');
    pw_op(w, 0);
    pw_op(w, 0x85);
    if (protocol2) {
        unsigned char b = 'b';
        pw_bytes_protocol2(w, &b, 1);
    } else {
        pw_op(w, 'C');
        pw_op(w, 1);
        pw_op(w, 'b');
    }
    pw_op(w, 0x87);
    pw_op(w, 'R');
    pw_op(w, '(');
    pw_op(w, 'K');
    pw_op(w, 1);
    pw_binint(w, (int32_t)n);
    pw_op(w, 0x85);
    pw_dtype(w, f4, big, protocol2);
    pw_op(w, 0x89);
    size_t len;
    unsigned char *raw = pw_raw(v, n, f4, big, &len);
    if (protocol2) pw_bytes_protocol2(w, raw, len);
    else pw_binbytes(w, raw, len);
    free(raw);
    pw_op(w, 't');
    pw_op(w, 'b');
}

/* Protocol 5: numpy.core.numeric._frombuffer(bytearray, dtype, shape, 'C'). */
static void pw_ndarray_p5(pw *w, const double *v, size_t n, int f4) {
    pw_str(w, "numpy.core.numeric");
    pw_str(w, "_frombuffer");
    pw_op(w, 0x93);
    pw_op(w, '(');
    size_t len;
    unsigned char *raw = pw_raw(v, n, f4, 0, &len);
    pw_op(w, 0x96);
    pw_le(w, len, 8);
    pw_bytes(w, raw, len);
    free(raw);
    pw_dtype(w, f4, 0, 0);
    pw_binint(w, (int32_t)n);
    pw_op(w, 0x85);
    pw_str(w, "C");
    pw_op(w, 't');
    pw_op(w, 'R');
}

static int pw_save(const pw *w, const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = w->n ? fwrite(w->b, 1, w->n, f) : 0;
    return (fclose(f) == 0 && put == w->n) ? 0 : -1;
}

static void pw_free(pw *w) {
    free(w->b);
    memset(w, 0, sizeof *w);
}

#endif
