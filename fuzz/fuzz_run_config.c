/* The text files of a run directory that later commands read back:
 * config.txt (ptrag_config_from_text), data.txt (ptrag_run_data_read) and
 * meta.txt (ptrag_run_check_inputs, against a fixed input file). */
#include "fuzz_util.h"
#include "ptrag/config.h"
#include "ptrag/run_dir.h"
#include "ptrag/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = fuzz_text(data, size);
    ptrag_config c;
    ptrag_error err;
    if (!ptrag_config_from_text(&c, text, "config.txt", &err)) {
        (void)ptrag_config_validate(&c, &err);
        char *back;
        if (!ptrag_config_to_text(&c, &back, &err)) free(back);
    }
    free(text);
    (void)fuzz_file("data.txt", data, size);
    ptrag_run_data rd;
    (void)ptrag_run_data_read(fuzz_dir(), &rd, &err);
    static char input[1100];
    if (!input[0]) {
        snprintf(input, sizeof input, "%s", fuzz_file("input.bin", (const uint8_t *)"abc\n", 4));
    }
    (void)fuzz_file("meta.txt", data, size);
    ptrag_run_input in[2] = {{"split", input}, {"data", input}};
    (void)ptrag_run_check_inputs(fuzz_dir(), in, 2, &err);
    return 0;
}
