/* Model/training configuration: presets, overrides, text round trip, validation. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/config.h"
#include "ptrag/fsutil.h"
#include "testlib.h"

/* Two configs are equal iff their text forms are: every field is printed
 * exactly (shortest round-trip reals). */
static int same_config(const ptrag_config *a, const ptrag_config *b) {
    char buf[16];
    return ptrag_config_diff(a, b, buf, sizeof buf) == 0;
}

static void test_presets_have_the_documented_values(void) {
    ptrag_error err;
    ptrag_config c;
    ptrag_config_default(&c);
    CHECK_INT(ptrag_config_validate(&c, &err), 0);
    CHECK_STR(c.preset, "small");
    CHECK_INT(c.model, PTRAG_MODEL_STATE);
    CHECK_INT(c.seed, 42);

    CHECK_INT(ptrag_config_preset(&c, "paper", &err), 0);
    CHECK_STR(c.preset, "paper");
    CHECK_INT(c.hidden, 128);
    CHECK_INT(c.layers, 8);
    CHECK_INT(c.heads, 12);
    CHECK_INT(c.head_dim, 58);
    CHECK_INT(c.mlp, 2784);
    CHECK_INT(c.set_size, 64);
    CHECK_INT(c.batch_sets, 64);
    CHECK_INT(c.top_k, 32);
    CHECK(c.lr == 1e-3);
    CHECK(c.weight_decay == 0.0);
    CHECK(c.beta1 == 0.9 && c.beta2 == 0.999 && c.adam_eps == 1e-8);
    CHECK(c.clip_norm == 10.0);
    CHECK(c.sparsity == 0.1);
    CHECK(c.gumbel_tau == 0.5);
    CHECK(c.scorer_dropout == 0.1);
    CHECK_INT(c.val_every, 2000);
    CHECK_INT(ptrag_config_validate(&c, &err), 0);

    CHECK_INT(ptrag_config_preset(&c, "small", &err), 0);
    CHECK_INT(c.hidden, 64);
    CHECK_INT(c.layers, 2);
    CHECK_INT(c.heads, 4);
    CHECK_INT(c.head_dim, 16);
    CHECK_INT(c.mlp, 256);
    CHECK_INT(c.set_size, 32);
    CHECK_INT(c.batch_sets, 16);
    CHECK_INT(c.top_k, 8);
    CHECK(c.lr == 1e-3);

    /* A preset keeps what comes from elsewhere: kind, data dims, seed. */
    c.model = PTRAG_MODEL_PTRAG;
    c.n_genes = 500;
    c.seed = 7;
    CHECK_INT(ptrag_config_preset(&c, "paper", &err), 0);
    CHECK_INT(c.model, PTRAG_MODEL_PTRAG);
    CHECK_INT(c.n_genes, 500);
    CHECK_INT(c.seed, 7);

    CHECK_INT(ptrag_config_preset(&c, "huge", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "'huge'");
    CHECK_CONTAINS(err.msg, "paper | small");
}

static void test_overrides_round_trip_through_text(void) {
    ptrag_error err;
    ptrag_config c, back;
    ptrag_config_default(&c);
    CHECK_INT(ptrag_config_preset(&c, "paper", &err), 0);
    const char *kv[][2] = {
        {"model", "ptrag"},     {"n-genes", "2000"},     {"pert_dim", "1536"},
        {"hidden", "96"},       {"head-dim", "24"},      {"n_batches", "48"},
        {"lr", "0.0003"},       {"beta2", "0.98"},       {"weight-decay", "0.1"},
        {"clip_norm", "0"},     {"seed", "18446744073709551615"},
        {"selection", "threshold"}, {"db", "train-only"}, {"attention", "bidirectional"},
        {"freeze-backbone", "yes"}, {"steps", "123456789012"},
        {"gumbel_tau", "0.3333333333333333"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
        int rc = ptrag_config_set(&c, kv[i][0], kv[i][1], &err);
        CHECK_MSG(rc == 0, "%s = %s: %s", kv[i][0], kv[i][1], err.msg);
    }
    CHECK_INT(c.model, PTRAG_MODEL_PTRAG);
    CHECK_INT(c.head_dim, 24);
    CHECK(c.seed == UINT64_MAX);
    CHECK_INT(c.freeze_backbone, 1);
    CHECK_INT(c.steps, 123456789012L);
    CHECK(c.gumbel_tau == 0.3333333333333333);

    char *text = NULL;
    CHECK_INT(ptrag_config_to_text(&c, &text, &err), 0);
    CHECK_CONTAINS(text, "\nmodel = ptrag\n");
    CHECK_CONTAINS(text, "\nlr = 0.0003\n"); /* shortest exact form, not 0.00029999999999999997 */
    CHECK_CONTAINS(text, "\nadam_eps = 1e-08\n");
    CHECK_CONTAINS(text, "\nfreeze_backbone = true\n");
    CHECK_CONTAINS(text, "\ndb = train-only\n");
    CHECK_CONTAINS(text, "\nseed = 18446744073709551615\n");
    CHECK_INT(ptrag_config_from_text(&back, text, "mem", &err), 0);
    CHECK(same_config(&c, &back));
    CHECK(back.gumbel_tau == c.gumbel_tau && back.lr == c.lr && back.beta2 == c.beta2);
    char *text2 = NULL;
    CHECK_INT(ptrag_config_to_text(&back, &text2, &err), 0);
    CHECK_STR(text2, text);
    free(text);
    free(text2);

    /* Through a file as well. */
    const char *path = tl_tmp("test_config_round.txt");
    CHECK_INT(ptrag_config_write(&c, path, &err), 0);
    ptrag_config_default(&back);
    CHECK_INT(ptrag_config_read(&back, path, &err), 0);
    CHECK(same_config(&c, &back));
    CHECK_INT(ptrag_config_read(&back, tl_tmp("test_config_missing.txt"), &err), PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "test_config_missing.txt");
}

static void test_bad_values_are_refused_with_the_key(void) {
    ptrag_error err;
    ptrag_config c;
    ptrag_config_default(&c);
    ptrag_config before = c;
    CHECK_INT(ptrag_config_set(&c, "hidden", "abc", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "hidden: expected an integer in [1, 65536], got 'abc'");
    CHECK_INT(ptrag_config_set(&c, "hidden", "0", &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_config_set(&c, "hidden", "64x", &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_config_set(&c, "lr", "-1", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "lr: expected a number in (0, inf)");
    CHECK_INT(ptrag_config_set(&c, "lr", "0", &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_config_set(&c, "lr", "nan", &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_config_set(&c, "beta1", "1", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "beta1: expected a number in [0, 1)");
    CHECK_INT(ptrag_config_set(&c, "scorer_dropout", "1.5", &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_config_set(&c, "seed", "-3", &err), PTRAG_E_ARG);
    CHECK_INT(ptrag_config_set(&c, "model", "gpt", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "model: expected one of state | rag | ptrag, got 'gpt'");
    CHECK_INT(ptrag_config_set(&c, "freeze_backbone", "maybe", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "freeze_backbone: expected true or false");
    CHECK_INT(ptrag_config_set(&c, "hiden", "64", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "unknown configuration key 'hiden'");
    CHECK(same_config(&c, &before)); /* failed sets change nothing */
    CHECK(ptrag_config_has_key("head-dim"));
    CHECK(!ptrag_config_has_key("head-dimension"));

    /* Cross-field rule: RoPE needs an even head dimension. */
    CHECK_INT(ptrag_config_set(&c, "head_dim", "15", &err), 0);
    CHECK_INT(ptrag_config_validate(&c, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "head_dim: must be even (RoPE");
    CHECK_CONTAINS(err.msg, "got 15");

    /* A struct filled by hand is range-checked too. */
    ptrag_config_default(&c);
    c.set_size = 0;
    CHECK_INT(ptrag_config_validate(&c, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "set_size");
    ptrag_config_default(&c);
    c.model = (ptrag_model_kind)9;
    CHECK_INT(ptrag_config_validate(&c, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "model");

    /* Data dims are optional until a model is built. */
    ptrag_config_default(&c);
    CHECK_INT(ptrag_config_validate(&c, &err), 0);
    CHECK_INT(ptrag_config_validate_complete(&c, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "n_genes: not set");
    c.n_genes = 500;
    CHECK_INT(ptrag_config_validate_complete(&c, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "pert_dim: not set");
    c.pert_dim = 128;
    CHECK_INT(ptrag_config_validate_complete(&c, &err), 0);
}

static void test_text_errors_name_source_and_line(void) {
    ptrag_error err;
    ptrag_config c;
    ptrag_config_default(&c);
    CHECK_INT(ptrag_config_from_text(&c, "# x\nhidden = 32\nlayers 3\n", "run/config.txt", &err),
              PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "run/config.txt:3: expected 'key = value', got 'layers 3'");
    CHECK_INT(ptrag_config_from_text(&c, "hidden = 32\n\nhiden = 3\n", "cfg", &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "cfg:3: unknown key 'hiden'");
    CHECK_INT(ptrag_config_from_text(&c, "hidden = 32\nhidden = 33\n", "cfg", &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "cfg:2: key 'hidden' given twice");
    CHECK_INT(ptrag_config_from_text(&c, "  lr =  -2 \n", "cfg", &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "cfg:1: lr: expected a number");
    CHECK_INT(ptrag_config_from_text(&c, "head_dim = 7\n", "cfg", &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "cfg: head_dim: must be even");
    /* Absent keys keep defaults; whitespace and CRLF are tolerated. */
    CHECK_INT(ptrag_config_from_text(&c, "hidden=48\r\n  # comment\r\nmodel =rag\r\n", "cfg", &err), 0);
    CHECK_INT(c.hidden, 48);
    CHECK_INT(c.model, PTRAG_MODEL_RAG);
    CHECK_INT(c.layers, 2);
}

static void test_compatibility_speaks_the_data_language(void) {
    ptrag_error err;
    ptrag_config saved, cur;
    ptrag_config_default(&saved);
    saved.n_genes = 500;
    saved.pert_dim = 128;
    cur = saved;
    cur.lr = 0.5;    /* training settings may differ */
    cur.top_k = 3;
    cur.steps = 99;
    CHECK_INT(ptrag_config_check_compatible(&saved, &cur, "best.ckpt", &err), 0);
    cur.n_genes = 2000;
    CHECK_INT(ptrag_config_check_compatible(&saved, &cur, "best.ckpt", &err), PTRAG_E_STATE);
    CHECK_STR(err.msg, "best.ckpt: checkpoint has 500 genes, data has 2000");
    cur = saved;
    cur.pert_dim = 1536;
    CHECK_INT(ptrag_config_check_compatible(&saved, &cur, "c", &err), PTRAG_E_STATE);
    CHECK_STR(err.msg, "c: checkpoint has 128 perturbation feature dims, data has 1536");
    cur = saved;
    cur.model = PTRAG_MODEL_PTRAG;
    CHECK_INT(ptrag_config_check_compatible(&saved, &cur, "c", &err), PTRAG_E_STATE);
    CHECK_STR(err.msg, "c: checkpoint holds a 'state' model, expected 'ptrag'");
    cur = saved;
    cur.hidden = 128;
    CHECK_INT(ptrag_config_check_compatible(&saved, &cur, "c", &err), PTRAG_E_STATE);
    CHECK_STR(err.msg, "c: checkpoint has hidden = 64, current config has hidden = 128");
    cur = saved;
    cur.attention = PTRAG_ATTN_BIDIRECTIONAL;
    CHECK_INT(ptrag_config_check_compatible(&saved, &cur, "c", &err), PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "attention = causal");

    char diff[256];
    cur = saved;
    cur.lr = 0.002;
    cur.steps = 10;
    CHECK_INT(ptrag_config_diff(&saved, &cur, diff, sizeof diff), 2);
    CHECK_STR(diff, "lr: 0.001 -> 0.002; steps: 2000 -> 10");
    CHECK_INT(ptrag_config_diff(&saved, &saved, diff, sizeof diff), 0);
    CHECK_STR(diff, "");
}

static void test_faithful_and_enum_names(void) {
    ptrag_error err;
    ptrag_config c;
    ptrag_config_default(&c);
    ptrag_config_apply_faithful(&c);
    CHECK_INT(c.faithful, 1);
    CHECK_INT(c.freeze_backbone, 1);
    CHECK_INT(c.selection, PTRAG_SELECT_SAMPLE);
    CHECK_INT(c.attention, PTRAG_ATTN_CAUSAL);
    CHECK_INT(c.db, PTRAG_DB_ALL);
    /* the published learning setup, whatever the defaults */
    CHECK_INT(c.residual, PTRAG_RESIDUAL_HIDDEN);
    CHECK_INT(c.evidence, 0);
    CHECK_NEAR(c.mean_loss, 0.0, 0.0);
    CHECK_INT(c.lr_schedule, PTRAG_LR_CONSTANT);
    CHECK_INT(c.warmup, 0);
    CHECK_INT(c.select_by, PTRAG_SELECT_BY_LOSS);
    /* a config text written before these keys existed means the published setup */
    ptrag_config old;
    CHECK_INT(ptrag_config_from_text(&old, "model = state\nhidden = 64\n", "old.txt", &err), 0);
    CHECK_INT(old.residual, PTRAG_RESIDUAL_HIDDEN);
    CHECK_NEAR(old.mean_loss, 0.0, 0.0);
    /* evidence is PT-RAG's */
    CHECK_INT(ptrag_config_set(&old, "evidence", "true", &err), 0);
    CHECK_INT(ptrag_config_validate(&old, &err), PTRAG_E_ARG);
    CHECK_STR(ptrag_model_kind_name(PTRAG_MODEL_RAG), "rag");
    CHECK_STR(ptrag_attention_name(PTRAG_ATTN_BIDIRECTIONAL), "bidirectional");
    CHECK_STR(ptrag_selection_name(PTRAG_SELECT_THRESHOLD), "threshold");
    CHECK_STR(ptrag_db_name(PTRAG_DB_TRAIN_ONLY), "train-only");
    ptrag_model_kind k;
    CHECK_INT(ptrag_model_kind_parse("ptrag", &k, &err), 0);
    CHECK_INT(k, PTRAG_MODEL_PTRAG);
    CHECK_INT(ptrag_model_kind_parse("PTRAG", &k, &err), PTRAG_E_ARG);
    ptrag_selection s;
    CHECK_INT(ptrag_selection_parse("sample", &s, &err), 0);
    CHECK_INT(s, PTRAG_SELECT_SAMPLE);
    CHECK_INT(ptrag_selection_parse("best", &s, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "expected | threshold | sample");
}

static void test_pert_onehot_key(void) {
    ptrag_error err;
    ptrag_config c, back;
    ptrag_config_default(&c);
    CHECK_INT(c.pert_onehot, 0);
    CHECK_INT(ptrag_config_set(&c, "pert-onehot", "true", &err), 0);
    CHECK_INT(c.pert_onehot, 1);
    char *text;
    CHECK_INT(ptrag_config_to_text(&c, &text, &err), 0);
    CHECK_CONTAINS(text, "pert_onehot = true");
    CHECK_INT(ptrag_config_from_text(&back, text, "mem", &err), 0);
    CHECK_INT(back.pert_onehot, 1);
    free(text);
    /* one-hot ids cannot be retrieved by similarity */
    c.model = PTRAG_MODEL_PTRAG;
    CHECK(ptrag_config_validate(&c, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "pert_onehot");
    /* part of the architecture: a checkpoint's value must match */
    c.model = PTRAG_MODEL_STATE;
    back = c;
    back.pert_onehot = 0;
    CHECK(ptrag_config_check_compatible(&back, &c, "ckpt", &err) == PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "pert_onehot");
}

int main(void) {
    RUN(test_presets_have_the_documented_values);
    RUN(test_overrides_round_trip_through_text);
    RUN(test_bad_values_are_refused_with_the_key);
    RUN(test_text_errors_name_source_and_line);
    RUN(test_compatibility_speaks_the_data_language);
    RUN(test_faithful_and_enum_names);
    RUN(test_pert_onehot_key);
    return TEST_SUMMARY();
}
