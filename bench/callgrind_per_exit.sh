#!/bin/sh
# User-space instructions per port-I/O exit, counted exactly with callgrind
# (docs/performance.md, "The machine, and why instructions are the yardstick").
#
# Runs bench/exit_roundtrip one side at a time (--mode raw, --mode lib) under
# `valgrind --tool=callgrind` with N and with 2N port writes. Everything that
# is not per-exit (start-up, VM set-up, teardown) is the same in both runs,
# so (instructions(2N) - instructions(N)) / N is the cost of one exit: the
# user-space work between two KVM_RUN ioctls. Kernel time is not counted.
# Also prints that difference per function for the library side (functions
# costing at least 0.5 instructions per exit), from callgrind_annotate.
#
# Usage: bench/callgrind_per_exit.sh [BUILD_DIR [N]]
#   BUILD_DIR defaults to build, N to 5000. Set KEEP=1 to keep the
#   callgrind.out files (their directory is printed).
set -eu

build=${1:-build}
n=${2:-5000}
bin=$build/bench/exit_roundtrip
[ -x "$bin" ] || { echo "no $bin: build it first (ninja -C $build bench/exit_roundtrip)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/callgrind-per-exit.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    echo "callgrind output kept in $tmp"
else
    trap 'rm -rf "$tmp"' EXIT
fi

# Total instructions (Ir) recorded in a callgrind.out file.
total() {
    sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$1" | head -n 1
}

# "Ir<TAB>file:function [object]" for every function, self cost.
per_function() {
    callgrind_annotate --auto=no --inclusive=no --threshold=100 "$1" |
        awk '/^ *[0-9][0-9,]* / && !/PROGRAM TOTALS/ {
                 ir = $1; gsub(",", "", ir)
                 line = $0; sub(/^ *[0-9,]+ +/, "", line); sub(/^\( *[0-9.]+%\) +/, "", line)
                 sub(/^[^ ]*\/\.\.\//, "", line); sub(/\[.*\//, "[", line)
                 print ir "\t" line
             }'
}

for side in raw lib; do
    for k in 1 2; do
        count=$((n * k))
        if ! valgrind --tool=callgrind --callgrind-out-file="$tmp/$side.$k" \
                "$bin" --mode "$side" -n "$count" >"$tmp/$side.$k.log" 2>&1; then
            cat "$tmp/$side.$k.log" >&2
            echo "FAIL: $bin --mode $side -n $count under callgrind" >&2
            exit 1
        fi
    done
done

raw1=$(total "$tmp/raw.1") raw2=$(total "$tmp/raw.2")
lib1=$(total "$tmp/lib.1") lib2=$(total "$tmp/lib.2")

echo "callgrind: user-space instructions per port-I/O exit, N=$n and 2N=$((2 * n))"
awk -v n="$n" -v r1="$raw1" -v r2="$raw2" -v l1="$lib1" -v l2="$lib2" 'BEGIN {
    raw = (r2 - r1) / n; lib = (l2 - l1) / n
    printf "raw ioctl loop : %12d / %12d instructions -> %7.1f per exit (a minimal loop: ~35)\n", r1, r2, raw
    printf "libvmm device  : %12d / %12d instructions -> %7.1f per exit (target <= 100: %s)\n", l1, l2, lib, lib <= 100 ? "met" : "MISSED"
    printf "ratio libvmm/raw: %.2f; library overhead %.1f instructions per exit\n", lib / raw, lib - raw
}'

echo
echo "libvmm side, per function (self cost, instructions per exit):"
per_function "$tmp/lib.1" >"$tmp/lib.1.fn"
per_function "$tmp/lib.2" >"$tmp/lib.2.fn"
awk -F '\t' -v n="$n" '
    NR == FNR { one[$2] = $1; next }
    { d = ($1 - one[$2]) / n; if (d >= 0.5) printf "%8.1f  %s\n", d, $2 }
' "$tmp/lib.1.fn" "$tmp/lib.2.fn" | sort -rn
