/* The Python binding (python/ptrag over libptrag.so) end to end on the
 * bundled A172 split: tests/py/python_api.py trains, predicts and scores from
 * Python on an in-memory AnnData and compares every file with the CLI's,
 * checks zero-copy input, C errors as exceptions, and Ctrl-C + --resume.
 * Skipped (77) when /usr/bin/python3 cannot import anndata, scipy, pandas. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "testlib.h"

static int exit_code;

static void test_python_api(void) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "PYTHONPATH=%s OMP_NUM_THREADS=1 /usr/bin/python3 %s/tests/py/python_api.py %s %s %s 2>&1",
             PTRAG_PYTHON_DIR, PTRAG_SOURCE_DIR, PTRAG_CLI, PTRAG_SHARED_DIR, tl_tmp("test_e2e_python"));
    int st = system(cmd);
    exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
    CHECK_MSG(exit_code == 0 || exit_code == 77, "python_api.py exited with %d", exit_code);
}

int main(void) {
    if (system("/usr/bin/python3 -c 'import anndata, scipy, pandas' >/dev/null 2>&1") != 0) {
        printf("SKIP: /usr/bin/python3 cannot import anndata, scipy, pandas\n");
        return 77;
    }
    FILE *f = fopen(tl_shared("splits/perturbench_fewshot_a172.toml"), "r");
    if (!f) {
        printf("SKIP: %s not found\n", tl_shared("splits/perturbench_fewshot_a172.toml"));
        return 77;
    }
    fclose(f);
    RUN(test_python_api);
    if (exit_code == 77) return 77;
    return TEST_SUMMARY();
}
