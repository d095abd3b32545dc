#!/usr/bin/env bash
# A predictive campaign against a progressive one through the daemon (issue 19): SIPp agents
# who answer at once and talk log-normal, SIPp customers who answer with a set probability
# after a uniform ring (else busy, or ringing until the daemon's CANCEL). For each agent count,
# the same campaign runs WINDOW seconds in each mode on a fresh daemon and state; the figures
# are the daemon's own (campaign.status, and talk seconds of the tries in the database).
#
#   bench/campaign-pacing.sh                         # 20, 50 and 100 agents, 240 s a run
#   AGENTS="20" WINDOW=120 ANSWER=0.3 bench/campaign-pacing.sh
#
# Everything stays on 127.0.0.1; each run is bounded by WINDOW and its contact list.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh >/dev/null
swift build -c release --product acdd >/dev/null
swift build -c release --product acdctl >/dev/null
AGENTS=${AGENTS:-"20 50 100"}
WINDOW=${WINDOW:-240}
ANSWER=${ANSWER:-0.3}
BUSY=${BUSY:-0.2}
RING_MIN=${RING_MIN:-2000}
RING_MAX=${RING_MAX:-6000}
HOLD_MS=${HOLD_MS:-15000}
SIGMA=${SIGMA:-0.6}
MODES=${MODES:-"progressive predictive"}
PORT=26060 CPORT=26070 APORT=26080
MU=$(python3 -c "import math; print(round(math.log($HOLD_MS) - $SIGMA**2/2, 4))")
NOT_BUSY=$(python3 -c "print(1 - $BUSY)")
WORK=$(mktemp -d /tmp/campaign-bench-XXXX)
ctl=.build/release/acdctl

sed -e "s/@ANSWER@/$ANSWER/g" -e "s/@NOT_BUSY@/$NOT_BUSY/g" -e "s/@RING_MIN@/$RING_MIN/g" -e "s/@RING_MAX@/$RING_MAX/g" \
  bench/scenarios/campaign-customers.xml >"$WORK/customers.xml"
sed -e "s/@MU@/$MU/g" -e "s/@SIGMA@/$SIGMA/g" bench/scenarios/campaign-agents.xml >"$WORK/agents.xml"

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(git rev-parse --short HEAD)"
echo "customers: answer $ANSWER after uniform ${RING_MIN}-${RING_MAX} ms, busy $BUSY of all, the rest ring until CANCEL (ring_seconds 10); agents answer at once and talk log-normal mean ${HOLD_MS} ms sigma $SIGMA; wrap-up 0; window ${WINDOW} s"
echo "agents mode dialled answered connected abandoned abandon_pct busy no_answer occupancy acdd_cpu_pct"
HZ=$(getconf CLK_TCK)
for n in $AGENTS; do
  for mode in $MODES; do
    STATE="$WORK/state-$n-$mode"
    mkdir -p "$STATE"
    # Beside the default, so its relative paths (prompts, tariffs) hold; removed at the end.
    CONF=config/.bench-campaign-$n.toml
    cp config/acd.toml "$CONF"
    for i in $(seq 1 "$n"); do
      id=$((3000 + i))
      printf '\n[[agents]]\nid = "%s"\nname = "Bench %s"\npassword = "secret%s"\nskills = { sales = 5 }\n' "$id" "$id" "$id" >>"$CONF"
    done
    sipp -sf "$WORK/customers.xml" -i 127.0.0.1 -p $CPORT -nostdin -trace_err -error_file "$WORK/customers-$n-$mode.err" >/dev/null 2>&1 &
    C=$!
    sipp -sf "$WORK/agents.xml" -i 127.0.0.1 -p $APORT -nostdin -trace_err -error_file "$WORK/agents-$n-$mode.err" >/dev/null 2>&1 &
    A=$!
    .build/release/acdd --config "$CONF" --set "paths.state=$STATE" --set "sip.listen=127.0.0.1:$PORT" \
      --set "trunks.0.outbound=127.0.0.1:$CPORT" --set media.timeout_seconds=0 --set groups.0.wrap_up_seconds=0 \
      --set daemon.log_level=warning --set media.rtp_ports=30000-39999 2>"$STATE/acdd.log" &
    PID=$!
    for _ in $(seq 100); do [ -S "$STATE/acdd.sock" ] && break; sleep 0.1; done
    for i in $(seq 1 "$n"); do
      id=$((3000 + i))
      $ctl --socket "$STATE/acdd.sock" agent login "$id" --device "sip:$id@127.0.0.1:$APORT" >/dev/null
    done
    python3 -c "
print('number,name')
for i in range(20000): print('09%08d,Bench %d' % (i, i))" >"$STATE/list.csv"
    $ctl --socket "$STATE/acdd.sock" campaign create bench --group sales --mode "$mode" --hours 00:00-24:00 --attempts 1 --ring-seconds 10 >/dev/null
    $ctl --socket "$STATE/acdd.sock" campaign load bench "$STATE/list.csv" >/dev/null
    cpu0=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    start=$(date +%s.%N)
    $ctl --socket "$STATE/acdd.sock" campaign start bench >/dev/null
    sleep "$WINDOW"
    $ctl --socket "$STATE/acdd.sock" campaign pause bench >/dev/null
    stop=$(date +%s.%N)
    cpu1=$(awk '{print $14 + $15}' "/proc/$PID/stat")
    # Calls under way finish (agents hang up within a few holds); bounded wait.
    for _ in $(seq 120); do
      [ "$($ctl --socket "$STATE/acdd.sock" calls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 0 ] && break
      sleep 1
    done
    status=$($ctl --socket "$STATE/acdd.sock" campaign status bench --json)
    talk=$(sqlite3 "$STATE/acdd.sqlite" "SELECT COALESCE(SUM(MIN(ended_at, $stop) - MAX(ended_at - talk_seconds, $start)), 0) FROM campaign_attempt WHERE talk_seconds > 0 AND ended_at - talk_seconds < $stop")
    python3 - "$n" "$mode" "$talk" "$start" "$stop" "$cpu0" "$cpu1" "$HZ" <<PY
import json, sys
n, mode, talk, start, stop, c0, c1, hz = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
s = json.loads('''$status''')
a = s.get("attempts", {})
connected, abandoned = a.get("connected", 0), a.get("abandoned", 0)
answered = connected + abandoned
window = stop - start
print(n, mode, s["dialled"], answered, connected, abandoned, "%.2f" % (100.0 * abandoned / answered if answered else 0), a.get("busy", 0), a.get("no-answer", 0),
      "%.3f" % (talk / (int(n) * window)), "%.0f" % (100.0 * (c1 - c0) / hz / window))
PY
    kill $PID; wait $PID 2>/dev/null || true
    rm -f "$CONF"
    kill $C $A 2>/dev/null; wait $C $A 2>/dev/null || true
    sleep 1
  done
done
