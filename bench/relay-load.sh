#!/usr/bin/env bash
# N concurrent bridged G.711 calls through acdd (its bridge test number, 602) and, beside it, the
# same load through the minimal C relay of bench/c-relay (this machine's floor). Each leg sends
# 50 packets a second; relay-load counts loss and measures one-way delay through the relay and
# RFC 3550 jitter, and reads the relay's CPU from /proc over the measured window.
#
#   bench/relay-load.sh                          # N = 100 500 1000 2000, 10 s each
#   CALLS="100 500" SECONDS_PER_RUN=5 bench/relay-load.sh
#   ACDD_BIN=/other/build/acdd bench/relay-load.sh   # another build, for A/B runs
#
# Everything stays on 127.0.0.1; every run is bounded (warm-up 2 s + SECONDS_PER_RUN of media).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product relay-load >/dev/null
ACDD_BIN=${ACDD_BIN:-}
if [ -z "$ACDD_BIN" ]; then
  swift build -c release --product acdd >/dev/null
  ACDD_BIN=.build/release/acdd
fi
WORK=$(mktemp -d /tmp/relay-bench-XXXX)
cc -O2 -Wall -o "$WORK/c-relay" bench/c-relay/relay.c

CALLS=${CALLS:-"100 500 1000 2000"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
PORT=${PORT:-25090}
BASE=${BASE:-20000}
# 2,000 calls are 4,000 legs: RTP and RTCP sockets of both, plus the C relay's.
ulimit -n 65536 2>/dev/null || true

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for n in $CALLS; do
  "$WORK/c-relay" "$BASE" "$n" >"$WORK/c-relay.out" &
  CPID=$!
  for _ in $(seq 50); do grep -q ready "$WORK/c-relay.out" 2>/dev/null && break; sleep 0.1; done
  echo "c-relay $(.build/release/relay-load --static "$BASE" --calls "$n" --seconds "$SECONDS_PER_RUN" --pid "$CPID")"
  kill "$CPID"; wait "$CPID" 2>/dev/null || true

  STATE=$(mktemp -d "$WORK/acdd-XXXX")
  "$ACDD_BIN" --config config/acd.toml --set "paths.state=$STATE" --set "sip.listen=127.0.0.1:$PORT" \
    --set daemon.log_level=warning --set media.timeout_seconds=0 --set "media.rtp_ports=$BASE-$((BASE + 9999))" 2>"$STATE/acdd.log" &
  APID=$!
  for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done
  echo "acdd    $(.build/release/relay-load --sip "127.0.0.1:$PORT" --calls "$n" --seconds "$SECONDS_PER_RUN" --pid "$APID")"
  kill "$APID"; wait "$APID" 2>/dev/null || true
done
rm -rf "$WORK"
