#!/usr/bin/env bash
# A/B of two acdd builds under the same relay load, interleaved so that both see the same host:
#
#   git worktree add /tmp/old <commit> && (cd /tmp/old && swift build -c release --product acdd)
#   A_BIN=/tmp/old/.build/release/acdd B_BIN=.build/release/acdd bench/relay-load-ab.sh
#
# CALLS (default "500 1000"), ROUNDS (default 2), SECONDS_PER_RUN (default 10). Loopback only;
# each run is bounded by relay-load's warm-up and --seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${A_BIN:?set A_BIN to the first acdd}" "${B_BIN:?set B_BIN to the second acdd}"
swift build -c release --product relay-load >/dev/null
CALLS=${CALLS:-"500 1000"}
ROUNDS=${ROUNDS:-2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
PORT=${PORT:-25090}
BASE=${BASE:-20000}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); A=$A_BIN B=$B_BIN"
for round in $(seq "$ROUNDS"); do
  for n in $CALLS; do
    for side in A B; do
      bin=$A_BIN; [ "$side" = B ] && bin=$B_BIN
      STATE=$(mktemp -d /tmp/relay-ab-XXXX)
      "$bin" --config config/acd.toml --set "paths.state=$STATE" --set "sip.listen=127.0.0.1:$PORT" --set daemon.log_level=warning \
        --set media.timeout_seconds=0 --set "media.rtp_ports=$BASE-$((BASE + 9999))" 2>"$STATE/acdd.log" &
      PID=$!
      for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done
      echo "round=$round build=$side $(.build/release/relay-load --sip "127.0.0.1:$PORT" --calls "$n" --seconds "$SECONDS_PER_RUN" --pid "$PID")"
      kill "$PID"; wait "$PID" 2>/dev/null || true
      rm -rf "$STATE"
    done
  done
done
