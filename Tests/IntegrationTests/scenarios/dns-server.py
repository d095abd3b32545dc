#!/usr/bin/env python3
"""A DNS server for one test (TrunkDNSTests): answers SRV and A queries from the records on its
command line over UDP, NXDOMAIN for other names, an empty answer for other types of a known name.
  dns-server.py --port 53 --srv _sip._udp.carrier.test=10,60,5070,sip1.carrier.test --a sip1.carrier.test=127.0.0.1
Runs until killed; logs each query to stderr."""
import argparse, socket, struct, sys

p = argparse.ArgumentParser()
p.add_argument("--host", default="127.0.0.1")
p.add_argument("--port", type=int, default=53)
p.add_argument("--srv", action="append", default=[])
p.add_argument("--a", action="append", default=[])
p.add_argument("--ttl", type=int, default=60)
a = p.parse_args()
srv, addr = {}, {}
for s in a.srv:
    name, v = s.split("=", 1)
    pr, w, port, target = v.split(",")
    srv.setdefault(name.lower(), []).append((int(pr), int(w), int(port), target))
for s in a.a:
    name, ip = s.split("=", 1)
    addr.setdefault(name.lower(), []).append(ip)

def encode(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"

def decode(data, i):
    labels = []
    while data[i]:
        n = data[i]
        labels.append(data[i + 1:i + 1 + n].decode())
        i += 1 + n
    return ".".join(labels), i + 1

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((a.host, a.port))
while True:
    data, peer = sock.recvfrom(4096)
    if len(data) < 12:
        continue
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    name, i = decode(data, 12)
    qtype, qclass = struct.unpack("!HH", data[i:i + 4])
    question = data[12:i + 4]
    key = name.lower()
    answers = []
    if qtype == 33:
        for pr, w, port, target in srv.get(key, []):
            rdata = struct.pack("!HHH", pr, w, port) + encode(target)
            answers.append(encode(name) + struct.pack("!HHIH", 33, 1, a.ttl, len(rdata)) + rdata)
    elif qtype == 1:
        for ip in addr.get(key, []):
            answers.append(encode(name) + struct.pack("!HHIH", 1, 1, a.ttl, 4) + socket.inet_aton(ip))
    known = key in srv or key in addr
    rcode = 0 if known else 3
    header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
    sock.sendto(header + question + b"".join(answers), peer)
    print("query %s type %d: %d answers" % (name, qtype, len(answers)), file=sys.stderr, flush=True)
