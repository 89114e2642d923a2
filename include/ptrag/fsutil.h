/* File-system helpers: outputs are written to a temporary name beside the
 * target and renamed into place, so a failure never leaves a half file. */
#ifndef PTRAG_FSUTIL_H
#define PTRAG_FSUTIL_H

#include <stdio.h>
#include "ptrag/error.h"

/* Fills `tmp` (size `n`) with a unique temporary path in the same directory as
 * `path` ("<path>.tmp.<pid>.<counter>"). */
int ptrag_tmp_path(const char *path, char *tmp, size_t n, ptrag_error *err);

/* fsyncs (best effort) and renames `tmp` over `path`; on failure removes tmp. */
int ptrag_commit_tmp(const char *tmp, const char *path, ptrag_error *err);

/* Writes a whole buffer to `path` atomically (temporary file + rename). */
int ptrag_write_file_atomic(const char *path, const void *data, size_t len, ptrag_error *err);

/* Reads a whole file into a malloc'ed buffer (NUL-terminated for text use). */
int ptrag_read_file(const char *path, char **data, size_t *len, ptrag_error *err);

/* Creates a directory and its parents (like mkdir -p). */
int ptrag_mkdir_p(const char *path, ptrag_error *err);

/* 1 if the path exists, else 0. */
int ptrag_path_exists(const char *path);

/* Directory part of `path` into `dir` ("." if none). */
void ptrag_dirname(const char *path, char *dir, size_t n);

/* Joins `base_dir` and `rel` into `out` unless `rel` is absolute. */
void ptrag_path_join(const char *base_dir, const char *rel, char *out, size_t n);

#endif
