#!/usr/bin/env bash
# The derive's cost to its users: the clean build of a crate with 50 derived replies, against
# the same crate with serde's derive on the same structs. BENCHMARKS.md has the figures.
#
#   bash benches/derive-cost/run.sh [runs]     (default 3 runs; prints medians and ratios)
#
# Two crates are generated under target/derive-cost/, each a library of the same 50 structs
# (five fields each, the shape of a text reply):
#   reply: depends on passive-reply (this workspace, by path); each struct has
#          #[derive(PassiveReply)] #[reply(text)] and one function that writes it, so that the
#          emitter is generated and compiled, not only type-checked;
#   serde: what the benchmarks compare against: serde with its `derive` feature and quick-xml's
#          serde serializer; each struct has #[derive(Serialize)] with the element names as
#          renames, and one function that serializes it to a String with quick-xml.
# Each is built with the dev profile in its own target directory, twice over:
#   clean:   `cargo clean` first: every dependency is compiled (syn, the derive crates, ...);
#   crate:   the dependencies kept, the crate's own build removed (`cargo clean -p`, which takes
#            its incremental cache too): the derives' expansion and the crate's compilation alone.
# Then the crate alone once more, the two built in turn `runs` times over (the order swapped
# every pair), and the median of the pairs' ratios: a host whose speed moves from one minute to
# the next moves both sides of a pair alike, where the medians above take each side minutes apart.
set -euo pipefail

runs=${1:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/target/derive-cost"
mkdir -p "$out"

structs=50

# A manifest of a package `$1` of its own workspace, with the dependency lines `$2`.
manifest() {
    cat <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
$2

[workspace]
TOML
}

generate() {
    local kind=$1 dir="$out/$1"
    mkdir -p "$dir/src"
    if [ "$kind" = reply ]; then
        manifest derive-cost-reply "passive-reply = { path = \"$root\" }" >"$dir/Cargo.toml"
        {
            echo "use passive_reply::PassiveReply;"
            for i in $(seq 1 $structs); do
                cat <<RS

#[derive(PassiveReply)]
#[reply(text)]
pub struct Reply$i<'a> {
    pub to_user_name: &'a str,
    pub from_user_name: &'a str,
    pub create_time: u64,
    pub content: String,
    #[reply(skip)]
    pub note: u32,
}

pub fn write$i(reply: &Reply$i<'_>, out: &mut Vec<u8>) {
    let Ok(()) = reply.write_to(out);
}
RS
            done
        } >"$dir/src/lib.rs"
    else
        manifest derive-cost-serde 'serde = { version = "1", features = ["derive"] }
quick-xml = { version = "0.38", features = ["serialize"] }' >"$dir/Cargo.toml"
        {
            echo "use serde::Serialize;"
            for i in $(seq 1 $structs); do
                cat <<RS

#[derive(Serialize)]
#[serde(rename = "xml")]
pub struct Reply$i<'a> {
    #[serde(rename = "ToUserName")]
    pub to_user_name: &'a str,
    #[serde(rename = "FromUserName")]
    pub from_user_name: &'a str,
    #[serde(rename = "CreateTime")]
    pub create_time: u64,
    #[serde(rename = "Content")]
    pub content: String,
    #[serde(skip)]
    pub note: u32,
}

pub fn write$i(reply: &Reply$i<'_>) -> String {
    quick_xml::se::to_string(reply).unwrap_or_default()
}
RS
            done
        } >"$dir/src/lib.rs"
    fi
}

# Seconds, with milliseconds, that "$@" takes.
seconds() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    echo "scale=3; ($end - $start) / 1000000000" | bc
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

for kind in reply serde; do
    generate "$kind"
    # The versions this workspace has locked (serde, quick-xml, syn...), for both.
    cp "$root/Cargo.lock" "$out/$kind/Cargo.lock"
    # Fetch and resolve once, outside the measurement.
    (cd "$out/$kind" && cargo fetch -q && cargo build -q)
done

declare -A result
for kind in reply serde; do
    dir="$out/$kind"
    clean=()
    crate=()
    for _ in $(seq 1 "$runs"); do
        (cd "$dir" && cargo clean -q)
        clean+=("$(cd "$dir" && seconds cargo build --offline)")
        (cd "$dir" && cargo clean -q -p "derive-cost-$kind")
        crate+=("$(cd "$dir" && seconds cargo build --offline)")
    done
    result[$kind.clean]=$(printf '%s\n' "${clean[@]}" | median)
    result[$kind.crate]=$(printf '%s\n' "${crate[@]}" | median)
    echo "$kind: clean ${clean[*]} s; crate alone ${crate[*]} s"
done

echo
echo "medians of $runs runs, dev profile, $structs derived structs:"
for what in clean crate; do
    reply=${result[reply.$what]}
    serde=${result[serde.$what]}
    echo "$what: passive-reply ${reply} s, serde ${serde} s, ratio $(echo "scale=2; $reply / $serde" | bc)"
done

# The crate alone, pair by pair.
ratios=()
declare -A took
for pair in $(seq 1 "$runs"); do
    order="reply serde"
    [ $((pair % 2)) -eq 0 ] && order="serde reply"
    for kind in $order; do
        (cd "$out/$kind" && cargo clean -q -p "derive-cost-$kind")
        took[$kind]=$(cd "$out/$kind" && seconds cargo build --offline)
    done
    ratios+=("$(echo "scale=3; ${took[reply]} / ${took[serde]}" | bc)")
    echo "pair $pair: passive-reply ${took[reply]} s, serde ${took[serde]} s"
done
echo "crate alone, pair by pair: ratios ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | median)"
