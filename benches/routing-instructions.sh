#!/usr/bin/env bash
# Instructions per delivery (parse, route or match, handler, reply written) of the router and of
# the hand-written match, counted by callgrind: the same figure from one run to the next. Needs
# valgrind.
#
#   bash benches/routing-instructions.sh [count]    (default 20000 deliveries per case)
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-20000}
binary=$(cargo bench -p passive-reply-benches --bench routing --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*routing[^"]*"' | tail -1 | cut -d'"' -f4)

instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" count "$1" "$2" "$3" 2>&1 |
        awk '/Collected/ { print $4 }'
}

for which in first last; do
    for how in match router; do
        base=$(instructions 0 "$which" "$how")
        total=$(instructions "$count" "$which" "$how")
        echo "$which route, $how: $(((total - base) / count)) instructions per delivery"
    done
done
