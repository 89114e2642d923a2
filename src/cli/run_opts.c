/* Model/training flags -> ptrag_config. */
#include "cli/run_opts.h"

#include <string.h>

/* flag -> config key, for the flags that are plain overrides. */
static const char *const overrides[][2] = {
    {"--steps", "steps"},       {"--seed", "seed"},         {"--threads", "threads"},
    {"--hidden", "hidden"},     {"--layers", "layers"},     {"--heads", "heads"},
    {"--head-dim", "head_dim"}, {"--mlp", "mlp"},           {"--set-size", "set_size"},
    {"--batch", "batch_sets"},  {"--lr", "lr"},             {"--weight-decay", "weight_decay"},
    {"--clip", "clip_norm"},    {"--val-every", "val_every"}, {"--top-k", "top_k"},
    {"--sparsity", "sparsity"}, {"--selection", "selection"}, {"--db", "db"},
    {"--attention", "attention"}, {"--residual", "residual"}, {"--mean-loss", "mean_loss"},
    {"--lr-schedule", "lr_schedule"}, {"--warmup", "warmup"},   {"--select-by", "select_by"}, {"--evidence", "evidence"},
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
    if (ptrag_config_validate(cfg, &err)) return cli_usage_error(cmd, "%s", err.msg);
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
