/* Applying a split file to one dataset's per-cell labels: which (cell type,
 * perturbation) conditions go to train/val/test, and the control pools.
 * See include/ptrag/split.h for the semantics. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/split.h"

/* How one cell type of the dataset is used. */
enum { CT_UNUSED = 0, CT_TRAIN, CT_ZEROSHOT, CT_FEWSHOT };

int ptrag_edit_distance(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    int *row = malloc((nb + 1) * sizeof *row);
    if (!row) return (int)(na > nb ? na : nb);
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int sub = diag + (a[i - 1] != b[j - 1]);
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    int d = row[nb];
    free(row);
    return d;
}

static char *lowercase_dup(const char *s) {
    char *d = strdup(s);
    if (d)
        for (char *p = d; *p; p++) *p = (char)tolower((unsigned char)*p);
    return d;
}

void ptrag_nearest_names(const char *query, const char *const *names, int n, int k, char *out,
                         size_t cap) {
    if (cap) out[0] = '\0';
    if (n <= 0 || k <= 0 || cap == 0) return;
    int *dist = malloc((size_t)n * sizeof *dist);
    int *order = malloc((size_t)n * sizeof *order);
    char *q = lowercase_dup(query);
    if (!dist || !order || !q) goto done;
    for (int i = 0; i < n; i++) {
        char *lname = lowercase_dup(names[i]);
        dist[i] = lname ? ptrag_edit_distance(q, lname) : 1 << 30;
        free(lname);
        order[i] = i;
    }
    /* selection of the k best: distance, then name order */
    size_t used = 0;
    for (int r = 0; r < k && r < n; r++) {
        int best = r;
        for (int i = r + 1; i < n; i++) {
            int a = order[i], b = order[best];
            if (dist[a] < dist[b] || (dist[a] == dist[b] && strcmp(names[a], names[b]) < 0)) best = i;
        }
        int t = order[r];
        order[r] = order[best];
        order[best] = t;
        int w = snprintf(out + used, cap - used, "%s%s", r ? ", " : "", names[order[r]]);
        if (w < 0 || (size_t)w >= cap - used) break;
        used += (size_t)w;
    }
done:
    free(dist);
    free(order);
    free(q);
}

void ptrag_assignment_free(ptrag_assignment *a) {
    if (!a) return;
    if (a->pert_names)
        for (int i = 0; i < a->n_perts; i++) free(a->pert_names[i]);
    if (a->ct_names)
        for (int i = 0; i < a->n_ct; i++) free(a->ct_names[i]);
    free(a->pert_names);
    free(a->ct_names);
    free(a->dataset);
    free(a->conditions);
    free(a->ctrl);
    free(a->ctrl_batch);
    free(a->batch_code);
    free(a->row_storage);
    free(a);
}

int ptrag_assignment_find(const ptrag_assignment *a, int32_t ct, int32_t pert) {
    int lo = 0, hi = a->n_conditions - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const ptrag_condition *c = &a->conditions[mid];
        if (c->ct == ct && c->pert == pert) return mid;
        if (c->ct < ct || (c->ct == ct && c->pert < pert))
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

static void recount(ptrag_assignment *a) {
    for (int s = 0; s < PTRAG_SPLIT_COUNT; s++) {
        a->n_cells_split[s] = 0;
        a->n_conditions_split[s] = 0;
    }
    for (int i = 0; i < a->n_conditions; i++) {
        const ptrag_condition *c = &a->conditions[i];
        if (c->is_control) continue;
        for (int s = 0; s < PTRAG_SPLIT_COUNT; s++)
            if (c->splits & PTRAG_SPLIT_MASK(s)) {
                a->n_cells_split[s] += c->n_rows;
                a->n_conditions_split[s]++;
            }
    }
}

void ptrag_assignment_keep_perts(ptrag_assignment *a, const unsigned char *keep) {
    int m = 0;
    for (int i = 0; i < a->n_conditions; i++) {
        const ptrag_condition *c = &a->conditions[i];
        if (c->is_control || keep[c->pert]) a->conditions[m++] = *c;
    }
    a->n_conditions = m;
    recount(a);
}

static int spec_lists_val(const ptrag_split_spec *spec) {
    for (int i = 0; i < spec->n_fewshot; i++)
        if (spec->fewshot[i].n_val > 0) return 1;
    for (int i = 0; i < spec->n_zeroshot; i++)
        if (spec->zeroshot[i].split == PTRAG_SPLIT_VAL) return 1;
    return 0;
}

int ptrag_split_check_nonempty(const ptrag_split_spec *spec, const ptrag_assignment *const *as,
                               int n, ptrag_error *err) {
    int total[PTRAG_SPLIT_COUNT] = {0};
    for (int i = 0; i < n; i++)
        for (int s = 0; s < PTRAG_SPLIT_COUNT; s++) total[s] += as[i]->n_conditions_split[s];
    int need_val = spec_lists_val(spec);
    for (int s = 0; s < PTRAG_SPLIT_COUNT; s++) {
        if (total[s] > 0 || (s == PTRAG_SPLIT_VAL && !need_val)) continue;
        return ptrag_fail(err, PTRAG_E_ARG,
                          "%s: split '%s' is empty: no perturbed (cell type, perturbation) "
                          "condition of the data is assigned to it",
                          spec->path, ptrag_split_name(s));
    }
    return 0;
}

static int find_name(const char *const *names, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], name) == 0) return i;
    return -1;
}

/* Lists (up to ~40) names into out, for "present are: ..." messages. */
static void list_names(const char *const *names, int n, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0 || (size_t)w >= cap - used) {
            if (cap > 4) strcpy(out + cap - 4, "...");
            return;
        }
        used += (size_t)w;
    }
}

typedef struct {
    const ptrag_split_spec *spec;
    const ptrag_cell_labels *cells;
    int dataset;
    ptrag_error *err;
    int *ct_mode;           /* [n_ct] CT_* */
    int *ct_rule;           /* [n_ct] index of the zeroshot/fewshot entry */
    long *count;            /* [n_ct * n_perts] cells per (ct, pert) */
    signed char *pert_split; /* [n_ct * n_perts] split of a perturbed condition, -1 unused */
} assigner;

/* Dataset (index into spec->datasets) of cell type ct. */
static int ct_dataset_of(const assigner *as, int ct) {
    return as->cells->ct_dataset ? as->cells->ct_dataset[ct] : as->dataset;
}

/* Cell type `name` of dataset `ds`, or -1. */
static int find_celltype(const assigner *as, int ds, const char *name) {
    const ptrag_cell_labels *c = as->cells;
    for (int i = 0; i < c->n_ct; i++)
        if (c->ct_names[i] && ct_dataset_of(as, i) == ds && strcmp(c->ct_names[i], name) == 0) return i;
    return -1;
}

/* Resolves the zeroshot/fewshot overrides of this dataset (of every dataset
 * with ct_dataset) to cell-type codes. */
static int apply_overrides(assigner *as) {
    const ptrag_split_spec *spec = as->spec;
    const ptrag_cell_labels *c = as->cells;
    char listing[600];
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? spec->n_fewshot : spec->n_zeroshot;
        for (int i = 0; i < n; i++) {
            const char *rule_ds = pass ? spec->fewshot[i].dataset : spec->zeroshot[i].dataset;
            const char *ct_name = pass ? spec->fewshot[i].celltype : spec->zeroshot[i].celltype;
            int line = pass ? spec->fewshot[i].line : spec->zeroshot[i].line;
            int rd = ptrag_split_find_dataset(spec, rule_ds);
            if (!c->ct_dataset && rd != as->dataset) continue;
            int ct = find_celltype(as, rd, ct_name);
            long n_ct_cells = 0;
            if (ct >= 0)
                for (int p = 0; p < c->n_perts; p++) n_ct_cells += as->count[(long)ct * c->n_perts + p];
            if (ct < 0 || n_ct_cells == 0) {
                /* the cell types of that dataset, for the message */
                const char **have = malloc((size_t)c->n_ct * sizeof *have);
                int nh = 0;
                for (int k = 0; have && k < c->n_ct; k++)
                    if (ct_dataset_of(as, k) == rd) have[nh++] = c->ct_names[k];
                if (have) list_names(have, nh, listing, sizeof listing);
                else snprintf(listing, sizeof listing, "?");
                free(have);
                return ptrag_fail(as->err, PTRAG_E_NOTFOUND,
                                  "%s: line %d: [%s] cell type '%s' of dataset '%s' has no cell in "
                                  "the data (cell types: %s)",
                                  spec->path, line, pass ? "fewshot" : "zeroshot", ct_name, rule_ds,
                                  nh ? listing : "none");
            }
            as->ct_mode[ct] = pass ? CT_FEWSHOT : CT_ZEROSHOT;
            as->ct_rule[ct] = i;
        }
    }
    return 0;
}

/* Sets pert_split for each used cell type; checks fewshot lists against the data. */
static int assign_perturbations(assigner *as, int32_t control) {
    const ptrag_split_spec *spec = as->spec;
    const ptrag_cell_labels *c = as->cells;
    int np = c->n_perts;
    for (int ct = 0; ct < c->n_ct; ct++) {
        int mode = as->ct_mode[ct];
        long *cnt = &as->count[(long)ct * np];
        signed char *ps = &as->pert_split[(long)ct * np];
        for (int p = 0; p < np; p++) {
            ps[p] = -1;
            if (mode == CT_UNUSED || cnt[p] == 0 || p == control) continue;
            ps[p] = mode == CT_ZEROSHOT ? (signed char)spec->zeroshot[as->ct_rule[ct]].split
                                        : (signed char)PTRAG_SPLIT_TRAIN;
        }
        if (mode != CT_FEWSHOT) continue;
        const ptrag_split_fewshot *f = &spec->fewshot[as->ct_rule[ct]];
        for (int which = 0; which < 2; which++) {
            char **list = which ? f->test : f->val;
            int nl = which ? f->n_test : f->n_val;
            for (int k = 0; k < nl; k++) {
                int p = find_name(c->pert_names, np, list[k]);
                if (p == control)
                    return ptrag_fail(as->err, PTRAG_E_ARG,
                                      "%s: line %d: [fewshot.\"%s.%s\"] %s lists the control label "
                                      "'%s'; controls are shared by every split and cannot be held out",
                                      spec->path, f->line, f->dataset, f->celltype,
                                      which ? "test" : "val", list[k]);
                if (p < 0 || cnt[p] == 0) {
                    /* nearest among the perturbations this cell type has */
                    const char **have = malloc((size_t)np * sizeof *have);
                    int nh = 0;
                    char near[400] = "";
                    if (have) {
                        for (int q = 0; q < np; q++)
                            if (cnt[q] > 0 && q != control) have[nh++] = c->pert_names[q];
                        ptrag_nearest_names(list[k], have, nh, 3, near, sizeof near);
                        free(have);
                    }
                    return ptrag_fail(as->err, PTRAG_E_NOTFOUND,
                                      "%s: line %d: [fewshot.\"%s.%s\"] %s: perturbation '%s' has no "
                                      "cell of cell type '%s'%s (nearest names: %s)",
                                      spec->path, f->line, f->dataset, f->celltype,
                                      which ? "test" : "val", list[k], f->celltype,
                                      p < 0 ? " nor anywhere in the data" : "", near);
                }
                ps[p] = (signed char)(which ? PTRAG_SPLIT_TEST : PTRAG_SPLIT_VAL);
            }
        }
    }
    return 0;
}

static unsigned control_splits(const assigner *as, int ct) {
    switch (as->ct_mode[ct]) {
    case CT_TRAIN: return PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN);
    case CT_ZEROSHOT:
        return PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN) |
               PTRAG_SPLIT_MASK(as->spec->zeroshot[as->ct_rule[ct]].split);
    case CT_FEWSHOT: return PTRAG_SPLIT_MASK_ALL;
    }
    return 0;
}

static int build(assigner *as, int32_t control, const char *control_label, ptrag_assignment *a) {
    const ptrag_cell_labels *c = as->cells;
    int np = c->n_perts, nct = c->n_ct;
    long ncond_max = (long)np * nct;
    ptrag_error *err = as->err;
    const char *path = as->spec->path;

    /* every used cell type with perturbed cells needs controls to pair with */
    for (int ct = 0; ct < nct; ct++) {
        if (as->ct_mode[ct] == CT_UNUSED) continue;
        long pert_cells = 0;
        for (int p = 0; p < np; p++)
            if (p != control) pert_cells += as->count[(long)ct * np + p];
        if (pert_cells > 0 && as->count[(long)ct * np + control] == 0)
            return ptrag_fail(err, PTRAG_E_NOTFOUND,
                              "%s: dataset '%s': cell type '%s' has %ld perturbed cells but no "
                              "control ('%s') cell to pair them with",
                              path, as->spec->datasets[ct_dataset_of(as, ct)].name, c->ct_names[ct],
                              pert_cells, control_label);
    }

    /* rows of every (ct, pert) with cells, in one storage array (counting sort) */
    long *offset = malloc((size_t)(ncond_max + 1) * sizeof *offset);
    if (!offset) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    offset[0] = 0;
    for (long k = 0; k < ncond_max; k++) offset[k + 1] = offset[k] + as->count[k];
    long n_labelled = offset[ncond_max];
    /* the (ct, batch) control pools live after the condition rows */
    long n_batched_ctrl = 0;
    if (c->batch_code && c->n_batches > 0)
        for (long i = 0; i < c->n_cells; i++)
            if (c->pert_code[i] == control && c->ct_code[i] >= 0 && c->batch_code[i] >= 0)
                n_batched_ctrl++;
    a->row_storage = malloc((size_t)(n_labelled + n_batched_ctrl + 1) * sizeof *a->row_storage);
    long *fill = malloc((size_t)(ncond_max ? ncond_max : 1) * sizeof *fill);
    if (!a->row_storage || !fill) {
        free(offset);
        free(fill);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    memcpy(fill, offset, (size_t)ncond_max * sizeof *fill);
    for (long i = 0; i < c->n_cells; i++) {
        int32_t p = c->pert_code[i], ct = c->ct_code[i];
        if (p < 0 || ct < 0) continue;
        a->row_storage[fill[(long)ct * np + p]++] = i;
    }
    free(fill);

    /* conditions, sorted by (ct, pert) */
    int ncond = 0;
    for (long k = 0; k < ncond_max; k++) {
        int ct = (int)(k / np), p = (int)(k % np);
        if (as->count[k] == 0 || as->ct_mode[ct] == CT_UNUSED) continue;
        if (p != control && as->pert_split[k] < 0) continue;
        ncond++;
    }
    a->conditions = calloc((size_t)(ncond ? ncond : 1), sizeof *a->conditions);
    a->ctrl = calloc((size_t)(nct ? nct : 1), sizeof *a->ctrl);
    if (!a->conditions || !a->ctrl) {
        free(offset);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    for (long k = 0; k < ncond_max; k++) {
        int ct = (int)(k / np), p = (int)(k % np);
        if (p == control) {
            a->ctrl[ct].n_rows = as->count[k];
            a->ctrl[ct].rows = a->row_storage + offset[k];
        }
        if (as->count[k] == 0 || as->ct_mode[ct] == CT_UNUSED) {
            if (as->count[k]) a->n_unused += as->count[k];
            continue;
        }
        if (p != control && as->pert_split[k] < 0) continue;
        ptrag_condition *cd = &a->conditions[a->n_conditions++];
        cd->ct = ct;
        cd->pert = p;
        cd->is_control = p == control;
        cd->splits = cd->is_control ? control_splits(as, ct) : PTRAG_SPLIT_MASK(as->pert_split[k]);
        cd->n_rows = as->count[k];
        cd->rows = a->row_storage + offset[k];
    }
    free(offset);

    /* control pools per (ct, batch): rows ascending */
    if (c->batch_code && c->n_batches > 0) {
        long nb = c->n_batches, npool = (long)nct * nb;
        a->ctrl_batch = calloc((size_t)npool, sizeof *a->ctrl_batch);
        long *boff = calloc((size_t)npool + 1, sizeof *boff);
        if (!a->ctrl_batch || !boff) {
            free(boff);
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        }
        long nctrl = 0;
        for (int ct = 0; ct < nct; ct++)
            for (long j = 0; j < a->ctrl[ct].n_rows; j++) {
                int32_t b = c->batch_code[a->ctrl[ct].rows[j]];
                if (b >= 0 && b < nb) {
                    boff[(long)ct * nb + b + 1]++;
                    nctrl++;
                }
            }
        for (long k = 0; k < npool; k++) boff[k + 1] += boff[k];
        long *store = malloc((size_t)(nctrl ? nctrl : 1) * sizeof *store);
        if (!store) {
            free(boff);
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        }
        long *base = a->row_storage + n_labelled;
        for (int ct = 0; ct < nct; ct++)
            for (long j = 0; j < a->ctrl[ct].n_rows; j++) {
                long r = a->ctrl[ct].rows[j];
                int32_t b = c->batch_code[r];
                if (b >= 0 && b < nb) store[boff[(long)ct * nb + b]++] = r;
            }
        /* boff[k] now holds the end of pool k; starts are boff[k-1] */
        memcpy(base, store, (size_t)nctrl * sizeof *base);
        free(store);
        for (long k = 0; k < npool; k++) {
            long start = k ? boff[k - 1] : 0;
            a->ctrl_batch[k].n_rows = boff[k] - start;
            a->ctrl_batch[k].rows = base + start;
        }
        free(boff);
        a->n_batches = c->n_batches;
        a->batch_code = malloc((size_t)(c->n_cells ? c->n_cells : 1) * sizeof *a->batch_code);
        if (!a->batch_code) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        memcpy(a->batch_code, c->batch_code, (size_t)c->n_cells * sizeof *a->batch_code);
    }
    recount(a);
    return 0;
}

static char **copy_names(const char *const *names, int n) {
    char **out = calloc((size_t)(n ? n : 1), sizeof *out);
    if (!out) return NULL;
    for (int i = 0; i < n; i++) {
        out[i] = strdup(names[i] ? names[i] : "");
        if (!out[i]) {
            for (int j = 0; j < i; j++) free(out[j]);
            free(out);
            return NULL;
        }
    }
    return out;
}

static int validate_labels(const ptrag_split_spec *spec, const ptrag_cell_labels *c, ptrag_error *err) {
    if (!c || c->n_cells < 0 || (c->n_cells > 0 && (!c->pert_code || !c->ct_code)) ||
        c->n_perts <= 0 || c->n_ct <= 0 || !c->pert_names || !c->ct_names)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: cell labels: codes and names are required",
                          spec->path);
    if (c->batch_code && c->n_batches <= 0)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: cell labels: batch codes given without n_batches",
                          spec->path);
    for (long i = 0; i < c->n_cells; i++) {
        if (c->pert_code[i] >= c->n_perts || c->pert_code[i] < -1 || c->ct_code[i] >= c->n_ct ||
            c->ct_code[i] < -1 ||
            (c->batch_code && (c->batch_code[i] >= c->n_batches || c->batch_code[i] < -1)))
            return ptrag_fail(err, PTRAG_E_ARG, "%s: cell labels: row %ld has a code out of range",
                              spec->path, i);
    }
    return 0;
}

int ptrag_split_assign(const ptrag_split_spec *spec, const char *dataset,
                       const ptrag_cell_labels *cells, const char *control_label,
                       ptrag_assignment **out, ptrag_error *err) {
    *out = NULL;
    int d = cells && cells->ct_dataset ? 0 : ptrag_split_find_dataset(spec, dataset);
    if (d < 0)
        return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: [datasets]: no dataset named '%s'", spec->path,
                          dataset);
    int rc = validate_labels(spec, cells, err);
    if (rc) return rc;
    int32_t control = find_name(cells->pert_names, cells->n_perts, control_label);
    if (control < 0) {
        char near[400];
        ptrag_nearest_names(control_label, cells->pert_names, cells->n_perts, 3, near, sizeof near);
        return ptrag_fail(err, PTRAG_E_NOTFOUND,
                          "%s: dataset '%s': control label '%s' is not a perturbation of the data "
                          "(nearest names: %s)",
                          spec->path, dataset, control_label, near);
    }
    ptrag_assignment *a = calloc(1, sizeof *a);
    assigner as = {.spec = spec, .cells = cells, .dataset = d, .err = err};
    long ncm = (long)cells->n_ct * cells->n_perts;
    as.ct_mode = calloc((size_t)cells->n_ct, sizeof *as.ct_mode);
    as.ct_rule = calloc((size_t)cells->n_ct, sizeof *as.ct_rule);
    as.count = calloc((size_t)ncm, sizeof *as.count);
    as.pert_split = malloc((size_t)ncm);
    if (!a || !as.ct_mode || !as.ct_rule || !as.count || !as.pert_split) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", spec->path);
        goto done;
    }
    a->dataset = strdup(dataset);
    a->pert_names = copy_names(cells->pert_names, cells->n_perts);
    a->ct_names = copy_names(cells->ct_names, cells->n_ct);
    if (!a->dataset || !a->pert_names || !a->ct_names) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", spec->path);
        goto done;
    }
    a->n_perts = cells->n_perts;
    a->n_ct = cells->n_ct;
    a->n_cells = cells->n_cells;
    a->control_code = control;
    for (long i = 0; i < cells->n_cells; i++) {
        if (cells->pert_code[i] < 0 || cells->ct_code[i] < 0) {
            a->n_missing++;
            continue;
        }
        as.count[(long)cells->ct_code[i] * cells->n_perts + cells->pert_code[i]]++;
    }
    for (int ct = 0; ct < cells->n_ct && !rc; ct++) {
        int cd = ct_dataset_of(&as, ct);
        if (cd < 0 || cd >= spec->n_datasets)
            rc = ptrag_fail(err, PTRAG_E_ARG, "%s: cell labels: cell type %d has no dataset", spec->path, ct);
        else
            as.ct_mode[ct] = spec->datasets[cd].in_training ? CT_TRAIN : CT_UNUSED;
    }
    if (!rc) rc = apply_overrides(&as);
    if (!rc) rc = assign_perturbations(&as, control);
    if (!rc) rc = build(&as, control, control_label, a);
    if (!rc && (spec->n_datasets == 1 || cells->ct_dataset)) {
        const ptrag_assignment *one = a;
        rc = ptrag_split_check_nonempty(spec, &one, 1, err);
    }
done:
    free(as.ct_mode);
    free(as.ct_rule);
    free(as.count);
    free(as.pert_split);
    if (rc) {
        ptrag_assignment_free(a);
        return rc;
    }
    *out = a;
    return 0;
}
