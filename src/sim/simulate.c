/* ptrag_simulate: the generative model of include/ptrag/simulate.h and
 * docs/simulate.md, written as one .h5ad (or one per cell type), two split
 * files, the truth and the settings. Random streams are counter-based per
 * purpose (and per cell), so the output does not depend on thread count. */
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

/* Streams of the counter-based seeds (one per purpose). */
enum { S_PERTS = 1, S_MODULES, S_PROGRAMS, S_CT, S_BATCH, S_SPLIT, S_LAYOUT, S_CELLS, S_GENES };

void ptrag_sim_opts_default(ptrag_sim_opts *o) {
    memset(o, 0, sizeof *o);
    o->pert_col = "perturbation";
    o->control = "control";
    o->celltype_col = "cell_type";
    o->source_scale = "auto";
    o->libsize_col = "ncounts";
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

/* Threads of the parallel loops: --threads, else OpenMP's default. */
static int n_threads(const ptrag_sim_opts *o) { return o->threads > 0 ? o->threads : omp_get_max_threads(); }

static void seed_rng(ptrag_rng *r, uint64_t seed, uint64_t stream, uint64_t index) {
    ptrag_rng_seed(r, ptrag_hash_u64(seed, stream, index));
}

/* Everything the cells are drawn from, fixed before any cell is drawn. */
typedef struct sim_model {
    int n_ct, P, K, G, B;
    char **ct_names;     /* n_ct (owned) */
    int *ct_src;         /* source cell type of each */
    char **pert_names;   /* P (owned) */
    int *module;         /* P */
    double *strength;    /* P */
    float *lfc;          /* n_ct x (P + 1) x G: row 0 of a cell type = control (zeros) */
    double *q;           /* n_ct x G: library shares */
    double *phi;         /* n_ct x G */
    double *lib_mu, *lib_sd; /* n_ct: log library size */
    double *factor;      /* K x n_ct */
    float *batch;        /* B x G */
    char **genes;        /* G (owned) */
    long *n_cells;       /* n_ct x (P + 1): cells per condition (index 0 = controls) */
    int *split_ct;       /* P: split in the held-out cell type (0 train, 1 val, 2 test) */
    int heldout;
} sim_model;

static void model_free(sim_model *m) {
    for (int c = 0; c < m->n_ct && m->ct_names; c++) free(m->ct_names[c]);
    for (int p = 0; p < m->P && m->pert_names; p++) free(m->pert_names[p]);
    for (int g = 0; g < m->G && m->genes; g++) free(m->genes[g]);
    free(m->ct_names), free(m->ct_src), free(m->pert_names), free(m->module), free(m->strength);
    free(m->lfc), free(m->q), free(m->phi), free(m->lib_mu), free(m->lib_sd), free(m->factor);
    free(m->batch), free(m->genes), free(m->n_cells), free(m->split_ct);
}

static float *lfc_row(const sim_model *m, int c, int p1) {
    return m->lfc + ((size_t)c * (size_t)(m->P + 1) + (size_t)p1) * (size_t)m->G;
}


/* Genes: the source's (n_genes = 0 or equal), its top-n by mean share
 * (fewer), or its genes followed by jittered copies (more). Fills q and phi. */
static int build_genes(const ptrag_sim_opts *o, const sim_source *s, sim_model *m, ptrag_error *err) {
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
        seed_rng(&r, o->seed, S_GENES, 0);
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
        seed_rng(&r, o->seed, S_CT, 1000 + (uint64_t)c);
        for (int g = 0; g < G; g++) {
            double ctj = c >= s->n_ct ? 0.3 * ptrag_rng_normal(&r) : 0.0;
            m->q[(size_t)c * G + g] = s->frac[(size_t)sc * G0 + pick[g]] * exp(jit[g] + ctj);
            m->phi[(size_t)c * G + g] = s->disp[(size_t)sc * G0 + pick[g]];
        }
    }
    free(pick), free(jit);
    return 0;
}

static int choose_perts(const ptrag_sim_opts *o, sim_model *m, const ptrag_embeddings *e, float **vecs_out,
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
    seed_rng(&r, o->seed, S_PERTS, 0);
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
static int build_effects(const ptrag_sim_opts *o, sim_model *m, ptrag_error *err) {
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
    seed_rng(&r, o->seed, S_PROGRAMS, 0);
    for (int k = 0; k < K; k++)
        for (int g = 0; g < G; g++)
            if (ptrag_rng_uniform(&r) < o->program_density) prog[(size_t)k * G + g] = (float)(o->effect * ptrag_rng_normal(&r));
    seed_rng(&r, o->seed, S_PROGRAMS, 1);
    for (int g = 0; g < G; g++)
        if (ptrag_rng_uniform(&r) < 2 * o->program_density) stress[g] = (float)(o->stress * ptrag_rng_normal(&r));
    seed_rng(&r, o->seed, S_CT, 0);
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            int silent = ptrag_rng_uniform(&r) < o->silent_frac;
            double f = exp(o->celltype_sd * ptrag_rng_normal(&r));
            m->factor[(size_t)k * C + c] = silent ? 0.0 : f;
        }
    seed_rng(&r, o->seed, S_BATCH, 0);
    if (m->B > 1)
        for (size_t i = 0; i < (size_t)m->B * G; i++) m->batch[i] = (float)(o->batch_sd * ptrag_rng_normal(&r));
    for (int p = 0; p < P; p++) {
        seed_rng(&r, o->seed, S_PROGRAMS, 100 + (uint64_t)p);
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
            float *row = lfc_row(m, c, p + 1);
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

static int build_layout(const ptrag_sim_opts *o, sim_model *m, ptrag_error *err) {
    int C = m->n_ct, P = m->P;
    m->n_cells = malloc((size_t)C * (P + 1) * sizeof *m->n_cells);
    m->split_ct = calloc((size_t)P, sizeof *m->split_ct);
    int *perm = malloc((size_t)P * sizeof *perm);
    if (!m->n_cells || !m->split_ct || !perm) {
        free(perm);
        return ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
    }
    ptrag_rng r;
    seed_rng(&r, o->seed, S_LAYOUT, 0);
    double sd = o->cells_spread;
    for (int c = 0; c < C; c++) {
        m->n_cells[(size_t)c * (P + 1)] = o->n_controls;
        for (int p = 0; p < P; p++) {
            double n = o->cells_per_pert * exp(sd * ptrag_rng_normal(&r) - 0.5 * sd * sd);
            long k = lround(n);
            m->n_cells[(size_t)c * (P + 1) + p + 1] = k < 3 ? 3 : k;
        }
    }
    seed_rng(&r, o->seed, S_SPLIT, 0);
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
            acc += GH_W[t] * sim_nb_expect_log1p(q * N * e, phi, o->target_sum / N);
        }
    }
    return acc / m->B;
}

static int write_truth(const ptrag_sim_opts *o, const sim_model *m, const char *path, ptrag_error *err) {
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
#pragma omp parallel for schedule(dynamic, 4) num_threads(n_threads(o))
    for (long i = 0; i < n; i++) {
        int c = (int)(i / P), p = (int)(i % P);
        const float *l = lfc_row(m, c, p + 1);
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

/* Draws cell `idx` of cell type c, condition p1 (0 = control) into row. */
static void draw_cell(const ptrag_sim_opts *o, const sim_model *m, int c, int p1, uint64_t idx, float *row,
                      int32_t *batch, double *libsize) {
    ptrag_rng r;
    seed_rng(&r, o->seed, S_CELLS, idx);
    double N = exp(m->lib_mu[c] + m->lib_sd[c] * ptrag_rng_normal(&r));
    int b = m->B > 1 ? (int)ptrag_rng_below(&r, (uint64_t)m->B) : 0;
    const float *l = lfc_row(m, c, p1), *bt = m->batch + (size_t)b * m->G;
    const double *q = m->q + (size_t)c * m->G, *phi = m->phi + (size_t)c * m->G;
    double k = o->target_sum / N;
    for (int g = 0; g < m->G; g++) {
        long y = sim_nb(&r, q[g] * N * exp((double)l[g] + bt[g]), phi[g]);
        row[g] = o->output_log1p ? (float)log1p(k * (double)y) : (float)y;
    }
    *batch = b;
    *libsize = N;
}

/* Writes the cells of cell types [c0, c1) to one file. */
static int write_cells(const ptrag_sim_opts *o, const sim_model *m, int c0, int c1, const char *path,
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
    char **cats = calloc((size_t)P + 1, sizeof *cats);
    char **bnames = calloc((size_t)m->B, sizeof *bnames);
    ptrag_h5ad_writer *w = NULL;
    int rc = 0;
    if (!ctc || !pc || !bc || !lib || !cond_c || !buf || !cats || !bnames) {
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
    for (long r0 = 0; r0 < n && !rc; r0 += block) {
        long nb = n - r0 < block ? n - r0 : block;
#pragma omp parallel for schedule(static) num_threads(n_threads(o))
        for (long t = 0; t < nb; t++)
            draw_cell(o, m, cond_c[r0 + t], pc[r0 + t], first_idx + (uint64_t)(r0 + t), buf + (size_t)t * G,
                      &bc[r0 + t], &lib[r0 + t]);
        rc = ptrag_h5ad_writer_append_rows(w, buf, nb, err);
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
        rc = ptrag_h5ad_writer_add_obs_codes(w, "cell_type", (const char *const *)(m->ct_names + c0), c1 - c0, ctc, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_codes(w, "gem_group", (const char *const *)bnames, m->B, bc, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "ncounts", lib, err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, err);
    if (bdyn)
        for (int b = 0; b < m->B; b++) free(bdyn[b]);
    free(bdyn);
done:
    ptrag_h5ad_writer_free(w);
    free(ctc), free(pc), free(bc), free(lib), free(cond_c), free(buf), free(cats), free(bnames);
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

static int write_split(const sim_model *m, const char *path, const char *data_rel, int zeroshot, ptrag_error *err) {
    char tmp[4096];
    int rc = ptrag_tmp_path(path, tmp, sizeof tmp, err);
    if (rc) return rc;
    FILE *f = fopen(tmp, "w");
    if (!f) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot write", tmp);
    const char *held = m->ct_names[m->heldout];
    fprintf(f, "# Written by ptrag simulate. Columns: perturbation = \"gene\", control = \"non-targeting\",\n"
               "# cell type = \"cell_type\", batch = \"gem_group\". Truth: truth.h5ad beside this file.\n");
    fprintf(f, "\n[datasets]\nsim = \"%s\"\n\n[training]\nsim = \"train\"\n\n[zeroshot]\n", data_rel);
    if (zeroshot) {
        /* the held-out cell type is test; another one is validation when there are 3 or more */
        fprintf(f, "\"sim.%s\" = \"test\"\n", held);
        if (m->n_ct >= 3) fprintf(f, "\"sim.%s\" = \"val\"\n", m->ct_names[(m->heldout + 1) % m->n_ct]);
        fprintf(f, "\n[fewshot]\n");
    } else {
        fprintf(f, "\n[fewshot]\n\n[fewshot.\"sim.%s\"]\n", held);
        toml_list(f, "val", m, 1);
        toml_list(f, "test", m, 2);
    }
    if (fclose(f) != 0) {
        remove(tmp);
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot write", tmp);
    }
    return ptrag_commit_tmp(tmp, path, err);
}

static int write_settings(const ptrag_sim_opts *o, const sim_model *m, const sim_source *s, const char *path,
                          ptrag_error *err) {
    char buf[8192];
    int n = snprintf(buf, sizeof buf,
                     "# ptrag simulate settings (same settings and version: same bytes)\n"
                     "version = %s\nsource = %s\nsource_scale = %s\nsource_libsize = %s\nembeddings = %s\n"
                     "seed = %llu\ncell_types = %d\nperturbations = %d\nmodules = %d\ngenes = %d\n"
                     "cells_per_pert = %g\ncells_spread = %g\ncontrols = %ld\nper_celltype_files = %d\n"
                     "output = %s\ntarget_sum = %g\ndepth = %g\neffect = %g\nprogram_density = %g\n"
                     "individual = %g\nstress = %g\nsilent_frac = %g\ncelltype_sd = %g\nstrength_min = %g\n"
                     "batches = %d\nbatch_sd = %g\nlibsize_sd = %g\nheldout = %s\ntest_frac = %g\nval_frac = %g\n",
                     PTRAG_VERSION, o->source, s->scale_log1p ? "log1p" : "counts",
                     s->had_libsize ? o->libsize_col : "(none)", o->embeddings, (unsigned long long)o->seed, m->n_ct,
                     m->P, m->K, m->G, o->cells_per_pert, o->cells_spread, o->n_controls, o->per_celltype_files,
                     o->output_log1p ? "log1p" : "counts", o->target_sum, o->depth, o->effect, o->program_density,
                     o->individual, o->stress, o->silent_frac, o->celltype_sd, o->strength_min, m->B, o->batch_sd,
                     o->libsize_sd, m->ct_names[m->heldout], o->test_frac, o->val_frac);
    return ptrag_write_file_atomic(path, buf, (size_t)(n < (int)sizeof buf ? n : (int)sizeof buf - 1), err);
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
    if ((rc = sim_source_load(o, &src, err))) return rc;
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
    for (int c = 0; c < m.n_ct; c++) {
        int sc = c % src.n_ct;
        char name[300];
        if (c < src.n_ct) snprintf(name, sizeof name, "%s", src.ct_names[sc]);
        else snprintf(name, sizeof name, "%s_%d", src.ct_names[sc], c / src.n_ct + 1);
        m.ct_src[c] = sc;
        m.lib_mu[c] = src.loglib_mean[sc] + log(o->depth);
        m.lib_sd[c] = o->libsize_sd >= 0 ? o->libsize_sd : src.loglib_sd[sc];
        if (!(m.ct_names[c] = strdup(name))) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
            goto done;
        }
        if (o->heldout && strcmp(o->heldout, name) == 0) m.heldout = c;
    }
    if (o->heldout && strcmp(m.ct_names[m.heldout], o->heldout) != 0) {
        char list[1024] = "";
        for (int c = 0; c < m.n_ct; c++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", c ? ", " : "", m.ct_names[c]);
        rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "--heldout: no simulated cell type '%s' (have: %s)", o->heldout, list);
        goto done;
    }
    if ((rc = build_genes(o, &src, &m, err))) goto done;
    if ((rc = ptrag_embeddings_load(o->embeddings, &e, err))) goto done;
    if ((rc = choose_perts(o, &m, e, &vecs, err))) goto done;
    m.module = malloc((size_t)m.P * sizeof *m.module);
    if (!m.module) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "simulate: out of memory");
        goto done;
    }
    ptrag_rng r;
    seed_rng(&r, o->seed, S_MODULES, 0);
    if ((rc = sim_kmeans_cosine(vecs, m.P, ptrag_embeddings_dim(e), m.K, &r, m.module, err))) goto done;
    if ((rc = build_effects(o, &m, err))) goto done;
    if ((rc = build_layout(o, &m, err))) goto done;

    if ((rc = ptrag_mkdir_p(o->out_dir, err))) goto done;
    char path[4096];
    long total = 0, done_cells = 0;
    for (size_t i = 0; i < (size_t)m.n_ct * (m.P + 1); i++) total += m.n_cells[i];
    const char *data_rel;
    if (o->per_celltype_files) {
        snprintf(path, sizeof path, "%s/data", o->out_dir);
        if ((rc = ptrag_mkdir_p(path, err))) goto done;
        for (int c = 0; c < m.n_ct && !rc; c++) {
            snprintf(path, sizeof path, "%s/data/%s.h5ad", o->out_dir, m.ct_names[c]);
            rc = write_cells(o, &m, c, c + 1, path, &done_cells, total, err);
        }
        data_rel = "data";
    } else {
        snprintf(path, sizeof path, "%s/sim.h5ad", o->out_dir);
        rc = write_cells(o, &m, 0, m.n_ct, path, &done_cells, total, err);
        data_rel = "sim.h5ad";
    }
    if (rc) goto done;
    snprintf(path, sizeof path, "%s/truth.h5ad", o->out_dir);
    if ((rc = write_truth(o, &m, path, err))) goto done;
    snprintf(path, sizeof path, "%s/split_fewshot.toml", o->out_dir);
    if ((rc = write_split(&m, path, data_rel, 0, err))) goto done;
    snprintf(path, sizeof path, "%s/split_zeroshot.toml", o->out_dir);
    if ((rc = write_split(&m, path, data_rel, 1, err))) goto done;
    snprintf(path, sizeof path, "%s/simulate.txt", o->out_dir);
    if ((rc = write_settings(o, &m, &src, path, err))) goto done;
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
    model_free(&m);
    sim_source_free(&src);
    return rc;
}
