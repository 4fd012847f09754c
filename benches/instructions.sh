#!/usr/bin/env bash
# Instructions per derived `write_to` of each benchmark payload, counted by callgrind: the same
# figure from one run to the next, where time on a shared VM is not. Needs valgrind.
#
#   bash benches/instructions.sh [count] [sse2] [to_xml] [slice]
#       (default 20000 replies per payload; `sse2`: with the 16-lane vectors forced; `to_xml`: each
#       reply by `to_xml`, allocation and free included, instead of into a reused `Vec`; `slice`:
#       into a fixed buffer, `SliceSink`, the piece-by-piece path of the other sinks). The last
#       line, `parse`, is `Incoming::parse` of an inbound text message, whatever the options.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-20000}
shift || true
options="$*"
binary=$(cargo bench -p passive-reply-benches --bench instructions --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*/deps/instructions-[^"]*"' | tail -1 | cut -d'"' -f4)

# Instructions of a whole run of `count` replies of payload `$1`.
instructions() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" "$2" $options 2>&1 |
        awk '/Collected/ { print $4 }'
}

for payload in short long long6 hostile news parse; do
    # The run with no reply is the program's own cost, taken off.
    base=$(instructions "$payload" 0)
    total=$(instructions "$payload" "$count")
    per=reply
    [ "$payload" = parse ] && per=message
    echo "$payload: $(((total - base) / count)) instructions per $per"
done
