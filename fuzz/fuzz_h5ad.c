/* h5ad reader from bytes: the input is an HDF5 file image opened through the
 * core driver (ptrag_h5ad_open_image), then everything a run reads from a file
 * is read: obs/var columns, and expression rows through the dense, CSR or CSC
 * path. */
#include "fuzz_util.h"
#include "ptrag/h5ad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ptrag_error err;
    ptrag_h5ad *h;
    if (ptrag_h5ad_open_image(data, size, "fuzz.h5ad", NULL, &h, &err)) return 0;
    const char *const *names;
    int n;
    if (!ptrag_h5ad_obs_columns(h, &names, &n))
        for (int i = 0; i < n; i++) {
            ptrag_column col;
            if (!ptrag_h5ad_read_obs(h, names[i], &col, &err)) {
                for (long r = 0; r < col.n && r < 4; r++)
                    if (col.type <= PTRAG_COL_STRING) (void)ptrag_column_label(&col, r);
                ptrag_column_free(&col);
            }
        }
    if (!ptrag_h5ad_var_columns(h, &names, &n))
        for (int i = 0; i < n; i++) {
            ptrag_column col;
            if (!ptrag_h5ad_read_var(h, names[i], &col, &err)) ptrag_column_free(&col);
        }
    long n_obs = ptrag_h5ad_n_obs(h), n_vars = ptrag_h5ad_n_vars(h);
    if (n_obs > 0 && n_vars > 0 && n_vars <= 4096) {
        long nr = n_obs < 8 ? n_obs : 8;
        long rows[8];
        for (long i = 0; i < nr; i++) rows[i] = (i * 7919) % n_obs; /* out of order on purpose */
        float *out = malloc(sizeof(float) * (size_t)(nr * n_vars));
        if (out) {
            (void)ptrag_h5ad_read_rows(h, rows, nr, NULL, 0, out, &err);
            long cols[2] = {n_vars - 1, 0};
            (void)ptrag_h5ad_read_rows(h, rows, nr, cols, 2, out, &err);
            (void)ptrag_h5ad_read_block(h, 0, nr, out, &err);
            free(out);
        }
    }
    for (long j = 0; j < n_vars && j < 4; j++) (void)ptrag_h5ad_find_var(h, ptrag_h5ad_var_name(h, j));
    ptrag_h5ad_close(h);
    return 0;
}
