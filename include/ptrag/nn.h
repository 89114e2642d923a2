/* ptrag/nn.h: placeholder, filled in by its issue. */
#ifndef PTRAG_NN_H
#define PTRAG_NN_H
#endif
