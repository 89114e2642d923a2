/* The subset of TOML that STATE split files use, read into a small tree.
 *
 * Accepted:
 *   - comments (`#` to the end of a line, not inside strings), blank lines;
 *   - table headers `[a]`, `[a.b]`, `[a."b.c"]`, `['lit']` (bare, basic-quoted
 *     or literal-quoted key parts joined by dots);
 *   - `key = value` where key is bare (`A-Za-z0-9_-`), "quoted" or 'literal',
 *     possibly dotted (`a.b = 1` creates table a);
 *   - values: basic strings "..." (escapes \b \t \n \f \r \" \\ \uXXXX
 *     \UXXXXXXXX), literal strings '...', decimal integers (with `_`
 *     separators, optional sign), booleans true/false, arrays [v, v, ...] of
 *     those (nested arrays too) that may span lines, hold comments and end
 *     with a trailing comma.
 * Rejected with the file name and line number: anything else (floats, dates,
 * multi-line strings, inline tables, arrays of tables `[[x]]`), a key defined
 * twice, a table header given twice, a key that redefines a table or a table
 * header that redefines a key.
 *
 * The tree is read-only for callers: walk it through the fields below or with
 * ptrag_toml_get(). Keys keep the file's order. */
#ifndef PTRAG_TOML_H
#define PTRAG_TOML_H

#include "ptrag/error.h"

typedef enum {
    PTRAG_TOML_TABLE = 0,
    PTRAG_TOML_STRING = 1,
    PTRAG_TOML_INT = 2,
    PTRAG_TOML_BOOL = 3,
    PTRAG_TOML_ARRAY = 4
} ptrag_toml_type;

typedef struct ptrag_toml_value ptrag_toml_value;

struct ptrag_toml_value {
    ptrag_toml_type type;
    int line;               /* 1-based line where the value (or table header) starts */
    char *str;              /* STRING: NUL-terminated UTF-8 (may not contain NUL) */
    long long integer;      /* INT */
    int boolean;            /* BOOL: 0 or 1 */
    int n;                  /* ARRAY: items; TABLE: keys */
    ptrag_toml_value **items; /* ARRAY items, TABLE values (parallel to keys) */
    char **keys;            /* TABLE keys, in file order */
    int defined;            /* TABLE: 1 once it had its own header or key/value; internal */
};

/* Parses `text` (NUL-terminated). `filename` is used in error messages only.
 * On success *root is a TABLE owned by the caller (ptrag_toml_free). */
int ptrag_toml_parse(const char *text, const char *filename, ptrag_toml_value **root,
                     ptrag_error *err);

/* Reads and parses a file. */
int ptrag_toml_load(const char *path, ptrag_toml_value **root, ptrag_error *err);

void ptrag_toml_free(ptrag_toml_value *v);

/* Value of `key` (one key, not a dotted path) in a TABLE, or NULL. */
const ptrag_toml_value *ptrag_toml_get(const ptrag_toml_value *table, const char *key);

/* Name of a value type ("table", "string", ...), for messages. */
const char *ptrag_toml_type_name(ptrag_toml_type t);

#endif
