/* cell-eval's discrimination_score_l1, computed within one cell type. */
#include <string.h>

#include "data/pert_label.h"
#include "ptrag/metrics.h"

long ptrag_target_gene_mask(const char *perturbation, const char *const *gene_names, long g,
                            unsigned char *mask) {
    memset(mask, 0, (size_t)g);
    if (!perturbation || !gene_names) return 0;
    long marked = 0;
    for (long j = 0; j < g; j++) {
        const char *name = gene_names[j];
        if (!name || !*name) continue;
        size_t len = strlen(name);
        /* Match any gene of the label ("A+B": A or B). */
        const char *pos = perturbation, *part;
        size_t plen;
        while (ptrag_label_next_part(&pos, &part, &plen))
            if (plen == len && memcmp(part, name, len) == 0) {
                mask[j] = 1;
                marked++;
                break;
            }
    }
    return marked;
}

void ptrag_discrimination_l1(const double *pred_delta, const double *real_delta, long n, long g,
                             const unsigned char *exclude, double *score) {
    for (long p = 0; p < n; p++) {
        const double *pd = pred_delta + p * g;
        const unsigned char *ex = exclude ? exclude + p * g : NULL;
        /* Distance to the true condition first, then count the closer ones. */
        double dist_true = 0;
        const double *rt = real_delta + p * g;
        for (long j = 0; j < g; j++)
            if (!ex || !ex[j]) dist_true += pd[j] > rt[j] ? pd[j] - rt[j] : rt[j] - pd[j];
        long rank = 0;
        for (long q = 0; q < n; q++) {
            if (q == p) continue;
            const double *rq = real_delta + q * g;
            double d = 0;
            for (long j = 0; j < g; j++)
                if (!ex || !ex[j]) d += pd[j] > rq[j] ? pd[j] - rq[j] : rq[j] - pd[j];
            if (d < dist_true || (d == dist_true && q < p)) rank++;
        }
        score[p] = 1.0 - (double)rank / (double)n;
    }
}
