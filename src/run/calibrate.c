/* `threshold` selection, calibrated (beyond the paper). The published
 * threshold keeps a candidate whose keep probability exceeds 1/2; with the
 * sparsity loss every probability can sit below it, and then nothing is kept
 * (issue 13 measured that on real splits). After training, best.ckpt predicts
 * the validation sets once per keep_threshold of a fixed grid; the threshold
 * with the best validation pearson_delta (the metric that chose best.ckpt)
 * goes to threshold.txt with the checkpoint's digest, and prediction with
 * `threshold` uses it for that checkpoint. `expected` and `sample` ignore it. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/checkpoint.h"
#include "ptrag/checksum.h"
#include "ptrag/fsutil.h"
#include "ptrag/run_dir.h"
#include "run_internal.h"

/* 0.05, 0.10, ..., 0.95 */
#define GRID_N 19
static double grid_value(int i) { return 0.05 * (i + 1); }

int ptrag_calibrate_threshold(const ptrag_dataset *d, const char *run_dir, const ptrag_retrieval *r,
                              const ptrag_evidence *ev, const ptrag_sampler *val, ptrag_set_batch *sb,
                              ptrag_step_buffers *buf, ptrag_val_pearson *vp, ptrag_error *err) {
    char path[4096], out[4096];
    ptrag_ckpt *ck = NULL;
    ptrag_config cfg;
    uint64_t digest = 0;
    double score[GRID_N];
    int rc = ptrag_run_path(run_dir, PTRAG_RUN_BEST, path, sizeof path, err);
    if (!rc) rc = ptrag_run_path(run_dir, PTRAG_RUN_THRESHOLD, out, sizeof out, err);
    if (!rc) rc = ptrag_file_digest(path, &digest, NULL, err);
    if (!rc) rc = ptrag_ckpt_open(path, &ck, err);
    if (!rc) rc = ptrag_ckpt_config(ck, &cfg, err);
    cfg.selection = PTRAG_SELECT_THRESHOLD;
    int best = -1;
    for (int i = 0; i < GRID_N && !rc; i++) {
        ptrag_model *m = NULL;
        double loss;
        cfg.keep_threshold = grid_value(i);
        rc = ptrag_model_new(&cfg, r, &m, err);
        if (!rc) rc = ptrag_ckpt_restore(ck, &cfg, ptrag_model_params(m), 0, err);
        if (!rc) rc = ptrag_validate_pass(d, m, r, ev, val, sb, buf, vp, &loss, &score[i], err);
        ptrag_model_free(m);
        /* ties: the threshold nearest the published 1/2 */
        if (!rc && isfinite(score[i]) &&
            (best < 0 || score[i] > score[best] ||
             (score[i] == score[best] && fabs(grid_value(i) - 0.5) < fabs(grid_value(best) - 0.5))))
            best = i;
    }
    ptrag_ckpt_close(ck);
    if (rc || best < 0) return rc; /* no finite score: no calibration, 1/2 applies */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "threshold calibration: out of memory");
    fprintf(f, "# keep_threshold of `threshold` selection, chosen on the validation conditions for best.ckpt\n");
    fprintf(f, "keep_threshold = %.2f\ncheckpoint = %016llx\n", grid_value(best), (unsigned long long)digest);
    fprintf(f, "# keep_threshold val_pearson_delta\n");
    for (int i = 0; i < GRID_N; i++) fprintf(f, "# %.2f %.6f\n", grid_value(i), score[i]);
    fclose(f);
    rc = ptrag_write_file_atomic(out, text, len, err);
    free(text);
    return rc;
}

int ptrag_run_calibrated_threshold(const char *run_dir, const char *ckpt_path, double *t, ptrag_error *err) {
    char path[4096];
    char *text = NULL;
    int rc = ptrag_run_path(run_dir, PTRAG_RUN_THRESHOLD, path, sizeof path, err);
    if (rc) return rc;
    if (!ptrag_path_exists(path)) return 0;
    uint64_t digest = 0;
    if ((rc = ptrag_file_digest(ckpt_path, &digest, NULL, err))) return rc;
    if ((rc = ptrag_read_file(path, &text, NULL, err))) return rc;
    double value = NAN;
    unsigned long long named = 0;
    int have_ckpt = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (sscanf(line, "keep_threshold = %lf", &value) == 1) continue;
        if (sscanf(line, "checkpoint = %llx", &named) == 1) have_ckpt = 1;
    }
    free(text);
    if (!have_ckpt || named != digest) return 0; /* another checkpoint's (last.ckpt, a retrain) */
    if (!(value > 0 && value < 1))
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: keep_threshold: expected a number in (0, 1)", path);
    *t = value;
    return 1;
}
