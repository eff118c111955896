#define _GNU_SOURCE
#include "CSystemShim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int csystem_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int csystem_epoll_ctl(int epfd, int op, int fd, uint32_t interest) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.data.fd = fd;
    if (interest & CSYSTEM_EV_READ) ev.events |= EPOLLIN | EPOLLRDHUP;
    if (interest & CSYSTEM_EV_WRITE) ev.events |= EPOLLOUT;
    int cop = op == 0 ? EPOLL_CTL_ADD : (op == 1 ? EPOLL_CTL_MOD : EPOLL_CTL_DEL);
    return epoll_ctl(epfd, cop, fd, &ev);
}

int csystem_epoll_wait(int epfd, csystem_ready *out, int max, int timeout_ms) {
    struct epoll_event events[256];
    if (max > 256) max = 256;
    int n;
    do {
        n = epoll_wait(epfd, events, max, timeout_ms);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) {
        uint32_t e = events[i].events, r = 0;
        if (e & EPOLLIN) r |= CSYSTEM_EV_READ;
        if (e & EPOLLOUT) r |= CSYSTEM_EV_WRITE;
        if (e & EPOLLERR) r |= CSYSTEM_EV_ERROR;
        if (e & (EPOLLHUP | EPOLLRDHUP)) r |= CSYSTEM_EV_HANGUP;
        out[i].fd = events[i].data.fd;
        out[i].events = r;
    }
    return n;
}

int csystem_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int csystem_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -1;
}

void csystem_eventfd_drain(int fd) {
    uint64_t value;
    while (read(fd, &value, sizeof(value)) == sizeof(value)) {
    }
}

static int resolve(const char *host, int port, struct sockaddr_storage *addr, socklen_t *len) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || res == NULL) return -EADDRNOTAVAIL;
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int csystem_listen(const char *host, int port, int backlog, int reuse_port) {
    struct sockaddr_storage addr;
    socklen_t len;
    int rc = resolve(host, port, &addr, &len);
    if (rc < 0) return rc;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&addr, len) < 0 || listen(fd, backlog) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int csystem_local_port(int fd) {
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) return -1;
    if (addr.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    if (addr.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return -1;
}

static void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int csystem_accept(int listen_fd) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return -errno;
    set_nodelay(fd);
    return fd;
}

int csystem_connect(const char *host, int port, int timeout_ms) {
    struct sockaddr_storage addr;
    socklen_t len;
    int rc = resolve(host, port, &addr, &len);
    if (rc < 0) return rc;
    int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    set_nodelay(fd);
    if (connect(fd, (struct sockaddr *)&addr, len) < 0) {
        if (errno != EINPROGRESS) {
            int err = errno;
            close(fd);
            return -err;
        }
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, timeout_ms);
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (n <= 0) {
            close(fd);
            return -ETIMEDOUT;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr != 0) {
            close(fd);
            return -soerr;
        }
    }
    return fd;
}

ssize_t csystem_read(int fd, void *buf, size_t len) {
    ssize_t n;
    do {
        n = read(fd, buf, len);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

ssize_t csystem_write(int fd, const void *buf, size_t len) {
    ssize_t n;
    do {
        n = send(fd, buf, len, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int csystem_signalfd(const int *signals, int count) {
    sigset_t mask;
    sigemptyset(&mask);
    for (int i = 0; i < count; i++) sigaddset(&mask, signals[i]);
    if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0) return -errno;
    int fd = signalfd(-1, &mask, SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int csystem_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    if (read(fd, &info, sizeof(info)) != sizeof(info)) return -1;
    return (int)info.ssi_signo;
}

int csystem_pin_thread(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    return rc == 0 ? 0 : -rc;
}

int csystem_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -errno;
    return CPU_COUNT(&set);
}

int csystem_set_thread_nice(int nice) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    return setpriority(PRIO_PROCESS, (id_t)tid, nice) == 0 ? 0 : -errno;
}

int csystem_thread_nice(void) {
    pid_t tid = (pid_t)syscall(SYS_gettid);
    errno = 0;
    return getpriority(PRIO_PROCESS, (id_t)tid);
}

#if defined(__GLIBC__)
#include <malloc.h>
#endif

void csystem_release_free_memory(void) {
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
