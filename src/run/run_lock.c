/* The run-directory lock: see include/ptrag/run_lock.h. */
#define _DEFAULT_SOURCE
#include "ptrag/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <unistd.h>

#include "ptrag/run_dir.h"

/* Removes "<name>.tmp.<digits>.<digits>" files (ptrag_tmp_path) left by a
 * writer that was killed: with the lock held no other process writes here. */
static void remove_stale_temps(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t || t == e->d_name) continue;
        const char *p = t + 5;
        int dots = 0, ok = *p != '\0';
        for (; *p && ok; p++) {
            if (*p == '.') dots++;
            else if (*p < '0' || *p > '9') ok = 0;
        }
        if (!ok || dots != 1) continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path) unlink(path);
    }
    closedir(d);
}

int ptrag_run_lock_acquire(const char *dir, ptrag_run_lock *lock, ptrag_error *err) {
    lock->fd = -1;
    char path[4096];
    int rc = ptrag_run_path(dir, PTRAG_RUN_LOCK, path, sizeof path, err);
    if (rc) return rc;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return ptrag_fail(err, PTRAG_E_IO, "%s: cannot create the run lock: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = '\0';
        holder[strcspn(holder, "\n")] = '\0';
        close(fd);
        if (e == EWOULDBLOCK)
            return ptrag_fail(err, PTRAG_E_STATE,
                              "%s: another ptrag process (pid %s) is using this run directory; wait for it "
                              "to finish or use another --out",
                              dir, holder[0] ? holder : "?");
        return ptrag_fail(err, PTRAG_E_IO, "%s: cannot lock: %s", path, strerror(e));
    }
    /* The holder's pid, for the message above (informative only: the flock is the lock). */
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        /* Not fatal: the lock is held all the same. */
    }
    lock->fd = fd;
    remove_stale_temps(dir);
    return 0;
}

void ptrag_run_lock_release(ptrag_run_lock *lock) {
    if (lock->fd >= 0) {
        flock(lock->fd, LOCK_UN);
        close(lock->fd);
    }
    lock->fd = -1;
}
