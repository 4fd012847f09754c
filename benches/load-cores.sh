#!/usr/bin/env bash
# Where the load of benches/load.sh goes, core by core: for each mode, one run under load.sh's
# load (one tokio worker on core 0, wrk on core 1, Redis on core 1), each core's busy and idle
# time from /proc/stat, and the CPU a delivery of the server, of Redis, and of the rest of core
# 1 (wrk, and the kernel's work there that no process is charged with). A rate is bound by the
# core that is busy all the time: on the project's VM bare axum's by wrk's core, the Redis
# endpoint's by core 1, which wrk and Redis share (BENCHMARKS.md, "The tenth session").
#
#   bash benches/load-cores.sh [SECONDS] [MODES...]   (default 8 s; bare memory redis)
#   REDIS_CORE=0 bash benches/load-cores.sh 8 redis    (Redis on the server's core instead)
#   LOAD_SERVER_BIN=path bash benches/load-cores.sh 8 redis   (another build of load_server)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-8}
shift || true
modes=${*:-bare memory redis}
for tool in wrk redis-server taskset curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool (Debian: apt-get install wrk redis-server util-linux curl)" >&2; exit 1; }
done
[ -n "${LOAD_SERVER_BIN:-}" ] || cargo build --release -p passive-reply-benches --bin load_server --locked -q
source benches/common.sh
start_redis "${REDIS_CORE:-1}"
QUERY=$(signed_query)
export QUERY

# Core $1's busy time (user, nice, system, irq, softirq) and idle time (idle, iowait), in ticks.
core() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat; }

echo "CPU: $(cpu); ${seconds}s per run; Redis on core ${REDIS_CORE:-1}"
run=0
for mode in $modes; do
    run=$((run + 1))
    port=$(free_port)
    taskset -c 0 "${LOAD_SERVER_BIN:-target/release/load_server}" "$mode" "127.0.0.1:$port" --redis "redis://127.0.0.1:$redis_port/" 2>/dev/null &
    server_pid=$!
    wait_for_server "$port"
    RUN=$((run * 10 + 1)) taskset -c 1 wrk -t1 -c32 -d2s -s benches/load/deliveries.lua "http://127.0.0.1:$port" >/dev/null
    read -r busy0 idle0 < <(core 0)
    read -r busy1 idle1 < <(core 1)
    server0=$(ticks "$server_pid"); redis0=$(ticks "$redis_pid")
    out=$(RUN=$((run * 10 + 2)) taskset -c 1 wrk -t1 -c32 -d"${seconds}s" -s benches/load/deliveries.lua "http://127.0.0.1:$port")
    server1=$(ticks "$server_pid"); redis1=$(ticks "$redis_pid")
    read -r busy0b idle0b < <(core 0)
    read -r busy1b idle1b < <(core 1)
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
    flush_redis
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    rate=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    per() { us_per_delivery "$1" "$requests"; }
    share() { awk -v b="$1" -v i="$2" 'BEGIN {printf "%.0f%%", 100 * b / (b + i)}'; }
    redis=$((redis1 - redis0))
    rest=$((busy1b - busy1))
    [ "${REDIS_CORE:-1}" = 1 ] && rest=$((rest - redis))
    printf '%-8s %10s req/s  us a delivery: server %s, Redis %s, the rest of core 1 %s  busy: core 0 %s, core 1 %s\n' \
        "$mode" "$rate" "$(per $((server1 - server0)))" "$(per "$redis")" "$(per "$rest")" \
        "$(share $((busy0b - busy0)) $((idle0b - idle0)))" "$(share $((busy1b - busy1)) $((idle1b - idle1)))"
done
