/* Append-only byte buffer with ordered little-endian reads: see include/ptrag/blob.h. */
#include "ptrag/blob.h"

#include <stdlib.h>
#include <string.h>

void ptrag_blob_init(ptrag_blob *b) { memset(b, 0, sizeof *b); }

void ptrag_blob_view(ptrag_blob *b, const void *data, size_t len) {
    memset(b, 0, sizeof *b);
    b->data = (unsigned char *)(uintptr_t)data; /* read-only use: cap 0 marks "not owned" */
    b->len = len;
}

void ptrag_blob_free(ptrag_blob *b) {
    if (b->cap) free(b->data);
    memset(b, 0, sizeof *b);
}

int ptrag_blob_put_bytes(ptrag_blob *b, const void *p, size_t n) {
    if (b->failed || (b->cap == 0 && b->data)) {
        b->failed = 1; /* a view cannot grow */
        return PTRAG_E_NOMEM;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        unsigned char *nd = realloc(b->data, cap);
        if (!nd) {
            b->failed = 1;
            return PTRAG_E_NOMEM;
        }
        b->data = nd;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int ptrag_blob_put_u64(ptrag_blob *b, uint64_t x) {
    unsigned char le[8];
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(x >> (8 * i));
    return ptrag_blob_put_bytes(b, le, 8);
}

int ptrag_blob_put_i64(ptrag_blob *b, int64_t x) { return ptrag_blob_put_u64(b, (uint64_t)x); }

int ptrag_blob_put_f64(ptrag_blob *b, double x) {
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    return ptrag_blob_put_u64(b, bits);
}

int ptrag_blob_get_bytes(ptrag_blob *b, void *p, size_t n, ptrag_error *err) {
    if (b->len - b->pos < n)
        return ptrag_fail(err, PTRAG_E_FORMAT,
                          "training state: needs %zu more bytes at offset %zu, has %zu", n, b->pos,
                          b->len - b->pos);
    if (n) memcpy(p, b->data + b->pos, n);
    b->pos += n;
    return 0;
}

int ptrag_blob_get_u64(ptrag_blob *b, uint64_t *x, ptrag_error *err) {
    unsigned char le[8];
    int rc = ptrag_blob_get_bytes(b, le, 8, err);
    if (rc) return rc;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)le[i] << (8 * i);
    *x = v;
    return 0;
}

int ptrag_blob_get_i64(ptrag_blob *b, int64_t *x, ptrag_error *err) {
    uint64_t u;
    int rc = ptrag_blob_get_u64(b, &u, err);
    if (!rc) *x = (int64_t)u;
    return rc;
}

int ptrag_blob_get_f64(ptrag_blob *b, double *x, ptrag_error *err) {
    uint64_t u;
    int rc = ptrag_blob_get_u64(b, &u, err);
    if (!rc) memcpy(x, &u, sizeof *x);
    return rc;
}
