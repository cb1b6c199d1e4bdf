#!/bin/sh
# Quick start, part 2: build libvmm and run the whole test suite.
# On a fresh Debian 12 machine, as root:  ./scripts/test.sh
#
#  1. build/ (-Dwerror=true): fetch Debian 12's kernel for the linux_image
#     test (scripts/fetch-debian-kernel.sh; the test skips if that fails),
#     then `meson test` runs every suite: unit,
#     integration, examples, abi (abidiff against tests/abi/libvmm.abi),
#     install (pkg-config), docs (Doxygen, zero warnings) and bindings
#     (Python; Rust with cargo, installed if missing); then the HTML
#     reference is built (`meson compile -C build docs`).
#  2. build-asan/ (-Db_sanitize=address,undefined): the unit, integration and
#     examples suites again under AddressSanitizer (leak checking on) and
#     UndefinedBehaviorSanitizer (any report fails the test).
#  3. build-fuzz/ (clang, -Dfuzz=enabled): a short libFuzzer run of each
#     target in tests/fuzz (virtqueue chain walker, virtio-mmio and
#     virtio-pci register handlers), about 20 s each.
#
# Exits non-zero if any step failed; the summary at the end lists them.
set -u
cd "$(dirname "$0")/.." || exit 1
. scripts/common.sh

need_packages meson ninja-build gcc libc6-dev pkg-config libcmocka-dev \
              doxygen abigail-tools valgrind \
              zlib1g-dev liblzma-dev libzstd-dev liblz4-dev \
              gzip xz-utils zstd lz4 \
              clang libclang-rt-14-dev qemu-system-x86
# The bindings suite's Rust tests need cargo and rustc: Debian 12's (1.63,
# the crates' minimum) unless a toolchain (e.g. rustup's) is already on PATH.
if ! command -v cargo >/dev/null 2>&1; then
    need_packages cargo rustc
fi
check_kvm || true

failed=
run() {
    # run NAME COMMAND...: run a step, remember it if it fails.
    name=$1
    shift
    step "$name"
    if ! "$@"; then
        failed="$failed
    - $name"
    fi
}

if step "Configuring build/" && setup build -Dwerror=true -Ddocs=enabled -Dabi_check=enabled &&
   step "Building build/" && meson compile -C build; then
    # The linux_image test parses Debian 12's stock kernel, fetched into
    # build/debian-kernel/ (where the test looks by default). Without it the
    # test skips and prints why (build/debian-kernel/unavailable.txt): not a
    # failure of this run.
    step "Debian 12 kernel for linux_image (scripts/fetch-debian-kernel.sh)"
    scripts/fetch-debian-kernel.sh build/debian-kernel >/dev/null ||
        echo "warning: no Debian kernel; the linux_image test will skip (see above)" >&2
    run "meson test (all suites)" meson test -C build --print-errorlogs
    run "Doxygen HTML reference (build/docs/html)" meson compile -C build docs
else
    failed="$failed
    - configure/build of build/"
fi

if step "Configuring build-asan/ (ASan + UBSan)" &&
   setup build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
         -Ddocs=disabled -Dabi_check=disabled &&
   step "Building build-asan/" && meson compile -C build-asan; then
    run "meson test under ASan/UBSan (unit, integration, examples)" \
        env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        meson test -C build-asan --suite unit --suite integration --suite examples \
        --print-errorlogs
else
    failed="$failed
    - configure/build of build-asan/"
fi

if step "Configuring build-fuzz/ (clang + libFuzzer)" &&
   CC=clang setup build-fuzz -Dfuzz=enabled -Ddocs=disabled -Dabi_check=disabled \
         -Dtests=true &&
   step "Building the fuzz targets" && meson compile -C build-fuzz; then
    run "meson test --suite fuzz (short libFuzzer runs)" \
        meson test -C build-fuzz --suite fuzz --print-errorlogs
else
    failed="$failed
    - configure/build of build-fuzz/"
fi

step "Done"
if [ -n "$failed" ]; then
    echo "FAILED steps:$failed"
    echo "Logs: build/meson-logs/testlog.txt, build-asan/meson-logs/testlog.txt," \
         "build-fuzz/meson-logs/testlog.txt"
    exit 1
fi
echo "All steps passed."
