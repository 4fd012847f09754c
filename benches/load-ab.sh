#!/usr/bin/env bash
# Two builds of load_server under the same load, alternately: the server CPU per delivery (and
# requests per second) of each, in pairs of short runs with the order swapped every pair, so that a
# host whose speed moves from one minute to the next moves both sides of each pair alike. Same
# pinning and load as benches/load.sh (server on core 0; wrk, 32 connections, and Redis on core 1).
#
#   bash benches/load-ab.sh MODE SECONDS PAIRS SERVER_A SERVER_B
#       (MODE: one of load_server's, e.g. memory or redis; SERVER_A, SERVER_B: load_server binaries)
#
# Or two modes of one build, side by side in the same pairs: MODE as A_MODE:B_MODE, e.g.
#
#   bash benches/load-ab.sh bare:memory 4 10 target/release/load_server target/release/load_server
#
# for the issue's ratio (memory / bare by requests per second) taken pair by pair: the median of
# the pairs' ratios is printed beside the means.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=$1; seconds=$2; pairs=$3; a_bin=$4; b_bin=$5
a_mode=${mode%%:*}; b_mode=${mode#*:}
source benches/common.sh
start_redis
QUERY=$(signed_query)
export QUERY

# One run of server binary $1 in mode $2: "CPU-us-per-delivery requests-per-second".
run() {
    local port pid out requests rate before after
    port=$(free_port)
    taskset -c 0 "$1" "$2" "127.0.0.1:$port" --redis "redis://127.0.0.1:$redis_port/" 2>/dev/null &
    pid=$!
    wait_for_server "$port"
    RUN=$RANDOM taskset -c 1 wrk -t1 -c32 -d1s -s benches/load/deliveries.lua "http://127.0.0.1:$port" >/dev/null
    before=$(ticks "$pid")
    out=$(RUN=$RANDOM taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s benches/load/deliveries.lua "http://127.0.0.1:$port")
    after=$(ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    flush_redis
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    printf '%s %.0f\n' "$(us_per_delivery $((after - before)) "$requests" 2)" "$rate"
}

echo "CPU: $(cpu); $mode, ${seconds}s per run, $pairs pairs"
results=()
for pair in $(seq "$pairs"); do
    if [ $((pair % 2)) = 1 ]; then
        a=$(run "$a_bin" "$a_mode"); b=$(run "$b_bin" "$b_mode")
    else
        b=$(run "$b_bin" "$b_mode"); a=$(run "$a_bin" "$a_mode")
    fi
    echo "pair $pair  A: $a  B: $b   (us per delivery, req/s)"
    results+=("$a $b")
done
printf '%s\n' "${results[@]}" | awk '{a += $1; b += $3; if ($3 < $1) lower++}
    END {printf "mean CPU per delivery: A %.2f us, B %.2f us (B/A %.3f); B lower in %d of %d pairs\n", a/NR, b/NR, b/a, lower, NR}'
# Requests per second, B over A, pair by pair: their median and range.
printf '%s\n' "${results[@]}" | awk '{print $4 / $2}' | sort -g | awk '{r[NR] = $1}
    END {m = NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
         printf "requests per second, B/A by pair: median %.3f (from %.3f to %.3f)\n", m, r[1], r[NR]}'
