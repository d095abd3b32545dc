#!/usr/bin/env bash
# What a conference of three costs against a bridge (issue 18): N bridges (two legs each, the
# bridge test number 602) and N conferences of three (three legs each, the conference test
# number 603 with media.conference_size = 3), every leg sending 50 PCMU packets a second, in
# interleaved rounds against one daemon build. relay-load reads acdd's CPU from /proc over the
# measured window and counts the packets that come back out.
#
#   bench/conference-load.sh                      # N = 100 300, 3 rounds, 8 s each
#   CALLS="100" ROUNDS=1 SECONDS_PER_RUN=5 bench/conference-load.sh
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
CALLS=${CALLS:-"100 300"}
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
PORT=${PORT:-25190}
BASE=${BASE:-30000}
ulimit -n 65536 2>/dev/null || true
WORK=$(mktemp -d /tmp/conference-bench-XXXX)
trap 'rm -rf "$WORK"' EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
run() { # kind calls
  local kind=$1 n=$2 number legs
  if [ "$kind" = bridge ]; then number=602; legs=2; else number=603; legs=3; fi
  STATE=$(mktemp -d "$WORK/acdd-XXXX")
  "$ACDD_BIN" --config config/acd.toml --set "paths.state=$STATE" --set "sip.listen=127.0.0.1:$PORT" \
    --set daemon.log_level=warning --set media.timeout_seconds=0 --set media.conference_size=3 \
    --set "media.rtp_ports=$BASE-$((BASE + 9999))" 2>"$STATE/acdd.log" &
  local pid=$!
  for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done
  echo "$kind $(.build/release/relay-load --sip "127.0.0.1:$PORT" --number "$number" --legs-per-call "$legs" \
    --calls "$n" --seconds "$SECONDS_PER_RUN" --pid "$pid")"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
for round in $(seq "$ROUNDS"); do
  for n in $CALLS; do
    echo "round $round"
    run bridge "$n"
    run conference "$n"
  done
done
