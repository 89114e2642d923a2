/* Test-only reader of the PyTorch twin's tensor file (format documented in
 * dev/twin_ops.py): magic "PTRAGTW1", u32 count, then per tensor name_len,
 * name, dtype (0 float32, 1 int32), ndim, dims, data; little-endian. */
#ifndef PTRAG_TESTS_TWIN_FILE_H
#define PTRAG_TESTS_TWIN_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/error.h"

typedef struct twin_tensor {
    char name[128];
    int dtype; /* 0 float32, 1 int32 */
    int ndim;
    long dims[8];
    long n;
    void *data;
} twin_tensor;

typedef struct twin_file {
    char path[1024];
    int count;
    twin_tensor *t;
} twin_file;

static void twin_file_free(twin_file *tf) {
    if (!tf) return;
    for (int i = 0; i < tf->count; i++) free(tf->t[i].data);
    free(tf->t);
    free(tf);
}

static int twin_read_u32(FILE *f, uint32_t *v) {
    unsigned char b[4];
    if (fread(b, 1, 4, f) != 4) return -1;
    *v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return 0;
}

/* Reads the whole file; NULL with err filled on failure. */
static twin_file *twin_file_read(const char *path, ptrag_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ptrag_fail(err, PTRAG_E_IO, "%s: cannot open", path);
        return NULL;
    }
    twin_file *tf = calloc(1, sizeof *tf);
    snprintf(tf->path, sizeof tf->path, "%s", path);
    char magic[8];
    uint32_t count = 0;
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "PTRAGTW1", 8) != 0) {
        ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: expected magic PTRAGTW1", path);
        goto fail;
    }
    if (twin_read_u32(f, &count) || count > 100000) {
        ptrag_fail(err, PTRAG_E_FORMAT, "%s: header: expected a tensor count", path);
        goto fail;
    }
    tf->t = calloc(count ? count : 1, sizeof *tf->t);
    for (uint32_t i = 0; i < count; i++) {
        twin_tensor *t = &tf->t[i];
        uint32_t nl, dtype, ndim;
        if (twin_read_u32(f, &nl) || nl == 0 || nl >= sizeof t->name ||
            fread(t->name, 1, nl, f) != nl) {
            ptrag_fail(err, PTRAG_E_FORMAT, "%s: tensor #%u: expected a name", path, i);
            goto fail;
        }
        t->name[nl] = 0;
        if (twin_read_u32(f, &dtype) || dtype > 1 || twin_read_u32(f, &ndim) || ndim > 8) {
            ptrag_fail(err, PTRAG_E_FORMAT, "%s: tensor '%s': expected dtype 0/1 and ndim <= 8",
                       path, t->name);
            goto fail;
        }
        t->dtype = (int)dtype, t->ndim = (int)ndim, t->n = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint32_t v;
            if (twin_read_u32(f, &v)) {
                ptrag_fail(err, PTRAG_E_FORMAT, "%s: tensor '%s': truncated dims", path, t->name);
                goto fail;
            }
            t->dims[d] = v, t->n *= v;
        }
        tf->count = (int)i + 1;
        t->data = malloc(4 * (size_t)(t->n ? t->n : 1));
        if (fread(t->data, 4, (size_t)t->n, f) != (size_t)t->n) {
            ptrag_fail(err, PTRAG_E_FORMAT, "%s: tensor '%s': expected %ld values, file truncated",
                       path, t->name, t->n);
            goto fail;
        }
    }
    fclose(f);
    return tf;
fail:
    fclose(f);
    twin_file_free(tf);
    return NULL;
}

/* The tensor called name with n elements and the given dtype, or NULL + err. */
static const twin_tensor *twin_get(const twin_file *tf, const char *name, long n, int dtype,
                                   ptrag_error *err) {
    for (int i = 0; i < tf->count; i++) {
        const twin_tensor *t = &tf->t[i];
        if (strcmp(t->name, name) != 0) continue;
        if (t->n != n || t->dtype != dtype) {
            ptrag_fail(err, PTRAG_E_FORMAT, "%s: tensor '%s': expected %ld %s values, found %ld %s",
                       tf->path, name, n, dtype ? "int32" : "float32", t->n,
                       t->dtype ? "int32" : "float32");
            return NULL;
        }
        return t;
    }
    ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: tensor '%s': not in file", tf->path, name);
    return NULL;
}

#endif
