/* ptrag/knn.h: placeholder, filled in by its issue. */
#ifndef PTRAG_KNN_H
#define PTRAG_KNN_H
#endif
