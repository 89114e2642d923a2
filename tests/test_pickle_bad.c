/* The pickle reader on pickles written byte by byte here: every layout numpy
 * and Python produce for a GenePT dict (protocols 2, 4, 5; float32/float64;
 * big-endian; numpy scalars in lists; memo-shared aliases) and hostile or
 * broken streams (disallowed globals via GLOBAL and STACK_GLOBAL + REDUCE,
 * object-building opcodes, truncation at every byte, random corruption,
 * ragged, NaN/Inf, duplicate keys, empty files). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptrag.h"
#include "pickle_writer.h"
#include "testlib.h"

static const double A[4] = {0.5, -1.25, 3.0, 1e-3};
static const double B[4] = {2.0, 0.0, -0.75, 100.0};

/* Loads `w` saved as `name`; returns the status, err filled. */
static int load_pickle(const pw *w, const char *name, ptrag_embeddings **e, ptrag_error *err) {
    const char *path = tl_tmp(name);
    if (pw_save(w, path) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    ptrag_error_clear(err);
    *e = NULL;
    return ptrag_embeddings_load(path, e, err);
}

static void check_ab(const ptrag_embeddings *e, int f4) {
    CHECK_INT(ptrag_embeddings_dim(e), 4);
    long ra = ptrag_embeddings_lookup(e, "GENEA"), rb = ptrag_embeddings_lookup(e, "GENEB");
    CHECK(ra >= 0 && rb >= 0 && ra != rb);
    if (ra < 0 || rb < 0) return;
    for (int j = 0; j < 4; j++) {
        CHECK(ptrag_embeddings_row(e, ra)[j] == (float)A[j]);
        CHECK(ptrag_embeddings_row(e, rb)[j] == (float)B[j]);
    }
    (void)f4;
}

/* dict {GENEA: A, GENEB: B, ALIASA: <same object as GENEA>} with a value writer. */
typedef void (*value_writer)(pw *w, const double *v, int variant);

static void write_dict(pw *w, int protocol, value_writer vw, int variant) {
    pw_proto(w, protocol);
    pw_op(w, '}');
    pw_memoize(w);
    pw_op(w, '(');
    pw_str(w, "GENEA");
    pw_memoize(w);
    vw(w, A, variant);
    long shared = pw_memoize(w);
    pw_str(w, "GENEB");
    pw_memoize(w);
    vw(w, B, variant);
    pw_memoize(w);
    pw_str(w, "ALIASA");
    pw_get(w, shared);
    pw_op(w, 'u');
    pw_op(w, '.');
}

static void v_list(pw *w, const double *v, int variant) {
    (void)variant;
    pw_list_of_floats(w, v, 4);
}
static void v_ndarray(pw *w, const double *v, int variant) { pw_ndarray(w, v, 4, variant & 1, (variant >> 1) & 1, 0); }
static void v_ndarray_p2(pw *w, const double *v, int variant) { pw_ndarray(w, v, 4, variant & 1, 0, 1); }
static void v_ndarray_p5(pw *w, const double *v, int variant) { pw_ndarray_p5(w, v, 4, variant & 1); }
/* A list of numpy.float64 scalars: numpy.core.multiarray.scalar(dtype, raw). */
static void v_scalars(pw *w, const double *v, int variant) {
    (void)variant;
    pw_op(w, ']');
    pw_memoize(w);
    pw_op(w, '(');
    for (int i = 0; i < 4; i++) {
        pw_str(w, "numpy.core.multiarray");
        pw_str(w, "scalar");
        pw_op(w, 0x93);
        pw_dtype(w, 0, 0, 0);
        size_t len;
        unsigned char *raw = pw_raw(&v[i], 1, 0, 0, &len);
        pw_op(w, 'C');
        pw_op(w, (int)len);
        pw_bytes(w, raw, len);
        free(raw);
        pw_op(w, 0x86);
        pw_op(w, 'R');
    }
    pw_op(w, 'e');
}

static void test_every_layout_loads(void) {
    struct {
        const char *what;
        int protocol;
        value_writer vw;
        int variant;
    } cases[] = {
        {"list of floats, protocol 4", 4, v_list, 0},
        {"list of floats, protocol 2", 2, v_list, 0},
        {"ndarray f8, protocol 4", 4, v_ndarray, 0},
        {"ndarray f4, protocol 4", 4, v_ndarray, 1},
        {"ndarray >f8 big-endian", 4, v_ndarray, 2},
        {"ndarray >f4 big-endian", 4, v_ndarray, 3},
        {"ndarray f8, protocol 2 (GLOBAL + _codecs.encode)", 2, v_ndarray_p2, 0},
        {"ndarray f4, protocol 2", 2, v_ndarray_p2, 1},
        {"ndarray f8, protocol 5 (_frombuffer + BYTEARRAY8)", 5, v_ndarray_p5, 0},
        {"ndarray f4, protocol 5", 5, v_ndarray_p5, 1},
        {"list of numpy float64 scalars", 4, v_scalars, 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        pw w = {0};
        write_dict(&w, cases[c].protocol, cases[c].vw, cases[c].variant);
        ptrag_embeddings *e;
        ptrag_error err;
        int rc = load_pickle(&w, "test_pickle_bad_layout.pkl", &e, &err);
        CHECK_MSG(rc == 0, "%s: %s", cases[c].what, err.msg);
        if (rc == 0) {
            check_ab(e, cases[c].variant & 1);
            CHECK_INT(ptrag_embeddings_n_keys(e), 3);
            CHECK_INT(ptrag_embeddings_n_rows(e), 2); /* the alias shares GENEA's object */
            CHECK_INT(ptrag_embeddings_lookup(e, "ALIASA"), ptrag_embeddings_lookup(e, "GENEA"));
            CHECK_STR(ptrag_embeddings_row_name(e, ptrag_embeddings_lookup(e, "ALIASA")), "GENEA");
        }
        ptrag_embeddings_free(e);
        pw_free(&w);
    }
}

/* The same vectors written as two distinct (equal) objects are two rows. */
static void test_equal_but_distinct_objects_are_separate_rows(void) {
    pw w = {0};
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "X");
    pw_list_of_floats(&w, A, 4);
    pw_str(&w, "Y");
    pw_list_of_floats(&w, A, 4);
    pw_op(&w, 'u');
    pw_op(&w, '.');
    ptrag_embeddings *e;
    ptrag_error err;
    CHECK_INT(load_pickle(&w, "test_pickle_bad_distinct.pkl", &e, &err), 0);
    CHECK_INT(ptrag_embeddings_n_rows(e), 2);
    ptrag_embeddings_free(e);
    pw_free(&w);
}

static int marker_exists(void) { return access(tl_tmp("test_pickle_bad_PWNED"), F_OK) == 0; }

/* os.system("touch <marker>") through GLOBAL + REDUCE. */
static void test_global_os_system_refused(void) {
    unlink(tl_tmp("test_pickle_bad_PWNED"));
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "touch %s", tl_tmp("test_pickle_bad_PWNED"));
    pw w = {0};
    pw_proto(&w, 2);
    pw_op(&w, 'c');
    pw_bytes(&w, "os\nsystem\n", 10);
    pw_str(&w, cmd);
    pw_op(&w, 0x85);
    pw_op(&w, 'R');
    pw_op(&w, '.');
    ptrag_embeddings *e;
    ptrag_error err;
    int rc = load_pickle(&w, "test_pickle_bad_os_system.pkl", &e, &err);
    CHECK_INT(rc, PTRAG_E_FORMAT);
    CHECK(e == NULL);
    CHECK_CONTAINS(err.msg, "test_pickle_bad_os_system.pkl");
    CHECK_CONTAINS(err.msg, "byte 2 (GLOBAL)");
    CHECK_CONTAINS(err.msg, "refused global 'os.system'");
    CHECK(!marker_exists());
    pw_free(&w);
}

/* The protocol 4 spelling: STACK_GLOBAL('posix', 'system') + REDUCE, placed
 * as a dict value after a valid entry. */
static void test_stack_global_refused(void) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "touch %s", tl_tmp("test_pickle_bad_PWNED"));
    pw w = {0};
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "GENEA");
    pw_list_of_floats(&w, A, 4);
    pw_str(&w, "GENEB");
    size_t at = w.n + strlen("posix") + 2 + strlen("system") + 2; /* offset of STACK_GLOBAL */
    pw_str(&w, "posix");
    pw_str(&w, "system");
    pw_op(&w, 0x93);
    pw_str(&w, cmd);
    pw_op(&w, 0x85);
    pw_op(&w, 'R');
    pw_op(&w, 'u');
    pw_op(&w, '.');
    ptrag_embeddings *e;
    ptrag_error err;
    int rc = load_pickle(&w, "test_pickle_bad_stack_global.pkl", &e, &err);
    CHECK_INT(rc, PTRAG_E_FORMAT);
    char want[64];
    snprintf(want, sizeof want, "byte %zu (STACK_GLOBAL)", at);
    CHECK_CONTAINS(err.msg, want);
    CHECK_CONTAINS(err.msg, "test_pickle_bad_stack_global.pkl");
    CHECK_CONTAINS(err.msg, "'posix.system'");
    CHECK(!marker_exists());

    /* builtins.eval and a look-alike of a numpy name are refused as well. */
    pw v = {0};
    pw_proto(&v, 4);
    pw_str(&v, "builtins");
    pw_str(&v, "eval");
    pw_op(&v, 0x93);
    pw_op(&v, '.');
    CHECK_INT(load_pickle(&v, "test_pickle_bad_eval.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "'builtins.eval'");
    pw_free(&v);
    pw_proto(&v, 4);
    pw_str(&v, "numpy.core.multiarray");
    pw_str(&v, "_reconstructX");
    pw_op(&v, 0x93);
    pw_op(&v, '.');
    CHECK_INT(load_pickle(&v, "test_pickle_bad_lookalike.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "numpy.core.multiarray._reconstructX");
    pw_free(&v);
    pw_free(&w);
}

/* Whitelisted globals used outside their pattern are refused too. */
static void test_whitelisted_globals_only_in_their_pattern(void) {
    ptrag_embeddings *e;
    ptrag_error err;
    pw w = {0};
    /* numpy.ndarray called directly. */
    pw_proto(&w, 4);
    pw_str(&w, "numpy");
    pw_str(&w, "ndarray");
    pw_op(&w, 0x93);
    pw_op(&w, 'K');
    pw_op(&w, 3);
    pw_op(&w, 0x85);
    pw_op(&w, 'R');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_ndarray_call.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "byte");
    CHECK_CONTAINS(err.msg, "REDUCE");
    pw_free(&w);
    /* REDUCE on a string. */
    pw_proto(&w, 4);
    pw_str(&w, "os.system");
    pw_op(&w, ')');
    pw_op(&w, 'R');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_reduce_str.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "REDUCE on a str");
    pw_free(&w);
    /* An integer dtype. */
    pw_proto(&w, 4);
    pw_str(&w, "numpy");
    pw_str(&w, "dtype");
    pw_op(&w, 0x93);
    pw_str(&w, "i8");
    pw_op(&w, 0x89);
    pw_op(&w, 0x88);
    pw_op(&w, 0x87);
    pw_op(&w, 'R');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_dtype.pkl", &e, &err), PTRAG_E_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "dtype 'i8'");
    pw_free(&w);
}

static void test_object_building_opcodes_refused(void) {
    static const struct {
        unsigned char op;
        const char *name;
    } ops[] = {{0x81, "NEWOBJ"}, {0x92, "NEWOBJ_EX"}, {'i', "INST"}, {'o', "OBJ"}, {'Q', "BINPERSID"},
               {0x82, "EXT1"}, {0x8f, "EMPTY_SET"}, {0x97, "NEXT_BUFFER"}, {0xff, "unknown opcode"}};
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        pw w = {0};
        pw_proto(&w, 5);
        pw_op(&w, '}');
        pw_op(&w, ops[i].op);
        pw_op(&w, '.');
        ptrag_embeddings *e;
        ptrag_error err;
        int rc = load_pickle(&w, "test_pickle_bad_opcode.pkl", &e, &err);
        CHECK(rc < 0);
        CHECK_CONTAINS(err.msg, "test_pickle_bad_opcode.pkl: byte 3");
        CHECK_CONTAINS(err.msg, ops[i].name);
        pw_free(&w);
    }
}

/* Cutting a valid pickle at every byte must fail cleanly, naming the file. */
static void test_truncated_at_every_byte(void) {
    pw w = {0};
    write_dict(&w, 4, v_ndarray, 0);
    int failures = 0, named = 0;
    for (size_t cut = 0; cut < w.n; cut++) {
        pw t = {0};
        pw_bytes(&t, w.b, cut);
        if (cut == 0) t.n = 0;
        ptrag_embeddings *e;
        ptrag_error err;
        int rc = load_pickle(&t, "test_pickle_bad_truncated.pkl", &e, &err);
        failures += rc < 0;
        named += strstr(err.msg, "test_pickle_bad_truncated.pkl") != NULL;
        if (rc == 0) {
            fprintf(stderr, "  cut at %zu loaded\n", cut);
            ptrag_embeddings_free(e);
        }
        if (cut == w.n - 1) CHECK_CONTAINS(err.msg, "truncated");
        if (cut == w.n / 2) CHECK_CONTAINS(err.msg, "truncated");
        pw_free(&t);
    }
    CHECK_INT(failures, (long)w.n);
    CHECK_INT(named, (long)w.n);
    pw_free(&w);
}

/* Random corruption: any outcome but a crash or leak (checked by ASan). */
static void test_random_corruption_never_crashes(void) {
    pw w = {0};
    write_dict(&w, 4, v_ndarray, 0);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 2024);
    int errors = 0;
    for (int trial = 0; trial < 300; trial++) {
        pw t = {0};
        pw_bytes(&t, w.b, w.n);
        int flips = 1 + (int)ptrag_rng_below(&rng, 4);
        for (int f = 0; f < flips; f++) t.b[2 + ptrag_rng_below(&rng, t.n - 2)] = (unsigned char)ptrag_rng_below(&rng, 256);
        ptrag_embeddings *e;
        ptrag_error err;
        int rc = load_pickle(&t, "test_pickle_bad_fuzz.pkl", &e, &err);
        if (rc == 0) {
            /* Whatever loaded is consistent. */
            CHECK(ptrag_embeddings_n_rows(e) >= 1 && ptrag_embeddings_dim(e) >= 1);
            ptrag_embeddings_free(e);
        } else {
            errors++;
            CHECK(strstr(err.msg, "test_pickle_bad_fuzz.pkl") != NULL);
        }
        pw_free(&t);
    }
    CHECK(errors > 150);
    pw_free(&w);
}

static void test_ragged_nan_inf_duplicates(void) {
    ptrag_embeddings *e;
    ptrag_error err;
    const double three[3] = {1, 2, 3};
    pw w = {0};
    /* Ragged lengths. */
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "GENEA");
    pw_list_of_floats(&w, A, 4);
    pw_str(&w, "SHORTY");
    pw_list_of_floats(&w, three, 3);
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_ragged.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "test_pickle_bad_ragged.pkl: key 'SHORTY': vector has 3 values, expected 4");
    CHECK_CONTAINS(err.msg, "ragged");
    pw_free(&w);

    /* NaN in a list, Inf in an array. */
    double bad[4] = {1, NAN, 2, 3};
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "GENEA");
    pw_list_of_floats(&w, A, 4);
    pw_str(&w, "NANGENE");
    pw_list_of_floats(&w, bad, 4);
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_nan.pkl", &e, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "test_pickle_bad_nan.pkl: key 'NANGENE': value 1 is NaN");
    pw_free(&w);
    bad[1] = 2;
    bad[3] = INFINITY;
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "INFGENE");
    pw_ndarray(&w, bad, 4, 0, 0, 0);
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_inf.pkl", &e, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "key 'INFGENE': value 3 is infinite");
    pw_free(&w);
    /* A float64 beyond float32 range is infinite once stored. */
    bad[3] = 1e300;
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "HUGE");
    pw_list_of_floats(&w, bad, 4);
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_huge.pkl", &e, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "key 'HUGE'");
    pw_free(&w);

    /* The same key twice: refused with different vectors, merged when equal. */
    for (int same = 0; same < 2; same++) {
        pw_proto(&w, 4);
        pw_op(&w, '}');
        pw_op(&w, '(');
        pw_str(&w, "DUP");
        pw_list_of_floats(&w, A, 4);
        pw_str(&w, "OTHER");
        pw_list_of_floats(&w, B, 4);
        pw_str(&w, "DUP");
        pw_list_of_floats(&w, same ? A : B, 4);
        pw_op(&w, 'u');
        pw_op(&w, '.');
        int rc = load_pickle(&w, "test_pickle_bad_dup.pkl", &e, &err);
        if (same) {
            CHECK_INT(rc, 0);
            CHECK_INT(ptrag_embeddings_n_keys(e), 2);
            CHECK_INT(ptrag_embeddings_n_rows(e), 2);
            ptrag_embeddings_free(e);
        } else {
            CHECK_INT(rc, PTRAG_E_FORMAT);
            CHECK_CONTAINS(err.msg, "test_pickle_bad_dup.pkl: key 'DUP' appears twice with different vectors");
        }
        pw_free(&w);
    }
}

static void test_wrong_shapes_and_empty(void) {
    ptrag_embeddings *e;
    ptrag_error err;
    pw w = {0};
    /* Empty file. */
    CHECK_INT(load_pickle(&w, "test_pickle_bad_empty.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "test_pickle_bad_empty.pkl: empty file");
    /* Not a dict. */
    pw_proto(&w, 4);
    pw_list_of_floats(&w, A, 4);
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_list.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "is a list, expected a dict");
    pw_free(&w);
    /* Empty dict. */
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_emptydict.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "empty");
    pw_free(&w);
    /* A value that is a string; a key that is a number. */
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "GENEA");
    pw_str(&w, "not a vector");
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_strvalue.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "key 'GENEA': value is a str");
    pw_free(&w);
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_binint(&w, 7);
    pw_list_of_floats(&w, A, 4);
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_intkey.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "dict key is a int");
    pw_free(&w);
    /* A list holding a string. */
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "GENEA");
    pw_op(&w, ']');
    pw_op(&w, '(');
    pw_float(&w, 1.0);
    pw_str(&w, "x");
    pw_op(&w, 'e');
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_liststr.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "list element 1 is a str");
    pw_free(&w);
    /* Memo reads of entries never stored; stack underflow; protocol 1. */
    pw_proto(&w, 4);
    pw_op(&w, 'h');
    pw_op(&w, 9);
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_memo.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "memo entry 9 was never stored");
    pw_free(&w);
    pw_proto(&w, 4);
    pw_op(&w, 's');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_underflow.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "stack underflow");
    pw_free(&w);
    pw_proto(&w, 9);
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_proto.pkl", &e, &err), PTRAG_E_UNSUPPORTED);
    CHECK_CONTAINS(err.msg, "protocol 9");
    pw_free(&w);
    /* A forged 8-byte length far beyond the file. */
    pw_proto(&w, 4);
    pw_op(&w, 0x8e);
    pw_le(&w, (uint64_t)1 << 50, 8);
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_biglen.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "truncated");
    pw_free(&w);
}

static void test_array_state_errors(void) {
    ptrag_embeddings *e;
    ptrag_error err;
    pw w = {0};
    /* BUILD state with shape (2, 2): not 1-D. */
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "M");
    pw_str(&w, "numpy.core.multiarray");
    pw_str(&w, "_reconstruct");
    pw_op(&w, 0x93);
    pw_str(&w, "numpy");
    pw_str(&w, "ndarray");
    pw_op(&w, 0x93);
    pw_op(&w, 'K');
    pw_op(&w, 0);
    pw_op(&w, 0x85);
    pw_op(&w, 'C');
    pw_op(&w, 1);
    pw_op(&w, 'b');
    pw_op(&w, 0x87);
    pw_op(&w, 'R');
    pw_op(&w, '(');
    pw_op(&w, 'K');
    pw_op(&w, 1);
    pw_op(&w, 'K');
    pw_op(&w, 2);
    pw_op(&w, 'K');
    pw_op(&w, 2);
    pw_op(&w, 0x86);
    pw_dtype(&w, 0, 0, 0);
    pw_op(&w, 0x89);
    size_t len;
    unsigned char *raw = pw_raw(A, 4, 0, 0, &len);
    pw_binbytes(&w, raw, len);
    free(raw);
    pw_op(&w, 't');
    pw_op(&w, 'b');
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_2d.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "2 dimensions");
    pw_free(&w);

    /* Shape says 5 values, data holds 4. */
    pw_proto(&w, 5);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "SHORT");
    pw_str(&w, "numpy.core.numeric");
    pw_str(&w, "_frombuffer");
    pw_op(&w, 0x93);
    pw_op(&w, '(');
    raw = pw_raw(A, 4, 0, 0, &len);
    pw_op(&w, 0x96);
    pw_le(&w, len, 8);
    pw_bytes(&w, raw, len);
    free(raw);
    pw_dtype(&w, 0, 0, 0);
    pw_binint(&w, 5);
    pw_op(&w, 0x85);
    pw_str(&w, "C");
    pw_op(&w, 't');
    pw_op(&w, 'R');
    pw_op(&w, 'u');
    pw_op(&w, '.');
    CHECK_INT(load_pickle(&w, "test_pickle_bad_datalen.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "array data has 32 bytes, expected 40");
    pw_free(&w);
}

/* An array larger than the reader's 1 MiB buffer is read straight into place;
 * cut short, it still fails cleanly. */
static void test_large_array_and_its_truncation(void) {
    enum { BIG = 300000 };
    double *v = malloc(BIG * sizeof *v);
    for (int i = 0; i < BIG; i++) v[i] = (double)(i % 1000) / 7.0 - 50.0;
    pw w = {0};
    pw_proto(&w, 4);
    pw_op(&w, '}');
    pw_op(&w, '(');
    pw_str(&w, "BIG");
    pw_ndarray(&w, v, BIG, 0, 0, 0);
    pw_op(&w, 'u');
    pw_op(&w, '.');
    ptrag_embeddings *e;
    ptrag_error err;
    CHECK_INT(load_pickle(&w, "test_pickle_bad_large.pkl", &e, &err), 0);
    if (e) {
        CHECK_INT(ptrag_embeddings_dim(e), BIG);
        const float *r = ptrag_embeddings_row(e, 0);
        int same = 1;
        for (int i = 0; i < BIG; i++) same &= r[i] == (float)v[i];
        CHECK(same);
    }
    ptrag_embeddings_free(e);
    w.n -= 100000 + 4; /* inside the data */
    CHECK_INT(load_pickle(&w, "test_pickle_bad_large_cut.pkl", &e, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "test_pickle_bad_large_cut.pkl");
    CHECK_CONTAINS(err.msg, "truncated");
    pw_free(&w);
    free(v);
}

/* Cross-check with pickles written by Python/numpy itself, when available. */
static void test_python_written_pickles(void) {
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("  (skipped: /usr/bin/python3 with numpy not available)\n");
        return;
    }
    const char *dir = tl_tmp("test_pickle_bad_py");
    char cmd[8192];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && /usr/bin/python3 - %s <<'EOF'\n"
             "import sys, pickle, numpy as np\n"
             "d = sys.argv[1]\n"
             "rng = np.random.default_rng(5)\n"
             "v = {f'G{i}': rng.standard_normal(33) for i in range(7)}\n"
             "v['ALIAS'] = v['G3']\n"
             "with open(d + '/ref.tsv', 'w') as f:\n"
             "    for k, x in v.items(): f.write(k + '\\t' + '\\t'.join(repr(float(t)) for t in x) + '\\n')\n"
             "def shared(f):\n"
             "    memo = {}\n"
             "    return {k: memo.setdefault(id(x), f(x)) for k, x in v.items()}\n"
             "for p in (2, 3, 4, 5):\n"
             "    pickle.dump(v, open(f'{d}/f8_p{p}.pkl', 'wb'), protocol=p)\n"
             "    pickle.dump(shared(lambda x: x.astype('>f8')), open(f'{d}/bf8_p{p}.pkl', 'wb'), protocol=p)\n"
             "    pickle.dump(shared(lambda x: [float(t) for t in x]), open(f'{d}/list_p{p}.pkl', 'wb'), protocol=p)\n"
             "    pickle.dump(shared(list), open(f'{d}/npscalars_p{p}.pkl', 'wb'), protocol=p)\n"
             "EOF",
             dir, dir);
    if (system(cmd) != 0) {
        CHECK_MSG(0, "python could not write the reference pickles");
        return;
    }
    ptrag_embeddings *ref;
    ptrag_error err;
    char path[4200];
    snprintf(path, sizeof path, "%s/ref.tsv", dir);
    CHECK_INT(ptrag_embeddings_load(path, &ref, &err), 0);
    if (!ref) return;
    const char *kinds[] = {"f8", "bf8", "list", "npscalars"};
    for (int p = 2; p <= 5; p++)
        for (int kidx = 0; kidx < 4; kidx++) {
            snprintf(path, sizeof path, "%s/%s_p%d.pkl", dir, kinds[kidx], p);
            ptrag_embeddings *e;
            int rc = ptrag_embeddings_load(path, &e, &err);
            CHECK_MSG(rc == 0, "%s: %s", path, err.msg);
            if (rc) continue;
            CHECK_INT(ptrag_embeddings_n_keys(e), 8);
            /* The alias key refers to the same object as G3 in every layout. */
            CHECK_INT(ptrag_embeddings_lookup(e, "ALIAS"), ptrag_embeddings_lookup(e, "G3"));
            int same = 1;
            for (long i = 0; i < ptrag_embeddings_n_keys(ref); i++) {
                const char *k = ptrag_embeddings_key(ref, i);
                const float *a = ptrag_embeddings_row(ref, ptrag_embeddings_key_row(ref, i));
                const float *b = ptrag_embeddings_row(e, ptrag_embeddings_lookup(e, k));
                if (!b || memcmp(a, b, 33 * sizeof(float)) != 0) same = 0;
            }
            CHECK_MSG(same, "%s differs from the reference table", path);
            ptrag_embeddings_free(e);
        }
    ptrag_embeddings_free(ref);
}

int main(void) {
    RUN(test_every_layout_loads);
    RUN(test_equal_but_distinct_objects_are_separate_rows);
    RUN(test_global_os_system_refused);
    RUN(test_stack_global_refused);
    RUN(test_whitelisted_globals_only_in_their_pattern);
    RUN(test_object_building_opcodes_refused);
    RUN(test_truncated_at_every_byte);
    RUN(test_random_corruption_never_crashes);
    RUN(test_ragged_nan_inf_duplicates);
    RUN(test_wrong_shapes_and_empty);
    RUN(test_array_state_errors);
    RUN(test_large_array_and_its_truncation);
    RUN(test_python_written_pickles);
    return TEST_SUMMARY();
}
