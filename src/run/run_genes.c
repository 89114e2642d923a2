/* genes.txt of a run: the expression columns it was trained on, one per line,
 * written by train and checked by predict against the data it is given. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/fsutil.h"
#include "ptrag/run_dir.h"
#include "run_internal.h"

/* genes.txt: the expression columns a run was trained on, one per line. */
int ptrag_run_write_genes(const char *run_dir, const ptrag_dataset *d, ptrag_error *err) {
    size_t len = 0;
    for (long j = 0; j < d->n_genes; j++) len += strlen(d->gene_names[j]) + 1;
    char *text = malloc(len + 1), *p = text;
    if (!text) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    for (long j = 0; j < d->n_genes; j++) p += sprintf(p, "%s\n", d->gene_names[j]);
    char path[4096];
    int rc = ptrag_run_path(run_dir, "genes.txt", path, sizeof path, err);
    if (!rc) rc = ptrag_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

int ptrag_run_check_genes(const char *run_dir, const ptrag_dataset *d, ptrag_error *err) {
    char path[4096];
    int rc = ptrag_run_path(run_dir, "genes.txt", path, sizeof path, err);
    if (rc || !ptrag_path_exists(path)) return rc;
    char *text;
    if ((rc = ptrag_read_file(path, &text, NULL, err))) return rc;
    long j = 0;
    for (char *line = strtok(text, "\n"); line && !rc; line = strtok(NULL, "\n"), j++)
        if (j >= d->n_genes || strcmp(line, d->gene_names[j]) != 0)
            rc = ptrag_fail(err, PTRAG_E_STATE,
                            "%s: the run was trained on other genes than %s provides (gene %ld: run '%s', data '%s')",
                            path, d->h5ad_path, j + 1, line, j < d->n_genes ? d->gene_names[j] : "(none)");
    if (!rc && j != d->n_genes)
        rc = ptrag_fail(err, PTRAG_E_STATE, "%s: the run was trained on %ld genes, the data has %ld", path, j,
                        d->n_genes);
    free(text);
    return rc;
}
