/* ptrag/metrics.h: placeholder, filled in by its issue. */
#ifndef PTRAG_METRICS_H
#define PTRAG_METRICS_H
#endif
