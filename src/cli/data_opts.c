/* Column and preprocessing flags -> ptrag_dataset_opts. */
#include "cli/data_opts.h"

#include <stdio.h>

#include "ptrag/pred_plan.h"

int cli_dataset_opts(const char *cmd, const cli_args *a, ptrag_dataset_opts *o) {
    ptrag_dataset_opts_default(o);
    o->pert_col = cli_get(a, "--pert-col", o->pert_col);
    o->control = cli_get(a, "--control", o->control);
    o->celltype_col = cli_get(a, "--celltype-col", o->celltype_col);
    o->batch_col = cli_get(a, "--batch-col", o->batch_col);
    o->batch_col_required = cli_has(a, "--batch-col");
    o->x_source = cli_get(a, "--x", o->x_source);
    o->embeddings = cli_get(a, "--embeddings", NULL);
    o->aliases = cli_get(a, "--aliases", NULL);
    if (cli_has(a, "--no-normalize")) o->normalize = 0;
    long hvg = 0;
    if (cli_get_long(a, "--hvg", 0, 0, 1000000, &hvg)) return 2;
    o->hvg = hvg;
    const char *missing = cli_get(a, "--missing", NULL);
    if (missing) {
        ptrag_error err;
        if (ptrag_missing_policy_parse(missing, &o->missing, &err))
            return cli_usage_error(cmd, "--missing: %s", err.msg);
    }
    const ptrag_command_hooks *hooks = cli_hooks();
    o->source = hooks ? hooks->input : NULL;
    return 0;
}

int cli_pairing(const char *cmd, const char *value, int *out) {
    if (!value) return 0;
    int k = ptrag_pairing_from_name(value);
    if (k < 0) return cli_usage_error(cmd, "--pairing: expected pool or random, got '%s'", value);
    *out = k;
    return 0;
}
