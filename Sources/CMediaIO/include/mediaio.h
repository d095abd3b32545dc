#ifndef MEDIAIO_H
#define MEDIAIO_H
// The C seam of the media loops: UDP sockets read with recvmmsg into one preallocated arena per
// loop, sent with sendto, and waited on with epoll (nanosecond timeouts through epoll_pwait2).
// SIP's UDP socket is made and sent on here too (see mediaio_udp_socket): NIO reads it, but a
// datagram NIO cannot send closes NIO's channel, and with it the listener.
// Glibc's Swift module does not export recvmmsg or epoll_pwait2 (they need _GNU_SOURCE), and
// keeping sockaddr handling here keeps unsafe pointers out of the Swift media code.
#include <stddef.h>
#include <stdint.h>

// A peer's address in 24 bytes, cheap to copy and compare (a sockaddr_storage is 128).
typedef struct {
    uint16_t family;   // AF_INET or AF_INET6
    uint16_t port;     // host byte order
    uint32_t scope;    // IPv6 scope id, 0 for IPv4
    uint8_t addr[16];  // IPv4 uses the first 4 bytes
} mediaio_addr;

// Parses a numeric IPv4/IPv6 address. Returns 0, or -1 when `host` is not one.
int mediaio_addr_parse(const char *host, int port, mediaio_addr *out);
// Writes the address (without port) as text; returns 0 or -1.
int mediaio_addr_format(const mediaio_addr *a, char *buf, size_t len);

// A non-blocking UDP socket bound to host:port with SO_RCVBUF `rcvbuf` (0 leaves the default).
// Returns the descriptor, or -errno.
int mediaio_udp_bind(const char *host, int port, int rcvbuf);
// A non-blocking UDP socket for a listener: SO_REUSEADDR, SO_RCVBUF and SO_SNDBUF (0 leaves a
// buffer at its default), bound to host:port. Returns the descriptor, or -errno.
int mediaio_udp_socket(const char *host, int port, int rcvbuf, int sndbuf);
void mediaio_close(int fd);

// Sends one datagram. Returns 0, or -errno (EAGAIN when the socket's buffer is full).
int mediaio_send(int fd, const void *data, size_t len, const mediaio_addr *to);
// The same to a socket address as the caller holds it (a sockaddr of `addrlen` bytes).
int mediaio_send_sockaddr(int fd, const void *data, size_t len, const void *addr, unsigned addrlen);

// A receive arena: `count` datagrams of up to `stride` bytes, with their headers and sources,
// allocated once and reused by every read on the loop.
typedef struct mediaio_rx mediaio_rx;
mediaio_rx *mediaio_rx_new(unsigned count, unsigned stride);
void mediaio_rx_free(mediaio_rx *rx);
// Reads what is waiting on `fd` without blocking, up to the arena's count. Returns how many
// datagrams were read (0 when none), or -errno.
int mediaio_rx_read(mediaio_rx *rx, int fd);
// The i-th datagram of the last read: its bytes, length and source. `truncated` is set when the
// datagram was longer than the stride (its tail is lost).
const uint8_t *mediaio_rx_datagram(const mediaio_rx *rx, unsigned i, unsigned *length, int *truncated, mediaio_addr *from);

// epoll, level-triggered, with a 64-bit token per descriptor.
int mediaio_epoll_new(void);
int mediaio_epoll_add(int ep, int fd, uint64_t token);
int mediaio_epoll_remove(int ep, int fd);
// Waits up to timeout_ns (negative: forever). Returns how many tokens were written, or -errno.
int mediaio_epoll_wait(int ep, uint64_t *tokens, int max, int64_t timeout_ns);

// An eventfd to wake a loop from another thread.
int mediaio_eventfd_new(void);
void mediaio_eventfd_signal(int fd);
void mediaio_eventfd_drain(int fd);

// The process's descriptors (issue 20): how many are open now (entries of /proc/self/fd, or -errno),
// the soft limit (RLIMIT_NOFILE), and raising the soft limit to the hard one (returns the new soft
// limit, or -errno). A daemon short of descriptors fails half-way through calls; counted, it can
// refuse new ones first.
long mediaio_open_descriptors(void);
long mediaio_descriptor_limit(void);
long mediaio_raise_descriptor_limit(void);

#endif
