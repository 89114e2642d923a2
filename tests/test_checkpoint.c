/* Checkpoints: exact save/load, refusal of damaged or mismatched files, atomic
 * writes that never harm the previous checkpoint; CRC-32 and the state blob. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zlib.h>

#include "ptrag/blob.h"
#include "ptrag/checkpoint.h"
#include "ptrag/checksum.h"
#include "ptrag/fsutil.h"
#include "testlib.h"

enum { H = 16 };

static void small_config(ptrag_config *c, ptrag_model_kind kind, int genes) {
    ptrag_config_default(c);
    c->model = kind;
    c->n_genes = genes;
    c->pert_dim = 8;
    c->hidden = H;
}

/* A model-shaped registry; `reversed` registers the same tensors in the
 * opposite order (a checkpoint must not depend on registration order). */
static ptrag_params *model_params(int genes, int reversed, uint64_t seed) {
    ptrag_error err;
    ptrag_params *ps;
    if (ptrag_params_new(&ps, &err)) return NULL;
    long long s_basal[2] = {H, genes}, s_pert[2] = {H, 8}, s_bb[2] = {3 * H, H}, s_out[2] = {genes, H};
    struct { const char *name; long long *shape; int frozen; } t[4] = {
        {"basal_encoder.weight", s_basal, 0},
        {"pert_encoder.weight", s_pert, 0},
        {"backbone.layer0.qkv", s_bb, 1},
        {"project_out.weight", s_out, 0},
    };
    for (int k = 0; k < 4; k++) {
        int i = reversed ? 3 - k : k;
        if (ptrag_params_add(ps, t[i].name, 2, t[i].shape, PTRAG_INIT_NORMAL, 0.1, t[i].frozen, &err) < 0) {
            ptrag_params_free(ps);
            return NULL;
        }
    }
    if (ptrag_params_layout(ps, &err) || ptrag_params_init(ps, seed, &err)) {
        ptrag_params_free(ps);
        return NULL;
    }
    /* Adam moments: distinct, recognisable values in the trainable prefix. */
    for (size_t i = 0; i < ptrag_params_trainable(ps); i++) {
        ptrag_params_adam_m(ps)[i] = (float)i * 0.5f + (float)seed;
        ptrag_params_adam_v(ps)[i] = (float)i * 0.25f + 1.0f;
    }
    return ps;
}

static const unsigned char state_bytes[] = {1, 2, 3, 0, 255, 42, 7};

static int save_model(const char *path, ptrag_model_kind kind, int genes, uint64_t seed,
                      ptrag_error *err) {
    ptrag_config c;
    small_config(&c, kind, genes);
    ptrag_params *ps = model_params(genes, 0, seed);
    if (!ps) return -100;
    int rc = ptrag_ckpt_save(path, &c, ps, 1234, 1200, state_bytes, sizeof state_bytes, err);
    ptrag_params_free(ps);
    return rc;
}

static long file_size(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void flip_byte(const char *path, long at) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x10, f);
    fclose(f);
}

static void copy_file(const char *from, const char *to, long max_bytes) {
    char *data;
    size_t len;
    ptrag_error err;
    if (ptrag_read_file(from, &data, &len, &err)) return;
    if (max_bytes >= 0 && (size_t)max_bytes < len) len = (size_t)max_bytes;
    ptrag_write_file_atomic(to, data, len, &err);
    free(data);
}

/* Number of entries in `dir` whose name contains `part`. */
static int count_entries(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static void test_save_then_restore_is_exact(void) {
    ptrag_error err;
    const char *path = tl_tmp("test_checkpoint_exact.ckpt");
    ptrag_config c;
    small_config(&c, PTRAG_MODEL_PTRAG, 50);
    ptrag_params *src = model_params(50, 0, 7);
    CHECK(src != NULL);
    if (!src) return;
    CHECK_INT(ptrag_ckpt_save(path, &c, src, 1234, 1200, state_bytes, sizeof state_bytes, &err), 0);

    ptrag_ckpt *ck;
    CHECK_INT(ptrag_ckpt_open(path, &ck, &err), 0);
    if (!ck) {
        fprintf(stderr, "  %s\n", err.msg);
        ptrag_params_free(src);
        return;
    }
    CHECK_STR(ptrag_ckpt_path(ck), path);
    CHECK_INT(ptrag_ckpt_kind(ck), PTRAG_MODEL_PTRAG);
    CHECK_INT(ptrag_ckpt_step(ck), 1234);
    CHECK_INT(ptrag_ckpt_adam_step(ck), 1200);
    CHECK_STR(ptrag_ckpt_writer_version(ck), PTRAG_VERSION);
    size_t state_len = 0;
    const void *state = ptrag_ckpt_state(ck, &state_len);
    CHECK_INT(state_len, sizeof state_bytes);
    CHECK(memcmp(state, state_bytes, sizeof state_bytes) == 0);
    char *text;
    CHECK_INT(ptrag_config_to_text(&c, &text, &err), 0);
    CHECK_STR(ptrag_ckpt_config_text(ck), text);
    free(text);
    ptrag_config stored;
    CHECK_INT(ptrag_ckpt_config(ck, &stored, &err), 0);
    char diff[64];
    CHECK_INT(ptrag_config_diff(&stored, &c, diff, sizeof diff), 0);
    CHECK_INT(ptrag_ckpt_tensor_count(ck), 4);
    CHECK_STR(ptrag_ckpt_tensor(ck, 0)->name, "basal_encoder.weight");
    CHECK_INT(ptrag_ckpt_tensor(ck, 0)->shape[1], 50);
    CHECK_INT(ptrag_ckpt_tensor(ck, 2)->frozen, 1);
    CHECK(ptrag_ckpt_tensor(ck, 4) == NULL);

    /* Restore into a registry laid out differently (reverse order, other seed). */
    ptrag_params *dst = model_params(50, 1, 99);
    CHECK(dst != NULL);
    /* Garbage everywhere in the moments, so "zero for frozen" is observable. */
    for (size_t i = 0; i < ptrag_params_total(dst); i++)
        ptrag_params_adam_m(dst)[i] = ptrag_params_adam_v(dst)[i] = -7.0f;
    CHECK(ptrag_params_get(dst, 0)->offset != ptrag_params_get(src, 0)->offset ||
          strcmp(ptrag_params_get(dst, 0)->name, ptrag_params_get(src, 0)->name) != 0);
    CHECK_INT(ptrag_ckpt_restore(ck, &c, dst, 1, &err), 0);
    for (int i = 0; i < ptrag_params_count(src); i++) {
        const ptrag_param *t = ptrag_params_get(src, i);
        int j = ptrag_params_find(dst, t->name);
        const ptrag_param *u = ptrag_params_get(dst, j);
        CHECK_MSG(memcmp(ptrag_params_value(src, i), ptrag_params_value(dst, j),
                         t->numel * sizeof(float)) == 0, "values of %s", t->name);
        const float *m_src = ptrag_params_adam_m(src) + t->offset, *m_dst = ptrag_params_adam_m(dst) + u->offset;
        const float *v_src = ptrag_params_adam_v(src) + t->offset, *v_dst = ptrag_params_adam_v(dst) + u->offset;
        if (t->frozen) {
            int zero = 1;
            for (size_t k = 0; k < t->numel; k++) zero &= m_dst[k] == 0 && v_dst[k] == 0;
            CHECK_MSG(zero, "moments of frozen %s", t->name);
        } else {
            CHECK_MSG(memcmp(m_src, m_dst, t->numel * sizeof(float)) == 0, "m of %s", t->name);
            CHECK_MSG(memcmp(v_src, v_dst, t->numel * sizeof(float)) == 0, "v of %s", t->name);
        }
    }

    /* Without the optimiser state, m and v are left alone. */
    ptrag_params *weights_only = model_params(50, 0, 5);
    CHECK(weights_only != NULL);
    float m0 = ptrag_params_adam_m(weights_only)[3];
    CHECK_INT(ptrag_ckpt_restore(ck, NULL, weights_only, 0, &err), 0);
    CHECK(ptrag_params_adam_m(weights_only)[3] == m0);
    CHECK(memcmp(ptrag_params_values(weights_only), ptrag_params_values(src),
                 ptrag_params_total(src) * sizeof(float)) == 0);

    /* Saving the restored registry reproduces the file byte for byte. */
    const char *again = tl_tmp("test_checkpoint_exact_again.ckpt");
    ptrag_params *same_order = model_params(50, 0, 99);
    CHECK_INT(ptrag_ckpt_restore(ck, &c, same_order, 1, &err), 0);
    CHECK_INT(ptrag_ckpt_save(again, &c, same_order, 1234, 1200, state_bytes, sizeof state_bytes, &err), 0);
    char *a, *b;
    size_t la, lb;
    CHECK_INT(ptrag_read_file(path, &a, &la, &err), 0);
    CHECK_INT(ptrag_read_file(again, &b, &lb, &err), 0);
    CHECK(la == lb && memcmp(a, b, la) == 0);
    free(a);
    free(b);

    ptrag_ckpt_close(ck);
    ptrag_ckpt_close(NULL);
    ptrag_params_free(src);
    ptrag_params_free(dst);
    ptrag_params_free(weights_only);
    ptrag_params_free(same_order);
}

static void test_damaged_files_are_refused(void) {
    ptrag_error err;
    ptrag_ckpt *ck = NULL;
    const char *good = tl_tmp("test_checkpoint_good.ckpt");
    const char *bad = tl_tmp("test_checkpoint_bad.ckpt");
    CHECK_INT(save_model(good, PTRAG_MODEL_STATE, 40, 3, &err), 0);
    long size = file_size(good);
    CHECK(size > 4000);

    /* A corrupted byte in the tensor data, in the config text, in the trailer. */
    long spots[3] = {size - 100, 200, size - 2};
    for (int i = 0; i < 3; i++) {
        copy_file(good, bad, -1);
        flip_byte(bad, spots[i]);
        CHECK_INT(ptrag_ckpt_open(bad, &ck, &err), PTRAG_E_FORMAT);
        CHECK(ck == NULL);
        CHECK_CONTAINS(err.msg, "test_checkpoint_bad.ckpt: checksum mismatch");
        CHECK_CONTAINS(err.msg, "corrupted");
    }
    /* Truncated anywhere. */
    long cuts[4] = {size - 1, size / 2, 30, 10};
    for (int i = 0; i < 4; i++) {
        copy_file(good, bad, cuts[i]);
        CHECK_INT(ptrag_ckpt_open(bad, &ck, &err), PTRAG_E_FORMAT);
        CHECK_CONTAINS(err.msg, "truncated checkpoint");
    }
    copy_file(good, bad, size - 1);
    ptrag_ckpt_open(bad, &ck, &err);
    char expect[128];
    snprintf(expect, sizeof expect, "truncated checkpoint: %ld of %ld bytes", size - 1, size);
    CHECK_CONTAINS(err.msg, expect);
    /* Extra bytes appended. */
    {
        copy_file(good, bad, -1);
        FILE *f = fopen(bad, "ab");
        fputs("junk", f);
        fclose(f);
        CHECK_INT(ptrag_ckpt_open(bad, &ck, &err), PTRAG_E_FORMAT);
        CHECK_CONTAINS(err.msg, "but its header says");
    }
    /* Not a checkpoint at all; an empty file; a missing file. */
    CHECK_INT(ptrag_write_file_atomic(bad, "step,loss\n1,2\n", 14, &err), 0);
    CHECK_INT(ptrag_ckpt_open(bad, &ck, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "test_checkpoint_bad.ckpt: not a ptrag checkpoint (bad magic)");
    CHECK_INT(ptrag_write_file_atomic(bad, "", 0, &err), 0);
    CHECK_INT(ptrag_ckpt_open(bad, &ck, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "empty file");
    CHECK_INT(ptrag_ckpt_open(tl_tmp("test_checkpoint_nope.ckpt"), &ck, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "test_checkpoint_nope.ckpt: cannot open checkpoint");
    /* Another format version: reported as such, before the checksum. */
    copy_file(good, bad, -1);
    {
        FILE *f = fopen(bad, "r+b");
        fseek(f, 8, SEEK_SET);
        fputc(2, f);
        fclose(f);
    }
    CHECK_INT(ptrag_ckpt_open(bad, &ck, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "checkpoint format version 2, this build of ptrag reads version 1");
    /* The untouched file still opens. */
    CHECK_INT(ptrag_ckpt_open(good, &ck, &err), 0);
    ptrag_ckpt_close(ck);
}

static void test_mismatches_are_explained(void) {
    ptrag_error err;
    const char *path = tl_tmp("test_checkpoint_state500.ckpt");
    CHECK_INT(save_model(path, PTRAG_MODEL_STATE, 500, 1, &err), 0);
    ptrag_ckpt *ck;
    CHECK_INT(ptrag_ckpt_open(path, &ck, &err), 0);
    if (!ck) return;

    /* Another model kind. */
    CHECK_INT(ptrag_ckpt_expect_kind(ck, PTRAG_MODEL_STATE, &err), 0);
    CHECK_INT(ptrag_ckpt_expect_kind(ck, PTRAG_MODEL_PTRAG, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "checkpoint holds a 'state' model, expected 'ptrag'");
    CHECK_CONTAINS(err.msg, "test_checkpoint_state500.ckpt");
    ptrag_config cur;
    small_config(&cur, PTRAG_MODEL_RAG, 500);
    ptrag_params *ps = model_params(500, 0, 1);
    CHECK_INT(ptrag_ckpt_restore(ck, &cur, ps, 1, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "checkpoint holds a 'state' model, expected 'rag'");
    ptrag_params_free(ps);

    /* Data with another number of genes. */
    small_config(&cur, PTRAG_MODEL_STATE, 2000);
    ps = model_params(2000, 0, 1);
    CHECK_INT(ptrag_ckpt_restore(ck, &cur, ps, 1, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "checkpoint has 500 genes, data has 2000");
    /* Without a config, the tensor check still names tensor and shapes. */
    CHECK_INT(ptrag_ckpt_restore(ck, NULL, ps, 1, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg,
                   "tensor 'basal_encoder.weight' has shape [16, 500] in the checkpoint, the model expects [16, 2000]");
    ptrag_params_free(ps);

    /* A registry with a tensor the checkpoint lacks / lacking one it has. */
    ptrag_params *more;
    ptrag_params_new(&more, &err);
    long long s_basal[2] = {H, 500}, s_pert[2] = {H, 8}, s_bb[2] = {3 * H, H}, s_out[2] = {500, H}, s_x[1] = {4};
    ptrag_params_add(more, "basal_encoder.weight", 2, s_basal, PTRAG_INIT_ZEROS, 0, 0, &err);
    ptrag_params_add(more, "pert_encoder.weight", 2, s_pert, PTRAG_INIT_ZEROS, 0, 0, &err);
    ptrag_params_add(more, "backbone.layer0.qkv", 2, s_bb, PTRAG_INIT_ZEROS, 0, 1, &err);
    ptrag_params_add(more, "project_out.weight", 2, s_out, PTRAG_INIT_ZEROS, 0, 0, &err);
    ptrag_params_add(more, "scorer.weight", 1, s_x, PTRAG_INIT_ZEROS, 0, 0, &err);
    ptrag_params_layout(more, &err);
    CHECK_INT(ptrag_ckpt_restore(ck, NULL, more, 1, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "checkpoint has no tensor 'scorer.weight' (the model expects shape [4])");
    ptrag_params_free(more);
    ptrag_params_new(&more, &err);
    ptrag_params_add(more, "basal_encoder.weight", 2, s_basal, PTRAG_INIT_ZEROS, 0, 0, &err);
    ptrag_params_layout(more, &err);
    CHECK_INT(ptrag_ckpt_restore(ck, NULL, more, 1, &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "checkpoint tensor 'pert_encoder.weight' [16, 8] is not part of this model");
    ptrag_params_free(more);
    /* A registry that was never laid out. */
    ptrag_params_new(&more, &err);
    CHECK_INT(ptrag_ckpt_restore(ck, NULL, more, 1, &err), PTRAG_E_STATE);
    ptrag_params_free(more);
    ptrag_ckpt_close(ck);

    /* Saving needs a complete, valid configuration. */
    ptrag_config c;
    small_config(&c, PTRAG_MODEL_STATE, 0);
    ps = model_params(10, 0, 1);
    CHECK_INT(ptrag_ckpt_save(tl_tmp("test_checkpoint_nocfg.ckpt"), &c, ps, 0, 0, NULL, 0, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "n_genes: not set");
    CHECK(!ptrag_path_exists(tl_tmp("test_checkpoint_nocfg.ckpt")));
    ptrag_params_free(ps);

    /* A diverged model (NaN weights) is not saved over the last good one. */
    const char *good = tl_tmp("test_checkpoint_nan.ckpt");
    small_config(&c, PTRAG_MODEL_STATE, 10);
    ps = model_params(10, 0, 1);
    CHECK_INT(ptrag_ckpt_save(good, &c, ps, 1, 1, NULL, 0, &err), 0);
    int p = ptrag_params_find(ps, "pert_encoder.weight");
    ptrag_params_value(ps, p)[5] = NAN;
    CHECK_INT(ptrag_params_check_finite(ps, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "parameter 'pert_encoder.weight': element 5 is nan");
    CHECK_INT(ptrag_ckpt_save(good, &c, ps, 2, 2, NULL, 0, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "test_checkpoint_nan.ckpt: not saved: parameter 'pert_encoder.weight'");
    ptrag_ckpt *last;
    CHECK_INT(ptrag_ckpt_open(good, &last, &err), 0);
    if (last) CHECK_INT(ptrag_ckpt_step(last), 1);
    ptrag_ckpt_close(last);
    ptrag_params_value(ps, p)[5] = -INFINITY;
    CHECK_INT(ptrag_params_check_finite(ps, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "is inf");
    ptrag_params_free(ps);
    /* With err = NULL the status is still returned. */
    small_config(&c, PTRAG_MODEL_STATE, 0);
    ps = model_params(10, 0, 1);
    CHECK_INT(ptrag_ckpt_save(good, &c, ps, 1, 1, NULL, 0, NULL), PTRAG_E_ARG);
    ptrag_params_free(ps);
}

/* Adam's moments are checked like the weights: a NaN first moment is not
 * saved, and a negative second moment in a re-checksummed file is refused
 * on restore (it would turn every weight NaN at the first resumed step). */
static void test_adam_moments_are_checked(void) {
    ptrag_error err;
    ptrag_config c;
    small_config(&c, PTRAG_MODEL_STATE, 10);
    ptrag_params *ps = model_params(10, 0, 1);
    const char *path = tl_tmp("test_checkpoint_moments.ckpt");
    remove(path); /* an earlier run's file would fail the first check */
    float keep = ptrag_params_adam_m(ps)[3];
    ptrag_params_adam_m(ps)[3] = NAN;
    CHECK_INT(ptrag_ckpt_save(path, &c, ps, 1, 1, NULL, 0, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "Adam first moment");
    CHECK(!ptrag_path_exists(path));
    ptrag_params_adam_m(ps)[3] = keep;
    CHECK_INT(ptrag_ckpt_save(path, &c, ps, 1, 1, NULL, 0, &err), 0);
    /* The last float before the CRC is the last second moment. */
    long n = file_size(path);
    unsigned char *b = malloc((size_t)n);
    FILE *f = fopen(path, "rb");
    CHECK(f && b && fread(b, 1, (size_t)n, f) == (size_t)n);
    if (f) fclose(f);
    float neg = -1.0f;
    memcpy(b + n - 8, &neg, 4);
    uint32_t crc = ptrag_crc32(b, (size_t)n - 4);
    for (int i = 0; i < 4; i++) b[n - 4 + i] = (unsigned char)(crc >> (8 * i));
    f = fopen(path, "wb");
    CHECK(f && fwrite(b, 1, (size_t)n, f) == (size_t)n);
    if (f) fclose(f);
    free(b);
    ptrag_ckpt *ck;
    CHECK_INT(ptrag_ckpt_open(path, &ck, &err), 0);
    ptrag_params *fresh = model_params(10, 0, 2);
    CHECK_INT(ptrag_ckpt_restore(ck, &c, fresh, 0, &err), 0); /* weights only: fine */
    CHECK_INT(ptrag_ckpt_restore(ck, &c, fresh, 1, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "Adam second moment");
    CHECK_CONTAINS(err.msg, "negative");
    ptrag_ckpt_close(ck);
    ptrag_params_free(fresh);
    ptrag_params_free(ps);
}

static void test_failed_write_keeps_previous_checkpoint(void) {
    ptrag_error err;
    char dir_name[64];
    snprintf(dir_name, sizeof dir_name, "test_checkpoint_fail.%ld", (long)getpid());
    const char *dir = tl_tmp(dir_name); /* fresh: leftovers of other runs cannot interfere */
    CHECK_INT(ptrag_mkdir_p(dir, &err), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s/last.ckpt", dir);
    CHECK_INT(save_model(path, PTRAG_MODEL_STATE, 100, 1, &err), 0);
    char *before;
    size_t before_len;
    CHECK_INT(ptrag_read_file(path, &before, &before_len, &err), 0);

    /* Disk full, simulated with a file-size limit: the write fails midway. */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096; /* the checkpoint of 2000 genes is ~300 kB */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK_INT(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = save_model(path, PTRAG_MODEL_STATE, 2000, 2, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK_INT(rc, PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "last.ckpt: cannot write checkpoint: File too large");

    /* The previous checkpoint is intact and opens; no temporary file is left. */
    char *after;
    size_t after_len;
    CHECK_INT(ptrag_read_file(path, &after, &after_len, &err), 0);
    CHECK(after_len == before_len && memcmp(after, before, before_len) == 0);
    free(after);
    ptrag_ckpt *ck;
    CHECK_INT(ptrag_ckpt_open(path, &ck, &err), 0);
    ptrag_ckpt_close(ck);
    CHECK_INT(count_entries(dir, ".tmp."), 0);
    CHECK_INT(count_entries(dir, "last.ckpt"), 1);

    /* A directory that does not exist, and a "directory" that is a file. */
    char nodir[4200], underfile[4200];
    snprintf(nodir, sizeof nodir, "%s/missing/last.ckpt", dir);
    CHECK_INT(save_model(nodir, PTRAG_MODEL_STATE, 10, 1, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "missing/last.ckpt: cannot create checkpoint");
    snprintf(underfile, sizeof underfile, "%s/last.ckpt/x.ckpt", dir);
    CHECK_INT(save_model(underfile, PTRAG_MODEL_STATE, 10, 1, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "cannot create checkpoint: Not a directory");
    CHECK_INT(ptrag_read_file(path, &after, &after_len, &err), 0);
    CHECK(after_len == before_len && memcmp(after, before, before_len) == 0);
    free(after);
    free(before);
    CHECK_INT(count_entries(dir, ".tmp."), 0);

    /* And a successful overwrite replaces it. */
    CHECK_INT(save_model(path, PTRAG_MODEL_STATE, 20, 1, &err), 0);
    CHECK_INT(ptrag_ckpt_open(path, &ck, &err), 0);
    if (ck) CHECK_INT(ptrag_ckpt_tensor(ck, 0)->shape[1], 20);
    ptrag_ckpt_close(ck);
    unlink(path);
    CHECK_INT(rmdir(dir), 0); /* empty: nothing else was left behind */
}

static void test_crc32_matches_the_standard(void) {
    CHECK(ptrag_crc32("123456789", 9) == 0xCBF43926u);
    CHECK(ptrag_crc32("", 0) == 0);
    /* Any split of the data gives the same value, and zlib agrees. */
    size_t n = 100003;
    unsigned char *buf = malloc(n);
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)(i * 2654435761u >> 13);
    uint32_t whole = ptrag_crc32(buf, n);
    CHECK(whole == (uint32_t)crc32(0L, buf, (uInt)n));
    uint32_t parts = 0;
    size_t cuts[] = {0, 1, 7, 8, 9, 1000, 65536, 99999, n};
    for (int i = 0; i + 1 < (int)(sizeof cuts / sizeof cuts[0]); i++)
        parts = ptrag_crc32_update(parts, buf + cuts[i], cuts[i + 1] - cuts[i]);
    CHECK(parts == whole);
    CHECK(ptrag_crc32(buf + 1, n - 1) == (uint32_t)crc32(0L, buf + 1, (uInt)(n - 1))); /* unaligned */
    /* Streaming a file. */
    ptrag_error err;
    const char *path = tl_tmp("test_checkpoint_crc.bin");
    CHECK_INT(ptrag_write_file_atomic(path, buf, n, &err), 0);
    uint32_t fc = 0;
    uint64_t fs = 0;
    CHECK_INT(ptrag_file_crc32(path, &fc, &fs, &err), 0);
    CHECK(fc == whole);
    CHECK_INT(fs, n);
    CHECK_INT(ptrag_file_crc32(tl_tmp("test_checkpoint_nofile"), &fc, &fs, &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "test_checkpoint_nofile: cannot open");
    free(buf);
}

static void test_state_blob_round_trip(void) {
    ptrag_error err;
    ptrag_blob b;
    ptrag_blob_init(&b);
    CHECK_INT(ptrag_blob_put_u64(&b, 0x0102030405060708ull), 0);
    CHECK_INT(ptrag_blob_put_i64(&b, -5), 0);
    CHECK_INT(ptrag_blob_put_f64(&b, 0.1), 0);
    CHECK_INT(ptrag_blob_put_f64(&b, NAN), 0);
    CHECK_INT(ptrag_blob_put_bytes(&b, "abc", 3), 0);
    for (int i = 0; i < 100; i++) ptrag_blob_put_u64(&b, (uint64_t)i); /* growth */
    CHECK_INT(b.len, 8 * 4 + 3 + 800);
    CHECK(b.data[0] == 8 && b.data[7] == 1); /* little-endian on every host */
    CHECK(!b.failed);

    ptrag_blob r;
    ptrag_blob_view(&r, b.data, b.len);
    uint64_t u;
    int64_t s;
    double d;
    char abc[3];
    CHECK_INT(ptrag_blob_get_u64(&r, &u, &err), 0);
    CHECK(u == 0x0102030405060708ull);
    CHECK_INT(ptrag_blob_get_i64(&r, &s, &err), 0);
    CHECK_INT(s, -5);
    CHECK_INT(ptrag_blob_get_f64(&r, &d, &err), 0);
    CHECK(d == 0.1);
    CHECK_INT(ptrag_blob_get_f64(&r, &d, &err), 0);
    CHECK(isnan(d));
    CHECK_INT(ptrag_blob_get_bytes(&r, abc, 3, &err), 0);
    CHECK(memcmp(abc, "abc", 3) == 0);
    for (int i = 0; i < 100; i++) ptrag_blob_get_u64(&r, &u, &err);
    CHECK(u == 99);
    CHECK_INT(ptrag_blob_get_u64(&r, &u, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "training state: needs 8 more bytes");
    CHECK_INT(ptrag_blob_put_u64(&r, 1), PTRAG_E_NOMEM); /* a view is read-only */
    ptrag_blob_free(&r);
    ptrag_blob_free(&b);
}

int main(void) {
    RUN(test_save_then_restore_is_exact);
    RUN(test_damaged_files_are_refused);
    RUN(test_mismatches_are_explained);
    RUN(test_adam_moments_are_checked);
    RUN(test_failed_write_keeps_previous_checkpoint);
    RUN(test_crc32_matches_the_standard);
    RUN(test_state_blob_round_trip);
    return TEST_SUMMARY();
}
