#!/usr/bin/env python3
"""A carrier's SIP port for one test (TrunkDNSTests): answers every request with 200 OK and
writes each request's first line to --log. Runs until killed."""
import argparse, socket

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, required=True)
p.add_argument("--log", required=True)
a = p.parse_args()
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((a.host, a.port))
while True:
    data, peer = sock.recvfrom(65536)
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    if not head or head[0].startswith(b"SIP/2.0"):
        continue
    with open(a.log, "ab") as f:
        f.write(head[0] + b"\n")
    keep = [h for h in head[1:] if h.split(b":", 1)[0].strip().lower() in (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")]
    sock.sendto(b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n", peer)
