/* Response statistics the trainer needs besides the loss (internal):
 *  - the mean training shift, which starts the gene-space residual's output
 *    bias (so step 0 predicts each paired control cell plus that shift);
 *  - validation pearson_delta: per validation condition, the Pearson
 *    correlation over genes of the predicted and the real mean shift (both
 *    from the mean of the paired control cells of its sets), averaged over
 *    conditions. The energy loss on sets of a few dozen cells is dominated by
 *    cell-to-cell distances and is a noisy guide to the response itself. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "train_internal.h"

#define GATHER_ROWS 256

/* Mean of the rows of `rows` into out[G] (double), gathering in chunks. */
static int rows_mean(const ptrag_dataset *d, const long *rows, long n, double *out, float *buf) {
    const long G = d->n_genes;
    memset(out, 0, sizeof(double) * (size_t)G);
    for (long r0 = 0; r0 < n; r0 += GATHER_ROWS) {
        long k = n - r0 < GATHER_ROWS ? n - r0 : GATHER_ROWS;
        ptrag_dataset_gather(d, rows + r0, k, buf);
        for (long i = 0; i < k; i++)
            for (long g = 0; g < G; g++) out[g] += buf[(size_t)i * G + g];
    }
    for (long g = 0; g < G; g++) out[g] /= (double)(n > 0 ? n : 1);
    return 0;
}

int ptrag_mean_training_shift(const ptrag_dataset *d, float *shift, ptrag_error *err) {
    const ptrag_assignment *a = d->assign;
    const long G = d->n_genes;
    double *ctrl = calloc((size_t)G * (size_t)(a->n_ct > 0 ? a->n_ct : 1), sizeof(double));
    double *m = malloc(sizeof(double) * (size_t)G), *acc = calloc((size_t)G, sizeof(double));
    float *buf = malloc(sizeof(float) * (size_t)G * GATHER_ROWS);
    if (!ctrl || !m || !acc || !buf) {
        free(ctrl), free(m), free(acc), free(buf);
        return ptrag_fail(err, PTRAG_E_NOMEM, "mean training shift: out of memory (%ld genes)", G);
    }
    for (int ct = 0; ct < a->n_ct; ct++) rows_mean(d, a->ctrl[ct].rows, a->ctrl[ct].n_rows, ctrl + (size_t)ct * G, buf);
    long n = 0;
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        if (cd->is_control || !(cd->splits & PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN)) || cd->n_rows == 0) continue;
        if (a->ctrl[cd->ct].n_rows == 0) continue;
        rows_mean(d, cd->rows, cd->n_rows, m, buf);
        for (long g = 0; g < G; g++) acc[g] += m[g] - ctrl[(size_t)cd->ct * G + g];
        n++;
    }
    for (long g = 0; g < G; g++) shift[g] = n ? (float)(acc[g] / (double)n) : 0.0f;
    free(ctrl), free(m), free(acc), free(buf);
    return 0;
}

int ptrag_val_pearson_new(ptrag_val_pearson *v, const ptrag_dataset *d, ptrag_error *err) {
    memset(v, 0, sizeof *v);
    const ptrag_assignment *a = d->assign;
    v->G = d->n_genes;
    v->slot = malloc(sizeof(int) * (size_t)(a->n_conditions > 0 ? a->n_conditions : 1));
    if (!v->slot) return ptrag_fail(err, PTRAG_E_NOMEM, "validation pearson: out of memory");
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        v->slot[c] = !cd->is_control && (cd->splits & PTRAG_SPLIT_MASK(PTRAG_SPLIT_VAL)) ? v->n++ : -1;
    }
    /* per condition: sums of predicted, real and paired control cells */
    v->sums = calloc((size_t)v->n * 3 * (size_t)v->G + 1, sizeof(double));
    v->count = calloc((size_t)v->n + 1, sizeof(long));
    if (!v->sums || !v->count) {
        ptrag_val_pearson_free(v);
        return ptrag_fail(err, PTRAG_E_NOMEM, "validation pearson: out of memory (%d conditions x %ld genes)",
                          v->n, v->G);
    }
    return 0;
}

void ptrag_val_pearson_free(ptrag_val_pearson *v) {
    free(v->slot), free(v->sums), free(v->count);
    memset(v, 0, sizeof *v);
}

void ptrag_val_pearson_reset(ptrag_val_pearson *v) {
    memset(v->sums, 0, sizeof(double) * (size_t)v->n * 3 * (size_t)v->G);
    memset(v->count, 0, sizeof(long) * (size_t)v->n);
}

void ptrag_val_pearson_add(ptrag_val_pearson *v, const int32_t *set_condition, int n_sets, int set_len,
                           const float *pred, const float *target, const float *ctrl) {
    const long G = v->G;
    for (int s = 0; s < n_sets; s++) {
        int k = v->slot[set_condition[s]];
        if (k < 0) continue;
        double *sp = v->sums + (size_t)k * 3 * G, *sr = sp + G, *sc = sr + G;
        for (int i = 0; i < set_len; i++) {
            size_t o = ((size_t)s * set_len + i) * (size_t)G;
            for (long g = 0; g < G; g++) sp[g] += pred[o + g], sr[g] += target[o + g], sc[g] += ctrl[o + g];
        }
        v->count[k] += set_len;
    }
}

double ptrag_val_pearson_result(const ptrag_val_pearson *v) {
    const long G = v->G;
    double total = 0;
    int n = 0;
    for (int k = 0; k < v->n; k++) {
        if (v->count[k] == 0) continue;
        const double *sp = v->sums + (size_t)k * 3 * G, *sr = sp + G, *sc = sr + G;
        double mp = 0, mr = 0;
        for (long g = 0; g < G; g++) mp += sp[g] - sc[g], mr += sr[g] - sc[g];
        mp /= G, mr /= G;
        double xy = 0, xx = 0, yy = 0;
        for (long g = 0; g < G; g++) {
            double x = sp[g] - sc[g] - mp, y = sr[g] - sc[g] - mr;
            xy += x * y, xx += x * x, yy += y * y;
        }
        total += xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0.0; /* degenerate: 0, as ptrag eval */
        n++;
    }
    return n ? total / n : NAN;
}
