/* A small open-addressing hash map from C strings to long values, used for
 * gene symbol lookups. Keys are not copied: they must outlive the map. */
#ifndef PTRAG_DATA_STRMAP_H
#define PTRAG_DATA_STRMAP_H

#include <stddef.h>

typedef struct strmap {
    const char **keys; /* NULL = empty slot */
    long *values;
    size_t cap;        /* power of two */
    size_t n;
} strmap;

/* Prepares an empty map with room for about `expected` keys; 0 or -1 (no memory). */
int ptrag_strmap_init(strmap *m, size_t expected);
void ptrag_strmap_free(strmap *m);
/* Value of `key`, or -1 when absent. */
long ptrag_strmap_get(const strmap *m, const char *key);
/* Inserts key -> value unless the key exists. Returns the value now stored for
 * the key (the existing one if it was present), or -2 when out of memory. */
long ptrag_strmap_put_first(strmap *m, const char *key, long value);
/* 64-bit FNV-1a hash of a string. */
unsigned long long ptrag_strmap_hash(const char *s);

#endif
