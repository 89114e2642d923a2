/* Checkpoint cost at the paper's size, and CRC-32 speed beside zlib's.
 *
 *   ./build/bench_checkpoint [DIR] [REPEATS]
 *
 * Builds the parameter registry of the published PT-RAG model (G=2000,
 * E=1536, H=128, L=8, 12 heads x 58, F=2784, frozen backbone; reference-model.md
 * §9.1), saves it to DIR (default $TMPDIR or /tmp), opens and restores it, and
 * prints the times. The CRC-32 line compares ptrag's implementation with
 * zlib's crc32() on the same buffer in the same process (ratio > 1: ptrag is
 * slower). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ptrag/checkpoint.h"
#include "ptrag/checksum.h"
#include "ptrag/progress.h"

static int add(ptrag_params *ps, const char *name, long long a, long long b, ptrag_init_kind k,
               double arg, int frozen) {
    ptrag_error err;
    long long s[2] = {a, b};
    int rc = ptrag_params_add(ps, name, b ? 2 : 1, s, k, arg, frozen, &err);
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    return rc < 0;
}

static ptrag_params *paper_registry(void) {
    enum { G = 2000, E = 1536, H = 128, L = 8, NH = 12, HD = 58, F = 2784 };
    ptrag_error err;
    ptrag_params *ps;
    if (ptrag_params_new(&ps, &err)) return NULL;
    int bad = 0;
    bad |= ptrag_params_add_linear(ps, "pert_encoder", E, H, 1, 0, &err) < 0;
    bad |= ptrag_params_add_linear(ps, "basal_encoder", G, H, 1, 0, &err) < 0;
    bad |= add(ps, "batch_emb", 48, H, PTRAG_INIT_NORMAL, 1.0, 0);
    bad |= add(ps, "context_norm.weight", 3 * H, 0, PTRAG_INIT_ONES, 0, 0);
    bad |= add(ps, "context_norm.bias", 3 * H, 0, PTRAG_INIT_ZEROS, 0, 0);
    bad |= ptrag_params_add_linear(ps, "context_proj", 3 * H, H, 1, 0, &err) < 0;
    bad |= ptrag_params_add_linear(ps, "scorer.0", 3 * H, H, 1, 0, &err) < 0;
    bad |= ptrag_params_add_linear(ps, "scorer.1", H, 2, 1, 0, &err) < 0;
    for (int l = 0; l < L; l++) {
        char n[64];
        const char *mats[7] = {"q", "k", "v", "o", "gate", "up", "down"};
        long long rows[7] = {NH * HD, NH * HD, NH * HD, H, F, F, H};
        long long cols[7] = {H, H, H, NH * HD, H, H, F};
        for (int m = 0; m < 7; m++) {
            snprintf(n, sizeof n, "backbone.%d.%s", l, mats[m]);
            bad |= add(ps, n, rows[m], cols[m], PTRAG_INIT_NORMAL, 0.02, 1);
        }
        snprintf(n, sizeof n, "backbone.%d.attn_norm", l);
        bad |= add(ps, n, H, 0, PTRAG_INIT_ONES, 0, 1);
        snprintf(n, sizeof n, "backbone.%d.mlp_norm", l);
        bad |= add(ps, n, H, 0, PTRAG_INIT_ONES, 0, 1);
    }
    bad |= add(ps, "backbone.final_norm", H, 0, PTRAG_INIT_ONES, 0, 1);
    bad |= ptrag_params_add_linear(ps, "project_out", H, G, 1, 1, &err) < 0;
    if (bad || ptrag_params_layout(ps, &err)) {
        ptrag_params_free(ps);
        return NULL;
    }
    return ps;
}

int main(int argc, char **argv) {
    const char *tmpdir = getenv("TMPDIR");
    const char *dir = argc > 1 ? argv[1] : (tmpdir && *tmpdir ? tmpdir : "/tmp");
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (repeats < 1) repeats = 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_checkpoint.%ld.ckpt", dir, (long)getpid());

    double t0 = ptrag_monotonic_seconds();
    ptrag_params *ps = paper_registry();
    if (!ps) return 1;
    ptrag_error err;
    if (ptrag_params_init(ps, 42, &err)) return 1;
    double t_init = ptrag_monotonic_seconds() - t0;
    printf("paper registry: %d tensors, %zu parameters (%zu trainable), arena %zu floats\n",
           ptrag_params_count(ps), ptrag_params_numel_all(ps), ptrag_params_numel_trainable(ps),
           ptrag_params_total(ps));
    printf("init: %.3f s\n", t_init);

    ptrag_config c;
    ptrag_config_default(&c);
    ptrag_config_preset(&c, "paper", &err);
    c.model = PTRAG_MODEL_PTRAG;
    c.n_genes = 2000;
    c.pert_dim = 1536;
    c.n_batches = 48;
    double best_save = 1e30, best_load = 1e30;
    long size = 0;
    for (int r = 0; r < repeats; r++) {
        t0 = ptrag_monotonic_seconds();
        if (ptrag_ckpt_save(path, &c, ps, 50000, 50000, "state", 5, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double ts = ptrag_monotonic_seconds() - t0;
        t0 = ptrag_monotonic_seconds();
        ptrag_ckpt *ck;
        if (ptrag_ckpt_open(path, &ck, &err) || ptrag_ckpt_restore(ck, &c, ps, 1, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        ptrag_ckpt_close(ck);
        double tl = ptrag_monotonic_seconds() - t0;
        if (ts < best_save) best_save = ts;
        if (tl < best_load) best_load = tl;
    }
    FILE *f = fopen(path, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fclose(f);
    }
    unlink(path);
    double mb = (double)size / 1e6;
    printf("checkpoint: %.1f MB; save %.3f s (%.0f MB/s, incl. fsync), open+verify+restore %.3f s "
           "(%.0f MB/s); best of %d\n",
           mb, best_save, mb / best_save, best_load, mb / best_load, repeats);

    /* CRC-32 throughput: ptrag vs zlib, same 64 MB buffer. */
    size_t n = 64u << 20;
    unsigned char *buf = malloc(n);
    if (!buf) return 1;
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(i * 2654435761u >> 11);
    double t_ours = 1e30, t_zlib = 1e30;
    uint32_t a = 0, b = 0;
    for (int r = 0; r < 3; r++) {
        t0 = ptrag_monotonic_seconds();
        a = ptrag_crc32(buf, n);
        double t = ptrag_monotonic_seconds() - t0;
        if (t < t_ours) t_ours = t;
        t0 = ptrag_monotonic_seconds();
        b = (uint32_t)crc32(0L, buf, (uInt)n);
        t = ptrag_monotonic_seconds() - t0;
        if (t < t_zlib) t_zlib = t;
    }
    free(buf);
    printf("crc32 of 64 MiB: ptrag %.0f MB/s, zlib %.0f MB/s, ratio ptrag/zlib time %.2f (%s)\n",
           (double)n / 1e6 / t_ours, (double)n / 1e6 / t_zlib, t_ours / t_zlib,
           a == b ? "same value" : "VALUES DIFFER");
    ptrag_params_free(ps);
    return a == b ? 0 : 1;
}
