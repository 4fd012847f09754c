# Sourced by the bench scripts that run load_server (benches/load.sh, load-ab.sh, edge-load.sh,
# edge-chunks.sh): what each of them needs.

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The query of a delivery signed with load_server's token (`load-token`) now: the SHA-1 of the
# sorted token, timestamp and nonce.
signed_query() {
    local timestamp nonce=424242 signature
    timestamp=$(date +%s)
    signature=$(printf '%s\n' load-token "$timestamp" "$nonce" | sort | tr -d '\n' | sha1sum | cut -d' ' -f1)
    echo "signature=$signature&timestamp=$timestamp&nonce=$nonce"
}

# Waits until the load_server on port $1 answers.
wait_for_server() { until curl -s "http://127.0.0.1:$1/allocations" >/dev/null; do sleep 0.05; done; }

# The CPU's model as /proc/cpuinfo names it, and how many cores: the first line of every report.
cpu() { echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) ($(nproc) cores)"; }

# The load_server and the Redis a script started (their pids, once started), stopped when the
# script exits, however it exits.
server_pid=
redis_pid=
stop_all() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
    wait 2>/dev/null || true
}
trap stop_all EXIT

# A process's CPU time, user and system, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# Microseconds a delivery of $1 clock ticks of CPU over $2 deliveries, to $3 decimals (1 unless
# given).
us_per_delivery() {
    awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" -v d="${3:-1}" 'BEGIN {printf "%." d "f", t / hz / n * 1e6}'
}

# Starts a Redis on core 1 (the load generator's, so it takes nothing from the server's), or on
# core $1, on a free port, in `redis_port` and `redis_pid`, and waits until it answers.
start_redis() {
    redis_port=$(free_port)
    taskset -c "${1:-1}" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >/dev/null &
    redis_pid=$!
    until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done
}

# Empties the Redis of `start_redis`, between runs: what a Redis run leaves (some 400,000 keys of
# 30 s) would otherwise expire during a later run, on core 1, beside wrk (0.7 s of Redis's CPU
# for 392,503 keys), and take from that run's load whichever server it measures.
flush_redis() {
    redis-cli -p "$redis_port" flushall >/dev/null
}
