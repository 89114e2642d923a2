/* The simulator's outputs: truth.h5ad (exact expected shifts), the cells
 * (drawn per cell from their own random stream, streamed in row blocks),
 * the split files and simulate.txt. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/embeddings.h"
#include "ptrag/fsutil.h"
#include "ptrag/h5ad.h"
#include "sim/sim_internal.h"

int ptrag_sim_threads(const ptrag_sim_opts *o) { return o->threads > 0 ? o->threads : omp_get_max_threads(); }

/* ---- truth: the expected output minus the control's, per condition ---- */

/* Probabilists' Gauss-Hermite nodes and weights (5 points) for E over z ~ N(0,1). */
static const double GH_Z[5] = {-2.856970013872806, -1.355626179974266, 0.0, 1.355626179974266, 2.856970013872806};
static const double GH_W[5] = {0.011257411327721, 0.222075922005613, 0.533333333333333, 0.222075922005613,
                               0.011257411327721};

/* Expected output of gene g in cell type c under log-fold change `lfc`. */
static double expected_output(const ptrag_sim_opts *o, const sim_model *m, int c, int g, double lfc) {
    double q = m->q[(size_t)c * m->G + g], phi = m->phi[(size_t)c * m->G + g];
    double mu = m->lib_mu[c], sd = m->lib_sd[c], acc = 0;
    for (int b = 0; b < m->B; b++) {
        double e = exp(lfc + m->batch[(size_t)b * m->G + g]);
        if (!o->output_log1p) {
            acc += q * exp(mu + 0.5 * sd * sd) * e;
            continue;
        }
        for (int t = 0; t < 5; t++) {
            double N = exp(mu + sd * GH_Z[t]);
            acc += GH_W[t] * ptrag_sim_nb_expect_log1p(q * N * e, phi, o->target_sum / N);
        }
    }
    return acc / m->B;
}

int ptrag_sim_write_truth(const ptrag_sim_opts *o, const sim_model *m, const char *path, ptrag_error *err) {
    int C = m->n_ct, P = m->P, G = m->G;
    long n = (long)C * P;
    float *x = malloc((size_t)n * G * sizeof *x);
    double *base = malloc((size_t)C * G * sizeof *base);
    int32_t *cc = malloc((size_t)n * sizeof *cc), *pc = malloc((size_t)n * sizeof *pc);
    double *mod = malloc((size_t)n * sizeof *mod), *str = malloc((size_t)n * sizeof *str);
    double *fac = malloc((size_t)n * sizeof *fac), *ncell = malloc((size_t)n * sizeof *ncell);
    int rc = 0;
    if (!x || !base || !cc || !pc || !mod || !str || !fac || !ncell) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (long i = 0; i < (long)C * G; i++) base[i] = expected_output(o, m, (int)(i / G), (int)(i % G), 0.0);
#pragma omp parallel for schedule(dynamic, 4) num_threads(ptrag_sim_threads(o))
    for (long i = 0; i < n; i++) {
        int c = (int)(i / P), p = (int)(i % P);
        const float *l = sim_lfc_row(m, c, p + 1);
        for (int g = 0; g < G; g++)
            x[(size_t)i * G + g] = (float)(expected_output(o, m, c, g, l[g]) - base[(size_t)c * G + g]);
        cc[i] = c;
        pc[i] = p;
        mod[i] = m->module[p];
        str[i] = m->strength[p];
        fac[i] = m->factor[(size_t)m->module[p] * C + c];
        ncell[i] = (double)m->n_cells[(size_t)c * (P + 1) + p + 1];
    }
    ptrag_h5ad_writer *w = NULL;
    rc = ptrag_h5ad_writer_new(path, n, G, &w, err);
    if (!rc) rc = ptrag_h5ad_writer_set_x(w, x, 0, err);
    if (!rc) rc = ptrag_h5ad_writer_set_var_names(w, (const char *const *)m->genes, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_codes(w, "cell_type", (const char *const *)m->ct_names, C, cc, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_codes(w, "perturbation", (const char *const *)m->pert_names, P, pc, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "module", mod, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "strength", str, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "factor", fac, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "n_cells", ncell, err);
    /* the expression space of the shifts, on every row (a one-category column) */
    const char *scale = o->output_log1p ? "log1p" : "counts";
    for (long i = 0; i < n; i++) cc[i] = 0;
    if (!rc) rc = ptrag_h5ad_writer_add_obs_codes(w, "output_scale", &scale, 1, cc, err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, err);
    ptrag_h5ad_writer_free(w);
done:
    free(x), free(base), free(cc), free(pc), free(mod), free(str), free(fac), free(ncell);
    return rc;
}

/* ---- cells ---- */

/* Width of obsm/X_hvg in the replogle layout (0 otherwise). */
static int hvg_width(const ptrag_sim_opts *o, const sim_model *m) {
    if (!o->replogle_layout) return 0;
    int h = o->hvg_genes > 0 ? o->hvg_genes : 2000;
    return h < m->G ? h : m->G;
}

/* Draws cell `idx` of cell type c, condition p1 (0 = control) into row; in the
 * replogle layout row holds counts and hvg (may be NULL otherwise) the log1p of
 * the first hvg_width genes. */
static void draw_cell(const ptrag_sim_opts *o, const sim_model *m, int c, int p1, uint64_t idx, float *row,
                      float *hvg, int H, int32_t *batch, double *libsize) {
    ptrag_rng r;
    sim_seed_rng(&r, o->seed, S_CELLS, idx);
    double N = exp(m->lib_mu[c] + m->lib_sd[c] * ptrag_rng_normal(&r));
    int b = m->B > 1 ? (int)ptrag_rng_below(&r, (uint64_t)m->B) : 0;
    const float *l = sim_lfc_row(m, c, p1), *bt = m->batch + (size_t)b * m->G;
    const double *q = m->q + (size_t)c * m->G, *phi = m->phi + (size_t)c * m->G;
    double k = o->target_sum / N;
    for (int g = 0; g < m->G; g++) {
        long y = ptrag_sim_nb(&r, q[g] * N * exp((double)l[g] + bt[g]), phi[g]);
        if (o->replogle_layout) {
            row[g] = (float)y;
            if (g < H) hvg[g] = o->output_log1p ? (float)log1p(k * (double)y) : (float)y;
        } else {
            row[g] = o->output_log1p ? (float)log1p(k * (double)y) : (float)y;
        }
    }
    *batch = b;
    *libsize = N;
}

/* Writes the cells of cell types [c0, c1) to one file. */
int ptrag_sim_write_cells(const ptrag_sim_opts *o, const sim_model *m, int c0, int c1, const char *path,
                       long *cells_done, long cells_total, ptrag_error *err) {
    int P = m->P, G = m->G;
    long n = 0;
    uint64_t first_idx = (uint64_t)*cells_done;
    for (int c = c0; c < c1; c++)
        for (int p = 0; p <= P; p++) n += m->n_cells[(size_t)c * (P + 1) + p];
    int32_t *ctc = malloc((size_t)n * sizeof *ctc), *pc = malloc((size_t)n * sizeof *pc);
    int32_t *bc = malloc((size_t)n * sizeof *bc);
    double *lib = malloc((size_t)n * sizeof *lib);
    int *cond_c = malloc((size_t)n * sizeof *cond_c);
    long block = (1L << 22) / (G > 0 ? G : 1);
    if (block < 1) block = 1;
    float *buf = malloc((size_t)block * G * sizeof *buf);
    int H = hvg_width(o, m);
    float *hbuf = malloc((size_t)block * (H ? H : 1) * sizeof *hbuf);
    char **cats = calloc((size_t)P + 1, sizeof *cats);
    char **bnames = calloc((size_t)m->B, sizeof *bnames);
    ptrag_h5ad_writer *w = NULL;
    int rc = 0;
    if (!ctc || !pc || !bc || !lib || !cond_c || !buf || !hbuf || !cats || !bnames) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    long i = 0;
    for (int c = c0; c < c1; c++)
        for (int p = 0; p <= P; p++)
            for (long k = 0; k < m->n_cells[(size_t)c * (P + 1) + p]; k++, i++) {
                ctc[i] = c - c0;
                pc[i] = p;
                cond_c[i] = c;
            }
    if ((rc = ptrag_h5ad_writer_new(path, n, G, &w, err))) goto done;
    ptrag_h5ad_writer_number_obs_from(w, (long)first_idx); /* cell names = experiment-wide cell indices */
    if ((rc = ptrag_h5ad_writer_begin_rows(w, 1, err))) goto done;
    if (H && (rc = ptrag_h5ad_writer_begin_obsm(w, "X_hvg", H, err))) goto done;
    for (long r0 = 0; r0 < n && !rc; r0 += block) {
        long nb = n - r0 < block ? n - r0 : block;
#pragma omp parallel for schedule(static) num_threads(ptrag_sim_threads(o))
        for (long t = 0; t < nb; t++)
            draw_cell(o, m, cond_c[r0 + t], pc[r0 + t], first_idx + (uint64_t)(r0 + t), buf + (size_t)t * G,
                      hbuf + (size_t)t * H, H, &bc[r0 + t], &lib[r0 + t]);
        rc = ptrag_h5ad_writer_append_rows(w, buf, nb, err);
        if (!rc && H) rc = ptrag_h5ad_writer_append_obsm_rows(w, hbuf, nb, err);
        *cells_done += nb;
        if (o->progress) o->progress(o->progress_ctx, *cells_done, cells_total);
    }
    cats[0] = "non-targeting";
    for (int p = 0; p < P; p++) cats[p + 1] = m->pert_names[p];
    char bn[16][16];
    char **bdyn = NULL;
    if (m->B <= 16) {
        for (int b = 0; b < m->B; b++) {
            snprintf(bn[b], sizeof bn[b], "batch%d", b + 1);
            bnames[b] = bn[b];
        }
    } else {
        bdyn = calloc((size_t)m->B, sizeof *bdyn);
        for (int b = 0; bdyn && b < m->B; b++) {
            bdyn[b] = malloc(16);
            if (bdyn[b]) snprintf(bdyn[b], 16, "batch%d", b + 1);
            bnames[b] = bdyn[b];
        }
    }
    if (!rc) rc = ptrag_h5ad_writer_set_var_names(w, (const char *const *)m->genes, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_codes(w, "gene", (const char *const *)cats, P + 1, pc, err);
    if (!rc)
        rc = ptrag_h5ad_writer_add_obs_codes(w, o->replogle_layout ? "cell_line" : "cell_type",
                                             (const char *const *)(m->ct_names + c0), c1 - c0, ctc, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_codes(w, "gem_group", (const char *const *)bnames, m->B, bc, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "ncounts", lib, err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, err);
    if (bdyn)
        for (int b = 0; b < m->B; b++) free(bdyn[b]);
    free(bdyn);
done:
    ptrag_h5ad_writer_free(w);
    free(ctc), free(pc), free(bc), free(lib), free(cond_c), free(buf), free(hbuf), free(cats), free(bnames);
    return rc;
}

/* ---- split files and settings ---- */

static void toml_list(FILE *f, const char *key, const sim_model *m, int which) {
    fprintf(f, "%s = [", key);
    int first = 1;
    for (int p = 0; p < m->P; p++)
        if (m->split_ct[p] == which) {
            fprintf(f, "%s\"%s\"", first ? "" : ", ", m->pert_names[p]);
            first = 0;
        }
    fprintf(f, "]\n");
}

int ptrag_sim_write_split(const ptrag_sim_opts *o, const sim_model *m, const char *path, const char *data_rel, int zeroshot,
                    ptrag_error *err) {
    char tmp[4096];
    int rc = ptrag_tmp_path(path, tmp, sizeof tmp, err);
    if (rc) return rc;
    FILE *f = fopen(tmp, "w");
    if (!f) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot write", tmp);
    const char *held = m->ct_names[m->heldout];
    /* the replogle layout names its dataset as the published files do */
    const char *ds = o->replogle_layout ? "replogle_proper" : "sim";
    if (o->replogle_layout)
        fprintf(f, "# Written by ptrag simulate (Replogle-Nadig layout). Read it with\n"
                   "#   --celltype-col cell_line --x obsm/X_hvg\n"
                   "# (perturbation = \"gene\", control = \"non-targeting\", batch = \"gem_group\": the defaults).\n"
                   "# Truth (log1p, every gene of X): truth.h5ad beside this file.\n");
    else
        fprintf(f, "# Written by ptrag simulate. Columns: perturbation = \"gene\", control = \"non-targeting\",\n"
                   "# cell type = \"cell_type\", batch = \"gem_group\". Truth: truth.h5ad beside this file.\n");
    fprintf(f, "\n[datasets]\n%s = \"%s\"\n\n[training]\n%s = \"train\"\n\n[zeroshot]\n", ds, data_rel, ds);
    if (zeroshot) {
        /* the held-out cell type is test; another one is validation when there are 3 or more */
        fprintf(f, "\"%s.%s\" = \"test\"\n", ds, held);
        if (m->n_ct >= 3) fprintf(f, "\"%s.%s\" = \"val\"\n", ds, m->ct_names[(m->heldout + 1) % m->n_ct]);
        fprintf(f, "\n[fewshot]\n");
    } else {
        fprintf(f, "\n[fewshot]\n\n[fewshot.\"%s.%s\"]\n", ds, held);
        toml_list(f, "val", m, 1);
        toml_list(f, "test", m, 2);
    }
    if (fclose(f) != 0) {
        remove(tmp);
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot write", tmp);
    }
    return ptrag_commit_tmp(tmp, path, err);
}

int ptrag_sim_write_settings(const ptrag_sim_opts *o, const sim_model *m, const sim_source *s, const char *path,
                          ptrag_error *err) {
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "# ptrag simulate settings (same settings and version: same bytes)\n"
                     "version = %s\nsource = %s\nsource_scale = %s\nsource_libsize = %s\nembeddings = %s\n"
                     "seed = %llu\ncell_types = %d\nperturbations = %d\nmodules = %d\ngenes = %d\n"
                     "cells_per_pert = %g\ncells_spread = %g\ncontrols = %ld\nper_celltype_files = %d\nreplogle_layout = %d\n"
                     "hvg_genes = %d\n"
                     "output = %s\ntarget_sum = %g\ndepth = %g\neffect = %g\nprogram_density = %g\n"
                     "individual = %g\nstress = %g\nsilent_frac = %g\ncelltype_sd = %g\nstrength_min = %g\n"
                     "batches = %d\nbatch_sd = %g\nlibsize_sd = %g\nheldout = %s\ntest_frac = %g\nval_frac = %g\n",
                     PTRAG_VERSION, o->source, s->scale_log1p ? "log1p" : "counts",
                     !s->scale_log1p ? "row sums" : s->had_libsize ? o->libsize_col : "smallest step", o->embeddings, (unsigned long long)o->seed, m->n_ct,
                     m->P, m->K, m->G, o->cells_per_pert, o->cells_spread, o->n_controls, o->per_celltype_files,
                     o->replogle_layout, hvg_width(o, m),
                     o->output_log1p ? "log1p" : "counts", o->target_sum, o->depth, o->effect, o->program_density,
                     o->individual, o->stress, o->silent_frac, o->celltype_sd, o->strength_min, m->B, o->batch_sd,
                     o->libsize_sd, m->ct_names[m->heldout], o->test_frac, o->val_frac);
    return ptrag_write_file_atomic(path, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1), err);
}

