#!/bin/sh
# Regenerate tests/abi/libvmm.abi from a built libvmm.so.
# Usage: tests/abi/update-baseline.sh [BUILD-DIR]   (default: build)
#
# Run it after a deliberate ABI change: new functions or types (compatible),
# or an ABI major bump (incompatible). Commit the result with the change.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac

lib=$(find "$build/lib" -maxdepth 1 -name 'libvmm.so.*.*.*' -type f 2>/dev/null | head -n 1)
if [ -z "$lib" ]; then
    echo "update-baseline: no libvmm.so.X.Y.Z under $build/lib; build it first:" >&2
    echo "    meson setup $build && meson compile -C $build" >&2
    exit 1
fi

# Exported functions and the types they reach, with the opaque handle types
# dropped (libvmm.suppr): that is exactly the public ABI. No paths, no source
# locations and hashed type ids, so that the file changes only when the ABI
# does. (Not --headers-dir: libabigail matches DWARF file names such as
# build/../include/vmm/vm.h against it literally and misclassifies types.)
abidw --exported-interfaces-only \
      --suppressions "$here/libvmm.suppr" \
      --no-corpus-path --no-comp-dir-path --no-show-locs --type-id-style hash \
      --out-file "$here/libvmm.abi" "$lib"
echo "wrote $here/libvmm.abi from $lib"
