#ifndef CSYSTEMSHIM_H
#define CSYSTEMSHIM_H

// The few Linux calls the event loop needs whose C types Swift imports badly (epoll_event is packed on
// x86_64) or that are macros, forwarded under the csystem_ prefix.

#include <stdint.h>
#include <sys/types.h>

/// Readiness reported for one file descriptor.
typedef struct {
    int32_t fd;
    uint32_t events;
} csystem_ready;

enum {
    CSYSTEM_EV_READ = 1,
    CSYSTEM_EV_WRITE = 2,
    CSYSTEM_EV_ERROR = 4,
    CSYSTEM_EV_HANGUP = 8,
};

/// epoll_create1(EPOLL_CLOEXEC).
int csystem_epoll_create(void);
/// Adds (op 0), modifies (op 1) or removes (op 2) fd; interest is CSYSTEM_EV_READ | CSYSTEM_EV_WRITE.
int csystem_epoll_ctl(int epfd, int op, int fd, uint32_t interest);
/// Waits up to timeout_ms (-1 forever) and fills at most max entries; returns the count or -1 (errno).
int csystem_epoll_wait(int epfd, csystem_ready *out, int max, int timeout_ms);
/// eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC).
int csystem_eventfd(void);
/// Adds one to an eventfd counter.
int csystem_eventfd_signal(int fd);
/// Resets an eventfd counter.
void csystem_eventfd_drain(int fd);

/// A non-blocking TCP listener on host:port (IPv4 or IPv6 literal or "localhost"), with SO_REUSEADDR and,
/// when reuse_port is set, SO_REUSEPORT. Returns the fd or -errno.
int csystem_listen(const char *host, int port, int backlog, int reuse_port);
/// The port a socket is bound to, or -1.
int csystem_local_port(int fd);
/// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC, then TCP_NODELAY. Returns the fd or -errno.
int csystem_accept(int listen_fd);
/// A non-blocking TCP connect to host:port with TCP_NODELAY, waiting at most timeout_ms for it to complete.
/// Returns the fd or -errno.
int csystem_connect(const char *host, int port, int timeout_ms);
/// read/write that return -errno on failure instead of setting errno.
ssize_t csystem_read(int fd, void *buf, size_t len);
ssize_t csystem_write(int fd, const void *buf, size_t len);
/// Signals blocked with pthread_sigmask and read through a signalfd; returns the fd or -errno.
int csystem_signalfd(const int *signals, int count);
/// Reads one signal number from a signalfd, or -1.
int csystem_signalfd_read(int fd);
/// Pins the calling thread to one CPU; returns 0 or -errno.
int csystem_pin_thread(int cpu);
/// Sets the nice value of the calling thread only (Linux schedules threads, not processes); returns 0 or -errno.
int csystem_set_thread_nice(int nice);
/// The nice value of the calling thread.
int csystem_thread_nice(void);
/// CPUs the calling thread may run on (its affinity mask, as `taskset` sets it), or -errno.
int csystem_affinity_cpu_count(void);

/// Returns the heap pages free() kept to the system (glibc's malloc_trim(0)); a no-op elsewhere. Called after
/// a large load whose scratch memory is gone, so resident size is what the process keeps.
void csystem_release_free_memory(void);

#endif
