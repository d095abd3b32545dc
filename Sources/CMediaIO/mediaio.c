#define _GNU_SOURCE
#include "mediaio.h"
#include <arpa/inet.h>
#include <dirent.h>
#include <sys/resource.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static socklen_t to_sockaddr(const mediaio_addr *a, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(a->port);
        s->sin6_scope_id = a->scope;
        memcpy(&s->sin6_addr, a->addr, 16);
        return sizeof(*s);
    }
    struct sockaddr_in *s = (struct sockaddr_in *)ss;
    s->sin_family = AF_INET;
    s->sin_port = htons(a->port);
    memcpy(&s->sin_addr, a->addr, 4);
    return sizeof(*s);
}

static void from_sockaddr(const struct sockaddr_storage *ss, mediaio_addr *a) {
    memset(a, 0, sizeof(*a));
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        a->family = AF_INET6;
        a->port = ntohs(s->sin6_port);
        a->scope = s->sin6_scope_id;
        memcpy(a->addr, &s->sin6_addr, 16);
    } else {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        a->family = AF_INET;
        a->port = ntohs(s->sin_port);
        memcpy(a->addr, &s->sin_addr, 4);
    }
}

int mediaio_addr_parse(const char *host, int port, mediaio_addr *out) {
    memset(out, 0, sizeof(*out));
    out->port = (uint16_t)port;
    if (inet_pton(AF_INET, host, out->addr) == 1) {
        out->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, out->addr) == 1) {
        out->family = AF_INET6;
        return 0;
    }
    return -1;
}

int mediaio_addr_format(const mediaio_addr *a, char *buf, size_t len) {
    int family = a->family == AF_INET6 ? AF_INET6 : AF_INET;
    return inet_ntop(family, a->addr, buf, (socklen_t)len) ? 0 : -1;
}

int mediaio_udp_bind(const char *host, int port, int rcvbuf) {
    mediaio_addr a;
    if (mediaio_addr_parse(host, port, &a) != 0) return -EINVAL;
    int fd = socket(a.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    struct sockaddr_storage ss;
    socklen_t n = to_sockaddr(&a, &ss);
    if (bind(fd, (struct sockaddr *)&ss, n) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int mediaio_udp_socket(const char *host, int port, int rcvbuf, int sndbuf) {
    mediaio_addr a;
    if (mediaio_addr_parse(host, port, &a) != 0) return -EINVAL;
    int fd = socket(a.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    if (sndbuf > 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    struct sockaddr_storage ss;
    socklen_t n = to_sockaddr(&a, &ss);
    if (bind(fd, (struct sockaddr *)&ss, n) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

void mediaio_close(int fd) { close(fd); }

int mediaio_send(int fd, const void *data, size_t len, const mediaio_addr *to) {
    struct sockaddr_storage ss;
    socklen_t n = to_sockaddr(to, &ss);
    for (;;) {
        ssize_t r = sendto(fd, data, len, MSG_DONTWAIT, (struct sockaddr *)&ss, n);
        if (r >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

int mediaio_send_sockaddr(int fd, const void *data, size_t len, const void *addr, unsigned addrlen) {
    for (;;) {
        ssize_t r = sendto(fd, data, len, MSG_DONTWAIT, (const struct sockaddr *)addr, (socklen_t)addrlen);
        if (r >= 0) return 0;
        if (errno != EINTR) return -errno;
    }
}

struct mediaio_rx {
    unsigned count, stride;
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *from;
    uint8_t *data;
};

mediaio_rx *mediaio_rx_new(unsigned count, unsigned stride) {
    mediaio_rx *rx = calloc(1, sizeof(*rx));
    if (!rx) return NULL;
    rx->count = count;
    rx->stride = stride;
    rx->msgs = calloc(count, sizeof(struct mmsghdr));
    rx->iov = calloc(count, sizeof(struct iovec));
    rx->from = calloc(count, sizeof(struct sockaddr_storage));
    rx->data = malloc((size_t)count * stride);
    if (!rx->msgs || !rx->iov || !rx->from || !rx->data) {
        mediaio_rx_free(rx);
        return NULL;
    }
    for (unsigned i = 0; i < count; i++) {
        rx->iov[i].iov_base = rx->data + (size_t)i * stride;
        rx->iov[i].iov_len = stride;
        rx->msgs[i].msg_hdr.msg_iov = &rx->iov[i];
        rx->msgs[i].msg_hdr.msg_iovlen = 1;
        rx->msgs[i].msg_hdr.msg_name = &rx->from[i];
    }
    return rx;
}

void mediaio_rx_free(mediaio_rx *rx) {
    if (!rx) return;
    free(rx->msgs);
    free(rx->iov);
    free(rx->from);
    free(rx->data);
    free(rx);
}

int mediaio_rx_read(mediaio_rx *rx, int fd) {
    // The kernel overwrites each header's name length and flags: reset them, nothing else.
    for (unsigned i = 0; i < rx->count; i++) {
        rx->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
        rx->msgs[i].msg_hdr.msg_flags = 0;
    }
    for (;;) {
        int r = recvmmsg(fd, rx->msgs, rx->count, MSG_DONTWAIT, NULL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    }
}

const uint8_t *mediaio_rx_datagram(const mediaio_rx *rx, unsigned i, unsigned *length, int *truncated, mediaio_addr *from) {
    *length = rx->msgs[i].msg_len;
    *truncated = (rx->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
    from_sockaddr(&rx->from[i], from);
    return rx->data + (size_t)i * rx->stride;
}

int mediaio_epoll_new(void) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    return ep < 0 ? -errno : ep;
}

int mediaio_epoll_add(int ep, int fd, uint64_t token) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = token};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 : -errno;
}

int mediaio_epoll_remove(int ep, int fd) {
    return epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL) == 0 ? 0 : -errno;
}

int mediaio_epoll_wait(int ep, uint64_t *tokens, int max, int64_t timeout_ns) {
    enum { MAX_EVENTS = 256 };
    struct epoll_event events[MAX_EVENTS];
    if (max > MAX_EVENTS) max = MAX_EVENTS;
    struct timespec ts, *t = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        t = &ts;
    }
    int r = epoll_pwait2(ep, events, max, t, NULL);
    if (r < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < r; i++) tokens[i] = events[i].data.u64;
    return r;
}

int mediaio_eventfd_new(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

void mediaio_eventfd_signal(int fd) {
    uint64_t one = 1;
    ssize_t r;
    do { r = write(fd, &one, sizeof(one)); } while (r < 0 && errno == EINTR);
}

void mediaio_eventfd_drain(int fd) {
    uint64_t n;
    ssize_t r;
    do { r = read(fd, &n, sizeof(n)); } while (r < 0 && errno == EINTR);
}

long mediaio_open_descriptors(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -errno;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') n++;
    }
    closedir(d);
    // The directory's own descriptor was open while it was read.
    return n > 0 ? n - 1 : 0;
}

long mediaio_descriptor_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -errno;
    return r.rlim_cur == RLIM_INFINITY ? (long)1 << 30 : (long)r.rlim_cur;
}

long mediaio_raise_descriptor_limit(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -errno;
    if (r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) != 0) return -errno;
    }
    return mediaio_descriptor_limit();
}
