#ifndef BATCHIO_H
#define BATCHIO_H
// sendmmsg/recvmmsg for relay-load: Glibc's Swift module does not export them (they need
// _GNU_SOURCE), so the benchmark's load generator reaches them through these two wrappers.
#include <stddef.h>
#include <netinet/in.h>

// Sends packets[i] (len bytes each) to dests[i], i < n, in as few calls as the kernel allows.
// Returns how many were sent, or -1.
int batchio_send(int fd, void *const *packets, size_t len, const struct sockaddr_in *const *dests, unsigned n);

// Reads up to n datagrams without waiting, the i-th into buf + i * stride; lengths[i] gets its
// size. Returns how many were read (0 when none is waiting), or -1.
int batchio_recv(int fd, void *buf, size_t stride, unsigned n, unsigned *lengths);

#endif
