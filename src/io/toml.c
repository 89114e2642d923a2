/* Reader for the TOML subset of STATE split files: see include/ptrag/toml.h.
 * A hand-written recursive-descent parser that tracks the line number so
 * every error points at the offending line. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/toml.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/fsutil.h"

typedef struct {
    const char *p;        /* next unread character */
    const char *file;
    int line;
    ptrag_error *err;
    ptrag_toml_value *root;
    ptrag_toml_value *current; /* table that key/value lines go into */
} parser;

#define FAIL(ps, code, ...) parse_fail((ps), (code), __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static int parse_fail(parser *ps, int code, const char *fmt,
                                                            ...) {
    char what[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ptrag_fail(ps->err, code, "%s: line %d: %s", ps->file, ps->line, what);
}

const char *ptrag_toml_type_name(ptrag_toml_type t) {
    switch (t) {
    case PTRAG_TOML_TABLE: return "table";
    case PTRAG_TOML_STRING: return "string";
    case PTRAG_TOML_INT: return "integer";
    case PTRAG_TOML_BOOL: return "boolean";
    case PTRAG_TOML_ARRAY: return "array";
    }
    return "?";
}

void ptrag_toml_free(ptrag_toml_value *v) {
    if (!v) return;
    for (int i = 0; i < v->n; i++) {
        ptrag_toml_free(v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

const ptrag_toml_value *ptrag_toml_get(const ptrag_toml_value *table, const char *key) {
    if (!table || table->type != PTRAG_TOML_TABLE) return NULL;
    for (int i = 0; i < table->n; i++)
        if (strcmp(table->keys[i], key) == 0) return table->items[i];
    return NULL;
}

static ptrag_toml_value *new_value(ptrag_toml_type type, int line) {
    ptrag_toml_value *v = calloc(1, sizeof *v);
    if (v) {
        v->type = type;
        v->line = line;
    }
    return v;
}

/* Appends an item (and, for tables, its key, which is taken over). */
static int append(parser *ps, ptrag_toml_value *container, char *key, ptrag_toml_value *item) {
    int n = container->n;
    /* grow in powers of two: capacity is implied by n */
    if ((n & (n - 1)) == 0) {
        int cap = n ? 2 * n : 4;
        if (n && n < 4) cap = 4;
        ptrag_toml_value **ni = realloc(container->items, (size_t)cap * sizeof *ni);
        if (!ni) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
        container->items = ni;
        if (container->type == PTRAG_TOML_TABLE) {
            char **nk = realloc(container->keys, (size_t)cap * sizeof *nk);
            if (!nk) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
            container->keys = nk;
        }
    }
    container->items[n] = item;
    if (container->type == PTRAG_TOML_TABLE) container->keys[n] = key;
    container->n = n + 1;
    return 0;
}

/* ---- lexical helpers ---- */

static void skip_blank(parser *ps) {
    while (*ps->p == ' ' || *ps->p == '\t') ps->p++;
}

static int at_newline(const parser *ps) {
    return *ps->p == '\n' || (*ps->p == '\r' && ps->p[1] == '\n');
}

static void eat_newline(parser *ps) {
    if (*ps->p == '\r') ps->p++;
    if (*ps->p == '\n') {
        ps->p++;
        ps->line++;
    }
}

static void skip_comment(parser *ps) {
    if (*ps->p == '#')
        while (*ps->p && !at_newline(ps)) ps->p++;
}

/* Blanks, comments and newlines (inside arrays). */
static void skip_blank_lines(parser *ps) {
    for (;;) {
        skip_blank(ps);
        skip_comment(ps);
        if (at_newline(ps))
            eat_newline(ps);
        else
            return;
    }
}

/* After a value or header only a comment may follow on the same line. */
static int expect_line_end(parser *ps, const char *after) {
    skip_blank(ps);
    skip_comment(ps);
    if (*ps->p == '\0') return 0;
    if (at_newline(ps)) {
        eat_newline(ps);
        return 0;
    }
    if (*ps->p == '\r') return FAIL(ps, PTRAG_E_FORMAT, "stray carriage return after %s", after);
    return FAIL(ps, PTRAG_E_FORMAT, "unexpected '%c' after %s (expected end of line or # comment)",
                *ps->p, after);
}

static int is_bare_char(char c) {
    return isalnum((unsigned char)c) || c == '_' || c == '-';
}

/* ---- strings ---- */

typedef struct {
    char *buf;
    size_t n, cap;
} strbuf;

static int sb_put(strbuf *sb, char c) {
    if (sb->n + 1 >= sb->cap) {
        size_t cap = sb->cap ? 2 * sb->cap : 32;
        char *nb = realloc(sb->buf, cap);
        if (!nb) return -1;
        sb->buf = nb;
        sb->cap = cap;
    }
    sb->buf[sb->n++] = c;
    sb->buf[sb->n] = '\0';
    return 0;
}

static int sb_put_utf8(strbuf *sb, unsigned long cp) {
    int rc = 0;
    if (cp < 0x80) {
        rc |= sb_put(sb, (char)cp);
    } else if (cp < 0x800) {
        rc |= sb_put(sb, (char)(0xC0 | (cp >> 6)));
        rc |= sb_put(sb, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        rc |= sb_put(sb, (char)(0xE0 | (cp >> 12)));
        rc |= sb_put(sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        rc |= sb_put(sb, (char)(0x80 | (cp & 0x3F)));
    } else {
        rc |= sb_put(sb, (char)(0xF0 | (cp >> 18)));
        rc |= sb_put(sb, (char)(0x80 | ((cp >> 12) & 0x3F)));
        rc |= sb_put(sb, (char)(0x80 | ((cp >> 6) & 0x3F)));
        rc |= sb_put(sb, (char)(0x80 | (cp & 0x3F)));
    }
    return rc;
}

/* Parses a basic ("...") or literal ('...') single-line string at ps->p. */
static int parse_string(parser *ps, char **out) {
    char quote = *ps->p;
    *out = NULL;
    if (ps->p[1] == quote && ps->p[2] == quote)
        return FAIL(ps, PTRAG_E_UNSUPPORTED, "multi-line strings (%c%c%c) are not supported", quote,
                    quote, quote);
    ps->p++;
    strbuf sb = {0};
    if (sb_put(&sb, 'x')) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
    sb.n = 0;
    sb.buf[0] = '\0';
    for (;;) {
        char c = *ps->p;
        if (c == '\0' || c == '\n' || c == '\r') {
            free(sb.buf);
            return FAIL(ps, PTRAG_E_FORMAT, "unterminated string (missing closing %c)", quote);
        }
        if (c == quote) {
            ps->p++;
            break;
        }
        if (c == '\\' && quote == '"') {
            char e = ps->p[1];
            const char *simple = "btnfr\"\\";
            const char *mapped = "\b\t\n\f\r\"\\";
            const char *hit = e ? strchr(simple, e) : NULL;
            if (hit) {
                if (sb_put(&sb, mapped[hit - simple])) goto nomem;
                ps->p += 2;
                continue;
            }
            if (e == 'u' || e == 'U') {
                int nd = e == 'u' ? 4 : 8;
                unsigned long cp = 0;
                for (int i = 0; i < nd; i++) {
                    char h = ps->p[2 + i];
                    if (!isxdigit((unsigned char)h)) {
                        free(sb.buf);
                        return FAIL(ps, PTRAG_E_FORMAT, "\\%c escape needs %d hex digits", e, nd);
                    }
                    cp = cp * 16 + (unsigned long)(isdigit((unsigned char)h)
                                                       ? h - '0'
                                                       : tolower((unsigned char)h) - 'a' + 10);
                }
                if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) {
                    free(sb.buf);
                    return FAIL(ps, PTRAG_E_FORMAT, "\\%c escape is not a valid character", e);
                }
                if (sb_put_utf8(&sb, cp)) goto nomem;
                ps->p += 2 + nd;
                continue;
            }
            free(sb.buf);
            return FAIL(ps, PTRAG_E_FORMAT, "unknown escape sequence \\%c in string",
                        e ? e : '0');
        }
        if ((unsigned char)c < 0x20 && c != '\t') {
            free(sb.buf);
            return FAIL(ps, PTRAG_E_FORMAT, "control character 0x%02x inside a string",
                        (unsigned)(unsigned char)c);
        }
        if (sb_put(&sb, c)) goto nomem;
        ps->p++;
    }
    *out = sb.buf;
    return 0;
nomem:
    free(sb.buf);
    return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
}

/* ---- keys ---- */

static int parse_key_part(parser *ps, char **out) {
    *out = NULL;
    if (*ps->p == '"' || *ps->p == '\'') return parse_string(ps, out);
    const char *s = ps->p;
    while (is_bare_char(*ps->p)) ps->p++;
    if (ps->p == s) {
        if (*ps->p == '\0' || at_newline(ps))
            return FAIL(ps, PTRAG_E_FORMAT, "a key was expected before the end of the line");
        return FAIL(ps, PTRAG_E_FORMAT, "unexpected '%c' where a key was expected", *ps->p);
    }
    size_t n = (size_t)(ps->p - s);
    *out = malloc(n + 1);
    if (!*out) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return 0;
}

typedef struct {
    char **parts;
    int n;
} keypath;

static void keypath_free(keypath *k) {
    for (int i = 0; i < k->n; i++) free(k->parts[i]);
    free(k->parts);
    k->parts = NULL;
    k->n = 0;
}

/* key ( '.' key )*, blanks allowed around the dots. */
static int parse_keypath(parser *ps, keypath *k) {
    k->parts = NULL;
    k->n = 0;
    for (;;) {
        skip_blank(ps);
        char *part;
        int rc = parse_key_part(ps, &part);
        if (rc) {
            keypath_free(k);
            return rc;
        }
        char **np = realloc(k->parts, (size_t)(k->n + 1) * sizeof *np);
        if (!np) {
            free(part);
            keypath_free(k);
            return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
        }
        k->parts = np;
        k->parts[k->n++] = part;
        skip_blank(ps);
        if (*ps->p != '.') return 0;
        ps->p++;
    }
}

/* Writes "a.\"b.c\"" style text of the first `n` parts, for messages. */
static void keypath_text(const keypath *k, int n, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < n && used < cap; i++) {
        const char *p = k->parts[i];
        int bare = *p != '\0';
        for (const char *c = p; *c; c++)
            if (!is_bare_char(*c)) bare = 0;
        int w = snprintf(out + used, cap - used, bare ? "%s%s" : "%s\"%s\"", i ? "." : "", p);
        if (w < 0) break;
        used += (size_t)w;
    }
}

/* Walks (creating implicit tables) the first `n` parts of `k` below `from`. */
static int descend(parser *ps, ptrag_toml_value *from, const keypath *k, int n,
                   ptrag_toml_value **out) {
    ptrag_toml_value *t = from;
    for (int i = 0; i < n; i++) {
        ptrag_toml_value *next = (ptrag_toml_value *)ptrag_toml_get(t, k->parts[i]);
        if (!next) {
            next = new_value(PTRAG_TOML_TABLE, ps->line);
            char *key = strdup(k->parts[i]);
            if (!next || !key) {
                free(next);
                free(key);
                return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
            }
            int rc = append(ps, t, key, next);
            if (rc) {
                free(next);
                free(key);
                return rc;
            }
        } else if (next->type != PTRAG_TOML_TABLE) {
            char name[512];
            keypath_text(k, i + 1, name, sizeof name);
            return FAIL(ps, PTRAG_E_FORMAT, "'%s' already holds a value of type %s (line %d), it cannot be a table", name,
                        ptrag_toml_type_name(next->type), next->line);
        }
        t = next;
    }
    *out = t;
    return 0;
}

/* ---- values ---- */

static int parse_value(parser *ps, ptrag_toml_value **out, int depth);

static int parse_integer(parser *ps, ptrag_toml_value **out) {
    const char *s = ps->p;
    int neg = 0;
    if (*ps->p == '+' || *ps->p == '-') neg = *ps->p++ == '-';
    if (ps->p[0] == '0' && (ps->p[1] == 'x' || ps->p[1] == 'o' || ps->p[1] == 'b'))
        return FAIL(ps, PTRAG_E_UNSUPPORTED, "hexadecimal/octal/binary integers are not supported");
    if (!isdigit((unsigned char)*ps->p)) {
        if (!strncmp(ps->p, "inf", 3) || !strncmp(ps->p, "nan", 3))
            return FAIL(ps, PTRAG_E_UNSUPPORTED, "floating-point values are not supported");
        return FAIL(ps, PTRAG_E_FORMAT, "'%c' is not the start of a value", *s);
    }
    unsigned long long mag = 0;
    int prev_digit = 0;
    for (;;) {
        char c = *ps->p;
        if (isdigit((unsigned char)c)) {
            unsigned d = (unsigned)(c - '0');
            if (mag > (ULLONG_MAX - d) / 10)
                return FAIL(ps, PTRAG_E_FORMAT, "integer out of range");
            mag = mag * 10 + d;
            prev_digit = 1;
            ps->p++;
        } else if (c == '_' && prev_digit && isdigit((unsigned char)ps->p[1])) {
            prev_digit = 0;
            ps->p++;
        } else {
            break;
        }
    }
    char c = *ps->p;
    if (c == '.' || c == 'e' || c == 'E')
        return FAIL(ps, PTRAG_E_UNSUPPORTED, "floating-point values are not supported");
    if (c == '-' || c == ':')
        return FAIL(ps, PTRAG_E_UNSUPPORTED, "dates and times are not supported");
    if (is_bare_char(c)) return FAIL(ps, PTRAG_E_FORMAT, "malformed integer");
    if ((!neg && mag > (unsigned long long)LLONG_MAX) ||
        (neg && mag > (unsigned long long)LLONG_MAX + 1ULL))
        return FAIL(ps, PTRAG_E_FORMAT, "integer out of range");
    ptrag_toml_value *v = new_value(PTRAG_TOML_INT, ps->line);
    if (!v) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
    v->integer = neg ? (long long)(0ULL - mag) : (long long)mag;
    *out = v;
    return 0;
}

static int parse_array(parser *ps, ptrag_toml_value **out, int depth) {
    ptrag_toml_value *arr = new_value(PTRAG_TOML_ARRAY, ps->line);
    if (!arr) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
    int start_line = ps->line;
    ps->p++; /* '[' */
    for (;;) {
        skip_blank_lines(ps);
        if (*ps->p == ']') {
            ps->p++;
            break;
        }
        if (*ps->p == '\0') {
            ptrag_toml_free(arr);
            return FAIL(ps, PTRAG_E_FORMAT, "array opened on line %d is not closed with ']'",
                        start_line);
        }
        ptrag_toml_value *item;
        int rc = parse_value(ps, &item, depth + 1);
        if (!rc) rc = append(ps, arr, NULL, item);
        if (rc) {
            ptrag_toml_free(arr);
            return rc;
        }
        skip_blank_lines(ps);
        if (*ps->p == ',') {
            ps->p++;
        } else if (*ps->p != ']') {
            ptrag_toml_free(arr);
            if (*ps->p == '\0')
                return FAIL(ps, PTRAG_E_FORMAT, "array opened on line %d is not closed with ']'",
                            start_line);
            return FAIL(ps, PTRAG_E_FORMAT, "expected ',' or ']' in array, found '%c'", *ps->p);
        }
    }
    *out = arr;
    return 0;
}

static int parse_value(parser *ps, ptrag_toml_value **out, int depth) {
    *out = NULL;
    if (depth > 64) return FAIL(ps, PTRAG_E_FORMAT, "arrays nested too deeply");
    char c = *ps->p;
    if (c == '"' || c == '\'') {
        ptrag_toml_value *v = new_value(PTRAG_TOML_STRING, ps->line);
        if (!v) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
        int rc = parse_string(ps, &v->str);
        if (rc) {
            free(v);
            return rc;
        }
        *out = v;
        return 0;
    }
    if (c == '[') return parse_array(ps, out, depth);
    if (c == '{') return FAIL(ps, PTRAG_E_UNSUPPORTED, "inline tables { ... } are not supported");
    for (int b = 0; b < 2; b++) {
        const char *word = b ? "true" : "false";
        size_t n = strlen(word);
        if (!strncmp(ps->p, word, n) && !is_bare_char(ps->p[n])) {
            ptrag_toml_value *v = new_value(PTRAG_TOML_BOOL, ps->line);
            if (!v) return FAIL(ps, PTRAG_E_NOMEM, "out of memory");
            v->boolean = b;
            ps->p += n;
            *out = v;
            return 0;
        }
    }
    if (isdigit((unsigned char)c) || c == '+' || c == '-') return parse_integer(ps, out);
    if (c == '\0' || at_newline(ps))
        return FAIL(ps, PTRAG_E_FORMAT, "a value was expected after '='");
    if (!strncmp(ps->p, "inf", 3) || !strncmp(ps->p, "nan", 3))
        return FAIL(ps, PTRAG_E_UNSUPPORTED, "floating-point values are not supported");
    return FAIL(ps, PTRAG_E_FORMAT,
                "unexpected '%c' where a value was expected (strings must be quoted)", c);
}

/* ---- lines ---- */

static int parse_header(parser *ps) {
    int line = ps->line;
    ps->p++; /* '[' */
    if (*ps->p == '[')
        return FAIL(ps, PTRAG_E_UNSUPPORTED, "arrays of tables [[...]] are not supported");
    keypath k;
    int rc = parse_keypath(ps, &k);
    if (rc) return rc;
    if (*ps->p != ']') {
        keypath_free(&k);
        if (*ps->p == '\0' || at_newline(ps))
            return FAIL(ps, PTRAG_E_FORMAT, "table header is missing its closing ']'");
        return FAIL(ps, PTRAG_E_FORMAT, "unexpected '%c' in table header", *ps->p);
    }
    ps->p++;
    ptrag_toml_value *t;
    rc = descend(ps, ps->root, &k, k.n, &t);
    if (!rc && t->defined) {
        char name[512];
        keypath_text(&k, k.n, name, sizeof name);
        rc = FAIL(ps, PTRAG_E_FORMAT, "table [%s] is defined twice (first on line %d)", name,
                  t->line);
    }
    keypath_free(&k);
    if (rc) return rc;
    t->defined = 1;
    t->line = line;
    ps->current = t;
    return expect_line_end(ps, "the table header");
}

static int parse_keyvalue(parser *ps) {
    keypath k;
    int rc = parse_keypath(ps, &k);
    if (rc) return rc;
    char name[512];
    keypath_text(&k, k.n, name, sizeof name);
    if (*ps->p != '=') {
        keypath_free(&k);
        if (*ps->p == '\0' || at_newline(ps))
            return FAIL(ps, PTRAG_E_FORMAT, "expected '=' after key '%s'", name);
        return FAIL(ps, PTRAG_E_FORMAT, "expected '=' after key '%s', found '%c'", name, *ps->p);
    }
    ps->p++;
    skip_blank(ps);
    ptrag_toml_value *t;
    rc = descend(ps, ps->current, &k, k.n - 1, &t);
    if (!rc) {
        const ptrag_toml_value *old = ptrag_toml_get(t, k.parts[k.n - 1]);
        if (old)
            rc = FAIL(ps, PTRAG_E_FORMAT, "duplicate key '%s' (first defined on line %d)", name,
                      old->line);
    }
    ptrag_toml_value *v = NULL;
    if (!rc) rc = parse_value(ps, &v, 0);
    if (!rc) {
        rc = append(ps, t, k.parts[k.n - 1], v);
        if (!rc) k.parts[k.n - 1] = NULL; /* the table owns the key now */
    }
    if (rc) ptrag_toml_free(v);
    keypath_free(&k);
    if (rc) return rc;
    return expect_line_end(ps, "the value");
}

int ptrag_toml_parse(const char *text, const char *filename, ptrag_toml_value **root,
                     ptrag_error *err) {
    *root = NULL;
    parser ps = {.p = text, .file = filename ? filename : "(toml)", .line = 1, .err = err};
    ps.root = new_value(PTRAG_TOML_TABLE, 1);
    if (!ps.root) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", ps.file);
    ps.root->defined = 1;
    ps.current = ps.root;
    /* a UTF-8 byte-order mark is allowed at the start */
    if (!strncmp(ps.p, "\xEF\xBB\xBF", 3)) ps.p += 3;
    int rc = 0;
    while (!rc) {
        skip_blank_lines(&ps);
        if (*ps.p == '\0') break;
        if (*ps.p == '[')
            rc = parse_header(&ps);
        else
            rc = parse_keyvalue(&ps);
    }
    if (rc) {
        ptrag_toml_free(ps.root);
        return rc;
    }
    *root = ps.root;
    return 0;
}

int ptrag_toml_load(const char *path, ptrag_toml_value **root, ptrag_error *err) {
    char *text;
    size_t len;
    *root = NULL;
    int rc = ptrag_read_file(path, &text, &len, err);
    if (rc) return rc;
    if (strlen(text) != len) {
        free(text);
        return ptrag_fail(err, PTRAG_E_FORMAT, "%s: contains a NUL byte (not a TOML text file)",
                          path);
    }
    rc = ptrag_toml_parse(text, path, root, err);
    free(text);
    return rc;
}
