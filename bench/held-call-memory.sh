#!/usr/bin/env bash
# Memory per held bridged call: the daemon's RSS idle, then 8 s into N bridged calls held by
# relay-load on the bridge test number 602 (each leg sending 50 packets a second).
#   bench/held-call-memory.sh .build/release/acdd 1000
# Run from the checkout; relay-load must be built (swift build -c release --product relay-load).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1; N=${2:-1000}; PORT=25390
STATE=$(mktemp -d /tmp/held-XXXX)
"$BIN" --config config/acd.toml --set "paths.state=$STATE" --set "sip.listen=127.0.0.1:$PORT" --set daemon.log_level=warning \
  --set media.timeout_seconds=0 --set media.rtp_ports=20000-29999 2>"$STATE/log" &
P=$!
for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done
sleep 1
idle=$(awk '/VmRSS/ {print $2}' /proc/$P/status)
.build/release/relay-load --sip 127.0.0.1:$PORT --calls "$N" --seconds 10 --pid $P > "$STATE/rl.txt" &
R=$!
sleep 8
held=$(awk '/VmRSS/ {print $2}' /proc/$P/status)
wait $R || true
echo "$(basename $BIN): idle $idle KiB, with $N bridged calls $held KiB, $(python3 -c "print(round(($held-$idle)/$N,1))") KiB per call; $(cat $STATE/rl.txt | head -1 | cut -c1-120)"
kill $P; wait $P 2>/dev/null || true
rm -rf "$STATE"
