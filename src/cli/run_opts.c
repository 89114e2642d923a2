/* Model/training flags -> ptrag_config. */
#define _XOPEN_SOURCE 700
#include "cli/run_opts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* flag -> config key, for the flags that are plain overrides. */
static const char *const overrides[][2] = {
    {"--steps", "steps"},       {"--seed", "seed"},
    {"--hidden", "hidden"},     {"--layers", "layers"},     {"--heads", "heads"},
    {"--head-dim", "head_dim"}, {"--mlp", "mlp"},           {"--set-size", "set_size"},
    {"--batch", "batch_sets"},  {"--lr", "lr"},             {"--weight-decay", "weight_decay"},
    {"--clip", "clip_norm"},    {"--val-every", "val_every"}, {"--top-k", "top_k"},
    {"--sparsity", "sparsity"}, {"--selection", "selection"}, {"--db", "db"},
    {"--attention", "attention"}, {"--residual", "residual"}, {"--mean-loss", "mean_loss"},
    {"--lr-schedule", "lr_schedule"}, {"--warmup", "warmup"},   {"--select-by", "select_by"}, {"--evidence", "evidence"},
    {"--own-other-celltypes", "own_other_celltypes"},
    {"--response-retrieval", "response_retrieval"},
    {"--scorer-features", "scorer_features"},
};

int cli_model_config(const char *cmd, const cli_args *a, const char *model, ptrag_config *cfg) {
    ptrag_error err;
    ptrag_config_default(cfg);
    if (ptrag_config_set(cfg, "model", model, &err)) return cli_usage_error(cmd, "--model: %s", err.msg);
    const char *preset = cli_get(a, "--preset", "small");
    if (ptrag_config_preset(cfg, preset, &err)) return cli_usage_error(cmd, "--preset: %s", err.msg);
    if (cli_has(a, "--faithful")) ptrag_config_apply_faithful(cfg);
    if (cli_has(a, "--freeze-backbone")) cfg->freeze_backbone = 1;
    /* PT-RAG retrieves with evidence unless --evidence off (or --faithful). */
    if (cfg->model == PTRAG_MODEL_PTRAG && !cli_has(a, "--faithful")) cfg->evidence = 1;
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
        const char *v = cli_get(a, overrides[i][0], NULL);
        if (v && ptrag_config_set(cfg, overrides[i][1], v, &err))
            return cli_usage_error(cmd, "%s: %s", overrides[i][0], err.msg);
    }
    /* ...and ranks its candidates by measured response too, where it has
     * evidence (chosen on validation conditions: docs/model.md). */
    if (cfg->model == PTRAG_MODEL_PTRAG && cfg->evidence && !cli_has(a, "--faithful") &&
        !cli_get(a, "--response-retrieval", NULL))
        cfg->response_retrieval = CLI_DEFAULT_RESPONSE_RETRIEVAL;
    /* Precision: resolved here, so the run's config.txt (and predict) names
     * the one this machine used; --faithful keeps the published fp32. */
    const char *prec = cli_get(a, "--precision", cli_has(a, "--faithful") ? "fp32" : CLI_DEFAULT_PRECISION);
    int p = 0;
    int rc = cli_precision(cmd, prec, &p);
    if (rc) return rc;
    cfg->precision = (ptrag_precision)p;
    if (ptrag_config_validate(cfg, &err)) return cli_usage_error(cmd, "%s", err.msg);
    return 0;
}

int cli_precision(const char *cmd, const char *value, int *out) {
    if (!value) return 0;
    ptrag_config tmp;
    ptrag_error err;
    ptrag_config_default(&tmp);
    if (ptrag_config_set(&tmp, "precision", value, &err)) return cli_usage_error(cmd, "--precision: %s", err.msg);
    *out = (int)ptrag_precision_resolve(tmp.precision, NULL, 0);
    return 0;
}

int cli_selection(const char *cmd, const char *value, int *out) {
    if (!value) return 0;
    ptrag_config tmp;
    ptrag_error err;
    ptrag_config_default(&tmp);
    if (ptrag_config_set(&tmp, "selection", value, &err)) return cli_usage_error(cmd, "--selection: %s", err.msg);
    *out = (int)tmp.selection;
    return 0;
}

/* Appends "; what" to buf. */
static void add_conflict(char *buf, size_t n, int *count, const char *fmt, const char *a, const char *b,
                         const char *c) {
    size_t len = strlen(buf);
    if (len + 3 < n) snprintf(buf + len, n - len, "%s", *count ? "; " : "");
    len = strlen(buf);
    if (len < n) snprintf(buf + len, n - len, fmt, a, b, c);
    (*count)++;
}

/* The absolute form of an existing path (else the path). */
static void absolute(const char *p, char *out, size_t n) {
    char buf[PATH_MAX];
    snprintf(out, n, "%s", p && realpath(p, buf) ? buf : (p ? p : ""));
}

int cli_resume_conflicts(const cli_args *a, const ptrag_config *saved, const ptrag_run_data *rd, char *buf,
                         size_t n) {
    int count = 0;
    if (n) buf[0] = '\0';
    ptrag_error err;
    /* Model flags: apply them to the run's own config and see what would change. */
    ptrag_config asked = *saved;
    const char *model = cli_get(a, "--model", NULL);
    if (model && ptrag_config_set(&asked, "model", model, &err))
        add_conflict(buf, n, &count, "%s%s%s", "--model: ", err.msg, "");
    const char *preset = cli_get(a, "--preset", NULL);
    if (preset && ptrag_config_preset(&asked, preset, &err))
        add_conflict(buf, n, &count, "%s%s%s", "--preset: ", err.msg, "");
    if (cli_has(a, "--faithful")) ptrag_config_apply_faithful(&asked);
    if (cli_has(a, "--freeze-backbone")) asked.freeze_backbone = 1;
    for (size_t i = 0; i < sizeof overrides / sizeof overrides[0]; i++) {
        const char *v = cli_get(a, overrides[i][0], NULL);
        /* --steps is what resume is for. */
        if (!v || strcmp(overrides[i][0], "--steps") == 0) continue;
        if (ptrag_config_set(&asked, overrides[i][1], v, &err))
            add_conflict(buf, n, &count, "%s: %s%s", overrides[i][0], err.msg, "");
    }
    const char *prec = cli_get(a, "--precision", NULL);
    if (prec && ptrag_config_set(&asked, "precision", prec, &err))
        add_conflict(buf, n, &count, "%s%s%s", "--precision: ", err.msg, "");
    else if (prec)
        asked.precision = ptrag_precision_resolve(asked.precision, NULL, 0);
    asked.steps = saved->steps;
    snprintf(asked.preset, sizeof asked.preset, "%s", saved->preset);
    char diff[2048];
    int nd = ptrag_config_diff(saved, &asked, diff, sizeof diff);
    if (nd) {
        add_conflict(buf, n, &count, "%s%s%s", "would change ", diff, "");
        count += nd - 1;
    }
    /* Data flags: the run reads its data from data.txt. */
    const struct {
        const char *flag;
        const char *run_value;
        int is_path;
    } data[] = {{"--split", rd->split, 1},
                {"--embeddings", rd->embeddings, 1},
                {"--aliases", rd->aliases, 1},
                {"--pert-col", rd->pert_col, 0},
                {"--control", rd->control, 0},
                {"--celltype-col", rd->celltype_col, 0},
                {"--batch-col", rd->batch_col, 0},
                {"--x", rd->x_source, 0},
                {"--missing", ptrag_missing_policy_name(rd->opts.missing), 0}};
    for (size_t i = 0; i < sizeof data / sizeof data[0]; i++) {
        const char *v = cli_get(a, data[i].flag, NULL);
        if (!v) continue;
        char given[4096];
        if (data[i].is_path) absolute(v, given, sizeof given);
        else snprintf(given, sizeof given, "%s", v);
        if (strcmp(given, data[i].run_value) != 0)
            add_conflict(buf, n, &count, "%s %s (the run has '%s')", data[i].flag, v, data[i].run_value);
    }
    long hvg;
    if (cli_has(a, "--hvg") && cli_get_long(a, "--hvg", 0, 0, 1000000, &hvg) == 0 && hvg != rd->opts.hvg)
        add_conflict(buf, n, &count, "%s%s%s", "--hvg (the run has another gene selection)", "", "");
    if (cli_has(a, "--no-normalize") && rd->opts.normalize != 0)
        add_conflict(buf, n, &count, "%s%s%s", "--no-normalize (the run normalised its input)", "", "");
    return count;
}
