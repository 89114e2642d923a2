/* Index sampling speed of the set sampler: batches of B=64 sets x S=64 cells
 * (target rows, paired control rows, batch ids) for a generated dataset of
 * 200,000 cells, 4 cell types x 500 perturbations (2,000 conditions) + controls.
 * The expression gather is not included (it needs the h5ad reader).
 * Reference in the same process: the bare cost of one RNG draw per cell
 * (B x S ptrag_rng_below: the pairing draws alone), the floor any sampler pays.
 *   usage: bench_sampler [steps (default 2000)] */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ptrag/rng.h"
#include "ptrag/sampler.h"
#include "ptrag/split.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? atol(argv[1]) : 2000;
    enum { NCT = 4, NP = 500, NB = 8 };
    long n = 200000;
    const char *tmp = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char data[4096], split[4200];
    snprintf(data, sizeof data, "%s/bench_sampler_%ld.h5ad", tmp, (long)getpid());
    snprintf(split, sizeof split, "%s.toml", data);
    FILE *f = fopen(data, "w");
    if (f) fclose(f);
    f = fopen(split, "w");
    if (!f) return 1;
    fprintf(f, "[datasets]\nsyn = \"%s\"\n[training]\nsyn = \"train\"\n[fewshot.\"syn.ct0\"]\n"
               "test = [\"P0001\", \"P0002\", \"P0003\"]\nval = [\"P0004\"]\n", data);
    fclose(f);

    /* labels: perturbation 0 = control; sizes vary 20..180 through the random codes */
    static char pnames[NP + 1][16], cnames[NCT][8];
    const char *pn[NP + 1], *cn[NCT];
    for (int p = 0; p <= NP; p++) {
        snprintf(pnames[p], sizeof pnames[p], p ? "P%04d" : "non-targeting", p);
        pn[p] = pnames[p];
    }
    for (int c = 0; c < NCT; c++) {
        snprintf(cnames[c], sizeof cnames[c], "ct%d", c);
        cn[c] = cnames[c];
    }
    int32_t *pc = malloc((size_t)n * sizeof *pc), *cc = malloc((size_t)n * sizeof *cc),
            *bc = malloc((size_t)n * sizeof *bc);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 1);
    for (long i = 0; i < n; i++) {
        cc[i] = (int32_t)ptrag_rng_below(&rng, NCT);
        pc[i] = ptrag_rng_below(&rng, 20) == 0 ? 0 : (int32_t)(1 + ptrag_rng_below(&rng, NP));
        bc[i] = (int32_t)ptrag_rng_below(&rng, NB);
    }
    ptrag_cell_labels l = {.n_cells = n, .pert_code = pc, .pert_names = pn, .n_perts = NP + 1,
                           .ct_code = cc, .ct_names = cn, .n_ct = NCT, .batch_code = bc, .n_batches = NB};
    ptrag_error err = {0};
    ptrag_split_spec *spec = NULL;
    ptrag_assignment *a = NULL;
    ptrag_sampler *s = NULL;
    double t0 = now();
    int rc = ptrag_split_load(split, &spec, &err);
    if (!rc) rc = ptrag_split_assign(spec, "syn", &l, "non-targeting", &a, &err);
    double t1 = now();
    ptrag_sampler_opts o;
    ptrag_sampler_opts_default(&o);
    if (!rc) rc = ptrag_sampler_new(a, &o, &s, &err);
    double t2 = now();
    remove(data);
    remove(split);
    if (rc) {
        fprintf(stderr, "bench_sampler: %s\n", err.msg);
        return 1;
    }
    printf("cells %ld, conditions %d (train %d), sets %ld, batches/epoch %ld\n", n, a->n_conditions,
           a->n_conditions_split[PTRAG_SPLIT_TRAIN], ptrag_sampler_n_sets(s),
           ptrag_sampler_batches_per_epoch(s));
    printf("split assign %.1f ms, sampler layout %.1f ms\n", 1e3 * (t1 - t0), 1e3 * (t2 - t1));

    ptrag_set_batch b;
    if (ptrag_set_batch_alloc(&b, 64, 64, &err)) return 1;
    uint64_t sink = 0;
    double t3 = now();
    for (long st = 0; st < steps; st++) {
        ptrag_sampler_batch(s, st, &b, &err);
        sink += (uint64_t)b.control_rows[st % 4096];
    }
    double t4 = now();
    /* reference: the RNG draws alone */
    ptrag_rng r2;
    ptrag_rng_seed(&r2, 5);
    for (long st = 0; st < steps; st++)
        for (int k = 0; k < 64 * 64; k++) sink += ptrag_rng_below(&r2, 97);
    double t5 = now();
    double per = (t4 - t3) / (double)steps, ref = (t5 - t4) / (double)steps;
    printf("1 thread: %.0f batches/s (%.1f us/batch of 64x64); bare RNG draws %.1f us; ratio %.2fx\n",
           1.0 / per, 1e6 * per, 1e6 * ref, per / ref);

    o.pair_by_batch = 1;
    ptrag_sampler *sb = NULL;
    if (ptrag_sampler_new(a, &o, &sb, &err) == 0) {
        double t6 = now();
        for (long st = 0; st < steps; st++) {
            ptrag_sampler_batch(sb, st, &b, &err);
            sink += (uint64_t)b.control_rows[st % 4096];
        }
        double t7 = now();
        printf("1 thread, pair-by-batch: %.0f batches/s\n", (double)steps / (t7 - t6));
        ptrag_sampler_free(sb);
    }

    int nt = omp_get_max_threads();
    double t8 = now();
#pragma omp parallel reduction(+ : sink)
    {
        ptrag_set_batch tb;
        ptrag_error terr = {0};
        if (ptrag_set_batch_alloc(&tb, 64, 64, &terr) == 0) {
#pragma omp for schedule(static)
            for (long st = 0; st < steps; st++) {
                ptrag_sampler_batch(s, st, &tb, &terr);
                sink += (uint64_t)tb.target_rows[st % 4096];
            }
            ptrag_set_batch_free(&tb);
        }
    }
    double t9 = now();
    printf("%d threads: %.0f batches/s\n", nt, (double)steps / (t9 - t8));
    printf("(checksum %llu)\n", (unsigned long long)(sink & 0xFFFF));
    ptrag_set_batch_free(&b);
    ptrag_sampler_free(s);
    ptrag_assignment_free(a);
    ptrag_split_spec_free(spec);
    free(pc);
    free(cc);
    free(bc);
    return 0;
}
