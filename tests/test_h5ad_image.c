/* ptrag_h5ad_open_image (what fuzz_h5ad feeds): an in-memory copy of a file
 * reads exactly like the file; damaged images are clear errors; the HDF5 bug
 * inputs kept in fuzz/hdf5-upstream are not replayed here (they crash or hang
 * libhdf5 1.10.8 itself, see docs/reliability.md). */
#include <stdlib.h>
#include <string.h>

#include "ptrag/fsutil.h"
#include "ptrag/h5ad.h"
#include "testlib.h"

static void test_image_reads_like_the_file(void) {
    const char *names[] = {"dense.h5ad", "csr_layers_obsm.h5ad", "csc.h5ad"};
    for (int i = 0; i < 3; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/fuzz/corpus/h5ad/%s", PTRAG_SOURCE_DIR, names[i]);
        char *bytes;
        size_t len;
        ptrag_error err;
        CHECK_INT(ptrag_read_file(path, &bytes, &len, &err), 0);
        ptrag_h5ad *a = NULL, *b = NULL;
        CHECK_INT(ptrag_h5ad_open(path, "X", &a, &err), 0);
        CHECK_INT(ptrag_h5ad_open_image(bytes, len, "mem.h5ad", "X", &b, &err), 0);
        if (a && b) {
            CHECK_INT(ptrag_h5ad_n_obs(b), ptrag_h5ad_n_obs(a));
            CHECK_INT(ptrag_h5ad_n_vars(b), ptrag_h5ad_n_vars(a));
            CHECK_INT(ptrag_h5ad_x_storage(b), ptrag_h5ad_x_storage(a));
            long n = ptrag_h5ad_n_obs(a) * ptrag_h5ad_n_vars(a);
            float *x = malloc(sizeof(float) * (size_t)n), *y = malloc(sizeof(float) * (size_t)n);
            CHECK_INT(ptrag_h5ad_read_block(a, 0, ptrag_h5ad_n_obs(a), x, &err), 0);
            CHECK_INT(ptrag_h5ad_read_block(b, 0, ptrag_h5ad_n_obs(b), y, &err), 0);
            CHECK(memcmp(x, y, sizeof(float) * (size_t)n) == 0);
            CHECK_STR(ptrag_h5ad_path(b), "mem.h5ad");
            free(x);
            free(y);
        }
        ptrag_h5ad_close(a);
        ptrag_h5ad_close(b);
        /* Cut in half: an error that names the image, never a crash. */
        CHECK(ptrag_h5ad_open_image(bytes, len / 2, "half.h5ad", "X", &b, &err) != 0);
        CHECK_CONTAINS(err.msg, "half.h5ad");
        CHECK(b == NULL);
        free(bytes);
    }
    ptrag_h5ad *h;
    ptrag_error err;
    CHECK_INT(ptrag_h5ad_open_image("abc", 3, "tiny", NULL, &h, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "tiny: not an HDF5 file image (3 bytes)");
}

int main(void) {
    RUN(test_image_reads_like_the_file);
    return TEST_SUMMARY();
}
