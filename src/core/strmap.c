/* String -> long hash map with linear probing: see strmap.h. */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

unsigned long long ptrag_strmap_hash(const char *s) {
    unsigned long long h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

int ptrag_strmap_init(strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 1) cap <<= 1;
    m->keys = calloc(cap, sizeof *m->keys);
    m->values = malloc(cap * sizeof *m->values);
    m->cap = cap;
    m->n = 0;
    if (!m->keys || !m->values) {
        ptrag_strmap_free(m);
        return -1;
    }
    return 0;
}

void ptrag_strmap_free(strmap *m) {
    if (!m) return;
    free(m->keys);
    free(m->values);
    m->keys = NULL;
    m->values = NULL;
    m->cap = m->n = 0;
}

static size_t find_slot(const char **keys, size_t cap, const char *key) {
    size_t i = (size_t)ptrag_strmap_hash(key) & (cap - 1);
    while (keys[i] && strcmp(keys[i], key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

long ptrag_strmap_get(const strmap *m, const char *key) {
    if (!m->cap) return -1;
    size_t i = find_slot(m->keys, m->cap, key);
    return m->keys[i] ? m->values[i] : -1;
}

static int grow(strmap *m) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    const char **keys = calloc(cap, sizeof *keys);
    long *values = malloc(cap * sizeof *values);
    if (!keys || !values) {
        free(keys);
        free(values);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = find_slot(keys, cap, m->keys[i]);
        keys[j] = m->keys[i];
        values[j] = m->values[i];
    }
    free(m->keys);
    free(m->values);
    m->keys = keys;
    m->values = values;
    m->cap = cap;
    return 0;
}

long ptrag_strmap_put_first(strmap *m, const char *key, long value) {
    if ((m->n + 1) * 2 > m->cap && grow(m) != 0) return -2;
    size_t i = find_slot(m->keys, m->cap, key);
    if (m->keys[i]) return m->values[i];
    m->keys[i] = key;
    m->values[i] = value;
    m->n++;
    return value;
}
