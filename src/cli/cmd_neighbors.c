/* ptrag neighbors: the nearest genes of one or more genes (or "A+B" labels) by
 * cosine similarity of their embedding vectors - stage-1 retrieval by hand. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/pert_label.h"

static const char *CMD = "neighbors";

/* Splits a comma-separated list in place (empty items skipped). */
static int split_commas(char *s, char ***items, long *n) {
    long cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    *items = malloc((size_t)cap * sizeof **items);
    if (!*items) return -1;
    *n = 0;
    for (char *tok = s;;) {
        char *comma = strchr(tok, ',');
        if (comma) *comma = '\0';
        while (*tok == ' ') tok++;
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ') tok[--len] = '\0';
        if (*tok) (*items)[(*n)++] = tok;
        if (!comma) break;
        tok = comma + 1;
    }
    return 0;
}

static void json_string(const char *s) {
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static const char *match_name(ptrag_match_kind k) {
    switch (k) {
    case PTRAG_MATCH_EXACT: return "exact";
    case PTRAG_MATCH_CASE: return "case-insensitive";
    case PTRAG_MATCH_ALIAS: return "alias";
    default: return "none";
    }
}

/* Rows of the genes of one label ("A+B"); appended to rows[]. */
static long label_rows(const ptrag_embeddings *e, const char *label, long *rows, long max) {
    char *copy, **parts;
    long nparts, n = 0;
    if (ptrag_label_parts(label, &copy, &parts, &nparts)) return 0;
    for (long i = 0; i < nparts; i++) {
        long r = *parts[i] ? ptrag_embeddings_lookup(e, parts[i]) : -1;
        if (r >= 0 && n < max) rows[n++] = r;
    }
    free(copy);
    free(parts);
    return n;
}

int cmd_neighbors(int argc, char **argv) {
    static const cli_opt opts[] = {
        {"--embeddings", "FILE", "GenePT pickle or gene<TAB>v1..vd table (.gz allowed)"},
        {"--gene", "LIST", "query genes, comma-separated; A+B sums the genes' vectors"},
        {"--k", "N", "neighbours per query (default 10)"},
        {"--exclude", "LIST", "genes never returned, comma-separated"},
        {"--include-self", NULL, "do not exclude the query's own genes"},
        {"--aliases", "FILE", "NCBI gene_info table to resolve old symbols (e.g. SARS -> SARS1)"},
        {"--json", NULL, "print JSON instead of a table"},
    };
    cli_args a;
    int done;
    int code = cli_parse(argc, argv,
                         "ptrag neighbors --embeddings FILE --gene SYMBOL[,SYMBOL...] [--k 10] [--exclude SYM,...] "
                         "[--aliases gene_info.tsv.gz] [--json]",
                         "Lists the genes whose embedding vectors are most similar (cosine) to each query gene. "
                         "The query's own genes are excluded unless --include-self is given.",
                         opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return code;
    if (a.npos) return cli_usage_error(CMD, "unexpected argument '%s'", a.pos[0]);
    const char *path = cli_get(&a, "--embeddings", NULL);
    const char *genes = cli_get(&a, "--gene", NULL);
    if (!path || !genes) return cli_usage_error(CMD, "--embeddings and --gene are required (see --help)");
    long k;
    if (cli_get_long(&a, "--k", 10, 1, 100000, &k) != 0) return 2;
    int json = cli_has(&a, "--json"), include_self = cli_has(&a, "--include-self");

    ptrag_error err;
    ptrag_error_clear(&err);
    ptrag_embeddings *e = NULL;
    ptrag_knn_index *ix = NULL;
    char *gene_buf = strdup(genes), *excl_buf = strdup(cli_get(&a, "--exclude", ""));
    char **labels = NULL, **excl = NULL;
    long nlab = 0, nexcl = 0;
    float *vec = NULL, *sim = NULL;
    long *idx = NULL, *off = NULL, *ind = NULL, *row_key_start = NULL, *row_keys = NULL, *self_rows = NULL;
    int rc = 1;
    if (!gene_buf || !excl_buf || split_commas(gene_buf, &labels, &nlab) != 0 || split_commas(excl_buf, &excl, &nexcl) != 0) {
        fprintf(stderr, "ptrag %s: out of memory\n", CMD);
        goto out;
    }
    if (!nlab) {
        rc = cli_usage_error(CMD, "--gene lists no gene");
        goto out;
    }
    if (ptrag_embeddings_load(path, &e, &err) != 0) goto fail;
    const char *aliases = cli_get(&a, "--aliases", NULL);
    if (aliases && ptrag_embeddings_load_aliases(e, aliases, &err) != 0) goto fail;
    int dim = ptrag_embeddings_dim(e);
    long nrows = ptrag_embeddings_n_rows(e), nkeys = ptrag_embeddings_n_keys(e);

    vec = malloc((size_t)nlab * (size_t)dim * sizeof *vec);
    if (!vec) goto nomem;
    if (ptrag_embed_perturbations(e, (const char *const *)labels, nlab, NULL, PTRAG_MISSING_ERROR, vec, NULL, &err) != 0)
        goto fail;

    /* Exclusions: the query's own genes (unless --include-self) and --exclude. */
    long *excl_rows = malloc((size_t)(nexcl ? nexcl : 1) * sizeof *excl_rows);
    if (!excl_rows) goto nomem;
    for (long i = 0; i < nexcl; i++) {
        excl_rows[i] = ptrag_embeddings_lookup(e, excl[i]);
        if (excl_rows[i] < 0) {
            ptrag_fail(&err, PTRAG_E_NOTFOUND, "%s: --exclude gene '%s' has no vector", path, excl[i]);
            free(excl_rows);
            goto fail;
        }
    }
    long max_self = 64;
    self_rows = malloc((size_t)max_self * sizeof *self_rows);
    off = malloc((size_t)(nlab + 1) * sizeof *off);
    ind = malloc((size_t)nlab * (size_t)(max_self + nexcl + 1) * sizeof *ind);
    if (!self_rows || !off || !ind) {
        free(excl_rows);
        goto nomem;
    }
    off[0] = 0;
    for (long q = 0; q < nlab; q++) {
        long t = off[q];
        if (!include_self) {
            long ns = label_rows(e, labels[q], self_rows, max_self);
            for (long i = 0; i < ns; i++) ind[t++] = self_rows[i];
        }
        for (long i = 0; i < nexcl; i++) ind[t++] = excl_rows[i];
        off[q + 1] = t;
    }
    free(excl_rows);

    if (ptrag_knn_build(ptrag_embeddings_data(e), nrows, dim, &ix, &err) != 0) goto fail;
    idx = malloc((size_t)nlab * (size_t)k * sizeof *idx);
    sim = malloc((size_t)nlab * (size_t)k * sizeof *sim);
    if (!idx || !sim) goto nomem;
    if (ptrag_knn_search(ix, vec, nlab, (int)k, off, ind, NULL, 0, idx, sim, &err) != 0) goto fail;

    /* All keys of each row (aliases sharing a vector), for display. */
    row_key_start = calloc((size_t)nrows + 1, sizeof *row_key_start);
    row_keys = malloc((size_t)nkeys * sizeof *row_keys);
    if (!row_key_start || !row_keys) goto nomem;
    for (long i = 0; i < nkeys; i++) row_key_start[ptrag_embeddings_key_row(e, i) + 1]++;
    for (long r = 0; r < nrows; r++) row_key_start[r + 1] += row_key_start[r];
    {
        long *fill = calloc((size_t)nrows, sizeof *fill);
        if (!fill) goto nomem;
        for (long i = 0; i < nkeys; i++) {
            long r = ptrag_embeddings_key_row(e, i);
            row_keys[row_key_start[r] + fill[r]++] = i;
        }
        free(fill);
    }

    if (json) {
        printf("{\"embeddings\": ");
        json_string(path);
        printf(", \"dim\": %d, \"rows\": %ld, \"keys\": %ld, \"k\": %ld, \"queries\": [", dim, nrows, nkeys, k);
    } else {
        printf("# %s: %ld keys, %ld distinct vectors, %d dimensions\n", path, nkeys, nrows, dim);
    }
    for (long q = 0; q < nlab; q++) {
        /* How each gene of the label was resolved. */
        char *copy, **parts;
        long nparts;
        if (ptrag_label_parts(labels[q], &copy, &parts, &nparts)) goto nomem;
        if (json) {
            printf("%s\n  {\"query\": ", q ? "," : "");
            json_string(labels[q]);
            printf(", \"genes\": [");
        } else {
            printf("\n%s", labels[q]);
        }
        int first = 1;
        for (long i = 0; i < nparts; i++) {
            const char *tok = parts[i];
            ptrag_lookup_info info;
            long r = ptrag_embeddings_resolve(e, tok, &info);
            const char *key = ptrag_embeddings_key(e, info.key);
            if (json) {
                printf("%s{\"symbol\": ", first ? "" : ", ");
                json_string(tok);
                printf(", \"key\": ");
                json_string(key ? key : "");
                printf(", \"match\": \"%s\", \"row\": %ld}", match_name(info.kind), r);
            } else {
                printf("%s%s -> %s (%s, row %ld)", first ? "  [" : "; ", tok, key ? key : "?", match_name(info.kind), r);
                if (info.kind == PTRAG_MATCH_ALIAS && info.n_candidates > 1)
                    fprintf(stderr, "ptrag %s: note: '%s' is listed by %d genes in %s; resolved to '%s'\n", CMD, tok,
                            info.n_candidates, aliases, key);
            }
            first = 0;
        }
        free(copy);
        free(parts);
        if (json) printf("], \"neighbors\": [");
        else printf("]\n  %-5s %-20s %s\n", "rank", "gene", "cosine");
        int shown = 0;
        for (long j = 0; j < k; j++) {
            long r = idx[q * k + j];
            if (r < 0) break;
            const char *name = ptrag_embeddings_row_name(e, r);
            if (json) {
                printf("%s{\"rank\": %ld, \"gene\": ", shown ? ", " : "", j + 1);
                json_string(name);
                printf(", \"row\": %ld, \"cosine\": %.6f, \"keys\": [", r, (double)sim[q * k + j]);
                for (long t = row_key_start[r]; t < row_key_start[r + 1]; t++) {
                    if (t > row_key_start[r]) printf(", ");
                    json_string(ptrag_embeddings_key(e, row_keys[t]));
                }
                printf("]}");
            } else {
                printf("  %-5ld %-20s %.6f", j + 1, name, (double)sim[q * k + j]);
                if (row_key_start[r + 1] - row_key_start[r] > 1) {
                    printf("  (also:");
                    for (long t = row_key_start[r] + 1; t < row_key_start[r + 1]; t++)
                        printf(" %s", ptrag_embeddings_key(e, row_keys[t]));
                    printf(")");
                }
                printf("\n");
            }
            shown++;
        }
        if (json) printf("]}");
        else if (shown < k) printf("  (only %d candidates after exclusions)\n", shown);
    }
    if (json) printf("\n]}\n");
    rc = 0;
    goto out;
nomem:
    ptrag_fail(&err, PTRAG_E_NOMEM, "out of memory");
fail:
    rc = cli_report(CMD, &err);
out:
    ptrag_knn_free(ix);
    ptrag_embeddings_free(e);
    free(gene_buf);
    free(excl_buf);
    free(labels);
    free(excl);
    free(vec);
    free(idx);
    free(sim);
    free(off);
    free(ind);
    free(self_rows);
    free(row_key_start);
    free(row_keys);
    return rc;
}
