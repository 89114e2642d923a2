/* Release of a reader's vector set: see vector_set.h. */
#include "io/vector_set.h"

#include <stdlib.h>
#include <string.h>

void ptrag_vector_set_free(ptrag_vector_set *v) {
    if (!v) return;
    for (long i = 0; i < v->n_keys; i++) free(v->keys ? v->keys[i] : NULL);
    free(v->keys);
    free(v->key_row);
    free(v->data);
    memset(v, 0, sizeof *v);
}
