/* Feature vectors of perturbation labels: "A" is A's vector, "A+B" the sum of
 * both, the control label the zero vector. Genes without a vector are handled
 * by an explicit policy, never silently. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/embeddings_internal.h"
#include "data/pert_label.h"

int ptrag_missing_policy_parse(const char *text, ptrag_missing_policy *out, ptrag_error *err) {
    if (text && strcmp(text, "error") == 0) *out = PTRAG_MISSING_ERROR;
    else if (text && strcmp(text, "zero") == 0) *out = PTRAG_MISSING_ZERO;
    else if (text && strcmp(text, "drop") == 0) *out = PTRAG_MISSING_DROP;
    else return ptrag_fail(err, PTRAG_E_ARG, "--missing: expected error, zero or drop, got '%s'", text ? text : "(none)");
    return 0;
}

const char *ptrag_missing_policy_name(ptrag_missing_policy p) {
    switch (p) {
    case PTRAG_MISSING_ERROR: return "error";
    case PTRAG_MISSING_ZERO: return "zero";
    case PTRAG_MISSING_DROP: return "drop";
    default: return "?";
    }
}

/* Distinct missing names, first-seen order. */
typedef struct missing_list {
    char **names;
    long n, cap;
    strmap seen;
} missing_list;

static int missing_add(missing_list *m, const char *name) {
    if (ptrag_strmap_get(&m->seen, name) >= 0) return 0;
    if (m->n == m->cap) {
        long ncap = m->cap ? m->cap * 2 : 16;
        char **p = realloc(m->names, (size_t)ncap * sizeof *p);
        if (!p) return -1;
        m->names = p;
        m->cap = ncap;
    }
    char *c = strdup(name);
    if (!c) return -1;
    m->names[m->n] = c;
    if (ptrag_strmap_put_first(&m->seen, c, m->n) == -2) {
        free(c);
        return -1;
    }
    m->n++;
    return 0;
}

static void missing_free(missing_list *m) {
    for (long i = 0; i < m->n; i++) free(m->names[i]);
    free(m->names);
    ptrag_strmap_free(&m->seen);
}

/* Comma-separated names into buf; ", ..." when they do not all fit. */
static void missing_format(const missing_list *m, char *buf, size_t size) {
    if (!size) return;
    buf[0] = '\0';
    size_t used = 0;
    for (long i = 0; i < m->n; i++) {
        const char *sep = i ? ", " : "";
        size_t need = strlen(m->names[i]) + strlen(sep);
        size_t reserve = i + 1 < m->n ? 5 : 0; /* room for ", ..." */
        if (used + need + reserve + 1 > size) {
            if (used + 5 + 1 <= size) snprintf(buf + used, size - used, "%s...", sep);
            return;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, m->names[i]);
    }
}

/* Fills one label's vector (if out != NULL); adds its missing genes. 1 = some
 * gene missing, 0 = complete, <0 = error. */
static int embed_one(const ptrag_embeddings *e, const char *label, const char *control, float *out,
                     missing_list *m, ptrag_error *err) {
    int dim = e->dim;
    if (out) memset(out, 0, (size_t)dim * sizeof *out);
    if (!label || !*label) return ptrag_fail(err, PTRAG_E_ARG, "%s: empty perturbation label", e->source);
    if (control && strcmp(label, control) == 0) return 0;
    char *copy;
    char **parts;
    long n;
    if (ptrag_label_parts(label, &copy, &parts, &n) != 0) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    int rc = 0;
    for (long i = 0; i < n && rc >= 0; i++) {
        if (!*parts[i]) {
            rc = ptrag_fail(err, PTRAG_E_ARG, "%s: perturbation label '%s' has an empty gene name", e->source, label);
            break;
        }
        if (control && strcmp(parts[i], control) == 0) continue;
        long row = ptrag_embeddings_lookup(e, parts[i]);
        if (row < 0) {
            if (missing_add(m, parts[i]) != 0) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
            else rc = 1;
            continue;
        }
        if (out) {
            const float *v = e->data + (size_t)row * (size_t)dim;
            for (int j = 0; j < dim; j++) out[j] += v[j];
        }
    }
    free(copy);
    free(parts);
    return rc;
}

int ptrag_embed_perturbations(const ptrag_embeddings *e, const char *const *labels, long n,
                              const char *control_label, ptrag_missing_policy policy, float *out, int *missing,
                              ptrag_error *err) {
    if (!e || (n > 0 && (!labels || !out)) || n < 0)
        return ptrag_fail(err, PTRAG_E_ARG, "embed perturbations: missing embeddings, labels or output");
    if (policy == PTRAG_MISSING_DROP && !missing)
        return ptrag_fail(err, PTRAG_E_ARG, "embed perturbations: the drop policy needs a missing[] array");
    if (policy != PTRAG_MISSING_ERROR && policy != PTRAG_MISSING_ZERO && policy != PTRAG_MISSING_DROP)
        return ptrag_fail(err, PTRAG_E_ARG, "embed perturbations: unknown missing-gene policy %d", (int)policy);
    missing_list m = {0};
    if (ptrag_strmap_init(&m.seen, 64) != 0) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    int rc = 0;
    size_t dim = (size_t)e->dim;
    for (long i = 0; i < n; i++) {
        float *row = out + (size_t)i * dim;
        int r = embed_one(e, labels[i], control_label, row, &m, err);
        if (r < 0) {
            rc = r;
            break;
        }
        if (missing) missing[i] = r;
        if (r && policy == PTRAG_MISSING_DROP) memset(row, 0, dim * sizeof *row);
    }
    if (!rc && m.n && policy == PTRAG_MISSING_ERROR) {
        char list[PTRAG_ERROR_MSG_MAX];
        missing_format(&m, list, sizeof list - 200);
        rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: no vector for %ld gene%s: %s",
                        e->source, m.n, m.n == 1 ? "" : "s", list);
    }
    missing_free(&m);
    return rc;
}

long ptrag_perturbations_missing_genes(const ptrag_embeddings *e, const char *const *labels, long n,
                                       const char *control_label, char *buf, size_t size) {
    if (buf && size) buf[0] = '\0';
    if (!e || n < 0 || (n > 0 && !labels)) return PTRAG_E_ARG;
    missing_list m = {0};
    if (ptrag_strmap_init(&m.seen, 64) != 0) return PTRAG_E_NOMEM;
    long rc = 0;
    for (long i = 0; i < n; i++) {
        int r = embed_one(e, labels[i], control_label, NULL, &m, NULL);
        if (r < 0) {
            rc = r;
            break;
        }
    }
    if (!rc) {
        rc = m.n;
        if (buf) missing_format(&m, buf, size);
    }
    missing_free(&m);
    return rc;
}
