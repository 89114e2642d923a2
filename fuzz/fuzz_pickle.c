/* GenePT pickle reader (dict[str -> numpy array | list]), plain bytes; the
 * gzip layer is fuzzed by fuzz_embedding_table. */
#include "fuzz_util.h"
#include "io/vector_set.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("emb.pkl", data, size);
    ptrag_vector_set v;
    ptrag_error err;
    if (!ptrag_pickle_read_vectors(path, &v, &err)) ptrag_vector_set_free(&v);
    (void)ptrag_file_looks_like_pickle(path);
    return 0;
}
