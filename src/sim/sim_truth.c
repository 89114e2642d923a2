/* The truth file of a simulated experiment (truth.h5ad: one row per
 * condition, X = true mean shift from control) and retrieval scored against
 * its modules. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/h5ad.h"
#include "ptrag/simulate.h"

void ptrag_sim_truth_free(ptrag_sim_truth *t) {
    if (!t) return;
    for (long i = 0; i < t->n_cond; i++) {
        if (t->celltype) free(t->celltype[i]);
        if (t->pert) free(t->pert[i]);
    }
    for (long g = 0; g < t->n_genes && t->genes; g++) free(t->genes[g]);
    free(t->celltype), free(t->pert), free(t->module), free(t->strength), free(t->factor), free(t->shift);
    free(t->genes);
    free(t);
}

static int read_numeric(ptrag_h5ad *h, const char *path, const char *name, ptrag_column *col, ptrag_error *err) {
    int rc = ptrag_h5ad_read_obs(h, name, col, err);
    if (rc) return ptrag_error_prefix(err, "%s is not a ptrag simulate truth file", path), rc;
    if (col->type != PTRAG_COL_NUMERIC)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: /obs/%s: expected a numeric column", path, name);
    return 0;
}

int ptrag_sim_truth_load(const char *path, ptrag_sim_truth **out, ptrag_error *err) {
    *out = NULL;
    ptrag_h5ad *h = NULL;
    int rc = ptrag_h5ad_open(path, NULL, &h, err);
    if (rc) return rc;
    ptrag_column ct = {0}, pe = {0}, mo = {0}, st = {0}, fa = {0}, sc = {0};
    ptrag_sim_truth *t = calloc(1, sizeof *t);
    if (!t) {
        ptrag_h5ad_close(h);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    t->n_cond = ptrag_h5ad_n_obs(h);
    t->n_genes = ptrag_h5ad_n_vars(h);
    if ((rc = ptrag_h5ad_read_obs(h, "cell_type", &ct, err)) || (rc = ptrag_h5ad_read_obs(h, "perturbation", &pe, err))) {
        ptrag_error_prefix(err, "%s is not a ptrag simulate truth file", path);
        goto done;
    }
    if ((rc = read_numeric(h, path, "module", &mo, err)) || (rc = read_numeric(h, path, "strength", &st, err)) ||
        (rc = read_numeric(h, path, "factor", &fa, err)))
        goto done;
    if ((rc = ptrag_h5ad_read_obs(h, "output_scale", &sc, err))) {
        ptrag_error_prefix(err, "%s is not a ptrag simulate truth file", path);
        goto done;
    }
    t->log1p = t->n_cond > 0 && strcmp(ptrag_column_label(&sc, 0), "log1p") == 0;
    size_t n = (size_t)t->n_cond;
    t->celltype = calloc(n + 1, sizeof *t->celltype);
    t->pert = calloc(n + 1, sizeof *t->pert);
    t->module = malloc((n + 1) * sizeof *t->module);
    t->strength = malloc((n + 1) * sizeof *t->strength);
    t->factor = malloc((n + 1) * sizeof *t->factor);
    t->shift = malloc((n * (size_t)t->n_genes + 1) * sizeof *t->shift);
    t->genes = calloc((size_t)t->n_genes + 1, sizeof *t->genes);
    if (!t->celltype || !t->pert || !t->module || !t->strength || !t->factor || !t->shift || !t->genes) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        t->celltype[i] = strdup(ptrag_column_label(&ct, (long)i));
        t->pert[i] = strdup(ptrag_column_label(&pe, (long)i));
        t->module[i] = isnan(mo.values[i]) ? -1 : (int)mo.values[i];
        t->strength[i] = st.values[i];
        t->factor[i] = fa.values[i];
        if (!t->celltype[i] || !t->pert[i]) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    for (long g = 0; g < t->n_genes; g++)
        if (!(t->genes[g] = strdup(ptrag_h5ad_var_name(h, g)))) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
    rc = ptrag_h5ad_read_block(h, 0, t->n_cond, t->shift, err);
done:
    ptrag_column_free(&ct), ptrag_column_free(&pe), ptrag_column_free(&mo), ptrag_column_free(&st);
    ptrag_column_free(&fa), ptrag_column_free(&sc);
    ptrag_h5ad_close(h);
    if (rc) ptrag_sim_truth_free(t);
    else *out = t;
    return rc;
}

long ptrag_sim_truth_find(const ptrag_sim_truth *t, const char *celltype, const char *pert) {
    for (long i = 0; i < t->n_cond; i++)
        if (strcmp(t->pert[i], pert) == 0 && strcmp(t->celltype[i], celltype) == 0) return i;
    return -1;
}

int ptrag_sim_truth_module(const ptrag_sim_truth *t, const char *pert) {
    for (long i = 0; i < t->n_cond; i++)
        if (strcmp(t->pert[i], pert) == 0) return t->module[i];
    return -1;
}

