#!/usr/bin/env bash
# The delivery path under load (issue 14): requests per second of the Endpoint (with its
# MemoryStore, and with a RedisStore) against a bare axum handler that answers fixed bytes and a
# careful hand-written axum handler, all built in this run. Each server runs with one tokio worker
# pinned to core 0; wrk (Debian's package) runs on core 1, 32 connections, a distinct MsgId per
# request (benches/load/deliveries.lua). Allocations per delivery come from the server's counting
# allocator (GET /allocations before and after).
#
#   bash benches/load.sh [SECONDS] [ROUNDS]      (default 10 s, 2 rounds; needs wrk, redis-server, taskset)
#   EXTRA_MODES=redis-poll bash benches/load.sh    (also the Redis store waking waiters by polling)
#   EXTRA_MODES=bare-spin BARE_SPIN_US=3 bash benches/load.sh
#       (also bare slowed by a spin in user space: what the kernel's part owes to a server's speed)
#   EXTRA_MODES="axum:memory old:memory old:redis" OLD_SERVER=path bash benches/load.sh
#       (also the endpoint served by axum::serve instead of the crate's server, and the modes of
#       another build of load_server, for a before and after in one run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
rounds=${2:-2}
for tool in wrk redis-server taskset curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (Debian: apt-get install wrk redis-server util-linux curl)" >&2; exit 1; }
done
cargo build --release -p passive-reply-benches --bin load_server --locked -q
server_bin=target/release/load_server

source benches/common.sh
start_redis

QUERY=$(signed_query)
export QUERY

echo "CPU: $(cpu); ${seconds}s per run, ${rounds} rounds"
declare -A rps cpus
run=0
for round in $(seq "$rounds"); do
    for mode in bare hand memory redis ${EXTRA_MODES:-}; do
        run=$((run + 1))
        port=$(free_port)
        bin=$server_bin; serve_with=; arg=$mode
        case $mode in
            old:*) bin=${OLD_SERVER:?old:MODE needs OLD_SERVER=path}; arg=${mode#old:} ;;
            axum:*) serve_with=axum; arg=${mode#axum:} ;;
        esac
        LOAD_SERVER=$serve_with taskset -c 0 "$bin" "$arg" "127.0.0.1:$port" --redis "redis://127.0.0.1:$redis_port/" 2>/dev/null &
        server_pid=$!
        wait_for_server "$port"
        # Warm up, then measure.
        RUN=$((run * 10 + 1)) taskset -c 1 wrk -t1 -c32 -d2s -s benches/load/deliveries.lua "http://127.0.0.1:$port" >/dev/null
        before=$(curl -s "http://127.0.0.1:$port/allocations")
        read -r user_before kernel_before < <(awk '{print $14, $15}' "/proc/$server_pid/stat")
        out=$(RUN=$((run * 10 + 2)) taskset -c 1 wrk -t1 -c32 -d"${seconds}s" --latency -s benches/load/deliveries.lua "http://127.0.0.1:$port")
        after=$(curl -s "http://127.0.0.1:$port/allocations")
        read -r user_after kernel_after < <(awk '{print $14, $15}' "/proc/$server_pid/stat")
        kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
        flush_redis
        requests=$(echo "$out" | awk '/requests in/ {print $1}')
        rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
        latency=$(echo "$out" | awk '/Latency  / {print $2}')
        # The tail: the 99th percentile and the slowest (a worker held up shows here first).
        tail=$(echo "$out" | awk '/^ +99%/ {p = $2} /Latency  / {m = $4} END {print p "/" m}')
        allocs=$(awk -v a="$after" -v b="$before" -v n="$requests" 'BEGIN {printf "%.1f", (a - b - 1) / n}')
        # Server CPU per delivery (user + system, in clock ticks): steadier than requests per
        # second on a shared host, where another tenant's load takes cycles from both.
        # Split into user space (the server's own code) and the kernel (its sockets).
        per_delivery() { us_per_delivery $(($1 - $2)) "$requests"; }
        cpu=$(per_delivery $((user_after + kernel_after)) $((user_before + kernel_before)))
        user=$(per_delivery "$user_after" "$user_before")
        kernel=$(per_delivery "$kernel_after" "$kernel_before")
        printf 'round %d  %-12s %10s req/s  server CPU %5s us/delivery (user %s, kernel %s)  latency %8s (p99/max %s)  allocations/delivery %5s  %s\n' \
            "$round" "$mode" "$rate" "$cpu" "$user" "$kernel" "$latency" "$tail" "$allocs" "$errors"
        rps[$round,$mode]=$rate
        cpus[$round,$mode]=$cpu
    done
    awk -v bare="${rps[$round,bare]}" -v hand="${rps[$round,hand]}" -v memory="${rps[$round,memory]}" -v redis="${rps[$round,redis]}" -v r="$round" 'BEGIN {
        printf "round %d  by req/s:           memory/bare %.2fx (target >= 0.85)  memory/hand %.2fx (>= 1.3)  redis/bare %.2fx (>= 0.55)\n", r, memory / bare, memory / hand, redis / bare }'
    awk -v bare="${cpus[$round,bare]}" -v hand="${cpus[$round,hand]}" -v memory="${cpus[$round,memory]}" -v redis="${cpus[$round,redis]}" -v r="$round" 'BEGIN {
        printf "round %d  by CPU per delivery: memory/bare %.2fx (target >= 0.85)  memory/hand %.2fx (>= 1.3)  redis/bare %.2fx (>= 0.55)\n", r, bare / memory, hand / memory, bare / redis }'
done
