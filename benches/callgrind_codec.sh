#!/usr/bin/env bash
# Instructions per frame of the wire codec, counted by callgrind (repeatable
# on a noisy machine, and a better proxy for a board than wall time under
# qemu). Each figure is (Ir with K iterations - Ir with 0) / K. Also counts
# lz4 compress+decompress of the same bodies, and divides by the bytes it
# saves (docs/wire.md, "Compression").
#
#   benches/callgrind_codec.sh          the table for docs/wire.md
#   K=50 benches/callgrind_codec.sh     more iterations
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 1; }
K="${K:-20}"
cargo build --quiet --profile bench --example codec_profile
bin="${CARGO_TARGET_DIR:-target}/release/examples/codec_profile"

ir() { # args... -> total instructions
    local out
    out=$(mktemp)
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" "$@" >/dev/null 2>&1
    awk '/^summary:/ {print $2}' "$out"
    rm -f "$out"
}

per_frame() { # op workload
    local base full
    base=$(ir "$1" "$2" 0)
    full=$(ir "$1" "$2" "$K")
    echo $(( (full - base) / K ))
}

printf '%-10s %-10s %12s %8s\n' operation workload "Ir/frame" "bytes"
for w in delta announce full; do
    size=$("$bin" encode "$w" 0 2>&1 | awk '{print $2}')
    for op in encode decode lz4; do
        printf '%-10s %-10s %12s %8s\n' "$op" "$w" "$(per_frame "$op" "$w")" "$size"
    done
done
echo
"$bin" sizes
