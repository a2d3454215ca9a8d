/*
 * diskfault: an LD_PRELOAD library that makes one directory behave like a slow or a full disk,
 * for isowatch's fault suite (issue 7). Never linked into a product; the harness builds it with
 *
 *     cc -shared -fPIC -O2 -o libdiskfault.so diskfault.c -ldl
 *
 * and starts the service with LD_PRELOAD=libdiskfault.so and
 *
 *     ISOWATCH_DISKFAULT_DIR      files opened below this directory are affected
 *     ISOWATCH_DISKFAULT_CONTROL  a file holding the mode, one line:
 *                                   healthy
 *                                   slow WRITE_MS SYNC_MS
 *                                   full
 *
 * The control file is checked (one stat) on every affected call and re-read when its inode,
 * size or modification time changed, so a mode written atomically (write a temporary file,
 * rename it over the control file) takes effect on the next write or sync. A missing or
 * unreadable control file means healthy.
 *
 * SQLite (and so GRDB) does its file I/O through libc's open/write/pwrite64/fdatasync, which
 * is what this interposes. Memory-mapped I/O (SQLite's -shm index) cannot be intercepted and
 * is left alone.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* Descriptors at or above this number are never tracked: they pass through unaffected. */
#define TRACKED_FD_LIMIT 65536

enum mode_kind { MODE_HEALTHY, MODE_SLOW, MODE_FULL };

struct mode {
    enum mode_kind kind;
    long write_ms;
    long sync_ms;
};

static atomic_uchar tracked[TRACKED_FD_LIMIT];

static pthread_once_t resolved_once = PTHREAD_ONCE_INIT;
static int (*real_open)(const char *, int, ...);
static int (*real_open64)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_openat64)(int, const char *, int, ...);
static int (*real_open_2)(const char *, int);
static int (*real_open64_2)(const char *, int);
static int (*real_openat_2)(int, const char *, int);
static int (*real_openat64_2)(int, const char *, int);
static int (*real_creat)(const char *, mode_t);
static int (*real_creat64)(const char *, mode_t);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_fallocate)(int, int, off_t, off_t);
static int (*real_fallocate64)(int, int, off64_t, off64_t);
static int (*real_posix_fallocate)(int, off_t, off_t);
static int (*real_posix_fallocate64)(int, off64_t, off64_t);
static int (*real_ftruncate)(int, off_t);
static int (*real_ftruncate64)(int, off64_t);

static void resolve(void) {
    real_open = dlsym(RTLD_NEXT, "open");
    real_open64 = dlsym(RTLD_NEXT, "open64");
    real_openat = dlsym(RTLD_NEXT, "openat");
    real_openat64 = dlsym(RTLD_NEXT, "openat64");
    real_open_2 = dlsym(RTLD_NEXT, "__open_2");
    real_open64_2 = dlsym(RTLD_NEXT, "__open64_2");
    real_openat_2 = dlsym(RTLD_NEXT, "__openat_2");
    real_openat64_2 = dlsym(RTLD_NEXT, "__openat64_2");
    real_creat = dlsym(RTLD_NEXT, "creat");
    real_creat64 = dlsym(RTLD_NEXT, "creat64");
    real_close = dlsym(RTLD_NEXT, "close");
    real_write = dlsym(RTLD_NEXT, "write");
    real_pwrite = dlsym(RTLD_NEXT, "pwrite");
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_writev = dlsym(RTLD_NEXT, "writev");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_fallocate = dlsym(RTLD_NEXT, "fallocate");
    real_fallocate64 = dlsym(RTLD_NEXT, "fallocate64");
    real_posix_fallocate = dlsym(RTLD_NEXT, "posix_fallocate");
    real_posix_fallocate64 = dlsym(RTLD_NEXT, "posix_fallocate64");
    real_ftruncate = dlsym(RTLD_NEXT, "ftruncate");
    real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
}

/* Another library's constructor may open files before ours runs: resolve on first use. */
static void ensure_resolved(void) {
    pthread_once(&resolved_once, resolve);
}

/* ---- the control file ---- */

static pthread_mutex_t control_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mode current_mode = {MODE_HEALTHY, 0, 0};
static int control_seen = 0;
static dev_t control_dev;
static ino_t control_ino;
static off_t control_size;
static struct timespec control_mtime;

static struct mode parse_mode(const char *text) {
    struct mode parsed = {MODE_HEALTHY, 0, 0};
    long write_ms = 0, sync_ms = 0;
    if (sscanf(text, " slow %ld %ld", &write_ms, &sync_ms) == 2 && write_ms >= 0 && sync_ms >= 0) {
        parsed.kind = MODE_SLOW;
        parsed.write_ms = write_ms;
        parsed.sync_ms = sync_ms;
    } else if (strncmp(text + strspn(text, " \t\n"), "full", 4) == 0) {
        parsed.kind = MODE_FULL;
    }
    return parsed;
}

static struct mode read_mode(void) {
    const char *path = getenv("ISOWATCH_DISKFAULT_CONTROL");
    struct mode result = {MODE_HEALTHY, 0, 0};
    if (path == NULL || *path == '\0') return result;
    int saved_errno = errno;
    struct stat info;
    pthread_mutex_lock(&control_lock);
    if (stat(path, &info) != 0) {
        control_seen = 0;
        current_mode = result;
    } else if (!control_seen || info.st_dev != control_dev || info.st_ino != control_ino ||
               info.st_size != control_size || info.st_mtim.tv_sec != control_mtime.tv_sec ||
               info.st_mtim.tv_nsec != control_mtime.tv_nsec) {
        char text[128] = {0};
        /* The real open: the control file must never be tracked or slowed itself. */
        int fd = real_open(path, O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t got = read(fd, text, sizeof text - 1);
            real_close(fd);
            if (got > 0) text[got] = '\0';
            current_mode = parse_mode(text);
        } else {
            current_mode = result;
        }
        control_seen = 1;
        control_dev = info.st_dev;
        control_ino = info.st_ino;
        control_size = info.st_size;
        control_mtime = info.st_mtim;
    }
    result = current_mode;
    pthread_mutex_unlock(&control_lock);
    errno = saved_errno;
    return result;
}

/* ---- which descriptors are below the fault directory ---- */

static pthread_mutex_t prefix_lock = PTHREAD_MUTEX_INITIALIZER;
static char prefix[PATH_MAX];
static size_t prefix_length = 0;

/* The directory may be created after the process starts: resolve it until it exists. */
static size_t fault_prefix(char *out) {
    pthread_mutex_lock(&prefix_lock);
    if (prefix_length == 0) {
        const char *directory = getenv("ISOWATCH_DISKFAULT_DIR");
        if (directory != NULL && *directory != '\0' && realpath(directory, prefix) != NULL) {
            prefix_length = strlen(prefix);
            while (prefix_length > 1 && prefix[prefix_length - 1] == '/') prefix[--prefix_length] = '\0';
        }
    }
    size_t length = prefix_length;
    if (length > 0) memcpy(out, prefix, length + 1);
    pthread_mutex_unlock(&prefix_lock);
    return length;
}

/* Records whether a freshly opened descriptor is below the directory. The kernel's own name for
 * it (/proc/self/fd) already resolves relative paths, openat's directory descriptor and
 * symbolic links, so it is compared rather than the path the caller passed. Every open sets the
 * flag, so a number reused after a close we did not see is corrected on its next open. */
static void note_opened(int fd) {
    if (fd < 0 || fd >= TRACKED_FD_LIMIT) return;
    int saved_errno = errno;
    char wanted[PATH_MAX];
    size_t length = fault_prefix(wanted);
    unsigned char below = 0;
    if (length > 0) {
        char link[64];
        char actual[PATH_MAX];
        snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t got = readlink(link, actual, sizeof actual - 1);
        if (got > 0) {
            actual[got] = '\0';
            below = strncmp(actual, wanted, length) == 0 &&
                    (actual[length] == '/' || actual[length] == '\0' || (length == 1 && wanted[0] == '/'));
        }
    }
    atomic_store_explicit(&tracked[fd], below, memory_order_release);
    errno = saved_errno;
}

static int is_tracked(int fd) {
    return fd >= 0 && fd < TRACKED_FD_LIMIT && atomic_load_explicit(&tracked[fd], memory_order_acquire);
}

static mode_t variadic_mode(int flags, va_list arguments) {
    /* The mode argument exists only when the call creates a file. */
    if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) return (mode_t)va_arg(arguments, int);
    return 0;
}

/* ---- the faults ---- */

static void sleep_milliseconds(long milliseconds) {
    if (milliseconds <= 0) return;
    int saved_errno = errno;
    struct timespec remaining = {milliseconds / 1000, (milliseconds % 1000) * 1000000L};
    while (nanosleep(&remaining, &remaining) != 0 && errno == EINTR) {
    }
    errno = saved_errno;
}

/* Returns nonzero when the write must fail with ENOSPC. A full ext4 or tmpfs still accepts an
 * overwrite of blocks already allocated; this refuses every write, the harsher case, because
 * SQLite rewrites its WAL from the start after a checkpoint and would otherwise hide the full
 * disk from the commits the fault suite wants to see fail. TmpfsVolume gives the kernel's own
 * semantics. */
static int before_write(int fd, size_t bytes) {
    if (!is_tracked(fd)) return 0;
    struct mode mode = read_mode();
    if (mode.kind == MODE_SLOW) {
        sleep_milliseconds(mode.write_ms);
    } else if (mode.kind == MODE_FULL && bytes > 0) {
        errno = ENOSPC;
        return 1;
    }
    return 0;
}

static void before_sync(int fd) {
    if (!is_tracked(fd)) return;
    struct mode mode = read_mode();
    if (mode.kind == MODE_SLOW) sleep_milliseconds(mode.sync_ms);
}

static int refuses_allocation(int fd) {
    return is_tracked(fd) && read_mode().kind == MODE_FULL;
}

/* ---- interposed: opening and closing ---- */

int open(const char *path, int flags, ...) {
    ensure_resolved();
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = variadic_mode(flags, arguments);
    va_end(arguments);
    int fd = real_open(path, flags, mode);
    note_opened(fd);
    return fd;
}

int open64(const char *path, int flags, ...) {
    ensure_resolved();
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = variadic_mode(flags, arguments);
    va_end(arguments);
    int fd = real_open64(path, flags, mode);
    note_opened(fd);
    return fd;
}

int openat(int directory, const char *path, int flags, ...) {
    ensure_resolved();
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = variadic_mode(flags, arguments);
    va_end(arguments);
    int fd = real_openat(directory, path, flags, mode);
    note_opened(fd);
    return fd;
}

int openat64(int directory, const char *path, int flags, ...) {
    ensure_resolved();
    va_list arguments;
    va_start(arguments, flags);
    mode_t mode = variadic_mode(flags, arguments);
    va_end(arguments);
    int fd = real_openat64(directory, path, flags, mode);
    note_opened(fd);
    return fd;
}

/* What _FORTIFY_SOURCE builds call for open(path, flags) without a mode. */
int __open_2(const char *path, int flags) {
    ensure_resolved();
    int fd = real_open_2(path, flags);
    note_opened(fd);
    return fd;
}

int __open64_2(const char *path, int flags) {
    ensure_resolved();
    int fd = real_open64_2(path, flags);
    note_opened(fd);
    return fd;
}

int __openat_2(int directory, const char *path, int flags) {
    ensure_resolved();
    int fd = real_openat_2(directory, path, flags);
    note_opened(fd);
    return fd;
}

int __openat64_2(int directory, const char *path, int flags) {
    ensure_resolved();
    int fd = real_openat64_2(directory, path, flags);
    note_opened(fd);
    return fd;
}

int creat(const char *path, mode_t mode) {
    ensure_resolved();
    int fd = real_creat(path, mode);
    note_opened(fd);
    return fd;
}

int creat64(const char *path, mode_t mode) {
    ensure_resolved();
    int fd = real_creat64(path, mode);
    note_opened(fd);
    return fd;
}

int close(int fd) {
    ensure_resolved();
    /* Cleared before the real close: afterwards the number may already belong to another open. */
    if (fd >= 0 && fd < TRACKED_FD_LIMIT) atomic_store_explicit(&tracked[fd], 0, memory_order_release);
    return real_close(fd);
}

/* ---- interposed: writing, syncing, allocating ---- */

ssize_t write(int fd, const void *buffer, size_t count) {
    ensure_resolved();
    if (before_write(fd, count)) return -1;
    return real_write(fd, buffer, count);
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    ensure_resolved();
    if (before_write(fd, count)) return -1;
    return real_pwrite(fd, buffer, count, offset);
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off64_t offset) {
    ensure_resolved();
    if (before_write(fd, count)) return -1;
    return real_pwrite64(fd, buffer, count, offset);
}

ssize_t writev(int fd, const struct iovec *vectors, int vector_count) {
    ensure_resolved();
    size_t bytes = 0;
    for (int index = 0; index < vector_count; index++) bytes += vectors[index].iov_len;
    if (before_write(fd, bytes)) return -1;
    return real_writev(fd, vectors, vector_count);
}

int fsync(int fd) {
    ensure_resolved();
    before_sync(fd);
    return real_fsync(fd);
}

int fdatasync(int fd) {
    ensure_resolved();
    before_sync(fd);
    return real_fdatasync(fd);
}

/* Punching a hole frees blocks, which a full disk allows; every other fallocate reserves them. */
int fallocate(int fd, int mode, off_t offset, off_t length) {
    ensure_resolved();
    if (!(mode & FALLOC_FL_PUNCH_HOLE) && refuses_allocation(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_fallocate(fd, mode, offset, length);
}

int fallocate64(int fd, int mode, off64_t offset, off64_t length) {
    ensure_resolved();
    if (!(mode & FALLOC_FL_PUNCH_HOLE) && refuses_allocation(fd)) {
        errno = ENOSPC;
        return -1;
    }
    return real_fallocate64(fd, mode, offset, length);
}

/* posix_fallocate reports its error as the return value and leaves errno alone. */
int posix_fallocate(int fd, off_t offset, off_t length) {
    ensure_resolved();
    if (refuses_allocation(fd)) return ENOSPC;
    return real_posix_fallocate(fd, offset, length);
}

int posix_fallocate64(int fd, off64_t offset, off64_t length) {
    ensure_resolved();
    if (refuses_allocation(fd)) return ENOSPC;
    return real_posix_fallocate64(fd, offset, length);
}

/* Growing a file is refused too, like every write. ext4 and tmpfs would let it succeed (they
 * extend sparsely and allocate only when the new range is written), so this is, like the
 * write rule above, the harsher side of a full disk. Shrinking always works. */
static int ftruncate_grows(int fd, off64_t length) {
    struct stat64 info;
    int saved_errno = errno;
    int grows = fstat64(fd, &info) == 0 && length > info.st_size;
    errno = saved_errno;
    return grows;
}

int ftruncate(int fd, off_t length) {
    ensure_resolved();
    if (refuses_allocation(fd) && ftruncate_grows(fd, length)) {
        errno = ENOSPC;
        return -1;
    }
    return real_ftruncate(fd, length);
}

int ftruncate64(int fd, off64_t length) {
    ensure_resolved();
    if (refuses_allocation(fd) && ftruncate_grows(fd, length)) {
        errno = ENOSPC;
        return -1;
    }
    return real_ftruncate64(fd, length);
}
