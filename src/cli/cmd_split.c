/* ptrag split: what a STATE split file selects from its data. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"

static const cli_opt opts[] = {
    {"--split", "FILE", "STATE split file (.toml)"},
    CLI_DATASET_OPTS,
    {"--json", NULL, "machine-readable output"},
};

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(f, "\\u%04x", *s);
        else fputc(*s, f);
    }
    fputc('"', f);
}

/* Perturbations used by the split that have no embedding vector. */
static int missing_feats(const ptrag_dataset *d, char *buf, size_t size) {
    int n = 0;
    size_t used = 0;
    buf[0] = '\0';
    if (d->onehot) return 0;
    for (int p = 0; p < d->n_perts; p++) {
        int used_by_split = 0;
        for (int c = 0; c < d->assign->n_conditions && !used_by_split; c++)
            used_by_split = d->assign->conditions[c].pert == p;
        if (!used_by_split || d->pert_has_feat[p]) continue;
        n++;
        if (used + strlen(d->pert_names[p]) + 3 < size) {
            int w = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", d->pert_names[p]);
            if (w > 0) used += (size_t)w;
        }
    }
    return n;
}

int cmd_split(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv, "ptrag split --split FILE.toml [column flags] [--embeddings FILE] [--json]",
                       "Reads a STATE split file and its data and reports, per split (train, val, test), the\n"
                       "number of conditions (cell type, perturbation) and cells, per cell type, and the\n"
                       "perturbations without an embedding vector. A [datasets] entry may be an .h5ad file,\n"
                       "a folder or a glob of .h5ad/.h5 files, and a split may list several datasets: their\n"
                       "files are read as one dataset (listed with their cells), cell types from each\n"
                       "file's --celltype-col (docs/scale.md).",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    const char *split = cli_get(&a, "--split", NULL);
    if (!split) return cli_usage_error("split", "--split FILE.toml is required");
    ptrag_dataset_opts o;
    if ((rc = cli_dataset_opts("split", &a, &o))) return rc;
    o.labels_only = 1;
    if (o.missing == PTRAG_MISSING_ERROR) o.missing = PTRAG_MISSING_ZERO; /* report, don't fail */
    ptrag_error err;
    ptrag_dataset *d;
    if (ptrag_dataset_load(split, &o, &d, &err)) return cli_report("split", &err);

    const ptrag_assignment *as = d->assign;
    char missing[2048];
    int n_missing = missing_feats(d, missing, sizeof missing);
    int json = cli_has(&a, "--json");
    if (json) {
        printf("{\"split_file\": ");
        json_str(stdout, split);
        printf(", \"data\": ");
        json_str(stdout, d->h5ad_path);
        printf(", \"files\": [");
        for (int k = 0; k < d->n_files; k++) {
            printf("%s{\"path\": ", k ? ", " : "");
            json_str(stdout, d->files[k]);
            printf(", \"n_cells\": %ld}", d->file_row0[k + 1] - d->file_row0[k]);
        }
        printf("], \"n_cells\": %ld, \"splits\": {", d->n_cells);
    } else {
        if (d->n_files == 1) {
            printf("split %s\ndata  %s (%ld cells)\n\n", split, d->h5ad_path, d->n_cells);
        } else {
            printf("split %s\ndata  %d files, %ld cells:\n", split, d->n_files, d->n_cells);
            for (int k = 0; k < d->n_files; k++)
                printf("      %s (%ld cells)\n", d->files[k], d->file_row0[k + 1] - d->file_row0[k]);
            printf("\n");
        }
        printf("%-8s %-20s %10s %8s %10s\n", "split", "cell type", "conditions", "cells", "controls");
    }
    for (int s = 0; s < PTRAG_SPLIT_COUNT; s++) {
        if (json)
            printf("%s\"%s\": {\"conditions\": %d, \"cells\": %ld, \"cell_types\": {", s ? ", " : "",
                   ptrag_split_name(s), as->n_conditions_split[s], as->n_cells_split[s]);
        int first = 1;
        for (int ct = 0; ct < d->n_ct; ct++) {
            int nc = 0;
            long cells = 0, ctrl = 0;
            for (int c = 0; c < as->n_conditions; c++) {
                const ptrag_condition *cd = &as->conditions[c];
                if (cd->ct != ct || !(cd->splits & (1u << s))) continue;
                if (cd->is_control) ctrl += cd->n_rows;
                else {
                    nc++;
                    cells += cd->n_rows;
                }
            }
            if (!nc && !ctrl) continue;
            if (json) {
                printf("%s", first ? "" : ", ");
                json_str(stdout, d->ct_names[ct]);
                printf(": {\"conditions\": %d, \"cells\": %ld, \"controls\": %ld}", nc, cells, ctrl);
            } else {
                printf("%-8s %-20s %10d %8ld %10ld\n", ptrag_split_name(s), d->ct_names[ct], nc, cells, ctrl);
            }
            first = 0;
        }
        if (json) printf("}}");
        else
            printf("%-8s %-20s %10d %8ld\n", ptrag_split_name(s), "(all)", as->n_conditions_split[s],
                   as->n_cells_split[s]);
    }
    if (json) {
        printf("}, \"perturbations_without_embedding\": %d, \"missing\": ", n_missing);
        json_str(stdout, missing);
        printf(", \"unused_cells\": %ld, \"unlabelled_cells\": %ld}\n", as->n_unused, as->n_missing);
    } else {
        printf("\nfeatures: %s\n", d->onehot ? "one-hot perturbation ids" : o.embeddings);
        if (n_missing) printf("problem: %d perturbation(s) without an embedding vector: %s\n", n_missing, missing);
        if (as->n_unused) printf("note: %ld cells belong to cell types the split does not use\n", as->n_unused);
        if (as->n_missing) printf("problem: %ld cells have a missing label\n", as->n_missing);
    }
    ptrag_dataset_free(d);
    return 0;
}
