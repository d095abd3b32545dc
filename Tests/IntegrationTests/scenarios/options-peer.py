#!/usr/bin/env python3
"""A carrier's SIP port for one test (TrunkDNSTests): answers OPTIONS and other requests with
200 OK, an INVITE with --invite (a status code: 503 by default, with --retry-after if given),
and nothing to an ACK; writes each request's first line to --log. Runs until killed."""
import argparse, socket

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, required=True)
p.add_argument("--log", required=True)
p.add_argument("--invite", type=int, default=503)
p.add_argument("--retry-after", type=int)
a = p.parse_args()
reasons = {503: b"Service Unavailable", 486: b"Busy Here", 500: b"Server Internal Error"}
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((a.host, a.port))
while True:
    data, peer = sock.recvfrom(65536)
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    if not head or head[0].startswith(b"SIP/2.0"):
        continue
    with open(a.log, "ab") as f:
        f.write(head[0] + b"\n")
    method = head[0].split(b" ", 1)[0]
    if method == b"ACK":
        continue
    keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower() in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq")]
    to = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower() in (b"to", b"t")]
    status = b"200 OK"
    extra = []
    if method == b"INVITE":
        status = b"%d %s" % (a.invite, reasons.get(a.invite, b"Refused"))
        to = [t + b";tag=carrier1" for t in to]
        if a.retry_after is not None:
            extra.append(b"Retry-After: %d" % a.retry_after)
    sock.sendto(b"SIP/2.0 " + status + b"\r\n" + b"\r\n".join(keep + to + extra) + b"\r\nContent-Length: 0\r\n\r\n", peer)
