/* libptrag.so exports the public ptrag_* API and nothing else (the linker
 * version script src/ptrag.map): `nm -D --defined-only` lists every dynamic
 * symbol it defines. Internal helpers (cli_*, cmd_*)
 * must not leak into the namespace of the programs that load it (Python). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

static void test_only_ptrag_symbols(void) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' 2>&1", PTRAG_SHARED_LIB);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    char line[1024];
    long n = 0, foreign = 0;
    int has_command = 0, has_memory = 0, has_train = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[512];
        if (sscanf(line, "%63s %7s %511s", addr, type, name) != 3) continue;
        n++;
        if (strncmp(name, "ptrag_", 6) != 0) {
            if (foreign++ < 10) fprintf(stderr, "  exported: %s", line);
            continue;
        }
        has_command |= strcmp(name, "ptrag_command") == 0;
        has_memory |= strcmp(name, "ptrag_h5ad_open_memory") == 0;
        has_train |= strcmp(name, "ptrag_train") == 0;
    }
    CHECK_MSG(pclose(p) == 0, "nm -D failed on %s", PTRAG_SHARED_LIB);
    printf("%ld exported symbols, %ld without the ptrag_ prefix\n", n, foreign);
    CHECK(n > 100);
    CHECK_INT(foreign, 0);
    CHECK(has_command && has_memory && has_train);
}

/* The static library: every extern symbol it defines is ptrag_-prefixed
 * (OpenMP's named critical sections, .gomp_critical_user_ptrag_*, are
 * libgomp's locks, named after ours), and no symbol is defined twice. */
static void test_static_library_symbols(void) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "nm -g --defined-only '%s' 2>&1 | awk 'NF==3{print $3}' | sort", PTRAG_STATIC_LIB);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) return;
    char name[512], prev[512] = "";
    long n = 0, foreign = 0, twice = 0;
    while (fgets(name, sizeof name, p)) {
        name[strcspn(name, "\n")] = '\0';
        n++;
        if (strcmp(name, prev) == 0 && twice++ < 10) fprintf(stderr, "  defined twice: %s\n", name);
        snprintf(prev, sizeof prev, "%s", name);
        if (strncmp(name, "ptrag_", 6) != 0 && strncmp(name, ".gomp_critical_user_ptrag_", 26) != 0 &&
            foreign++ < 10)
            fprintf(stderr, "  no ptrag_ prefix: %s\n", name);
    }
    CHECK_MSG(pclose(p) == 0, "nm failed on %s", PTRAG_STATIC_LIB);
    printf("%ld extern symbols in %s: %ld without the ptrag_ prefix, %ld defined twice\n", n, PTRAG_STATIC_LIB,
           foreign, twice);
    CHECK(n > 100);
    CHECK_INT(foreign, 0);
    CHECK_INT(twice, 0);
}

int main(void) {
    if (system("nm --version >/dev/null 2>&1") != 0) {
        printf("SKIP: nm (binutils) not found\n");
        return 77;
    }
    RUN(test_only_ptrag_symbols);
    RUN(test_static_library_symbols);
    return TEST_SUMMARY();
}
