/* ptrag/h5ad.h: placeholder, filled in by its issue. */
#ifndef PTRAG_H5AD_H
#define PTRAG_H5AD_H
#endif
