// The floor for bench/relay-load.sh: the least a relay can do on this machine. 2N UDP sockets on
// BASE, BASE+2, ...; socket 2k and 2k+1 are one call's two legs. Each socket remembers the address
// its packets come from (symmetric RTP) and what it reads goes out of its partner to the
// partner's address, unchanged: recvmmsg/sendmmsg over epoll on one thread, no parsing, no
// re-heading, no allocation. Built only for the benchmark.
//
//   cc -O2 -o relay relay.c && ./relay 20000 1000
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BATCH = 16, SLOT = 2048 };

struct leg {
    int fd;
    int latched;
    struct sockaddr_in peer;
};

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: relay BASE_PORT CALLS\n");
        return 2;
    }
    int base = atoi(argv[1]), calls = atoi(argv[2]);
    int n = calls * 2;
    struct leg *legs = calloc((size_t)n, sizeof *legs);
    int ep = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int size = 1 << 20;
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)(base + 2 * i))};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
            fprintf(stderr, "relay: cannot bind port %d: %s\n", base + 2 * i, strerror(errno));
            return 1;
        }
        legs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    printf("ready\n");
    fflush(stdout);

    static char buf[BATCH][SLOT];
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec iov[BATCH], oiov[BATCH];
    struct sockaddr_in from[BATCH];
    struct epoll_event events[256];
    for (;;) {
        int ready = epoll_wait(ep, events, 256, -1);
        for (int e = 0; e < ready; e++) {
            int i = (int)events[e].data.u32;
            struct leg *me = &legs[i], *other = &legs[i ^ 1];
            for (;;) {
                memset(in, 0, sizeof in);
                for (int k = 0; k < BATCH; k++) {
                    iov[k].iov_base = buf[k];
                    iov[k].iov_len = SLOT;
                    in[k].msg_hdr.msg_iov = &iov[k];
                    in[k].msg_hdr.msg_iovlen = 1;
                    in[k].msg_hdr.msg_name = &from[k];
                    in[k].msg_hdr.msg_namelen = sizeof from[k];
                }
                int got = recvmmsg(me->fd, in, BATCH, MSG_DONTWAIT, NULL);
                if (got <= 0) break;
                me->peer = from[got - 1];
                me->latched = 1;
                if (!other->latched) continue;
                memset(out, 0, sizeof(struct mmsghdr) * (size_t)got);
                for (int k = 0; k < got; k++) {
                    oiov[k].iov_base = buf[k];
                    oiov[k].iov_len = in[k].msg_len;
                    out[k].msg_hdr.msg_iov = &oiov[k];
                    out[k].msg_hdr.msg_iovlen = 1;
                    out[k].msg_hdr.msg_name = &other->peer;
                    out[k].msg_hdr.msg_namelen = sizeof other->peer;
                }
                sendmmsg(other->fd, out, (unsigned)got, 0);
                if (got < BATCH) break;
            }
        }
    }
}
