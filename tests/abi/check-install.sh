#!/bin/sh
# Install the build into a scratch DESTDIR, then build and run examples/hello.c
# using only what was installed (vmm.pc, headers, libvmm.so).
# Usage: check-install.sh MESON BUILD-ROOT SOURCE-ROOT SCRATCH-DIR CC [CC-ARGS...]
set -u
meson=$1 build=$2 src=$3 scratch=$4
shift 4

rm -rf "$scratch"
mkdir -p "$scratch" || exit 1
dest=$scratch/destdir

if ! "$meson" install -C "$build" --no-rebuild --quiet --destdir "$dest" \
        > "$scratch/install.log" 2>&1; then
    cat "$scratch/install.log"
    echo "FAIL: meson install --destdir failed"
    exit 1
fi

pc=$(find "$dest" -name vmm.pc -path '*/pkgconfig/*' | head -n 1)
if [ -z "$pc" ]; then
    echo "FAIL: no vmm.pc was installed"
    exit 1
fi
echo "installed: ${pc#"$dest"}"

# The .pc file holds the real prefix; the sysroot makes pkg-config prepend
# DESTDIR to every -I and -L path it prints.
PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_LIBDIR=$PKG_CONFIG_PATH
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_LIBDIR PKG_CONFIG_SYSROOT_DIR
if ! cflags=$(pkg-config --cflags vmm) || ! libs=$(pkg-config --libs vmm); then
    echo "FAIL: pkg-config cannot read the installed vmm.pc"
    exit 1
fi
version=$(pkg-config --modversion vmm)
echo "pkg-config vmm $version: cflags '$cflags' libs '$libs'"

# The example is compiled outside the meson build, with only the installed
# headers: the source tree's include/ must not be needed.
# shellcheck disable=SC2086
if ! "$@" -std=gnu11 -Wall -Wextra -Werror $cflags -o "$scratch/hello" \
        "$src/examples/hello.c" $libs; then
    echo "FAIL: examples/hello.c does not build against the installed package"
    exit 1
fi

libdir=$(printf '%s\n' "$libs" | tr ' ' '\n' | sed -n 's/^-L//p' | head -n 1)
if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "PASS (built only; /dev/kvm not accessible, so not run)"
    exit 0
fi
LD_LIBRARY_PATH="$libdir" "$src/examples/check-hello.sh" "$scratch/hello" || {
    echo "FAIL: hello built against the installed package did not run correctly"
    exit 1
}
LD_LIBRARY_PATH="$libdir" ldd "$scratch/hello" | grep -qF "$dest" || {
    echo "FAIL: hello did not load the installed libvmm.so"
    exit 1
}
echo "PASS: the installed package builds and runs examples/hello.c"
