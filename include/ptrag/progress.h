/* Progress of a long loop (training steps), written to a FILE* the caller
 * chooses (the library itself never prints):
 *  - on a terminal (is_tty = 1): one line redrawn in place ("\r"), at most
 *    ten times a second and always at the last step:
 *        step 120/2000 loss 0.4312 12.3 steps/s ETA 2m31s
 *  - otherwise (a log file, CI): the same text as a plain line every `every`
 *    steps (when step % every == 0) and at the last step.
 * Time is passed in by the caller (seconds from any fixed origin, e.g.
 * ptrag_monotonic_seconds()), so the output is deterministic in tests. The
 * rate counts only the steps done since ptrag_progress_start, so a resumed run
 * shows its own speed. */
#ifndef PTRAG_PROGRESS_H
#define PTRAG_PROGRESS_H

#include <stddef.h>
#include <stdio.h>

typedef struct ptrag_progress {
    FILE *out;
    int is_tty;
    long long total, every, start_step;
    double t_start, t_drawn;
    int drawn_len;  /* characters of the bar on screen (tty) */
    int line_open;  /* a tty bar is drawn and not yet ended by a newline */
} ptrag_progress;

/* Seconds from an arbitrary fixed origin (CLOCK_MONOTONIC). */
double ptrag_monotonic_seconds(void);

/* A duration as "45s", "2m31s", "1h02m" or "3d04h" (rounded to the second). */
void ptrag_format_duration(double seconds, char *buf, size_t n);

/* The progress text for given numbers; steps_per_s <= 0 or not finite prints
 * "-- steps/s ETA --". */
void ptrag_progress_format(char *buf, size_t n, long long step, long long total, double loss,
                           double steps_per_s);

/* Starts reporting: the loop will run from start_step (exclusive; 0 for a new
 * run, the checkpoint's step on resume) to total. every < 1 means 1. */
void ptrag_progress_start(ptrag_progress *p, FILE *out, int is_tty, long long start_step,
                          long long total, long long every, double now);

/* Reports that `step` steps are done, the latest training loss being `loss`. */
void ptrag_progress_update(ptrag_progress *p, long long step, double loss, double now);

/* Prints one full line (e.g. "step 200: val_loss 0.3101 (best)") without
 * garbling the bar: on a tty the bar is erased first and redrawn at the next
 * update. A newline is added. */
void ptrag_progress_message(ptrag_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Ends the bar's line on a tty (prints nothing otherwise). */
void ptrag_progress_finish(ptrag_progress *p);

#endif
