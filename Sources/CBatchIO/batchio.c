#define _GNU_SOURCE
#include "batchio.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum { MAX_BATCH = 256 };

int batchio_send(int fd, void *const *packets, size_t len, const struct sockaddr_in *const *dests, unsigned n) {
    struct mmsghdr msgs[MAX_BATCH];
    struct iovec iov[MAX_BATCH];
    unsigned done = 0;
    while (done < n) {
        unsigned k = n - done < MAX_BATCH ? n - done : MAX_BATCH;
        memset(msgs, 0, sizeof(struct mmsghdr) * k);
        for (unsigned i = 0; i < k; i++) {
            iov[i].iov_base = packets[done + i];
            iov[i].iov_len = len;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = (void *)dests[done + i];
            msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        }
        int r = sendmmsg(fd, msgs, k, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return done ? (int)done : -1;
        }
        done += (unsigned)r;
    }
    return (int)done;
}

int batchio_recv(int fd, void *buf, size_t stride, unsigned n, unsigned *lengths) {
    struct mmsghdr msgs[MAX_BATCH];
    struct iovec iov[MAX_BATCH];
    if (n > MAX_BATCH) n = MAX_BATCH;
    memset(msgs, 0, sizeof(struct mmsghdr) * n);
    for (unsigned i = 0; i < n; i++) {
        iov[i].iov_base = (char *)buf + i * stride;
        iov[i].iov_len = stride;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int r = recvmmsg(fd, msgs, n, MSG_DONTWAIT, NULL);
    if (r < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    for (int i = 0; i < r; i++) lengths[i] = msgs[i].msg_len;
    return r;
}
