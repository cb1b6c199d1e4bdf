#!/bin/sh
# Run the Rust binding's tests against a built libvmm, and build its examples.
#   bindings/rust/run-tests.sh BUILD_DIR
# Links against BUILD_DIR/lib/libvmm.so through meson's uninstalled
# pkg-config file (BUILD_DIR/meson-uninstalled/vmm-uninstalled.pc), runs
# `cargo test --offline` (guests, layout drift against bindings/layout/layout.c,
# compile-fail doctests), `cargo build --offline --examples` and `cargo doc`,
# all with warnings as errors (-Dwarnings in RUSTFLAGS, and in RUSTDOCFLAGS
# for the docs: the crates stay warning-free on every supported toolchain),
# and clippy where the toolchain has it; then runs the hello and
# pc_serial examples. Build output goes to bindings/rust/target. Exits 77
# (meson: skipped) with a "skipped:" line if cargo is not installed or rustc
# is older than 1.63 (Debian 12's, the crates' rust-version). Without a
# usable /dev/kvm it still runs everything that needs no guest (vmm-sys's
# tests, layout drift included; vmm's unit tests and doctests; the builds,
# clippy and docs), failing if any of that fails, then skips the guest
# tests (vmm/tests/*.rs) and the examples: a "skipped:" line, exit 77.
# CARGO and RUSTC (and RUSTDOC, by default beside a RUSTC given as a path)
# choose the toolchain; the default is cargo and rustc on PATH.
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)

if ! command -v "${CARGO:-cargo}" >/dev/null 2>&1; then
    echo "skipped: cargo not found (Debian 12: apt-get install cargo rustc; any Rust >= 1.63 will do)"
    exit 77 # meson's "skipped"
fi
# rust-version in Cargo.toml: 1.63, Debian 12's rustc. An older toolchain
# is a skip, not a failure.
rustc_minor=$("${RUSTC:-rustc}" --version 2>/dev/null | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
if [ -z "$rustc_minor" ] || [ "$rustc_minor" -lt 63 ]; then
    echo "skipped: rustc >= 1.63 is needed, found: $("${RUSTC:-rustc}" --version 2>/dev/null | head -n 1)"
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
# A RUSTC given as a path brings its own rustdoc (doctests must be built by
# the same toolchain as the crates), unless RUSTDOC says otherwise.
case ${RUSTC:-} in
    */*) if [ -z "${RUSTDOC:-}" ] && [ -x "${RUSTC%/*}/rustdoc" ]; then
             export RUSTDOC="${RUSTC%/*}/rustdoc"
         fi ;;
esac
# Warnings are errors here, not in the crates themselves (#![deny] would
# let a newer compiler's new lint break a user's build). RUSTDOCFLAGS only
# for `cargo doc`: under `cargo test` it would also reach the doctests,
# where a stray warning could make a compile_fail test pass for the wrong
# reason.
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-Dwarnings"

cd "$here"
"${CARGO:-cargo}" --version
"${RUSTC:-rustc}" --version
# The guest tests and the examples run real guests, as the Python
# binding's tests do.
if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    kvm=yes
    "${CARGO:-cargo}" test --offline --workspace
else
    kvm=no
    echo "note: /dev/kvm is missing or not readable and writable:" \
        "running only the tests that need no guest"
    "${CARGO:-cargo}" test --offline -p vmm-sys
    "${CARGO:-cargo}" test --offline -p vmm --lib
    "${CARGO:-cargo}" test --offline -p vmm --doc
fi
"${CARGO:-cargo}" build --offline --workspace --examples
# Lints too, where this toolchain has its clippy (rustup's does; Debian 12
# packages none). A clippy of another version (a rustup proxy on PATH next
# to Debian's cargo) is not used.
clippy=$("${CARGO:-cargo}" clippy --version 2>/dev/null || true)
case $clippy in
    "clippy 0.1.$rustc_minor "*) "${CARGO:-cargo}" clippy --offline --workspace --all-targets ;;
    *) echo "note: no clippy for rustc 1.$rustc_minor: lints not checked" ;;
esac
RUSTDOCFLAGS="${RUSTDOCFLAGS:+$RUSTDOCFLAGS }-Dwarnings" "${CARGO:-cargo}" doc --offline --workspace --no-deps
if [ "$kvm" = no ]; then
    echo "skipped: /dev/kvm is missing or not readable and writable: the guest tests" \
        "(vmm/tests/*.rs) and the hello and pc_serial examples need KVM; the layout," \
        "unit and doc tests, the builds, lints and docs passed"
    exit 77 # meson's "skipped"
fi
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
