#!/usr/bin/env bash
# Fuzzing (issue 20), bounded: the libFuzzer targets fuzz-sip and fuzz-rtp for FUZZ_SECONDS each
# (built with -sanitize=fuzzer,address in .build-fuzz), then fuzz/sip-mutator.py's MUTATOR_COUNT
# hostile messages against an acdd started here on loopback. A crash leaves its input in
# fuzz/found/<target>/ (commit it: the replay tests keep it fixed) and fails the run.
#   FUZZ_SECONDS=300 MUTATOR_COUNT=100000 fuzz/run.sh      (make fuzz)
#   FUZZ_SECONDS=30  MUTATOR_COUNT=0      fuzz/run.sh      (make test's short pass)
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
MUTATOR_COUNT=${MUTATOR_COUNT:-100000}
MUTATOR_SEED=${MUTATOR_SEED:-$(date +%s)}
CONF=${FUZZ_CONF:-release}
SWIFT=${SWIFT:-swift}
out=.build-fuzz/$CONF
work=.build-fuzz/work
mkdir -p "$work"

targets="sip rtp"
# FUZZ_SECONDS=0 runs only the mutator (libFuzzer reads a total time of 0 as no limit).
[ "$FUZZ_SECONDS" -gt 0 ] || targets=""
for target in $targets; do
    $SWIFT build -c "$CONF" --scratch-path .build-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --product "fuzz-$target" 2>&1 \
        | grep -v "Cannot export local symbol" | grep -E "error|warning: |Compiling|Build" | tail -3
done

status=0
for target in $targets; do
    corpus=$work/corpus-$target
    mkdir -p "$corpus" "fuzz/found/$target"
    cp -n fuzz/corpus/$target/* "$corpus/"
    log=$work/fuzz-$target.log
    echo "fuzz-$target: ${FUZZ_SECONDS} s from $(ls "$corpus" | wc -l) inputs"
    # The harness's own checks are fatal errors; ASan's are reports. spandsp's own memcpy overlap
    # is suppressed (fuzz/asan.supp).
    if ASAN_OPTIONS="suppressions=$PWD/fuzz/asan.supp:detect_leaks=0" timeout $((FUZZ_SECONDS + 120)) "$out/fuzz-$target" \
        -max_total_time="$FUZZ_SECONDS" -max_len=8192 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="fuzz/found/$target/" "$corpus" > "$log" 2>&1; then
        grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^Done" "$log" | sed "s/^/  /"
    else
        status=1
        echo "fuzz-$target FOUND SOMETHING: see $log and fuzz/found/$target/"
        grep -E "ERROR|fuzz rule|Fatal error|Test unit written" "$log" | head -5 | sed "s/^/  /"
    fi
done

if [ "$MUTATOR_COUNT" -gt 0 ]; then
    $SWIFT build -c release --product acdd 2>&1 | grep -E "error|warning: " || true
    state=$(mktemp -d)
    port=$((20000 + RANDOM % 20000))
    .build/release/acdd --config config/acd.toml --set "paths.state=$state" --set "sip.listen=127.0.0.1:$port" \
        --set "media.rtp_ports=$((port + 1))-$((port + 2000))" > "$work/mutator-acdd.log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null || true' EXIT
    for _ in $(seq 50); do [ -S "$state/acdd.sock" ] && break; sleep 0.2; done
    echo "sip-mutator: $MUTATOR_COUNT messages, seed $MUTATOR_SEED"
    rc=0
    python3 fuzz/sip-mutator.py --port "$port" --control "$state/acdd.sock" --pid "$pid" --count "$MUTATOR_COUNT" \
        --seconds 1800 --seed "$MUTATOR_SEED" --save "fuzz/found/mutator-$MUTATOR_SEED" || rc=$?
    if [ $rc -eq 1 ]; then
        status=1
        echo "sip-mutator FOUND SOMETHING: the batch is in fuzz/found/mutator-$MUTATOR_SEED, the daemon's log in $work/mutator-acdd.log"
    elif [ $rc -ne 0 ]; then
        status=1
        echo "sip-mutator could not run (status $rc)"
    fi
    kill $pid 2>/dev/null || true
    wait $pid 2>/dev/null || true
    rm -rf "$state"
fi
exit $status
