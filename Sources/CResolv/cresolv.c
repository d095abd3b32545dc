#define _GNU_SOURCE
#include "cresolv.h"
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int cresolv_srv(const char *name, char *out, int outlen, int *ttl, int *error) {
    unsigned char answer[4096];
    struct __res_state st;
    memset(&st, 0, sizeof(st));
    *ttl = 0;
    *error = 0;
    if (res_ninit(&st) != 0) { *error = -1; return -1; }
    int n = res_nquery(&st, name, ns_c_in, ns_t_srv, answer, sizeof(answer));
    int herr = st.res_h_errno;
    res_nclose(&st);
    if (n < 0) {
        if (herr == HOST_NOT_FOUND || herr == NO_DATA) return 0;
        *error = herr;
        return -1;
    }
    ns_msg msg;
    if (ns_initparse(answer, n, &msg) != 0) { *error = -2; return -1; }
    int count = 0, used = 0, minttl = -1;
    if (outlen > 0) out[0] = 0;
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) != 0) continue;
        if (ns_rr_type(rr) != ns_t_srv || ns_rr_rdlen(rr) < 7) continue;
        const unsigned char *rd = ns_rr_rdata(rr);
        unsigned priority = (rd[0] << 8) | rd[1], weight = (rd[2] << 8) | rd[3], port = (rd[4] << 8) | rd[5];
        char target[NS_MAXDNAME];
        if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), rd + 6, target, sizeof(target)) < 0) continue;
        int w = snprintf(out + used, outlen - used, "%u %u %u %s\n", priority, weight, port, target);
        if (w < 0 || w >= outlen - used) break;
        used += w;
        count++;
        if (minttl < 0 || (int)ns_rr_ttl(rr) < minttl) minttl = (int)ns_rr_ttl(rr);
    }
    *ttl = minttl < 0 ? 0 : minttl;
    return count;
}

int cresolv_addresses(const char *host, char *out, int outlen) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0) return rc < 0 ? rc : -rc;
    int count = 0, used = 0;
    if (outlen > 0) out[0] = 0;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        char text[INET6_ADDRSTRLEN];
        const void *addr = a->ai_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr
                                                    : (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr;
        if (!inet_ntop(a->ai_family, addr, text, sizeof(text))) continue;
        int w = snprintf(out + used, outlen - used, "%s\n", text);
        if (w < 0 || w >= outlen - used) break;
        used += w;
        count++;
    }
    freeaddrinfo(res);
    return count;
}

const char *cresolv_error(int code) { return gai_strerror(code); }
