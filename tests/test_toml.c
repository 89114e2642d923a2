/* The TOML subset reader: real STATE split files, the accepted syntax, and
 * errors that name the file and the line. */
#include "ptrag/toml.h"
#include "testlib.h"

static ptrag_toml_value *parse_ok(const char *text) {
    ptrag_toml_value *root = NULL;
    ptrag_error err = {0};
    int rc = ptrag_toml_parse(text, "mem.toml", &root, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return root;
}

/* Parses text expected to fail; checks the message holds the file name,
 * "line N" and `what`. */
static void parse_bad(const char *text, int line, const char *what) {
    ptrag_toml_value *root = NULL;
    ptrag_error err = {0};
    int rc = ptrag_toml_parse(text, "bad.toml", &root, &err);
    CHECK(rc < 0);
    CHECK(root == NULL);
    char where[64];
    snprintf(where, sizeof where, "bad.toml: line %d:", line);
    CHECK_CONTAINS(err.msg, where);
    CHECK_CONTAINS(err.msg, what);
}

static void test_real_split_files(void) {
    ptrag_toml_value *root = NULL;
    ptrag_error err = {0};
    int rc = ptrag_toml_load(tl_shared("splits/perturbench_fewshot_a172.toml"), &root, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK_INT(root->n, 4);
    CHECK_STR(root->keys[0], "datasets");
    const ptrag_toml_value *ds = ptrag_toml_get(root, "datasets");
    CHECK(ds && ds->type == PTRAG_TOML_TABLE);
    const ptrag_toml_value *p = ptrag_toml_get(ds, "perturbench");
    CHECK(p && p->type == PTRAG_TOML_STRING);
    if (p) CHECK_STR(p->str, "../data/perturbench_devel_4celltypes/devel.h5ad");
    const ptrag_toml_value *zs = ptrag_toml_get(root, "zeroshot");
    CHECK(zs && zs->type == PTRAG_TOML_TABLE && zs->n == 0);
    const ptrag_toml_value *fs = ptrag_toml_get(root, "fewshot");
    CHECK(fs && fs->n == 1);
    const ptrag_toml_value *a172 = ptrag_toml_get(fs, "perturbench.A172");
    CHECK(a172 && a172->type == PTRAG_TOML_TABLE);
    const ptrag_toml_value *test = ptrag_toml_get(a172, "test");
    CHECK(test && test->type == PTRAG_TOML_ARRAY && test->n == 5);
    if (test && test->n == 5) {
        CHECK_STR(test->items[0]->str, "MAP2K3");
        CHECK_STR(test->items[4]->str, "TGFBR2");
    }
    const ptrag_toml_value *val = ptrag_toml_get(a172, "val");
    CHECK(val && val->n == 2);
    if (val && val->n == 2) CHECK_STR(val->items[1]->str, "SGK1");
    ptrag_toml_free(root);

    rc = ptrag_toml_load(tl_shared("splits/datlinger_fewshot_stimulated.toml"), &root, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    fs = ptrag_toml_get(root, "fewshot");
    const ptrag_toml_value *st = ptrag_toml_get(fs, "datlinger.stimulated");
    CHECK(st != NULL);
    test = ptrag_toml_get(st, "test");
    CHECK(test && test->n == 10);
    if (test && test->n == 10) CHECK_STR(test->items[9]->str, "ZAP70");
    CHECK_INT(ptrag_toml_get(ptrag_toml_get(root, "fewshot"), "datlinger.stimulated")->line, 16);
    ptrag_toml_free(root);
}

static void test_syntax_accepted(void) {
    const char *text =
        "\xEF\xBB\xBF# leading comment\n"
        "top = 'lit\\eral' # literal strings keep backslashes\n"
        "[a]\r\n"
        "\"name.celltype\" = \"val\"   # quoted key with a dot\n"
        "esc = \"tab\\there \\\"q\\\" \\\\ \\u00e9 \\U0001F600 # not a comment\"\n"
        "n = -1_000\n"
        "big = +42\n"
        "yes = true\n"
        "no = false\n"
        "list = [\n"
        "  \"x\",  # comment inside an array\n"
        "\n"
        "  'y', \"z\",\n"
        "]\n"
        "empty = []\n"
        "nested = [[1, 2], [3]]\n"
        "dotted.key = \"d\"\n"
        "[ b . \"c.d\" . e ]\n"
        "k = 1\n"
        "[b]\n"
        "later = \"parent defined after its child\"\n";
    ptrag_toml_value *root = parse_ok(text);
    if (!root) return;
    CHECK_STR(ptrag_toml_get(root, "top")->str, "lit\\eral");
    const ptrag_toml_value *a = ptrag_toml_get(root, "a");
    CHECK_STR(ptrag_toml_get(a, "name.celltype")->str, "val");
    CHECK_STR(ptrag_toml_get(a, "esc")->str, "tab\there \"q\" \\ \xC3\xA9 \xF0\x9F\x98\x80 # not a comment");
    CHECK_INT(ptrag_toml_get(a, "n")->integer, -1000);
    CHECK_INT(ptrag_toml_get(a, "big")->integer, 42);
    CHECK(ptrag_toml_get(a, "yes")->type == PTRAG_TOML_BOOL && ptrag_toml_get(a, "yes")->boolean == 1);
    CHECK(ptrag_toml_get(a, "no")->boolean == 0);
    const ptrag_toml_value *list = ptrag_toml_get(a, "list");
    CHECK_INT(list->n, 3);
    CHECK_STR(list->items[2]->str, "z");
    CHECK_INT(list->items[2]->line, 13);
    CHECK_INT(list->line, 10);
    CHECK_INT(ptrag_toml_get(a, "empty")->n, 0);
    const ptrag_toml_value *nested = ptrag_toml_get(a, "nested");
    CHECK(nested->n == 2 && nested->items[0]->n == 2 && nested->items[1]->items[0]->integer == 3);
    CHECK_STR(ptrag_toml_get(ptrag_toml_get(a, "dotted"), "key")->str, "d");
    const ptrag_toml_value *b = ptrag_toml_get(root, "b");
    const ptrag_toml_value *e = ptrag_toml_get(ptrag_toml_get(b, "c.d"), "e");
    CHECK(e != NULL);
    if (e) CHECK_INT(ptrag_toml_get(e, "k")->integer, 1);
    CHECK_STR(ptrag_toml_get(b, "later")->str, "parent defined after its child");
    CHECK(ptrag_toml_get(root, "missing") == NULL);
    ptrag_toml_free(root);

    root = parse_ok("");
    CHECK(root && root->n == 0);
    ptrag_toml_free(root);
}

static void test_syntax_rejected(void) {
    parse_bad("[a]\nx = 1\nx = 2\n", 3, "duplicate key 'x' (first defined on line 2)");
    parse_bad("[a]\n[b]\n\n[a]\n", 4, "table [a] is defined twice");
    parse_bad("x = 1\n[x]\n", 2, "'x' already holds a value of type integer (line 1)");
    parse_bad("[a]\nk = 1.5\n", 2, "floating-point");
    parse_bad("k = 1979-05-27\n", 1, "dates");
    parse_bad("k = {a = 1}\n", 1, "inline tables");
    parse_bad("# c\n[[arr]]\n", 2, "arrays of tables");
    parse_bad("k = \"\"\"multi\"\"\"\n", 1, "multi-line strings");
    parse_bad("\n\nk = \"open\n", 3, "unterminated string");
    parse_bad("k = bare\n", 1, "strings must be quoted");
    parse_bad("k = \"a\" \"b\"\n", 1, "unexpected '\"' after the value");
    parse_bad("[a\n", 1, "missing its closing ']'");
    parse_bad("[a] x\n", 1, "after the table header");
    parse_bad("a b = 1\n", 1, "expected '=' after key 'a'");
    parse_bad("k =\n", 1, "a value was expected");
    parse_bad("k = [\"a\",\n\"b\"\n", 3, "array opened on line 1 is not closed");
    parse_bad("k = [\"a\" \"b\"]\n", 1, "expected ',' or ']'");
    parse_bad("k = \"bad \\q escape\"\n", 1, "unknown escape sequence \\q");
    parse_bad("k = 0x1F\n", 1, "hexadecimal");
    parse_bad("k = 99999999999999999999\n", 1, "out of range");
    parse_bad("= 1\n", 1, "where a key was expected");
    parse_bad("k = truex\n", 1, "strings must be quoted");
}

static void test_load_errors(void) {
    ptrag_toml_value *root = NULL;
    ptrag_error err = {0};
    CHECK(ptrag_toml_load(tl_tmp("test_toml_missing_file.toml"), &root, &err) == PTRAG_E_IO);
    CHECK_CONTAINS(err.msg, "test_toml_missing_file.toml");
    const char *path = tl_tmp("test_toml_bad.toml");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs("[datasets]\nx = \"a\"\n[fewshot.\"x.y\"]\nval = [\"A\",\n  \"B\" \"C\"]\n", f);
    fclose(f);
    CHECK(ptrag_toml_load(path, &root, &err) < 0);
    CHECK_CONTAINS(err.msg, "test_toml_bad.toml: line 5:");
    remove(path);
}

int main(void) {
    RUN(test_real_split_files);
    RUN(test_syntax_accepted);
    RUN(test_syntax_rejected);
    RUN(test_load_errors);
    return TEST_SUMMARY();
}
