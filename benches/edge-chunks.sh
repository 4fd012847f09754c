#!/usr/bin/env bash
# A body's memory, however it is chunked: `load_server` in `memory` mode (default body limit, 1 MiB,
# and body budget, 16 MiB, shared) while 40 connections with a valid signed query send chunked
# bodies a byte per chunk as fast as they go for 1.8 s (within the 2 s body deadline), never ending
# them (benches/edge/chunks.py). Prints the server's resident memory before and at its peak.
# `OLD_SERVER=path` measures another build of load_server too.
#
#   bash benches/edge-chunks.sh      (needs python3, curl, taskset)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p passive-reply-benches --bin load_server --locked -q
source benches/common.sh
query=$(signed_query)
echo "CPU: $(cpu)"
for binary in target/release/load_server ${OLD_SERVER:-}; do
    port=$(free_port)
    taskset -c 0 "$binary" memory "127.0.0.1:$port" 2>/dev/null &
    server_pid=$!
    wait_for_server "$port"
    before=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
    sent=$(taskset -c 1 python3 benches/edge/chunks.py "$port" "$query" 40 1.8)
    echo "$binary: resident ${before} kB before, ${sent}; at most $(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status") kB"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
done
