/* Benjamini-Hochberg adjusted p-values. */
#include "ptrag/metrics.h"

/* Heap sort of indices by p ascending (in place, no allocation, no global
 * state). Tied p-values end with equal adjusted values whatever their order,
 * so an unstable sort still gives deterministic results. */
static void sift_down(long *a, long start, long end, const double *p) {
    long root = start;
    while (2 * root + 1 <= end) {
        long child = 2 * root + 1, top = root;
        if (p[a[top]] < p[a[child]]) top = child;
        if (child + 1 <= end && p[a[top]] < p[a[child + 1]]) top = child + 1;
        if (top == root) return;
        long t = a[root];
        a[root] = a[top];
        a[top] = t;
        root = top;
    }
}

static void sort_by_p(long *a, long n, const double *p) {
    for (long s = n / 2 - 1; s >= 0; s--) sift_down(a, s, n - 1, p);
    for (long end = n - 1; end > 0; end--) {
        long t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end - 1, p);
    }
}

void ptrag_bh_fdr(const double *p, long m, double *q, long *order) {
    for (long i = 0; i < m; i++) order[i] = i;
    sort_by_p(order, m, p);
    /* Step-up: running minimum from the largest p downwards. */
    double running = 1.0;
    for (long r = m - 1; r >= 0; r--) {
        long i = order[r];
        double adj = p[i] * (double)m / (double)(r + 1);
        if (adj < running) running = adj;
        q[i] = running;
    }
}
