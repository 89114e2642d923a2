/* A small byte buffer for the opaque "training state" a checkpoint carries
 * (RNG states, sampler cursors, best validation loss, ...): values are
 * appended and read back in the same order, little-endian, so the bytes are
 * the same on every host.
 *
 *   ptrag_blob b; ptrag_blob_init(&b);
 *   ptrag_blob_put_u64(&b, rng.s[0]); ... ptrag_blob_put_f64(&b, best_val);
 *   if (b.failed) -> out of memory;  save b.data / b.len;  ptrag_blob_free(&b);
 *
 *   ptrag_blob r; ptrag_blob_view(&r, data, len);
 *   uint64_t s0; ptrag_blob_get_u64(&r, &s0); ...   (-> PTRAG_E_FORMAT when short)
 */
#ifndef PTRAG_BLOB_H
#define PTRAG_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include "ptrag/error.h"

typedef struct ptrag_blob {
    unsigned char *data;
    size_t len;  /* bytes written (or viewed) */
    size_t cap;  /* 0 for a view: the bytes are not owned */
    size_t pos;  /* read cursor */
    int failed;  /* an append ran out of memory; the blob is then unusable */
} ptrag_blob;

void ptrag_blob_init(ptrag_blob *b);
/* Reads `len` bytes the caller keeps alive; ptrag_blob_free is a no-op on it. */
void ptrag_blob_view(ptrag_blob *b, const void *data, size_t len);
void ptrag_blob_free(ptrag_blob *b);

/* Appends; return 0 or PTRAG_E_NOMEM (and set b->failed). */
int ptrag_blob_put_bytes(ptrag_blob *b, const void *p, size_t n);
int ptrag_blob_put_u64(ptrag_blob *b, uint64_t x);
int ptrag_blob_put_i64(ptrag_blob *b, int64_t x);
int ptrag_blob_put_f64(ptrag_blob *b, double x); /* bit-exact, NaN included */

/* Reads the next value; PTRAG_E_FORMAT "training state: ..." when fewer bytes
 * remain than asked for. */
int ptrag_blob_get_bytes(ptrag_blob *b, void *p, size_t n, ptrag_error *err);
int ptrag_blob_get_u64(ptrag_blob *b, uint64_t *x, ptrag_error *err);
int ptrag_blob_get_i64(ptrag_blob *b, int64_t *x, ptrag_error *err);
int ptrag_blob_get_f64(ptrag_blob *b, double *x, ptrag_error *err);

#endif
