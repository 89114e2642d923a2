/* ptrag/toml.h: placeholder, filled in by its issue. */
#ifndef PTRAG_TOML_H
#define PTRAG_TOML_H
#endif
