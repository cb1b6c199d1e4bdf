#!/bin/sh
# Run the Rust binding's tests against a built libvmm, and build its examples.
#   bindings/rust/run-tests.sh BUILD_DIR
# Links against BUILD_DIR/lib/libvmm.so through meson's uninstalled
# pkg-config file (BUILD_DIR/meson-uninstalled/vmm-uninstalled.pc), runs
# `cargo test --offline` (guests, layout drift against bindings/layout/layout.c,
# compile-fail doctests) and `cargo build --offline --examples`. Build output
# goes to bindings/rust/target. Exits 77 (meson: skipped) with a "skipped:" line if cargo is
# not installed or rustc is older than 1.77.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)

if ! command -v "${CARGO:-cargo}" >/dev/null 2>&1; then
    echo "skipped: cargo not found (install a Rust toolchain >= 1.77 to test bindings/rust)"
    exit 77 # meson's "skipped"
fi
# offset_of! (used by the layout drift test) is stable since Rust 1.77;
# Debian 12's own rustc is 1.63, so an old toolchain is a skip, not a failure.
rustc_minor=$("${RUSTC:-rustc}" --version 2>/dev/null | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
if [ -z "$rustc_minor" ] || [ "$rustc_minor" -lt 77 ]; then
    echo "skipped: rustc >= 1.77 is needed, found: $("${RUSTC:-rustc}" --version 2>/dev/null | head -n 1)"
    exit 77
fi
if [ ! -e "$build/lib/libvmm.so" ]; then
    echo "$0: $build/lib/libvmm.so not found (build the library first: ninja -C $1)" >&2
    exit 1
fi

# pkg-config finds vmm-uninstalled.pc for package "vmm" in this directory.
export PKG_CONFIG_PATH="$build/meson-uninstalled${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# Without pkg-config, vmm-sys's build script falls back to VMM_LIB_DIR.
if ! command -v "${PKG_CONFIG:-pkg-config}" >/dev/null 2>&1; then
    export VMM_LIB_DIR="$build/lib"
fi
export LD_LIBRARY_PATH="$build/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CARGO_TARGET_DIR="$here/target"

cd "$here"
"${CARGO:-cargo}" test --offline --workspace
"${CARGO:-cargo}" build --offline --workspace --examples
# The hello example is part of the contract: it must print its greeting.
out=$("$CARGO_TARGET_DIR/debug/examples/hello")
printf '%s\n' "$out"
case $out in
    *"Hello, world!"*) ;;
    *) echo "$0: examples/hello did not greet" >&2; exit 1 ;;
esac
# So is pc_serial, the example of docs/bindings-rust.md (platform PC, COM1,
# debug exit, a raw image through vmm_boot_load).
out=$("$CARGO_TARGET_DIR/debug/examples/pc_serial")
printf '%s\n' "$out"
case $out in
    *"debug exit 0x600d"*"guest said: hi"*) ;;
    *) echo "$0: examples/pc_serial did not run its guest to the debug exit" >&2; exit 1 ;;
esac
