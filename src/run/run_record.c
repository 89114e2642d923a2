/* The run record (record.txt) and the settings digest: see include/ptrag/run_record.h. */
#define _XOPEN_SOURCE 700
#include "ptrag/run_record.h"
#include "ptrag/run_lock.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ptrag/checkpoint.h"
#include "ptrag/checksum.h"
#include "ptrag/fsutil.h"
#include "ptrag/run_dir.h"

/* ---------- settings ---------- */

/* Config keys that cannot change a run's checkpoints: a speed knob, a label,
 * the inference-time selection mode, and the dims the data decides (the data
 * is in the settings through its CRC). */
static int key_ignored(const char *key, size_t len) {
    static const char *const ignored[] = {"preset", "selection", "n_genes", "pert_dim", "pert_onehot",
                                          "n_batches"};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
        if (strlen(ignored[i]) == len && strncmp(key, ignored[i], len) == 0) return 1;
    return 0;
}

/* Keys added after runs were first recorded, left out of the settings text
 * while they hold the value that does what ptrag did before they existed
 * (the published behaviour): a run recorded before a key was added keeps its
 * digest and is reused, instead of every new option retraining every run.
 * A key belongs here only if its value at that setting never changes what a
 * run computes. */
static int key_at_earlier_behaviour(const ptrag_config *c, const char *key, size_t len) {
#define LATER(name, at_earlier) \
    if (strlen(name) == len && strncmp(key, name, len) == 0) return (at_earlier);
    LATER("own_other_celltypes", !c->own_other_celltypes)
    LATER("keep_threshold", c->keep_threshold == 0.5)
    LATER("response_retrieval", c->response_retrieval == 0.0)
    LATER("scorer_features", !c->scorer_features)
#undef LATER
    return 0;
}

/* CRC-32 of input files, remembered per (path, size, mtime) for the life of
 * the process: an experiment asks for the settings of every run several
 * times, and a data file may be gigabytes. */
static struct {
    char path[1024];
    uint64_t size;
    long long mtime_ns;
    uint32_t crc;
} crc_memo[16];
static int crc_memo_next;
static pthread_mutex_t crc_memo_lock = PTHREAD_MUTEX_INITIALIZER;

static int input_crc(const char *path, uint32_t *crc, uint64_t *size, ptrag_error *err) {
    struct stat st;
    if (stat(path, &st) != 0) return ptrag_file_crc32(path, crc, size, err); /* reports the error */
    long long mt = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    int found = 0;
    pthread_mutex_lock(&crc_memo_lock);
    for (int i = 0; i < 16 && !found; i++)
        if (strcmp(crc_memo[i].path, path) == 0 && crc_memo[i].size == (uint64_t)st.st_size &&
            crc_memo[i].mtime_ns == mt) {
            *crc = crc_memo[i].crc;
            *size = crc_memo[i].size;
            found = 1;
        }
    pthread_mutex_unlock(&crc_memo_lock);
    if (found) return 0;
    int rc = ptrag_file_crc32(path, crc, size, err);
    if (rc || strlen(path) >= sizeof crc_memo[0].path) return rc;
    pthread_mutex_lock(&crc_memo_lock);
    int i = crc_memo_next++ & 15;
    snprintf(crc_memo[i].path, sizeof crc_memo[i].path, "%s", path);
    crc_memo[i].size = *size;
    crc_memo[i].mtime_ns = mt;
    crc_memo[i].crc = *crc;
    pthread_mutex_unlock(&crc_memo_lock);
    return 0;
}

static int print_input(FILE *f, const char *role, const char *path, ptrag_error *err) {
    if (!path || !*path) {
        fprintf(f, "input.%s = none\n", role);
        return 0;
    }
    uint32_t crc;
    uint64_t size;
    int rc = input_crc(path, &crc, &size, err);
    if (rc) {
        ptrag_error_prefix(err, "settings digest: input '%s'", role);
        return rc;
    }
    fprintf(f, "input.%s = %08" PRIx32 " %" PRIu64 "\n", role, crc, size);
    return 0;
}

/* The data lines of a settings text: data flags and each input's CRC and size. */
static int print_data(FILE *f, const ptrag_dataset_opts *dopts, const char *split_path,
                      const char *const *data_paths, int n_data, ptrag_error *err) {
    ptrag_dataset_opts def;
    ptrag_dataset_opts_default(&def);
    const ptrag_dataset_opts *o = dopts ? dopts : &def;
    fprintf(f, "data.pert_col = %s\ndata.control = %s\ndata.celltype_col = %s\ndata.batch_col = %s\n",
            o->pert_col ? o->pert_col : "", o->control ? o->control : "", o->celltype_col ? o->celltype_col : "",
            o->batch_col ? o->batch_col : "");
    fprintf(f, "data.x = %s\ndata.normalize = %d\ndata.hvg = %ld\ndata.missing = %s\n",
            o->x_source ? o->x_source : "X", o->normalize, o->hvg, ptrag_missing_policy_name(o->missing));
    int rc = print_input(f, "split", split_path, err);
    /* "data", then "data2", ... for a split of several files (one file: as before) */
    if (!rc && n_data == 0) rc = print_input(f, "data", NULL, err);
    for (int k = 0; k < n_data && !rc; k++) {
        char role[16];
        snprintf(role, sizeof role, k ? "data%d" : "data", k + 1);
        rc = print_input(f, role, data_paths[k], err);
    }
    if (!rc) rc = print_input(f, "embeddings", o->embeddings, err);
    if (!rc) rc = print_input(f, "aliases", o->aliases, err);
    return rc;
}

static int settings_text(const ptrag_config *cfg, const ptrag_dataset_opts *dopts, const char *split_path,
                         const char *const *data_paths, int n_data, char **text, uint32_t *digest,
                         ptrag_error *err) {
    char *cfg_text = NULL;
    int rc = cfg ? ptrag_config_to_text(cfg, &cfg_text, err) : 0;
    if (rc) return rc;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) {
        free(cfg_text);
        return ptrag_fail(err, PTRAG_E_NOMEM, "settings digest: out of memory");
    }
    fprintf(f, "record_format = %d\n", PTRAG_RUN_RECORD_FORMAT);
    if (cfg) fprintf(f, "checkpoint_format = %d\n", PTRAG_CKPT_VERSION);
    const int numerics = !cfg ? 1 : cfg->precision == PTRAG_PRECISION_BF16 ? PTRAG_NUMERICS_BF16 : PTRAG_NUMERICS_FP32;
    if (numerics > 1) fprintf(f, "numerics = %d\n", numerics);
    for (char *line = cfg_text; line && *line;) {
        size_t n = strcspn(line, "\n");
        size_t klen = strcspn(line, " =");
        if (line[0] != '#' && n > 0 && !key_ignored(line, klen) && !key_at_earlier_behaviour(cfg, line, klen))
            fprintf(f, "%.*s\n", (int)n, line);
        line += n;
        if (*line) line++;
    }
    free(cfg_text);
    rc = print_data(f, dopts, split_path, data_paths, n_data, err);
    fclose(f);
    if (rc) {
        free(buf);
        return rc;
    }
    *text = buf;
    *digest = ptrag_crc32(buf, len);
    return 0;
}

int ptrag_run_settings(const ptrag_config *cfg, const ptrag_dataset_opts *dopts, const char *split_path,
                       const char *data_path, char **text, uint32_t *digest, ptrag_error *err) {
    return settings_text(cfg, dopts, split_path, &data_path, data_path && *data_path, text, digest, err);
}

int ptrag_data_settings(const ptrag_dataset_opts *dopts, const char *split_path, const char *data_path, char **text,
                        uint32_t *digest, ptrag_error *err) {
    return settings_text(NULL, dopts, split_path, &data_path, data_path && *data_path, text, digest, err);
}

int ptrag_run_settings_files(const ptrag_config *cfg, const ptrag_dataset_opts *dopts, const char *split_path,
                             const char *const *data_paths, int n_data, char **text, uint32_t *digest,
                             ptrag_error *err) {
    return settings_text(cfg, dopts, split_path, data_paths, n_data, text, digest, err);
}

int ptrag_data_settings_files(const ptrag_dataset_opts *dopts, const char *split_path, const char *const *data_paths,
                              int n_data, char **text, uint32_t *digest, ptrag_error *err) {
    return settings_text(NULL, dopts, split_path, data_paths, n_data, text, digest, err);
}

int ptrag_run_dir_match(const char *dir, const char *settings, char *why, size_t n) {
    if (n) why[0] = '\0';
    if (!ptrag_dir_nonempty(dir)) return PTRAG_RUN_ABSENT;
    ptrag_run_record rec;
    ptrag_error err;
    if (ptrag_run_record_read(dir, &rec, &err)) {
        snprintf(why, n, "its record cannot be read (%s)", err.msg);
        return PTRAG_RUN_DIFFERS;
    }
    int res = PTRAG_RUN_SAME;
    if (!rec.settings) {
        snprintf(why, n, "it has no settings record (written by an older ptrag, or not by ptrag train)");
        res = PTRAG_RUN_DIFFERS;
    } else if (rec.digest != ptrag_crc32(settings, strlen(settings))) {
        char diff[2048];
        ptrag_run_settings_diff(rec.settings, settings, diff, sizeof diff);
        snprintf(why, n, "settings %08" PRIx32 " on disk, this command's differ: %s", rec.digest, diff);
        res = PTRAG_RUN_DIFFERS;
    }
    ptrag_run_record_free(&rec);
    return res;
}

/* Value of `key` ("key = value" line) in a settings text, as (pointer, length); NULL if absent. */
static const char *settings_value(const char *text, const char *key, size_t klen, size_t *vlen) {
    for (const char *line = text; line && *line;) {
        size_t n = strcspn(line, "\n");
        if (n >= klen + 3 && strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0) {
            *vlen = n - klen - 3;
            return line + klen + 3;
        }
        line += n;
        if (*line) line++;
    }
    return NULL;
}

static void diff_append(char *buf, size_t n, size_t *len, int count, const char *key, size_t klen, const char *a,
                        size_t alen, const char *b, size_t blen) {
    if (*len >= n) return;
    int w = snprintf(buf + *len, n - *len, "%s%.*s: %.*s -> %.*s", count ? "; " : "", (int)klen, key, (int)alen, a,
                     (int)blen, b);
    if (w > 0) *len += (size_t)w;
    if (*len >= n) *len = n;
}

int ptrag_run_settings_diff(const char *old, const char *now, char *buf, size_t n) {
    int count = 0;
    size_t len = 0;
    if (n) buf[0] = '\0';
    const char *texts[2] = {old ? old : "", now ? now : ""};
    for (int pass = 0; pass < 2; pass++) {
        for (const char *line = texts[pass]; *line;) {
            size_t ln = strcspn(line, "\n");
            const char *eq = strstr(line, " = ");
            if (eq && (size_t)(eq - line) < ln) {
                size_t klen = (size_t)(eq - line);
                size_t vlen = ln - klen - 3, olen = 0;
                const char *other = settings_value(texts[1 - pass], line, klen, &olen);
                if (pass == 0 && (!other || olen != vlen || strncmp(other, eq + 3, vlen) != 0)) {
                    diff_append(buf, n, &len, count++, line, klen, eq + 3, vlen, other ? other : "(none)",
                                other ? olen : 6);
                } else if (pass == 1 && !other) {
                    diff_append(buf, n, &len, count++, line, klen, "(none)", 6, eq + 3, vlen);
                }
            }
            line += ln;
            if (*line) line++;
        }
    }
    return count;
}

int ptrag_run_settings_replace(const char *text, const char *key, const char *value, char **out, ptrag_error *err) {
    char *buf = NULL;
    size_t len = 0, klen = strlen(key);
    FILE *f = open_memstream(&buf, &len);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "settings: out of memory");
    int found = 0;
    for (const char *line = text; *line;) {
        size_t n = strcspn(line, "\n");
        if (n >= klen + 3 && strncmp(line, key, klen) == 0 && strncmp(line + klen, " = ", 3) == 0) {
            fprintf(f, "%s = %s\n", key, value);
            found = 1;
        } else if (n) {
            fprintf(f, "%.*s\n", (int)n, line);
        }
        line += n;
        if (*line) line++;
    }
    if (!found) fprintf(f, "%s = %s\n", key, value);
    fclose(f);
    *out = buf;
    return 0;
}

/* ---------- record.txt ---------- */

void ptrag_run_record_free(ptrag_run_record *rec) {
    for (int i = 0; i < rec->n_files; i++) {
        free(rec->files[i].name);
        free(rec->files[i].key);
    }
    free(rec->files);
    free(rec->settings);
    memset(rec, 0, sizeof *rec);
}

static int add_file(ptrag_run_record *rec, const char *name, size_t name_len, const char *command, uint64_t crc,
                    uint64_t size, const char *key) {
    if (rec->n_files == rec->cap_files) {
        int cap = rec->cap_files ? 2 * rec->cap_files : 16;
        ptrag_run_file *nf = realloc(rec->files, (size_t)cap * sizeof *nf);
        if (!nf) return -1;
        rec->files = nf;
        rec->cap_files = cap;
    }
    ptrag_run_file *f = &rec->files[rec->n_files];
    memset(f, 0, sizeof *f);
    f->name = strndup(name, name_len);
    f->key = strdup(key && *key ? key : "-");
    if (!f->name || !f->key) {
        free(f->name);
        free(f->key);
        return -1;
    }
    snprintf(f->command, sizeof f->command, "%s", command);
    f->digest = crc;
    f->size = size;
    rec->n_files++;
    return 0;
}

int ptrag_run_record_read(const char *dir, ptrag_run_record *rec, ptrag_error *err) {
    memset(rec, 0, sizeof *rec);
    char path[4096];
    int rc = ptrag_run_path(dir, PTRAG_RUN_RECORD, path, sizeof path, err);
    if (rc) return rc;
    if (!ptrag_path_exists(path)) return 0;
    char *text;
    if ((rc = ptrag_read_file(path, &text, NULL, err))) return rc;
    rec->exists = 1;
    char *settings = NULL;
    size_t slen = 0;
    FILE *sf = open_memstream(&settings, &slen);
    if (!sf) {
        free(text);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    int has_settings = 0, line_no = 0;
    for (char *line = text; *line && !rc;) {
        size_t n = strcspn(line, "\n");
        line_no++;
        char *eq = strstr(line, " = ");
        if (line[0] == '#' || n == 0) {
            /* comment or blank */
        } else if (!eq || (size_t)(eq - line) >= n) {
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s:%d: expected 'key = value'", path, line_no);
        } else if (strncmp(line, "setting.", 8) == 0) {
            fprintf(sf, "%.*s\n", (int)(n - 8), line + 8);
            has_settings = 1;
        } else if (strncmp(line, "file.", 5) == 0) {
            char command[32], key[4096];
            unsigned long long size, crc;
            char value[4200];
            snprintf(value, sizeof value, "%.*s", (int)(n - (size_t)(eq + 3 - line)), eq + 3);
            if (sscanf(value, "%31s %llx %llu %4095s", command, &crc, &size, key) != 4)
                rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s:%d: expected 'file.NAME = COMMAND DIGEST SIZE KEY'", path,
                                line_no);
            else if (add_file(rec, line + 5, (size_t)(eq - line) - 5, command, crc, size, key))
                rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        } else if (strncmp(line, "settings_digest = ", 18) != 0) {
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s:%d: unknown line '%.*s'", path, line_no, (int)n, line);
        }
        line += n;
        if (*line) line++;
    }
    fclose(sf);
    free(text);
    if (!rc && has_settings) {
        rec->settings = settings;
        rec->digest = ptrag_crc32(settings, slen);
    } else {
        free(settings);
    }
    if (rc) ptrag_run_record_free(rec);
    return rc;
}

int ptrag_run_record_write(const char *dir, const ptrag_run_record *rec, ptrag_error *err) {
    char path[4096];
    int rc = ptrag_run_path(dir, PTRAG_RUN_RECORD, path, sizeof path, err);
    if (rc) return rc;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    fprintf(f, "# ptrag run record: the settings that determine this run, and every file ptrag wrote for it\n"
               "# (file.NAME = COMMAND DIGEST SIZE KEY). See docs/runs.md.\n");
    if (rec->settings) {
        fprintf(f, "settings_digest = %08" PRIx32 "\n", ptrag_crc32(rec->settings, strlen(rec->settings)));
        for (const char *line = rec->settings; *line;) {
            size_t n = strcspn(line, "\n");
            if (n) fprintf(f, "setting.%.*s\n", (int)n, line);
            line += n;
            if (*line) line++;
        }
    }
    for (int i = 0; i < rec->n_files; i++) {
        const ptrag_run_file *r = &rec->files[i];
        fprintf(f, "file.%s = %s %016" PRIx64 " %" PRIu64 " %s\n", r->name, r->command, r->digest, r->size, r->key);
    }
    fclose(f);
    rc = ptrag_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

/* record.txt is read, changed and rewritten: an exclusive lock on the run
 * directory itself keeps two commands (a predict while training runs) from
 * losing each other's lines. Returns the fd to pass to unlock (-1: no lock,
 * e.g. on a file system without flock; the update goes ahead). */
static int set_settings_locked(const char *dir, const char *settings, ptrag_error *err);

static int lock_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void unlock_dir(int fd) {
    if (fd >= 0) close(fd); /* closing releases the lock */
}

int ptrag_run_record_set_settings(const char *dir, const char *settings, ptrag_error *err) {
    int lock = lock_dir(dir);
    int rc = set_settings_locked(dir, settings, err);
    unlock_dir(lock);
    return rc;
}

static int set_settings_locked(const char *dir, const char *settings, ptrag_error *err) {
    ptrag_run_record rec;
    int rc = ptrag_run_record_read(dir, &rec, err);
    if (rc) return rc;
    free(rec.settings);
    rec.settings = strdup(settings);
    if (!rec.settings) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", dir);
    if (!rc) rc = ptrag_run_record_write(dir, &rec, err);
    ptrag_run_record_free(&rec);
    return rc;
}

/* The name a file has in `dir`'s record: relative inside dir, else absolute. */
static void record_name(const char *dir, const char *path, char *out, size_t n) {
    char d[PATH_MAX], p[PATH_MAX], parent[4096];
    if (!realpath(dir, d)) snprintf(d, sizeof d, "%s", dir);
    /* The file may not exist yet: resolve its directory. */
    ptrag_dirname(path, parent, sizeof parent);
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char rp[PATH_MAX];
    if (!realpath(parent, rp) || snprintf(p, sizeof p, "%s/%s", rp, base) >= (int)sizeof p)
        snprintf(p, sizeof p, "%s", path);
    size_t dl = strlen(d);
    if (strncmp(p, d, dl) == 0 && p[dl] == '/') snprintf(out, n, "%s", p + dl + 1);
    else snprintf(out, n, "%s", p);
}

static int find_file(const ptrag_run_record *rec, const char *name) {
    for (int i = 0; i < rec->n_files; i++)
        if (strcmp(rec->files[i].name, name) == 0) return i;
    return -1;
}

static int note_locked(const char *dir, const char *path, const char *command, const char *key, ptrag_error *err);

int ptrag_run_record_note(const char *dir, const char *path, const char *command, const char *key,
                          ptrag_error *err) {
    int lock = lock_dir(dir);
    int rc = note_locked(dir, path, command, key, err);
    unlock_dir(lock);
    return rc;
}

static int note_locked(const char *dir, const char *path, const char *command, const char *key,
                       ptrag_error *err) {
    char name[4096];
    record_name(dir, path, name, sizeof name);
    if (strchr(name, '\n') || strstr(name, " = ") || (key && strpbrk(key, " \n")))
        return ptrag_fail(err, PTRAG_E_ARG, "%s: file names with newlines or ' = ' (and keys with spaces) cannot be "
                                            "recorded",
                          path);
    uint64_t crc, size;
    int rc = ptrag_file_digest(path, &crc, &size, err);
    if (rc) return rc;
    ptrag_run_record rec;
    if ((rc = ptrag_run_record_read(dir, &rec, err))) return rc;
    int i = find_file(&rec, name);
    if (i >= 0) { /* replace in place: the record keeps the order files were first written */
        free(rec.files[i].key);
        rec.files[i].key = strdup(key && *key ? key : "-");
        snprintf(rec.files[i].command, sizeof rec.files[i].command, "%s", command);
        rec.files[i].digest = crc;
        rec.files[i].size = size;
        if (!rec.files[i].key) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", dir);
    } else if (add_file(&rec, name, strlen(name), command, crc, size, key)) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", dir);
    }
    if (!rc) rc = ptrag_run_record_write(dir, &rec, err);
    ptrag_run_record_free(&rec);
    return rc;
}

static int current_entry(const char *dir, const char *path, const char *key, uint64_t *crc_out) {
    ptrag_run_record rec;
    if (ptrag_run_record_read(dir, &rec, NULL)) return 0;
    char name[4096];
    record_name(dir, path, name, sizeof name);
    int i = find_file(&rec, name), ok = 0;
    if (i >= 0 && (!key || strcmp(rec.files[i].key, key) == 0)) {
        uint64_t crc, size;
        if (ptrag_file_digest(path, &crc, &size, NULL) == 0 && crc == rec.files[i].digest && size == rec.files[i].size) {
            ok = 1;
            if (crc_out) *crc_out = crc;
        }
    }
    ptrag_run_record_free(&rec);
    return ok;
}

int ptrag_run_record_is_current(const char *dir, const char *path, const char *key) {
    return current_entry(dir, path, key, NULL);
}

int ptrag_run_record_digest(const char *dir, const char *path, uint64_t *crc) {
    return current_entry(dir, path, NULL, crc);
}

/* ---------- --overwrite ---------- */

int ptrag_dir_nonempty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int any = 0;
    /* The run lock (run_lock.h) is no run's file: a folder holding only it is empty. */
    while (!any && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 && strcmp(e->d_name, PTRAG_RUN_LOCK) != 0)
            any = 1;
    closedir(d);
    return any;
}

static const char *const standard_files[] = {PTRAG_RUN_RECORD, PTRAG_RUN_COMMAND, PTRAG_RUN_CONFIG, "data.txt",
                                             PTRAG_RUN_META,   "genes.txt",       PTRAG_RUN_LOG,    PTRAG_RUN_BEST,
                                             PTRAG_RUN_LAST};

static int has_prefix_suffix(const char *s, const char *prefix, const char *suffix) {
    size_t n = strlen(s), p = strlen(prefix), q = strlen(suffix);
    return n >= p + q && strncmp(s, prefix, p) == 0 && strcmp(s + n - q, suffix) == 0;
}

/* What `ptrag experiment` wrote into a run folder before records existed:
 * accepted only in a folder without record.txt, so --overwrite can replace
 * such a run; a file of any other name still stops it. */
static int legacy_experiment_file(const char *rel) {
    const char *slash = strchr(rel, '/');
    if (!slash)
        return has_prefix_suffix(rel, "pred", ".h5ad") || has_prefix_suffix(rel, "val-pred", ".h5ad") ||
               has_prefix_suffix(rel, "RETRIEVAL", ".tsv");
    if (strchr(slash + 1, '/')) return 0;
    int eval_dir = strncmp(rel, "eval", 4) == 0 || strncmp(rel, "val-eval", 8) == 0;
    return eval_dir && (strcmp(slash + 1, "summary.csv") == 0 || strcmp(slash + 1, "per_condition.csv") == 0);
}

static int known(const ptrag_run_record *rec, const char *rel) {
    for (size_t i = 0; i < sizeof standard_files / sizeof standard_files[0]; i++)
        if (strcmp(rel, standard_files[i]) == 0) return 1;
    if (!rec->exists && legacy_experiment_file(rel)) return 1;
    /* Temporary files of an interrupted atomic write (fsutil.c: NAME.tmp.*). */
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    if (strstr(base, ".tmp.")) return 1;
    return find_file(rec, rel) >= 0;
}

/* Walks dir (relative prefix `rel`): with remove = 0 lists files not known
 * into `bad` (up to a few, *n_bad counts all); with remove = 1 deletes the
 * known files and then every subdirectory left empty. */
static int walk(const char *root, const char *rel, const ptrag_run_record *rec, int remove, char *bad, size_t nbad,
                int *n_bad, ptrag_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", root, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    if (!d) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot list: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        /* Never delete the run lock: --overwrite runs while holding it. */
        if (!*rel && strcmp(e->d_name, PTRAG_RUN_LOCK) == 0) continue;
        char sub[4096], full[4096];
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, *rel ? "/" : "", e->d_name) >= (int)sizeof sub ||
            snprintf(full, sizeof full, "%s/%s", root, sub) >= (int)sizeof full) {
            rc = ptrag_fail(err, PTRAG_E_ARG, "%s/%s: path too long", path, e->d_name);
            break;
        }
        struct stat st;
        if (lstat(full, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            rc = walk(root, sub, rec, remove, bad, nbad, n_bad, err);
            if (!rc && remove) rmdir(full); /* fails, harmlessly, if not empty */
        } else if (!known(rec, sub)) {
            if (!remove) {
                size_t len = strlen(bad);
                if (*n_bad < 5 && len + strlen(sub) + 3 < nbad)
                    snprintf(bad + len, nbad - len, "%s%s", len ? ", " : "", sub);
                (*n_bad)++;
            }
        } else if (remove && unlink(full) != 0) {
            rc = ptrag_fail(err, PTRAG_E_IO, "%s: cannot delete: %s", full, strerror(errno));
        }
    }
    closedir(d);
    return rc;
}

int ptrag_run_dir_clear(const char *dir, ptrag_error *err) {
    if (!ptrag_dir_nonempty(dir)) return 0;
    char rec_path[4096], cfg_path[4096];
    int rc = ptrag_run_path(dir, PTRAG_RUN_RECORD, rec_path, sizeof rec_path, err);
    if (!rc) rc = ptrag_run_path(dir, PTRAG_RUN_CONFIG, cfg_path, sizeof cfg_path, err);
    if (rc) return rc;
    if (!ptrag_path_exists(rec_path) && !ptrag_path_exists(cfg_path))
        return ptrag_fail(err, PTRAG_E_STATE,
                          "%s: not a ptrag run directory (no %s or %s); refusing to delete files ptrag did not "
                          "write: choose another directory",
                          dir, PTRAG_RUN_RECORD, PTRAG_RUN_CONFIG);
    ptrag_run_record rec;
    if ((rc = ptrag_run_record_read(dir, &rec, err))) return rc;
    char bad[1024] = "";
    int n_bad = 0;
    rc = walk(dir, "", &rec, 0, bad, sizeof bad, &n_bad, err);
    if (!rc && n_bad)
        rc = ptrag_fail(err, PTRAG_E_STATE,
                        "%s: holds %d file(s) no ptrag command recorded writing (%s%s); move them away or choose "
                        "another directory: --overwrite deletes only the files of the old run",
                        dir, n_bad, bad, n_bad > 5 ? ", ..." : "");
    if (!rc) rc = walk(dir, "", &rec, 1, NULL, 0, NULL, err);
    ptrag_run_record_free(&rec);
    return rc;
}
