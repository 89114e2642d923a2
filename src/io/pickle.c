/* A safe, minimal reader for Python pickles of gene embeddings:
 *     dict[str -> 1-D numpy float32/float64 array | list of numbers]
 * (the GenePT layout), protocols 2-5, plain or gzip-compressed.
 *
 * Safety: this is not an unpickler. It is a small stack machine that knows
 * strings, bytes, numbers, tuples, lists, dicts and float arrays, and nothing
 * else. GLOBAL/STACK_GLOBAL are resolved against a fixed whitelist of the
 * callables numpy uses to pickle arrays and dtypes (and _codecs.encode, which
 * protocol 2 uses for bytes); REDUCE/BUILD on them are emulated here, never
 * called. Every other global, and every opcode that could build an arbitrary
 * object (NEWOBJ, INST, OBJ, EXT*, PERSID, out-of-band buffers), is refused
 * with an error naming the file, the byte offset and the global or opcode.
 *
 * Memory: numbers are immediate values, never heap objects; list elements and
 * array data are converted to float32 at once and appended to one growing
 * arena, which is compacted in place into the final table. The raw bytes of an
 * array are freed as soon as the array is built (a later reuse of those bytes
 * is refused). Peak memory is therefore about the float32 table plus the keys.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/strmap.h"
#include "io/vector_set.h"

/* ---- values and objects ------------------------------------------------ */

enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_OBJ };

typedef struct pvalue {
    int type;
    unsigned obj; /* object index when type == V_OBJ */
    union {
        long long i;
        double f;
    } u;
} pvalue;

enum { O_STR, O_BYTES, O_TUPLE, O_LIST, O_DICT, O_GLOBAL, O_DTYPE, O_ARRAY, O_SPENT };

enum {
    G_RECONSTRUCT, /* numpy.core.multiarray._reconstruct */
    G_NDARRAY,     /* numpy.ndarray */
    G_DTYPE,       /* numpy.dtype */
    G_FROMBUFFER,  /* numpy.core.numeric._frombuffer (protocol 5) */
    G_SCALAR,      /* numpy.core.multiarray.scalar (numpy float scalars in lists) */
    G_ENCODE       /* _codecs.encode (protocol 2 bytes) */
};

typedef struct pobj {
    int type;
    int ready; /* arrays: data present (after BUILD or _frombuffer) */
    union {
        struct {
            char *p;
            size_t len;
        } buf; /* O_STR (NUL-terminated UTF-8) and O_BYTES */
        struct {
            pvalue *items;
            size_t n;
        } tup;
        struct {
            size_t start, len; /* in the float arena */
        } seg;                 /* O_LIST and O_ARRAY */
        struct {
            pvalue *kv; /* key, value, key, value, ... */
            size_t n, cap;
        } dict;
        int global;
        struct {
            int size;   /* 4 or 8 */
            int big;    /* 1 if big-endian */
            int order_set;
        } dtype;
    } u;
} pobj;

typedef struct pvm {
    const char *path;
    ptrag_error *err;
    gzFile gz;
    int plain;                /* not gzip: file size bounds lengths */
    unsigned long long fsize; /* plain files only */
    unsigned char *buf;
    size_t pos, len;
    unsigned long long base; /* file offset of buf[0] (uncompressed) */
    unsigned long long op_off;
    const char *op_name;

    pvalue *stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    pvalue *memo;
    unsigned char *memo_set;
    size_t memo_cap;
    size_t memo_next; /* MEMOIZE index = number of memo entries */
    pobj *objs;
    size_t nobj, ocap;
    float *arena;
    size_t alen, acap;
} pvm;

#define READ_CHUNK (1u << 20)

static unsigned long long cur_off(const pvm *vm) { return vm->base + vm->pos; }

#define FAILV(code, ...) vm_fail(vm, code, __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static int vm_fail(pvm *vm, int code, const char *fmt, ...) {
    char msg[PTRAG_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ptrag_fail(vm->err, code, "%s: byte %llu (%s): %s", vm->path, vm->op_off,
                      vm->op_name ? vm->op_name : "start", msg);
}

/* Printable copy of untrusted text for error messages. */
static void printable(const char *s, size_t n, char *out, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        out[j++] = (c >= 32 && c < 127) ? (char)c : '?';
    }
    out[j] = '\0';
}

/* ---- input -------------------------------------------------------------- */

static int refill(pvm *vm) {
    vm->base += vm->len;
    vm->pos = vm->len = 0;
    int n = gzread(vm->gz, vm->buf, READ_CHUNK);
    if (n < 0) {
        int zerr;
        const char *m = gzerror(vm->gz, &zerr);
        return ptrag_fail(vm->err, PTRAG_E_IO, "%s: byte %llu: cannot read: %s", vm->path, vm->base, m);
    }
    vm->len = (size_t)n;
    return 0;
}

static int truncated(pvm *vm, size_t want) {
    return FAILV(PTRAG_E_FORMAT, "truncated file: %zu more bytes expected at byte %llu", want, cur_off(vm));
}

static int read_bytes(pvm *vm, void *dst, size_t n) {
    unsigned char *d = dst;
    while (n) {
        if (vm->pos == vm->len && n >= READ_CHUNK) {
            /* Large payloads go straight to their destination. */
            unsigned want = n > (1u << 30) ? (1u << 30) : (unsigned)n;
            int got = gzread(vm->gz, d, want);
            if (got < 0) {
                int zerr;
                return ptrag_fail(vm->err, PTRAG_E_IO, "%s: byte %llu: cannot read: %s", vm->path, cur_off(vm),
                                  gzerror(vm->gz, &zerr));
            }
            if (got == 0) return truncated(vm, n);
            vm->base += (unsigned long long)got;
            d += got;
            n -= (size_t)got;
            continue;
        }
        if (vm->pos == vm->len) {
            int rc = refill(vm);
            if (rc) return rc;
            if (vm->len == 0) return truncated(vm, n);
        }
        size_t take = vm->len - vm->pos < n ? vm->len - vm->pos : n;
        memcpy(d, vm->buf + vm->pos, take);
        vm->pos += take;
        d += take;
        n -= take;
    }
    return 0;
}

/* Next byte, or -1 at end of file (a negative status on read errors is -2..). */
static int read_opcode(pvm *vm, int *c) {
    if (vm->pos == vm->len) {
        int rc = refill(vm);
        if (rc) return rc;
        if (vm->len == 0) {
            *c = -1;
            return 0;
        }
    }
    *c = vm->buf[vm->pos++];
    return 0;
}

static int host_is_big_endian(void) {
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 0;
}

static uint64_t le_uint(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | b[i];
    return v;
}

static uint64_t be_uint(const unsigned char *b, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | b[i];
    return v;
}

static int read_le(pvm *vm, int n, uint64_t *v) {
    unsigned char b[8];
    int rc = read_bytes(vm, b, (size_t)n);
    if (rc) return rc;
    *v = le_uint(b, n);
    return 0;
}

/* A text argument ending in '\n' (GLOBAL, INT, FLOAT, PUT, GET): at most 255 bytes. */
static int read_line(pvm *vm, char *out, size_t cap) {
    size_t n = 0;
    for (;;) {
        char c;
        int rc = read_bytes(vm, &c, 1);
        if (rc) return rc;
        if (c == '\n') break;
        if (n + 1 >= cap) return FAILV(PTRAG_E_FORMAT, "text argument longer than %zu bytes", cap - 1);
        out[n++] = c;
    }
    out[n] = '\0';
    return 0;
}

/* Reads a length-prefixed blob. The buffer grows with the data actually read,
 * so a forged huge length in a gzip stream cannot force a huge allocation. */
static int read_blob(pvm *vm, uint64_t len, char **out) {
    *out = NULL;
    if (vm->plain && len > vm->fsize - (cur_off(vm) < vm->fsize ? cur_off(vm) : vm->fsize))
        return truncated(vm, (size_t)len);
    if (len > ((uint64_t)1 << 40)) return FAILV(PTRAG_E_FORMAT, "object length %llu is implausible", (unsigned long long)len);
    size_t cap = len < (64u << 20) ? (size_t)len : (64u << 20);
    char *p = malloc(cap + 1);
    if (!p) return FAILV(PTRAG_E_NOMEM, "cannot allocate %zu bytes", cap + 1);
    size_t have = 0;
    while (have < len) {
        if (have == cap) {
            size_t ncap = cap * 2 < len ? cap * 2 : (size_t)len;
            char *q = realloc(p, ncap + 1);
            if (!q) {
                free(p);
                return FAILV(PTRAG_E_NOMEM, "cannot allocate %zu bytes", ncap + 1);
            }
            p = q;
            cap = ncap;
        }
        size_t take = cap - have;
        int rc = read_bytes(vm, p + have, take);
        if (rc) {
            free(p);
            return rc;
        }
        have += take;
    }
    p[len] = '\0';
    *out = p;
    return 0;
}

/* ---- stack, memo, objects ---------------------------------------------- */

static int new_obj(pvm *vm, int type, unsigned *id) {
    if (vm->nobj == vm->ocap) {
        size_t ncap = vm->ocap ? vm->ocap * 2 : 1024;
        pobj *o = realloc(vm->objs, ncap * sizeof *o);
        if (!o) return FAILV(PTRAG_E_NOMEM, "out of memory (%zu objects)", ncap);
        vm->objs = o;
        vm->ocap = ncap;
    }
    if (vm->nobj >= 0xffffffffu) return FAILV(PTRAG_E_FORMAT, "too many objects");
    pobj *o = &vm->objs[vm->nobj];
    memset(o, 0, sizeof *o);
    o->type = type;
    *id = (unsigned)vm->nobj++;
    return 0;
}

static int push(pvm *vm, pvalue v) {
    if (vm->sp == vm->scap) {
        size_t ncap = vm->scap ? vm->scap * 2 : 4096;
        pvalue *s = realloc(vm->stack, ncap * sizeof *s);
        if (!s) return FAILV(PTRAG_E_NOMEM, "out of memory (stack of %zu)", ncap);
        vm->stack = s;
        vm->scap = ncap;
    }
    vm->stack[vm->sp++] = v;
    return 0;
}

static int push_obj(pvm *vm, unsigned id) {
    pvalue v = {V_OBJ, id, {0}};
    return push(vm, v);
}

static size_t mark_floor(const pvm *vm) { return vm->nmarks ? vm->marks[vm->nmarks - 1] : 0; }

static int pop(pvm *vm, pvalue *v) {
    if (vm->sp <= mark_floor(vm)) return FAILV(PTRAG_E_FORMAT, "stack underflow");
    *v = vm->stack[--vm->sp];
    return 0;
}

static int top(pvm *vm, pvalue **v) {
    if (vm->sp <= mark_floor(vm)) return FAILV(PTRAG_E_FORMAT, "stack underflow");
    *v = &vm->stack[vm->sp - 1];
    return 0;
}

/* Pops the topmost mark; the items above it are stack[*start .. sp). */
static int pop_mark(pvm *vm, size_t *start) {
    if (!vm->nmarks) return FAILV(PTRAG_E_FORMAT, "no MARK on the stack");
    *start = vm->marks[--vm->nmarks];
    return 0;
}

static int memo_put(pvm *vm, uint64_t idx) {
    pvalue *v = NULL;
    int rc = top(vm, &v);
    if (rc) return rc;
    if (idx > vm->memo_cap + (1u << 24)) return FAILV(PTRAG_E_FORMAT, "memo index %llu is implausible", (unsigned long long)idx);
    if (idx >= vm->memo_cap) {
        size_t ncap = vm->memo_cap ? vm->memo_cap : 1024;
        while (ncap <= idx) ncap *= 2;
        pvalue *m = realloc(vm->memo, ncap * sizeof *m);
        if (!m) return FAILV(PTRAG_E_NOMEM, "out of memory (memo of %zu)", ncap);
        vm->memo = m;
        unsigned char *s = realloc(vm->memo_set, ncap);
        if (!s) return FAILV(PTRAG_E_NOMEM, "out of memory (memo of %zu)", ncap);
        memset(s + vm->memo_cap, 0, ncap - vm->memo_cap);
        vm->memo_set = s;
        vm->memo_cap = ncap;
    }
    vm->memo[idx] = *v;
    vm->memo_set[idx] = 1;
    return 0;
}

static int memo_get(pvm *vm, uint64_t idx) {
    if (idx >= vm->memo_cap || !vm->memo_set[idx])
        return FAILV(PTRAG_E_FORMAT, "memo entry %llu was never stored", (unsigned long long)idx);
    return push(vm, vm->memo[idx]);
}

static const char *value_kind(const pvm *vm, const pvalue *v) {
    switch (v->type) {
    case V_NONE: return "None";
    case V_BOOL: return "bool";
    case V_INT: return "int";
    case V_FLOAT: return "float";
    default: break;
    }
    switch (vm->objs[v->obj].type) {
    case O_STR: return "str";
    case O_BYTES: return "bytes";
    case O_TUPLE: return "tuple";
    case O_LIST: return "list";
    case O_DICT: return "dict";
    case O_GLOBAL: return "global";
    case O_DTYPE: return "numpy dtype";
    case O_ARRAY: return "numpy array";
    default: return "consumed bytes";
    }
}

static pobj *as_obj(pvm *vm, const pvalue *v, int type) {
    if (v->type != V_OBJ || vm->objs[v->obj].type != type) return NULL;
    return &vm->objs[v->obj];
}

/* ---- float arena ---------------------------------------------------------- */

static int arena_reserve(pvm *vm, size_t extra) {
    if (vm->arena && vm->alen + extra <= vm->acap) return 0;
    size_t ncap = vm->acap ? vm->acap : (1u << 16);
    while (ncap < vm->alen + extra) ncap *= 2;
    /* Large reallocs are mremap'ed by glibc, so growth does not copy. */
    float *a = realloc(vm->arena, ncap * sizeof *a);
    if (!a) return FAILV(PTRAG_E_NOMEM, "out of memory (%zu floats)", ncap);
    vm->arena = a;
    vm->acap = ncap;
    return 0;
}

static int number_of(const pvalue *v, double *x) {
    if (v->type == V_FLOAT) *x = v->u.f;
    else if (v->type == V_INT) *x = (double)v->u.i;
    else return -1;
    return 0;
}

/* Appends numbers to a list whose data lives in the arena. A list that is not
 * the last segment (another vector was started meanwhile) is moved to the end. */
static int list_append(pvm *vm, unsigned id, const pvalue *items, size_t n) {
    pobj *l = &vm->objs[id];
    if (l->u.seg.start + l->u.seg.len != vm->alen) {
        int rc = arena_reserve(vm, l->u.seg.len + n);
        if (rc) return rc;
        l = &vm->objs[id];
        memmove(vm->arena + vm->alen, vm->arena + l->u.seg.start, l->u.seg.len * sizeof(float));
        l->u.seg.start = vm->alen;
        vm->alen += l->u.seg.len;
    }
    int rc = arena_reserve(vm, n);
    if (rc) return rc;
    l = &vm->objs[id];
    for (size_t i = 0; i < n; i++) {
        double x;
        if (number_of(&items[i], &x) != 0)
            return FAILV(PTRAG_E_FORMAT, "list element %zu is a %s; only lists of numbers are accepted",
                         l->u.seg.len + i, value_kind(vm, &items[i]));
        vm->arena[vm->alen + i] = (float)x;
    }
    vm->alen += n;
    l->u.seg.len += n;
    return 0;
}

/* ---- whitelisted globals ------------------------------------------------- */

static int resolve_global(pvm *vm, const char *module, size_t mlen, const char *name, size_t nlen) {
    static const struct {
        const char *module, *name;
        int id;
    } allowed[] = {
        {"numpy.core.multiarray", "_reconstruct", G_RECONSTRUCT},
        {"numpy._core.multiarray", "_reconstruct", G_RECONSTRUCT},
        {"numpy", "ndarray", G_NDARRAY},
        {"numpy", "dtype", G_DTYPE},
        {"numpy.core.numeric", "_frombuffer", G_FROMBUFFER},
        {"numpy._core.numeric", "_frombuffer", G_FROMBUFFER},
        {"numpy.core.multiarray", "scalar", G_SCALAR},
        {"numpy._core.multiarray", "scalar", G_SCALAR},
        {"_codecs", "encode", G_ENCODE},
    };
    for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (strlen(allowed[i].module) == mlen && memcmp(allowed[i].module, module, mlen) == 0 &&
            strlen(allowed[i].name) == nlen && memcmp(allowed[i].name, name, nlen) == 0) {
            unsigned id = 0;
            int rc = new_obj(vm, O_GLOBAL, &id);
            if (rc) return rc;
            vm->objs[id].u.global = allowed[i].id;
            return push_obj(vm, id);
        }
    char m[160], n[160];
    printable(module, mlen, m, sizeof m);
    printable(name, nlen, n, sizeof n);
    return FAILV(PTRAG_E_FORMAT,
                 "refused global '%s.%s': only the numpy array/dtype reconstruction globals are allowed "
                 "(nothing was executed)",
                 m, n);
}

/* ---- numpy emulation ------------------------------------------------------ */

static int parse_dtype(pvm *vm, const char *s, unsigned *id) {
    int big = 0;
    if (*s == '<' || *s == '=' || *s == '|') s++;
    else if (*s == '>') {
        big = 1;
        s++;
    }
    int size = strcmp(s, "f8") == 0 ? 8 : strcmp(s, "f4") == 0 ? 4 : 0;
    if (!size) {
        char p[64];
        printable(s, strlen(s), p, sizeof p);
        return FAILV(PTRAG_E_UNSUPPORTED, "numpy dtype '%s' is not supported (only float32 'f4' and float64 'f8')", p);
    }
    int rc = new_obj(vm, O_DTYPE, id);
    if (rc) return rc;
    vm->objs[*id].u.dtype.size = size;
    vm->objs[*id].u.dtype.big = big;
    return 0;
}

/* Length of a 1-D shape tuple. */
static int shape_1d(pvm *vm, const pvalue *shape, size_t *n) {
    pobj *t = as_obj(vm, shape, O_TUPLE);
    if (!t) return FAILV(PTRAG_E_FORMAT, "array shape is a %s, expected a tuple", value_kind(vm, shape));
    if (t->u.tup.n != 1)
        return FAILV(PTRAG_E_FORMAT, "array has %zu dimensions; embedding vectors must be 1-D", t->u.tup.n);
    const pvalue *d = &t->u.tup.items[0];
    if (d->type != V_INT || d->u.i < 0 || d->u.i > (1LL << 40))
        return FAILV(PTRAG_E_FORMAT, "array shape entry is not a valid length");
    *n = (size_t)d->u.i;
    return 0;
}

/* Converts raw little/big-endian float bytes into a new arena segment and
 * frees the bytes object (arrays own their data from now on). */
static int array_fill(pvm *vm, unsigned array_id, const pvalue *data, const pvalue *dtype, size_t n) {
    pobj *dt = as_obj(vm, dtype, O_DTYPE);
    if (!dt) return FAILV(PTRAG_E_FORMAT, "array dtype is a %s, expected a numpy dtype", value_kind(vm, dtype));
    int size = dt->u.dtype.size, big = dt->u.dtype.big;
    if (data->type == V_OBJ && vm->objs[data->obj].type == O_SPENT)
        return FAILV(PTRAG_E_UNSUPPORTED, "array data bytes were already used by another array");
    pobj *b = as_obj(vm, data, O_BYTES);
    if (!b) return FAILV(PTRAG_E_FORMAT, "array data is a %s, expected raw bytes", value_kind(vm, data));
    if (b->u.buf.len != n * (size_t)size)
        return FAILV(PTRAG_E_FORMAT, "array data has %zu bytes, expected %zu (%zu values of %d bytes)",
                     b->u.buf.len, n * (size_t)size, n, size);
    int rc = arena_reserve(vm, n);
    if (rc) return rc;
    b = &vm->objs[data->obj];
    const unsigned char *p = (const unsigned char *)b->u.buf.p;
    float *dst = vm->arena + vm->alen;
    if (big != host_is_big_endian()) {
        for (size_t i = 0; i < n; i++, p += size) {
            uint64_t bits = big ? be_uint(p, size) : le_uint(p, size);
            if (size == 8) {
                double x;
                memcpy(&x, &bits, 8);
                dst[i] = (float)x;
            } else {
                uint32_t b32 = (uint32_t)bits;
                memcpy(&dst[i], &b32, 4);
            }
        }
    } else if (size == 8) {
        /* Native byte order: plain loads (the bytes may be unaligned). */
        for (size_t i = 0; i < n; i++) {
            double x;
            memcpy(&x, p + 8 * i, 8);
            dst[i] = (float)x;
        }
    } else {
        memcpy(dst, p, n * 4);
    }
    free(b->u.buf.p);
    b->u.buf.p = NULL;
    b->type = O_SPENT;
    pobj *a = &vm->objs[array_id];
    a->u.seg.start = vm->alen;
    a->u.seg.len = n;
    a->ready = 1;
    vm->alen += n;
    return 0;
}

static int tuple_args(pvm *vm, const pvalue *args, size_t want_min, size_t want_max, const char *fn, pobj **t) {
    *t = as_obj(vm, args, O_TUPLE);
    if (!*t) return FAILV(PTRAG_E_FORMAT, "arguments of %s are a %s, expected a tuple", fn, value_kind(vm, args));
    if ((*t)->u.tup.n < want_min || (*t)->u.tup.n > want_max)
        return FAILV(PTRAG_E_FORMAT, "%s called with %zu arguments", fn, (*t)->u.tup.n);
    return 0;
}

static int do_reduce(pvm *vm) {
    pvalue args = {0}, fn = {0};
    int rc = pop(vm, &args);
    if (!rc) rc = pop(vm, &fn);
    if (rc) return rc;
    pobj *g = as_obj(vm, &fn, O_GLOBAL);
    if (!g) return FAILV(PTRAG_E_FORMAT, "REDUCE on a %s: only whitelisted numpy globals may be called", value_kind(vm, &fn));
    pobj *t = NULL;
    unsigned id = 0;
    switch (g->u.global) {
    case G_RECONSTRUCT: {
        if ((rc = tuple_args(vm, &args, 3, 3, "_reconstruct", &t))) return rc;
        pobj *cls = as_obj(vm, &t->u.tup.items[0], O_GLOBAL);
        if (!cls || cls->u.global != G_NDARRAY)
            return FAILV(PTRAG_E_FORMAT, "_reconstruct may only rebuild numpy.ndarray");
        if ((rc = new_obj(vm, O_ARRAY, &id))) return rc;
        return push_obj(vm, id);
    }
    case G_DTYPE: {
        if ((rc = tuple_args(vm, &args, 1, 3, "numpy.dtype", &t))) return rc;
        pobj *s = as_obj(vm, &t->u.tup.items[0], O_STR);
        if (!s || strlen(s->u.buf.p) != s->u.buf.len) return FAILV(PTRAG_E_FORMAT, "numpy.dtype argument is not a string");
        if ((rc = parse_dtype(vm, s->u.buf.p, &id))) return rc;
        return push_obj(vm, id);
    }
    case G_FROMBUFFER: {
        if ((rc = tuple_args(vm, &args, 4, 4, "_frombuffer", &t))) return rc;
        pvalue data = t->u.tup.items[0], dtype = t->u.tup.items[1], shape = t->u.tup.items[2];
        size_t n;
        if ((rc = shape_1d(vm, &shape, &n))) return rc;
        if ((rc = new_obj(vm, O_ARRAY, &id))) return rc;
        if ((rc = array_fill(vm, id, &data, &dtype, n))) return rc;
        return push_obj(vm, id);
    }
    case G_SCALAR: {
        if ((rc = tuple_args(vm, &args, 2, 2, "numpy scalar", &t))) return rc;
        pobj *dt = as_obj(vm, &t->u.tup.items[0], O_DTYPE);
        pobj *b = as_obj(vm, &t->u.tup.items[1], O_BYTES);
        if (!dt || !b || b->u.buf.len != (size_t)dt->u.dtype.size)
            return FAILV(PTRAG_E_FORMAT, "numpy scalar is not a float32/float64 value");
        const unsigned char *p = (const unsigned char *)b->u.buf.p;
        uint64_t bits = dt->u.dtype.big ? be_uint(p, dt->u.dtype.size) : le_uint(p, dt->u.dtype.size);
        pvalue v = {V_FLOAT, 0, {0}};
        if (dt->u.dtype.size == 8) {
            memcpy(&v.u.f, &bits, 8);
        } else {
            uint32_t b32 = (uint32_t)bits;
            float f;
            memcpy(&f, &b32, 4);
            v.u.f = f;
        }
        return push(vm, v);
    }
    case G_ENCODE: {
        /* _codecs.encode(text, 'latin1'): code points < 256 become bytes. */
        if ((rc = tuple_args(vm, &args, 2, 2, "_codecs.encode", &t))) return rc;
        pobj *s = as_obj(vm, &t->u.tup.items[0], O_STR);
        pobj *enc = as_obj(vm, &t->u.tup.items[1], O_STR);
        if (!s || !enc || (strcmp(enc->u.buf.p, "latin1") != 0 && strcmp(enc->u.buf.p, "latin-1") != 0))
            return FAILV(PTRAG_E_FORMAT, "_codecs.encode is only accepted as encode(str, 'latin1')");
        size_t n = s->u.buf.len;
        char *out = malloc(n + 1);
        if (!out) return FAILV(PTRAG_E_NOMEM, "out of memory");
        const unsigned char *p = (const unsigned char *)s->u.buf.p;
        size_t j = 0;
        for (size_t i = 0; i < n; j++) {
            if (p[i] < 0x80) out[j] = (char)p[i++];
            else if ((p[i] & 0xE0) == 0xC0 && p[i] <= 0xC3 && i + 1 < n) {
                out[j] = (char)(((p[i] & 0x03) << 6) | (p[i + 1] & 0x3F));
                i += 2;
            } else {
                free(out);
                return FAILV(PTRAG_E_FORMAT, "_codecs.encode: text has characters outside latin-1");
            }
        }
        /* The text was only the carrier of these bytes: release it (a large
         * array's text would otherwise stay in the memo until the end). */
        if (n > 256) {
            free(s->u.buf.p);
            s->u.buf.p = NULL;
            s->type = O_SPENT;
        }
        if ((rc = new_obj(vm, O_BYTES, &id))) {
            free(out);
            return rc;
        }
        vm->objs[id].u.buf.p = out;
        vm->objs[id].u.buf.len = j;
        return push_obj(vm, id);
    }
    default:
        return FAILV(PTRAG_E_FORMAT, "numpy.ndarray may only be rebuilt through _reconstruct");
    }
}

static int do_build(pvm *vm) {
    pvalue state = {0}, *target = NULL;
    int rc = pop(vm, &state);
    if (!rc) rc = top(vm, &target);
    if (rc) return rc;
    pobj *t = as_obj(vm, &state, O_TUPLE);
    if (target->type == V_OBJ && vm->objs[target->obj].type == O_DTYPE) {
        /* dtype state: (version, byteorder, ...). */
        if (!t || t->u.tup.n < 2) return FAILV(PTRAG_E_FORMAT, "numpy dtype state is not a tuple");
        pobj *order = as_obj(vm, &t->u.tup.items[1], O_STR);
        if (!order || strlen(order->u.buf.p) != 1 || !strchr("<>=|", order->u.buf.p[0]))
            return FAILV(PTRAG_E_FORMAT, "numpy dtype byte order is not one of < > = |");
        vm->objs[target->obj].u.dtype.big = order->u.buf.p[0] == '>';
        return 0;
    }
    if (target->type == V_OBJ && vm->objs[target->obj].type == O_ARRAY && !vm->objs[target->obj].ready) {
        /* ndarray state: ([version,] shape, dtype, is_fortran, data). */
        if (!t || (t->u.tup.n != 5 && t->u.tup.n != 4))
            return FAILV(PTRAG_E_FORMAT, "numpy array state is not a 4- or 5-tuple");
        const pvalue *it = t->u.tup.items + (t->u.tup.n == 5);
        size_t n;
        if ((rc = shape_1d(vm, &it[0], &n))) return rc;
        unsigned id = target->obj;
        return array_fill(vm, id, &it[3], &it[1], n);
    }
    return FAILV(PTRAG_E_FORMAT, "BUILD on a %s is not allowed", value_kind(vm, target));
}

/* ---- containers ------------------------------------------------------------ */

static int make_tuple(pvm *vm, size_t start) {
    size_t n = vm->sp - start;
    unsigned id = 0;
    int rc = new_obj(vm, O_TUPLE, &id);
    if (rc) return rc;
    pvalue *items = NULL;
    if (n) {
        items = malloc(n * sizeof *items);
        if (!items) return FAILV(PTRAG_E_NOMEM, "out of memory");
        memcpy(items, vm->stack + start, n * sizeof *items);
    }
    vm->objs[id].u.tup.items = items;
    vm->objs[id].u.tup.n = n;
    vm->sp = start;
    return push_obj(vm, id);
}

static int dict_set(pvm *vm, const pvalue *target, const pvalue *kv, size_t npairs) {
    pobj *d = as_obj(vm, target, O_DICT);
    if (!d) return FAILV(PTRAG_E_FORMAT, "SETITEM on a %s, expected a dict", value_kind(vm, target));
    for (size_t i = 0; i < npairs; i++) {
        pobj *k = as_obj(vm, &kv[2 * i], O_STR);
        if (!k) return FAILV(PTRAG_E_FORMAT, "dict key is a %s; gene symbols must be strings", value_kind(vm, &kv[2 * i]));
        if (strlen(k->u.buf.p) != k->u.buf.len || k->u.buf.len == 0)
            return FAILV(PTRAG_E_FORMAT, "dict key is empty or contains a NUL character");
    }
    if (d->u.dict.n + npairs > d->u.dict.cap) {
        size_t ncap = d->u.dict.cap ? d->u.dict.cap : 64;
        while (ncap < d->u.dict.n + npairs) ncap *= 2;
        pvalue *p = realloc(d->u.dict.kv, 2 * ncap * sizeof *p);
        if (!p) return FAILV(PTRAG_E_NOMEM, "out of memory");
        d->u.dict.kv = p;
        d->u.dict.cap = ncap;
    }
    if (npairs) memcpy(d->u.dict.kv + 2 * d->u.dict.n, kv, 2 * npairs * sizeof *kv);
    d->u.dict.n += npairs;
    return 0;
}

static int utf8_valid(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (!len || i + len > n || (len == 2 && c < 0xC2)) return 0;
        for (size_t k = 1; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += len;
    }
    return 1;
}

static int push_blob(pvm *vm, uint64_t len, int type, int check_text) {
    char *p;
    int rc = read_blob(vm, len, &p);
    if (rc) return rc;
    if (check_text && !utf8_valid((const unsigned char *)p, (size_t)len)) {
        free(p);
        return FAILV(PTRAG_E_FORMAT, "string is not valid UTF-8 text");
    }
    unsigned id = 0;
    if ((rc = new_obj(vm, type, &id))) {
        free(p);
        return rc;
    }
    vm->objs[id].u.buf.p = p;
    vm->objs[id].u.buf.len = (size_t)len;
    return push_obj(vm, id);
}

static int push_int(pvm *vm, long long x) {
    pvalue v = {V_INT, 0, {.i = x}};
    return push(vm, v);
}

static int read_long_bytes(pvm *vm, uint64_t n) {
    if (n > 8) return FAILV(PTRAG_E_UNSUPPORTED, "integer of %llu bytes is too large", (unsigned long long)n);
    unsigned char b[8] = {0};
    int rc = read_bytes(vm, b, (size_t)n);
    if (rc) return rc;
    uint64_t u = le_uint(b, (int)n);
    if (n && n < 8 && (b[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    long long x;
    memcpy(&x, &u, sizeof x);
    return push_int(vm, x);
}

/* ---- the machine ------------------------------------------------------------ */

static const char *opcode_name(int c) {
    switch (c) {
    case 0x80: return "PROTO";
    case 0x95: return "FRAME";
    case '.': return "STOP";
    case '(': return "MARK";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'N': return "NONE";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'M': return "BININT2";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 'I': return "INT";
    case 'L': return "LONG";
    case 'G': return "BINFLOAT";
    case 'F': return "FLOAT";
    case 0x8c: return "SHORT_BINUNICODE";
    case 'X': return "BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 'U': return "SHORT_BINSTRING";
    case 'T': return "BINSTRING";
    case 'C': return "SHORT_BINBYTES";
    case 'B': return "BINBYTES";
    case 0x8e: return "BINBYTES8";
    case 0x96: return "BYTEARRAY8";
    case ')': return "EMPTY_TUPLE";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 't': return "TUPLE";
    case ']': return "EMPTY_LIST";
    case 'l': return "LIST";
    case 'a': return "APPEND";
    case 'e': return "APPENDS";
    case '}': return "EMPTY_DICT";
    case 'd': return "DICT";
    case 's': return "SETITEM";
    case 'u': return "SETITEMS";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 0x94: return "MEMOIZE";
    case 'p': return "PUT";
    case 'h': return "BINGET";
    case 'j': return "LONG_BINGET";
    case 'g': return "GET";
    case 'c': return "GLOBAL";
    case 0x93: return "STACK_GLOBAL";
    case 'R': return "REDUCE";
    case 'b': return "BUILD";
    case 0x81: return "NEWOBJ";
    case 0x92: return "NEWOBJ_EX";
    case 'i': return "INST";
    case 'o': return "OBJ";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 'S': return "STRING";
    case 'V': return "UNICODE";
    default: return "unknown opcode";
    }
}

static int run(pvm *vm, pvalue *result) {
    char line[256];
    uint64_t u;
    int rc = 0;
    for (;;) {
        int c;
        vm->op_off = cur_off(vm);
        vm->op_name = NULL;
        if ((rc = read_opcode(vm, &c))) return rc;
        if (c < 0) {
            vm->op_name = "end of file";
            return FAILV(PTRAG_E_FORMAT, "truncated file: it ends before the STOP opcode");
        }
        vm->op_name = opcode_name(c);
        pvalue v = {V_NONE, 0, {0}};
        switch (c) {
        case 0x80: /* PROTO */
            if ((rc = read_le(vm, 1, &u))) return rc;
            if (u < 2 || u > 5) return FAILV(PTRAG_E_UNSUPPORTED, "pickle protocol %llu (2 to 5 are supported)", (unsigned long long)u);
            break;
        case 0x95: /* FRAME: only a read-ahead hint for Python */
            if ((rc = read_le(vm, 8, &u))) return rc;
            break;
        case '.': return pop(vm, result);
        case '(':
            if (vm->nmarks == vm->mcap) {
                size_t ncap = vm->mcap ? vm->mcap * 2 : 64;
                size_t *m = realloc(vm->marks, ncap * sizeof *m);
                if (!m) return FAILV(PTRAG_E_NOMEM, "out of memory");
                vm->marks = m;
                vm->mcap = ncap;
            }
            vm->marks[vm->nmarks++] = vm->sp;
            break;
        case '0':
            if (vm->sp > mark_floor(vm)) vm->sp--;
            else if (vm->nmarks) vm->nmarks--;
            else return FAILV(PTRAG_E_FORMAT, "stack underflow");
            break;
        case '1': {
            size_t start = 0;
            if ((rc = pop_mark(vm, &start))) return rc;
            vm->sp = start;
            break;
        }
        case '2': {
            pvalue *t = NULL;
            if ((rc = top(vm, &t))) return rc;
            v = *t;
            if ((rc = push(vm, v))) return rc;
            break;
        }
        case 'N': rc = push(vm, v); break;
        case 0x88:
        case 0x89:
            v.type = V_BOOL;
            v.u.i = c == 0x88;
            rc = push(vm, v);
            break;
        case 'J':
            if ((rc = read_le(vm, 4, &u))) return rc;
            rc = push_int(vm, (long long)(int32_t)(uint32_t)u);
            break;
        case 'K':
            if ((rc = read_le(vm, 1, &u))) return rc;
            rc = push_int(vm, (long long)u);
            break;
        case 'M':
            if ((rc = read_le(vm, 2, &u))) return rc;
            rc = push_int(vm, (long long)u);
            break;
        case 0x8a:
            if ((rc = read_le(vm, 1, &u))) return rc;
            rc = read_long_bytes(vm, u);
            break;
        case 0x8b:
            if ((rc = read_le(vm, 4, &u))) return rc;
            rc = read_long_bytes(vm, u);
            break;
        case 'I':
        case 'L': {
            if ((rc = read_line(vm, line, sizeof line))) return rc;
            size_t n = strlen(line);
            if (c == 'L' && n && line[n - 1] == 'L') line[--n] = '\0';
            if (c == 'I' && (strcmp(line, "00") == 0 || strcmp(line, "01") == 0)) {
                v.type = V_BOOL;
                v.u.i = line[1] == '1';
                rc = push(vm, v);
                break;
            }
            char *end;
            long long x = strtoll(line, &end, 10);
            if (end == line || *end) return FAILV(PTRAG_E_FORMAT, "invalid integer text");
            rc = push_int(vm, x);
            break;
        }
        case 'G': {
            unsigned char b[8];
            if ((rc = read_bytes(vm, b, 8))) return rc;
            u = be_uint(b, 8);
            v.type = V_FLOAT;
            memcpy(&v.u.f, &u, 8);
            rc = push(vm, v);
            break;
        }
        case 'F': {
            if ((rc = read_line(vm, line, sizeof line))) return rc;
            char *end;
            v.type = V_FLOAT;
            v.u.f = strtod(line, &end);
            if (end == line || *end) return FAILV(PTRAG_E_FORMAT, "invalid float text");
            rc = push(vm, v);
            break;
        }
        case 0x8c:
        case 'U':
            if ((rc = read_le(vm, 1, &u))) return rc;
            rc = push_blob(vm, u, O_STR, 1);
            break;
        case 'X':
            if ((rc = read_le(vm, 4, &u))) return rc;
            rc = push_blob(vm, u, O_STR, 1);
            break;
        case 'T':
            if ((rc = read_le(vm, 4, &u))) return rc;
            if (u >> 31) return FAILV(PTRAG_E_FORMAT, "negative string length");
            rc = push_blob(vm, u, O_STR, 1);
            break;
        case 0x8d:
            if ((rc = read_le(vm, 8, &u))) return rc;
            rc = push_blob(vm, u, O_STR, 1);
            break;
        case 'C':
            if ((rc = read_le(vm, 1, &u))) return rc;
            rc = push_blob(vm, u, O_BYTES, 0);
            break;
        case 'B':
            if ((rc = read_le(vm, 4, &u))) return rc;
            rc = push_blob(vm, u, O_BYTES, 0);
            break;
        case 0x8e:
        case 0x96:
            if ((rc = read_le(vm, 8, &u))) return rc;
            rc = push_blob(vm, u, O_BYTES, 0);
            break;
        case ')': rc = make_tuple(vm, vm->sp); break;
        case 0x85:
        case 0x86:
        case 0x87: {
            size_t n = (size_t)(c - 0x84);
            if (vm->sp < mark_floor(vm) + n) return FAILV(PTRAG_E_FORMAT, "stack underflow");
            rc = make_tuple(vm, vm->sp - n);
            break;
        }
        case 't': {
            size_t start = 0;
            if ((rc = pop_mark(vm, &start))) return rc;
            rc = make_tuple(vm, start);
            break;
        }
        case ']':
        case 'l': {
            unsigned id = 0;
            size_t start = vm->sp;
            if (c == 'l' && (rc = pop_mark(vm, &start))) return rc;
            if ((rc = new_obj(vm, O_LIST, &id))) return rc;
            vm->objs[id].u.seg.start = vm->alen;
            pvalue *items = vm->sp > start ? vm->stack + start : NULL; /* see EMPTY_DICT */
            if ((rc = list_append(vm, id, items, vm->sp - start))) return rc;
            vm->sp = start;
            rc = push_obj(vm, id);
            break;
        }
        case 'a':
        case 'e': {
            size_t start = vm->sp - 1;
            if (c == 'e' && (rc = pop_mark(vm, &start))) return rc;
            if (c == 'a' && vm->sp < mark_floor(vm) + 2) return FAILV(PTRAG_E_FORMAT, "stack underflow");
            if (start == 0 || start <= mark_floor(vm)) return FAILV(PTRAG_E_FORMAT, "stack underflow");
            pvalue *target = &vm->stack[start - 1];
            if (!as_obj(vm, target, O_LIST))
                return FAILV(PTRAG_E_FORMAT, "APPEND to a %s, expected a list", value_kind(vm, target));
            if ((rc = list_append(vm, target->obj, vm->stack + start, vm->sp - start))) return rc;
            vm->sp = start;
            break;
        }
        case '}':
        case 'd': {
            unsigned id = 0;
            size_t start = vm->sp;
            if (c == 'd' && (rc = pop_mark(vm, &start))) return rc;
            if ((vm->sp - start) % 2) return FAILV(PTRAG_E_FORMAT, "odd number of items for a dict");
            if ((rc = new_obj(vm, O_DICT, &id))) return rc;
            pvalue d = {V_OBJ, id, {0}};
            /* EMPTY_DICT as the first opcode: the stack is not allocated yet
             * (NULL + 0 is undefined behaviour, found by fuzz_pickle). */
            pvalue *items = vm->sp > start ? vm->stack + start : NULL;
            if ((rc = dict_set(vm, &d, items, (vm->sp - start) / 2))) return rc;
            vm->sp = start;
            rc = push(vm, d);
            break;
        }
        case 's':
        case 'u': {
            size_t start = vm->sp - 2;
            if (c == 'u' && (rc = pop_mark(vm, &start))) return rc;
            if (c == 's' && vm->sp < mark_floor(vm) + 3) return FAILV(PTRAG_E_FORMAT, "stack underflow");
            if ((vm->sp - start) % 2) return FAILV(PTRAG_E_FORMAT, "odd number of items for SETITEMS");
            if (start == 0 || start <= mark_floor(vm)) return FAILV(PTRAG_E_FORMAT, "stack underflow");
            if ((rc = dict_set(vm, &vm->stack[start - 1], vm->stack + start, (vm->sp - start) / 2))) return rc;
            vm->sp = start;
            break;
        }
        case 'q':
            if ((rc = read_le(vm, 1, &u))) return rc;
            rc = memo_put(vm, u);
            break;
        case 'r':
            if ((rc = read_le(vm, 4, &u))) return rc;
            rc = memo_put(vm, u);
            break;
        case 0x94: rc = memo_put(vm, vm->memo_next++); break;
        case 'p':
        case 'g': {
            if ((rc = read_line(vm, line, sizeof line))) return rc;
            char *end;
            unsigned long long idx = strtoull(line, &end, 10);
            if (end == line || *end) return FAILV(PTRAG_E_FORMAT, "invalid memo index text");
            rc = c == 'p' ? memo_put(vm, idx) : memo_get(vm, idx);
            break;
        }
        case 'h':
            if ((rc = read_le(vm, 1, &u))) return rc;
            rc = memo_get(vm, u);
            break;
        case 'j':
            if ((rc = read_le(vm, 4, &u))) return rc;
            rc = memo_get(vm, u);
            break;
        case 'c': {
            char name[256];
            if ((rc = read_line(vm, line, sizeof line)) || (rc = read_line(vm, name, sizeof name))) return rc;
            rc = resolve_global(vm, line, strlen(line), name, strlen(name));
            break;
        }
        case 0x93: {
            pvalue name = {0}, module = {0};
            if ((rc = pop(vm, &name)) || (rc = pop(vm, &module))) return rc;
            pobj *n = as_obj(vm, &name, O_STR), *m = as_obj(vm, &module, O_STR);
            if (!n || !m) return FAILV(PTRAG_E_FORMAT, "STACK_GLOBAL needs two strings");
            rc = resolve_global(vm, m->u.buf.p, m->u.buf.len, n->u.buf.p, n->u.buf.len);
            break;
        }
        case 'R': rc = do_reduce(vm); break;
        case 'b': rc = do_build(vm); break;
        case 0x81: case 0x92: case 'i': case 'o': case 'P': case 'Q': case 0x82: case 0x83: case 0x84:
        case 0x8f: case 0x90: case 0x91:
            return FAILV(PTRAG_E_FORMAT, "opcode 0x%02x is not allowed: it builds objects other than "
                         "dicts, lists, strings, numbers and numpy float arrays", (unsigned)c);
        case 0x97:
        case 0x98:
            return FAILV(PTRAG_E_UNSUPPORTED, "out-of-band buffers (pickle protocol 5 buffer_callback) are not supported");
        default:
            return FAILV(PTRAG_E_FORMAT, "unknown or unsupported opcode 0x%02x", (unsigned)c);
        }
        if (rc) return rc;
    }
}

/* ---- from the final dict to a vector set ------------------------------------ */

static int seg_equal(const pvm *vm, const pobj *a, const pobj *b) {
    if (a->u.seg.len != b->u.seg.len) return 0;
    for (size_t i = 0; i < a->u.seg.len; i++)
        if (vm->arena[a->u.seg.start + i] != vm->arena[b->u.seg.start + i]) return 0;
    return 1;
}

typedef struct {
    size_t start;
    unsigned obj;
} seg_ref;

static int cmp_seg(const void *a, const void *b) {
    const seg_ref *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static int assemble(pvm *vm, const pvalue *result, ptrag_vector_set *out) {
    vm->op_name = "STOP";
    pobj *d = as_obj(vm, result, O_DICT);
    if (!d) return FAILV(PTRAG_E_FORMAT, "the pickled object is a %s, expected a dict of gene symbol -> vector", value_kind(vm, result));
    size_t npairs = d->u.dict.n;
    if (!npairs) return FAILV(PTRAG_E_FORMAT, "the dict is empty (no gene vectors)");
    const pvalue *kv = d->u.dict.kv;

    int rc = 0;
    strmap seen = {0};
    size_t *keep = malloc(npairs * sizeof *keep); /* pair index of each kept key */
    long *obj_row = malloc(vm->nobj * sizeof *obj_row);
    long *first_key = NULL;
    seg_ref *segs = NULL;
    size_t nkeep = 0, nseg = 0;
    if (!keep || !obj_row || ptrag_strmap_init(&seen, npairs) != 0) {
        rc = FAILV(PTRAG_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < vm->nobj; i++) obj_row[i] = -1;

    /* Keys: values must be vectors; a repeated key is fine only with the same vector. */
    long dim = -1;
    size_t dim_key = 0;
    for (size_t i = 0; i < npairs; i++) {
        const char *key = vm->objs[kv[2 * i].obj].u.buf.p;
        const pvalue *val = &kv[2 * i + 1];
        pobj *o = val->type == V_OBJ ? &vm->objs[val->obj] : NULL;
        if (!o || !((o->type == O_LIST) || (o->type == O_ARRAY && o->ready))) {
            rc = ptrag_fail(vm->err, PTRAG_E_FORMAT, "%s: key '%s': value is a %s, expected a numpy float array or a list of numbers",
                            vm->path, key, value_kind(vm, val));
            goto done;
        }
        long prev = ptrag_strmap_put_first(&seen, key, (long)i);
        if (prev == -2) {
            rc = FAILV(PTRAG_E_NOMEM, "out of memory");
            goto done;
        }
        if (prev != (long)i) {
            const pvalue *pv = &kv[2 * prev + 1];
            if (pv->obj != val->obj && !seg_equal(vm, &vm->objs[pv->obj], o)) {
                rc = ptrag_fail(vm->err, PTRAG_E_FORMAT, "%s: key '%s' appears twice with different vectors", vm->path, key);
                goto done;
            }
            continue;
        }
        if (dim < 0) {
            dim = (long)o->u.seg.len;
            dim_key = i;
            if (dim == 0) {
                rc = ptrag_fail(vm->err, PTRAG_E_FORMAT, "%s: key '%s': empty vector", vm->path, key);
                goto done;
            }
            if (dim > (1L << 24)) {
                rc = ptrag_fail(vm->err, PTRAG_E_FORMAT, "%s: key '%s': vector of %ld values is too long", vm->path, key, dim);
                goto done;
            }
        } else if ((long)o->u.seg.len != dim) {
            rc = ptrag_fail(vm->err, PTRAG_E_FORMAT, "%s: key '%s': vector has %zu values, expected %ld like key '%s' (ragged vectors)",
                            vm->path, key, o->u.seg.len, dim, vm->objs[kv[2 * dim_key].obj].u.buf.p);
            goto done;
        }
        keep[nkeep++] = i;
    }

    /* One row per distinct vector object, in arena order so that compaction
     * can move every row towards the front in place. */
    segs = malloc(nkeep * sizeof *segs);
    first_key = malloc(nkeep * sizeof *first_key);
    if (!segs || !first_key) {
        rc = FAILV(PTRAG_E_NOMEM, "out of memory");
        goto done;
    }
    for (size_t j = 0; j < nkeep; j++) {
        unsigned obj = kv[2 * keep[j] + 1].obj;
        if (obj_row[obj] == -1) {
            obj_row[obj] = -2;
            segs[nseg].start = vm->objs[obj].u.seg.start;
            segs[nseg].obj = obj;
            nseg++;
        }
    }
    qsort(segs, nseg, sizeof *segs, cmp_seg);
    for (size_t r = 0; r < nseg; r++) obj_row[segs[r].obj] = (long)r;
    for (size_t r = 0; r < nseg; r++) first_key[r] = -1;
    for (size_t j = 0; j < nkeep; j++) {
        long r = obj_row[kv[2 * keep[j] + 1].obj];
        if (first_key[r] < 0) first_key[r] = (long)keep[j];
    }
    for (size_t r = 0; r < nseg; r++) {
        float *dst = vm->arena + r * (size_t)dim;
        const float *src = vm->arena + segs[r].start;
        if (dst != src) memmove(dst, src, (size_t)dim * sizeof(float));
        for (long k = 0; k < dim; k++)
            if (!isfinite(dst[k])) {
                rc = ptrag_fail(vm->err, PTRAG_E_NUMERIC, "%s: key '%s': value %ld is %s", vm->path,
                                vm->objs[kv[2 * first_key[r]].obj].u.buf.p, k, isnan(dst[k]) ? "NaN" : "infinite");
                goto done;
            }
    }

    out->keys = calloc(nkeep, sizeof *out->keys);
    out->key_row = malloc(nkeep * sizeof *out->key_row);
    if (!out->keys || !out->key_row) {
        rc = FAILV(PTRAG_E_NOMEM, "out of memory");
        goto done;
    }
    out->n_keys = (long)nkeep;
    for (size_t j = 0; j < nkeep; j++) {
        out->keys[j] = strdup(vm->objs[kv[2 * keep[j]].obj].u.buf.p);
        if (!out->keys[j]) {
            rc = FAILV(PTRAG_E_NOMEM, "out of memory");
            goto done;
        }
        out->key_row[j] = obj_row[kv[2 * keep[j] + 1].obj];
    }
    size_t total = nseg * (size_t)dim;
    float *data = realloc(vm->arena, (total ? total : 1) * sizeof(float));
    out->data = data ? data : vm->arena;
    vm->arena = NULL;
    out->n_rows = (long)nseg;
    out->dim = (int)dim;

done:
    ptrag_strmap_free(&seen);
    free(keep);
    free(obj_row);
    free(first_key);
    free(segs);
    return rc;
}

static void vm_free(pvm *vm) {
    for (size_t i = 0; i < vm->nobj; i++) {
        pobj *o = &vm->objs[i];
        if (o->type == O_STR || o->type == O_BYTES) free(o->u.buf.p);
        else if (o->type == O_TUPLE) free(o->u.tup.items);
        else if (o->type == O_DICT) free(o->u.dict.kv);
    }
    free(vm->objs);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    free(vm->memo_set);
    free(vm->arena);
    free(vm->buf);
    if (vm->gz) gzclose(vm->gz);
}

int ptrag_pickle_read_vectors(const char *path, ptrag_vector_set *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    pvm vm;
    memset(&vm, 0, sizeof vm);
    vm.path = path;
    vm.err = err;
    vm.gz = gzopen(path, "rb");
    if (!vm.gz) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot open for reading", path);
    gzbuffer(vm.gz, 1u << 18);
    vm.buf = malloc(READ_CHUNK);
    if (!vm.buf) {
        vm_free(&vm);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    }
    /* Plain files bound every length by the bytes left; gzip streams grow as read. */
    int rc = refill(&vm);
    struct stat st;
    if (!rc && gzdirect(vm.gz) && stat(path, &st) == 0) {
        vm.plain = 1;
        vm.fsize = (unsigned long long)st.st_size;
    }
    if (!rc && vm.len == 0) rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: empty file (expected a pickle)", path);
    if (!rc && vm.buf[0] != 0x80)
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: byte 0: not a pickle of protocol 2 to 5 (no PROTO opcode)", path);
    pvalue result;
    if (!rc) rc = run(&vm, &result);
    if (!rc) rc = assemble(&vm, &result, out);
    vm_free(&vm);
    if (rc) ptrag_vector_set_free(out);
    return rc;
}

int ptrag_file_looks_like_pickle(const char *path) {
    gzFile gz = gzopen(path, "rb");
    if (!gz) return 0;
    unsigned char b[2];
    int n = gzread(gz, b, 2);
    gzclose(gz);
    return n == 2 && b[0] == 0x80 && b[1] <= 5;
}
