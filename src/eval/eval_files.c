/* Scoring a prediction .h5ad against a real .h5ad: see include/ptrag/eval_files.h. */
#include "ptrag/eval_files.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/checksum.h"
#include "ptrag/h5ad.h"

void ptrag_eval_files_opts_default(ptrag_eval_files_opts *o) {
    o->pert_col = "gene";
    o->control = "non-targeting";
    o->celltype_col = "cell_type";
    o->pert_ref = NULL;
    ptrag_eval_options_default(&o->metrics);
}

/* One open file and its two label columns; expression is read per condition
 * (each cell once), so the whole matrix is never held beside the copies. */
typedef struct loaded {
    ptrag_h5ad *h;
    long n, g;
    ptrag_column pert, ct;
} loaded;

static void loaded_free(loaded *f) {
    ptrag_column_free(&f->pert);
    ptrag_column_free(&f->ct);
    ptrag_h5ad_close(f->h);
}

static int load(const char *path, const ptrag_eval_files_opts *o, loaded *f, ptrag_error *err) {
    memset(f, 0, sizeof *f);
    int rc = ptrag_h5ad_open(path, "X", &f->h, err);
    if (rc) return rc;
    f->n = ptrag_h5ad_n_obs(f->h);
    f->g = ptrag_h5ad_n_vars(f->h);
    if ((rc = ptrag_h5ad_read_obs(f->h, o->pert_col, &f->pert, err))) return rc;
    if ((rc = ptrag_h5ad_read_obs(f->h, o->celltype_col, &f->ct, err))) return rc;
    if (!f->pert.codes || !f->ct.codes)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: obs/%s and obs/%s must be text or categorical columns", path,
                          o->pert_col, o->celltype_col);
    return 0;
}

/* Rows of `f` whose labels are (ct, pert), copied densely into *out with the
 * columns reordered by `cols` (NULL = as stored). */
static int gather(const loaded *f, const char *ct, const char *pert, const long *cols, long g, float **out,
                  long *n_out, ptrag_error *err) {
    int ci = ptrag_column_find(&f->ct, ct), pi = ptrag_column_find(&f->pert, pert);
    long n = 0;
    for (long i = 0; i < f->n; i++) n += ci >= 0 && pi >= 0 && f->ct.codes[i] == ci && f->pert.codes[i] == pi;
    *n_out = n;
    *out = malloc((size_t)(n ? n : 1) * (size_t)g * sizeof **out);
    long *rows = malloc((size_t)(n ? n : 1) * sizeof *rows);
    if (!*out || !rows) {
        free(rows);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    }
    long k = 0;
    for (long i = 0; i < f->n; i++)
        if (ci >= 0 && pi >= 0 && f->ct.codes[i] == ci && f->pert.codes[i] == pi) rows[k++] = i;
    int rc = n ? ptrag_h5ad_read_rows(f->h, rows, n, cols, g, *out, err) : 0;
    free(rows);
    return rc;
}

/* The reference profile of each cell type of `real` (n_ct x g doubles, in
 * the real file's gene order; has[ct] = 0 where the file has none). */
static int load_pert_ref(const char *path, const loaded *real, const ptrag_eval_files_opts *o, double **ref,
                         unsigned char **has, ptrag_error *err) {
    long g = real->g;
    int n_ct = real->ct.n_categories;
    *ref = calloc((size_t)(n_ct ? n_ct : 1) * (size_t)g, sizeof **ref);
    *has = calloc((size_t)(n_ct ? n_ct : 1), 1);
    if (!*ref || !*has) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    ptrag_h5ad *h = NULL;
    ptrag_column ct;
    memset(&ct, 0, sizeof ct);
    float *x = NULL;
    long *cols = NULL;
    int rc = ptrag_h5ad_open(path, "X", &h, err);
    long n = rc ? 0 : ptrag_h5ad_n_obs(h), rg = rc ? 0 : ptrag_h5ad_n_vars(h);
    if (!rc) rc = ptrag_h5ad_read_obs(h, o->celltype_col, &ct, err);
    if (!rc && !ct.codes)
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: obs/%s must be a text or categorical column", path, o->celltype_col);
    if (!rc && (!(x = malloc((size_t)(n ? n : 1) * (size_t)rg * sizeof *x)) ||
                !(cols = malloc((size_t)(g ? g : 1) * sizeof *cols))))
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    if (!rc && n) rc = ptrag_h5ad_read_block(h, 0, n, x, err);
    for (long j = 0; !rc && j < g; j++) {
        const char *name = ptrag_h5ad_var_name(real->h, j);
        cols[j] = -1;
        if (j < rg && strcmp(ptrag_h5ad_var_name(h, j), name) == 0) cols[j] = j;
        for (long k = 0; k < rg && cols[j] < 0; k++)
            if (strcmp(ptrag_h5ad_var_name(h, k), name) == 0) cols[j] = k;
        if (cols[j] < 0)
            rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: var: gene '%s' of the real cells is not in the reference",
                            path, name);
    }
    for (long i = 0; !rc && i < n; i++) {
        int c = ptrag_column_find(&real->ct, ptrag_column_label(&ct, i));
        if (c < 0) continue;
        for (long j = 0; j < g; j++) (*ref)[(size_t)c * g + j] = x[(size_t)i * rg + cols[j]];
        (*has)[c] = 1;
    }
    free(x);
    free(cols);
    ptrag_column_free(&ct);
    ptrag_h5ad_close(h);
    return rc;
}

/* Scores pred against real, or with pred_path NULL, the split-half ceiling
 * of real (ceiling_out). */
static int eval_files_run(const char *pred_path, const char *real_path, const ptrag_eval_files_opts *o,
                          int n_splits, uint64_t seed, ptrag_metric_summary *ceiling_out, ptrag_eval_result *result,
                          ptrag_error *err) {
    memset(result, 0, sizeof *result);
    loaded pred, real;
    memset(&pred, 0, sizeof pred);
    int rc = pred_path ? load(pred_path, o, &pred, err) : 0;
    if (!rc) rc = load(real_path, o, &real, err);
    else memset(&real, 0, sizeof real);
    double *ref = NULL;
    unsigned char *has_ref = NULL;
    if (!rc && o->pert_ref) rc = load_pert_ref(o->pert_ref, &real, o, &ref, &has_ref, err);
    long g = real.g;
    long *cols = NULL; /* pred column of each real gene */
    ptrag_eval_group *groups = NULL;
    ptrag_eval_condition *conds = NULL;
    float **bufs = NULL;
    long n_bufs = 0, n_groups = 0;
    if (rc) goto done;

    /* Match genes by name, in the real file's order. */
    cols = malloc((size_t)(g ? g : 1) * sizeof *cols);
    if (!cols) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        goto done;
    }
    int same_order = !pred_path || pred.g == g;
    for (long j = 0; pred_path && j < g && same_order; j++)
        same_order = strcmp(ptrag_h5ad_var_name(pred.h, j), ptrag_h5ad_var_name(real.h, j)) == 0;
    for (long j = 0; j < g && !same_order; j++) {
        const char *name = ptrag_h5ad_var_name(real.h, j);
        cols[j] = -1;
        for (long k = 0; k < pred.g; k++)
            if (strcmp(ptrag_h5ad_var_name(pred.h, k), name) == 0) {
                cols[j] = k;
                break;
            }
        if (cols[j] < 0) {
            rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: var: gene '%s' of %s is not in the prediction", pred_path,
                            name, real_path);
            goto done;
        }
    }
    const long *colmap = same_order ? NULL : cols;

    /* Groups: cell types of the real file that have perturbed cells. */
    int n_ct = real.ct.n_categories, n_pert = real.pert.n_categories;
    int ctrl = ptrag_column_find(&real.pert, o->control);
    if (ctrl < 0) {
        rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: obs/%s: no control cells labelled '%s' (use --control)", real_path,
                        o->pert_col, o->control);
        goto done;
    }
    char *present = calloc((size_t)n_ct * (size_t)n_pert + 1, 1);
    groups = calloc((size_t)n_ct + 1, sizeof *groups);
    conds = calloc((size_t)n_ct * (size_t)n_pert + 1, sizeof *conds);
    bufs = calloc(2 * (size_t)n_ct * (size_t)(n_pert + 1) + 2, sizeof *bufs);
    if (!present || !groups || !conds || !bufs) {
        free(present);
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        goto done;
    }
    for (long i = 0; i < real.n; i++)
        if (real.ct.codes[i] >= 0 && real.pert.codes[i] >= 0)
            present[(size_t)real.ct.codes[i] * n_pert + real.pert.codes[i]] = 1;
    long n_conds = 0;
    for (int c = 0; c < n_ct && !rc; c++) {
        const char *ct = real.ct.categories[c];
        long first = n_conds;
        for (int p = 0; p < n_pert && !rc; p++) {
            if (p == ctrl || !present[(size_t)c * n_pert + p]) continue;
            ptrag_eval_condition *cd = &conds[n_conds];
            cd->perturbation = real.pert.categories[p];
            float *r, *q;
            if ((rc = gather(&real, ct, cd->perturbation, NULL, g, &r, &cd->n_real, err))) break;
            bufs[n_bufs++] = r;
            if (pred_path) {
                if ((rc = gather(&pred, ct, cd->perturbation, colmap, g, &q, &cd->n_pred, err))) break;
                bufs[n_bufs++] = q;
            } else {
                q = r; /* the ceiling splits the real cells */
                cd->n_pred = cd->n_real;
            }
            if (cd->n_pred == 0) {
                rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: no predicted cells for cell type '%s', %s '%s'",
                                pred_path, ct, o->pert_col, cd->perturbation);
                break;
            }
            cd->real = r;
            cd->pred = q;
            n_conds++;
        }
        if (rc || n_conds == first) continue;
        ptrag_eval_group *gr = &groups[n_groups++];
        gr->cell_type = ct;
        gr->conds = &conds[first];
        gr->n_conds = n_conds - first;
        float *rc_, *pc_;
        if ((rc = gather(&real, ct, o->control, NULL, g, &rc_, &gr->n_real_ctrl, err))) break;
        bufs[n_bufs++] = rc_;
        gr->pert_ref = has_ref && has_ref[c] ? ref + (size_t)c * g : NULL;
        if (pred_path) {
            if ((rc = gather(&pred, ct, o->control, colmap, g, &pc_, &gr->n_pred_ctrl, err))) break;
            bufs[n_bufs++] = pc_;
        } else {
            pc_ = NULL;
            gr->n_pred_ctrl = 0;
        }
        if (gr->n_real_ctrl == 0) {
            rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: cell type '%s' has no control cells ('%s') to compare with",
                            real_path, ct, o->control);
            break;
        }
        gr->real_ctrl = rc_;
        gr->pred_ctrl = gr->n_pred_ctrl ? pc_ : NULL;
    }
    free(present);
    if (!rc && n_groups == 0)
        rc = ptrag_fail(err, PTRAG_E_ARG, "%s: no perturbed (non-control) cells to score", real_path);
    if (!rc) {
        const char **names = malloc((size_t)(g ? g : 1) * sizeof *names);
        if (!names) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        for (long j = 0; !rc && j < g; j++) names[j] = ptrag_h5ad_var_name(real.h, j);
        if (!rc && pred_path) rc = ptrag_evaluate(groups, n_groups, g, names, NULL, &o->metrics, result, err);
        if (!rc && !pred_path)
            rc = ptrag_eval_ceiling(groups, n_groups, g, names, &o->metrics, n_splits, seed, ceiling_out, err);
        free(names);
    }
done:
    for (long i = 0; i < n_bufs; i++) free(bufs[i]);
    free(bufs);
    free(conds);
    free(groups);
    free(cols);
    free(ref);
    free(has_ref);
    loaded_free(&pred);
    loaded_free(&real);
    return rc;
}

int ptrag_eval_files(const char *pred_path, const char *real_path, const ptrag_eval_files_opts *o,
                     ptrag_eval_result *result, ptrag_error *err) {
    if (!pred_path) return ptrag_fail(err, PTRAG_E_ARG, "evaluation: no prediction file given");
    return eval_files_run(pred_path, real_path, o, 0, 0, NULL, result, err);
}

int ptrag_eval_files_ceiling(const char *real_path, const ptrag_eval_files_opts *o, int n_splits, uint64_t seed,
                             ptrag_metric_summary out[PTRAG_M_COUNT], ptrag_error *err) {
    ptrag_eval_result unused;
    return eval_files_run(NULL, real_path, o, n_splits, seed, out, &unused, err);
}

int ptrag_score_key(const char *pred, const char *real, const ptrag_eval_options *o, char *buf, size_t n,
                    ptrag_error *err) {
    uint64_t pc, rc32;
    int rc = ptrag_file_digest(pred, &pc, NULL, err);
    if (!rc) rc = ptrag_file_digest(real, &rc32, NULL, err);
    if (rc) return rc;
    /* The metric set: every metric's name, and the options that change values. */
    uint32_t m = 0;
    for (int i = 0; i < PTRAG_M_COUNT; i++) {
        const ptrag_metric_info *mi = ptrag_metric_info_of(i);
        if (mi && mi->name) m = ptrag_crc32_update(m, mi->name, strlen(mi->name) + 1);
    }
    char opts[256];
    snprintf(opts, sizeof opts, "n_pca=%d,fdr=%.17g,log1p=%d,lfc_eps=%.17g,skip_de=%d,skip_dist=%d", o->n_pca,
             o->de.fdr, o->de.log1p_input, o->de.lfc_eps, o->skip_de, o->skip_distributional);
    m = ptrag_crc32_update(m, opts, strlen(opts));
    snprintf(buf, n, "pred=%016" PRIx64 ",real=%016" PRIx64 ",metrics=%08" PRIx32, pc, rc32, m);
    return 0;
}
