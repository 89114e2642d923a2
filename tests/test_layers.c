/* The source folders are the pipeline's stages and include only the stages
 * above them (README "Layout"): dev/check_layers.py reads every #include and
 * names each arrow up the pipeline. */
#include <stdio.h>
#include <stdlib.h>

#include "testlib.h"

static void test_no_upward_includes(void) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/dev/check_layers.py' '%s'", PTRAG_SOURCE_DIR, PTRAG_SOURCE_DIR);
    CHECK_MSG(system(cmd) == 0, "an include goes up the pipeline (see the lines above)");
}

int main(void) {
    if (system("test -x /usr/bin/python3") != 0) {
        printf("SKIP: /usr/bin/python3 not found\n");
        return 77;
    }
    RUN(test_no_upward_includes);
    return TEST_SUMMARY();
}
