#!/bin/sh
# Run an example and check that its output (stdout and stderr) holds each
# expected line exactly.
# Usage: check-output.sh [-l LINE]... -- PROGRAM [ARGS...]
# Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
set -u
lines=
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    case $1 in
    -l) lines="$lines$2
"; shift 2 ;;
    *) echo "usage: check-output.sh [-l LINE]... -- PROGRAM [ARGS...]" >&2; exit 2 ;;
    esac
done
shift

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "SKIP: /dev/kvm is missing or not accessible"
    exit 77
fi

out=$("$@" </dev/null 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
    echo "FAIL: $1 exited with status $rc" >&2
    exit 1
fi
status=0
printf '%s' "$lines" | while IFS= read -r want; do
    if ! printf '%s\n' "$out" | grep -Fxq -- "$want"; then
        echo "FAIL: no line '$want' in the output" >&2
        exit 1
    fi
done || status=1
[ "$status" -eq 0 ] && echo "PASS"
exit "$status"
