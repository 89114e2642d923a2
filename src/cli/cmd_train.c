/* ptrag train: train a model on a split into a run directory. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/data_opts.h"
#include "cli/run_opts.h"
#include "ptrag/run_dir.h"
#include "ptrag/run_record.h"
#include "ptrag/train.h"

static const cli_opt opts[] = {
    {"--split", "FILE", "STATE split file (.toml)"},
    {"--model", "KIND", "state | rag | ptrag (default: ptrag)"},
    {"--out", "RUN_DIR", "run directory to create"},
    {"--resume", "RUN_DIR", "continue a run up to --steps total steps (other settings stay the run's; inputs must be unchanged)"},
    {"--overwrite", NULL, "replace an existing run in --out (deletes the old run's files first)"},
    CLI_DATASET_OPTS,
    CLI_MODEL_OPTS,
    {"--quiet", NULL, "no progress output"},
};

int cmd_train(int argc, char **argv) {
    cli_args a;
    int done;
    int rc = cli_parse(argc, argv,
                       "ptrag train --split FILE.toml [--embeddings FILE] --model state|rag|ptrag --out RUN_DIR\n"
                       "       [--preset small|paper] [--steps N] [--seed N] [overrides] [column flags]\n"
                       "   or: ptrag train --resume RUN_DIR --steps N",
                       "Trains a model and writes RUN_DIR: command.txt, config.txt, data.txt, meta.txt,\n"
                       "train_log.csv, best.ckpt (best validation score, --select-by), last.ckpt and record.txt\n"
                       "(the settings digest and every file ptrag wrote there). An existing non-empty RUN_DIR\n"
                       "is refused: continue it with --resume, or replace it with --overwrite (which deletes\n"
                       "only files the old run's record names, and refuses if others are there).",
                       opts, (int)(sizeof opts / sizeof opts[0]), &a, &done);
    if (done) return rc;
    ptrag_error err;
    const char *resume = cli_get(&a, "--resume", NULL);
    const char *out = resume ? resume : cli_get(&a, "--out", NULL);
    if (!out) return cli_usage_error("train", "--out RUN_DIR (or --resume RUN_DIR) is required");
    int overwrite = cli_has(&a, "--overwrite");
    if (resume && (overwrite || cli_has(&a, "--out")))
        return cli_usage_error("train", "--resume continues a run in place: it takes neither --out nor --overwrite");

    ptrag_train_opts o;
    memset(&o, 0, sizeof o);
    ptrag_run_data rd;
    ptrag_dataset_opts dopts;
    const char *split;
    if (resume) {
        /* A resumed run reads its own data and config; only --steps changes. */
        if (ptrag_run_data_read(resume, &rd, &err)) return cli_report("train", &err);
        split = rd.split;
        dopts = rd.opts;
        dopts.source = cli_hooks() ? cli_hooks()->input : NULL;
        char path[4096];
        snprintf(path, sizeof path, "%s/config.txt", resume);
        ptrag_config saved;
        if (ptrag_config_read(&saved, path, &err)) return cli_report("train", &err);
        long steps;
        if (cli_get_long(&a, "--steps", saved.steps, 1, 100000000, &steps)) return 2;
        char conflicts[4096];
        if (cli_resume_conflicts(&a, &saved, &rd, conflicts, sizeof conflicts)) {
            fprintf(stderr,
                    "ptrag train: --resume %s keeps the run's own settings, so these flags would not be applied: "
                    "%s.\nDrop them (only --steps and --threads change on resume), or train a new run with "
                    "--out NEW_DIR.\n",
                    resume, conflicts);
            return 2;
        }
        o.cfg = saved;
        o.cfg.steps = steps;
        o.resume = 1;
    } else {
        split = cli_get(&a, "--split", NULL);
        if (!split) return cli_usage_error("train", "--split FILE.toml is required");
        if ((rc = cli_dataset_opts("train", &a, &dopts))) return rc;
        if ((rc = cli_model_config("train", &a, cli_get(&a, "--model", "ptrag"), &o.cfg))) return rc;
        if (ptrag_dir_nonempty(out)) {
            if (!overwrite) {
                fprintf(stderr,
                        "ptrag train: %s already exists and is not empty%s.\n"
                        "Continue that run with `ptrag train --resume %s --steps N`, choose a new --out, or pass "
                        "--overwrite to delete the old run and train anew.\n",
                        out, ptrag_run_dir_check(out, NULL) == 0 ? " (it holds a training run)" : "", out);
                return 1;
            }
        }
    }
    o.run_dir = out;
    o.overwrite = !resume && overwrite;
    o.progress = cli_has(&a, "--quiet") ? NULL : stderr;
    o.progress_tty = cli_stderr_is_tty();
    o.argc = argc;
    o.argv = argv;
    o.split_path = split;
    o.data_opts = &dopts;
    const ptrag_command_hooks *hooks = cli_hooks();
    if (hooks) {
        o.on_step = hooks->on_step;
        o.on_step_ctx = hooks->ctx;
    }

    ptrag_dataset *d;
    if (ptrag_dataset_load(split, &dopts, &d, &err)) return cli_report("train", &err);
    ptrag_train_result res;
    rc = ptrag_train(d, &o, &res, &err);
    ptrag_dataset_free(d);
    if (rc) return cli_report("train", &err);
    printf("trained %s: %ld steps in %.1f s; final train loss %.5f; best val loss %.5f at step %ld\n", out,
           res.steps, res.seconds, res.final_train_loss, res.best_val_loss, res.best_step);
    return 0;
}
