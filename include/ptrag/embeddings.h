/* ptrag/embeddings.h: placeholder, filled in by its issue. */
#ifndef PTRAG_EMBEDDINGS_H
#define PTRAG_EMBEDDINGS_H
#endif
