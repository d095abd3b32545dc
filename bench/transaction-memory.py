#!/usr/bin/env python3
"""Memory a lingering SIP transaction holds in acdd (issue 5: memory under churn).

Starts acdd (ACDD_BIN, default .build/release/acdd) on the default configuration in a temporary
state directory, sends N OPTIONS requests with distinct branches from one UDP socket on loopback
(each leaves a non-INVITE server transaction in Completed for Timer J, 32 s), and reports the RSS
growth per transaction, read from /proc while they all still wait. Usage:

    bench/transaction-memory.py [N] [ROUNDS]
"""
import json, os, socket, subprocess, sys, tempfile, time

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 2
BIN = os.environ.get("ACDD_BIN", ".build/release/acdd")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def control(sock_path, command):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sock_path)
    s.sendall(json.dumps({"id": 1, "command": command}).encode() + b"\n")
    data = b""
    while not data.endswith(b"\n"):
        data += s.recv(65536)
    s.close()
    return json.loads(data)["result"]


def options(port, i, local_port):
    return (
        f"OPTIONS sip:100@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch=z9hG4bK-bench-{i}-{time.time_ns()}\r\n"
        f"From: sipp <sip:sipp@127.0.0.1:{local_port}>;tag=bench{i}\r\n"
        f"To: <sip:100@127.0.0.1:{port}>\r\n"
        f"Call-ID: {i}-bench@127.0.0.1\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Contact: sip:sipp@127.0.0.1:{local_port}\r\n"
        "Max-Forwards: 70\r\n"
        "Subject: Performance Test\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def run_once():
    state = tempfile.mkdtemp(prefix="acdd-txmem-")
    port = 25060 + os.getpid() % 1000
    proc = subprocess.Popen(
        [BIN, "--config", f"{ROOT}/config/acd.toml", "--set", f"paths.state={state}", "--set", f"sip.listen=127.0.0.1:{port}",
         "--set", "security.messages_per_second=1000000", "--set", "security.burst=1000000", "--set", "media.rtp_ports=40000-40999",
         "--set", "crm.enabled=false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock_path = f"{state}/acdd.sock"
    for _ in range(200):
        if os.path.exists(sock_path):
            break
        time.sleep(0.05)
    time.sleep(2)
    idle = rss_kib(proc.pid)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    udp.bind(("127.0.0.1", 0))
    udp.setblocking(False)
    local = udp.getsockname()[1]
    answered = 0
    start = time.time()
    for i in range(N):
        udp.sendto(options(port, i, local), ("127.0.0.1", port))
        if i % 200 == 199:
            time.sleep(0.02)  # about 10,000 per second
        try:
            while True:
                udp.recv(65536)
                answered += 1
        except BlockingIOError:
            pass
    deadline = time.time() + 5
    while answered < N and time.time() < deadline:
        try:
            udp.recv(65536)
            answered += 1
        except BlockingIOError:
            time.sleep(0.01)
    time.sleep(1)
    status = control(sock_path, "status")
    held = status["sip"]["server_transactions"]
    rss = rss_kib(proc.pid)
    elapsed = time.time() - start
    proc.terminate()
    proc.wait(timeout=20)
    per = (rss - idle) * 1024 / max(1, held)
    print(f"requests={N} answered={answered} server_transactions={held} rss_idle_kib={idle} rss_kib={rss} bytes_per_transaction={per:.0f} seconds={elapsed:.1f}")
    return per


values = sorted(run_once() for _ in range(ROUNDS))
print(f"median bytes per lingering transaction over {ROUNDS} runs: {values[len(values) // 2]:.0f}")
