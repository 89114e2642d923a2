/* Gene embeddings: GenePT pickles and delimited tables, symbol resolution
 * (exact, case-insensitive, NCBI gene_info aliases) and the feature vectors
 * of perturbation labels ("A", "A+B", control).
 *
 * An embeddings object holds one float32 row per distinct vector and maps
 * every key (gene symbol as written in the file) to a row; alias keys that
 * share one object in a GenePT pickle share one row. Row order: the order in
 * which the vectors first appear in the file. */
#ifndef PTRAG_EMBEDDINGS_H
#define PTRAG_EMBEDDINGS_H

#include "ptrag/error.h"

typedef struct ptrag_embeddings ptrag_embeddings;

/* Loads a gene embedding file. The format is detected from the content (a
 * pickle starts with the PROTO opcode; a name ending in .pkl/.pickle[.gz] is
 * also read as a pickle); both may be gzip-compressed.
 *  - Pickle (protocols 2-5): dict[str -> 1-D numpy float32/float64 array, or
 *    list of numbers]. Read by a whitelist stack machine that never executes
 *    anything: any global other than numpy's array/dtype reconstruction, and
 *    any object-building opcode, is refused with file, byte offset and name.
 *  - Table: `gene<TAB>v1...vd` or `gene,v1,...,vd`, optional header row.
 * Values are stored as float32. Errors (all name the file and the key or
 * line): truncated/malformed file, refused global or opcode, empty file,
 * ragged vector lengths, NaN/Inf (PTRAG_E_NUMERIC), a key repeated with a
 * different vector (an exact repeat is accepted). */
int ptrag_embeddings_load(const char *path, ptrag_embeddings **out, ptrag_error *err);

/* Builds embeddings from memory: n rows of `dim` floats, keys[i] names row i.
 * Duplicate keys, NaN/Inf values are refused. `name` labels error messages. */
int ptrag_embeddings_create(const char *name, const char *const *keys, const float *rows, long n, int dim,
                            ptrag_embeddings **out, ptrag_error *err);

void ptrag_embeddings_free(ptrag_embeddings *e);

int ptrag_embeddings_dim(const ptrag_embeddings *e);
long ptrag_embeddings_n_rows(const ptrag_embeddings *e);
long ptrag_embeddings_n_keys(const ptrag_embeddings *e);
/* The file (or name) the embeddings came from. */
const char *ptrag_embeddings_source(const ptrag_embeddings *e);
/* Row-major n_rows x dim table; row r starts at data + r*dim. */
const float *ptrag_embeddings_data(const ptrag_embeddings *e);
const float *ptrag_embeddings_row(const ptrag_embeddings *e, long row);
/* Key i (file order) and its row. */
const char *ptrag_embeddings_key(const ptrag_embeddings *e, long key);
long ptrag_embeddings_key_row(const ptrag_embeddings *e, long key);
/* The first key (in file order) naming a row: its display name. */
const char *ptrag_embeddings_row_name(const ptrag_embeddings *e, long row);

/* Fails with "<file>: vectors have D dimensions, expected <dim>" unless the
 * embeddings have exactly `dim` dimensions. */
int ptrag_embeddings_require_dim(const ptrag_embeddings *e, int dim, ptrag_error *err);

/* Union of two embeddings of the same dimension: all keys of `primary`, then
 * the keys of `fallback` that `primary` lacks (case-sensitive). Refused with
 * both file names when the dimensions differ. Aliases are not carried over. */
int ptrag_embeddings_merge(const ptrag_embeddings *primary, const ptrag_embeddings *fallback,
                           ptrag_embeddings **out, ptrag_error *err);

/* ---- symbol resolution ------------------------------------------------- */

/* Loads an NCBI-style gene_info table (tab-separated, optional gzip, header
 * with columns `symbol` and `aliases` (|-joined), optional `entrez_id`; e.g.
 * shared/data/go_human_2022/gene_info.tsv.gz) to resolve symbols the file
 * lacks. Replaces aliases loaded before. Resolution rules: see
 * ptrag_embeddings_resolve. */
int ptrag_embeddings_load_aliases(ptrag_embeddings *e, const char *gene_info_path, ptrag_error *err);

typedef enum {
    PTRAG_MATCH_NONE = 0,  /* no vector */
    PTRAG_MATCH_EXACT = 1, /* the symbol is a key */
    PTRAG_MATCH_CASE = 2,  /* a key equal up to ASCII case */
    PTRAG_MATCH_ALIAS = 3  /* through gene_info (e.g. SARS -> SARS1) */
} ptrag_match_kind;

typedef struct ptrag_lookup_info {
    ptrag_match_kind kind;
    long key;         /* the key that matched, or -1 */
    int n_candidates; /* ALIAS: genes of gene_info that list the symbol (1 = unambiguous) */
} ptrag_lookup_info;

/* Row of a gene symbol, or -1 when it has none. Tried in order:
 *  1. exact key;  2. key equal up to ASCII case (the first such key);
 *  3. with aliases loaded: the symbol (case-insensitive) is attributed to one
 *     gene of gene_info - the gene whose official symbol it is, else, among
 *     genes listing it as an alias, preferably one whose official symbol
 *     extends it (SARS -> SARS1, SRPR -> SRPRA; not EPRS1 for QARS), then the
 *     lowest NCBI Gene ID (SARS1 rather than SARS2, the gene that held the
 *     symbol). That gene's row is its official symbol's row, else the row of
 *     one of its aliases that it owns by the same rule.
 * `info` may be NULL. */
long ptrag_embeddings_resolve(const ptrag_embeddings *e, const char *symbol, ptrag_lookup_info *info);
/* Same as ptrag_embeddings_resolve(e, symbol, NULL). */
long ptrag_embeddings_lookup(const ptrag_embeddings *e, const char *symbol);

/* ---- perturbation features --------------------------------------------- */

typedef enum {
    PTRAG_MISSING_ERROR = 0, /* fail, naming every gene without a vector */
    PTRAG_MISSING_ZERO = 1,  /* a missing gene contributes a zero vector */
    PTRAG_MISSING_DROP = 2   /* the label's row is zeroed and flagged in missing[] for the caller to drop */
} ptrag_missing_policy;

/* "error" | "zero" | "drop" (the --missing flag). */
int ptrag_missing_policy_parse(const char *text, ptrag_missing_policy *out, ptrag_error *err);
const char *ptrag_missing_policy_name(ptrag_missing_policy p);

/* Feature vectors of n perturbation labels into out (n x dim, row-major):
 *  - a label is one gene or several joined by '+' ("A+B"); its vector is the
 *    sum of its genes' vectors (spaces around names are ignored);
 *  - the control label (if not NULL), alone or as a part ("A+ctrl" in GEARS
 *    naming when control_label is "ctrl"), contributes the zero vector;
 *  - genes are resolved with ptrag_embeddings_resolve (aliases included).
 * missing[i] (may be NULL except for DROP) is set to 1 when label i has a
 * gene without a vector, else 0. ERROR fails with PTRAG_E_NOTFOUND and a
 * message listing all missing genes (distinct, first-seen order; "..." only
 * past the message size) and their count; ZERO and DROP succeed.
 * An empty label or an empty part ("A+") is PTRAG_E_ARG. */
int ptrag_embed_perturbations(const ptrag_embeddings *e, const char *const *labels, long n,
                              const char *control_label, ptrag_missing_policy policy, float *out, int *missing,
                              ptrag_error *err);

/* The distinct genes without a vector among the labels (same parsing), written
 * comma-separated into buf (truncated with "..." when it does not fit; buf
 * may be NULL when size is 0). Returns their number, or a negative status. */
long ptrag_perturbations_missing_genes(const ptrag_embeddings *e, const char *const *labels, long n,
                                       const char *control_label, char *buf, size_t size);

#endif
