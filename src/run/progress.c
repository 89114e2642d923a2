/* Progress line for long loops: see include/ptrag/progress.h. */
#define _POSIX_C_SOURCE 200809L
#include "ptrag/progress.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define TTY_MIN_INTERVAL 0.1 /* seconds between redraws: cheap and flicker-free */

double ptrag_monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ptrag_format_duration(double seconds, char *buf, size_t n) {
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, n, "--");
        return;
    }
    if (seconds > 1e9) seconds = 1e9; /* keeps the integer conversion defined */
    long long s = llround(seconds);
    if (s < 60)
        snprintf(buf, n, "%llds", s);
    else if (s < 3600)
        snprintf(buf, n, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(buf, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

void ptrag_progress_format(char *buf, size_t n, long long step, long long total, double loss,
                           double steps_per_s) {
    if (!(steps_per_s > 0) || !isfinite(steps_per_s)) {
        snprintf(buf, n, "step %lld/%lld loss %.4f -- steps/s ETA --", step, total, loss);
        return;
    }
    char eta[32];
    long long left = total > step ? total - step : 0;
    ptrag_format_duration((double)left / steps_per_s, eta, sizeof eta);
    int prec = steps_per_s >= 100 ? 0 : steps_per_s >= 10 ? 1 : 2;
    snprintf(buf, n, "step %lld/%lld loss %.4f %.*f steps/s ETA %s", step, total, loss, prec,
             steps_per_s, eta);
}

void ptrag_progress_start(ptrag_progress *p, FILE *out, int is_tty, long long start_step,
                          long long total, long long every, double now) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->is_tty = is_tty;
    p->start_step = start_step;
    p->total = total;
    p->every = every < 1 ? 1 : every;
    p->t_start = now;
    p->t_drawn = -INFINITY;
}

void ptrag_progress_update(ptrag_progress *p, long long step, double loss, double now) {
    int last = step >= p->total;
    if (p->is_tty) {
        if (!last && now - p->t_drawn < TTY_MIN_INTERVAL) return;
    } else if (!last && step % p->every != 0) {
        return;
    }
    double elapsed = now - p->t_start;
    double rate = elapsed > 0 ? (double)(step - p->start_step) / elapsed : 0.0;
    char line[256];
    ptrag_progress_format(line, sizeof line, step, p->total, loss, rate);
    if (p->is_tty) {
        int len = (int)strlen(line);
        /* Pad with spaces to wipe a longer previous line. */
        fprintf(p->out, "\r%s%*s", line, p->drawn_len > len ? p->drawn_len - len : 0, "");
        p->drawn_len = len;
        p->line_open = 1;
        p->t_drawn = now;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

void ptrag_progress_message(ptrag_progress *p, const char *fmt, ...) {
    if (p->is_tty && p->line_open) {
        fprintf(p->out, "\r%*s\r", p->drawn_len, "");
        p->line_open = 0;
        p->drawn_len = 0;
        p->t_drawn = -INFINITY; /* redraw the bar at the next update */
    }
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    fflush(p->out);
}

void ptrag_progress_finish(ptrag_progress *p) {
    if (p->is_tty && p->line_open) {
        fputc('\n', p->out);
        fflush(p->out);
    }
    p->line_open = 0;
}
