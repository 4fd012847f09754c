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
