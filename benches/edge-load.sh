#!/usr/bin/env bash
# The edge under load (issue 21): a server whose descriptor limit is 1,024 (`ulimit -n 1024`), 1,100
# idle and slow connections held open against it (benches/edge/attack.py, reopened whenever the
# server closes them), and a real signed delivery every 100 ms on a new connection: how long each
# takes to be answered. The server is `benches/load_server.rs` in `memory` mode, served by the
# crate's own server (`server::Server`, default limits); `OLD_SERVER=path` runs another build of it
# too (for example the one before issue 21, which served with `axum::serve`); `MODE=redis` serves
# with the Redis store instead (a Redis on core 1, as benches/load.sh starts it).
#
#   bash benches/edge-load.sh [SECONDS]     (default 30; needs python3, curl; redis-server for MODE=redis)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
cargo build --release -p passive-reply-benches --bin load_server --locked -q
source benches/common.sh
mode=${MODE:-memory}
redis=()
if [ "$mode" = redis ]; then
    start_redis
    redis=(--redis "redis://127.0.0.1:$redis_port/")
fi
echo "CPU: $(cpu); ${seconds}s; $mode"
for binary in target/release/load_server ${OLD_SERVER:-}; do
    port=$(free_port)
    # The server's own limit: 1,024 descriptors.
    bash -c "ulimit -n 1024; exec $binary $mode 127.0.0.1:$port ${redis[*]}" 2>/dev/null &
    server_pid=$!
    wait_for_server "$port"
    echo "== $binary (descriptor limit $(awk '/Max open files/ {print $4}' /proc/$server_pid/limits))"
    # The attacker's limit is its own, and higher: it holds 1,100 sockets and more.
    (ulimit -n 8192; python3 benches/edge/attack.py "$port" load-token 1100 "$seconds") | tail -n 4
    echo "server descriptors open at the end: $(ls /proc/$server_pid/fd | wc -l); resident: $(awk '/VmHWM/ {print $2, $3}' /proc/$server_pid/status) at most"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
    if [ "$mode" = redis ]; then flush_redis; fi
done
