/* Loading and validating a STATE split file: see include/ptrag/split.h. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ptrag/fsutil.h"
#include "ptrag/split.h"
#include "ptrag/toml.h"

const char *ptrag_split_name(int split) {
    switch (split) {
    case PTRAG_SPLIT_TRAIN: return "train";
    case PTRAG_SPLIT_VAL: return "val";
    case PTRAG_SPLIT_TEST: return "test";
    }
    return "?";
}

int ptrag_split_from_name(const char *name) {
    for (int s = 0; s < PTRAG_SPLIT_COUNT; s++)
        if (strcmp(name, ptrag_split_name(s)) == 0) return s;
    return -1;
}

static void free_strings(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void ptrag_split_spec_free(ptrag_split_spec *spec) {
    if (!spec) return;
    for (int i = 0; i < spec->n_datasets; i++) {
        ptrag_split_dataset *d = &spec->datasets[i];
        free(d->name);
        free(d->path);
        free(d->resolved);
        free_strings(d->files, d->n_files);
    }
    free(spec->datasets);
    for (int i = 0; i < spec->n_zeroshot; i++) {
        free(spec->zeroshot[i].dataset);
        free(spec->zeroshot[i].celltype);
    }
    free(spec->zeroshot);
    for (int i = 0; i < spec->n_fewshot; i++) {
        ptrag_split_fewshot *f = &spec->fewshot[i];
        free(f->dataset);
        free(f->celltype);
        free_strings(f->val, f->n_val);
        free_strings(f->test, f->n_test);
    }
    free(spec->fewshot);
    free(spec->path);
    free(spec);
}

int ptrag_split_find_dataset(const ptrag_split_spec *spec, const char *name) {
    for (int i = 0; i < spec->n_datasets; i++)
        if (strcmp(spec->datasets[i].name, name) == 0) return i;
    return -1;
}

/* AnnData files as cell-load finds them in a folder or glob: *.h5ad and *.h5. */
static int ends_with_h5ad(const char *name) {
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".h5ad") == 0) || (n > 3 && strcmp(name + n - 3, ".h5") == 0);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int push_string(char ***v, int *n, const char *s) {
    char **nv = realloc(*v, (size_t)(*n + 1) * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    nv[*n] = strdup(s);
    if (!nv[*n]) return -1;
    (*n)++;
    return 0;
}

/* Fills d->files from d->resolved: a file, a folder of .h5ad/.h5 files or a glob. */
static int resolve_dataset_files(const char *split_path, ptrag_split_dataset *d, ptrag_error *err) {
    const char *r = d->resolved;
    if (strpbrk(r, "*?[")) {
        glob_t g;
        int grc = glob(r, 0, NULL, &g);
        if (grc == 0) {
            for (size_t i = 0; i < g.gl_pathc; i++)
                if (ends_with_h5ad(g.gl_pathv[i]) && push_string(&d->files, &d->n_files, g.gl_pathv[i])) {
                    globfree(&g);
                    return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", split_path);
                }
            globfree(&g);
        }
        d->is_dir = 1;
        if (d->n_files == 0)
            return ptrag_fail(err, PTRAG_E_NOTFOUND,
                              "%s: line %d: [datasets] %s = \"%s\": pattern %s matches no .h5ad or .h5 file",
                              split_path, d->line, d->name, d->path, r);
        qsort(d->files, (size_t)d->n_files, sizeof *d->files, cmp_str);
        return 0;
    }
    struct stat st;
    if (stat(r, &st) != 0)
        return ptrag_fail(err, PTRAG_E_NOTFOUND,
                          "%s: line %d: [datasets] %s = \"%s\": path %s does not exist", split_path,
                          d->line, d->name, d->path, r);
    if (!S_ISDIR(st.st_mode)) {
        if (push_string(&d->files, &d->n_files, r))
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", split_path);
        return 0;
    }
    d->is_dir = 1;
    DIR *dir = opendir(r);
    if (!dir)
        return ptrag_fail(err, PTRAG_E_IO, "%s: line %d: [datasets] %s: cannot list folder %s: %s",
                          split_path, d->line, d->name, r, strerror(errno));
    struct dirent *e;
    char full[4096];
    while ((e = readdir(dir)) != NULL) {
        if (!ends_with_h5ad(e->d_name)) continue;
        ptrag_path_join(r, e->d_name, full, sizeof full);
        if (push_string(&d->files, &d->n_files, full)) {
            closedir(dir);
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", split_path);
        }
    }
    closedir(dir);
    if (d->n_files == 0)
        return ptrag_fail(err, PTRAG_E_NOTFOUND,
                          "%s: line %d: [datasets] %s = \"%s\": folder %s holds no .h5ad or .h5 file",
                          split_path, d->line, d->name, d->path, r);
    qsort(d->files, (size_t)d->n_files, sizeof *d->files, cmp_str);
    return 0;
}

static int expect_table(const char *path, const ptrag_toml_value *v, const char *name,
                        ptrag_error *err) {
    if (v->type != PTRAG_TOML_TABLE)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %d: '%s' must be a table [%s], not a %s",
                          path, v->line, name, name, ptrag_toml_type_name(v->type));
    return 0;
}

/* "dataset.celltype" -> its two parts (split at the first dot). */
static int split_key(const char *path, const char *section, const char *key, int line,
                     const ptrag_split_spec *spec, char **ds, char **ct, ptrag_error *err) {
    const char *dot = strchr(key, '.');
    if (!dot || dot == key || dot[1] == '\0')
        return ptrag_fail(err, PTRAG_E_FORMAT,
                          "%s: line %d: [%s] key \"%s\" must have the form \"dataset.celltype\"",
                          path, line, section, key);
    *ds = strndup(key, (size_t)(dot - key));
    *ct = strdup(dot + 1);
    if (!*ds || !*ct) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    if (ptrag_split_find_dataset(spec, *ds) < 0)
        return ptrag_fail(err, PTRAG_E_NOTFOUND,
                          "%s: line %d: [%s] \"%s\": dataset '%s' is not listed in [datasets]",
                          path, line, section, key, *ds);
    return 0;
}

static int read_datasets(const char *path, const ptrag_toml_value *t, ptrag_split_spec *spec,
                         ptrag_error *err) {
    char dir[4096], joined[4096];
    ptrag_dirname(path, dir, sizeof dir);
    spec->datasets = calloc((size_t)(t->n ? t->n : 1), sizeof *spec->datasets);
    if (!spec->datasets) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < t->n; i++) {
        const ptrag_toml_value *v = t->items[i];
        ptrag_split_dataset *d = &spec->datasets[spec->n_datasets++];
        d->line = v->line;
        d->name = strdup(t->keys[i]);
        if (!d->name) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        if (strchr(d->name, '.'))
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: line %d: [datasets] name '%s' must not contain a dot "
                              "(\"dataset.celltype\" keys split at the first dot)",
                              path, v->line, d->name);
        if (v->type != PTRAG_TOML_STRING || v->str[0] == '\0')
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: line %d: [datasets] %s must be a non-empty path string, not a %s",
                              path, v->line, d->name, ptrag_toml_type_name(v->type));
        ptrag_path_join(dir, v->str, joined, sizeof joined);
        d->path = strdup(v->str);
        d->resolved = strdup(joined);
        if (!d->path || !d->resolved) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        int rc = resolve_dataset_files(path, d, err);
        if (rc) return rc;
    }
    return 0;
}

static int read_training(const char *path, const ptrag_toml_value *t, ptrag_split_spec *spec,
                         ptrag_error *err) {
    for (int i = 0; i < t->n; i++) {
        const ptrag_toml_value *v = t->items[i];
        int d = ptrag_split_find_dataset(spec, t->keys[i]);
        if (d < 0)
            return ptrag_fail(err, PTRAG_E_NOTFOUND,
                              "%s: line %d: [training] dataset '%s' is not listed in [datasets]",
                              path, v->line, t->keys[i]);
        if (v->type != PTRAG_TOML_STRING || strcmp(v->str, "train") != 0)
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: line %d: [training] %s: value must be \"train\"%s%s%s", path,
                              v->line, t->keys[i], v->type == PTRAG_TOML_STRING ? ", not \"" : "",
                              v->type == PTRAG_TOML_STRING ? v->str : "",
                              v->type == PTRAG_TOML_STRING ? "\"" : "");
        spec->datasets[d].in_training = 1;
    }
    return 0;
}

static int read_zeroshot(const char *path, const ptrag_toml_value *t, ptrag_split_spec *spec,
                         ptrag_error *err) {
    spec->zeroshot = calloc((size_t)(t->n ? t->n : 1), sizeof *spec->zeroshot);
    if (!spec->zeroshot) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < t->n; i++) {
        const ptrag_toml_value *v = t->items[i];
        ptrag_split_zeroshot *z = &spec->zeroshot[spec->n_zeroshot++];
        z->line = v->line;
        int rc = split_key(path, "zeroshot", t->keys[i], v->line, spec, &z->dataset, &z->celltype, err);
        if (rc) return rc;
        z->split = v->type == PTRAG_TOML_STRING ? ptrag_split_from_name(v->str) : -1;
        if (z->split < 0)
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: line %d: [zeroshot] \"%s\": unknown split %s%s%s "
                              "(expected \"train\", \"val\" or \"test\")",
                              path, v->line, t->keys[i], v->type == PTRAG_TOML_STRING ? "\"" : "a ",
                              v->type == PTRAG_TOML_STRING ? v->str : ptrag_toml_type_name(v->type),
                              v->type == PTRAG_TOML_STRING ? "\"" : "");
    }
    return 0;
}

static int read_pert_list(const char *path, const char *key, const char *which,
                          const ptrag_toml_value *v, char ***out, int *n, ptrag_error *err) {
    if (v->type != PTRAG_TOML_ARRAY)
        return ptrag_fail(err, PTRAG_E_FORMAT,
                          "%s: line %d: [fewshot.\"%s\"] %s must be an array of perturbation names, not a %s",
                          path, v->line, key, which, ptrag_toml_type_name(v->type));
    for (int j = 0; j < v->n; j++) {
        const ptrag_toml_value *it = v->items[j];
        if (it->type != PTRAG_TOML_STRING || it->str[0] == '\0')
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: line %d: [fewshot.\"%s\"] %s: item %d must be a non-empty string, not a %s",
                              path, it->line, key, which, j + 1, ptrag_toml_type_name(it->type));
        for (int k = 0; k < *n; k++)
            if (strcmp((*out)[k], it->str) == 0)
                return ptrag_fail(err, PTRAG_E_FORMAT,
                                  "%s: line %d: [fewshot.\"%s\"] %s lists '%s' twice", path,
                                  it->line, key, which, it->str);
        if (push_string(out, n, it->str))
            return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    return 0;
}

static int read_fewshot(const char *path, const ptrag_toml_value *t, ptrag_split_spec *spec,
                        ptrag_error *err) {
    spec->fewshot = calloc((size_t)(t->n ? t->n : 1), sizeof *spec->fewshot);
    if (!spec->fewshot) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    for (int i = 0; i < t->n; i++) {
        const ptrag_toml_value *v = t->items[i];
        const char *key = t->keys[i];
        ptrag_split_fewshot *f = &spec->fewshot[spec->n_fewshot++];
        f->line = v->line;
        if (v->type != PTRAG_TOML_TABLE)
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: line %d: [fewshot] \"%s\" must be a table [fewshot.\"%s\"] with val/test lists",
                              path, v->line, key, key);
        int rc = split_key(path, "fewshot", key, v->line, spec, &f->dataset, &f->celltype, err);
        if (rc) return rc;
        for (int j = 0; j < v->n; j++) {
            const char *which = v->keys[j];
            if (strcmp(which, "val") == 0)
                rc = read_pert_list(path, key, which, v->items[j], &f->val, &f->n_val, err);
            else if (strcmp(which, "test") == 0)
                rc = read_pert_list(path, key, which, v->items[j], &f->test, &f->n_test, err);
            else
                rc = ptrag_fail(err, PTRAG_E_FORMAT,
                                "%s: line %d: [fewshot.\"%s\"] unknown key '%s' (expected val or test)",
                                path, v->items[j]->line, key, which);
            if (rc) return rc;
        }
        for (int a = 0; a < f->n_val; a++)
            for (int b = 0; b < f->n_test; b++)
                if (strcmp(f->val[a], f->test[b]) == 0)
                    return ptrag_fail(err, PTRAG_E_FORMAT,
                                      "%s: line %d: [fewshot.\"%s\"] perturbation '%s' is in both val and test",
                                      path, f->line, key, f->val[a]);
    }
    return 0;
}

static int check_overlaps(const char *path, const ptrag_split_spec *spec, ptrag_error *err) {
    for (int i = 0; i < spec->n_fewshot; i++)
        for (int j = 0; j < spec->n_zeroshot; j++) {
            const ptrag_split_fewshot *f = &spec->fewshot[i];
            const ptrag_split_zeroshot *z = &spec->zeroshot[j];
            if (!strcmp(f->dataset, z->dataset) && !strcmp(f->celltype, z->celltype))
                return ptrag_fail(err, PTRAG_E_FORMAT,
                                  "%s: line %d: cell type \"%s.%s\" is both zeroshot (line %d) and fewshot",
                                  path, f->line, f->dataset, f->celltype, z->line);
        }
    return 0;
}

static int load_from_tree(const char *path, const ptrag_toml_value *root, ptrag_split_spec *spec,
                          ptrag_error *err) {
    /* keys of cell-load's config that carry no split information */
    static const char *const ignored[] = {"h5ad_csv_path", "RAW_COUNT_HEURISTIC_THRESHOLD",
                                          "EXPONENTIATED_UMIS_LIMIT"};
    static const char *const sections[] = {"datasets", "training", "zeroshot", "fewshot"};
    for (int i = 0; i < root->n; i++) {
        int known = 0;
        for (size_t s = 0; s < sizeof sections / sizeof *sections; s++)
            if (!strcmp(root->keys[i], sections[s])) known = 1;
        for (size_t s = 0; s < sizeof ignored / sizeof *ignored; s++)
            if (!strcmp(root->keys[i], ignored[s])) known = 1;
        if (!known)
            return ptrag_fail(err, PTRAG_E_FORMAT,
                              "%s: line %d: unknown section or key '%s' (expected [datasets], "
                              "[training], [zeroshot], [fewshot])",
                              path, root->items[i]->line, root->keys[i]);
    }
    const ptrag_toml_value *ds = ptrag_toml_get(root, "datasets");
    if (!ds || ds->n == 0)
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: [datasets]: no dataset listed", path);
    int rc = expect_table(path, ds, "datasets", err);
    if (!rc) rc = read_datasets(path, ds, spec, err);
    for (int s = 1; s < 4 && !rc; s++) {
        const ptrag_toml_value *t = ptrag_toml_get(root, sections[s]);
        if (!t) continue;
        rc = expect_table(path, t, sections[s], err);
        if (rc) break;
        if (s == 1) rc = read_training(path, t, spec, err);
        if (s == 2) rc = read_zeroshot(path, t, spec, err);
        if (s == 3) rc = read_fewshot(path, t, spec, err);
    }
    if (!rc) rc = check_overlaps(path, spec, err);
    return rc;
}

int ptrag_split_load(const char *path, ptrag_split_spec **out, ptrag_error *err) {
    *out = NULL;
    ptrag_toml_value *root;
    int rc = ptrag_toml_load(path, &root, err);
    if (rc) return rc;
    ptrag_split_spec *spec = calloc(1, sizeof *spec);
    if (!spec || !(spec->path = strdup(path))) {
        free(spec);
        ptrag_toml_free(root);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    rc = load_from_tree(path, root, spec, err);
    ptrag_toml_free(root);
    if (rc) {
        ptrag_split_spec_free(spec);
        return rc;
    }
    *out = spec;
    return 0;
}
