/* ptrag_simulate: the generative model of include/ptrag/simulate.h and
 * docs/simulate.md, written as one .h5ad (or one per cell type), two split
 * files, the truth and the settings. Random streams are counter-based per
 * purpose (and per cell), so the output does not depend on thread count.
 * The model is built in sim_model.c and written by sim_output.c. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/embeddings.h"
#include "ptrag/fsutil.h"
#include "ptrag/h5ad.h"
#include "sim/sim_internal.h"

void ptrag_sim_opts_default(ptrag_sim_opts *o) {
    memset(o, 0, sizeof *o);
    o->pert_col = "perturbation";
    o->control = "control";
    o->celltype_col = "cell_type";
    o->source_scale = "auto";
    o->source_target_sum = 1e4;
    o->seed = 1;
    o->n_perts = 600;
    o->n_modules = 40;
    o->cells_per_pert = 40;
    o->cells_spread = 0.3;
    o->n_controls = 1000;
    o->output_log1p = 1;
    o->target_sum = 1e4;
    o->depth = 1.0;
    o->effect = 2.0;
    o->program_density = 0.1;
    o->individual = 0.15;
    o->stress = 0.25;
    o->silent_frac = 0.15;
    o->celltype_sd = 0.3;
    o->strength_min = 0.5;
    o->n_batches = 1;
    o->batch_sd = 0.1;
    o->libsize_sd = -1;
    o->test_frac = 0.65;
    o->val_frac = 0.1;
}


static int check_opts(const ptrag_sim_opts *o, ptrag_error *err) {
    if (!o->source || !o->embeddings || !o->out_dir)
        return ptrag_fail(err, PTRAG_E_ARG, "simulate: a source .h5ad, an embedding table and an output folder are required");
    if (o->n_perts < 2) return ptrag_fail(err, PTRAG_E_ARG, "--perts: need at least 2, got %d", o->n_perts);
    if (o->n_modules < 1 || o->n_modules > o->n_perts)
        return ptrag_fail(err, PTRAG_E_ARG, "--modules: expected 1..%d (the perturbations), got %d", o->n_perts, o->n_modules);
    if (!(o->cells_per_pert >= 1)) return ptrag_fail(err, PTRAG_E_ARG, "--cells: expected >= 1, got %g", o->cells_per_pert);
    if (o->n_controls < 2) return ptrag_fail(err, PTRAG_E_ARG, "--controls: expected >= 2, got %ld", o->n_controls);
    if (!(o->program_density > 0 && o->program_density <= 1))
        return ptrag_fail(err, PTRAG_E_ARG, "--density: expected (0, 1], got %g", o->program_density);
    if (!(o->strength_min >= 0 && o->strength_min <= 1))
        return ptrag_fail(err, PTRAG_E_ARG, "--strength-min: expected [0, 1], got %g", o->strength_min);
    if (o->hvg_genes < 0) return ptrag_fail(err, PTRAG_E_ARG, "--hvg-genes: expected >= 1, got %d", o->hvg_genes);
    if (o->n_batches < 1) return ptrag_fail(err, PTRAG_E_ARG, "--batches: expected >= 1, got %d", o->n_batches);
    if (!(o->depth > 0)) return ptrag_fail(err, PTRAG_E_ARG, "--depth: expected > 0, got %g", o->depth);
    return 0;
}

int ptrag_simulate(const ptrag_sim_opts *o, ptrag_sim_summary *sum, ptrag_error *err) {
    int rc = check_opts(o, err);
    if (rc) return rc;
    sim_source src;
    sim_model m = {0};
    ptrag_embeddings *e = NULL;
    float *vecs = NULL;
    if ((rc = ptrag_sim_source_load(o, &src, err))) return rc;
    m.n_ct = o->n_celltypes > 0 ? o->n_celltypes : src.n_ct;
    m.B = o->n_batches;
    m.K = o->n_modules;
    m.ct_names = calloc((size_t)m.n_ct, sizeof *m.ct_names);
    m.ct_src = malloc((size_t)m.n_ct * sizeof *m.ct_src);
    m.lib_mu = malloc((size_t)m.n_ct * sizeof *m.lib_mu);
    m.lib_sd = malloc((size_t)m.n_ct * sizeof *m.lib_sd);
    if (!m.ct_names || !m.ct_src || !m.lib_mu || !m.lib_sd) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
        goto done;
    }
    m.heldout = 0;
    /* Names given (or Replogle-Nadig's lines): the k-th name renames the k-th cell type. */
    int lines = !o->celltype_names && o->replogle_layout && m.n_ct == 4;
    const char *names = lines ? SIM_REPLOGLE_LINES : o->celltype_names;
    const char *heldout = o->heldout ? o->heldout : lines ? "Jurkat" : NULL; /* the published few-shot line */
    for (int c = 0; c < m.n_ct; c++) {
        int sc = c % src.n_ct;
        char name[300];
        if (c < src.n_ct) snprintf(name, sizeof name, "%s", src.ct_names[sc]);
        else snprintf(name, sizeof name, "%s_%d", src.ct_names[sc], c / src.n_ct + 1);
        const char *nm = names;
        for (int k = 0; nm && k < c; k++) {
            nm = strchr(nm, ',');
            if (nm) nm++;
        }
        if (nm && *nm && *nm != ',') snprintf(name, sizeof name, "%.*s", (int)strcspn(nm, ","), nm);
        m.ct_src[c] = sc;
        m.lib_mu[c] = src.loglib_mean[sc] + log(o->depth);
        m.lib_sd[c] = o->libsize_sd >= 0 ? o->libsize_sd : src.loglib_sd[sc];
        if (!(m.ct_names[c] = strdup(name))) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
            goto done;
        }
        if (heldout && strcmp(heldout, name) == 0) m.heldout = c;
    }
    for (int c = 0; c < m.n_ct; c++)
        for (int c2 = 0; c2 < c; c2++)
            if (strcmp(m.ct_names[c], m.ct_names[c2]) == 0) {
                rc = ptrag_fail(err, PTRAG_E_ARG, "--cell-type-names: '%s' names two cell types", m.ct_names[c]);
                goto done;
            }
    if (heldout && strcmp(m.ct_names[m.heldout], heldout) != 0) {
        char list[1024] = "";
        for (int c = 0; c < m.n_ct; c++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", c ? ", " : "", m.ct_names[c]);
        rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "--heldout: no simulated cell type '%s' (have: %s)", heldout, list);
        goto done;
    }
    if ((rc = ptrag_sim_build_genes(o, &src, &m, err))) goto done;
    if ((rc = ptrag_embeddings_load(o->embeddings, &e, err))) goto done;
    if ((rc = ptrag_sim_choose_perts(o, &m, e, &vecs, err))) goto done;
    m.module = malloc((size_t)m.P * sizeof *m.module);
    if (!m.module) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
        goto done;
    }
    ptrag_rng r;
    sim_seed_rng(&r, o->seed, S_MODULES, 0);
    if ((rc = ptrag_sim_kmeans_cosine(vecs, m.P, ptrag_embeddings_dim(e), m.K, &r, m.module, err))) goto done;
    if ((rc = ptrag_sim_build_effects(o, &m, err))) goto done;
    if ((rc = ptrag_sim_build_layout(o, &m, err))) goto done;

    if ((rc = ptrag_mkdir_p(o->out_dir, err))) goto done;
    char path[4096];
    long total = 0, done_cells = 0;
    for (size_t i = 0; i < (size_t)m.n_ct * (m.P + 1); i++) total += m.n_cells[i];
    const char *data_rel;
    if (o->per_celltype_files || o->replogle_layout) {
        snprintf(path, sizeof path, "%s/data", o->out_dir);
        if ((rc = ptrag_mkdir_p(path, err))) goto done;
        for (int c = 0; c < m.n_ct && !rc; c++) {
            snprintf(path, sizeof path, "%s/data/%s.h5ad", o->out_dir, m.ct_names[c]);
            rc = ptrag_sim_write_cells(o, &m, c, c + 1, path, &done_cells, total, err);
        }
        data_rel = "data";
    } else {
        snprintf(path, sizeof path, "%s/sim.h5ad", o->out_dir);
        rc = ptrag_sim_write_cells(o, &m, 0, m.n_ct, path, &done_cells, total, err);
        data_rel = "sim.h5ad";
    }
    if (rc) goto done;
    snprintf(path, sizeof path, "%s/split_fewshot.toml", o->out_dir);
    if ((rc = ptrag_sim_write_split(o, &m, path, data_rel, 0, err))) goto done;
    snprintf(path, sizeof path, "%s/split_zeroshot.toml", o->out_dir);
    if ((rc = ptrag_sim_write_split(o, &m, path, data_rel, 1, err))) goto done;
    snprintf(path, sizeof path, "%s/simulate.txt", o->out_dir);
    if ((rc = ptrag_sim_write_settings(o, &m, &src, path, err))) goto done;
    /* last: the truth costs conditions x genes x batches expectations (minutes at scale) */
    snprintf(path, sizeof path, "%s/truth.h5ad", o->out_dir);
    if (!o->no_truth && (rc = ptrag_sim_write_truth(o, &m, path, err))) goto done;
    if (sum) {
        memset(sum, 0, sizeof *sum);
        sum->n_celltypes = m.n_ct;
        sum->n_perts = m.P;
        sum->n_modules = m.K;
        sum->n_genes = m.G;
        sum->n_cells = total;
        snprintf(sum->heldout, sizeof sum->heldout, "%s", m.ct_names[m.heldout]);
        for (int p = 0; p < m.P; p++) {
            sum->n_test += m.split_ct[p] == 2;
            sum->n_val += m.split_ct[p] == 1;
        }
        snprintf(sum->data_path, sizeof sum->data_path, "%s/%s", o->out_dir, data_rel);
    }
done:
    free(vecs);
    ptrag_embeddings_free(e);
    ptrag_sim_model_free(&m);
    ptrag_sim_source_free(&src);
    return rc;
}
