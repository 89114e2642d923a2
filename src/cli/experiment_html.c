/* report.html of an experiment, through the report library (include/ptrag/report.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/experiment_report.h"
#include "ptrag/report.h"

int exp_write_html(const ptrag_experiment *ex, const ptrag_dataset *d, const exp_results *res,
                   const exp_curves *curves, const ptrag_prediction_summary *explained, const char *command,
                   ptrag_error *err) {
    ptrag_report_model models[EXP_MAX_ROWS];
    for (int i = 0; i < res->n_test; i++) {
        models[i].name = res->test[i].name;
        models[i].is_baseline =
            strncmp(res->test[i].name, "baseline", 8) == 0 || strncmp(res->test[i].name, "ceiling", 7) == 0 ||
            strcmp(res->test[i].name, "truth") == 0;
        models[i].n_seeds = res->test[i].n_seeds;
        memcpy(models[i].m, res->test[i].summary, sizeof models[i].m);
    }
    ptrag_report_curve cv[64];
    char model_of[64][96];
    for (int i = 0; i < curves->n; i++) {
        const exp_curve *c = &curves->c[i];
        snprintf(model_of[i], sizeof model_of[i], "%s", c->label);
        char *sp = strstr(model_of[i], " seed");
        if (sp) *sp = '\0';
        /* Colour a curve like its model's first row ("ptrag" -> "ptrag (expected)"). */
        size_t len = strlen(model_of[i]);
        for (int r = 0; r < res->n_test; r++)
            if (strncmp(res->test[r].name, model_of[i], len) == 0 &&
                (res->test[r].name[len] == '\0' || res->test[r].name[len] == ' ')) {
                snprintf(model_of[i], sizeof model_of[i], "%s", res->test[r].name);
                break;
            }
        cv[i] = (ptrag_report_curve){model_of[i], c->label, c->n, c->step, c->train, c->val, c->kept, c->val_pearson};
        int any_kept = 0;
        for (int k = 0; k < c->n; k++) any_kept |= isfinite(c->kept[k]);
        if (!any_kept) cv[i].kept = NULL;
    }
    long ne = explained && explained->explained ? explained->n_conditions : 0;
    ptrag_report_explanation *xs = calloc((size_t)ne + 1, sizeof *xs);
    char (*cond)[300] = calloc((size_t)ne + 1, sizeof *cond);
    const char **names = NULL;
    double *nums = NULL;
    int maxk = 0;
    for (long i = 0; i < ne; i++) maxk = explained->explained[i].K > maxk ? explained->explained[i].K : maxk;
    names = calloc((size_t)(ne * maxk) + 1, sizeof *names);
    nums = calloc(2 * (size_t)(ne * maxk) + 1, sizeof *nums);
    if (!xs || !cond || !names || !nums) {
        free(xs);
        free(cond);
        free(names);
        free(nums);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    }
    for (long i = 0; i < ne; i++) {
        const ptrag_explained *e = &explained->explained[i];
        snprintf(cond[i], sizeof cond[i], "%s / %s", e->cell_type, e->perturbation);
        const char **nm = names + i * maxk;
        double *cs = nums + 2 * i * maxk, *fr = cs + maxk;
        for (int k = 0; k < e->K; k++) {
            nm[k] = e->cand[k];
            cs[k] = e->cosine[k];
            fr[k] = e->kept[k];
        }
        xs[i] = (ptrag_report_explanation){cond[i], e->K, nm, cs, fr};
    }
    char notes[8192];
    int nl = snprintf(notes, sizeof notes,
             "Data: %s (%ld cells, %ld genes). Held-out test conditions: %d (%ld cells); mean and sd over %d "
             "seed(s) of each metric's mean over conditions; baselines are deterministic; the ceiling row: mean "
             "and sd over its split-half splits. Explanations: the "
             "first PT-RAG seed, selection 'expected'.",
             d->h5ad_path, d->n_cells, d->n_genes, d->assign->n_conditions_split[PTRAG_SPLIT_TEST],
             d->assign->n_cells_split[PTRAG_SPLIT_TEST], res->n_seeds);
    /* The folders (and settings digests, see record.txt) behind each row. */
    for (int i = 0; i < res->n_test && nl > 0 && (size_t)nl < sizeof notes; i++)
        nl += snprintf(notes + nl, sizeof notes - (size_t)nl, "%s%s from %s", i ? "; " : " Rows from: ",
                       res->test[i].name, res->test[i].sources[0] ? res->test[i].sources : "-");
    if (nl > 0 && (size_t)nl < sizeof notes - 1) snprintf(notes + nl, sizeof notes - (size_t)nl, ".");
    if (ex->truth && nl > 0 && (size_t)nl < sizeof notes)
        exp_truth_retrieval_note(ex->truth, explained, notes + nl, sizeof notes - (size_t)nl);
    char full_cmd[8192];
    snprintf(full_cmd, sizeof full_cmd, "ptrag %s", command);
    ptrag_report r = {
        .title = "ptrag experiment",
        .command = full_cmd,
        .notes = notes,
        .models = models,
        .n_models = res->n_test,
        .curves = cv,
        .n_curves = curves->n,
        .explanations = xs,
        .n_explanations = (int)ne,
    };
    char path[4096];
    snprintf(path, sizeof path, "%s/report.html", ex->dir);
    int rc = ptrag_report_write_html(&r, path, err);
    free(xs);
    free(cond);
    free(names);
    free(nums);
    return rc;
}
