/* ptrag predict: not implemented yet (placeholder so the CLI lists every command). */
#include <stdio.h>

#include "cli/cli.h"

int cmd_predict(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "ptrag predict: not implemented yet\n");
    return 3;
}
