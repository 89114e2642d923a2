/* Loading a split's data: see include/ptrag/dataset.h. */
#include "ptrag/dataset.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/h5ad.h"
#include "ptrag/preprocess.h"

#define BLOCK_ROWS 1024

void ptrag_dataset_opts_default(ptrag_dataset_opts *o) {
    memset(o, 0, sizeof *o);
    o->pert_col = "gene";
    o->control = "non-targeting";
    o->celltype_col = "cell_type";
    o->batch_col = "gem_group";
    o->x_source = "X";
    o->normalize = -1;
    o->missing = PTRAG_MISSING_ERROR;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *c = malloc(n);
    if (c) memcpy(c, s, n);
    return c;
}

static void free_names(char **names, long n) {
    if (!names) return;
    for (long i = 0; i < n; i++) free(names[i]);
    free(names);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Codes and names of an obs column of any type: categorical and string
 * columns as they are; numeric ones factorised by sorted distinct value. */
static int column_codes(const ptrag_column *col, const char *path, int32_t **codes, char ***names, int *n_names,
                        ptrag_error *err) {
    long n = col->n;
    *codes = malloc((size_t)(n ? n : 1) * sizeof **codes);
    if (!*codes) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    if (col->codes) {
        memcpy(*codes, col->codes, (size_t)n * sizeof **codes);
        *names = calloc((size_t)(col->n_categories ? col->n_categories : 1), sizeof **names);
        if (!*names) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        for (int i = 0; i < col->n_categories; i++)
            if (!((*names)[i] = dup_str(col->categories[i])))
                return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        *n_names = col->n_categories;
        return 0;
    }
    /* Numeric: distinct finite values, sorted. */
    double *vals = malloc((size_t)(n ? n : 1) * sizeof *vals);
    if (!vals) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    long m = 0;
    for (long i = 0; i < n; i++)
        if (isfinite(col->values[i])) vals[m++] = col->values[i];
    qsort(vals, (size_t)m, sizeof *vals, cmp_double);
    long u = 0;
    for (long i = 0; i < m; i++)
        if (u == 0 || vals[i] != vals[u - 1]) vals[u++] = vals[i];
    *names = calloc((size_t)(u ? u : 1), sizeof **names);
    if (!*names) {
        free(vals);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    for (long i = 0; i < u; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.17g", vals[i]);
        (*names)[i] = dup_str(buf);
    }
    for (long i = 0; i < n; i++) {
        double v = col->values[i];
        if (!isfinite(v)) {
            (*codes)[i] = -1;
            continue;
        }
        long lo = 0, hi = u - 1;
        while (lo < hi) {
            long mid = (lo + hi) / 2;
            if (vals[mid] < v) lo = mid + 1;
            else hi = mid;
        }
        (*codes)[i] = (int32_t)lo;
    }
    *n_names = (int)u;
    free(vals);
    return 0;
}

static int read_labels(ptrag_h5ad *h, const char *name, int32_t **codes, char ***names, int *n_names,
                       ptrag_error *err) {
    ptrag_column col;
    memset(&col, 0, sizeof col);
    int rc = ptrag_h5ad_read_obs(h, name, &col, err);
    if (rc) return rc;
    rc = column_codes(&col, ptrag_h5ad_path(h), codes, names, n_names, err);
    ptrag_column_free(&col);
    return rc;
}

/* The first few category names, for error messages. */
static void list_names(char **names, int n, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used + 1 < size; i++) {
        int w = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0) break;
        used += (size_t)w;
        if (i == 7 && n > 8) {
            snprintf(buf + (used < size ? used : size - 1), size - (used < size ? used : size - 1),
                     ", ... (%d in all)", n);
            break;
        }
    }
}

static int load_features(ptrag_dataset *d, const ptrag_dataset_opts *o, ptrag_error *err) {
    d->pert_has_feat = calloc((size_t)d->n_perts + 1, 1);
    if (!d->pert_has_feat) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    if (!o->embeddings) {
        d->onehot = 1;
        d->feat_dim = d->n_perts;
        memset(d->pert_has_feat, 1, (size_t)d->n_perts);
        return 0;
    }
    ptrag_embeddings *e = NULL;
    int rc = ptrag_embeddings_load(o->embeddings, &e, err);
    if (rc) return rc;
    if (o->aliases && (rc = ptrag_embeddings_load_aliases(e, o->aliases, err))) goto done;
    d->feat_dim = ptrag_embeddings_dim(e);
    /* Only perturbations the split uses need a vector. */
    unsigned char *used = calloc((size_t)d->n_perts + 1, 1);
    const char **labels = calloc((size_t)d->n_perts + 1, sizeof *labels);
    int *missing = calloc((size_t)d->n_perts + 1, sizeof *missing);
    d->pert_feat = calloc((size_t)d->n_perts * (size_t)d->feat_dim + 1, sizeof *d->pert_feat);
    if (!used || !labels || !missing || !d->pert_feat) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        goto done_buf;
    }
    for (int c = 0; c < d->assign->n_conditions; c++) used[d->assign->conditions[c].pert] = 1;
    int n_used = 0;
    int *which = calloc((size_t)d->n_perts + 1, sizeof *which);
    if (!which) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        goto done_buf;
    }
    for (int p = 0; p < d->n_perts; p++)
        if (used[p]) {
            which[n_used] = p;
            labels[n_used++] = d->pert_names[p];
        }
    float *tmp = calloc((size_t)n_used * (size_t)d->feat_dim + 1, sizeof *tmp);
    if (!tmp) {
        free(which);
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        goto done_buf;
    }
    rc = ptrag_embed_perturbations(e, labels, n_used, o->control, o->missing, tmp, missing, err);
    if (rc) {
        ptrag_error_prefix(err, "%s: perturbations of obs/%s", o->embeddings, o->pert_col);
    } else {
        unsigned char *keep = malloc((size_t)d->n_perts + 1);
        if (!keep) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        } else {
            memset(keep, 1, (size_t)d->n_perts + 1);
            size_t used_chars = 0;
            for (int i = 0; i < n_used; i++) {
                int p = which[i];
                memcpy(d->pert_feat + (size_t)p * d->feat_dim, tmp + (size_t)i * d->feat_dim,
                       (size_t)d->feat_dim * sizeof *tmp);
                d->pert_has_feat[p] = !missing[i] || o->missing == PTRAG_MISSING_ZERO;
                if (missing[i] && o->missing == PTRAG_MISSING_DROP && p != d->control_code) {
                    keep[p] = 0;
                    d->n_dropped_perts++;
                    if (used_chars + strlen(d->pert_names[p]) + 3 < sizeof d->dropped) {
                        int w = snprintf(d->dropped + used_chars, sizeof d->dropped - used_chars, "%s%s",
                                         used_chars ? ", " : "", d->pert_names[p]);
                        if (w > 0) used_chars += (size_t)w;
                    }
                }
            }
            d->pert_has_feat[d->control_code] = 1;
            if (d->n_dropped_perts) ptrag_assignment_keep_perts(d->assign, keep);
            free(keep);
        }
    }
    free(tmp);
    free(which);
done_buf:
    free(used);
    free(labels);
    free(missing);
done:
    ptrag_embeddings_free(e);
    return rc;
}

/* Bytes of memory the kernel says are available (MemAvailable), or -1.
 * PTRAG_MEM_AVAILABLE=BYTES stands in for it (tests, or a tighter budget). */
static double mem_available(void) {
    const char *forced = getenv("PTRAG_MEM_AVAILABLE");
    if (forced && *forced) return strtod(forced, NULL);
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024.0;
}

/* One data file of the split, rows [row0, row0 + n) of the concatenation. */
typedef struct data_file {
    ptrag_h5ad *h;
    int ds; /* index into spec->datasets */
    long row0, n;
} data_file;

/* Decides whether to normalise: raw counts in a sample of rows. */
static int detect_counts(ptrag_h5ad *h, int *is_counts, ptrag_error *err) {
    long n_obs = ptrag_h5ad_n_obs(h), n_vars = ptrag_h5ad_n_vars(h);
    long rows[256];
    long n = ptrag_sample_rows(n_obs, 256, rows);
    float *x = malloc((size_t)(n ? n : 1) * (size_t)n_vars * sizeof *x);
    if (!x) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", ptrag_h5ad_path(h));
    int rc = ptrag_h5ad_read_rows(h, rows, n, NULL, n_vars, x, err);
    if (!rc) {
        long bad_row, bad_col;
        *is_counts = ptrag_looks_like_counts(x, n, n_vars, &bad_row, &bad_col);
    }
    free(x);
    return rc;
}

static int select_hvg(const data_file *files, int nf, long n_top, long **genes, ptrag_error *err) {
    long n_vars = ptrag_h5ad_n_vars(files[0].h);
    if (n_top >= n_vars) return 0;
    ptrag_hvg *hv = NULL;
    float *blk = malloc((size_t)BLOCK_ROWS * (size_t)n_vars * sizeof *blk);
    *genes = malloc((size_t)n_top * sizeof **genes);
    int rc = (!blk || !*genes) ? ptrag_fail(err, PTRAG_E_NOMEM, "out of memory") : 0;
    if (!rc) rc = ptrag_hvg_new(n_vars, &hv, err);
    /* Two streamed passes over every file: moments, then clipped variances against the trend. */
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (int k = 0; k < nf && !rc; k++)
            for (long r0 = 0; r0 < files[k].n && !rc; r0 += BLOCK_ROWS) {
                long nr = files[k].n - r0 < BLOCK_ROWS ? files[k].n - r0 : BLOCK_ROWS;
                rc = ptrag_h5ad_read_block(files[k].h, r0, nr, blk, err);
                if (!rc) rc = ptrag_hvg_add_block(hv, blk, nr, err);
            }
        if (!rc && pass == 0) rc = ptrag_hvg_next_pass(hv, err);
    }
    if (!rc) rc = ptrag_hvg_finish(hv, n_top, *genes, err);
    ptrag_hvg_free(hv);
    free(blk);
    return rc;
}

/* Streams file f's rows that the split uses into d->x. */
static int load_file_rows(ptrag_dataset *d, const data_file *f, const long *genes, float *blk,
                          const ptrag_dataset_opts *o, ptrag_error *err) {
    ptrag_h5ad *h = f->h;
    const char *path = ptrag_h5ad_path(h);
    long n_vars = ptrag_h5ad_n_vars(h);
    int rc = 0;
    /* Normalise whole rows (library size over all genes) before keeping the selected columns. */
    for (long r0 = 0; r0 < f->n && !rc; r0 += BLOCK_ROWS) {
        long nr = f->n - r0 < BLOCK_ROWS ? f->n - r0 : BLOCK_ROWS;
        const long *slots = d->row_slot + f->row0 + r0;
        int any = 0;
        for (long i = 0; i < nr && !any; i++) any = slots[i] >= 0;
        if (!any) continue;
        rc = ptrag_h5ad_read_block(h, r0, nr, blk, err);
        if (!rc && d->normalized && (rc = ptrag_normalize_log1p(blk, nr, n_vars, 1e4, err)))
            ptrag_error_prefix(err, "%s: %s, cells %ld..%ld (row numbers below count from %ld)", path,
                               o->x_source ? o->x_source : "X", r0, r0 + nr - 1, r0);
        for (long i = 0; i < nr && !rc; i++) {
            long slot = slots[i];
            if (slot < 0) continue;
            const float *src = blk + (size_t)i * n_vars;
            float *dst = d->x + (size_t)slot * d->n_genes;
            if (genes)
                for (long j = 0; j < d->n_genes; j++) dst[j] = src[genes[j]];
            else
                memcpy(dst, src, (size_t)n_vars * sizeof *dst);
            for (long j = 0; j < d->n_genes && !rc; j++)
                if (!isfinite(dst[j])) {
                    long col = genes ? genes[j] : j;
                    rc = ptrag_fail(err, PTRAG_E_NUMERIC,
                                    "%s: %s: expression value %g (not finite) in cell %ld ('%s'), gene '%s'", path,
                                    o->x_source ? o->x_source : "X", (double)dst[j], r0 + i,
                                    ptrag_h5ad_obs_name(h, r0 + i), ptrag_h5ad_var_name(h, col));
                }
        }
    }
    return rc;
}

static int load_expression(ptrag_dataset *d, const data_file *files, int nf, const ptrag_dataset_opts *o,
                           ptrag_error *err) {
    long n_obs = d->n_cells, n_vars = ptrag_h5ad_n_vars(files[0].h);
    int rc = 0, is_counts = 0;
    /* Every file must be on the same scale: one decision for the whole split. */
    for (int k = 0; k < nf && o->normalize != 0 && !rc; k++) {
        int c = 0;
        rc = detect_counts(files[k].h, &c, err);
        if (!rc && k == 0) is_counts = c;
        if (!rc && k > 0 && c != is_counts && o->normalize < 0)
            rc = ptrag_fail(err, PTRAG_E_FORMAT,
                            "%s: %s looks like %s but %s looks like %s: the files of a split must be on one "
                            "scale (or pass --no-normalize)",
                            ptrag_h5ad_path(files[k].h), o->x_source ? o->x_source : "X",
                            c ? "raw counts" : "normalised values", ptrag_h5ad_path(files[0].h),
                            is_counts ? "raw counts" : "normalised values");
    }
    if (rc) return rc;
    d->normalized = o->normalize == 1 || (o->normalize < 0 && is_counts);

    long *genes = NULL; /* NULL: all columns */
    if (o->hvg > 0 && (rc = select_hvg(files, nf, o->hvg, &genes, err))) {
        free(genes);
        return rc;
    }
    d->n_genes = genes ? o->hvg : n_vars;
    d->gene_names = calloc((size_t)d->n_genes + 1, sizeof *d->gene_names);
    if (!d->gene_names) {
        free(genes);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    }
    for (long j = 0; j < d->n_genes; j++)
        d->gene_names[j] = dup_str(ptrag_h5ad_var_name(files[0].h, genes ? genes[j] : j));

    /* Resident rows: every cell of a used condition (controls included). */
    d->row_slot = malloc((size_t)(n_obs ? n_obs : 1) * sizeof *d->row_slot);
    if (!d->row_slot) {
        free(genes);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    }
    for (long i = 0; i < n_obs; i++) d->row_slot[i] = -1;
    for (int c = 0; c < d->assign->n_conditions; c++) {
        const ptrag_condition *cd = &d->assign->conditions[c];
        for (long k = 0; k < cd->n_rows; k++) d->row_slot[cd->rows[k]] = 0;
    }
    d->n_resident = 0;
    for (long i = 0; i < n_obs; i++)
        if (d->row_slot[i] == 0) d->row_slot[i] = d->n_resident++;
        else d->row_slot[i] = -1;
    size_t need = (size_t)(d->n_resident ? d->n_resident : 1) * (size_t)d->n_genes * sizeof *d->x;
    /* Stop before streaming anything when the resident cells cannot fit
     * (PTRAG_MEM_CHECK=0 skips the check, e.g. with swap; PTRAG_MEM_AVAILABLE=BYTES sets the budget). */
    const char *chk = getenv("PTRAG_MEM_CHECK");
    double avail = chk && strcmp(chk, "0") == 0 ? -1 : mem_available();
    if (avail > 0 && (double)need > avail) {
        free(genes);
        return ptrag_fail(err, PTRAG_E_NOMEM,
                          "%s: the split keeps %ld cells x %ld genes resident as float32: %.2f GB, but only %.2f GB "
                          "of memory is available; use fewer genes (--hvg N, or --x obsm/X_hvg) or a split with "
                          "fewer cells (PTRAG_MEM_CHECK=0 skips this check)",
                          d->split_path, d->n_resident, d->n_genes, (double)need / 1e9, avail / 1e9);
    }
    d->x = malloc(need);
    float *blk = malloc((size_t)BLOCK_ROWS * (size_t)n_vars * sizeof *blk);
    if (!d->x || !blk) {
        free(genes);
        free(blk);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory for %ld cells x %ld genes (%.2f GB resident)",
                          d->h5ad_path, d->n_resident, d->n_genes, (double)need / 1e9);
    }
    for (int k = 0; k < nf && !rc; k++) rc = load_file_rows(d, &files[k], genes, blk, o, err);
    free(blk);
    free(genes);
    return rc;
}

/* The files of the split (or the caller's open source), opened in spec order. */
static int open_files(ptrag_dataset *d, const ptrag_dataset_opts *o, data_file **out, int *nf, ptrag_error *err) {
    const ptrag_split_spec *spec = d->spec;
    int n = 0;
    for (int i = 0; i < spec->n_datasets; i++) n += spec->datasets[i].n_files;
    if (o->source && n != 1)
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED,
                          "%s: [datasets]: an in-memory source stands for one file, but the split names %d files",
                          d->split_path, n);
    data_file *f = calloc((size_t)n, sizeof *f);
    d->files = calloc((size_t)n, sizeof *d->files);
    d->file_row0 = calloc((size_t)n + 1, sizeof *d->file_row0);
    if (!f || !d->files || !d->file_row0) {
        free(f);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    }
    *out = f;
    int rc = 0;
    long row0 = 0;
    for (int i = 0, k = 0; i < spec->n_datasets && !rc; i++)
        for (int j = 0; j < spec->datasets[i].n_files && !rc; j++, k++) {
            f[k].ds = i;
            if (o->source) {
                f[k].h = o->source;
            } else if ((rc = ptrag_h5ad_open(spec->datasets[i].files[j], o->x_source, &f[k].h, err))) {
                break;
            }
            *nf = k + 1;
            d->files[k] = dup_str(ptrag_h5ad_path(f[k].h));
            f[k].row0 = row0;
            f[k].n = ptrag_h5ad_n_obs(f[k].h);
            row0 += f[k].n;
            d->file_row0[k] = f[k].row0;
            d->n_files = k + 1;
        }
    d->file_row0[d->n_files] = row0;
    d->n_cells = row0;
    return rc;
}

/* The files must have the same expression columns, in the same order. */
static int check_same_genes(const data_file *files, int nf, const char *x_source, ptrag_error *err) {
    const char *src = x_source ? x_source : "X";
    ptrag_h5ad *h0 = files[0].h;
    long n0 = ptrag_h5ad_n_vars(h0);
    for (int k = 1; k < nf; k++) {
        ptrag_h5ad *h = files[k].h;
        long n = ptrag_h5ad_n_vars(h);
        if (n != n0)
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: %s has %ld genes but %s has %ld: the files of a split must have the same "
                              "genes in the same order",
                              ptrag_h5ad_path(h), src, n, ptrag_h5ad_path(h0), n0);
        for (long j = 0; j < n; j++)
            if (strcmp(ptrag_h5ad_var_name(h, j), ptrag_h5ad_var_name(h0, j)) != 0)
                return ptrag_fail(err, PTRAG_E_FORMAT,
                                  "%s: %s gene %ld is '%s' but in %s it is '%s': the files of a split must have "
                                  "the same genes in the same order",
                                  ptrag_h5ad_path(h), src, j + 1, ptrag_h5ad_var_name(h, j), ptrag_h5ad_path(h0),
                                  ptrag_h5ad_var_name(h0, j));
    }
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* An obs column's codes over every file, labels merged by name. One file:
 * its own categories, unchanged. Several: the sorted union of their names.
 * first_file (may be NULL): per merged name, the first file that holds it. */
static int merged_labels(const data_file *files, int nf, long n_cells, const char *col, int32_t **codes,
                         char ***names, int *n_names, int **first_file, ptrag_error *err) {
    if (nf == 1) {
        int rc = read_labels(files[0].h, col, codes, names, n_names, err);
        if (!rc && first_file) {
            *first_file = calloc((size_t)*n_names + 1, sizeof **first_file);
            if (!*first_file) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        }
        return rc;
    }
    int32_t **lc = calloc((size_t)nf, sizeof *lc);
    char ***ln = calloc((size_t)nf, sizeof *ln);
    int *lnn = calloc((size_t)nf, sizeof *lnn);
    int rc = (!lc || !ln || !lnn) ? ptrag_fail(err, PTRAG_E_NOMEM, "out of memory") : 0;
    long total = 0;
    for (int k = 0; k < nf && !rc; k++) {
        rc = read_labels(files[k].h, col, &lc[k], &ln[k], &lnn[k], err);
        total += lnn[k];
    }
    const char **all = NULL;
    if (!rc && !(all = malloc((size_t)(total ? total : 1) * sizeof *all)))
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    int u = 0;
    if (!rc) {
        long m = 0;
        for (int k = 0; k < nf; k++)
            for (int i = 0; i < lnn[k]; i++) all[m++] = ln[k][i];
        qsort(all, (size_t)m, sizeof *all, cmp_str_ptr);
        for (long i = 0; i < m; i++)
            if (u == 0 || strcmp(all[u - 1], all[i]) != 0) all[u++] = all[i];
        *names = calloc((size_t)u + 1, sizeof **names);
        *codes = malloc((size_t)(n_cells ? n_cells : 1) * sizeof **codes);
        if (first_file) *first_file = malloc((size_t)(u + 1) * sizeof **first_file);
        if (!*names || !*codes || (first_file && !*first_file)) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        for (int i = 0; i < u && !rc; i++) {
            if (!((*names)[i] = dup_str(all[i]))) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
            if (first_file) (*first_file)[i] = -1;
        }
        *n_names = u;
    }
    for (int k = 0; k < nf && !rc; k++) {
        int32_t *map = malloc((size_t)(lnn[k] + 1) * sizeof *map);
        if (!map) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
            break;
        }
        for (int i = 0; i < lnn[k]; i++) {
            const char *key = ln[k][i];
            const char **hit = bsearch(&key, all, (size_t)u, sizeof *all, cmp_str_ptr);
            map[i] = (int32_t)(hit - all);
            if (first_file && (*first_file)[map[i]] < 0) (*first_file)[map[i]] = k;
        }
        for (long r = 0; r < files[k].n; r++) {
            int32_t c = lc[k][r];
            (*codes)[files[k].row0 + r] = c >= 0 && c < lnn[k] ? map[c] : -1;
        }
        free(map);
    }
    free(all);
    for (int k = 0; k < nf; k++) {
        if (lc) free(lc[k]);
        if (ln) free_names(ln[k], lnn ? lnn[k] : 0);
    }
    free(lc);
    free(ln);
    free(lnn);
    return rc;
}

/* With several datasets: the dataset of each cell type; a name held by files of
 * two datasets is an error (cell-load keeps them apart, ptrag's labels cannot). */
static int celltype_datasets(ptrag_dataset *d, const data_file *files, int nf, const int *first_file,
                             int **ct_dataset, ptrag_error *err) {
    *ct_dataset = malloc((size_t)(d->n_ct + 1) * sizeof **ct_dataset);
    if (!*ct_dataset) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    for (int c = 0; c < d->n_ct; c++) (*ct_dataset)[c] = first_file[c] >= 0 ? files[first_file[c]].ds : 0;
    for (int k = 0; k < nf; k++)
        for (long r = 0; r < files[k].n; r++) {
            int32_t c = d->ct_code[files[k].row0 + r];
            if (c < 0 || (*ct_dataset)[c] == files[k].ds) continue;
            int j = first_file[c];
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: obs/%s: cell type '%s' is in dataset '%s' (%s) and in dataset '%s' (%s): "
                              "a cell type must belong to one [datasets] entry",
                              d->split_path, d->celltype_col, d->ct_names[c], d->spec->datasets[files[j].ds].name,
                              d->files[j], d->spec->datasets[files[k].ds].name, d->files[k]);
        }
    return 0;
}

/* Is obs column `name` in this file? */
static int has_obs_column(ptrag_h5ad *h, const char *name) {
    const char *const *cols;
    int ncols, found = 0;
    if (ptrag_h5ad_obs_columns(h, &cols, &ncols) == 0)
        for (int i = 0; i < ncols; i++) found |= strcmp(cols[i], name) == 0;
    return found;
}

int ptrag_dataset_load(const char *split_path, const ptrag_dataset_opts *opts, ptrag_dataset **out,
                       ptrag_error *err) {
    *out = NULL;
    ptrag_dataset_opts o;
    if (opts) o = *opts;
    else ptrag_dataset_opts_default(&o);
    ptrag_dataset *d = calloc(1, sizeof *d);
    if (!d) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    d->split_path = dup_str(split_path);
    d->pert_col = dup_str(o.pert_col);
    d->celltype_col = dup_str(o.celltype_col);
    d->control = dup_str(o.control);
    data_file *files = NULL;
    int nf = 0, *ct_first = NULL, *ct_dataset = NULL;
    char *label = NULL;
    int rc = ptrag_split_load(split_path, &d->spec, err);
    if (rc) goto fail;
    if ((rc = open_files(d, &o, &files, &nf, err))) goto fail;
    d->h5ad_path = dup_str(d->files[0]);
    d->in_memory = o.source ? ptrag_h5ad_in_memory(o.source) : 0;
    if ((rc = check_same_genes(files, nf, o.x_source, err))) goto fail;

    if ((rc = merged_labels(files, nf, d->n_cells, o.pert_col, &d->pert_code, &d->pert_names, &d->n_perts, NULL,
                            err)))
        goto fail;
    if ((rc = merged_labels(files, nf, d->n_cells, o.celltype_col, &d->ct_code, &d->ct_names, &d->n_ct, &ct_first,
                            err)))
        goto fail;
    if (o.batch_col && *o.batch_col && (has_obs_column(files[0].h, o.batch_col) || o.batch_col_required)) {
        if ((rc = merged_labels(files, nf, d->n_cells, o.batch_col, &d->batch_code, &d->batch_names, &d->n_batches,
                                NULL, err)))
            goto fail;
        d->batch_col = dup_str(o.batch_col);
    }
    d->control_code = -1;
    for (int p = 0; p < d->n_perts; p++)
        if (strcmp(d->pert_names[p], o.control) == 0) d->control_code = p;
    if (d->control_code < 0) {
        char names[512];
        list_names(d->pert_names, d->n_perts, names, sizeof names);
        rc = ptrag_fail(err, PTRAG_E_NOTFOUND,
                        "%s: obs/%s: control label '%s' not found (use --control); labels: %s", d->h5ad_path,
                        o.pert_col, o.control, names);
        goto fail;
    }
    /* One dataset: its name; several: each cell type's dataset, the names joined. */
    if (d->spec->n_datasets > 1) {
        if ((rc = celltype_datasets(d, files, nf, ct_first, &ct_dataset, err))) goto fail;
        size_t len = 1;
        for (int i = 0; i < d->spec->n_datasets; i++) len += strlen(d->spec->datasets[i].name) + 1;
        if (!(label = calloc(len, 1))) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
            goto fail;
        }
        for (int i = 0; i < d->spec->n_datasets; i++) {
            if (i) strcat(label, "+");
            strcat(label, d->spec->datasets[i].name);
        }
    }

    ptrag_cell_labels cells = {
        .n_cells = d->n_cells,
        .pert_code = d->pert_code,
        .pert_names = (const char *const *)d->pert_names,
        .n_perts = d->n_perts,
        .ct_code = d->ct_code,
        .ct_names = (const char *const *)d->ct_names,
        .n_ct = d->n_ct,
        .batch_code = d->batch_code,
        .n_batches = d->batch_code ? d->n_batches : 0,
        .ct_dataset = ct_dataset,
    };
    if ((rc = ptrag_split_assign(d->spec, label ? label : d->spec->datasets[0].name, &cells, o.control, &d->assign,
                                 err)))
        goto fail;
    if ((rc = load_features(d, &o, err))) goto fail;
    if (!o.labels_only && (rc = load_expression(d, files, nf, &o, err))) goto fail;
fail:
    for (int k = 0; k < nf && !o.source; k++) ptrag_h5ad_close(files[k].h);
    free(files);
    free(ct_first);
    free(ct_dataset);
    free(label);
    if (rc) {
        ptrag_dataset_free(d);
        return rc;
    }
    *out = d;
    return 0;
}

void ptrag_dataset_free(ptrag_dataset *d) {
    if (!d) return;
    free(d->split_path);
    free(d->pert_col);
    free(d->celltype_col);
    free(d->batch_col);
    free(d->control);
    free(d->h5ad_path);
    free_names(d->files, d->n_files);
    free(d->file_row0);
    ptrag_split_spec_free(d->spec);
    ptrag_assignment_free(d->assign);
    free_names(d->pert_names, d->n_perts);
    free_names(d->ct_names, d->n_ct);
    free_names(d->batch_names, d->n_batches);
    free(d->pert_code);
    free(d->ct_code);
    free(d->batch_code);
    free_names(d->gene_names, d->n_genes);
    free(d->row_slot);
    free(d->x);
    free(d->pert_feat);
    free(d->pert_has_feat);
    free(d);
}

const float *ptrag_dataset_row(const ptrag_dataset *d, long row) {
    return d->x + (size_t)d->row_slot[row] * (size_t)d->n_genes;
}

void ptrag_dataset_gather(const ptrag_dataset *d, const long *rows, long n, float *out) {
    for (long i = 0; i < n; i++) {
        float *dst = out + (size_t)i * (size_t)d->n_genes;
        if (rows[i] < 0 || d->row_slot[rows[i]] < 0)
            memset(dst, 0, (size_t)d->n_genes * sizeof *dst);
        else
            memcpy(dst, ptrag_dataset_row(d, rows[i]), (size_t)d->n_genes * sizeof *dst);
    }
}

const float *ptrag_dataset_pert_feature(const ptrag_dataset *d, int p) {
    if (d->onehot || p < 0 || p >= d->n_perts) return NULL;
    return d->pert_feat + (size_t)p * (size_t)d->feat_dim;
}

int ptrag_dataset_find_pert(const ptrag_dataset *d, const char *name) {
    for (int p = 0; p < d->n_perts; p++)
        if (strcmp(d->pert_names[p], name) == 0) return p;
    return -1;
}

int ptrag_dataset_find_celltype(const ptrag_dataset *d, const char *name) {
    for (int c = 0; c < d->n_ct; c++)
        if (strcmp(d->ct_names[c], name) == 0) return c;
    return -1;
}

static int write_cells(const ptrag_dataset *d, const char *path, const long *src_rows, const long *control_rows,
                       long n, const float *x, const char *prefix, ptrag_error *err);

int ptrag_dataset_write_cells(const ptrag_dataset *d, const char *path, const long *src_rows, long n,
                              const float *x, const char *prefix, ptrag_error *err) {
    return write_cells(d, path, src_rows, NULL, n, x, prefix, err);
}

int ptrag_dataset_write_predicted(const ptrag_dataset *d, const char *path, const long *src_rows,
                                  const long *control_rows, long n, const float *x, ptrag_error *err) {
    return write_cells(d, path, src_rows, control_rows, n, x, "pred", err);
}

static int write_cells(const ptrag_dataset *d, const char *path, const long *src_rows, const long *control_rows,
                       long n, const float *x, const char *prefix, ptrag_error *err) {
    ptrag_h5ad_writer *w = NULL;
    const char **labels = calloc((size_t)(n ? n : 1), sizeof *labels);
    char **names = calloc((size_t)(n ? n : 1), sizeof *names);
    int rc = (!labels || !names) ? ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path) : 0;
    for (long i = 0; !rc && i < n; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s%ld", prefix, i);
        if (!(names[i] = dup_str(buf))) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    if (!rc) rc = ptrag_h5ad_writer_new(path, n, d->n_genes, &w, err);
    /* streamed from the caller's rows: the writer keeps no copy of the matrix */
    if (!rc) rc = ptrag_h5ad_writer_begin_rows(w, 0, err);
    if (!rc) rc = ptrag_h5ad_writer_append_rows(w, x, n, err);
    if (!rc) rc = ptrag_h5ad_writer_set_var_names(w, (const char *const *)d->gene_names, err);
    if (!rc) rc = ptrag_h5ad_writer_set_obs_names(w, (const char *const *)names, err);
    /* Label columns, each from the dataset codes of the source rows. */
    const int32_t *codes[3] = {d->pert_code, d->ct_code, d->batch_code};
    char **const cats[3] = {d->pert_names, d->ct_names, d->batch_names};
    const char *cols[3] = {d->pert_col, d->celltype_col, d->batch_col};
    for (int c = 0; c < 3 && !rc; c++) {
        if (!codes[c] || !cols[c]) continue;
        for (long i = 0; i < n; i++) {
            int32_t k = codes[c][src_rows[i]];
            labels[i] = k >= 0 ? cats[c][k] : "";
        }
        rc = ptrag_h5ad_writer_add_obs_categorical(w, cols[c], labels, err);
    }
    if (!rc && control_rows) {
        int64_t *ctrl = malloc((size_t)(n ? n : 1) * sizeof *ctrl);
        if (!ctrl) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        for (long i = 0; !rc && i < n; i++) ctrl[i] = control_rows[i];
        if (!rc) rc = ptrag_h5ad_writer_add_obs_int64(w, "control_index", ctrl, err);
        free(ctrl);
    }
    if (!rc) rc = ptrag_h5ad_writer_commit(w, err);
    ptrag_h5ad_writer_free(w);
    free(labels);
    if (names)
        for (long i = 0; i < n; i++) free(names[i]);
    free(names);
    return rc;
}
