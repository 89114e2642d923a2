/* Prediction with a trained run: see include/ptrag/train.h. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptrag/checkpoint.h"
#include "ptrag/fsutil.h"
#include "ptrag/pred_plan.h"
#include "ptrag/rng.h"
#include "ptrag/run_dir.h"
#include "ptrag/run_record.h"
#include "run_internal.h"

#define STREAM_PRED_NOISE 0x5072u

void ptrag_predict_opts_default(ptrag_predict_opts *o) {
    memset(o, 0, sizeof *o);
    o->checkpoint = "best";
    o->split = PTRAG_SPLIT_TEST;
    o->selection = -1;
    o->keep_threshold = -1;
    o->precision = -1;
    o->seed = 42;
    o->pairing = PTRAG_PAIRING_POOL;
    o->pool_cells = PTRAG_POOL_CELLS_DEFAULT;
}

void ptrag_prediction_summary_free(ptrag_prediction_summary *s) {
    if (s->explained)
        for (long i = 0; i < s->n_conditions; i++) {
            free(s->explained[i].cand);
            free(s->explained[i].cosine);
            free(s->explained[i].kept);
        }
    free(s->explained);
    memset(s, 0, sizeof *s);
}

/* Loads the run's checkpoint into a new model for this dataset. */
static int load_model(const ptrag_dataset *d, const ptrag_predict_opts *o, ptrag_model **m, ptrag_retrieval **r,
                      ptrag_error *err) {
    char path[4096];
    ptrag_ckpt *ck = NULL;
    ptrag_config saved, current;
    int rc = ptrag_run_dir_check(o->run_dir, err);
    if (!rc) rc = ptrag_run_checkpoint_path(o->run_dir, o->checkpoint, path, sizeof path, err);
    if (!rc) rc = ptrag_ckpt_open(path, &ck, err);
    if (!rc) rc = ptrag_ckpt_config(ck, &saved, err);
    if (!rc) {
        current = saved;
        rc = ptrag_fill_data_dims(&current, d, err);
    }
    if (!rc) rc = ptrag_config_check_compatible(&saved, &current, "checkpoint", err);
    if (!rc) rc = ptrag_run_check_genes(o->run_dir, d, err);
    if (!rc && o->selection >= 0) saved.selection = (ptrag_selection)o->selection;
    /* threshold: the value given, else the run's calibration of this checkpoint */
    if (!rc && o->keep_threshold >= 0) saved.keep_threshold = o->keep_threshold;
    else if (!rc && saved.selection == PTRAG_SELECT_THRESHOLD) {
        int found = ptrag_run_calibrated_threshold(o->run_dir, path, &saved.keep_threshold, err);
        if (found < 0) rc = found;
    }
    if (!rc && !(saved.keep_threshold > 0 && saved.keep_threshold < 1))
        rc = ptrag_fail(err, PTRAG_E_ARG, "keep_threshold: expected a number in (0, 1), got %g", saved.keep_threshold);
    if (!rc && o->precision >= 0) saved.precision = (ptrag_precision)o->precision;
    if (!rc && saved.model != PTRAG_MODEL_STATE) rc = ptrag_retrieval_build(d, saved.db, saved.top_k, saved.own_other_celltypes, r, err);
    if (!rc) rc = ptrag_model_new(&saved, *r, m, err);
    if (!rc) rc = ptrag_ckpt_restore(ck, &saved, ptrag_model_params(*m), 0, err);
    ptrag_ckpt_close(ck);
    return rc;
}

static int write_retrieval_tsv(const char *path, const ptrag_prediction_summary *s, ptrag_error *err) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    fprintf(f, "cell_type\tperturbation\trank\tcandidate\tcosine\tkept_fraction\tn_cells\n");
    for (long i = 0; i < s->n_conditions; i++) {
        const ptrag_explained *e = &s->explained[i];
        for (int k = 0; k < e->K; k++) {
            fprintf(f, "%s\t%s\t%d\t%s\t%.6f\t", e->cell_type, e->perturbation, k + 1, e->cand[k], e->cosine[k]);
            if (isfinite(e->kept[k])) fprintf(f, "%.4f", e->kept[k]);
            else fprintf(f, "NA");
            fprintf(f, "\t%ld\n", e->n_cells);
        }
    }
    fclose(f);
    int rc = ptrag_write_file_atomic(path, text, len, err);
    free(text);
    return rc;
}

/* Explanation entry of a perturbed condition: its candidates with cosine
 * similarity; kept fractions accumulate while its sets are predicted. */
static int explain_init(ptrag_explained *e, const ptrag_dataset *d, const ptrag_retrieval *r,
                        const ptrag_evidence *ev, int ct, int pert) {
    snprintf(e->cell_type, sizeof e->cell_type, "%s", d->ct_names[ct]);
    snprintf(e->perturbation, sizeof e->perturbation, "%s", d->pert_names[pert]);
    e->K = r->K;
    e->cand = calloc((size_t)r->K, sizeof *e->cand);
    e->cosine = calloc((size_t)r->K, sizeof *e->cosine);
    e->kept = calloc((size_t)r->K, sizeof *e->kept);
    if (!e->cand || !e->cosine || !e->kept) return -1;
    const float *sims = NULL;
    const int32_t *rows = ptrag_stage1_rows(r, ev, ct, pert, &sims);
    for (int k = 0; k < r->K; k++) {
        int32_t row = rows[k];
        snprintf(e->cand[k], sizeof e->cand[k], "%s", row >= 0 ? d->pert_names[r->db_pert[row]] : "");
        e->cosine[k] = sims[k];
    }
    /* the own slot, as the batch filled it: the query itself (cosine 1) */
    if (ptrag_own_candidate(r, ev, ct, pert) >= 0) {
        snprintf(e->cand[r->K - 1], sizeof e->cand[r->K - 1], "%s", d->pert_names[pert]);
        e->cosine[r->K - 1] = 1.0f;
    }
    return 0;
}

int ptrag_predict_key(const ptrag_predict_opts *o, char *buf, size_t n, ptrag_error *err) {
    char path[4096];
    const char *which = o->checkpoint ? o->checkpoint : "best";
    int rc = ptrag_run_checkpoint_path(o->run_dir, which, path, sizeof path, err);
    uint64_t digest = 0;
    if (!rc) rc = ptrag_file_digest(path, &digest, NULL, err);
    if (rc) return rc;
    const char *sel = o->selection < 0 ? "run" : ptrag_selection_name((ptrag_selection)o->selection);
    snprintf(buf, n, "ckpt=%s:%016llx,split=%s,selection=%s,seed=%llu,pairing=%s,pool_cells=%ld", which,
             (unsigned long long)digest, o->split == PTRAG_SPLIT_VAL ? "val" : "test", sel,
             (unsigned long long)o->seed, ptrag_pairing_name(o->pairing), o->pool_cells);
    /* A precision other than the run's changes the predictions (the run's own
     * is in its checkpoint's config, so it leaves the key as it was). */
    size_t len = strlen(buf);
    /* threshold's keep_threshold: given, or the run's calibration (which
     * threshold.txt can add to a run after its first predictions) */
    double t = o->keep_threshold;
    if (t < 0 && o->selection == PTRAG_SELECT_THRESHOLD) {
        int found = ptrag_run_calibrated_threshold(o->run_dir, path, &t, err);
        if (found < 0) return found;
        if (!found) t = -1;
    }
    if (t >= 0 && len < n) {
        snprintf(buf + len, n - len, ",keep_threshold=%g", t);
        len = strlen(buf);
    }
    if (o->precision >= 0 && len < n)
        snprintf(buf + len, n - len, ",precision=%s", ptrag_precision_name((ptrag_precision)o->precision));
    return 0;
}

/* Names the files just written in the run's record, keyed by what they were
 * computed from, so later commands can tell them from stale ones. */
static int note_outputs(const ptrag_predict_opts *o, ptrag_error *err) {
    /* A run shared read-only (another user's, a mounted archive) can still
     * predict; it just cannot record what was written elsewhere. */
    if (access(o->run_dir, W_OK) != 0) return 0;
    char key[512];
    int rc = ptrag_predict_key(o, key, sizeof key, err);
    const char *files[3] = {o->out_path, o->real_path, o->retrieval_path};
    for (int i = 0; i < 3 && !rc; i++)
        if (files[i] && ptrag_path_exists(files[i]))
            rc = ptrag_run_record_note(o->run_dir, files[i], "predict", key, err);
    return rc;
}

int ptrag_predict(const ptrag_dataset *d, const ptrag_predict_opts *o, ptrag_prediction_summary *out,
                  ptrag_error *err) {
    memset(out, 0, sizeof *out);
    ptrag_model *m = NULL;
    ptrag_retrieval *r = NULL;
    ptrag_evidence ev;
    memset(&ev, 0, sizeof ev);
    ptrag_pred_plan plan;
    ptrag_step_buffers buf;
    float *pred = NULL, *real = NULL;
    int32_t *batch_ids = NULL;
    memset(&plan, 0, sizeof plan);
    memset(&buf, 0, sizeof buf);
    int rc = load_model(d, o, &m, &r, err);
    const ptrag_config *cfg = m ? ptrag_model_config(m) : NULL;
    if (!rc && cfg->evidence) rc = ptrag_evidence_build(d, r, cfg, &ev, err);
    if (!rc) {
        ptrag_pred_plan_opts po;
        ptrag_pred_plan_opts_default(&po);
        po.split = o->split;
        po.set_size = cfg->set_size;
        po.seed = o->seed;
        po.pairing = o->pairing;
        po.pool_cells = o->pool_cells;
        rc = ptrag_pred_plan_build(d, &po, &plan, err);
    }
    if (!rc) rc = ptrag_step_buffers_new(&buf, cfg, r ? r->K : 0, err);
    if (rc) goto done;
    pred = malloc((size_t)(plan.n_cells ? plan.n_cells : 1) * (size_t)d->n_genes * sizeof *pred);
    batch_ids = malloc((size_t)cfg->set_size * sizeof *batch_ids);
    if (r) out->explained = calloc((size_t)plan.n_sets + 1, sizeof *out->explained);
    if (!pred || !batch_ids || (r && !out->explained)) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory for %ld predicted cells", plan.n_cells);
        goto done;
    }
    long last_cond = -1;
    for (long s = 0; s < plan.n_sets && !rc; s++) {
        long c0 = plan.set_start[s];
        int n = (int)(plan.set_start[s + 1] - c0);
        for (int i = 0; i < n; i++) batch_ids[i] = d->batch_code ? d->batch_code[plan.target_rows[c0 + i]] : 0;
        ptrag_model_batch mb;
        rc = ptrag_fill_model_batch(d, cfg, r, &ev, &plan.set_ct[s], &plan.set_pert[s], 1, n, NULL, &plan.control_rows[c0], batch_ids, 0,
                                    &buf, &mb, err);
        if (rc) break;
        mb.noise_seed = ptrag_hash_u64(o->seed, STREAM_PRED_NOISE, (uint64_t)s);
        mb.training = 0;
        if ((rc = ptrag_model_forward(m, &mb, NULL, err))) break;
        memcpy(pred + (size_t)c0 * d->n_genes, ptrag_model_output(m), (size_t)n * d->n_genes * sizeof *pred);
        /* Explanations: per perturbed condition, the fraction of its cells
         * that kept each candidate. */
        if (r && !plan.set_is_control[s]) {
            if (plan.set_condition[s] != last_cond) {
                last_cond = plan.set_condition[s];
                if (explain_init(&out->explained[out->n_conditions++], d, r, &ev, plan.set_ct[s], plan.set_pert[s])) {
                    rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
                    break;
                }
            }
            ptrag_explained *e = &out->explained[out->n_conditions - 1];
            const float *keep = ptrag_model_keep(m);
            for (int k = 0; k < r->K; k++) {
                double sum = 0;
                for (int i = 0; keep && i < n; i++) sum += keep[(size_t)i * r->K + k];
                e->kept[k] += keep ? (float)sum : NAN;
            }
            e->n_cells += n;
        }
        if (o->on_set && o->on_set(o->on_set_ctx, s + 1, plan.n_sets, NAN) && s + 1 < plan.n_sets)
            rc = ptrag_fail(err, PTRAG_E_CANCELLED, "prediction stopped after %ld of %ld sets", s + 1, plan.n_sets);
    }
    if (rc) goto done;
    for (long i = 0; i < out->n_conditions; i++)
        for (int k = 0; k < out->explained[i].K; k++) out->explained[i].kept[k] /= (float)out->explained[i].n_cells;
    out->n_cells = plan.n_cells;
    if (o->out_path &&
        (rc = ptrag_dataset_write_predicted(d, o->out_path, plan.target_rows, plan.control_rows, plan.n_cells, pred, err)))
        goto done;
    if (o->real_path) {
        real = malloc((size_t)(plan.n_real ? plan.n_real : 1) * (size_t)d->n_genes * sizeof *real);
        if (!real) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
            goto done;
        }
        ptrag_dataset_gather(d, plan.real_rows, plan.n_real, real);
        if ((rc = ptrag_dataset_write_cells(d, o->real_path, plan.real_rows, plan.n_real, real, "real", err)))
            goto done;
    }
    if (r && o->retrieval_path) rc = write_retrieval_tsv(o->retrieval_path, out, err);
    if (!rc) rc = note_outputs(o, err);
done:
    if (rc) ptrag_prediction_summary_free(out);
    free(pred);
    free(real);
    free(batch_ids);
    ptrag_step_buffers_free(&buf);
    ptrag_pred_plan_free(&plan);
    ptrag_model_free(m);
    ptrag_retrieval_free(r);
    ptrag_evidence_free(&ev);
    return rc;
}
