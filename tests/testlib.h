/* A tiny test harness: CHECK macros count failures; main() runs the test
 * functions with RUN() and ends with the summary line "N passed, N failed".
 * A test binary exits 0 when all checks passed, 1 otherwise, 77 when skipped. */
#ifndef PTRAG_TESTLIB_H
#define PTRAG_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_checks_failed_in_test;
static int tl_tests_passed, tl_tests_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
            tl_checks_failed_in_test++;                                              \
        }                                                                            \
    } while (0)

#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n");                                                   \
            tl_checks_failed_in_test++;                                              \
        }                                                                            \
    } while (0)

/* |a-b| <= tol (absolute), reports both values on failure. */
#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double tl_a = (double)(a), tl_b = (double)(b);                               \
        if (!(fabs(tl_a - tl_b) <= (tol))) {                                         \
            fprintf(stderr, "  FAIL %s:%d: %s = %.10g, %s = %.10g (tol %g)\n",       \
                    __FILE__, __LINE__, #a, tl_a, #b, tl_b, (double)(tol));          \
            tl_checks_failed_in_test++;                                              \
        }                                                                            \
    } while (0)

#define CHECK_INT(a, b)                                                              \
    do {                                                                             \
        long long tl_a = (long long)(a), tl_b = (long long)(b);                      \
        if (tl_a != tl_b) {                                                          \
            fprintf(stderr, "  FAIL %s:%d: %s = %lld, expected %s = %lld\n",         \
                    __FILE__, __LINE__, #a, tl_a, #b, tl_b);                         \
            tl_checks_failed_in_test++;                                              \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                              \
    do {                                                                             \
        const char *tl_a = (a), *tl_b = (b);                                         \
        if (!tl_a || !tl_b || strcmp(tl_a, tl_b) != 0) {                             \
            fprintf(stderr, "  FAIL %s:%d: %s = \"%s\", expected \"%s\"\n",          \
                    __FILE__, __LINE__, #a, tl_a ? tl_a : "(null)",                  \
                    tl_b ? tl_b : "(null)");                                         \
            tl_checks_failed_in_test++;                                              \
        }                                                                            \
    } while (0)

/* CHECK that a string contains a substring (for error messages). */
#define CHECK_CONTAINS(hay, needle)                                                  \
    do {                                                                             \
        const char *tl_h = (hay), *tl_n = (needle);                                  \
        if (!tl_h || !strstr(tl_h, tl_n)) {                                          \
            fprintf(stderr, "  FAIL %s:%d: \"%s\" does not contain \"%s\"\n",        \
                    __FILE__, __LINE__, tl_h ? tl_h : "(null)", tl_n);               \
            tl_checks_failed_in_test++;                                              \
        }                                                                            \
    } while (0)

#define RUN(fn)                                                                      \
    do {                                                                             \
        tl_checks_failed_in_test = 0;                                                \
        fn();                                                                        \
        if (tl_checks_failed_in_test) {                                              \
            tl_tests_failed++;                                                       \
            fprintf(stderr, "FAILED %s\n", #fn);                                     \
        } else {                                                                     \
            tl_tests_passed++;                                                       \
            printf("ok %s\n", #fn);                                                  \
        }                                                                            \
    } while (0)

#define TEST_SUMMARY()                                                               \
    (printf("%d passed, %d failed\n", tl_tests_passed, tl_tests_failed),             \
     tl_tests_failed ? 1 : 0)

/* Path of a file under ../shared (real data). */
static inline const char *tl_shared(const char *rel) {
    static char buf[8][4096];
    static int next;
    char *b = buf[next++ & 7];
    snprintf(b, 4096, "%s/%s", PTRAG_SHARED_DIR, rel);
    return b;
}

/* A fresh scratch path under $TMPDIR for this test. */
static inline const char *tl_tmp(const char *name) {
    static char buf[8][4096];
    static int next;
    char *b = buf[next++ & 7];
    const char *d = getenv("TMPDIR");
    snprintf(b, 4096, "%s/%s", d && *d ? d : "/tmp", name);
    return b;
}

#endif
