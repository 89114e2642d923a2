/* Symbol resolution through an NCBI-style gene_info table: old symbols and
 * synonyms (SARS, SLMO2) to the vectors of current ones (SARS1, PRELID3B) and
 * back. Every name (official symbol or alias, ASCII case folded) is owned by
 * exactly one gene, so a query never picks a vector of an unrelated gene that
 * merely lists the same synonym: the gene whose official symbol it is owns a
 * name; otherwise, of the genes listing it as an alias, one whose official
 * symbol extends it (the usual rename: SARS -> SARS1, SRPR -> SRPRA; QARS is
 * also a synonym of EPRS1, which must not win); then the lowest NCBI Gene ID
 * (SARS -> SARS1 rather than SARS2), then the first in the file. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "data/gene_aliases.h"
#include "io/text_lines.h"

struct gene_aliases {
    long n_genes;
    char **official;    /* per gene, as written */
    long *entrez;       /* per gene (file order when the column is absent) */
    long *name_start;   /* n_genes + 1: CSR into name_id */
    long *name_id;      /* names of each gene (official first), as unique-name ids */
    long n_names;       /* unique uppercased names */
    char **names;       /* owned */
    long *owner;        /* per unique name: owning gene */
    int *owner_rank;    /* per unique name: 2 official symbol, 1 official extends it, 0 synonym */
    int *n_listing;     /* per unique name: genes listing it */
    strmap index;       /* uppercased name -> unique-name id */
    long cap_genes, cap_ids, cap_names;
};

void ptrag_gene_aliases_free(gene_aliases *a) {
    if (!a) return;
    for (long g = 0; g < a->n_genes; g++) free(a->official[g]);
    for (long i = 0; i < a->n_names; i++) free(a->names[i]);
    free(a->official);
    free(a->entrez);
    free(a->name_start);
    free(a->name_id);
    free(a->names);
    free(a->owner);
    free(a->owner_rank);
    free(a->n_listing);
    ptrag_strmap_free(&a->index);
    free(a);
}

static int grow(void **p, long *cap, long need, size_t elem) {
    if (need <= *cap) return 0;
    long ncap = *cap ? *cap : 1024;
    while (ncap < need) ncap *= 2;
    void *q = realloc(*p, (size_t)ncap * elem);
    if (!q) return -1;
    *p = q;
    *cap = ncap;
    return 0;
}

/* Unique-name id of an uppercased name (taking ownership of `upper`), or -1. */
static long intern(gene_aliases *a, char *upper) {
    long id = ptrag_strmap_get(&a->index, upper);
    if (id >= 0) {
        free(upper);
        return id;
    }
    long cap = a->cap_names;
    if (grow((void **)&a->names, &cap, a->n_names + 1, sizeof *a->names)) goto fail;
    cap = a->cap_names;
    if (grow((void **)&a->owner, &cap, a->n_names + 1, sizeof *a->owner)) goto fail;
    cap = a->cap_names;
    if (grow((void **)&a->owner_rank, &cap, a->n_names + 1, sizeof *a->owner_rank)) goto fail;
    if (grow((void **)&a->n_listing, &a->cap_names, a->n_names + 1, sizeof *a->n_listing)) goto fail;
    id = a->n_names;
    a->names[id] = upper;
    a->owner[id] = -1;
    a->owner_rank[id] = 0;
    a->n_listing[id] = 0;
    if (ptrag_strmap_put_first(&a->index, upper, id) == -2) goto fail;
    a->n_names++;
    return id;
fail:
    free(upper);
    return -1;
}

/* How strongly gene g claims an uppercased name (see the file comment). */
static int claim_rank(const gene_aliases *a, long g, const char *upper, int official) {
    if (official) return 2;
    const char *o = a->official[g];
    size_t i = 0;
    for (; upper[i]; i++)
        if (!o[i] || (o[i] >= 'a' && o[i] <= 'z' ? o[i] - 32 : o[i]) != upper[i]) return 0;
    return o[i] ? 1 : 0;
}

/* Adds one name of gene g (skipping a repeat within the same gene). */
static int add_name(gene_aliases *a, long g, const char *name, size_t len, int official) {
    char *u = malloc(len + 1);
    if (!u) return -1;
    for (size_t i = 0; i < len; i++) u[i] = (char)((name[i] >= 'a' && name[i] <= 'z') ? name[i] - 32 : name[i]);
    u[len] = '\0';
    long id = intern(a, u);
    if (id < 0) return -1;
    for (long i = a->name_start[g]; i < a->name_start[g + 1]; i++)
        if (a->name_id[i] == id) return 0;
    if (grow((void **)&a->name_id, &a->cap_ids, a->name_start[g + 1] + 1, sizeof *a->name_id)) return -1;
    a->name_id[a->name_start[g + 1]++] = id;
    a->n_listing[id]++;
    /* Highest claim wins; then the lowest Gene ID. */
    long o = a->owner[id];
    int rank = claim_rank(a, g, a->names[id], official);
    if (o < 0 || rank > a->owner_rank[id] || (rank == a->owner_rank[id] && a->entrez[g] < a->entrez[o])) {
        a->owner[id] = g;
        a->owner_rank[id] = rank;
    }
    return 0;
}

static long column_of(char **f, long n, const char *const *names) {
    for (long i = 0; i < n; i++)
        for (const char *const *p = names; *p; p++)
            if (strcmp(f[i], *p) == 0) return i;
    return -1;
}

static long split_tabs(char *s, char ***fields, long *cap) {
    long n = 0;
    for (;;) {
        if (grow((void **)fields, cap, n + 1, sizeof **fields)) return -1;
        (*fields)[n++] = s;
        char *t = strchr(s, '\t');
        if (!t) return n;
        *t = '\0';
        s = t + 1;
    }
}

int ptrag_gene_aliases_load(const char *path, gene_aliases **out, ptrag_error *err) {
    *out = NULL;
    if (!path) return ptrag_fail(err, PTRAG_E_ARG, "gene aliases: no file");
    text_lines tl;
    int rc = ptrag_text_lines_open(&tl, path, err);
    if (rc) return rc;
    gene_aliases *a = calloc(1, sizeof *a);
    char **f = NULL;
    long fcap = 0, c_sym = -1, c_alias = -1, c_id = -1, nf;
    if (!a || ptrag_strmap_init(&a->index, 1 << 17) != 0) goto nomem;
    size_t len;
    int got = ptrag_text_lines_next(&tl, &len, err);
    if (got < 0) {
        rc = got;
        goto fail;
    }
    if (got == 0) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: empty file (expected a gene_info header)", path);
        goto fail;
    }
    if ((nf = split_tabs(tl.buf[0] == '#' ? tl.buf + 1 : tl.buf, &f, &fcap)) < 0) goto nomem;
    static const char *const sym_names[] = {"symbol", "Symbol", NULL};
    static const char *const alias_names[] = {"aliases", "Synonyms", NULL};
    static const char *const id_names[] = {"entrez_id", "GeneID", NULL};
    c_sym = column_of(f, nf, sym_names);
    c_alias = column_of(f, nf, alias_names);
    c_id = column_of(f, nf, id_names);
    if (c_sym < 0 || c_alias < 0) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: no '%s' column (expected columns symbol and aliases, or NCBI's Symbol and Synonyms)",
                        path, c_sym < 0 ? "symbol" : "aliases");
        goto fail;
    }
    while ((got = ptrag_text_lines_next(&tl, &len, err)) > 0) {
        if (!len) continue;
        if ((nf = split_tabs(tl.buf, &f, &fcap)) < 0) goto nomem;
        if (nf <= c_sym || nf <= c_alias || (c_id >= 0 && nf <= c_id)) {
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld: %ld columns, fewer than the header's", path, tl.lineno, nf);
            goto fail;
        }
        if (!*f[c_sym]) continue;
        long g = a->n_genes, cap;
        cap = a->cap_genes;
        if (grow((void **)&a->official, &cap, g + 2, sizeof *a->official)) goto nomem;
        cap = a->cap_genes;
        if (grow((void **)&a->entrez, &cap, g + 2, sizeof *a->entrez)) goto nomem;
        if (grow((void **)&a->name_start, &a->cap_genes, g + 2, sizeof *a->name_start)) goto nomem;
        if (g == 0) a->name_start[0] = 0;
        a->name_start[g + 1] = a->name_start[g];
        a->official[g] = strdup(f[c_sym]);
        if (!a->official[g]) goto nomem;
        char *end;
        a->entrez[g] = c_id >= 0 ? strtol(f[c_id], &end, 10) : g;
        if (c_id >= 0 && (end == f[c_id] || *end)) {
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %ld: %s '%s' is not an integer", path, tl.lineno, "entrez_id", f[c_id]);
            a->n_genes++;
            goto fail;
        }
        a->n_genes++;
        if (add_name(a, g, f[c_sym], strlen(f[c_sym]), 1)) goto nomem;
        for (char *s = f[c_alias]; *s;) {
            size_t n = strcspn(s, "|");
            if (n && !(n == 1 && s[0] == '-') && add_name(a, g, s, n, 0)) goto nomem;
            s += n;
            if (*s) s++;
        }
    }
    if (got < 0) {
        rc = got;
        goto fail;
    }
    free(f);
    ptrag_text_lines_close(&tl);
    *out = a;
    return 0;
nomem:
    rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
fail:
    free(f);
    ptrag_text_lines_close(&tl);
    ptrag_gene_aliases_free(a);
    return rc;
}

long ptrag_gene_aliases_gene(const gene_aliases *a, const char *upper, int *n_candidates) {
    long id = ptrag_strmap_get(&a->index, upper);
    *n_candidates = id < 0 ? 0 : a->n_listing[id];
    return id < 0 ? -1 : a->owner[id];
}

const char *ptrag_gene_aliases_official(const gene_aliases *a, long g) { return a->official[g]; }

const char *ptrag_gene_aliases_owned_name(const gene_aliases *a, long g, long i) {
    for (long j = a->name_start[g]; j < a->name_start[g + 1]; j++) {
        long nid = a->name_id[j];
        if (a->owner[nid] != g) continue;
        if (i-- == 0) return a->names[nid];
    }
    return NULL;
}
