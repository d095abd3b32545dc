#!/usr/bin/env bash
# Full-path call rate: SIPp callers dial 100, press 1 in the IVR menu (RFC 4733), wait in sales,
# are answered by an agent's phone (one SIPp answering for every agent after 100-1000 ms) and
# hang up 3.5 s after the key. For each rate, RATE x SECONDS_PER_RATE calls are placed; the
# report gives SIPp's successful and failed calls, the queue log's CONNECT count, the daemon's
# CPU over the run, its resident memory idle and at the peak of live calls, and the memory per
# live call ((peak RSS - idle RSS) / live calls at that moment).
#
#   bench/full-path.sh                              # RATES="20 50 100 200 300 500", 20 s each
#   RATES="50 100" SECONDS_PER_RATE=10 bench/full-path.sh
#   ACDD_BIN=/other/build/acdd bench/full-path.sh     # another build, for A/B runs
#   EXTRA_SETS="--set recording.enabled=false" bench/full-path.sh   # more overrides
#   RTP_PORTS=20000-29999 bench/full-path.sh        # the daemon's RTP range (default 4000-24999)
#   KEEP_LOGS=/tmp/fp bench/full-path.sh            # keep queue logs, daemon logs, SIPp stats
#
# Agents log in on phones at a fixed address (--device sip:ID@127.0.0.1:PORT), so no REGISTER
# is needed for thousands of them. Everything stays on 127.0.0.1; every run is bounded by its
# call count and SIPp's -timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
ACDD_BIN=${ACDD_BIN:-}
if [ -z "$ACDD_BIN" ]; then
  swift build -c release --product acdd >/dev/null
  ACDD_BIN=.build/release/acdd
fi
swift build -c release --product acdctl >/dev/null
RATES=${RATES:-"20 50 100 200 300 500"}
EXTRA_SETS=${EXTRA_SETS:-}
SECONDS_PER_RATE=${SECONDS_PER_RATE:-20}
AGENTS=${AGENTS:-2000}
# Every bridged call holds two RTP/RTCP pairs. At 500/s a call lives about 4.7 s (menu, ring,
# 3.5 s of talk), so about 2,350 calls hold 4,700 pairs at once: the 5,000 pairs of the earlier
# 20000-29999 made the port range, not the daemon, what failed calls. 4000-24999 holds 10,500.
RTP_PORTS=${RTP_PORTS:-4000-24999}
# A directory to keep each rate's queue log, daemon log and SIPp statistics in (empty: none).
KEEP_LOGS=${KEEP_LOGS:-}
PORT=${PORT:-25190}
PHONE_PORT=${PHONE_PORT:-25191}
ulimit -n 65536 2>/dev/null || true
WORK=$(mktemp -d /tmp/full-path-XXXX)
ln -s /usr/share/sip-tester "$WORK/pcap"
SCEN=$PWD/Tests/IntegrationTests/scenarios

cp config/acd.toml config/tariffs.csv "$WORK/"
for i in $(seq 1 "$AGENTS"); do
  printf '\n[[agents]]\nid = "%d"\npassword = "secret%d"\nskills = { sales = 5 }\n' $((5000 + i)) $((5000 + i)) >>"$WORK/acd.toml"
done

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "agents: $AGENTS; each call: IVR menu 1 s, key, queue, ring 100-1000 ms, talk until 3.5 s after the key"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

for rate in $RATES; do
  STATE="$WORK/state-$rate"
  mkdir -p "$STATE"
  prompts=$PWD/prompts
  "$ACDD_BIN" --config "$WORK/acd.toml" --set "paths.state=$STATE" --set "paths.prompts=$prompts" \
    --set "sip.listen=127.0.0.1:$PORT" --set daemon.log_level=warning --set media.timeout_seconds=0 \
    --set media.rtp_ports=$RTP_PORTS --set groups.0.wrap_up_seconds=0 --set 'ivr.nodes.welcome.prompts=[]' \
    --set security.messages_per_second=1000000 --set security.burst=1000000 $EXTRA_SETS 2>"$STATE/acdd.log" &
  APID=$!
  for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done
  (cd "$WORK" && sipp -sf "$SCEN/agents_uas.xml" -i 127.0.0.1 -p "$PHONE_PORT" -nostdin -bg -timeout 300s \
    -mi 127.0.0.1 -mp 40000 -max_recv_loops 10000 >/dev/null 2>&1) || true
  for i in $(seq 1 "$AGENTS"); do
    .build/release/acdctl --socket "$STATE/acdd.sock" agent login $((5000 + i)) --device "sip:$((5000 + i))@127.0.0.1:$PHONE_PORT" >/dev/null
  done
  sleep 1
  idle=$(rss_kib "$APID")
  calls=$((rate * SECONDS_PER_RATE))
  t0=$(cpu_ticks "$APID"); s0=$(date +%s.%N)
  (cd "$WORK" && sipp 127.0.0.1:$PORT -sf "$SCEN/caller_soak.xml" -s 100 -i 127.0.0.1 -p $((PORT + 2)) -m "$calls" -r "$rate" \
    -l $((rate * 10)) -nostdin -timeout $((SECONDS_PER_RATE + 60))s -timeout_error -trace_stat -stf "$WORK/stat-$rate.csv" \
    -mi 127.0.0.1 -mp 45000 -max_recv_loops 10000 >/dev/null 2>&1) &
  SPID=$!
  peak=0; peak_calls=0
  while kill -0 "$SPID" 2>/dev/null; do
    sleep 1
    r=$(rss_kib "$APID"); live=$(.build/release/acdctl --socket "$STATE/acdd.sock" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["calls"]["active"])' 2>/dev/null || echo 0)
    if [ "$live" -gt "$peak_calls" ]; then peak_calls=$live; peak=$r; fi
  done
  wait "$SPID" || true
  t1=$(cpu_ticks "$APID"); s1=$(date +%s.%N)
  ok=$(python3 -c "import csv;r=list(csv.reader(open('$WORK/stat-$rate.csv'),delimiter=';'));h=r[0];l=r[-1];print(l[h.index('SuccessfulCall(C)')], l[h.index('FailedCall(C)')])")
  connected=$(grep -c '|CONNECT|' "$STATE/queue_log" || true)
  # Why calls did not connect: callers who gave up while queued or ringing, rings not answered.
  abandoned=$(grep -c '|ABANDON|' "$STATE/queue_log" || true)
  rona=$(grep -c '|RINGNOANSWER|' "$STATE/queue_log" || true)
  cpu=$(python3 -c "print(round(100*($t1-$t0)/$(getconf CLK_TCK)/($s1-$s0),1))")
  per=$(python3 -c "print(round(($peak-$idle)/$peak_calls,1) if $peak_calls else 'n/a')")
  echo "rate $rate/s: calls $calls, successful/failed ${ok/ /\/}, CONNECT $connected, ABANDON $abandoned, RINGNOANSWER $rona, daemon CPU $cpu %, RSS idle $idle KiB, peak $peak KiB at $peak_calls live calls, $per KiB per live call"
  # The recording writer's margins over the run (each call's ring holds 1.28 s), and what the
  # media loops' frame pools grew to.
  .build/release/acdctl --socket "$STATE/acdd.sock" --json status | python3 -c 'import json,sys; r=json.load(sys.stdin)["recordings"]; print("  recording writer: longest drain pass %s ms, longest wait for a file to open %s ms; frame pools %s KiB" % (r.get("writer_longest_pass_ms"), r.get("writer_longest_open_wait_ms"), r.get("frame_pool_kib")))' || true
  # Overload shedding (daemon.overload_lag_ms, daemon.max_calls): what was refused with 503,
  # against what was answered (each answered call should CONNECT).
  .build/release/acdctl --socket "$STATE/acdd.sock" --json status | python3 -c 'import json,sys; c=json.load(sys.stdin)["calls"]; print("  overload: answered %s, refused with 503 %s, episodes %s, SIP loop at most %s ms late, media loops %s ms" % (c.get("answered"), c.get("refused_overload"), c.get("overload_episodes"), c.get("sip_loop_late_ms_max"), c.get("media_loop_late_ms_max")))' || true
  .build/release/acdctl --socket "$STATE/acdd.sock" --json status | python3 -c 'import json,sys; a=json.load(sys.stdin)["acd"]; print("  acd: inbox full waits %s, events %s" % (a.get("inbox_full_waits"), a.get("events_handled")))' || true
  pkill -f "sipp -sf $SCEN/agents_uas.xml" || true
  kill "$APID"; wait "$APID" 2>/dev/null || true
  # Recordings, once the daemon has closed them all: how many, how many failed, frames dropped.
  python3 - "$STATE/acdd.sqlite" <<'PY'
import sqlite3, sys
try:
    n, failed, dropped = sqlite3.connect(sys.argv[1]).execute(
        "select count(*), sum(status != 'complete'), coalesce(sum(dropped_frames), 0) from recording").fetchone()
    print(f"  recordings: {n}, not complete {failed or 0}, frames dropped {dropped}")
except sqlite3.Error as e:
    print(f"  recordings: cannot read the index ({e})")
PY
  if [ -n "$KEEP_LOGS" ]; then
    mkdir -p "$KEEP_LOGS/rate-$rate" && cp "$STATE/queue_log" "$STATE/acdd.log" "$WORK/stat-$rate.csv" "$KEEP_LOGS/rate-$rate/"
  fi
done
rm -rf "$WORK"
