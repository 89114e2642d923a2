/* TOML parser and the split-file reader built on it (split_spec.c). */
#include "fuzz_util.h"
#include "ptrag/split.h"
#include "ptrag/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    ptrag_toml_value *root;
    ptrag_error err;
    if (!ptrag_toml_parse(text, "fuzz.toml", &root, &err)) ptrag_toml_free(root);
    free(text);
    const char *path = fuzz_file("split.toml", data, size);
    ptrag_split_spec *spec;
    if (!ptrag_split_load(path, &spec, &err)) ptrag_split_spec_free(spec);
    return 0;
}
