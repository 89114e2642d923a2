/* Atomic output and small path helpers: see include/ptrag/fsutil.h. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint tmp_counter;

int ptrag_tmp_path(const char *path, char *tmp, size_t n, ptrag_error *err) {
    unsigned c = atomic_fetch_add(&tmp_counter, 1u);
    int w = snprintf(tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(), c);
    if (w < 0 || (size_t)w >= n)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: path too long for a temporary name", path);
    return 0;
}

int ptrag_commit_tmp(const char *tmp, const char *path, ptrag_error *err) {
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot rename temporary file into place: %s", path,
                          strerror(e));
    }
    return 0;
}

int ptrag_write_file_atomic(const char *path, const void *data, size_t len, ptrag_error *err) {
    char tmp[4096];
    int rc = ptrag_tmp_path(path, tmp, sizeof tmp, err);
    if (rc) return rc;
    FILE *f = fopen(tmp, "wb");
    if (!f) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot create: %s", path, strerror(errno));
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    int bad = (w != len);
    if (fflush(f) != 0) bad = 1;
    int e = errno;
    if (fclose(f) != 0) bad = 1;
    if (bad) {
        unlink(tmp);
        return ptrag_fail(err, PTRAG_E_IO, "%s: write failed: %s", path, strerror(e));
    }
    return ptrag_commit_tmp(tmp, path, err);
}

int ptrag_read_file(const char *path, char **data, size_t *len, ptrag_error *err) {
    *data = NULL;
    if (len) *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        char *nb = realloc(buf, 2 * cap + 1);
        if (!nb) {
            free(buf);
            fclose(f);
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ptrag_fail(err, PTRAG_E_IO, "%s: read error", path);
    }
    buf[n] = '\0';
    *data = buf;
    if (len) *len = n;
    return 0;
}

int ptrag_mkdir_p(const char *path, ptrag_error *err) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return ptrag_fail(err, PTRAG_E_ARG, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return ptrag_fail(err, PTRAG_E_IO, "%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return ptrag_fail(err, PTRAG_E_IO, "%s: exists and is not a directory", path);
    return 0;
}

int ptrag_path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

void ptrag_dirname(const char *path, char *dir, size_t n) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, n, ".");
    } else if (slash == path) {
        snprintf(dir, n, "/");
    } else {
        snprintf(dir, n, "%.*s", (int)(slash - path), path);
    }
}

void ptrag_path_join(const char *base_dir, const char *rel, char *out, size_t n) {
    if (rel[0] == '/' || base_dir[0] == '\0')
        snprintf(out, n, "%s", rel);
    else
        snprintf(out, n, "%s/%s", base_dir, rel);
}
