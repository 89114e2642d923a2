/* Checkpoint files: see include/ptrag/checkpoint.h for the layout. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ptrag/blob.h"
#include "ptrag/checksum.h"
#include "ptrag/fsutil.h"

#ifndef PTRAG_VERSION
#define PTRAG_VERSION "unknown"
#endif

#define PREFIX_LEN 24 /* magic, version, header_len, file_size */
#define HEADER_ALIGN 64
#define MAX_HEADER (1u << 30)

/* The float arrays are written as the host stores them; that is the file's
 * little-endian format only on a little-endian host. */
static int host_is_little_endian(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void put_u32(ptrag_blob *b, uint32_t x) {
    unsigned char le[4] = {(unsigned char)x, (unsigned char)(x >> 8), (unsigned char)(x >> 16),
                           (unsigned char)(x >> 24)};
    ptrag_blob_put_bytes(b, le, 4);
}

static void put_str32(ptrag_blob *b, const char *s, size_t n) {
    put_u32(b, (uint32_t)n);
    ptrag_blob_put_bytes(b, s, n);
}

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

/* ---------- saving ---------- */

/* Writes and checksums; remembers the first failure's errno. */
typedef struct sink {
    FILE *f;
    uint32_t crc;
    int failed_errno;
} sink;

static void sink_write(sink *s, const void *p, size_t n) {
    if (s->failed_errno || n == 0) return;
    s->crc = ptrag_crc32_update(s->crc, p, n);
    errno = 0;
    if (fwrite(p, 1, n, s->f) != n) s->failed_errno = errno ? errno : EIO;
}

/* Adam's moments must be finite and the second one non-negative: a NaN there
 * passes the weight check and turns every weight NaN at the first resumed
 * step. */
static int check_moments(const char *path, const char *name, const float *m, const float *v, size_t n,
                         ptrag_error *err) {
    for (size_t k = 0; k < n; k++) {
        if (!isfinite(m[k]))
            return ptrag_fail(err, PTRAG_E_NUMERIC, "%s: tensor '%s': Adam first moment, element %zu is %s", path,
                              name, k, isnan(m[k]) ? "NaN" : "infinite");
        if (!isfinite(v[k]) || v[k] < 0)
            return ptrag_fail(err, PTRAG_E_NUMERIC, "%s: tensor '%s': Adam second moment, element %zu is %s", path,
                              name, k, isnan(v[k]) ? "NaN" : v[k] < 0 ? "negative" : "infinite");
    }
    return 0;
}

int ptrag_ckpt_save(const char *path, const ptrag_config *cfg, const ptrag_params *ps,
                    int64_t step, int64_t adam_step, const void *state, size_t state_len,
                    ptrag_error *err) {
    if (!host_is_little_endian())
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: checkpoints need a little-endian host", path);
    float *values = ptrag_params_values(ps);
    if (!values) return ptrag_fail(err, PTRAG_E_STATE, "%s: parameters are not laid out", path);
    int rc = ptrag_config_validate_complete(cfg, err);
    if (rc) {
        ptrag_error_prefix(err, "%s: configuration", path);
        return rc;
    }
    /* A diverged model must never replace a good checkpoint. */
    rc = ptrag_params_check_finite(ps, err);
    const float *m = ptrag_params_adam_m(ps), *v = ptrag_params_adam_v(ps);
    for (int i = 0; !rc && m && v && i < ptrag_params_count(ps); i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        rc = check_moments(path, t->name, m + t->offset, v + t->offset, t->numel, err);
    }
    if (rc) {
        ptrag_error_prefix(err, "%s: not saved", path);
        return rc;
    }
    if (step < 0 || adam_step < 0)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: negative step count", path);
    char *config_text;
    rc = ptrag_config_to_text(cfg, &config_text, err);
    if (rc) return rc;

    const uint64_t N = ptrag_params_total(ps), T = ptrag_params_trainable(ps);
    const int n_tensors = ptrag_params_count(ps);
    ptrag_blob h;
    ptrag_blob_init(&h);
    ptrag_blob_put_bytes(&h, PTRAG_CKPT_MAGIC, 8);
    put_u32(&h, PTRAG_CKPT_VERSION);
    put_u32(&h, 0);          /* header_len, patched below */
    ptrag_blob_put_u64(&h, 0); /* file_size, patched below */
    put_u32(&h, (uint32_t)cfg->model);
    put_u32(&h, (uint32_t)n_tensors);
    ptrag_blob_put_u64(&h, (uint64_t)step);
    ptrag_blob_put_u64(&h, (uint64_t)adam_step);
    ptrag_blob_put_u64(&h, N);
    ptrag_blob_put_u64(&h, T);
    put_str32(&h, PTRAG_VERSION, strlen(PTRAG_VERSION));
    put_str32(&h, config_text, strlen(config_text));
    free(config_text);
    ptrag_blob_put_u64(&h, (uint64_t)state_len);
    ptrag_blob_put_bytes(&h, state, state_len);
    for (int i = 0; i < n_tensors; i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        put_str32(&h, t->name, strlen(t->name));
        put_u32(&h, (uint32_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) ptrag_blob_put_u64(&h, (uint64_t)t->shape[d]);
        ptrag_blob_put_u64(&h, (uint64_t)t->offset);
        put_u32(&h, (uint32_t)t->frozen);
    }
    while (h.len % HEADER_ALIGN) ptrag_blob_put_bytes(&h, "", 1);
    if (h.failed || h.len > MAX_HEADER) {
        ptrag_blob_free(&h);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: checkpoint header too large or out of memory", path);
    }
    uint64_t file_size = h.len + 4 * (N + 2 * T) + 4;
    for (int i = 0; i < 4; i++) h.data[12 + i] = (unsigned char)((uint32_t)h.len >> (8 * i));
    for (int i = 0; i < 8; i++) h.data[16 + i] = (unsigned char)(file_size >> (8 * i));

    char tmp[4096];
    rc = ptrag_tmp_path(path, tmp, sizeof tmp, err);
    if (rc) {
        ptrag_blob_free(&h);
        return rc;
    }
    sink s = {fopen(tmp, "wb"), 0, 0};
    if (!s.f) {
        int e = errno;
        ptrag_blob_free(&h);
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot create checkpoint: %s", path, strerror(e));
    }
    sink_write(&s, h.data, h.len);
    ptrag_blob_free(&h);
    sink_write(&s, values, 4 * N);
    sink_write(&s, ptrag_params_adam_m(ps), 4 * T);
    sink_write(&s, ptrag_params_adam_v(ps), 4 * T);
    uint32_t crc = s.crc;
    unsigned char trailer[4] = {(unsigned char)crc, (unsigned char)(crc >> 8),
                                (unsigned char)(crc >> 16), (unsigned char)(crc >> 24)};
    sink_write(&s, trailer, 4);
    /* Buffered data may only fail to reach the disk at flush or close. */
    if (!s.failed_errno && fflush(s.f) != 0) s.failed_errno = errno ? errno : EIO;
    if (fclose(s.f) != 0 && !s.failed_errno) s.failed_errno = errno ? errno : EIO;
    if (s.failed_errno) {
        unlink(tmp);
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot write checkpoint: %s", path,
                          strerror(s.failed_errno));
    }
    return ptrag_commit_tmp(tmp, path, err);
}

/* ---------- loading ---------- */

struct ptrag_ckpt {
    char *path;
    FILE *f;
    ptrag_model_kind kind;
    int64_t step, adam_step;
    uint64_t header_len, n_values, n_trainable;
    char *writer;
    char *config_text;
    unsigned char *state;
    size_t state_len;
    int n_tensors;
    ptrag_param *tensors;
};

void ptrag_ckpt_close(ptrag_ckpt *ck) {
    if (!ck) return;
    if (ck->f) fclose(ck->f);
    free(ck->path);
    free(ck->writer);
    free(ck->config_text);
    free(ck->state);
    free(ck->tensors);
    free(ck);
}

/* Bounds-checked reader over the header bytes. */
typedef struct cursor {
    const unsigned char *p;
    size_t len, pos;
    int bad;
} cursor;

static const unsigned char *take(cursor *c, uint64_t n) {
    if (c->bad || n > c->len - c->pos) {
        c->bad = 1;
        return NULL;
    }
    const unsigned char *r = c->p + c->pos;
    c->pos += (size_t)n;
    return r;
}
static uint32_t take32(cursor *c) {
    const unsigned char *p = take(c, 4);
    return p ? le32(p) : 0;
}
static uint64_t take64(cursor *c) {
    const unsigned char *p = take(c, 8);
    return p ? le64(p) : 0;
}
/* A length-prefixed string, copied into a NUL-terminated malloc'ed buffer. */
static char *take_str(cursor *c, uint64_t len) {
    const unsigned char *p = take(c, len);
    if (!p) return NULL;
    char *s = malloc((size_t)len + 1);
    if (!s) {
        c->bad = 1;
        return NULL;
    }
    memcpy(s, p, (size_t)len);
    s[len] = '\0';
    return s;
}

static int parse_header(ptrag_ckpt *ck, const unsigned char *hdr, size_t len, uint64_t file_size,
                        ptrag_error *err) {
    const char *path = ck->path;
    cursor c = {hdr, len, PREFIX_LEN, 0};
    uint32_t kind = take32(&c);
    uint32_t n_tensors = take32(&c);
    ck->step = (int64_t)take64(&c);
    ck->adam_step = (int64_t)take64(&c);
    ck->n_values = take64(&c);
    ck->n_trainable = take64(&c);
    ck->writer = take_str(&c, take32(&c));
    ck->config_text = take_str(&c, take32(&c));
    uint64_t state_len = take64(&c);
    const unsigned char *state = take(&c, state_len);
    if (c.bad) return ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: fields run past its end", path);
    if (kind > PTRAG_MODEL_PTRAG)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: unknown model kind %u", path, kind);
    ck->kind = (ptrag_model_kind)kind;
    ck->state_len = (size_t)state_len;
    ck->state = malloc(state_len ? (size_t)state_len : 1);
    if (!ck->state) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    if (state_len) memcpy(ck->state, state, (size_t)state_len);
    uint64_t N = ck->n_values, T = ck->n_trainable;
    if (T > N || N > (1ull << 40) || ck->header_len + 4 * (N + 2 * T) + 4 != file_size)
        return ptrag_fail(err, PTRAG_E_FORMAT,
                          "%s: header: %llu values and %llu trainable do not fit the file size %llu",
                          path, (unsigned long long)N, (unsigned long long)T,
                          (unsigned long long)file_size);
    if (n_tensors > (1u << 20))
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: %u tensors", path, n_tensors);
    ck->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *ck->tensors);
    if (!ck->tensors) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    for (uint32_t i = 0; i < n_tensors; i++) {
        ptrag_param *t = &ck->tensors[i];
        uint32_t name_len = take32(&c);
        const unsigned char *name = take(&c, name_len);
        uint32_t ndim = take32(&c);
        if (c.bad || name_len == 0 || name_len >= PTRAG_PARAM_NAME_MAX || ndim < 1 ||
            ndim > PTRAG_PARAM_MAX_DIMS)
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: tensor #%u is malformed", path, i);
        memcpy(t->name, name, name_len);
        t->name[name_len] = '\0';
        t->ndim = (int)ndim;
        uint64_t numel = 1;
        for (int d = 0; d < PTRAG_PARAM_MAX_DIMS; d++) {
            uint64_t dim = d < (int)ndim ? take64(&c) : 1;
            if (dim < 1 || dim > (1ull << 40) || numel * dim > (1ull << 40)) c.bad = 1;
            t->shape[d] = (long long)dim;
            numel *= dim;
        }
        t->numel = (size_t)numel;
        t->offset = (size_t)take64(&c);
        t->frozen = take32(&c) != 0;
        uint64_t limit = t->frozen ? N : T; /* trainable tensors also have m and v */
        if (c.bad || t->offset >= limit || numel > limit - t->offset)
            return ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: tensor '%s' is malformed", path,
                              t->name);
        ck->n_tensors = (int)i + 1;
    }
    return 0;
}

int ptrag_ckpt_open(const char *path, ptrag_ckpt **out, ptrag_error *err) {
    *out = NULL;
    if (!host_is_little_endian())
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED, "%s: checkpoints need a little-endian host", path);
    ptrag_ckpt *ck = calloc(1, sizeof *ck);
    if (!ck) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    ck->path = malloc(strlen(path) + 1);
    if (!ck->path) {
        free(ck);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    strcpy(ck->path, path);
    int rc = 0;
    unsigned char *hdr = NULL, *buf = NULL;
    ck->f = fopen(path, "rb");
    if (!ck->f) {
        rc = ptrag_fail(err, PTRAG_E_IO, "%s: cannot open checkpoint: %s", path, strerror(errno));
        goto done;
    }
    struct stat st;
    if (fstat(fileno(ck->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = ptrag_fail(err, PTRAG_E_IO, "%s: not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char prefix[PREFIX_LEN];
    size_t got = fread(prefix, 1, PREFIX_LEN, ck->f);
    size_t cmp = got < 8 ? got : 8;
    if (got == 0 || memcmp(prefix, PTRAG_CKPT_MAGIC, cmp) != 0) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: not a ptrag checkpoint (bad magic%s)", path,
                        got == 0 ? ": empty file" : "");
        goto done;
    }
    if (got < 12) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: truncated checkpoint: only %zu bytes", path, got);
        goto done;
    }
    uint32_t version = le32(prefix + 8);
    if (version != PTRAG_CKPT_VERSION) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                        "%s: checkpoint format version %u, this build of ptrag reads version %d",
                        path, version, PTRAG_CKPT_VERSION);
        goto done;
    }
    if (got < PREFIX_LEN) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: truncated checkpoint: only %zu bytes", path, got);
        goto done;
    }
    uint64_t header_len = le32(prefix + 12), expected = le64(prefix + 16);
    if (size < expected) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: truncated checkpoint: %llu of %llu bytes", path,
                        (unsigned long long)size, (unsigned long long)expected);
        goto done;
    }
    if (size > expected) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                        "%s: corrupted checkpoint: %llu bytes, but its header says %llu", path,
                        (unsigned long long)size, (unsigned long long)expected);
        goto done;
    }
    if (header_len < PREFIX_LEN || header_len > MAX_HEADER || header_len + 4 > size) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: corrupted checkpoint: header length %llu", path,
                        (unsigned long long)header_len);
        goto done;
    }
    ck->header_len = header_len;
    /* One streaming pass: checksum everything, keep the header. */
    hdr = malloc((size_t)header_len);
    enum { CHUNK = 1 << 20 };
    buf = malloc(CHUNK);
    if (!hdr || !buf) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    memcpy(hdr, prefix, PREFIX_LEN);
    uint32_t crc = ptrag_crc32_update(0, prefix, PREFIX_LEN);
    uint64_t pos = PREFIX_LEN, body_end = size - 4;
    while (pos < body_end) {
        size_t want = body_end - pos < CHUNK ? (size_t)(body_end - pos) : CHUNK;
        size_t r = fread(buf, 1, want, ck->f);
        if (r != want) {
            rc = ptrag_fail(err, PTRAG_E_IO, "%s: read error at byte %llu", path,
                            (unsigned long long)(pos + r));
            goto done;
        }
        if (pos < header_len) {
            size_t n = header_len - pos < r ? (size_t)(header_len - pos) : r;
            memcpy(hdr + pos, buf, n);
        }
        crc = ptrag_crc32_update(crc, buf, r);
        pos += r;
    }
    unsigned char trailer[4];
    if (fread(trailer, 1, 4, ck->f) != 4) {
        rc = ptrag_fail(err, PTRAG_E_IO, "%s: read error at the checksum", path);
        goto done;
    }
    if (le32(trailer) != crc) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT,
                        "%s: checksum mismatch (stored %08x, computed %08x): the checkpoint is corrupted",
                        path, le32(trailer), crc);
        goto done;
    }
    rc = parse_header(ck, hdr, (size_t)header_len, size, err);
done:
    free(hdr);
    free(buf);
    if (rc) {
        ptrag_ckpt_close(ck);
        return rc;
    }
    *out = ck;
    return 0;
}

const char *ptrag_ckpt_path(const ptrag_ckpt *ck) { return ck->path; }
ptrag_model_kind ptrag_ckpt_kind(const ptrag_ckpt *ck) { return ck->kind; }
int64_t ptrag_ckpt_step(const ptrag_ckpt *ck) { return ck->step; }
int64_t ptrag_ckpt_adam_step(const ptrag_ckpt *ck) { return ck->adam_step; }
const char *ptrag_ckpt_writer_version(const ptrag_ckpt *ck) { return ck->writer; }
const char *ptrag_ckpt_config_text(const ptrag_ckpt *ck) { return ck->config_text; }
int ptrag_ckpt_tensor_count(const ptrag_ckpt *ck) { return ck->n_tensors; }

const void *ptrag_ckpt_state(const ptrag_ckpt *ck, size_t *len) {
    if (len) *len = ck->state_len;
    return ck->state;
}

const ptrag_param *ptrag_ckpt_tensor(const ptrag_ckpt *ck, int i) {
    return i >= 0 && i < ck->n_tensors ? &ck->tensors[i] : NULL;
}

int ptrag_ckpt_config(const ptrag_ckpt *ck, ptrag_config *out, ptrag_error *err) {
    char source[4200];
    snprintf(source, sizeof source, "%s: stored configuration", ck->path);
    return ptrag_config_from_text(out, ck->config_text, source, err);
}

int ptrag_ckpt_expect_kind(const ptrag_ckpt *ck, ptrag_model_kind kind, ptrag_error *err) {
    if (ck->kind == kind) return 0;
    return ptrag_fail(err, PTRAG_E_STATE, "%s: checkpoint holds a '%s' model, expected '%s'",
                      ck->path, ptrag_model_kind_name(ck->kind), ptrag_model_kind_name(kind));
}

static int same_shape(const ptrag_param *a, const ptrag_param *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return 1;
}

static int find_tensor(const ptrag_ckpt *ck, const char *name) {
    for (int j = 0; j < ck->n_tensors; j++)
        if (strcmp(ck->tensors[j].name, name) == 0) return j;
    return -1;
}

/* Reads `n` floats at float index `at` of the data section into `dst`. */
static int read_floats(ptrag_ckpt *ck, uint64_t at, float *dst, size_t n, ptrag_error *err) {
    if (fseeko(ck->f, (off_t)(ck->header_len + 4 * at), SEEK_SET) != 0 ||
        fread(dst, sizeof *dst, n, ck->f) != n)
        return ptrag_fail(err, PTRAG_E_IO, "%s: read error in the tensor data", ck->path);
    return 0;
}

int ptrag_ckpt_restore(ptrag_ckpt *ck, const ptrag_config *current, ptrag_params *ps,
                       int with_optimizer, ptrag_error *err) {
    if (!ptrag_params_values(ps))
        return ptrag_fail(err, PTRAG_E_STATE, "%s: the parameters are not laid out", ck->path);
    if (current) {
        int rc = ptrag_ckpt_expect_kind(ck, current->model, err);
        if (rc) return rc;
        ptrag_config saved;
        rc = ptrag_ckpt_config(ck, &saved, err);
        if (rc) return rc;
        rc = ptrag_config_check_compatible(&saved, current, ck->path, err);
        if (rc) return rc;
    }
    /* Check everything before copying anything. */
    const int n = ptrag_params_count(ps);
    char a[128], b[128];
    for (int i = 0; i < n; i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        int j = find_tensor(ck, t->name);
        ptrag_shape_text(t->ndim, t->shape, b, sizeof b);
        if (j < 0)
            return ptrag_fail(err, PTRAG_E_STATE,
                              "%s: checkpoint has no tensor '%s' (the model expects shape %s)",
                              ck->path, t->name, b);
        if (!same_shape(&ck->tensors[j], t)) {
            ptrag_shape_text(ck->tensors[j].ndim, ck->tensors[j].shape, a, sizeof a);
            return ptrag_fail(err, PTRAG_E_STATE,
                              "%s: tensor '%s' has shape %s in the checkpoint, the model expects %s",
                              ck->path, t->name, a, b);
        }
    }
    for (int j = 0; j < ck->n_tensors; j++)
        if (ptrag_params_find(ps, ck->tensors[j].name) < 0) {
            ptrag_shape_text(ck->tensors[j].ndim, ck->tensors[j].shape, a, sizeof a);
            return ptrag_fail(err, PTRAG_E_STATE,
                              "%s: checkpoint tensor '%s' %s is not part of this model", ck->path,
                              ck->tensors[j].name, a);
        }
    const uint64_t N = ck->n_values, T = ck->n_trainable;
    for (int i = 0; i < n; i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        const ptrag_param *c = &ck->tensors[find_tensor(ck, t->name)];
        float *x = ptrag_params_value(ps, i);
        int rc = read_floats(ck, c->offset, x, t->numel, err);
        /* A NaN/Inf weight (a file damaged and re-checksummed, or written by
         * another tool) would silently poison every prediction. */
        for (size_t k = 0; !rc && k < t->numel; k++)
            if (!isfinite(x[k]))
                rc = ptrag_fail(err, PTRAG_E_NUMERIC, "%s: tensor '%s': element %zu is %s", ck->path,
                                t->name, k, isnan(x[k]) ? "NaN" : "infinite");
        if (rc || !with_optimizer) {
            if (rc) return rc;
            continue;
        }
        float *m = ptrag_params_adam_m(ps) + t->offset, *v = ptrag_params_adam_v(ps) + t->offset;
        if (c->frozen) {
            memset(m, 0, t->numel * sizeof *m);
            memset(v, 0, t->numel * sizeof *v);
            continue;
        }
        rc = read_floats(ck, N + c->offset, m, t->numel, err);
        if (!rc) rc = read_floats(ck, N + T + c->offset, v, t->numel, err);
        if (!rc) rc = check_moments(ck->path, t->name, m, v, t->numel, err);
        if (rc) return rc;
    }
    return 0;
}
