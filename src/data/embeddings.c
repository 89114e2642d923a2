/* Gene embeddings: loading, accessors, exact and case-insensitive lookup,
 * dimension checks and merging. See include/ptrag/embeddings.h. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/embeddings_internal.h"
#include "io/vector_set.h"

char *ptrag_upper_dup(const char *s) {
    char *u = strdup(s);
    if (u)
        for (char *p = u; *p; p++) *p = (char)toupper((unsigned char)*p);
    return u;
}

void ptrag_embeddings_free(ptrag_embeddings *e) {
    if (!e) return;
    for (long i = 0; i < e->n_keys; i++) {
        free(e->keys ? e->keys[i] : NULL);
        free(e->upper_keys ? e->upper_keys[i] : NULL);
    }
    free(e->keys);
    free(e->upper_keys);
    free(e->key_row);
    free(e->row_key);
    free(e->data);
    free(e->source);
    ptrag_strmap_free(&e->exact);
    ptrag_strmap_free(&e->upper);
    ptrag_gene_aliases_free(e->aliases);
    free(e);
}

/* Takes ownership of a reader's vector set and builds the lookup maps. */
static int from_vector_set(const char *source, ptrag_vector_set *vs, ptrag_embeddings **out, ptrag_error *err) {
    *out = NULL;
    ptrag_embeddings *e = calloc(1, sizeof *e);
    if (!e) {
        ptrag_vector_set_free(vs);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", source);
    }
    e->data = vs->data;
    e->n_rows = vs->n_rows;
    e->dim = vs->dim;
    e->keys = vs->keys;
    e->key_row = vs->key_row;
    e->n_keys = vs->n_keys;
    memset(vs, 0, sizeof *vs);
    e->source = strdup(source);
    e->row_key = malloc((size_t)(e->n_rows ? e->n_rows : 1) * sizeof *e->row_key);
    e->upper_keys = calloc((size_t)(e->n_keys ? e->n_keys : 1), sizeof *e->upper_keys);
    if (!e->source || !e->row_key || !e->upper_keys || ptrag_strmap_init(&e->exact, (size_t)e->n_keys) != 0 ||
        ptrag_strmap_init(&e->upper, (size_t)e->n_keys) != 0)
        goto nomem;
    for (long r = 0; r < e->n_rows; r++) e->row_key[r] = -1;
    for (long i = 0; i < e->n_keys; i++) {
        long r = e->key_row[i];
        if (e->row_key[r] < 0) e->row_key[r] = i;
        e->upper_keys[i] = ptrag_upper_dup(e->keys[i]);
        if (!e->upper_keys[i]) goto nomem;
        if (ptrag_strmap_put_first(&e->exact, e->keys[i], i) == -2 || ptrag_strmap_put_first(&e->upper, e->upper_keys[i], i) == -2)
            goto nomem;
    }
    *out = e;
    return 0;
nomem:
    ptrag_embeddings_free(e);
    return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", source);
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int ptrag_embeddings_load(const char *path, ptrag_embeddings **out, ptrag_error *err) {
    *out = NULL;
    if (!path || !*path) return ptrag_fail(err, PTRAG_E_ARG, "embeddings: no file given");
    ptrag_vector_set vs;
    int as_pickle = ptrag_file_looks_like_pickle(path) || has_suffix(path, ".pkl") || has_suffix(path, ".pickle") ||
                    has_suffix(path, ".pkl.gz") || has_suffix(path, ".pickle.gz");
    int rc = as_pickle ? ptrag_pickle_read_vectors(path, &vs, err) : ptrag_table_read_vectors(path, &vs, err);
    if (rc) return rc;
    return from_vector_set(path, &vs, out, err);
}

int ptrag_embeddings_create(const char *name, const char *const *keys, const float *rows, long n, int dim,
                            ptrag_embeddings **out, ptrag_error *err) {
    *out = NULL;
    if (!name) name = "embeddings";
    if (n < 1 || dim < 1 || !keys || !rows)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: need at least one row and one dimension", name);
    ptrag_vector_set vs;
    memset(&vs, 0, sizeof vs);
    vs.data = malloc((size_t)n * (size_t)dim * sizeof *vs.data);
    vs.keys = calloc((size_t)n, sizeof *vs.keys);
    vs.key_row = malloc((size_t)n * sizeof *vs.key_row);
    vs.n_rows = n;
    vs.dim = dim;
    vs.n_keys = n;
    strmap seen = {0};
    int rc = 0;
    if (!vs.data || !vs.keys || !vs.key_row || ptrag_strmap_init(&seen, (size_t)n) != 0) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
        goto fail;
    }
    memcpy(vs.data, rows, (size_t)n * (size_t)dim * sizeof *vs.data);
    for (long i = 0; i < n; i++) {
        if (!keys[i] || !*keys[i]) {
            rc = ptrag_fail(err, PTRAG_E_ARG, "%s: row %ld: empty key", name, i);
            goto fail;
        }
        vs.keys[i] = strdup(keys[i]);
        vs.key_row[i] = i;
        if (!vs.keys[i] || ptrag_strmap_put_first(&seen, vs.keys[i], i) == -2) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", name);
            goto fail;
        }
        if (ptrag_strmap_get(&seen, vs.keys[i]) != i) {
            rc = ptrag_fail(err, PTRAG_E_ARG, "%s: key '%s' appears twice", name, keys[i]);
            goto fail;
        }
        for (int j = 0; j < dim; j++)
            if (!isfinite(rows[(size_t)i * (size_t)dim + (size_t)j])) {
                rc = ptrag_fail(err, PTRAG_E_NUMERIC, "%s: key '%s': value %d is not finite", name, keys[i], j);
                goto fail;
            }
    }
    ptrag_strmap_free(&seen);
    return from_vector_set(name, &vs, out, err);
fail:
    ptrag_strmap_free(&seen);
    ptrag_vector_set_free(&vs);
    return rc;
}

int ptrag_embeddings_dim(const ptrag_embeddings *e) { return e ? e->dim : 0; }
long ptrag_embeddings_n_rows(const ptrag_embeddings *e) { return e ? e->n_rows : 0; }
long ptrag_embeddings_n_keys(const ptrag_embeddings *e) { return e ? e->n_keys : 0; }
const char *ptrag_embeddings_source(const ptrag_embeddings *e) { return e ? e->source : NULL; }
const float *ptrag_embeddings_data(const ptrag_embeddings *e) { return e ? e->data : NULL; }

const float *ptrag_embeddings_row(const ptrag_embeddings *e, long row) {
    if (!e || row < 0 || row >= e->n_rows) return NULL;
    return e->data + (size_t)row * (size_t)e->dim;
}

const char *ptrag_embeddings_key(const ptrag_embeddings *e, long key) {
    return e && key >= 0 && key < e->n_keys ? e->keys[key] : NULL;
}

long ptrag_embeddings_key_row(const ptrag_embeddings *e, long key) {
    return e && key >= 0 && key < e->n_keys ? e->key_row[key] : -1;
}

const char *ptrag_embeddings_row_name(const ptrag_embeddings *e, long row) {
    if (!e || row < 0 || row >= e->n_rows) return NULL;
    return e->keys[e->row_key[row]];
}

long ptrag_embeddings_find_key(const ptrag_embeddings *e, const char *symbol, ptrag_match_kind *kind) {
    long k = ptrag_strmap_get(&e->exact, symbol);
    if (k >= 0) {
        *kind = PTRAG_MATCH_EXACT;
        return k;
    }
    char *u = ptrag_upper_dup(symbol);
    k = u ? ptrag_strmap_get(&e->upper, u) : -1;
    free(u);
    *kind = k >= 0 ? PTRAG_MATCH_CASE : PTRAG_MATCH_NONE;
    return k;
}

int ptrag_embeddings_load_aliases(ptrag_embeddings *e, const char *path, ptrag_error *err) {
    if (!e) return ptrag_fail(err, PTRAG_E_ARG, "gene aliases: no embeddings");
    gene_aliases *a;
    int rc = ptrag_gene_aliases_load(path, &a, err);
    if (rc) return rc;
    ptrag_gene_aliases_free(e->aliases);
    e->aliases = a;
    return 0;
}

/* Key index reached through the alias table, or -1: the owning gene's
 * official symbol if it has a vector, else the first other name it owns. */
static long resolve_alias(const ptrag_embeddings *e, const char *symbol, int *n_candidates) {
    *n_candidates = 0;
    char *u = ptrag_upper_dup(symbol);
    long g = u ? ptrag_gene_aliases_gene(e->aliases, u, n_candidates) : -1;
    free(u);
    if (g < 0) return -1;
    ptrag_match_kind kind;
    long k = ptrag_embeddings_find_key(e, ptrag_gene_aliases_official(e->aliases, g), &kind);
    for (long i = 0; k < 0; i++) {
        const char *name = ptrag_gene_aliases_owned_name(e->aliases, g, i);
        if (!name) break;
        k = ptrag_strmap_get(&e->upper, name);
    }
    return k;
}

long ptrag_embeddings_resolve(const ptrag_embeddings *e, const char *symbol, ptrag_lookup_info *info) {
    ptrag_lookup_info local;
    if (!info) info = &local;
    info->kind = PTRAG_MATCH_NONE;
    info->key = -1;
    info->n_candidates = 0;
    if (!e || !symbol || !*symbol) return -1;
    long k = ptrag_embeddings_find_key(e, symbol, &info->kind);
    if (k < 0 && e->aliases) {
        k = resolve_alias(e, symbol, &info->n_candidates);
        if (k >= 0) info->kind = PTRAG_MATCH_ALIAS;
    }
    info->key = k;
    return k >= 0 ? e->key_row[k] : -1;
}

long ptrag_embeddings_lookup(const ptrag_embeddings *e, const char *symbol) {
    return ptrag_embeddings_resolve(e, symbol, NULL);
}

int ptrag_embeddings_require_dim(const ptrag_embeddings *e, int dim, ptrag_error *err) {
    if (!e) return ptrag_fail(err, PTRAG_E_ARG, "embeddings: none loaded");
    if (e->dim != dim)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: vectors have %d dimensions, expected %d", e->source, e->dim, dim);
    return 0;
}

int ptrag_embeddings_merge(const ptrag_embeddings *primary, const ptrag_embeddings *fallback, ptrag_embeddings **out,
                           ptrag_error *err) {
    *out = NULL;
    if (!primary || !fallback) return ptrag_fail(err, PTRAG_E_ARG, "embeddings merge: two embeddings are needed");
    if (primary->dim != fallback->dim)
        return ptrag_fail(err, PTRAG_E_FORMAT, "cannot merge %s (%d dimensions) with %s (%d dimensions): dimension mismatch",
                          primary->source, primary->dim, fallback->source, fallback->dim);
    size_t dim = (size_t)primary->dim;
    long max_keys = primary->n_keys + fallback->n_keys, max_rows = primary->n_rows + fallback->n_rows;
    ptrag_vector_set vs;
    memset(&vs, 0, sizeof vs);
    vs.dim = primary->dim;
    vs.data = malloc((size_t)max_rows * dim * sizeof *vs.data);
    vs.keys = calloc((size_t)max_keys, sizeof *vs.keys);
    vs.key_row = malloc((size_t)max_keys * sizeof *vs.key_row);
    long *fb_row = malloc((size_t)fallback->n_rows * sizeof *fb_row);
    size_t name_len = strlen(primary->source) + strlen(fallback->source) + 2;
    char *name = malloc(name_len);
    int rc = 0;
    if (!vs.data || !vs.keys || !vs.key_row || !fb_row || !name) goto nomem;
    snprintf(name, name_len, "%s+%s", primary->source, fallback->source);
    memcpy(vs.data, primary->data, (size_t)primary->n_rows * dim * sizeof *vs.data);
    vs.n_rows = primary->n_rows;
    for (long i = 0; i < primary->n_keys; i++) {
        vs.keys[vs.n_keys] = strdup(primary->keys[i]);
        vs.key_row[vs.n_keys++] = primary->key_row[i];
        if (!vs.keys[vs.n_keys - 1]) goto nomem;
    }
    for (long r = 0; r < fallback->n_rows; r++) fb_row[r] = -1;
    for (long i = 0; i < fallback->n_keys; i++) {
        if (ptrag_strmap_get(&primary->exact, fallback->keys[i]) >= 0) continue;
        long r = fallback->key_row[i];
        if (fb_row[r] < 0) {
            fb_row[r] = vs.n_rows;
            memcpy(vs.data + (size_t)vs.n_rows * dim, fallback->data + (size_t)r * dim, dim * sizeof *vs.data);
            vs.n_rows++;
        }
        vs.keys[vs.n_keys] = strdup(fallback->keys[i]);
        vs.key_row[vs.n_keys++] = fb_row[r];
        if (!vs.keys[vs.n_keys - 1]) goto nomem;
    }
    free(fb_row);
    rc = from_vector_set(name, &vs, out, err);
    free(name);
    return rc;
nomem:
    free(fb_row);
    ptrag_vector_set_free(&vs);
    rc = ptrag_fail(err, PTRAG_E_NOMEM, "embeddings merge: out of memory");
    free(name);
    return rc;
}
