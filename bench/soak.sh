#!/usr/bin/env bash
# Soak (issue 20): CALLS full-path calls at RATE per second through one release acdd with
# everything on (recording, CDRs, the CRM outbox drained by a real acd-crm store), the same call
# as bench/full-path.sh: SIPp callers dial 100, press 1 a second into the menu, are queued in
# sales, answered by an agent's phone after 100-1000 ms and hang up 3.5 s after the key.
#
# Every SAMPLE seconds it writes one CSV row (to OUT, default bench/results/<date>-soak.csv):
# elapsed seconds, SIPp's successful and failed calls so far, live calls, the daemon's RSS, its
# open descriptors, acdd.sqlite (+ its WAL) in bytes, SIP server and client transactions, the
# CRM outbox, recordings in progress and the loops' worst lateness. At the end, once the last
# call is over and the transactions' timers (at most 32 s) have run out, it prints the idle
# figures against those before the first call, and the medians of the second and last quarter
# of the run, which are what "flat" is judged by.
#
#   bench/soak.sh                                   # 1,000,000 calls at 200/s (about 83 min)
#   CALLS=20000 RATE=100 SAMPLE=5 bench/soak.sh      # a short one
#   BIN_DIR=/tmp/soak-bin bench/soak.sh             # binaries copied aside
#
# Recordings are moved off the box as an operator's archiving job would: every sample, files
# older than two minutes are deleted (a million 4.5 s stereo recordings would not fit on this
# disk). The daemon's own retention is by days and plays no part. Everything stays on 127.0.0.1
# and is bounded by CALLS and SIPp's -timeout.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
CALLS=${CALLS:-1000000}
RATE=${RATE:-200}
SAMPLE=${SAMPLE:-30}
AGENTS=${AGENTS:-2000}
RTP_PORTS=${RTP_PORTS:-4000-24999}
PORT=${PORT:-25290}
PHONE_PORT=${PHONE_PORT:-25291}
OUT=${OUT:-bench/results/$(date +%F)-soak.csv}
# BIN_DIR: release binaries built before (copied aside, so a build during a long run leaves them be).
BIN_DIR=${BIN_DIR:-}
if [ -z "$BIN_DIR" ]; then
  swift build -c release --product acdd >/dev/null
  swift build -c release --product acdctl >/dev/null
  swift build -c release --product acd-crm >/dev/null
  BIN_DIR=.build/release
fi
ACDD_BIN=$BIN_DIR/acdd
ulimit -n 65536 2>/dev/null || true
WORK=$(mktemp -d /tmp/soak-XXXX)
ln -s /usr/share/sip-tester "$WORK/pcap"
SCEN=$PWD/Tests/IntegrationTests/scenarios
STATE=$WORK/state
REC=$WORK/recordings
mkdir -p "$STATE" "$REC"
cp config/acd.toml config/tariffs.csv "$WORK/"
for i in $(seq 1 "$AGENTS"); do
  printf '\n[[agents]]\nid = "%d"\npassword = "secret%d"\nskills = { sales = 5 }\n' $((5000 + i)) $((5000 + i)) >>"$WORK/acd.toml"
done
CTL=("$BIN_DIR/acdctl" --socket "$STATE/acdd.sock")
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; pkill -f "sipp.*-p $PHONE_PORT" 2>/dev/null || true; }
trap cleanup EXIT

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "soak: $CALLS calls at $RATE/s, $AGENTS agents, a sample every $SAMPLE s, rows in $OUT"

"$BIN_DIR/acd-crm" serve --socket "$STATE/crm.sock" --db "$WORK/crm.sqlite" 2>"$WORK/crm.log" &
PIDS+=($!)
"$ACDD_BIN" --config "$WORK/acd.toml" --set "paths.state=$STATE" --set "paths.prompts=$PWD/prompts" \
  --set "paths.recordings=$REC" --set "sip.listen=127.0.0.1:$PORT" --set daemon.log_level=warning \
  --set media.timeout_seconds=0 --set media.rtp_ports=$RTP_PORTS --set groups.0.wrap_up_seconds=0 \
  --set 'ivr.nodes.welcome.prompts=[]' --set security.messages_per_second=1000000 --set security.burst=1000000 \
  2>"$STATE/acdd.log" &
APID=$!
PIDS+=($APID)
for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done
(cd "$WORK" && sipp -sf "$SCEN/agents_uas.xml" -i 127.0.0.1 -p "$PHONE_PORT" -nostdin -bg \
  -timeout $((CALLS / RATE + 600))s -mi 127.0.0.1 -mp 40000 -max_recv_loops 10000 >/dev/null 2>&1) || true
for i in $(seq 1 "$AGENTS"); do
  "${CTL[@]}" agent login $((5000 + i)) --device "sip:$((5000 + i))@127.0.0.1:$PHONE_PORT" >/dev/null
done
sleep 2

# One row: the figures named in the header, from /proc, the status and the database files.
sample() {
  local elapsed=$1 ok=0 failed=0
  if [ -s "$WORK/stat.csv" ]; then
    read -r ok failed < <(python3 -c "import csv;r=list(csv.reader(open('$WORK/stat.csv'),delimiter=';'));h=r[0];l=r[-1];print(l[h.index('SuccessfulCall(C)')], l[h.index('FailedCall(C)')])" 2>/dev/null || echo "0 0")
  fi
  local rss; rss=$(awk '/VmRSS/ {print $2}' "/proc/$APID/status")
  local fds; fds=$(ls "/proc/$APID/fd" | wc -l)
  local db=0; for f in "$STATE/acdd.sqlite" "$STATE/acdd.sqlite-wal"; do [ -f "$f" ] && db=$((db + $(stat -c %s "$f"))); done
  local st; st=$("${CTL[@]}" --json status | python3 -c 'import json,sys
s=json.load(sys.stdin); c=s["calls"]; p=s["sip"]
print(c["active"], p["server_transactions"], p["client_transactions"], s["crm"]["outbox"], s["recordings"]["in_progress"], c["sip_loop_late_ms_max"], c["media_loop_late_ms_max"])' 2>/dev/null || echo "- - - - - - -")
  set -- $st
  echo "$elapsed,$ok,$failed,$1,$rss,$fds,$db,$2,$3,$4,$5,$6,$7" >>"$OUT"
}
mkdir -p "$(dirname "$OUT")"
echo "elapsed_s,sipp_successful,sipp_failed,live_calls,rss_kib,descriptors,sqlite_bytes,server_transactions,client_transactions,crm_outbox,recordings_in_progress,sip_loop_late_ms_max,media_loop_late_ms_max" >"$OUT"
sample 0
IDLE_BEFORE=$(tail -1 "$OUT")

t0=$(awk '{print $14 + $15}' "/proc/$APID/stat"); s0=$(date +%s)
(cd "$WORK" && sipp 127.0.0.1:$PORT -sf "$SCEN/caller_soak.xml" -s 100 -i 127.0.0.1 -p $((PORT + 2)) -m "$CALLS" -r "$RATE" \
  -l $((RATE * 10)) -nostdin -timeout $((CALLS / RATE + 300))s -timeout_error -trace_stat -fd "$SAMPLE" -stf "$WORK/stat.csv" \
  -mi 127.0.0.1 -mp 45000 -max_recv_loops 10000 >/dev/null 2>&1) &
SPID=$!
while kill -0 "$SPID" 2>/dev/null; do
  sleep "$SAMPLE"
  find "$REC" -name '*.wav' -mmin +2 -delete 2>/dev/null || true
  sample $(( $(date +%s) - s0 ))
done
wait "$SPID" || true
s1=$(date +%s); t1=$(awk '{print $14 + $15}' "/proc/$APID/stat")
# The last call's transactions wait out Timer J / K (32 s and 5 s over UDP).
sleep 40
sample $(( $(date +%s) - s0 ))
IDLE_AFTER=$(tail -1 "$OUT")
cpu=$(python3 -c "print(round(100*($t1-$t0)/$(getconf CLK_TCK)/($s1-$s0),1))")
connected=$(grep -c '|CONNECT|' "$STATE/queue_log" || true)
completed=$(grep -c '|COMPLETE' "$STATE/queue_log" || true)
cdrs=$(python3 -c "import sqlite3;print(sqlite3.connect('$STATE/acdd.sqlite').execute('select count(*) from cdr').fetchone()[0])" 2>/dev/null || echo "?")
crm_events=$(python3 -c "import sqlite3;print(sqlite3.connect('$WORK/crm.sqlite').execute('select count(*) from event').fetchone()[0])" 2>/dev/null || echo "?")
echo "run: $((s1 - s0)) s, daemon CPU $cpu % of a core; queue log CONNECT $connected, COMPLETE* $completed; CDRs $cdrs; events in the CRM store $crm_events"
python3 - "$OUT" "$IDLE_BEFORE" "$IDLE_AFTER" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
head = list(rows[0].keys())
before = dict(zip(head, sys.argv[2].split(","))); after = dict(zip(head, sys.argv[3].split(",")))
print(f"SIPp: successful {after['sipp_successful']}, failed {after['sipp_failed']}")
print("idle before the first call / idle after the last:")
for k in ["rss_kib", "descriptors", "sqlite_bytes", "server_transactions", "client_transactions", "crm_outbox", "live_calls"]:
    print(f"  {k}: {before[k]} / {after[k]}")
load = [r for r in rows[1:-1] if r["live_calls"] not in ("-", "0")]
q = len(load) // 4
if q >= 1:
    def med(part, k):
        vals = [float(r[k]) for r in part if r[k] != "-"]
        return statistics.median(vals) if vals else float("nan")
    second, last = load[q:2 * q], load[-q:]
    print(f"under load, median of the second quarter / of the last quarter ({q} samples each):")
    for k in ["rss_kib", "descriptors", "live_calls", "server_transactions", "client_transactions", "crm_outbox", "recordings_in_progress"]:
        print(f"  {k}: {med(second, k):.0f} / {med(last, k):.0f}")
    s2, s4 = med(second, "sqlite_bytes"), med(last, "sqlite_bytes")
    calls = float(after["sipp_successful"]) or 1
    print(f"  sqlite_bytes: {s2:.0f} / {s4:.0f} (it holds every CDR: {float(after['sqlite_bytes']) / calls:.0f} bytes per call at the end)")
PY
"${CTL[@]}" --json status | python3 -c 'import json,sys; s=json.load(sys.stdin); c=s["calls"]; print("status: answered %s, refused %s, refused_overload %s, transaction_timeouts %s, send_failed %s, crm dropped %s, recordings failed %s, frames dropped %s" % (c["answered"], c["refused"], c["refused_overload"], s["sip"]["transaction_timeouts"], s["sip"]["send_failed"], s["crm"]["dropped"], s["recordings"]["failed"], s["recordings"]["frames_dropped"]))'
kill "$APID"; wait "$APID" 2>/dev/null || true
rm -rf "$WORK"
