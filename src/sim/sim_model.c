/* The simulator's model: genes with their control statistics, the
 * perturbation genes, the effect programs and log-fold changes, and the
 * number of cells of each condition with the split (docs/simulate.md). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/embeddings.h"
#include "ptrag/fsutil.h"
#include "ptrag/h5ad.h"
#include "sim/sim_internal.h"

void ptrag_sim_model_free(sim_model *m) {
    for (int c = 0; c < m->n_ct && m->ct_names; c++) free(m->ct_names[c]);
    for (int p = 0; p < m->P && m->pert_names; p++) free(m->pert_names[p]);
    for (int g = 0; g < m->G && m->genes; g++) free(m->genes[g]);
    free(m->ct_names), free(m->ct_src), free(m->pert_names), free(m->module), free(m->strength);
    free(m->lfc), free(m->q), free(m->phi), free(m->lib_mu), free(m->lib_sd), free(m->factor);
    free(m->batch), free(m->genes), free(m->n_cells), free(m->split_ct);
}

int ptrag_sim_build_genes(const ptrag_sim_opts *o, const sim_source *s, sim_model *m, ptrag_error *err) {
    long G0 = s->n_genes;
    int G = o->n_genes > 0 ? o->n_genes : (int)G0;
    m->G = G;
    long *pick = malloc((size_t)G * sizeof *pick);
    double *jit = calloc((size_t)G, sizeof *jit);
    m->genes = calloc((size_t)G, sizeof *m->genes);
    m->q = malloc((size_t)m->n_ct * G * sizeof *m->q);
    m->phi = malloc((size_t)m->n_ct * G * sizeof *m->phi);
    if (!pick || !jit || !m->genes || !m->q || !m->phi) {
        free(pick), free(jit);
        return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
    }
    if (G <= G0) {
        /* top G by mean share over the source cell types, kept in source order */
        double *score = calloc((size_t)G0, sizeof *score);
        char *keep = calloc((size_t)G0, 1);
        if (!score || !keep) {
            free(score), free(keep), free(pick), free(jit);
            return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
        }
        for (int c = 0; c < s->n_ct; c++)
            for (long g = 0; g < G0; g++) score[g] += s->frac[(size_t)c * G0 + g];
        for (int k = 0; k < G; k++) {
            long arg = -1;
            for (long g = 0; g < G0; g++)
                if (!keep[g] && (arg < 0 || score[g] > score[arg])) arg = g;
            if (arg >= 0) keep[arg] = 1;
        }
        int k = 0;
        for (long g = 0; g < G0; g++)
            if (keep[g]) pick[k++] = g;
        free(score), free(keep);
    } else {
        ptrag_rng r;
        sim_seed_rng(&r, o->seed, S_GENES, 0);
        for (long g = 0; g < G; g++) {
            pick[g] = g < G0 ? g : (long)ptrag_rng_below(&r, (uint64_t)G0);
            jit[g] = g < G0 ? 0.0 : 0.5 * ptrag_rng_normal(&r);
        }
    }
    for (int g = 0; g < G; g++) {
        char name[300];
        if (g < G0 || G <= G0) snprintf(name, sizeof name, "%s", s->gene_names[pick[g]]);
        else snprintf(name, sizeof name, "%s_sim%d", s->gene_names[pick[g]], g);
        if (!(m->genes[g] = strdup(name))) {
            free(pick), free(jit);
            return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
        }
    }
    for (int c = 0; c < m->n_ct; c++) {
        int sc = m->ct_src[c];
        /* a cell type beyond the source's is a jittered copy of one */
        ptrag_rng r;
        sim_seed_rng(&r, o->seed, S_CT, 1000 + (uint64_t)c);
        for (int g = 0; g < G; g++) {
            double ctj = c >= s->n_ct ? 0.3 * ptrag_rng_normal(&r) : 0.0;
            m->q[(size_t)c * G + g] = s->frac[(size_t)sc * G0 + pick[g]] * exp(jit[g] + ctj);
            m->phi[(size_t)c * G + g] = s->disp[(size_t)sc * G0 + pick[g]];
        }
    }
    free(pick), free(jit);
    return 0;
}

int ptrag_sim_choose_perts(const ptrag_sim_opts *o, sim_model *m, const ptrag_embeddings *e, float **vecs_out,
                        ptrag_error *err) {
    long nr = ptrag_embeddings_n_rows(e);
    int d = ptrag_embeddings_dim(e);
    long *ok = malloc((size_t)nr * sizeof *ok);
    if (!ok) return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
    long n_ok = 0;
    for (long r = 0; r < nr; r++) {
        const float *v = ptrag_embeddings_row(e, r);
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)v[j] * v[j];
        if (nn > 0) ok[n_ok++] = r;
    }
    if (o->n_perts > n_ok) {
        free(ok);
        return ptrag_fail(err, PTRAG_E_ARG, "%s: --perts %d but the table has only %ld genes with a non-zero vector",
                          ptrag_embeddings_source(e), o->n_perts, n_ok);
    }
    /* a seeded partial Fisher-Yates draw, then file order for readability */
    ptrag_rng r;
    sim_seed_rng(&r, o->seed, S_PERTS, 0);
    for (long i = 0; i < o->n_perts; i++) {
        long j = i + (long)ptrag_rng_below(&r, (uint64_t)(n_ok - i));
        long t = ok[i];
        ok[i] = ok[j];
        ok[j] = t;
    }
    for (long i = 1; i < o->n_perts; i++) /* insertion sort of the picked rows */
        for (long j = i; j > 0 && ok[j - 1] > ok[j]; j--) {
            long t = ok[j];
            ok[j] = ok[j - 1];
            ok[j - 1] = t;
        }
    m->P = o->n_perts > 0 ? o->n_perts : 0;
    m->pert_names = calloc((size_t)m->P + 1, sizeof *m->pert_names);
    float *vecs = malloc((size_t)m->P * d * sizeof *vecs);
    if (!m->pert_names || !vecs) {
        free(ok), free(vecs);
        return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
    }
    for (int p = 0; p < m->P; p++) {
        const float *v = ptrag_embeddings_row(e, ok[p]);
        double nn = 0;
        for (int j = 0; j < d; j++) nn += (double)v[j] * v[j];
        nn = 1.0 / sqrt(nn);
        for (int j = 0; j < d; j++) vecs[(size_t)p * d + j] = (float)(v[j] * nn);
        if (!(m->pert_names[p] = strdup(ptrag_embeddings_row_name(e, ok[p])))) {
            free(ok), free(vecs);
            return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
        }
    }
    free(ok);
    *vecs_out = vecs;
    return 0;
}

static long find_gene(const sim_model *m, const char *name) {
    for (int g = 0; g < m->G; g++)
        if (strcmp(m->genes[g], name) == 0) return g;
    return -1;
}

/* Programs and log-fold changes: see docs/simulate.md, "effects". */
int ptrag_sim_build_effects(const ptrag_sim_opts *o, sim_model *m, ptrag_error *err) {
    int G = m->G, P = m->P, K = m->K, C = m->n_ct;
    float *prog = calloc((size_t)K * G, sizeof *prog);
    float *stress = calloc((size_t)G, sizeof *stress);
    m->strength = malloc((size_t)P * sizeof *m->strength);
    m->factor = malloc((size_t)K * C * sizeof *m->factor);
    m->lfc = calloc((size_t)C * (P + 1) * G, sizeof *m->lfc);
    m->batch = calloc((size_t)m->B * G, sizeof *m->batch);
    if (!prog || !stress || !m->strength || !m->factor || !m->lfc || !m->batch) {
        free(prog), free(stress);
        return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory (%d conditions x %d genes)", C * (P + 1), G);
    }
    ptrag_rng r;
    sim_seed_rng(&r, o->seed, S_PROGRAMS, 0);
    for (int k = 0; k < K; k++)
        for (int g = 0; g < G; g++)
            if (ptrag_rng_uniform(&r) < o->program_density) prog[(size_t)k * G + g] = (float)(o->effect * ptrag_rng_normal(&r));
    sim_seed_rng(&r, o->seed, S_PROGRAMS, 1);
    for (int g = 0; g < G; g++)
        if (ptrag_rng_uniform(&r) < 2 * o->program_density) stress[g] = (float)(o->stress * ptrag_rng_normal(&r));
    sim_seed_rng(&r, o->seed, S_CT, 0);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            int silent = ptrag_rng_uniform(&r) < o->silent_frac;
            double f = exp(o->celltype_sd * ptrag_rng_normal(&r));
            m->factor[(size_t)k * C + c] = silent ? 0.0 : f;
        }
    sim_seed_rng(&r, o->seed, S_BATCH, 0);
    if (m->B > 1)
        for (size_t i = 0; i < (size_t)m->B * G; i++) m->batch[i] = (float)(o->batch_sd * ptrag_rng_normal(&r));
    for (int p = 0; p < P; p++) {
        sim_seed_rng(&r, o->seed, S_PROGRAMS, 100 + (uint64_t)p);
        double s = o->strength_min + (1.0 - o->strength_min) * ptrag_rng_uniform(&r);
        m->strength[p] = s;
        long own = find_gene(m, m->pert_names[p]);
        float *ind = calloc((size_t)G, sizeof *ind);
        if (!ind) {
            free(prog), free(stress);
            return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
        }
        for (int g = 0; g < G; g++)
            if (ptrag_rng_uniform(&r) < o->program_density)
                ind[g] = (float)(o->individual * o->effect * ptrag_rng_normal(&r));
        const float *pr = prog + (size_t)m->module[p] * G;
        for (int c = 0; c < C; c++) {
            double f = m->factor[(size_t)m->module[p] * C + c];
            float *row = sim_lfc_row(m, c, p + 1);
            for (int g = 0; g < G; g++) {
                double v = s * (f * pr[g] + ind[g] + stress[g]);
                row[g] = (float)(v < -5 ? -5 : v > 5 ? 5 : v);
            }
            if (own >= 0) row[own] = (float)log(1.0 - 0.95 * s); /* the knocked-down gene itself */
        }
        free(ind);
    }
    free(prog), free(stress);
    return 0;
}

int ptrag_sim_build_layout(const ptrag_sim_opts *o, sim_model *m, ptrag_error *err) {
    int C = m->n_ct, P = m->P;
    m->n_cells = malloc((size_t)C * (P + 1) * sizeof *m->n_cells);
    m->split_ct = calloc((size_t)P, sizeof *m->split_ct);
    int *perm = malloc((size_t)P * sizeof *perm);
    if (!m->n_cells || !m->split_ct || !perm) {
        free(perm);
        return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
    }
    ptrag_rng r;
    sim_seed_rng(&r, o->seed, S_LAYOUT, 0);
    double sd = o->cells_spread;
    for (int c = 0; c < C; c++) {
        m->n_cells[(size_t)c * (P + 1)] = o->n_controls;
        for (int p = 0; p < P; p++) {
            double n = o->cells_per_pert * exp(sd * ptrag_rng_normal(&r) - 0.5 * sd * sd);
            long k = lround(n);
            m->n_cells[(size_t)c * (P + 1) + p + 1] = k < 3 ? 3 : k;
        }
    }
    sim_seed_rng(&r, o->seed, S_SPLIT, 0);
    for (int p = 0; p < P; p++) perm[p] = p;
    ptrag_rng_shuffle_int(&r, perm, P);
    int n_test = (int)lround(o->test_frac * P), n_val = (int)lround(o->val_frac * P);
    if (n_test + n_val > P - 1) {
        free(perm);
        return ptrag_fail(err, PTRAG_E_ARG, "--test-frac %g + --val-frac %g leave no training perturbation",
                          o->test_frac, o->val_frac);
    }
    for (int i = 0; i < n_test; i++) m->split_ct[perm[i]] = 2;
    for (int i = n_test; i < n_test + n_val; i++) m->split_ct[perm[i]] = 1;
    free(perm);
    return 0;
}

