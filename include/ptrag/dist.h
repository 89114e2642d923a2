/* Processes of a data-parallel run (MPI; docs/distributed.md).
 *
 * `mpirun -np N ptrag train ...` starts N processes ("ranks"); each computes
 * the gradient of its share of every batch, and the gradients are summed over
 * the ranks before each optimiser step. This header is the only interface to
 * MPI: src/run/dist.c implements it with MPI when the build found MPI
 * (CMake option PTRAG_MPI) and the process was started by an MPI launcher;
 * otherwise every call is the one-process case (rank 0 of 1).
 *
 * Sums are reduced in a fixed order (rank 0 + rank 1 + ... in double), by
 * ptrag, not by MPI_Allreduce: MPI's reduction order depends on the
 * implementation and the message sizes, and a run must give the same bytes
 * every time. MPI only moves the bytes.
 *
 * Every call below that communicates is collective: all ranks call it, in the
 * same order. */
#ifndef PTRAG_DIST_H
#define PTRAG_DIST_H

#include <stddef.h>

#include "ptrag/error.h"

/* 1 when this build has MPI. */
int ptrag_dist_available(void);

/* Joins the MPI job when the process was started by an MPI launcher
 * (mpirun/srun set OMPI_COMM_WORLD_SIZE, PMIX_RANK or PMI_SIZE); else does
 * nothing, so a plain `ptrag` never pays MPI's start-up. Call once, from
 * main. Under a launcher in a build without MPI it fails: N copies of a
 * one-process run would each train the whole run. */
int ptrag_dist_init(int *argc, char ***argv, ptrag_error *err);
/* Leaves the MPI job (after a collective success or a shared failure). */
void ptrag_dist_finalize(void);
/* Ends every rank of the job at once, with exit status `code` (a failure
 * this rank did not share through ptrag_dist_agree: the others would wait
 * for it forever). Returns only without MPI. */
void ptrag_dist_abort(int code);

int ptrag_dist_rank(void); /* 0 .. size - 1 */
int ptrag_dist_size(void); /* 1 without MPI */

/* v[i] = scale * (sum over ranks r = 0, 1, ... of v_r[i]) on every rank, the
 * sum in double in rank order, rounded to float once: the same bytes on
 * every rank and every repetition. Bandwidth: each rank sends and receives
 * 2 (N - 1) / N x n floats (an all-to-all of chunks, each rank sums its
 * chunk, an all-gather). One rank: v *= scale. */
int ptrag_dist_sum_f32(float *v, long n, double scale, ptrag_error *err);
/* v[i] = sum over ranks in rank order (small vectors: losses, statistics). */
int ptrag_dist_sum_f64(double *v, int n, ptrag_error *err);

/* Every rank passes its own status rc. If all are 0, returns 0. Otherwise
 * every rank returns the status of the lowest failing rank and fills err with
 * its message prefixed "rank R of N: ", so all stop with the same cause. */
int ptrag_dist_agree(int rc, ptrag_error *err);
/* How many failures ptrag_dist_agree has shared so far. After a shared
 * failure every rank knows of it and can exit normally; a failure that was
 * not shared must ptrag_dist_abort, or the others wait for it forever. */
int ptrag_dist_failures_shared(void);

/* Copies n bytes of buf from rank `root` to every rank. */
int ptrag_dist_bcast(void *buf, size_t n, int root, ptrag_error *err);

#endif
