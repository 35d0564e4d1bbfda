/* An LD_PRELOAD shim for tests/test_faults.py: after ODREC_EIO_AFTER successful writes (or, with ODREC_EIO_FSYNC=1,
 * syncs) to a file whose path ends with ODREC_EIO_SUFFIX, every further one fails with EIO, as a dying disk does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long budget = -2;
static const char *suffix = NULL;
static int on_sync = 0;

static int failing(int fd, int sync) {
    if (budget == -2) {
        const char *a = getenv("ODREC_EIO_AFTER");
        const char *s = getenv("ODREC_EIO_FSYNC");
        budget = a ? atol(a) : -1;
        suffix = getenv("ODREC_EIO_SUFFIX");
        on_sync = s && s[0] == '1';
    }
    if (budget < 0 || suffix == NULL || sync != on_sync) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    size_t ls = strlen(suffix);
    if ((size_t)n < ls || strcmp(path + n - ls, suffix) != 0) return 0;
    if (budget > 0) { budget--; return 0; }
    return 1;
}

#define REAL(name, ret, ...) static ret (*real)(__VA_ARGS__); if (!real) real = dlsym(RTLD_NEXT, name)

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off) {
    REAL("pwrite64", ssize_t, int, const void *, size_t, off_t);
    if (failing(fd, 0)) { errno = EIO; return -1; }
    return real(fd, buf, count, off);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off) {
    REAL("pwrite", ssize_t, int, const void *, size_t, off_t);
    if (failing(fd, 0)) { errno = EIO; return -1; }
    return real(fd, buf, count, off);
}

ssize_t write(int fd, const void *buf, size_t count) {
    REAL("write", ssize_t, int, const void *, size_t);
    if (failing(fd, 0)) { errno = EIO; return -1; }
    return real(fd, buf, count);
}

int fsync(int fd) {
    REAL("fsync", int, int);
    if (failing(fd, 1)) { errno = EIO; return -1; }
    return real(fd);
}

int fdatasync(int fd) {
    REAL("fdatasync", int, int);
    if (failing(fd, 1)) { errno = EIO; return -1; }
    return real(fd);
}
