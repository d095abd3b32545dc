#ifndef CRESOLV_H
#define CRESOLV_H

// The system resolver for SIP targets (RFC 3263; issue 20), called off the event loops: it blocks
// for as long as the resolver's timeouts say (resolv.conf).

// SRV records of `name` (e.g. "_sip._udp.carrier.example"), one "priority weight port target\n"
// line each, into `out`. Returns how many, 0 when the name has none (NXDOMAIN or no data), or -1
// when the lookup failed (`*error` set to h_errno). `*ttl` is the smallest TTL of the answers.
int cresolv_srv(const char *name, char *out, int outlen, int *ttl, int *error);

// The IPv4 and IPv6 addresses of `host` (getaddrinfo: /etc/hosts, then DNS), one per line, into
// `out`. Returns how many, or a negative getaddrinfo error (EAI_*).
int cresolv_addresses(const char *host, char *out, int outlen);

// getaddrinfo's error as text.
const char *cresolv_error(int code);

#endif
