/* ptrag/optim.h: placeholder, filled in by its issue. */
#ifndef PTRAG_OPTIM_H
#define PTRAG_OPTIM_H
#endif
