#!/usr/bin/env python3
"""Time from starting acdd to systemd's READY=1, as systemd would see it (FEATURES S1).

    swift build -c release --product acdd && bench/startup-time.py [runs]

Binds a NOTIFY_SOCKET like systemd's, starts the release binary on the default configuration
with a fresh state directory each run, prints each run and the median."""
import os, socket, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
times = []
for _ in range(runs):
    state = tempfile.mkdtemp(prefix="acdd-start-")
    sock_path = os.path.join(state, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(10)
    t0 = time.monotonic()
    p = subprocess.Popen(
        [os.path.join(root, ".build/release/acdd"), "--config", os.path.join(root, "config/acd.toml"),
         "--set", f"paths.state={state}", "--set", "sip.listen=127.0.0.1:0"],
        env=dict(os.environ, NOTIFY_SOCKET=sock_path), stderr=subprocess.DEVNULL)
    while "READY=1" not in s.recv(4096).decode():
        pass
    times.append((time.monotonic() - t0) * 1000)
    p.terminate()
    p.wait(timeout=20)
    print(f"{times[-1]:.0f} ms to READY=1")
print(f"median {statistics.median(times):.0f} ms over {runs} runs")
