/* Combination labels: "A+B" names a perturbation of genes A and B. The one
 * splitter of such labels (pert_label.c): parts are separated by '+' and
 * trimmed of white space; an empty part ("A+", "+") is returned as empty. */
#ifndef PTRAG_DATA_PERT_LABEL_H
#define PTRAG_DATA_PERT_LABEL_H

#include <stddef.h>

/* Iterates over the parts of a label without copying: start with
 * *pos = label; each call sets [*part, *part + *len) to the next part and
 * returns 1, or returns 0 after the last. */
int ptrag_label_next_part(const char **pos, const char **part, size_t *len);

/* NUL-terminated copies of the parts: *copy holds them (free it, and *parts).
 * Returns 0, or -1 when out of memory (nothing to free then). */
int ptrag_label_parts(const char *label, char **copy, char ***parts, long *nparts);

#endif
