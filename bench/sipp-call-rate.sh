#!/usr/bin/env bash
# Highest SIPp call rate (INVITE / 100 / 200 / ACK / BYE / 200, calls of zero length, UDP) that
# acdd completes with no failed call, with the daemon's CPU at each rate.
#
#   bench/sipp-call-rate.sh                 # rates 200 400 ... until one fails
#   RATES="500 1000" SECONDS_PER_RATE=10 bench/sipp-call-rate.sh
#   ACDD_BIN=/other/build/acdd bench/sipp-call-rate.sh      # another build, for A/B runs
#
# Each rate runs for SECONDS_PER_RATE seconds (calls = rate x seconds), bounded by SIPp's own
# -timeout. Daemon CPU is read from /proc/<pid>/stat; kernel UDP receive-buffer drops from nstat;
# INVITE-to-200 time (FEATURES C1) from SIPp's own response-time statistics.
# Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
ACDD_BIN=${ACDD_BIN:-}
if [ -z "$ACDD_BIN" ]; then
  swift build -c release --product acdd >/dev/null
  ACDD_BIN=.build/release/acdd
fi

PORT=${PORT:-25060}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-10}
RATES=${RATES:-"200 1000 2000 3000 3500 4000 4500 5000"}
STATE=$(mktemp -d /tmp/acdd-bench-XXXX)
WORK=$(mktemp -d /tmp/sipp-bench-XXXX)
HZ=$(getconf CLK_TCK)

"$ACDD_BIN" --config config/acd.toml --set "paths.state=$STATE" --set "sip.listen=127.0.0.1:$PORT" \
  --set daemon.log_level=warning --set media.rtp_ports=40000-49999 2>"$STATE/acdd.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done

cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
drops() { nstat -az UdpRcvbufErrors 2>/dev/null | awk '/UdpRcvbufErrors/ {print $2}'; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "rate_cps calls successful failed elapsed_s acdd_cpu_pct sipp_cpu_pct udp_rcvbuf_drops invite_200_mean_ms under_10ms_pct"
best=0
for rate in $RATES; do
  calls=$((rate * SECONDS_PER_RATE))
  rm -f "$WORK/stat.csv"
  c0=$(cpu $PID); d0=$(drops); t0=$(date +%s.%N)
  # `times` in the subshell reports SIPp's own CPU (its children's user and system time).
  ( cd "$WORK" && { sipp "127.0.0.1:$PORT" -sn uac -s 100 -i 127.0.0.1 -p $((PORT + 1)) -m "$calls" -r "$rate" -l $((rate * 2)) \
      -nostdin -timeout $((SECONDS_PER_RATE * 3 + 30))s -timeout_error -trace_stat -stf stat.csv -fd 1 -max_recv_loops 10000 \
      >/dev/null 2>&1 || true; times > times.txt; } )
  t1=$(date +%s.%N); c1=$(cpu $PID); d1=$(drops)
  header=$(head -1 "$WORK/stat.csv"); last=$(tail -1 "$WORK/stat.csv")
  col() { echo "$header" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
  ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')")
  failed=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
  acpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" -v e="$elapsed" 'BEGIN {printf "%.0f", (b - a) / hz / e * 100}')
  # second line of `times`: children's user and system time, like 0m1.234s 0m0.567s
  scpu=$(sed -n 2p "$WORK/times.txt" | awk -v e="$elapsed" '{
      split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.0f", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) / e * 100 }')
  # ResponseTime1(C) is HH:MM:SS:microseconds; the repartition counts calls per bucket in ms.
  rtt=$(echo "$last" | cut -d';' -f"$(col 'ResponseTime1(C)')" | awk -F: '{printf "%.2f", ($1 * 3600 + $2 * 60 + $3) * 1000 + $4 / 1000}')
  under10=$(echo "$last" | cut -d';' -f"$(col 'ResponseTimeRepartition1_<10')")
  pct10=$(awk -v a="$under10" -v b="$ok" 'BEGIN {printf "%.1f", (b > 0 ? a / b * 100 : 0)}')
  printf "%8d %6d %10d %6d %9s %12s %12s %16s %18s %14s\n" "$rate" "$calls" "$ok" "$failed" "$elapsed" "$acpu" "$scpu" "$((d1 - d0))" "$rtt" "$pct10"
  if [ "$failed" != "0" ] || [ "$ok" != "$calls" ]; then break; fi
  best=$rate
done
echo "highest rate with no failed call: $best cps"
