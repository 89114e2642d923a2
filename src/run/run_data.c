/* data.txt of a run directory: the split and data flags a run was trained on. */
#define _XOPEN_SOURCE 700
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/fsutil.h"
#include "ptrag/run_dir.h"
#include "ptrag/train.h"

/* Absolute form of a path that exists (relative paths would break when the
 * run is used from another directory); the path itself otherwise. */
static void absolute(const char *path, char *out, size_t n) {
    char buf[PATH_MAX];
    if (path && realpath(path, buf)) snprintf(out, n, "%s", buf);
    else snprintf(out, n, "%s", path ? path : "");
}

int ptrag_run_data_write(const char *run_dir, const char *split_path, const ptrag_dataset_opts *o,
                         ptrag_error *err) {
    char split[4096], emb[4096], ali[4096], path[4096];
    absolute(split_path, split, sizeof split);
    absolute(o->embeddings, emb, sizeof emb);
    absolute(o->aliases, ali, sizeof ali);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    fprintf(f, "# the data this run was trained on (ptrag predict/explain reuse it)\n");
    fprintf(f, "split = %s\npert_col = %s\ncontrol = %s\ncelltype_col = %s\nbatch_col = %s\nx = %s\n", split,
            o->pert_col, o->control, o->celltype_col, o->batch_col ? o->batch_col : "", o->x_source);
    fprintf(f, "embeddings = %s\naliases = %s\nmissing = %s\nnormalize = %d\nhvg = %ld\n", emb, ali,
            ptrag_missing_policy_name(o->missing), o->normalize, o->hvg);
    fclose(f);
    int rc = ptrag_run_path(run_dir, "data.txt", path, sizeof path, err);
    if (!rc) rc = ptrag_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

int ptrag_run_data_read(const char *run_dir, ptrag_run_data *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    char path[4096];
    int rc = ptrag_run_path(run_dir, "data.txt", path, sizeof path, err);
    char *text = NULL;
    if (!rc) rc = ptrag_read_file(path, &text, NULL, err);
    if (rc) return rc;
    ptrag_dataset_opts_default(&out->opts);
    int line_no = 0;
    for (char *line = strtok(text, "\n"); line && !rc; line = strtok(NULL, "\n")) {
        line_no++;
        if (line[0] == '#' || line[0] == '\0') continue;
        char *eq = strstr(line, " = ");
        if (!eq) {
            eq = strstr(line, " =");
            if (!eq || eq[2] != '\0') {
                rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %d: expected 'key = value'", path, line_no);
                break;
            }
        }
        *eq = '\0';
        const char *key = line, *val = eq[2] ? eq + 3 : "";
        struct {
            const char *key;
            char *dst;
            size_t n;
        } strs[] = {{"split", out->split, sizeof out->split},
                    {"pert_col", out->pert_col, sizeof out->pert_col},
                    {"control", out->control, sizeof out->control},
                    {"celltype_col", out->celltype_col, sizeof out->celltype_col},
                    {"batch_col", out->batch_col, sizeof out->batch_col},
                    {"x", out->x_source, sizeof out->x_source},
                    {"embeddings", out->embeddings, sizeof out->embeddings},
                    {"aliases", out->aliases, sizeof out->aliases}};
        int found = 0;
        for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
            if (strcmp(key, strs[i].key) == 0) {
                snprintf(strs[i].dst, strs[i].n, "%s", val);
                found = 1;
            }
        if (found) continue;
        if (strcmp(key, "missing") == 0) rc = ptrag_missing_policy_parse(val, &out->opts.missing, err);
        else if (strcmp(key, "normalize") == 0) out->opts.normalize = atoi(val);
        else if (strcmp(key, "hvg") == 0) out->opts.hvg = atol(val);
        else rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: line %d: unknown key '%s'", path, line_no, key);
    }
    free(text);
    if (rc) return rc;
    if (!out->split[0]) return ptrag_fail(err, PTRAG_E_FORMAT, "%s: no 'split' line", path);
    out->opts.pert_col = out->pert_col;
    out->opts.control = out->control;
    out->opts.celltype_col = out->celltype_col;
    out->opts.batch_col = out->batch_col[0] ? out->batch_col : NULL;
    out->opts.batch_col_required = out->batch_col[0] != '\0';
    out->opts.x_source = out->x_source;
    out->opts.embeddings = out->embeddings[0] ? out->embeddings : NULL;
    out->opts.aliases = out->aliases[0] ? out->aliases : NULL;
    return 0;
}
