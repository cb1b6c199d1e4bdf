#!/bin/sh
# Quick start, part 1: build libvmm and run examples/hello, a guest that
# prints "Hello, world!" through a callback device.
# On a fresh Debian 12 machine, as root:  ./scripts/demo.sh
set -eu
cd "$(dirname "$0")/.."
. scripts/common.sh

need_packages meson ninja-build gcc libc6-dev pkg-config libcmocka-dev

step "Configuring build/"
setup build -Dwerror=true

step "Building examples/hello"
meson compile -C build examples/hello

if ! check_kvm; then
    exit 1
fi
step "Running build/examples/hello"
./build/examples/hello
