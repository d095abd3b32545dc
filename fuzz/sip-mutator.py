#!/usr/bin/env python3
"""Hostile SIP for a running acdd (issue 20): whole requests and responses built from the seed
corpus (fuzz/corpus/sip) and broken the way real traffic and attackers break them (headers
duplicated, dropped, oversized; odd Via hosts and ports; bad Content-Length; binary bodies; bytes
flipped, lines cut), sent over real UDP and TCP sockets. After each batch a liveness probe asks
the daemon a clean OPTIONS over UDP and over TCP and `status` over its control socket; the run
stops at the first batch after which the daemon does not answer, and keeps that batch.

Bounded by --count messages and --seconds; the same --seed sends the same messages.
Exit status: 0 the daemon answered every probe, 1 it stopped answering (batch saved), 2 bad use,
3 the mutator itself failed.
"""

import argparse
import json
import os
import random
import re
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

ODD_HOSTS = [
    "", "0.0.0.0", "255.255.255.255", "[::1", "[::]", "[fe80::1%25lo]", "a" * 300, "-", "256.1.1.1",
    "127.0.0.1.", "xn--caf-dma.example", "\u00fcnicode.example", "%00", "1.2.3.4:5:6", "[::ffff:127.0.0.1]",
]
ODD_PORTS = ["0", "65535", "65536", "-1", "99999999999999999999", "", "5060abc", "00005060", " 5060"]
ODD_LENGTHS = ["-1", "-1000", "-99999999", "0", "99999999", "18446744073709551616", "abc", "", "1 2", "0x10", "+5"]
ODD_METHODS = ["INVITE", "invite", "FOO", "", "I" * 2000, "ACK", "PRACK", "PUBLISH", "INVITE\x00"]


def load_seeds(folder):
    seeds = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        if b"\r\n\r\n" in data and not name.startswith("keepalive") and not name.startswith("tcp-"):
            seeds.append(data)
    if not seeds:
        raise SystemExit(f"no seeds in {folder}")
    return seeds


def split(message):
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    return lines[0], lines[1:], body


def join(first, headers, body, fix_length=True):
    if fix_length:
        headers = [h for h in headers if not re.match(rb"(?i)(content-length|l)\s*:", h)]
        headers.append(b"Content-Length: %d" % len(body))
    return b"\r\n".join([first] + headers) + b"\r\n\r\n" + body


def fresh_ids(message, rng, reuse):
    """New Call-ID, tags and branch, so each message is a new transaction, unless it is meant to
    hit a dialog or transaction an earlier message made."""
    if reuse:
        return message
    token = b"%x" % rng.getrandbits(48)
    message = re.sub(rb"branch=z9hG4bK[\w.\-]*", b"branch=z9hG4bK" + token, message)
    message = re.sub(rb"(?im)^(Call-ID|i)\s*:\s*[^\r\n]*", lambda m: m.group(1) + b": fz" + token + b"@127.0.0.1", message)
    return re.sub(rb";tag=[\w.\-]+", b";tag=t" + token, message, count=1)


def mutate(seed, rng):
    first, headers, body = split(seed)
    kind = rng.randrange(14)
    fix = True
    if kind == 0 and headers:  # a header duplicated, many times
        h = rng.choice(headers)
        at = rng.randrange(len(headers) + 1)
        headers[at:at] = [h] * rng.choice([1, 2, 10, 200])
    elif kind == 1 and headers:  # headers dropped, the mandatory ones too
        for _ in range(rng.randint(1, 3)):
            if headers:
                headers.pop(rng.randrange(len(headers)))
    elif kind == 2 and headers:  # one value, or the head, oversized
        i = rng.randrange(len(headers))
        name = headers[i].split(b":", 1)[0]
        headers[i] = name + b": " + b"x" * rng.choice([1000, 8200, 70000])
        if rng.random() < 0.3:
            headers += [b"X-Pad-%d: %s" % (n, b"y" * 60) for n in range(rng.choice([130, 1000]))]
    elif kind == 3:  # odd Via hosts and ports
        host = rng.choice(ODD_HOSTS)
        port = rng.choice(ODD_PORTS)
        via = "Via: SIP/2.0/%s %s%s%s" % (
            rng.choice(["UDP", "TCP", "SCTP", "TLS", "udp", "", "UDP/extra"]), host, ":" if port or rng.random() < 0.5 else "", port)
        via += rng.choice([";branch=z9hG4bK%x" % rng.getrandbits(32), "", ";branch=", ";rport", ";received=::1", ";rport=0;branch=z9hG4bKr"])
        headers = [h for h in headers if not re.match(rb"(?i)(via|v)\s*:", h)] if rng.random() < 0.7 else headers
        headers.insert(0, via.encode("utf-8", "surrogateescape"))
    elif kind == 4:  # Content-Length that lies, twice, or is not a number
        fix = False
        headers = [h for h in headers if not re.match(rb"(?i)(content-length|l)\s*:", h)]
        for _ in range(rng.choice([1, 1, 2])):
            headers.append(b"Content-Length: " + rng.choice(ODD_LENGTHS + [str(len(body) + rng.randint(-20, 20))]).encode())
    elif kind == 5:  # a binary body
        body = bytes(rng.getrandbits(8) for _ in range(rng.choice([1, 200, 1400, 5000])))
        if rng.random() < 0.5:
            headers = [h for h in headers if not re.match(rb"(?i)(content-type|c)\s*:", h)] + [b"Content-Type: application/sdp"]
    elif kind == 6:  # the request line
        parts = first.split(b" ")
        choice = rng.randrange(5)
        if choice == 0:
            parts[0] = rng.choice(ODD_METHODS).encode()
        elif choice == 1 and len(parts) > 1:
            parts[1] = rng.choice([b"sip:" + b"9" * 5000 + b"@127.0.0.1", b"", b"sip:@", b"tel:", b"sips:100@[::1", b"<sip:100@127.0.0.1>", b"sip:100@127.0.0.1;a=%00"])
        elif choice == 2:
            parts[-1] = rng.choice([b"SIP/3.0", b"SIP/2.", b"HTTP/1.1", b""])
        elif choice == 3:
            parts = parts[:rng.randint(0, len(parts))]
        else:
            parts.insert(rng.randrange(len(parts) + 1), b"")
        first = b" ".join(parts)
    elif kind == 7:  # CSeq that disagrees or overflows
        headers = [h for h in headers if not h.lower().startswith(b"cseq")]
        headers.append(b"CSeq: " + rng.choice([b"4294967296 INVITE", b"-1 INVITE", b"1 BYE", b"1", b"abc INVITE", b"1 INVITE 2", b"0 OPTIONS"]))
    elif kind == 8 and body:  # SDP lines broken
        lines = body.split(b"\r\n")
        i = rng.randrange(len(lines))
        lines[i] = rng.choice([
            b"m=audio 65536 RTP/AVP 0", b"m=audio -1 RTP/AVP 0", b"m=audio 40000 RTP/AVP", b"c=IN IP4", b"c=IN IP6 ::1::1",
            b"a=rtpmap:101 telephone-event/0", b"a=rtpmap:0 PCMU/99999999999", b"a=fmtp:101 0-99999", b"a=ptime:0", b"a=ptime:-20",
            b"m=audio 40000/2 RTP/AVP 0", b"o=", b"v=1", b"a=rtpmap:", b"m=audio 40000 RTP/AVP " + b"0 " * 2000, b"",
        ])
        if rng.random() < 0.2:
            lines += [b"m=audio %d RTP/AVP 0" % n for n in range(300)]
        body = b"\r\n".join(lines)
    elif kind == 9:  # bytes flipped
        raw = bytearray(join(first, headers, body))
        for _ in range(rng.randint(1, 20)):
            raw[rng.randrange(len(raw))] = rng.getrandbits(8)
        return bytes(raw)
    elif kind == 10:  # cut short anywhere
        raw = join(first, headers, body)
        return raw[:rng.randrange(len(raw))]
    elif kind == 11:  # line endings: bare LF, bare CR, folded continuation lines, NULs
        raw = join(first, headers, body)
        return rng.choice([raw.replace(b"\r\n", b"\n"), raw.replace(b"\r\n", b"\r"), raw.replace(b"\r\n", b"\r\n \t", 3), raw.replace(b": ", b":\x00 ", 2)])
    elif kind == 12 and headers:  # addresses that are not addresses
        i = rng.randrange(len(headers))
        name = headers[i].split(b":", 1)[0]
        headers[i] = name + b": " + rng.choice([
            b"<sip:a@b", b"\"unclosed <sip:a@b>", b"<>", b"sip:a@b;tag=", b"<sip:a@[::1>;tag=x", b"*", b"<tel:+1;x=\"\">",
            b'Digest username="a", realm=, nonce="', b"Digest " + b"a=b," * 3000, b"<sip:a@b?Replaces=%zz>", b"1 2 3",
        ])
    else:  # a response where a request would be, or the reverse
        first = rng.choice([b"SIP/2.0 200 OK", b"SIP/2.0 999 Odd", b"SIP/2.0 -1", b"SIP/2.0 180", b"INVITE sip:1001@127.0.0.1 SIP/2.0"])
    return join(first, headers, body, fix)


class Probe:
    def __init__(self, host, port, control, timeout):
        self.host, self.port, self.control, self.timeout = host, port, control, timeout
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.serial = 0

    def options(self, transport):
        self.serial += 1
        s = socket.socket(self.family, socket.SOCK_DGRAM if transport == "UDP" else socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        try:
            if transport == "TCP":
                s.connect((self.host, self.port))
            else:
                s.bind((self.host, 0))
            local = s.getsockname()
            host = "[%s]" % local[0] if self.family == socket.AF_INET6 else local[0]
            msg = (
                "OPTIONS sip:probe@%s SIP/2.0\r\nVia: SIP/2.0/%s %s:%d;branch=z9hG4bKprobe%d.%d\r\nMax-Forwards: 70\r\n"
                "From: <sip:probe@%s>;tag=p%d\r\nTo: <sip:probe@%s>\r\nCall-ID: probe%d.%d@%s\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
                % (host, transport, host, local[1], os.getpid(), self.serial, host, self.serial, host, os.getpid(), self.serial, host)
            ).encode()
            for _ in range(3):
                if transport == "TCP":
                    s.sendall(msg)
                else:
                    s.sendto(msg, (self.host, self.port))
                deadline = time.time() + self.timeout
                while time.time() < deadline:
                    try:
                        data = s.recv(65536)
                    except socket.timeout:
                        break
                    if data.startswith(b"SIP/2.0 ") and (b"probe%d.%d" % (os.getpid(), self.serial)) in data:
                        return True
                if transport == "TCP":
                    return False
            return False
        except OSError:
            return False
        finally:
            s.close()

    def status(self):
        if not self.control:
            return True
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout * 2)
        try:
            s.connect(self.control)
            s.sendall(b'{"id":1,"command":"status"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return json.loads(data).get("ok") is True
        except (OSError, ValueError):
            return False
        finally:
            s.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5060)
    p.add_argument("--control", help="the daemon's control socket, probed with status after each batch")
    p.add_argument("--pid", type=int, help="the daemon's pid: the run fails if it exits")
    p.add_argument("--count", type=int, default=10000, help="messages to send (the bound)")
    p.add_argument("--seconds", type=float, default=300, help="longest run (the other bound)")
    p.add_argument("--batch", type=int, default=250, help="messages between liveness probes")
    p.add_argument("--rate", type=float, default=2000, help="at most this many messages a second")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--corpus", default=os.path.join(HERE, "corpus", "sip"))
    p.add_argument("--save", default="fuzz-failed", help="where the batch before a failed probe is written")
    a = p.parse_args()
    if a.count <= 0 or a.seconds <= 0 or a.batch <= 0:
        print("count, seconds and batch must be positive", file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    seeds = load_seeds(a.corpus)
    family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
    udp = socket.socket(family, socket.SOCK_DGRAM)
    udp.bind((a.host, 0))
    udp.setblocking(False)
    probe = Probe(a.host, a.port, a.control, 1.0)
    if not (probe.options("UDP") and probe.status()):
        print("the daemon does not answer before the run: nothing sent", file=sys.stderr)
        return 2
    started = time.time()
    sent = {"udp": 0, "tcp": 0}
    answers = {}
    batch = []
    batches = 0

    def drain():
        while True:
            try:
                data = udp.recv(65536)
            except (BlockingIOError, OSError):
                return
            m = re.match(rb"SIP/2\.0 (\d)\d\d", data)
            key = (m.group(1).decode() + "xx") if m else "other"
            answers[key] = answers.get(key, 0) + 1
            if data.startswith(b"SIP/2.0 200") and b"INVITE" in data.split(b"CSeq:", 1)[-1][:40]:
                hang_up(data)

    def hang_up(ok):
        # An answered INVITE: ACK it and end the call, so the run does not fill the daemon with calls.
        _, headers, _ = split(ok)
        keep = [h for h in headers if re.match(rb"(?i)(via|from|to|call-id)\s*:", h)]
        cseq = next((h for h in headers if h.lower().startswith(b"cseq")), b"CSeq: 1 INVITE")
        number = cseq.split(b":", 1)[1].split()[0]
        target = b"sip:100@" + a.host.encode()
        for method, n in ((b"ACK", number), (b"BYE", str(int(number) + 1).encode() if number.isdigit() else b"2")):
            vias = [h for h in keep if h.lower().startswith(b"via")][:1]
            rest = [h for h in keep if not h.lower().startswith(b"via")]
            msg = join(method + b" " + target + b" SIP/2.0", vias + rest + [b"CSeq: " + n + b" " + method, b"Max-Forwards: 70"], b"")
            try:
                udp.sendto(msg, (a.host, a.port))
            except OSError:
                pass

    while sent["udp"] + sent["tcp"] < a.count and time.time() - started < a.seconds:
        seed = rng.choice(seeds)
        msg = mutate(fresh_ids(seed, rng, reuse=rng.random() < 0.1), rng)
        local = udp.getsockname()
        # Most messages name our own socket in their Via, so answers come back to be counted.
        msg = msg.replace(b"127.0.0.1:5070", b"%s:%d" % (local[0].encode(), local[1]), 1)
        batch.append(msg)
        if rng.random() < 0.15:
            try:
                t = socket.create_connection((a.host, a.port), timeout=1)
                cut = rng.randrange(len(msg) + 1) if rng.random() < 0.3 else len(msg)
                t.sendall(msg[:cut])
                if rng.random() < 0.3:
                    t.sendall(rng.choice(seeds))
                t.close()
            except OSError:
                pass
            sent["tcp"] += 1
        else:
            try:
                udp.sendto(msg, (a.host, a.port))
            except OSError:
                pass  # too big for a datagram: the kernel's refusal, not the daemon's
            sent["udp"] += 1
        drain()
        total = sent["udp"] + sent["tcp"]
        ahead = started + total / a.rate - time.time()
        if ahead > 0:
            time.sleep(ahead)
        if len(batch) >= a.batch or total >= a.count:
            batches += 1
            time.sleep(0.05)
            drain()
            alive = a.pid is None or os.path.exists("/proc/%d" % a.pid)
            ok = alive and probe.options("UDP") and probe.options("TCP") and probe.status()
            if not ok:
                os.makedirs(a.save, exist_ok=True)
                for i, m in enumerate(batch):
                    with open(os.path.join(a.save, "%04d.sip" % i), "wb") as f:
                        f.write(m)
                why = "exited" if not alive else "stopped answering"
                print("the daemon %s after batch %d (%d messages in); the batch's %d messages are in %s"
                      % (why, batches, total, len(batch), a.save), file=sys.stderr)
                return 1
            batch = []
    took = time.time() - started
    print("sent %d messages (%d UDP, %d TCP) in %.1f s, %d batches, every probe answered; answers: %s"
          % (sent["udp"] + sent["tcp"], sent["udp"], sent["tcp"], took, batches,
             ", ".join("%s %d" % kv for kv in sorted(answers.items())) or "none"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # the mutator's own fault, not the daemon's: told apart by status 3
        print("sip-mutator failed: %r" % (e,), file=sys.stderr)
        sys.exit(3)
