/* Embedding tables through ptrag_embeddings_load (format detection included).
 * The first input byte picks the form; the rest is the content:
 *   0 TSV   1 CSV   2 gzip-compressed by the harness (content explored through
 *   the gzip path)   3 the rest as raw .tsv.gz bytes (gzip framing itself). */
#include "fuzz_util.h"

#include <zlib.h>
#include "ptrag/embeddings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] & 3;
    data++;
    size--;
    const char *path;
    char gz[1024];
    if (mode == 0) path = fuzz_file("emb.tsv", data, size);
    else if (mode == 1) path = fuzz_file("emb.csv", data, size);
    else if (mode == 3) path = fuzz_file("emb.tsv.gz", data, size);
    else {
        snprintf(gz, sizeof gz, "%s/emb.tsv.gz", fuzz_dir());
        gzFile g = gzopen(gz, "wb1");
        if (!g) abort();
        if (size && gzwrite(g, data, (unsigned)size) != (int)size) abort();
        gzclose(g);
        path = gz;
    }
    ptrag_embeddings *e;
    ptrag_error err;
    if (!ptrag_embeddings_load(path, &e, &err)) {
        if (ptrag_embeddings_n_rows(e) > 0) (void)ptrag_embeddings_row_name(e, 0);
        ptrag_embeddings_free(e);
    }
    return 0;
}
