/* ptrag/split.h: placeholder, filled in by its issue. */
#ifndef PTRAG_SPLIT_H
#define PTRAG_SPLIT_H
#endif
