#!/usr/bin/env bash
# Instructions per item of the merge path, counted by callgrind (repeatable
# on a noisy machine, and a better proxy for a board than wall time under
# qemu). Each figure is (Ir with K iterations - Ir with 0) / (K * items).
#
#   benches/callgrind.sh            the table for README
#   K=5 benches/callgrind.sh        more iterations
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
K="${K:-3}"
cargo build --quiet --profile bench --example merge_profile
bin="${CARGO_TARGET_DIR:-target}/release/examples/merge_profile"

ir() { # args... -> total instructions
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$@" >/dev/null 2>&1
    awk '/^summary:/ {print $2}' "$out"
    rm -f "$out"
}

per_item() { # op case n items_per_iter impl
    local base full
    base=$(ir "$1" "$2" "$3" 0 "$K" "$5")
    full=$(ir "$1" "$2" "$3" "$K" "$K" "$5")
    echo $(( (full - base) / (K * $4) ))
}

printf '%-22s %8s %14s %14s %8s\n' operation items "optimised" "reference" ratio
row() { # label op case n items_per_iter
    local o r
    o=$(per_item "$2" "$3" "$4" "$5" fast)
    r=$(per_item "$2" "$3" "$4" "$5" reference)
    printf '%-22s %8s %11s Ir %11s Ir %7sx\n' "$1" "$4" "$o" "$r" "$(awk -v a="$r" -v b="$o" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')"
}
for n in 1000 10000 100000; do
    row "merge overlap50" merge overlap50 $n $((2 * n))
done
for n in 1000 10000 100000; do
    row "apply overlap50" apply overlap50 $n $((2 * n))
done
row "merge identical" merge identical 10000 20000
row "merge disjoint" merge disjoint 10000 20000
row "apply known (per item)" known identical 10000 10000
row "apply known (per call)" known identical 10000 1
row "lookup (per item)" lookup identical 10000 10000
row "delta 1% (per item)" delta identical 100000 100000
