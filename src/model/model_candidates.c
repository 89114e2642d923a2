/* The distinct database rows among a batch's retrieval candidates, shared by
 * the two retrieval stages (model_rag.c, model_ptrag.c): each row is encoded
 * once per batch however many sets retrieved it. */
#include <string.h>

#include "model/model_internal.h"

void ptrag_model_gather_candidates(ptrag_model *m, const int32_t *cand, float *dbU) {
    const int BK = m->n_sets * m->K;
    int U = 0;
    for (int s = 0; s < BK; s++) {
        int32_t row = cand[s];
        if (m->row_slot[row] < 0) {
            m->row_slot[row] = U;
            m->urow[U++] = row;
        }
        m->slot_row[s] = m->row_slot[row];
    }
    for (int u = 0; u < U; u++) m->row_slot[m->urow[u]] = -1; /* ready for the next call */
    m->U = U;
    const size_t E = (size_t)m->E;
#pragma omp parallel for schedule(static) if ((long)U * m->E > MODEL_PAR_WORK)
    for (int u = 0; u < U; u++)
        memcpy(dbU + (size_t)u * E, m->db + (size_t)m->urow[u] * E, E * sizeof(float));
}
