/* Checkpoint reader. The file's size field and CRC trailer are patched to
 * match the input, so the fuzzer gets past the integrity checks (each covered
 * by unit tests) into the header parser; a checkpoint that opens is then
 * parsed for its config and restored into a registry built from its own
 * tensor table, as `ptrag train --resume` does. */
#include "fuzz_util.h"
#include "ptrag/checkpoint.h"
#include "ptrag/checksum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (size >= 28) {
        for (int i = 0; i < 8; i++) buf[16 + i] = (uint8_t)((uint64_t)size >> (8 * i));
        uint32_t crc = ptrag_crc32(buf, size - 4);
        for (int i = 0; i < 4; i++) buf[size - 4 + i] = (uint8_t)(crc >> (8 * i));
    }
    const char *path = fuzz_file("fuzz.ckpt", buf, size);
    free(buf);
    ptrag_ckpt *ck;
    ptrag_error err;
    if (ptrag_ckpt_open(path, &ck, &err)) return 0;
    ptrag_config cfg;
    int cfg_ok = ptrag_ckpt_config(ck, &cfg, &err) == 0;
    ptrag_params *ps;
    if (!ptrag_params_new(&ps, &err)) {
        int ok = 1;
        for (int i = 0; i < ptrag_ckpt_tensor_count(ck) && ok; i++) {
            const ptrag_param *t = ptrag_ckpt_tensor(ck, i);
            ok = ptrag_params_add(ps, t->name, t->ndim, t->shape, PTRAG_INIT_ZEROS, 0, t->frozen, &err) >= 0;
        }
        if (ok && !ptrag_params_layout(ps, &err))
            (void)ptrag_ckpt_restore(ck, cfg_ok ? &cfg : NULL, ps, 1, &err);
        ptrag_params_free(ps);
    }
    ptrag_ckpt_close(ck);
    return 0;
}
