/* Compact summaries of the real obs columns of two shared data sets, for split
 * and sampler tests that must not read .h5ad files. Generated once with
 * /usr/bin/python3 + anndata from ../shared/data:
 *   collections.Counter(zip(obs.cell_type, obs.perturbation, obs.dataset))
 *   of perturbench_devel_4celltypes/devel.h5ad, and
 *   collections.Counter(zip(obs.condition, obs.gene)) of the Datlinger file. */
#ifndef PTRAG_TEST_SPLIT_FIXTURES_H
#define PTRAG_TEST_SPLIT_FIXTURES_H

typedef struct {
    const char *celltype, *pert, *batch;
    int n;
} fixture_count;

/* perturbench_devel_4celltypes/devel.h5ad: cells per (cell_type, perturbation, dataset), from the real obs columns */
static const fixture_count perturbench_counts[] = {
    {"A172", "MAP2K3", "mcfaline23", 100},
    {"A172", "MAP2K6", "mcfaline23", 85},
    {"A172", "MAP3K21", "mcfaline23", 94},
    {"A172", "MAP4K3", "mcfaline23", 88},
    {"A172", "MAP4K5", "mcfaline23", 68},
    {"A172", "MAPK1", "mcfaline23", 100},
    {"A172", "PLK4", "mcfaline23", 46},
    {"A172", "SGK1", "mcfaline23", 100},
    {"A172", "TGFBR2", "mcfaline23", 69},
    {"A172", "control", "mcfaline23", 100},
    {"T98G", "MAP2K3", "mcfaline23", 78},
    {"T98G", "MAP2K6", "mcfaline23", 71},
    {"T98G", "MAP3K21", "mcfaline23", 100},
    {"T98G", "MAP4K3", "mcfaline23", 95},
    {"T98G", "MAP4K5", "mcfaline23", 84},
    {"T98G", "MAPK1", "mcfaline23", 88},
    {"T98G", "PLK4", "mcfaline23", 71},
    {"T98G", "SGK1", "mcfaline23", 100},
    {"T98G", "TGFBR2", "mcfaline23", 84},
    {"T98G", "control", "mcfaline23", 100},
    {"U87MG", "MAP2K3", "mcfaline23", 85},
    {"U87MG", "MAP2K6", "mcfaline23", 61},
    {"U87MG", "MAP3K21", "mcfaline23", 86},
    {"U87MG", "MAP4K3", "mcfaline23", 95},
    {"U87MG", "MAP4K5", "mcfaline23", 95},
    {"U87MG", "MAPK1", "mcfaline23", 86},
    {"U87MG", "PLK4", "mcfaline23", 60},
    {"U87MG", "SGK1", "mcfaline23", 100},
    {"U87MG", "TGFBR2", "mcfaline23", 97},
    {"U87MG", "control", "mcfaline23", 100},
    {"k562", "BPGM+SAMD1", "norman19", 100},
    {"k562", "CBL+CNN1", "norman19", 100},
    {"k562", "CEBPE+RUNX1T1", "norman19", 100},
    {"k562", "CNN1+MAPK1", "norman19", 100},
    {"k562", "FOXL2+HOXB9", "norman19", 80},
    {"k562", "FOXO4", "norman19", 100},
    {"k562", "HK2", "norman19", 100},
    {"k562", "IER5L", "norman19", 100},
    {"k562", "KLF1", "norman19", 100},
    {"k562", "KLF1+MAP2K6", "norman19", 100},
    {"k562", "KLF1+TGFBR2", "norman19", 100},
    {"k562", "KMT2A", "norman19", 100},
    {"k562", "MAP2K3", "norman19", 100},
    {"k562", "MAP2K3+MAP2K6", "norman19", 100},
    {"k562", "MAP2K3+SLC38A2", "norman19", 100},
    {"k562", "MAP2K6", "norman19", 100},
    {"k562", "MAP3K21", "norman19", 100},
    {"k562", "MAP4K3", "norman19", 100},
    {"k562", "MAP4K5", "norman19", 100},
    {"k562", "MAPK1", "norman19", 100},
    {"k562", "MAPK1+TGFBR2", "norman19", 100},
    {"k562", "MIDN", "norman19", 100},
    {"k562", "NIT1", "norman19", 100},
    {"k562", "PLK4", "norman19", 95},
    {"k562", "PTPN12+PTPN9", "norman19", 100},
    {"k562", "SAMD1+PTPN12", "norman19", 100},
    {"k562", "SET+KLF1", "norman19", 100},
    {"k562", "SGK1", "norman19", 100},
    {"k562", "SGK1+TBX3", "norman19", 100},
    {"k562", "SLC38A2", "norman19", 100},
    {"k562", "TGFBR2", "norman19", 100},
    {"k562", "TMSB4X", "norman19", 100},
    {"k562", "ZBTB10+PTPN12", "norman19", 100},
    {"k562", "control", "norman19", 100},
};
static const long perturbench_n_cells = 5961;
/* datlinger2017_jurkat/datlinger2017_jurkat_counts.h5ad: cells per (condition, gene), from the real obs columns (batch not kept) */
static const fixture_count datlinger_counts[] = {
    {"stimulated", "DOK2", "all", 188},
    {"stimulated", "EGR1", "all", 178},
    {"stimulated", "EGR2", "all", 166},
    {"stimulated", "EGR3", "all", 243},
    {"stimulated", "EGR4", "all", 237},
    {"stimulated", "FOS", "all", 165},
    {"stimulated", "JUN", "all", 203},
    {"stimulated", "JUND", "all", 208},
    {"stimulated", "LAT", "all", 121},
    {"stimulated", "LCK", "all", 227},
    {"stimulated", "NFAT5", "all", 218},
    {"stimulated", "NFATC1", "all", 254},
    {"stimulated", "NFKB1", "all", 173},
    {"stimulated", "NFKB2", "all", 175},
    {"stimulated", "NR4A1", "all", 155},
    {"stimulated", "PTPN11", "all", 154},
    {"stimulated", "PTPN6", "all", 238},
    {"stimulated", "RELA", "all", 145},
    {"stimulated", "RUNX2", "all", 105},
    {"stimulated", "ZAP70", "all", 166},
    {"stimulated", "non-targeting", "all", 140},
    {"unstimulated", "DOK2", "all", 212},
    {"unstimulated", "EGR1", "all", 222},
    {"unstimulated", "EGR2", "all", 234},
    {"unstimulated", "EGR3", "all", 157},
    {"unstimulated", "EGR4", "all", 151},
    {"unstimulated", "FOS", "all", 235},
    {"unstimulated", "JUN", "all", 197},
    {"unstimulated", "JUND", "all", 192},
    {"unstimulated", "LAT", "all", 279},
    {"unstimulated", "LCK", "all", 173},
    {"unstimulated", "NFAT5", "all", 97},
    {"unstimulated", "NFATC1", "all", 80},
    {"unstimulated", "NFKB1", "all", 147},
    {"unstimulated", "NFKB2", "all", 140},
    {"unstimulated", "NR4A1", "all", 137},
    {"unstimulated", "PTPN11", "all", 246},
    {"unstimulated", "PTPN6", "all", 162},
    {"unstimulated", "RELA", "all", 134},
    {"unstimulated", "RUNX2", "all", 152},
    {"unstimulated", "ZAP70", "all", 234},
    {"unstimulated", "non-targeting", "all", 60},
};
static const long datlinger_n_cells = 7500;

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/split.h"

/* Per-cell label arrays expanded from a count table; rows are interleaved by
 * a fixed permutation so conditions are not contiguous, as in real files. */
typedef struct {
    long n_cells;
    int32_t *pert, *ct, *batch;
    const char *pert_names[256], *ct_names[64], *batch_names[256];
    int n_perts, n_ct, n_batches;
} fixture_cells;

static int fixture_intern(const char **names, int *n, const char *s) {
    for (int i = 0; i < *n; i++)
        if (!strcmp(names[i], s)) return i;
    /* insertion keeps the categories sorted, as anndata stores them */
    int at = *n;
    while (at > 0 && strcmp(names[at - 1], s) > 0) at--;
    memmove(names + at + 1, names + at, (size_t)(*n - at) * sizeof *names);
    names[at] = s;
    (*n)++;
    return at;
}

static int fixture_code(const char *const *names, int n, const char *s) {
    for (int i = 0; i < n; i++)
        if (!strcmp(names[i], s)) return i;
    return -1;
}

static void fixture_build(const fixture_count *c, int nc, fixture_cells *f) {
    memset(f, 0, sizeof *f);
    for (int i = 0; i < nc; i++) {
        fixture_intern(f->pert_names, &f->n_perts, c[i].pert);
        fixture_intern(f->ct_names, &f->n_ct, c[i].celltype);
        fixture_intern(f->batch_names, &f->n_batches, c[i].batch);
        f->n_cells += c[i].n;
    }
    f->pert = malloc((size_t)f->n_cells * sizeof *f->pert);
    f->ct = malloc((size_t)f->n_cells * sizeof *f->ct);
    f->batch = malloc((size_t)f->n_cells * sizeof *f->batch);
    long r = 0;
    for (int i = 0; i < nc; i++)
        for (int k = 0; k < c[i].n; k++, r++) {
            f->pert[r] = fixture_code(f->pert_names, f->n_perts, c[i].pert);
            f->ct[r] = fixture_code(f->ct_names, f->n_ct, c[i].celltype);
            f->batch[r] = fixture_code(f->batch_names, f->n_batches, c[i].batch);
        }
    uint64_t x = 12345;
    for (long i = f->n_cells - 1; i > 0; i--) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        long j = (long)((x >> 33) % (uint64_t)(i + 1));
        int32_t t;
        t = f->pert[i], f->pert[i] = f->pert[j], f->pert[j] = t;
        t = f->ct[i], f->ct[i] = f->ct[j], f->ct[j] = t;
        t = f->batch[i], f->batch[i] = f->batch[j], f->batch[j] = t;
    }
}

static void fixture_free(fixture_cells *f) {
    free(f->pert);
    free(f->ct);
    free(f->batch);
}

static ptrag_cell_labels fixture_labels(const fixture_cells *f, int with_batch) {
    ptrag_cell_labels l = {.n_cells = f->n_cells,
                           .pert_code = f->pert,
                           .pert_names = f->pert_names,
                           .n_perts = f->n_perts,
                           .ct_code = f->ct,
                           .ct_names = f->ct_names,
                           .n_ct = f->n_ct};
    if (with_batch) {
        l.batch_code = f->batch;
        l.n_batches = f->n_batches;
    }
    return l;
}

#define FIXTURE_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

#endif
