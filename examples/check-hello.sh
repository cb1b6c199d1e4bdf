#!/bin/sh
# Run examples/hello and check what it printed.
# Usage: check-hello.sh PATH-TO-HELLO
# Exit status: 0 pass, 1 fail, 77 skip (no usable /dev/kvm).
set -u
hello=${1:?usage: check-hello.sh PATH-TO-HELLO}

if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "SKIP: /dev/kvm is missing or not accessible"
    exit 77
fi

out=$("$hello")
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ]; then
    echo "FAIL: hello exited with status $rc" >&2
    exit 1
fi

first=$(printf '%s\n' "$out" | sed -n 1p)
summary=$(printf '%s\n' "$out" | sed -n 2p)
lines=$(printf '%s\n' "$out" | wc -l)

if [ "$first" != "Hello, world!" ]; then
    echo "FAIL: expected 'Hello, world!' on line 1, got '$first'" >&2
    exit 1
fi
# 14 bytes written, one OUT each, then the HLT exit: at least 15 exits.
exits=$(printf '%s\n' "$summary" |
    sed -n 's/^guest halted after \([0-9][0-9]*\) exits: 14 port writes to "console", then hlt$/\1/p')
if [ -z "$exits" ] || [ "$exits" -lt 15 ]; then
    echo "FAIL: unexpected summary line: '$summary'" >&2
    exit 1
fi
if [ "$lines" -ne 2 ]; then
    echo "FAIL: expected 2 lines of output, got $lines" >&2
    exit 1
fi
echo "PASS"
