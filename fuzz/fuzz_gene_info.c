/* NCBI gene_info alias tables (gene_aliases.c), resolved against a small
 * fixed embedding; queries exercise the ownership rules. */
#include "fuzz_util.h"
#include "ptrag/embeddings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static ptrag_embeddings *e;
    ptrag_error err;
    if (!e) {
        const char *keys[4] = {"SARS1", "PRELID3B", "EPRS1", "TP53"};
        float rows[8] = {1, 0, 0, 1, 1, 1, 2, 0};
        if (ptrag_embeddings_create("fixed", keys, rows, 4, 2, &e, &err)) abort();
    }
    const char *path = fuzz_file("gene_info.tsv", data, size);
    if (!ptrag_embeddings_load_aliases(e, path, &err)) {
        const char *q[5] = {"SARS", "QARS", "slmo2", "TP53", ""};
        for (int i = 0; i < 5; i++) {
            ptrag_lookup_info info;
            (void)ptrag_embeddings_resolve(e, q[i], &info);
        }
    }
    return 0;
}
